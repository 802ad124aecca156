// JSON shapes returned by the worker (crates/core/src/store/*.rs, crates/server/src/api.rs).

export interface Observation {
  id: number;
  session_id: string;
  project: string;
  prompt_number: number;
  type: string;
  title: string;
  subtitle: string;
  narrative: string;
  facts: string[];
  concepts: string[];
  files_read: string[];
  files_modified: string[];
  keywords: string[];
  source_event_ids: number[];
  input_tokens: number;
  output_tokens: number;
  compressor: string;
  model: string | null;
  created_at: number;
}

export interface Summary {
  id: number;
  session_id: string;
  project: string;
  prompt_number: number;
  request: string;
  investigated: string;
  learned: string;
  completed: string;
  next_steps: string;
  compressor: string;
  model: string | null;
  created_at: number;
}

/** `event: prompt` on the live stream. */
export interface PromptEvent {
  session_id: string;
  project: string;
  prompt_number: number;
  prompt: string;
  created_at: number;
}

export interface Session {
  id: string;
  project: string;
  cwd: string;
  transcript_path: string | null;
  started_at: number;
  last_seen_at: number;
  ended_at: number | null;
  end_reason: string | null;
  status: string;
  event_count: number;
  prompt_count: number;
  observation_count: number;
}

export interface PromptRow {
  prompt_number: number;
  prompt_id: string | null;
  text: string;
  created_at: number;
}

/** One page of a session: each list is sliced by the same offset/limit; `next_offset` is null on the last. */
export interface SessionPage {
  limit: number;
  offset: number;
  next_offset: number | null;
  totals: { events: number; prompts: number; observations: number };
}

export interface SessionDetail {
  session: Session;
  prompts: PromptRow[];
  events?: unknown[];
  observations: Observation[];
  summaries: Summary[];
  page?: SessionPage;
}

export interface HealthCounts {
  sessions: number;
  events: number;
  pending: number;
  failed: number;
  prompts: number;
  observations: number;
}

export interface ProcessorStatus {
  compressor: string;
  llm_configured: boolean;
  budget_exhausted: boolean;
  batches: number;
  observations: number;
  summaries: number;
  retries: number;
  parked: number;
  last_error: string | null;
}

export interface IndexStatus {
  state: string;
  /** Observations indexed (summaries and prompts are counted apart). */
  documents: number;
  vectors: number;
  last_indexed_id: number;
  /** Absent from workers that search observations only. */
  summaries?: number;
  last_indexed_summary_id?: number;
  prompts?: number;
  last_indexed_prompt_id?: number;
  embedder: string;
  embedder_fallback: string | null;
  rebuild_reason: string | null;
  last_error: string | null;
}

/** `model` in `/api/health` (crates/server/src/model_fetch.rs `ModelStatus`): the background download of
 * all-MiniLM-L6-v2 and the re-embedding after it. */
export type ModelState = 'installed' | 'downloading' | 'installing' | 'reembedding' | 'failed' | 'absent' | 'not_used';

export interface ModelStatus {
  /** A newer worker may add states: unknown ones are shown as they come. */
  state: ModelState | (string & {});
  bytes_done: number;
  bytes_total: number;
  /** Observations re-embedded with the model after the switch, out of all of them. */
  reembed_done: number;
  reembed_total: number;
  /** Download attempts in this run. */
  attempts: number;
  /** Seconds until the next attempt after a transient failure; absent when none is planned. */
  retry_in_s?: number;
  last_error: string | null;
  /** Where the model is fetched from, while a download is under way or failed. */
  endpoint?: string;
}

/** `spool` in `/api/health`: hook events written to disk while the worker was away, drained by it. */
export interface SpoolStatus {
  /** Entries waiting to be stored. */
  backlog: number;
  /** Unreadable entries set aside in `spool/quarantine/`. */
  quarantined: number;
}

export interface Health {
  status: string;
  version: string;
  pid: number;
  uptime_seconds: number;
  data_dir: string;
  database: string;
  counts: HealthCounts;
  processor: ProcessorStatus | null;
  index: IndexStatus | null;
  /** Absent from workers before the model download. */
  model?: ModelStatus;
  /** Absent from workers before the hook spool. */
  spool?: SpoolStatus;
  /** Capture paused from the tray or the viewer: hooks are acknowledged and dropped. */
  capture?: { paused: boolean };
  warnings?: string[];
}

export interface CostTotals {
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cache_write_tokens: number;
  cache_read_tokens: number;
  cost_usd: number;
}

export interface CostGroup extends CostTotals {
  key: string;
}

export interface CostsResponse {
  days: number;
  project: string | null;
  report: {
    today: CostTotals;
    month: CostTotals;
    period: CostTotals;
    cache_hit_ratio: number;
    by_day: CostGroup[];
    by_model: CostGroup[];
    by_project: CostGroup[];
  };
  budget: {
    daily_usd: number;
    spent_today_usd: number;
    remaining_usd: number;
    exhausted: boolean;
  };
}

/** What `GET /api/search?kind=` searches; `all` is the three together. */
export type SearchKind = 'observation' | 'summary' | 'prompt';

/** A prompt found by search: the live stream's shape plus its id. */
export interface PromptHit extends PromptEvent {
  id: number;
}

interface SearchScores {
  score: number;
  text_score: number | null;
  vector_score: number | null;
}

/** One hit; `kind` says which row it carries (absent from workers that search observations only). */
export type SearchResult =
  | (SearchScores & { kind?: 'observation'; observation: Observation })
  | (SearchScores & { kind: 'summary'; summary: Summary })
  | (SearchScores & { kind: 'prompt'; prompt: PromptHit });

export interface SearchResponse {
  mode: string;
  kinds?: SearchKind[];
  order?: 'relevance' | 'newest';
  results: SearchResult[];
  embed_ms: number;
  search_ms: number;
  index: IndexStatus | null;
}

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
export interface PromptHistoryRow extends PromptEvent {
  id: number;
}

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
