// JSON shapes returned by the worker. The typed routes' shapes come from `api.gen.ts`, generated from
// the worker's OpenAPI document (`openapi.json`, rendered from the Rust answer types: run
// `UPDATE_OPENAPI=1 cargo test -p claude-mem-server --test openapi && npm run gen:api` after changing
// them). What is still written by hand here belongs to routes whose answers are not typed in Rust yet
// (settings, setup, context, logs, forget, admin) or to types the worker does not describe (the search
// index's status).

import type { components } from './api.gen';

type Schemas = components['schemas'];

export type Observation = Schemas['ObservationRow'];

export type Summary = Schemas['SummaryRow'];

/** `event: prompt` on the live stream. */
export type PromptEvent = Omit<Schemas['StreamPrompt'], 'id'>;

export type Session = Schemas['SessionRow'];

export type PromptRow = Schemas['PromptRow'];

/** One page of a session: each list is sliced by the same offset/limit; `next_offset` is null on the last. */
export type SessionPage = Schemas['SessionPage'];

/** `events` and `page` are absent from workers before paged sessions; the viewer does not read events. */
export type SessionDetail = Omit<Schemas['SessionDetail'], 'events' | 'page'> & {
  events?: unknown[];
  page?: SessionPage;
};

export type HealthCounts = Schemas['HealthCounts'];

/** `local_fallbacks` is absent from older workers. */
export type ProcessorStatus = Omit<Schemas['ProcessorStatus'], 'local_fallbacks'> &
  Partial<Pick<Schemas['ProcessorStatus'], 'local_fallbacks'>>;

/** `index` in `/api/health` and `/api/search`. What older workers do not send (summary and prompt
 * counters, durable-vector figures, re-embedding) stays optional here. */
type IndexNewer =
  | 'summaries'
  | 'last_indexed_summary_id'
  | 'prompts'
  | 'last_indexed_prompt_id'
  | 'embedded'
  | 'vectors_restored'
  | 'vector_encoding'
  | 'reembed';
export type IndexStatus = Omit<Schemas['IndexStatus'], IndexNewer> &
  Partial<Pick<Schemas['IndexStatus'], IndexNewer>>;

/** `model` in `/api/health` (crates/server/src/model_status.rs `ModelStatus`): the background download of
 * all-MiniLM-L6-v2 and the re-embedding after it. */
export type ModelState = 'installed' | 'downloading' | 'installing' | 'reembedding' | 'failed' | 'absent' | 'not_used';

/** A newer worker may add states: unknown ones are shown as they come. */
export type ModelStatus = Omit<Schemas['ModelStatus'], 'state'> & { state: ModelState | (string & {}) };

/** `spool` in `/api/health`: hook events written to disk while the worker was away, drained by it. */
export type SpoolStatus = Schemas['SpoolStatus'];

/** `GET /api/health` with the token. `model`, `spool`, `capture`, `warnings` and `writes` are absent
 * from older workers. */
export type Health = Omit<Schemas['Health'], 'index' | 'processor' | 'model' | 'spool' | 'capture' | 'warnings' | 'writes'> & {
  index: IndexStatus | null;
  processor: ProcessorStatus | null;
  model?: ModelStatus;
  spool?: SpoolStatus;
  /** Capture paused from the tray or the viewer: hooks are acknowledged and dropped. */
  capture?: Schemas['CaptureState'];
  warnings?: string[];
  writes?: Schemas['Writes'];
  /** `postgres` on a team server (`claude-mem serve` with CLAUDE_MEM_DATABASE_URL); absent from the laptop
   * worker's health. The viewer's team mode keys on it (see `backend.svelte.ts`). */
  backend?: string;
  /** Team server: what its own health says, kept as it came (see `normalizeHealth`). */
  team?: TeamHealth;
};

/** The team server's `counts` in `/api/health` (crates/team/src/pg_store `TeamCounts`): the caller's team
 * only, and absent (null) for a caller without a token and on the live stream's `health` event. */
export interface TeamCounts {
  sessions: number;
  events: number;
  pending_events: number;
  observations: number;
  embedded: number;
  summaries: number;
}

