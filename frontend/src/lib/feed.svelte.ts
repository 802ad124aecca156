// The live feed's state: history pages, the SSE stream (or polling when the worker has none), and the
// worker's health that rides on the same stream.

import { api, connectivity, describeError } from './api';
import { advance, allExhausted, freshCursors, frontier, nextKind, type Cursors, type HistoryKind } from './history';
import {
  LiveStream,
  matchesFilter,
  mergeItems,
  observationItem,
  promptItem,
  summaryItem,
  type FeedFilter,
  type FeedItem,
  type StreamMessage,
  type StreamStatus,
} from './stream';
import { isTeamHealth, normalizeHealth } from './health';
import { backend, noteBackend } from './backend.svelte';
import type { Health, Observation } from './types';

export const PAGE = 30;
const POLL_MS = 5000;
/** While the worker is unreachable, health is asked this often, so pages recover soon after it returns. */
export const OFFLINE_POLL_MS = 1000;

export class Feed {
  /** Everything loaded; `items` is the part every history list has reached (see `history.ts`). */
  all = $state<FeedItem[]>([]);
  filter = $state<FeedFilter>({});
  loading = $state(false);
  loaded = $state(false);
  error = $state<string | null>(null);
  status = $state<StreamStatus>('connecting');
  health = $state<Health | null>(null);
  healthError = $state<string | null>(null);
  healthAt = $state(0);
  /** Bumped each time the worker answers again after being unreachable: pages showing an error reload. */
  reconnects = $state(0);
  cursors = $state<Cursors>(freshCursors());

  readonly items = $derived.by(() => {
    const f = frontier(this.cursors);
    return f === -Infinity ? this.all : this.all.filter((i) => i.ts >= f);
  });
  readonly exhausted = $derived(allExhausted(this.cursors));
  /** Capture paused (tray or viewer): the feed must not claim to be live. */
  readonly paused = $derived(!!this.health?.capture?.paused && !this.healthError);

  private stream: LiveStream | null = null;
  private poller: ReturnType<typeof setInterval> | null = null;
  private generation = 0;
  private ticks = 0;
  private checking = false;
  private onUnreachable = () => {
    if (this.healthError || this.checking) return;
    this.checking = true;
    void this.refreshHealth().finally(() => (this.checking = false));
  };

  /** Drops a forgotten observation from what is shown (the worker has already deleted it). */
  forget(id: number): void {
    this.all = this.all.filter((i) => !(i.kind === 'observation' && i.id === id));
  }

  /** Shows an edited observation in place. */
  replace(o: Observation): void {
    this.all = this.all.map((i) => (i.kind === 'observation' && i.id === o.id ? { ...i, data: o } : i));
  }

