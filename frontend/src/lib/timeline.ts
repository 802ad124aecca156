// A session's timeline: each prompt, then the observations it led to, then its summary.

import type { Observation, PromptRow, SessionDetail, Summary } from './types';

export interface TimelineStep {
  prompt_number: number;
  prompt: PromptRow | null;
  observations: Observation[];
  summaries: Summary[];
}

export function buildTimeline(d: Pick<SessionDetail, 'prompts' | 'observations' | 'summaries'>): TimelineStep[] {
  const steps = new Map<number, TimelineStep>();
  const step = (n: number) => {
    let s = steps.get(n);
    if (!s) {
      s = { prompt_number: n, prompt: null, observations: [], summaries: [] };
      steps.set(n, s);
    }
    return s;
  };
  for (const p of d.prompts ?? []) step(p.prompt_number).prompt = p;
  for (const o of d.observations ?? []) step(o.prompt_number).observations.push(o);
  for (const s of d.summaries ?? []) step(s.prompt_number).summaries.push(s);
  const out = [...steps.values()].sort((a, b) => a.prompt_number - b.prompt_number);
  for (const s of out) {
    s.observations.sort((a, b) => a.id - b.id);
    s.summaries.sort((a, b) => a.id - b.id);
  }
  return out;
}

/** The observations before and after `id` in the same session, in id order. */
export function neighbours(sessionObservations: Observation[], id: number): { prev: Observation | null; next: Observation | null } {
  const sorted = [...sessionObservations].sort((a, b) => a.id - b.id);
  const i = sorted.findIndex((o) => o.id === id);
  if (i < 0) {
    const prev = [...sorted].reverse().find((o) => o.id < id) ?? null;
    const next = sorted.find((o) => o.id > id) ?? null;
    return { prev, next };
  }
  return { prev: sorted[i - 1] ?? null, next: sorted[i + 1] ?? null };
}

/**
 * The session so far plus its next page: prompts and observations appended (each once, however pages
 * overlap), summaries and the session row from the newer answer, `page` from the newer answer so its
 * `next_offset` says whether there is more.
 */
export function mergeSessionPage(a: SessionDetail, b: SessionDetail): SessionDetail {
  const prompts = new Map<number, PromptRow>();
  for (const p of [...(a.prompts ?? []), ...(b.prompts ?? [])]) prompts.set(p.prompt_number, p);
  const observations = new Map<number, Observation>();
  for (const o of [...(a.observations ?? []), ...(b.observations ?? [])]) observations.set(o.id, o);
  const summaries = new Map<number, Summary>();
  for (const s of [...(a.summaries ?? []), ...(b.summaries ?? [])]) summaries.set(s.id, s);
  return {
    ...b,
    prompts: [...prompts.values()],
    observations: [...observations.values()],
    summaries: [...summaries.values()],
    events: [...(a.events ?? []), ...(b.events ?? [])],
  };
}
