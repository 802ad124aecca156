// What the header badge and the health view say about the worker.

import { fallbackWarning } from './model';
import type { Health, RetryResponse } from './types';

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

export function summarizeHealth(h: Health | null, reachable = true): HealthSummary {
  if (!h || !reachable) {
    return { level: 'error', queue: 0, warnings: ['The claude-mem worker is not reachable.'], indexProgress: null, hashingEmbedder: false };
  }
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
