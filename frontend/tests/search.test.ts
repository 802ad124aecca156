import { describe, expect, it } from 'vitest';
import { resultItem, typeFor } from '../src/lib/search';
import type { SearchResult, Summary } from '../src/lib/types';
import { obs } from './stream.test';

const scores = { score: 0.8, text_score: 0.7, vector_score: null };

describe('search results', () => {
  it('become the feed items of their kind', () => {
    const summary: Summary = {
      id: 4, session_id: 's1', project: 'p', prompt_number: 2, request: 'fix totals', investigated: '',
      learned: '', completed: 'done', next_steps: '', compressor: 'local', model: null, created_at: 50,
    };
    const results: SearchResult[] = [
      { ...scores, observation: obs(7) },
      { ...scores, kind: 'observation', observation: obs(8) },
      { ...scores, kind: 'summary', summary },
      {
        ...scores,
        kind: 'prompt',
        prompt: { id: 9, session_id: 's2', project: 'p', prompt_number: 3, prompt: 'why?', created_at: 60 },
      },
    ];
    const items = results.map(resultItem);
    expect(items.map((i) => i.kind)).toEqual(['observation', 'observation', 'summary', 'prompt']);
    expect(items.map((i) => i.key)).toEqual(['o:7', 'o:8', 's:4', 'p:s2:3']);
    expect(new Set(items.map((i) => i.key)).size).toBe(items.length);
  });

  it('send the type filter only where observations are searched', () => {
    expect(typeFor('', 'bugfix')).toBe('bugfix');
    expect(typeFor('all', 'bugfix')).toBe('bugfix');
    expect(typeFor('summary', 'bugfix')).toBe('');
    expect(typeFor('prompt', 'bugfix')).toBe('');
  });
});
