import { describe, expect, it } from 'vitest';
import { isTeamHealth, normalizeHealth, summarizeHealth } from '../src/lib/health';
import { parseHash } from '../src/lib/router';
import type { Health } from '../src/lib/types';

// What a team server's /api/health answers (crates/team/src/server.rs `health_answer`), as the viewer
// receives it: a different shape from the laptop's.
const teamRaw = (over: Record<string, unknown> = {}): Health =>
  ({
    status: 'ok',
    version: '0.1.0',
    backend: 'postgres',
    replica: 'replica-a',
    pid: 42,
    uptime_seconds: 7,
    vectors: { mode: 'replica_hnsw', embedder: 'hash-256', dim: 256, fallback: null, indexed: 3, teams: 1 },
    processor: { compressor: 'local', llm_configured: false, budget_exhausted: false, batches: 1, observations: 1, summaries: 1, retries: 0, parked: 0, last_error: null },
    counts: { sessions: 2, events: 9, pending_events: 3, observations: 5, embedded: 5, summaries: 1 },
    ...over,
  }) as unknown as Health;

describe('team server health', () => {
  it('is told apart from the laptop by its backend', () => {
    expect(isTeamHealth(teamRaw())).toBe(true);
    expect(isTeamHealth({})).toBe(false);
    expect(isTeamHealth({ backend: 'sqlite' })).toBe(false);
    expect(isTeamHealth(null)).toBe(false);
  });

  it('maps onto the laptop shape: the queue is pending_events, nothing parked, no index', () => {
    const h = normalizeHealth(teamRaw());
    expect(h.counts).toEqual({ sessions: 2, events: 9, pending: 3, failed: 0, prompts: 0, observations: 5 });
    expect(h.index).toBeNull();
    expect(h.team?.replica).toBe('replica-a');
    expect(h.pid).toBe(42);
  });

  it("keeps the previous counts when the stream's health event has none", () => {
    const first = normalizeHealth(teamRaw());
    const fromStream = normalizeHealth(teamRaw({ counts: null, pid: null }), first);
    expect(fromStream.counts.observations).toBe(5);
    expect(fromStream.pid).toBe(42);
  });

  it("leaves the laptop's health as it is", () => {
    const laptop = { status: 'ok', counts: { pending: 1 } } as unknown as Health;
    expect(normalizeHealth(laptop)).toBe(laptop);
  });

  it('warns about the hashing embedder and counts the queue', () => {
    const s = summarizeHealth(teamRaw());
    expect(s.queue).toBe(3);
    expect(s.level).toBe('warn');
    expect(s.warnings.join(' ')).toMatch(/Hashing embedder/);
    expect(s.indexProgress).toBeNull();
  });
});

describe('routes', () => {
  it('knows the context page', () => {
    expect(parseHash('#/context?project=p')).toEqual({ view: 'context', param: null, query: { project: 'p' } });
    expect(parseHash('#/nonsense').view).toBe('live');
  });
});
