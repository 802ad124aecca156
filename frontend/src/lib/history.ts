// Paging the live feed's history backwards over three lists (observations, prompts, summaries), each
// with its own cursor. Only the stretch of time every list has reached is shown: an older prompt must not
// appear above observations that have not been loaded yet, and "Beginning of history" means all three
// lists are exhausted.

export type HistoryKind = 'observation' | 'prompt' | 'summary';
export const HISTORY_KINDS: HistoryKind[] = ['observation', 'prompt', 'summary'];

export interface KindCursor {
  /** `before_id` of the next page; null before the first page. */
  before: number | null;
  /** Oldest timestamp loaded so far; null before the first page. */
  oldest: number | null;
  exhausted: boolean;
  loaded: boolean;
}

export type Cursors = Record<HistoryKind, KindCursor>;

export function freshCursors(only?: HistoryKind[]): Cursors {
  const c = {} as Cursors;
  for (const k of HISTORY_KINDS) {
    const skipped = !!only && !only.includes(k);
    c[k] = { before: null, oldest: null, exhausted: skipped, loaded: skipped };
  }
  return c;
}

/** After a page: where the next starts, the oldest time reached, and whether the list has ended. */
export function advance(c: KindCursor, page: { timestamps: number[]; next_before_id: number | null | undefined }): KindCursor {
  const oldestInPage = page.timestamps.length ? Math.min(...page.timestamps) : null;
  const oldest = oldestInPage === null ? c.oldest : c.oldest === null ? oldestInPage : Math.min(c.oldest, oldestInPage);
  const next = page.next_before_id ?? null;
  return { before: next, oldest, exhausted: next === null, loaded: true };
}

/**
 * Items at or after this time are complete in every list: the oldest time reached by a list that still
 * has more, the newest such (−∞ when every list is exhausted, +∞ while a list has not loaded at all).
 */
export function frontier(c: Cursors): number {
  let f = -Infinity;
  for (const k of HISTORY_KINDS) {
    const cur = c[k];
    if (cur.exhausted) continue;
    if (!cur.loaded || cur.oldest === null) return Infinity;
    f = Math.max(f, cur.oldest);
  }
  return f;
}

/** The list whose next page moves the frontier: the unfinished one that has reached the least far back. */
export function nextKind(c: Cursors): HistoryKind | null {
  let best: HistoryKind | null = null;
  for (const k of HISTORY_KINDS) {
    const cur = c[k];
    if (cur.exhausted) continue;
    if (!cur.loaded) return k;
    if (best === null || (cur.oldest ?? Infinity) > (c[best].oldest ?? Infinity)) best = k;
  }
  return best;
}

export function allExhausted(c: Cursors): boolean {
  return HISTORY_KINDS.every((k) => c[k].exhausted);
}
