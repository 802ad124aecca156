// Thin fetch wrappers for the worker's REST API. Every URL is relative to the page, so the viewer only
// ever talks to the origin that served it.

import type {
  CostsResponse,
  Health,
  Observation,
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
  /** The endpoint does not exist in this worker (older version, or not landed yet). */
  get missing(): boolean {
    return this.status === 404 && this.code === 'not_found';
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
    throw new ApiError(0, 'unreachable', 'the worker is not reachable');
  }
  if (!res.ok) throw await toApiError(res);
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
  summaries: (p: { limit?: number; project?: string; session?: string } = {}) =>
    getJson<{ summaries: Summary[] }>('api/summaries', p),
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
    if (e.missing) return `This worker does not provide ${what} yet (404). Update claude-mem.`;
    if (e.status === 0) return 'The claude-mem worker is not reachable. Is it running?';
    // The session cookie is gone (token rotated, another browser profile): the sign-in link brings it back.
    if (e.status === 401) return 'This browser is signed out of claude-mem: run `claude-mem open` in a terminal.';
    return e.reason;
  }
  return e instanceof Error ? e.message : String(e);
}
