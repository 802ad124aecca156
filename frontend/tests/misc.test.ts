import { describe, expect, it } from 'vitest';
import { summarizeHealth } from '../src/lib/health';
import { isTypingTarget, listKey, moveIndex } from '../src/lib/keys';
import { buildHash, parseHash } from '../src/lib/router';
import { buildTimeline, mergeSessionPage, neighbours } from '../src/lib/timeline';
import { qs, ApiError, describeError } from '../src/lib/api';
import type { Health } from '../src/lib/types';
import { obs } from './stream.test';

const health = (over: Partial<Health> = {}): Health => ({
  status: 'ok',
  version: '0.1.0',
  pid: 1,
  uptime_seconds: 5,
  data_dir: '/d',
  database: '/d/db',
  counts: { sessions: 1, events: 4, pending: 2, failed: 0, prompts: 1, observations: 10 },
  processor: { compressor: 'local', llm_configured: false, budget_exhausted: false, batches: 1, observations: 1, summaries: 1, retries: 0, parked: 0, last_error: null },
  index: { state: 'ready', documents: 10, vectors: 10, last_indexed_id: 10, embedder: 'minilm-l6-v2', embedder_fallback: null, rebuild_reason: null, last_error: null },
  ...over,
});

describe('summarizeHealth', () => {
  it('ok with the real model', () => {
    expect(summarizeHealth(health())).toMatchObject({ level: 'ok', queue: 2, warnings: [], indexProgress: null, hashingEmbedder: false });
  });
  it('warns about the fallback hashing embedder', () => {
    const h = health({ index: { ...health().index!, embedder: 'hash-384', embedder_fallback: 'model files missing' } });
    const s = summarizeHealth(h);
    expect(s.level).toBe('warn');
    expect(s.hashingEmbedder).toBe(true);
    expect(s.warnings[0]).toMatch(/Fallback hashing embedder.*model files missing/);
  });
  it('index progress while catching up', () => {
    const h = health({ index: { ...health().index!, state: 'indexing', documents: 4 } });
    expect(summarizeHealth(h).indexProgress).toEqual({ done: 4, total: 10, ratio: 0.4 });
  });
  it('unreachable and no index', () => {
    expect(summarizeHealth(null).level).toBe('error');
    expect(summarizeHealth(health({ index: null })).warnings[0]).toMatch(/not open/);
  });
});

describe('keys', () => {
  it('moveIndex clamps and starts at the ends', () => {
    expect(moveIndex(-1, 1, 3)).toBe(0);
    expect(moveIndex(-1, -1, 3)).toBe(2);
    expect(moveIndex(2, 1, 3)).toBe(2);
    expect(moveIndex(0, -1, 3)).toBe(0);
    expect(moveIndex(0, 1, 0)).toBe(-1);
  });
  it('typing targets', () => {
    expect(isTypingTarget({ tagName: 'INPUT', type: 'text' } as unknown as EventTarget)).toBe(true);
    expect(isTypingTarget({ tagName: 'INPUT', type: 'checkbox' } as unknown as EventTarget)).toBe(false);
    expect(isTypingTarget({ tagName: 'DIV' } as unknown as EventTarget)).toBe(false);
    expect(isTypingTarget(null)).toBe(false);
  });
  it('listKey', () => {
    const ev = (key: string, extra = {}) => ({ key, ctrlKey: false, metaKey: false, altKey: false, target: null, ...extra }) as unknown as KeyboardEvent;
    expect(listKey(ev('j'), -1, 3)).toEqual({ index: 0, open: false });
    expect(listKey(ev('k'), 2, 3)).toEqual({ index: 1, open: false });
    expect(listKey(ev('Enter'), 1, 3)).toEqual({ index: 1, open: true });
    expect(listKey(ev('Enter'), -1, 3)).toBeNull();
    expect(listKey(ev('j', { ctrlKey: true }), 0, 3)).toBeNull();
    expect(listKey(ev('x'), 0, 3)).toBeNull();
  });
});

describe('router', () => {
  it('round-trips', () => {
    expect(parseHash('')).toEqual({ view: 'live', param: null, query: {} });
    expect(parseHash('#/sessions/abc%2Fdef')).toMatchObject({ view: 'sessions', param: 'abc/def' });
    expect(parseHash('#/search?q=db.rs&mode=text')).toMatchObject({ view: 'search', query: { q: 'db.rs', mode: 'text' } });
    expect(parseHash('#/bogus/1').view).toBe('live');
    expect(buildHash('search', null, { q: 'a b', mode: '' })).toBe('#/search?q=a+b');
    expect(buildHash('sessions', 'x y')).toBe('#/sessions/x%20y');
  });
});