  start(): void {
    connectivity.addEventListener('unreachable', this.onUnreachable);
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
      this.ticks++;
      if (this.healthError) {
        void this.refreshHealth();
        return;
      }
      if (this.ticks % (POLL_MS / OFFLINE_POLL_MS) !== 0) return;
      if (this.status !== 'live') void this.pollOnce();
      // Health comes with the stream every 5 s; ask directly when it has gone quiet. A team server's
      // stream carries no counts (they are the caller's team's): those are asked for every 5 s.
      const quiet = backend.team ? POLL_MS - OFFLINE_POLL_MS : 3 * POLL_MS;
      if (this.status !== 'live' || Date.now() - this.healthAt > quiet) void this.refreshHealth();
    }, OFFLINE_POLL_MS);
  }

  stop(): void {
    connectivity.removeEventListener('unreachable', this.onUnreachable);
    this.stream?.stop();
    if (this.poller) clearInterval(this.poller);
  }

  /** `fresh`: the answer has the figures (a team server's stream event has no counts: not fresh). */
  private healthy(raw: Health, fresh = true): void {
    // A team server's health comes in its own shape (and the stream's without counts): one shape here.
    const h = normalizeHealth(raw, this.health);
    noteBackend(h);
    const wasDown = this.healthError !== null;
    this.health = h;
    this.healthError = null;
    if (fresh) this.healthAt = Date.now();
    if (wasDown) {
      this.reconnects++;
      if (this.error || !this.loaded) void this.loadInitial();
    }
  }

  onMessage(m: StreamMessage): void {
    if (m.kind === 'health') {
      this.healthy(m.health, !(isTeamHealth(m.health) && !m.health.counts));
      return;
    }
    if (matchesFilter(m.item, this.filter)) this.all = mergeItems(this.all, [m.item]);
  }

  async refreshHealth(): Promise<void> {
    try {
      this.healthy(await api.health());
    } catch (e) {
      this.healthError = describeError(e, 'health');
    }
  }

  /** Pause or resume capture, and show the answer at once. */
  async setPaused(paused: boolean): Promise<void> {
    const r = await api.setCapture(paused);
    if (this.health) this.health = { ...this.health, capture: { paused: r.paused } };
  }

  setFilter(f: FeedFilter): void {
    if (f.project === this.filter.project && f.type === this.filter.type && this.loaded) return;
    this.filter = f;
    this.all = [];
    this.loaded = false;
    void this.loadInitial();
  }

  /** One page of one history list, as feed items, and the cursor after it. */
  private async page(kind: HistoryKind, before: number | null, limit = PAGE): Promise<{ items: FeedItem[]; next: number | null; timestamps: number[] }> {
    const project = this.filter.project;
    if (kind === 'observation') {
      const r = await api.observations({ limit, before, project, type: this.filter.type });
      return { items: r.observations.map(observationItem), next: r.next_before_id ?? null, timestamps: r.observations.map((o) => o.created_at) };
    }
    if (kind === 'prompt') {
      const r = await api.prompts({ limit, before, project });
      return { items: r.prompts.map(promptItem), next: r.next_before_id ?? null, timestamps: r.prompts.map((p) => p.created_at) };
    }
    const r = await api.summaries({ limit, before, project });
    // A worker without paging answers one page and no cursor: that list then ends there.
    return { items: r.summaries.map(summaryItem), next: r.next_before_id ?? null, timestamps: r.summaries.map((x) => x.created_at) };
  }

  async loadInitial(): Promise<void> {
    const gen = ++this.generation;
    this.loading = true;
    this.error = null;
    // A type narrows to observations: prompts and summaries have none.
    const kinds: HistoryKind[] = this.filter.type ? ['observation'] : ['observation', 'prompt', 'summary'];
    try {
      let cursors = freshCursors(kinds);
      let incoming: FeedItem[] = [];
      const pages = await Promise.all(
        kinds.map(async (k) => {
          try {
            return { k, page: await this.page(k, null) };
          } catch (e) {
            // Observations are the feed; prompts and summaries from an older worker are a garnish.
            if (k === 'observation') throw e;
            return { k, page: { items: [], next: null, timestamps: [] } };
          }
        }),
      );
      for (const { k, page } of pages) {
        incoming = incoming.concat(page.items);
        cursors = { ...cursors, [k]: advance(cursors[k], { timestamps: page.timestamps, next_before_id: page.next }) };
      }
      if (gen !== this.generation) return;
      this.all = mergeItems(this.all, incoming);
      this.cursors = cursors;
      this.loaded = true;
    } catch (e) {
      if (gen === this.generation) this.error = describeError(e, 'the observation list');
    } finally {
      if (gen === this.generation) this.loading = false;
    }
  }

  /** Older history: pages of whichever list is furthest behind, until more shows or history ends. */
  async loadMore(): Promise<void> {
    if (this.loading || this.exhausted || !this.loaded) return;
    const gen = this.generation;
    this.loading = true;
    const shownBefore = this.items.length;
    try {
      for (let i = 0; i < 6 && this.items.length === shownBefore; i++) {
        const kind = nextKind(this.cursors);
        if (!kind) break;
        const cur = this.cursors[kind];
        const page = await this.page(kind, cur.before);
        if (gen !== this.generation) return;
        // Guard against a worker that ignores the cursor: a page that repeats itself ends the list.
        const fresh = page.items.filter((it) => !this.all.some((x) => x.key === it.key));
        this.all = mergeItems(this.all, page.items);
        const next = fresh.length === 0 ? null : page.next;
        this.cursors = { ...this.cursors, [kind]: advance(cur, { timestamps: page.timestamps, next_before_id: next }) };
      }
    } catch (e) {
      if (gen === this.generation) this.error = describeError(e, 'older history');
    } finally {
      if (gen === this.generation) this.loading = false;
    }
  }

  /** Without a stream: the newest page, merged (ids already shown are deduplicated). */
  async pollOnce(): Promise<void> {
    if (!this.loaded) return;
    const gen = this.generation;
    try {
      const kinds: HistoryKind[] = this.filter.type ? ['observation'] : ['observation', 'prompt', 'summary'];
      const pages = await Promise.all(kinds.map((k) => this.page(k, null, 20).catch(() => ({ items: [] as FeedItem[] }))));
      if (gen === this.generation) this.all = mergeItems(this.all, pages.flatMap((p) => p.items));
    } catch {
      /* the health badge says when the worker is gone */
    }
  }
}
