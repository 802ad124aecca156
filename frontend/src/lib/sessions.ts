// How a session row reads: its title (first prompt, else its summary's request), whether it is still
// going, and day separators for lists.

import type { Session } from './types';

/** A session quiet for this long is no longer called active: Claude Code does not always send SessionEnd. */
export const IDLE_AFTER_MS = 60 * 60 * 1000;

export interface SessionState {
  status: string;
  label: string;
  title?: string;
}

export function sessionState(s: Pick<Session, 'status' | 'last_seen_at' | 'ended_at'>, now: number): SessionState {
  if (s.status === 'active' && !s.ended_at && now - s.last_seen_at > IDLE_AFTER_MS) {
    const hours = Math.floor((now - s.last_seen_at) / 3_600_000);
    const quiet = hours >= 48 ? `${Math.floor(hours / 24)} days` : `${hours} h`;
    return { status: 'idle', label: 'idle', title: `No activity for ${quiet}; Claude Code never said this session ended.` };
  }
  return { status: s.status, label: s.status };
}

export interface SessionTitle {
  prompt: string | null;
  summary: string | null;
}

export function sessionTitle(t: SessionTitle | undefined, fallback: string): string {
  const text = (t?.prompt || t?.summary || '').replace(/\s+/g, ' ').trim();
  if (!text) return fallback;
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

const DAY_MS = 86_400_000;

function localMidnight(ms: number): number {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** "Today", "Yesterday", else a weekday and date in the user's locale. */
export function dayLabel(ms: number, now: number, locale?: string): string {
  const days = Math.round((localMidnight(now) - localMidnight(ms)) / DAY_MS);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  const d = new Date(ms);
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  return d.toLocaleDateString(locale, { weekday: 'short', day: 'numeric', month: 'short', ...(sameYear ? {} : { year: 'numeric' }) });
}

/** The local day of `ms` as a key (a separator goes where it changes). */
export function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}