describe('timeline', () => {
  it('prompt → observations → summary per prompt number', () => {
    const steps = buildTimeline({
      prompts: [
        { prompt_number: 2, prompt_id: null, text: 'second', created_at: 3 },
        { prompt_number: 1, prompt_id: null, text: 'first', created_at: 1 },
      ],
      observations: [obs(5, { prompt_number: 2 }), obs(3, { prompt_number: 1 }), obs(4, { prompt_number: 1 })],
      summaries: [{ id: 1, session_id: 's1', project: 'p', prompt_number: 2, request: '', investigated: '', learned: '', completed: 'x', next_steps: '', compressor: 'local', model: null, created_at: 9 }],
    });
    expect(steps.map((s) => [s.prompt_number, s.prompt?.text, s.observations.map((o) => o.id), s.summaries.length])).toEqual([
      [1, 'first', [3, 4], 0],
      [2, 'second', [5], 1],
    ]);
  });
  it('pages of a session merge into one timeline, each row once', () => {
    const session = { id: 's1' } as never;
    const page = (offset: number, next: number | null) => ({ limit: 2, offset, next_offset: next, totals: { events: 3, prompts: 3, observations: 3 } });
    const first = {
      session,
      prompts: [{ prompt_number: 1, prompt_id: null, text: 'one', created_at: 1 }, { prompt_number: 2, prompt_id: null, text: 'two', created_at: 2 }],
      observations: [obs(9, { prompt_number: 3 }), obs(8, { prompt_number: 2 })],
      summaries: [],
      events: [{ id: 1 }, { id: 2 }],
      page: page(0, 2),
    };
    const second = {
      session,
      prompts: [{ prompt_number: 3, prompt_id: null, text: 'three', created_at: 3 }],
      observations: [obs(7, { prompt_number: 1 }), obs(8, { prompt_number: 2 })],
      summaries: [],
      events: [{ id: 3 }],
      page: page(2, null),
    };
    const merged = mergeSessionPage(first, second);
    expect(merged.page?.next_offset).toBeNull();
    expect(merged.prompts.map((p) => p.prompt_number)).toEqual([1, 2, 3]);
    expect(merged.observations.map((o) => o.id).sort()).toEqual([7, 8, 9]);
    expect(merged.events).toHaveLength(3);
    expect(buildTimeline(merged).map((s) => [s.prompt_number, s.observations.map((o) => o.id)])).toEqual([
      [1, [7]],
      [2, [8]],
      [3, [9]],
    ]);
  });
  it('neighbours in the session', () => {
    const list = [obs(9), obs(3), obs(5)];
    expect(neighbours(list, 5)).toMatchObject({ prev: { id: 3 }, next: { id: 9 } });
    expect(neighbours(list, 3)).toMatchObject({ prev: null, next: { id: 5 } });
    expect(neighbours(list, 4)).toMatchObject({ prev: { id: 3 }, next: { id: 5 } });
  });
});

describe('api helpers', () => {
  it('qs skips empty values', () => {
    expect(qs({ q: 'a b', mode: '', limit: 5, x: undefined, y: null })).toBe('?q=a%20b&limit=5');
    expect(qs({})).toBe('');
  });
  it('describes errors', () => {
    expect(describeError(new ApiError(404, 'not_found', 'no such endpoint'), 'settings')).toMatch(/does not provide settings/);
    expect(describeError(new ApiError(400, 'invalid_query', 'q must not be empty'))).toBe('q must not be empty');
    expect(describeError(new ApiError(0, 'unreachable', ''))).toMatch(/not reachable/);
    expect(describeError(new ApiError(401, 'unauthorized', 'send a token'))).toMatch(/claude-mem open/);
  });
});

describe('retry of parked events', () => {
  it('says how many went back and how many are left', async () => {
    const { retryMessage } = await import('../src/lib/health');
    expect(retryMessage({ requeued: 0, parked: 0 })).toMatch(/Nothing to retry/);
    expect(retryMessage({ requeued: 1, parked: 0 })).toBe('1 parked event is back in the queue; the compressor picks them up now.');
    expect(retryMessage({ requeued: 3, parked: 1 })).toMatch(/^3 parked events are back in the queue \(1 still parked\)/);
  });
  it('posts to the admin endpoint with the JSON body', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const original = globalThis.fetch;
    globalThis.fetch = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ requeued: 2, parked: 0 }), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    try {
      const { api } = await import('../src/lib/api');
      expect(await api.retryParked({ all: true })).toEqual({ requeued: 2, parked: 0 });
      expect(calls[0].url).toBe('api/admin/retry');
      expect(calls[0].init.method).toBe('POST');
      expect(JSON.parse(String(calls[0].init.body))).toEqual({ all: true });
    } finally {
      globalThis.fetch = original;
    }
  });
  it('lists the security types among the observation types', async () => {
    const { OBSERVATION_TYPES } = await import('../src/lib/types');
    expect(OBSERVATION_TYPES).toContain('security_alert');
    expect(OBSERVATION_TYPES).toContain('security_note');
  });
});
