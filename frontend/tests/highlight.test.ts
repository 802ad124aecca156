import { describe, expect, it } from 'vitest';
import { highlight, queryTerms, snippet } from '../src/lib/highlight';

describe('queryTerms', () => {
  it('drops operators, quotes and field prefixes; longest first', () => {
    expect(queryTerms('wal AND "group commit" -sqlite title:db')).toEqual(['group commit', 'sqlite', 'wal', 'db']);
  });
  it('adds the parts of identifiers', () => {
    expect(queryTerms('open_with_wal')).toEqual(['open_with_wal', 'open', 'with', 'wal']);
    expect(queryTerms('db.rs')).toEqual(['db.rs']);
  });
  it('is empty for blank queries', () => {
    expect(queryTerms('   ')).toEqual([]);
  });
});

describe('highlight', () => {
  it('marks every case-insensitive occurrence', () => {
    expect(highlight('Edited src/store/DB.rs and db.rs', ['db.rs'])).toEqual([
      { text: 'Edited src/store/', match: false },
      { text: 'DB.rs', match: true },
      { text: ' and ', match: false },
      { text: 'db.rs', match: true },
    ]);
  });
  it('prefers the longest term and escapes regex characters', () => {
    expect(highlight('open_with_wal()', ['open_with_wal', 'open', 'wal'])).toEqual([
      { text: 'open_with_wal', match: true },
      { text: '()', match: false },
    ]);
    expect(highlight('a+b (c)', ['a+b', '(c)']).filter((s) => s.match).map((s) => s.text)).toEqual(['a+b', '(c)']);
  });
  it('returns the text unmarked without terms, nothing for empty text', () => {
    expect(highlight('plain', [])).toEqual([{ text: 'plain', match: false }]);
    expect(highlight('', ['x'])).toEqual([]);
  });
  it('never produces HTML', () => {
    const segs = highlight('<b>db</b>', ['db']);
    expect(segs.map((s) => s.text).join('')).toBe('<b>db</b>');
  });
});

describe('snippet', () => {
  const long = `${'x'.repeat(300)} needle ${'y'.repeat(300)}`;
  it('windows around the first match', () => {
    const s = snippet(long, ['needle'], 60);
    expect(s).toContain('needle');
    expect(s.startsWith('…')).toBe(true);
    expect(s.endsWith('…')).toBe(true);
  });
  it('short text is unchanged', () => {
    expect(snippet('short', ['x'])).toBe('short');
  });
});
