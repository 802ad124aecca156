import { describe, expect, it } from 'vitest';
import {
  matchesFilter,
  mergeItems,
  newestObservationId,
  observationItem,
  oldestObservationId,
  parseStreamEvent,
  summaryItem,
  type FeedItem,
} from '../src/lib/stream';
import type { Observation, Summary } from '../src/lib/types';

export function obs(id: number, over: Partial<Observation> = {}): Observation {
  return {
    id,
    session_id: 's1',
    project: 'acme-api',
    prompt_number: 1,
    type: 'change',
    title: `obs ${id}`,
    subtitle: '',
    narrative: '',
    facts: [],
    concepts: [],
    files_read: [],
    files_modified: [],
    keywords: [],
    source_event_ids: [],
    input_tokens: 0,
    output_tokens: 0,
    compressor: 'local',
    model: null,
    created_at: 1000 + id,
    ...over,
  };
}

const summary = (id: number, at: number): Summary => ({
  id,
  session_id: 's1',
  project: 'acme-api',
  prompt_number: 1,
  request: 'r',
  investigated: '',
  learned: '',
  completed: '',
  next_steps: '',
  compressor: 'local',
  model: null,
  created_at: at,
});

describe('parseStreamEvent', () => {
  it('parses observations, summaries and prompts', () => {
    const o = parseStreamEvent('observation', JSON.stringify(obs(7)));
    expect(o).toMatchObject({ kind: 'item', item: { kind: 'observation', key: 'o:7', id: 7 } });
    const s = parseStreamEvent('summary', JSON.stringify(summary(3, 5)));
    expect(s).toMatchObject({ kind: 'item', item: { kind: 'summary', key: 's:3' } });
    const p = parseStreamEvent('prompt', JSON.stringify({ session_id: 'abc', project: 'x', prompt_number: 2, prompt: 'hi', created_at: 9 }));
    expect(p).toMatchObject({ kind: 'item', item: { kind: 'prompt', key: 'p:abc:2', ts: 9 } });
  });
  it('parses health', () => {
    expect(parseStreamEvent('health', '{"status":"ok","counts":{}}')).toMatchObject({ kind: 'health' });
  });
  it('ignores garbage and unknown events', () => {
    expect(parseStreamEvent('observation', 'not json')).toBeNull();
    expect(parseStreamEvent('observation', '{"title":"no id"}')).toBeNull();
    expect(parseStreamEvent('observation', '[1]')).toBeNull();
    expect(parseStreamEvent('ping', '{}')).toBeNull();
  });
});

describe('mergeItems', () => {
  it('dedupes by id, newest first, later copy wins', () => {
    const a = [observationItem(obs(1)), observationItem(obs(2))];
    const b = [observationItem(obs(2, { title: 'updated' })), observationItem(obs(3))];
    const merged = mergeItems(a, b);
    expect(merged.map((i) => i.key)).toEqual(['o:3', 'o:2', 'o:1']);
    expect((merged[1].data as Observation).title).toBe('updated');
  });
  it('a replayed stream (reconnect) adds nothing', () => {
    const a = [observationItem(obs(1)), observationItem(obs(2))];
    expect(mergeItems(a, [observationItem(obs(1))])).toHaveLength(2);
    expect(mergeItems(a, [])).toBe(a);
  });
  it('interleaves kinds by time, stable on ties', () => {
    const merged = mergeItems([observationItem(obs(1, { created_at: 10 }))], [summaryItem(summary(1, 10)), observationItem(obs(2, { created_at: 20 }))]);
    expect(merged.map((i) => i.key)).toEqual(['o:2', 'o:1', 's:1']);
  });
  it('cursors', () => {
    const items: FeedItem[] = [observationItem(obs(5)), summaryItem(summary(1, 1)), observationItem(obs(9))];
    expect(oldestObservationId(items)).toBe(5);
    expect(newestObservationId(items)).toBe(9);
    expect(oldestObservationId([])).toBeNull();
  });
});

describe('matchesFilter', () => {
  it('filters by project and type', () => {
    const it1 = observationItem(obs(1, { project: 'web', type: 'bugfix' }));
    expect(matchesFilter(it1, {})).toBe(true);
    expect(matchesFilter(it1, { project: 'web' })).toBe(true);
    expect(matchesFilter(it1, { project: 'api' })).toBe(false);
    expect(matchesFilter(it1, { type: 'bugfix' })).toBe(true);
    expect(matchesFilter(summaryItem(summary(1, 1)), { type: 'bugfix' })).toBe(false);
  });
});
