// Thin fetch wrappers for the worker's REST API. Every URL is relative to the page, so the viewer only
// ever talks to the origin that served it.

import type { LogsResponse } from './logs';
import { backend } from './backend.svelte';
import type {
  ContextPreview,
  CostsResponse,
  HistoryPage,
  PromptHistoryRow,
  SetupResponse,
  Health,
  Observation,
  OffSession,
  RetryResponse,
  SearchResponse,
  Session,
  SessionDetail,
  SettingsResponse,
  SettingsSaveResponse,
  Summary,
} from './types';

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    public reason: string,
    public field?: string,
  ) {
    super(reason || code || `HTTP ${status}`);
    this.name = 'ApiError';
  }
  /**
   * The endpoint does not exist in this worker (an older version): the worker's catch-all answers
   * "no such endpoint", or the method is not allowed. A 404 for a session or an observation that is
   * not there (pruned, a wrong link) is not this.
   */
  get missing(): boolean {
    return (this.status === 404 && this.code === 'not_found' && /no such endpoint/i.test(this.reason)) || this.status === 405;
  }
  /** Something asked for (a session, an observation) is not in the database. */
  get notFound(): boolean {
    return this.status === 404 && !this.missing;
  }
}

export type Params = Record<string, string | number | boolean | null | undefined>;

/** `?a=1&b=x`, skipping empty values; '' when nothing is left. */
export function qs(params: Params = {}): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

export async function toApiError(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let reason = res.statusText || `HTTP ${res.status}`;
  let field: string | undefined;
  try {
    const body = await res.json();
    if (body && typeof body === 'object') {
      if (typeof body.error === 'string') code = body.error;
      if (typeof body.reason === 'string') reason = body.reason;
      if (typeof body.field === 'string') field = body.field;
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, code, reason, field);
}

/**
 * Says "unreachable" whenever a request cannot reach the worker, so the feed notices at once (and then
 * polls health every second) instead of at its next 5 s check: a page that failed is reloaded as soon
 * as the worker answers again.
 */
export const connectivity = new EventTarget();

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      signal,
      headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    connectivity.dispatchEvent(new Event('unreachable'));
    throw new ApiError(0, 'unreachable', 'the worker is not reachable');
  }
  if (!res.ok) {
    // A proxy in front of the worker (a dev server, a reverse proxy) answers 502/504 when it is gone.
    if (res.status === 502 || res.status === 504) connectivity.dispatchEvent(new Event('unreachable'));
    throw await toApiError(res);
  }
  return (await res.json()) as T;
}

export const getJson = <T>(path: string, params?: Params, signal?: AbortSignal) =>
  request<T>('GET', `${path}${qs(params)}`, undefined, signal);

export const api = {
  health: () => getJson<Health>('api/health'),
  observations: (p: { limit?: number; before?: number | null; project?: string; type?: string; session?: string }) =>
    getJson<{ observations: Observation[]; next_before_id?: number | null }>('api/observations', {
      limit: p.limit,
      before_id: p.before ?? undefined,
      project: p.project,
      type: p.type,
      session: p.session,
    }),
  observation: (id: number) => getJson<{ observation: Observation }>(`api/observations/${encodeURIComponent(String(id))}`),
  summaries: (p: { limit?: number; project?: string; session?: string; before?: number | null } = {}) =>
    getJson<{ summaries: Summary[] } & HistoryPage>('api/summaries', { limit: p.limit, project: p.project, session: p.session, before_id: p.before ?? undefined }),
  prompts: (p: { limit?: number; project?: string; session?: string; before?: number | null } = {}) =>
    getJson<{ prompts: PromptHistoryRow[] } & HistoryPage>('api/prompts', { limit: p.limit, project: p.project, session: p.session, before_id: p.before ?? undefined }),
  sessionTitles: (ids: string[]) =>
    getJson<{ titles: Record<string, { prompt: string | null; summary: string | null }> }>('api/session-titles', { ids: ids.join(',') }),
  setup: () => getJson<SetupResponse>('api/setup'),
  forgetObservation: (id: number) =>
    request<{ forgotten: boolean }>('DELETE', `api/observations/${encodeURIComponent(String(id))}`),
  editObservation: (id: number, changes: { title?: string; narrative?: string; facts?: string[]; type?: string }) =>
    request<{ observation: Observation }>('PATCH', `api/observations/${encodeURIComponent(String(id))}`, changes),
  sessionsOff: () => getJson<{ sessions: OffSession[] }>('api/sessions/off'),
  connectClaudeCode: () => request<SetupResponse>('POST', 'api/setup/connect', {}),
  logs: (p: { level?: string; limit?: number } = {}) => getJson<LogsResponse>('api/logs', p),
  context: (p: { project: string; budget?: number; max_observations?: number }, signal?: AbortSignal) =>
    getJson<ContextPreview>('api/context', p, signal),
  setCapture: (paused: boolean) => request<{ paused: boolean }>('PUT', 'api/capture', { paused }),
  restart: () => request<{ restarting: boolean; uptime_seconds: number }>('POST', 'api/admin/restart', {}),
  sessions: (p: { project?: string; limit?: number; offset?: number } = {}) =>
    getJson<{ sessions: Session[] }>('api/sessions', p),
  /** One page of a session (the worker's default page size unless `limit`); see `mergeSessionPage`. */
  session: (id: string, p: { offset?: number; limit?: number } = {}) =>
    getJson<SessionDetail>(`api/sessions/${encodeURIComponent(id)}`, p),
  search: (
    p: {
      q: string;
      mode?: string;
      project?: string;
      type?: string;
      /** observation (default), summary, prompt or all. */
      kind?: string;
      file?: string;
      order?: string;
      since?: string | number;
      limit?: number;
    },
    signal?: AbortSignal,
  ) =>
    getJson<SearchResponse>('api/search', p, signal),
  costs: (p: { days?: number; project?: string } = {}) => getJson<CostsResponse>('api/costs', p),
  settings: () => getJson<SettingsResponse>('api/settings'),
  saveSettings: (changes: Record<string, unknown>) => request<SettingsSaveResponse>('PUT', 'api/settings', changes),
  reindex: () => request<{ status: string }>('POST', 'api/reindex', {}),
  /** Requeues parked (failed) events: every one, or one by its event id. */
  retryParked: (target: { all: true } | { id: number }) =>
    request<RetryResponse>('POST', 'api/admin/retry', target),
};

/** A human sentence for an error caught around an API call. */
export function describeError(e: unknown, what = 'this'): string {
  if (e instanceof ApiError) {
    if (e.missing) return backend.team ? `The team server does not provide ${what}.` : `This worker does not provide ${what} yet (404). Update claude-mem.`;
    if (e.notFound) return `Not found: ${e.reason}. It may have been pruned, or the link is wrong.`;
    if (e.status === 0) return 'The claude-mem worker is not reachable. Is it running? This page reloads by itself when it answers again.';
    // The session cookie is gone (token rotated, another browser profile): the sign-in link brings it back.
    if (e.status === 401) {
      return backend.team
        ? 'This browser is signed out of the team server (the token was revoked, or the cookie is gone): reload the page to sign in again.'
        : 'This browser is signed out of claude-mem: run `claude-mem open` in a terminal.';
    }
    return e.reason;
  }
  return e instanceof Error ? e.message : String(e);
}
