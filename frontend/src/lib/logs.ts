// The Logs page: lines from `GET /api/logs`, newest first.

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogLine {
  ts: string | null;
  level: LogLevel | string;
  target: string | null;
  message: string;
  fields: Record<string, unknown>;
}

export interface LogsResponse {
  dir: string;
  level: string;
  lines: LogLine[];
}

/** `12:03:04` today, else `Dec 2 12:03:04`, in local time; the raw text when it is not a date. */
export function logTime(ts: string | null, now = Date.now()): string {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  const time = d.toLocaleTimeString(undefined, { hour12: false });
  const today = new Date(now).toDateString() === d.toDateString();
  return today ? time : `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${time}`;
}

/** The other fields as `key=value`, strings unquoted; the `log` crate's bookkeeping (`log.file`, …) left out. */
export function logFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .filter(([k]) => !k.startsWith('log.'))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}
