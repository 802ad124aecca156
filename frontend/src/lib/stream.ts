// The live feed: one list of observations, prompts and summaries, merged from history pages and the SSE
// stream, deduplicated by identity and kept newest first.

import type { Health, Observation, PromptEvent, Summary } from './types';

export type FeedItem =
  | { kind: 'observation'; key: string; ts: number; id: number; data: Observation }
  | { kind: 'summary'; key: string; ts: number; id: number; data: Summary }
  | { kind: 'prompt'; key: string; ts: number; id: number; data: PromptEvent };

export type StreamMessage = { kind: 'item'; item: FeedItem } | { kind: 'health'; health: Health };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function observationItem(o: Observation): FeedItem {
  return { kind: 'observation', key: `o:${o.id}`, ts: o.created_at, id: o.id, data: o };
}

export function summaryItem(s: Summary): FeedItem {
  return { kind: 'summary', key: `s:${s.id}`, ts: s.created_at, id: s.id, data: s };
}

export function promptItem(p: PromptEvent): FeedItem {
  return { kind: 'prompt', key: `p:${p.session_id}:${p.prompt_number}`, ts: p.created_at, id: p.prompt_number, data: p };
}

/** Turns one SSE event (its `event:` name and `data:` text) into a feed item or a health update. */
export function parseStreamEvent(type: string, data: string): StreamMessage | null {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isObj(json)) return null;
  switch (type) {
    case 'observation':
      if (typeof json.id !== 'number' || typeof json.created_at !== 'number') return null;
      return { kind: 'item', item: observationItem(json as unknown as Observation) };
    case 'summary':
      if (typeof json.id !== 'number' || typeof json.created_at !== 'number') return null;
      return { kind: 'item', item: summaryItem(json as unknown as Summary) };
    case 'prompt':
      if (typeof json.session_id !== 'string' || typeof json.prompt_number !== 'number') return null;
      return {
        kind: 'item',
        item: promptItem({
          session_id: json.session_id,
          project: String(json.project ?? ''),
          prompt_number: json.prompt_number,
          prompt: String(json.prompt ?? ''),
          created_at: typeof json.created_at === 'number' ? json.created_at : Date.now(),
        }),
      };
    case 'health':
      if (typeof json.status !== 'string') return null;
      return { kind: 'health', health: json as unknown as Health };
    default:
      return null;
  }
}

/** Newest first; equal times by kind then id, so the order is stable whatever the arrival order. */
export function compareItems(a: FeedItem, b: FeedItem): number {
  if (a.ts !== b.ts) return b.ts - a.ts;
  if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
  return b.id - a.id;
}

/** `existing` plus `incoming`; an incoming item replaces the one with the same key. */
export function mergeItems(existing: FeedItem[], incoming: FeedItem[]): FeedItem[] {
  if (!incoming.length) return existing;
  const byKey = new Map<string, FeedItem>();
  for (const it of existing) byKey.set(it.key, it);
  for (const it of incoming) byKey.set(it.key, it);
  return [...byKey.values()].sort(compareItems);
}

export interface FeedFilter {
  project?: string;
  type?: string;
}

export function matchesFilter(item: FeedItem, f: FeedFilter): boolean {
  if (f.project && item.data.project !== f.project) return false;
  if (f.type && (item.kind !== 'observation' || item.data.type !== f.type)) return false;
  return true;
}

/** The smallest observation id in the feed: the `before` cursor of the next history page. */
export function oldestObservationId(items: FeedItem[]): number | null {
  let min: number | null = null;
  for (const it of items) if (it.kind === 'observation' && (min === null || it.id < min)) min = it.id;
  return min;
}

export function newestObservationId(items: FeedItem[]): number | null {
  let max: number | null = null;
  for (const it of items) if (it.kind === 'observation' && (max === null || it.id > max)) max = it.id;
  return max;
}

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'polling';

export interface StreamHandlers {
  onMessage(m: StreamMessage): void;
  onStatus(s: StreamStatus): void;
}

/**
 * EventSource on `api/stream`, resumed by the browser with Last-Event-ID. When the worker has no stream
 * (404, wrong content type) the EventSource closes for good: the caller then polls, and we try again later.
 */
export class LiveStream {
  private es: EventSource | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private url: string,
    private h: StreamHandlers,
    private retryMs = 30_000,
  ) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  private open(): void {
    if (this.stopped || typeof EventSource === 'undefined') {
      this.h.onStatus('polling');
      return;
    }
    this.h.onStatus('connecting');
    const es = new EventSource(this.url);
    this.es = es;
    es.onopen = () => this.h.onStatus('live');
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        this.es = null;
        this.h.onStatus('polling');
        if (!this.stopped) this.retry = setTimeout(() => this.open(), this.retryMs);
      } else {
        this.h.onStatus('reconnecting');
      }
    };
    for (const type of ['observation', 'summary', 'prompt', 'health']) {
      es.addEventListener(type, (ev) => {
        const msg = parseStreamEvent(type, (ev as MessageEvent).data);
        if (msg) this.h.onMessage(msg);
      });
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.es?.close();
    this.es = null;
  }
}
