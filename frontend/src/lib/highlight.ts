// Marking the query's terms in result text. Returns segments (never HTML), so rendering stays XSS-safe.

export interface Segment {
  text: string;
  match: boolean;
}

const OPERATORS = new Set(['and', 'or', 'not']);

/** The words of a query worth marking: quotes, operators and field prefixes removed, longest first. */
export function queryTerms(query: string): string[] {
  const out = new Set<string>();
  const phrases = [...query.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  const rest = query.replace(/"[^"]*"/g, ' ');
  for (const p of phrases) {
    const t = p.trim().toLowerCase();
    if (t) out.add(t);
  }
  for (let raw of rest.split(/\s+/)) {
    raw = raw.replace(/^[+\-]+/, '').replace(/^[a-z_]+:/i, '');
    raw = raw.replace(/^[^\p{L}\p{N}_]+|[^\p{L}\p{N}_]+$/gu, '');
    const t = raw.toLowerCase();
    if (!t || OPERATORS.has(t)) continue;
    out.add(t);
    // `store.db_open` also matches text that has only `db_open`: mark the identifier's parts too.
    for (const part of t.split(/[^\p{L}\p{N}]+/u)) if (part.length >= 3 && part !== t) out.add(part);
  }
  return [...out].sort((a, b) => b.length - a.length || a.localeCompare(b));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Splits `text` into plain and matching segments (case-insensitive). */
export function highlight(text: string, terms: string[]): Segment[] {
  if (!text) return [];
  const usable = terms.filter((t) => t.length > 0);
  if (!usable.length) return [{ text, match: false }];
  const re = new RegExp(usable.map(escapeRegExp).join('|'), 'giu');
  const out: Segment[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const start = m.index ?? 0;
    if (m[0].length === 0) continue;
    if (start > last) out.push({ text: text.slice(last, start), match: false });
    out.push({ text: m[0], match: true });
    last = start + m[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), match: false });
  return out;
}

/** A window of about `max` characters around the first match (the start when nothing matches). */
export function snippet(text: string, terms: string[], max = 220): string {
  if (text.length <= max) return text;
  const lower = text.toLowerCase();
  let first = -1;
  for (const t of terms) {
    const i = lower.indexOf(t.toLowerCase());
    if (i >= 0 && (first < 0 || i < first)) first = i;
  }
  if (first < 0) return `${text.slice(0, max - 1).trimEnd()}…`;
  let start = Math.max(0, first - Math.floor(max / 3));
  const end = Math.min(text.length, start + max);
  start = Math.max(0, end - max);
  return `${start > 0 ? '…' : ''}${text.slice(start, end).trim()}${end < text.length ? '…' : ''}`;
}
