// The live feed's state: history pages, the SSE stream (or polling when the worker has none), and the
// worker's health that rides on the same stream.

import { api, describeError } from './api';
import {
  LiveStream,
  matchesFilter,
  mergeItems,
  observationItem,
  oldestObservationId,
  summaryItem,
  type FeedFilter,
  type FeedItem,
  type StreamMessage,
  type StreamStatus,
} from './stream';
import type { Health } from './types';

export const PAGE = 30;
const POLL_MS = 5000;

export class Feed {
  items = $state<FeedItem[]>([]);
  filter = $state<FeedFilter>({});
  loading = $state(false);
  loaded = $state(false);
  exhausted = $state(false);
  error = $state<string | null>(null);
  status = $state<StreamStatus>('connecting');
  health = $state<Health | null>(null);
  healthError = $state<string | null>(null);
  healthAt = $state(0);

  private stream: LiveStream | null = null;
  private poller: ReturnType<typeof setInterval> | null = null;
  private generation = 0;

  start(): void {
    void this.refreshHealth();
    void this.loadInitial();
    this.stream = new LiveStream('api/stream', {
      onMessage: (m) => this.onMessage(m),
      onStatus: (s) => {
        this.status = s;
        if (s === 'live') {
          // Anything stored while we were not connected: fetch the newest page once.
          void this.pollOnce();
        }
      },
    });
    this.stream.start();
    this.poller = setInterval(() => {
      if (this.status !== 'live') void this.pollOnce();
      // Health comes with the stream every 5 s; ask directly when it has gone quiet.
      if (this.status !== 'live' || Date.now() - this.healthAt > 3 * POLL_MS) void this.refreshHealth();
    }, POLL_MS);
  }

  stop(): void {
    this.stream?.stop();
    if (this.poller) clearInterval(this.poller);
  }

  onMessage(m: StreamMessage): void {
    if (m.kind === 'health') {
      this.health = m.health;
      this.healthError = null;
      this.healthAt = Date.now();
      return;
    }
    if (matchesFilter(m.item, this.filter)) this.items = mergeItems(this.items, [m.item]);
  }

  async refreshHealth(): Promise<void> {
    try {
      this.health = await api.health();
      this.healthError = null;
      this.healthAt = Date.now();
    } catch (e) {
      this.healthError = describeError(e, 'health');
    }
  }

  setFilter(f: FeedFilter): void {
    this.filter = f;
    this.items = [];
    this.exhausted = false;
    this.loaded = false;
    void this.loadInitial();
  }

  async loadInitial(): Promise<void> {
    const gen = ++this.generation;
    this.loading = true;
    this.error = null;
    try {
      const { observations } = await api.observations({ limit: PAGE, project: this.filter.project, type: this.filter.type });
      let incoming = observations.map(observationItem);
      if (!this.filter.type) {
        try {
          const { summaries } = await api.summaries({ limit: 20, project: this.filter.project });
          const oldest = observations.length === PAGE ? observations[observations.length - 1].created_at : 0;
          incoming = incoming.concat(summaries.filter((s) => s.created_at >= oldest).map(summaryItem));
        } catch {
          /* summaries are a garnish on the feed */
        }
      }
      if (gen !== this.generation) return;
      this.items = mergeItems(this.items, incoming);
      this.exhausted = observations.length < PAGE;
      this.loaded = true;
    } catch (e) {
      if (gen === this.generation) this.error = describeError(e, 'the observation list');
    } finally {
      if (gen === this.generation) this.loading = false;
    }
  }

  async loadMore(): Promise<void> {
    if (this.loading || this.exhausted || !this.loaded) return;
    const before = oldestObservationId(this.items);
    if (before === null) {
      this.exhausted = true;
      return;
    }
    const gen = this.generation;
    this.loading = true;
    try {
      const { observations } = await api.observations({ limit: PAGE, before, project: this.filter.project, type: this.filter.type });
      if (gen !== this.generation) return;
      // Guard against a worker that ignores the cursor: only strictly older ids count as progress.
      const older = observations.filter((o) => o.id < before);
      this.items = mergeItems(this.items, older.map(observationItem));
      this.exhausted = older.length === 0 || observations.length < PAGE;
    } catch (e) {
      if (gen === this.generation) this.error = describeError(e, 'older observations');
    } finally {
      if (gen === this.generation) this.loading = false;
    }
  }

  /** Without a stream: the newest page, merged (ids already shown are deduplicated). */
  async pollOnce(): Promise<void> {
    if (!this.loaded) return;
    const gen = this.generation;
    try {
      const { observations } = await api.observations({ limit: 20, project: this.filter.project, type: this.filter.type });
      let incoming = observations.map(observationItem);
      if (!this.filter.type) {
        const { summaries } = await api.summaries({ limit: 5, project: this.filter.project }).catch(() => ({ summaries: [] }));
        const oldestShown = this.items.length ? this.items[this.items.length - 1].ts : 0;
        incoming = incoming.concat(summaries.filter((s) => s.created_at >= oldestShown).map(summaryItem));
      }
      if (gen === this.generation) this.items = mergeItems(this.items, incoming);
    } catch {
      /* the health badge says when the worker is gone */
    }
  }
}
