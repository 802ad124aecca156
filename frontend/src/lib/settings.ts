// The settings form: grouping, typed parsing of inputs, the diff sent with PUT, and mapping the worker's
// 400 (or, from older workers, 422) answer onto the field it names.

import type { SettingField } from './types';

export interface FieldGroup {
  section: string;
  fields: SettingField[];
}

/** By the first dotted segment (`compression.batch_size` → compression); top-level keys go to "general". */
export function groupFields(fields: SettingField[]): FieldGroup[] {
  const groups = new Map<string, SettingField[]>();
  for (const f of fields) {
    const section = f.key.includes('.') ? f.key.slice(0, f.key.indexOf('.')) : 'general';
    if (!groups.has(section)) groups.set(section, []);
    groups.get(section)!.push(f);
  }
  const order = (s: string) => (s === 'general' ? 0 : 1);
  return [...groups.entries()]
    .sort((a, b) => order(a[0]) - order(b[0]))
    .map(([section, fs]) => ({ section, fields: fs }));
}

/** `compression.daily_budget_usd` → "daily budget usd". */
export function fieldLabel(key: string): string {
  const last = key.includes('.') ? key.slice(key.lastIndexOf('.') + 1) : key;
  return last.replace(/_/g, ' ');
}

/** What the form holds for a field: the text of an input, a checkbox, or a secret's pending action. */
export type Draft =
  | { kind: 'value'; raw: string | boolean }
  | { kind: 'secret-set'; raw: string }
  | { kind: 'secret-clear' };

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

export function parseDraft(field: SettingField, draft: Draft): Parsed {
  if (draft.kind === 'secret-clear') return { ok: true, value: null };
  if (draft.kind === 'secret-set') {
    const v = draft.raw.trim();
    return v ? { ok: true, value: v } : { ok: false, error: 'enter a value, or use Clear' };
  }
  const raw = draft.raw;
  switch (field.type) {
    case 'boolean':
      return { ok: true, value: raw === true || raw === 'true' };
    case 'integer': {
      const s = String(raw).trim();
      if (!/^-?\d+$/.test(s)) return { ok: false, error: 'must be a whole number' };
      return { ok: true, value: Number(s) };
    }
    case 'number': {
      const s = String(raw).trim();
      const n = Number(s);
      if (s === '' || !Number.isFinite(n)) return { ok: false, error: 'must be a number' };
      return { ok: true, value: n };
    }
    case 'list':
      // Comma-separated in the form, a list of strings on the wire; blanks and empty items are dropped.
      return { ok: true, value: String(raw).split(',').map((s) => s.trim()).filter((s) => s !== '') };
    case 'enum': {
      const opts = field.options ?? [];
      const hit = opts.find((o) => String(o) === String(raw));
      return hit === undefined ? { ok: false, error: `must be one of ${opts.join(', ')}` } : { ok: true, value: hit };
    }
    default:
      return { ok: true, value: String(raw) };
  }
}

/** How a field's current value is shown in its input. */
export function initialRaw(field: SettingField): string | boolean {
  if (field.type === 'boolean') return field.value === true;
  if (field.value === null || field.value === undefined) return '';
  if (field.type === 'list' && Array.isArray(field.value)) return field.value.join(', ');
  if (typeof field.value === 'object') return JSON.stringify(field.value);
  return String(field.value);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) < 1e-9 * Math.max(1, Math.abs(a));
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface Diff {
  changes: Record<string, unknown>;
  errors: Record<string, string>;
}

/** The dotted keys whose drafts differ from the saved values, parsed; or why a draft cannot be sent. */
export function diffSettings(fields: SettingField[], drafts: Record<string, Draft | undefined>): Diff {
  const changes: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const d = drafts[f.key];
    if (!d) continue;
    if (f.type === 'secret') {
      if (d.kind === 'secret-clear') {
        if (f.is_set) changes[f.key] = null;
        continue;
      }
      if (d.kind === 'secret-set' && d.raw.trim() === '') continue;
    }
    const parsed = parseDraft(f, d);
    if (!parsed.ok) {
      errors[f.key] = parsed.error;
      continue;
    }
    if (f.type === 'secret' || !sameValue(parsed.value, f.value)) changes[f.key] = parsed.value;
  }
  return { changes, errors };
}

/** The field a 400/422 names, matched to the form (exactly, or the closest enclosing key). */
export function errorField(fields: SettingField[], field: string | undefined): string | null {
  if (!field) return null;
  if (fields.some((f) => f.key === field)) return field;
  const prefix = fields
    .map((f) => f.key)
    .filter((k) => field.startsWith(`${k}.`) || k.startsWith(`${field}.`))
    .sort((a, b) => b.length - a.length);
  return prefix[0] ?? null;
}

export function restartNotice(keys: string[]): string | null {
  if (!keys.length) return null;
  return `Saved. Restart claude-mem for ${keys.join(', ')} to take effect.`;
}

/** How a field's value is shown in a line of text (numbers as typed, lists comma-separated). */
export function showValue(v: unknown): string {
  if (Array.isArray(v)) return v.join(', ');
  if (typeof v === 'string') return v === '' ? '(empty)' : v;
  return JSON.stringify(v);
}

/**
 * The line under a field when the running worker does not use the file's value: an environment
 * variable overrides it (editing the file changes nothing while it is set), or a saved value waits for
 * a restart. Null when what runs is what the form shows.
 */
export function fieldSource(f: SettingField): { kind: 'env' | 'pending' | 'start'; text: string } | null {
  if (f.overridden_by) {
    if (f.type === 'secret') return { kind: 'env', text: `Set by ${f.overridden_by}: the worker uses the key from the environment.` };
    const runs = f.running !== undefined ? ` The worker runs with ${showValue(f.running)}.` : '';
    return { kind: 'env', text: `Overridden by the environment variable ${f.overridden_by}.${runs}` };
  }
  if (f.pending_restart) {
    if (f.type === 'secret') return { kind: 'pending', text: 'Saved; the running worker uses its previous key until it restarts.' };
    return { kind: 'pending', text: `Saved; the worker runs with ${showValue(f.running ?? f.value)} until it restarts.` };
  }
  if (f.running !== undefined) {
    // Not in the file, not the environment, not changed since: given when the worker was started.
    return { kind: 'start', text: `The worker was started with ${showValue(f.running)} (a command-line option such as --port); it keeps it until started without one.` };
  }
  return null;
}

/**
 * Whether a worker answering `now` is a new start since `before`: its uptime is shorter than the time
 * that has passed (with a second of slack for rounding). The process id may not change (the worker
 * restarts in its own process).
 */
export function restartedSince(before: { uptime: number; at: number }, now: { uptime: number; at: number }): boolean {
  return now.uptime + 1 < before.uptime + (now.at - before.at) / 1000;
}

/** Drafts kept while the user visits another page: a tab switch must not lose unsaved edits. */
export const keptDrafts: { value: Record<string, Draft | undefined> } = { value: {} };
