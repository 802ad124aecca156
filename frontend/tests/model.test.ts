import { describe, expect, it } from 'vitest';
import { summarizeHealth } from '../src/lib/health';
import {
  DOWNLOAD_HINT,
  describeModel,
  fallbackWarning,
  formatMB,
  formatRetry,
  modelBusy,
  spoolLines,
  wantsFastPoll,
} from '../src/lib/model';
import type { Health, IndexStatus, ModelStatus } from '../src/lib/types';

const REASON =
  'no model in /d/models/all-MiniLM-L6-v2; using the lexical hashing fallback (hash-384) — get the model with `claude-mem models download` (or `claude-mem models install --from DIR` offline) for semantic search';

const hashIndex = (over: Partial<IndexStatus> = {}): IndexStatus => ({
  state: 'ready',
  documents: 10,
  vectors: 10,
  last_indexed_id: 10,
  embedder: 'hash-384',
  embedder_fallback: REASON,
  rebuild_reason: null,
  last_error: null,
  ...over,
});
const minilmIndex = (over: Partial<IndexStatus> = {}) => hashIndex({ embedder: 'minilm-l6-v2', embedder_fallback: null, ...over });

const model = (over: Partial<ModelStatus> = {}): ModelStatus => ({
  state: 'absent',
  bytes_done: 0,
  bytes_total: 0,
  reembed_done: 0,
  reembed_total: 0,
  attempts: 0,
  last_error: null,
  ...over,
});

const health = (over: Partial<Health> = {}): Health => ({
  status: 'ok',
  version: '0.1.0',
  pid: 1,
  uptime_seconds: 5,
  data_dir: '/d',
  database: '/d/db',
  counts: { sessions: 1, events: 4, pending: 0, failed: 0, prompts: 1, observations: 10 },
  processor: null,
  index: hashIndex(),
  ...over,
});

describe('formatting', () => {
  it('formatMB: decimal megabytes, one digit', () => {
    expect(formatMB(0)).toBe('0.0');
    expect(formatMB(41_234_567)).toBe('41.2');
    expect(formatMB(90_868_376)).toBe('90.9');
    expect(formatMB(-5)).toBe('0.0');
    expect(formatMB(NaN)).toBe('—');
  });
  it('formatRetry follows the worker delays (30 s, 5 min, 30 min, 2 h)', () => {
    expect(formatRetry(30)).toBe('30 s');
    expect(formatRetry(300)).toBe('5 min');
    expect(formatRetry(1800)).toBe('30 min');
    expect(formatRetry(7200)).toBe('2 h');
    expect(formatRetry(9000)).toBe('2.5 h');
  });
});

