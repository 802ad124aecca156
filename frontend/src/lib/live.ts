// The Live page's wording and layout: what the status chip says, which empty state applies, and the
// rows of the feed with day separators.

import type { StreamStatus, FeedItem } from './stream';
import type { Health } from './types';

export function streamLabel(status: StreamStatus, paused: boolean, offline: boolean): { state: string; text: string; title: string } {
  if (offline) return { state: 'offline', text: '○ offline', title: 'The worker is not reachable; this page reconnects by itself' };
  if (paused) return { state: 'paused', text: '‖ capture paused', title: 'Nothing Claude Code does is kept until capture is resumed' };
  switch (status) {
    case 'live':
      return { state: 'live', text: '● live', title: 'New memories appear as they are made' };
    case 'polling':
      return { state: 'polling', text: '↻ polling', title: 'The worker has no live stream; refreshing every 5 s' };
    case 'reconnecting':
      return { state: 'reconnecting', text: '… reconnecting', title: 'The live stream dropped; reconnecting' };
    default:
      return { state: 'connecting', text: '… connecting', title: 'Opening the live stream' };
  }
}

export interface EmptyState {
  kind: 'filtered' | 'parked' | 'waiting' | 'first-run';
  title: string;
  text: string;
}

/**
 * Why the feed is empty. A filter that matches nothing is not "no memories yet"; events that arrived
 * but were parked (a wrong API key) are not a first run either.
 */
export function emptyState(p: { items: number; project?: string; type?: string; health: Health | null; team?: boolean }): EmptyState {
  if (p.project || p.type) {
    const what = [p.project && `project ${p.project}`, p.type && `type ${p.type}`].filter(Boolean).join(' and ');
    return { kind: 'filtered', title: 'Nothing matches this filter', text: `No memory for ${what}. Other projects and types may have some.` };
  }
  const c = p.health?.counts;
  if (c && c.failed > 0) {
    return {
      kind: 'parked',
      title: `${c.failed} event${c.failed === 1 ? '' : 's'} could not be turned into memories`,
      text: 'Claude Code reached the worker, but compression failed and the events are parked. A wrong or missing API key is the usual cause: check Settings, then Retry parked on the Health page.',
    };
  }
  if (c && (c.pending > 0 || c.events > 0)) {
    return { kind: 'waiting', title: 'Memories are on their way', text: `${c.pending} event${c.pending === 1 ? ' is' : 's are'} waiting to be compressed; they appear here when done.` };
  }
  if (p.team) {
    return {
      kind: 'first-run',
      title: 'No team memories yet',
      text: "Memories appear here, live, as your team's Claude Code sessions reach this server.",
    };
  }
  return {
    kind: 'first-run',
    title: 'No memories yet',
    text: 'Work with Claude Code after `claude-mem install`: each significant tool use becomes a memory here, live.',
  };
}

export type FeedRow =
  | { kind: 'day'; key: string; ts: number }
  | { kind: 'item'; key: string; item: FeedItem; index: number; sameSession: boolean };

/** The feed with a separator wherever the local day changes; consecutive items of one session grouped. */
export function feedRows(items: FeedItem[], day: (ms: number) => string): FeedRow[] {
  const rows: FeedRow[] = [];
  let lastDay = '';
  let lastSession = '';
  items.forEach((item, index) => {
    const d = day(item.ts);
    if (d !== lastDay) {
      rows.push({ kind: 'day', key: `day:${d}`, ts: item.ts });
      lastDay = d;
      lastSession = '';
    }
    const session = item.data.session_id;
    rows.push({ kind: 'item', key: item.key, item, index, sameSession: session === lastSession });
    lastSession = session;
  });
  return rows;
}

/**
 * What failed, when an observation records a failure: failed tests, a rejected push, a non-zero exit, a
 * compiler error, a panic. Shown as a red mark on the card so failures stand out in a long feed. "0
 * failed" in a passing test run is not a failure.
 */
export function failureOf(o: { title: string; subtitle?: string; narrative?: string }): string | null {
  const text = `${o.title}\n${o.subtitle ?? ''}\n${o.narrative ?? ''}`;
  const rules: [RegExp, string][] = [
    [/\b[1-9]\d* (?:tests? )?(?:failed|failing)\b|\btest result: FAILED\b|\btests? failed\b/i, 'tests failed'],
    [/\[rejected\]|\bpush(?:es)? (?:was |were )?rejected\b|\bnon-fast-forward\b/i, 'push rejected'],
    [/\bpanicked at\b/i, 'panic'],
    [/\berror(?:\[E\d{4}\])?: /, 'error'],
    [/\bexit(?:ed)?(?: with)? (?:code|status) [1-9]\d*\b/i, 'non-zero exit'],
    [/\b(?:build|command|deploy(?:ment)?|check) failed\b/i, 'failed'],
  ];
  for (const [re, label] of rules) if (re.test(text)) return label;
  return null;
}