/** The team server's `vectors` in `/api/health` (crates/team/src/vectors.rs `VectorStatus`). */
export interface TeamVectors {
  mode: string;
  embedder: string;
  dim: number;
  fallback: string | null;
  indexed: number;
  teams: number;
}

/** What a team server's `/api/health` says beyond the laptop's shape. */
export interface TeamHealth {
  replica: string | null;
  vectors: TeamVectors | null;
  /** The last counts a member was told (the stream's health event carries none). */
  counts: TeamCounts | null;
}

export type CostTotals = Schemas['CostTotals'];

export type CostGroup = Schemas['CostGroup'];

export type CostsResponse = Schemas['CostsAnswer'];

/** What `GET /api/search?kind=` searches; `all` is the three together. */
export type SearchKind = 'observation' | 'summary' | 'prompt';

/** A prompt found by search: the live stream's shape plus its id. */
export type PromptHit = Schemas['StreamPrompt'];

type ObservationHit = Extract<Schemas['SearchResult'], { kind: 'observation' }>;

/** One hit; `kind` says which row it carries (absent from workers that search observations only). */
export type SearchResult = Schemas['SearchResult'] | (Omit<ObservationHit, 'kind'> & { kind?: undefined });

export type SearchResponse = Omit<Schemas['SearchAnswer'], 'index' | 'kinds' | 'order'> & {
  kinds?: SearchKind[];
  order?: 'relevance' | 'newest';
  index: IndexStatus | null;
};

export type FieldType = 'number' | 'integer' | 'boolean' | 'string' | 'enum' | 'secret' | 'list';

export interface SettingField {
  key: string;
  type: FieldType | string;
  description: string;
  default: unknown;
  value: unknown;
  options?: unknown[];
  restart_required?: boolean;
  is_set?: boolean;
  /** What the running worker uses, when that is not `value` (absent: the file's value runs). */
  running?: unknown;
  /** Secrets: whether the running worker has one, when that differs from `is_set`. */
  running_is_set?: boolean;
  /** The environment variable that overrides the file for this key. */
  overridden_by?: string;
  /** Saved since the worker started, read only at start: not running yet. */
  pending_restart?: boolean;
}

export interface SettingsResponse {
  fields: SettingField[];
  /** Saved keys the running worker does not use yet. */
  restart_pending?: string[];
  /** Whether `POST /api/admin/restart` can work on this worker. */
  restart_available?: boolean;
  path?: string;
}

/** `POST /api/admin/retry`. */
export interface RetryResponse {
  requeued: number;
  /** Still parked afterwards. */
  parked: number;
}

export interface SettingsSaveResponse extends SettingsResponse {
  restart_required: string[];
}

/** `GET /api/prompts`: a prompt in the history, with its row id (the paging cursor). */
export type PromptHistoryRow = Schemas['StreamPrompt'];

export interface HistoryPage {
  next_before_id?: number | null;
}

/** `GET /api/sessions/off`: a session the user chose not to record (`CLAUDE_MEM=off`, `/claude-mem:off`). */
export interface OffSession {
  session_id: string;
  project: string;
  cwd: string;
  how: 'env' | 'command' | 'api';
  at: number;
}

/** `GET /api/setup`: one line of the first-run checklist. */
export interface SetupCheck {
  id: string;
  title: string;
  state: 'ok' | 'pending' | 'warn' | 'fail';
  detail: string;
  hint?: string;
}

export interface SetupResponse {
  checks: SetupCheck[];
  complete: boolean;
  /** Whether `POST /api/setup/connect` can run `claude-mem install` here. */
  can_connect?: boolean;
}

/** `GET /api/context`: the SessionStart block as it would be injected now. */
export interface ContextPreview {
  context: {
    project: string;
    text: string;
    tokens: number;
    budget_tokens: number;
    observation_ids: number[];
    candidates: number;
  };
  build_ms: number;
}

export const OBSERVATION_TYPES = [
  'decision',
  'bugfix',
  'feature',
  'refactor',
  'discovery',
  'change',
  'security_alert',
  'security_note',
] as const;