describe('describeModel', () => {
  it('null for a worker without the section', () => {
    expect(describeModel(undefined, hashIndex())).toBeNull();
  });

  it('downloading: MB done/total and percent, search on the fallback meanwhile', () => {
    const m = describeModel(
      model({ state: 'downloading', bytes_done: 45_434_188, bytes_total: 90_868_376, attempts: 1, endpoint: 'https://huggingface.co' }),
      hashIndex(),
    )!;
    expect(m.busy).toBe(true);
    expect(m.status).toBe('Downloading all-MiniLM-L6-v2');
    expect(m.progress).toMatchObject({ done: 45_434_188, total: 90_868_376, ratio: 0.5, label: '45.4 / 90.9 MB (50%)' });
    expect(m.searchNow).toMatch(/^hash-384 \(hashing fallback.*until the model is in$/);
    // The index's reason says "get the model with `claude-mem models download`": wrong while it downloads.
    expect(m.reason).toBeNull();
    expect(m.hint).toBeNull();
    expect(m.endpoint).toBe('https://huggingface.co');
  });

  it('downloading again after a failure says which attempt and what went wrong before', () => {
    const m = describeModel(model({ state: 'downloading', bytes_done: 0, bytes_total: 90_868_376, attempts: 2, last_error: 'connection refused' }), hashIndex())!;
    expect(m.status).toBe('Downloading all-MiniLM-L6-v2 (attempt 2)');
    expect(m.progress?.label).toBe('0.0 / 90.9 MB (0%)');
    expect(m.error).toBe('previous attempt: connection refused');
  });

  it('downloading with an unknown total does not divide by zero', () => {
    expect(describeModel(model({ state: 'downloading', bytes_done: 5, bytes_total: 0 }), hashIndex())!.progress?.ratio).toBe(0);
  });

  it('installing is busy, without a bar', () => {
    const m = describeModel(model({ state: 'installing', bytes_done: 90_868_376, bytes_total: 90_868_376 }), hashIndex())!;
    expect(m.busy).toBe(true);
    expect(m.progress).toBeNull();
    expect(m.status).toMatch(/^Installing all-MiniLM-L6-v2/);
  });

  it('re-embedding: n / total with a bar', () => {
    const m = describeModel(model({ state: 'reembedding', reembed_done: 1200, reembed_total: 4800, endpoint: 'https://huggingface.co' }), minilmIndex({ state: 'indexing' }))!;
    expect(m.busy).toBe(true);
    expect(m.status).toBe('Re-embedding memories 1,200 / 4,800');
    expect(m.progress).toMatchObject({ done: 1200, total: 4800, ratio: 0.25, label: '25%' });
    expect(m.endpoint).toBeNull();
  });

  it('re-embedding with no memories is complete, not 0 / 0 forever', () => {
    expect(describeModel(model({ state: 'reembedding' }), minilmIndex())!.progress?.ratio).toBe(1);
  });

  it('installed: the model name and semantic search on', () => {
    const m = describeModel(model({ state: 'installed', reembed_done: 10, reembed_total: 10 }), minilmIndex())!;
    expect(m).toMatchObject({ level: 'ok', busy: false, status: 'all-MiniLM-L6-v2 · semantic search on', progress: null, searchNow: null, hint: null });
  });

  it('failed with a retry planned: the error and when it retries, no hint', () => {
    const m = describeModel(
      model({ state: 'failed', attempts: 1, retry_in_s: 30, last_error: 'GET https://huggingface.co/…: connection refused', endpoint: 'https://huggingface.co' }),
      hashIndex(),
    )!;
    expect(m.level).toBe('error');
    expect(m.busy).toBe(false);
    expect(m.error).toMatch(/connection refused/);
    expect(m.retry).toBe('retrying in 30 s');
    expect(m.hint).toBeNull();
    // The download's error replaces the index's generic reason, which would repeat the hint.
    expect(m.reason).toBeNull();
  });

  it('failed for good (checksum, attempts spent, install): the command to run', () => {
    const m = describeModel(model({ state: 'failed', attempts: 5, last_error: 'model.safetensors: SHA-256 mismatch' }), hashIndex())!;
    expect(m.status).toMatch(/failed \(attempt 5\)$/);
    expect(m.retry).toBeNull();
    expect(m.hint).toBe(DOWNLOAD_HINT);
    expect(describeModel(model({ state: 'failed', retry_in_s: undefined, last_error: 'x' }), hashIndex())!.hint).toBe(DOWNLOAD_HINT);
  });

  it('absent: what search runs on, the reason once, the hint only when the reason lacks it', () => {
    const m = describeModel(model({ state: 'absent' }), hashIndex())!;
    expect(m.level).toBe('warn');
    expect(m.searchNow).toBe('hash-384 (hashing fallback: lexical, not semantic)');
    expect(m.reason).toBe(REASON);
    expect(m.hint).toBeNull();
    const bare = describeModel(model({ state: 'absent' }), hashIndex({ embedder_fallback: 'MiniLM could not be loaded from /m: missing config.json' }))!;
    expect(bare.hint).toBe(DOWNLOAD_HINT);
  });

  it('not_used: the configured embedder, plain unless it fell back', () => {
    const openai = describeModel(model({ state: 'not_used' }), hashIndex({ embedder: 'openai-text-embedding-3-small-384', embedder_fallback: null }))!;
    expect(openai).toMatchObject({ level: 'info', searchNow: 'openai-text-embedding-3-small-384', reason: null, hint: null });
    const hash = describeModel(model({ state: 'not_used' }), hashIndex({ embedder_fallback: null }))!;
    expect(hash.searchNow).toMatch(/hashing fallback/);
    const broken = describeModel(model({ state: 'not_used' }), hashIndex({ embedder_fallback: 'embeddings API not usable: no key' }))!;
    expect(broken).toMatchObject({ level: 'warn', reason: 'embeddings API not usable: no key' });
  });

  it('no index open', () => {
    expect(describeModel(model({ state: 'absent' }), null)!.searchNow).toMatch(/not open/);
  });

  it('an unknown state is shown as it comes', () => {
    expect(describeModel(model({ state: 'verifying' }), hashIndex())!.status).toBe('verifying');
  });
});

describe('polling', () => {
  it('only while downloading, installing or re-embedding', () => {
    for (const s of ['downloading', 'installing', 'reembedding']) expect(modelBusy(model({ state: s }))).toBe(true);
    for (const s of ['installed', 'failed', 'absent', 'not_used']) expect(modelBusy(model({ state: s }))).toBe(false);
    expect(modelBusy(undefined)).toBe(false);
    expect(wantsFastPoll(null)).toBe(false);
    expect(wantsFastPoll(health({ model: model({ state: 'downloading' }) }))).toBe(true);
    expect(wantsFastPoll(health())).toBe(false);
  });
});

describe('spoolLines', () => {
  it('nothing when empty or absent', () => {
    expect(spoolLines(undefined)).toEqual([]);
    expect(spoolLines({ backlog: 0, quarantined: 0 })).toEqual([]);
  });
  it('backlog and quarantine, singular and plural', () => {
    expect(spoolLines({ backlog: 1, quarantined: 0 })).toEqual([{ text: '1 event waiting to be stored', level: 'info' }]);
    expect(spoolLines({ backlog: 1234, quarantined: 2 })).toEqual([
      { text: '1,234 events waiting to be stored', level: 'info' },
      { text: '2 unreadable events set aside in spool/quarantine', level: 'warn' },
    ]);
    expect(spoolLines({ backlog: 0, quarantined: 1 })).toEqual([{ text: '1 unreadable event set aside in spool/quarantine', level: 'warn' }]);
  });
});

describe('the fallback warning follows the download', () => {
  it('without a model section: as before', () => {
    expect(fallbackWarning(hashIndex(), undefined)).toBe(`Fallback hashing embedder in use (hash-384): ${REASON}. Vector search is lexical only.`);
  });
  it('while downloading: no "run models download" advice', () => {
    const w = summarizeHealth(health({ model: model({ state: 'downloading' }) })).warnings[0];
    expect(w).toMatch(/^Fallback hashing embedder in use \(hash-384\) while all-MiniLM-L6-v2 downloads/);
    expect(w).not.toContain(DOWNLOAD_HINT);
  });
  it('failed: the error, then the retry or the command', () => {
    expect(fallbackWarning(hashIndex(), model({ state: 'failed', last_error: 'offline', retry_in_s: 300 }))).toBe(
      'Fallback hashing embedder in use (hash-384): getting all-MiniLM-L6-v2 failed (offline); retrying in 5 min. Vector search is lexical only.',
    );
    expect(fallbackWarning(hashIndex(), model({ state: 'failed', last_error: 'bad checksum' }))).toContain('run `claude-mem models download`');
  });
  it('the level stays warn while the fallback is in use', () => {
    expect(summarizeHealth(health({ model: model({ state: 'downloading' }) })).level).toBe('warn');
    expect(summarizeHealth(health({ index: minilmIndex(), model: model({ state: 'installed' }) })).warnings).toEqual([]);
  });
});
