// What the header badge and the health view say about the worker.

import { fallbackWarning } from './model';
import type { Health, RetryResponse, TeamCounts, TeamVectors } from './types';

export interface HealthSummary {
  level: 'ok' | 'warn' | 'error';
  queue: number;
  warnings: string[];
  /** Index catch-up, when it is behind. */
  indexProgress: { done: number; total: number; ratio: number } | null;
  hashingEmbedder: boolean;
}

/** The Health page's line after a Retry: how many parked events went back to the queue. */
export function retryMessage(r: RetryResponse): string {
  if (r.requeued === 0) return 'Nothing to retry: no event is parked.';
  const events = r.requeued === 1 ? '1 parked event is' : `${r.requeued} parked events are`;
  const left = r.parked > 0 ? ` (${r.parked} still parked)` : '';
  return `${events} back in the queue${left}; the compressor picks them up now.`;
}

/** A team server answered (`backend: "postgres"`); the laptop worker's health has no `backend`. */
export function isTeamHealth(h: { backend?: unknown } | null | undefined): boolean {
  return h?.backend === 'postgres';
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * The health the viewer works with. The laptop's answer is returned as it is. A team server's
 * (crates/team/src/server.rs `health_answer`: status, version, backend, replica, pid, uptime_seconds,
 * vectors, processor, counts) is mapped onto the laptop's shape, so the badge, the feed and the Health
 * page read one thing: its counts (`pending_events` is the queue; nothing is parked; prompts are not
 * counted), no search index of its own (search reads PostgreSQL), and no data directory. The live
 * stream's `health` event carries neither counts nor pid: the previous answer's stay.
 */
export function normalizeHealth(raw: Health, previous: Health | null = null): Health {
  if (!isTeamHealth(raw) || raw.team) return raw;
  const r = raw as unknown as Record<string, unknown>;
  const counts: TeamCounts | null = isObj(r.counts)
    ? {
        sessions: num(r.counts.sessions),
        events: num(r.counts.events),
        pending_events: num(r.counts.pending_events),
        observations: num(r.counts.observations),
        embedded: num(r.counts.embedded),
        summaries: num(r.counts.summaries),
      }
    : (previous?.team?.counts ?? null);
  const vectors = isObj(r.vectors) ? (r.vectors as unknown as TeamVectors) : (previous?.team?.vectors ?? null);
  return {
    ...raw,
    status: typeof r.status === 'string' ? r.status : 'ok',
    pid: typeof r.pid === 'number' ? r.pid : (previous?.pid ?? 0),
    data_dir: '',
    database: '',
    index: null,
    processor: isObj(r.processor) ? raw.processor : null,
    counts: {
      sessions: counts?.sessions ?? 0,
      events: counts?.events ?? 0,
      pending: counts?.pending_events ?? 0,
      failed: 0,
      prompts: 0,
      observations: counts?.observations ?? 0,
    },
    team: { replica: typeof r.replica === 'string' ? r.replica : null, vectors, counts },
  };
}

/** A team server's summary: no local index, model, spool or capture switch to warn about. */
function summarizeTeam(health: Health): HealthSummary {
  const h = normalizeHealth(health);
  const warnings: string[] = [];
  let level: HealthSummary['level'] = h.status === 'ok' ? 'ok' : 'warn';
  const v = h.team?.vectors ?? null;
  const hashing = !!v && (v.fallback !== null || v.embedder.startsWith('hash'));
  if (v?.fallback) {
    warnings.push(`The team server's embedder fell back to ${v.embedder}: ${v.fallback}`);
    level = 'warn';
  } else if (v?.embedder.startsWith('hash')) {
    warnings.push(`Hashing embedder in use on the team server (${v.embedder}): vector search is lexical only, not semantic.`);
    level = 'warn';
  }
  const p = h.processor;
  if (p?.budget_exhausted) {
    warnings.push("The team server's daily LLM budget is exhausted: local rules compress until midnight UTC.");
    if (level === 'ok') level = 'warn';
  }
  if (p?.last_error) {
    warnings.push(`Last compression error: ${p.last_error}`);
    if (level === 'ok') level = 'warn';
  }
  return { level, queue: h.counts.pending, warnings, indexProgress: null, hashingEmbedder: hashing };
}

export function summarizeHealth(h: Health | null, reachable = true): HealthSummary {
  if (!h || !reachable) {
    return { level: 'error', queue: 0, warnings: ['The claude-mem worker is not reachable.'], indexProgress: null, hashingEmbedder: false };
  }
  if (isTeamHealth(h)) return summarizeTeam(h);
  const warnings: string[] = [];
  let level: HealthSummary['level'] = h.status === 'ok' ? 'ok' : 'warn';
  const idx = h.index;
  const hashing = !!idx && (idx.embedder_fallback !== null || idx.embedder.startsWith('hash'));
  if (!idx) {
    warnings.push('The search index is not open: search is unavailable.');
    level = 'warn';
  } else {
    if (idx.embedder_fallback) {
      warnings.push(fallbackWarning(idx, h.model));
      level = 'warn';
    } else if (idx.embedder.startsWith('hash')) {
      warnings.push(`Hashing embedder in use (${idx.embedder}): vector search is lexical only, not semantic.`);
      level = 'warn';
    }
    if (idx.state === 'failed') {
      warnings.push(`The search index failed${idx.last_error ? `: ${idx.last_error}` : ''}.`);
      level = 'error';
    }
  }
  const p = h.processor;
  if (p?.budget_exhausted) {
    warnings.push('Daily LLM budget exhausted: the local compressor is in charge until midnight UTC.');
    if (level === 'ok') level = 'warn';
  }
  if (p?.last_error) {
    warnings.push(`Last compression error: ${p.last_error}`);
    if (level === 'ok') level = 'warn';
  }
  if (h.counts.failed > 0) {
    warnings.push(`${h.counts.failed} event(s) failed compression and are parked.`);
    if (level === 'ok') level = 'warn';
  }
  let indexProgress: HealthSummary['indexProgress'] = null;
  if (idx && (idx.state === 'indexing' || idx.documents < h.counts.observations)) {
    const total = Math.max(h.counts.observations, idx.documents);
    const done = Math.min(idx.documents, total);
    indexProgress = { done, total, ratio: total > 0 ? done / total : 1 };
  }
  return { level, queue: h.counts.pending, warnings, indexProgress, hashingEmbedder: hashing };
}
