// What the Health page says about the search model (the worker's background download of
// all-MiniLM-L6-v2 and the re-embedding after it) and the hook spool. Pure: no Svelte, no fetch.

import { formatCount, formatPercent } from './format';
import type { Health, IndexStatus, ModelStatus, SpoolStatus } from './types';

export const MODEL_NAME = 'all-MiniLM-L6-v2';
/** What a user runs when the worker will not fetch the model by itself. */
export const DOWNLOAD_HINT = 'claude-mem models download';
/** How often the Health page asks while the model is on its way (the live stream pushes every 5 s). */
export const MODEL_POLL_MS = 2000;

const BUSY: ReadonlySet<string> = new Set(['downloading', 'installing', 'reembedding']);

/** Whether the model is being downloaded, installed or re-embedded: the page polls faster then. */
export function modelBusy(model: ModelStatus | null | undefined): boolean {
  return !!model && BUSY.has(model.state);
}

/** Bytes as decimal megabytes with one digit: 41_234_567 → "41.2". */
export function formatMB(bytes: number | null | undefined): string {
  const v = Number(bytes ?? 0);
  if (!Number.isFinite(v)) return '—';
  return (Math.max(0, v) / 1e6).toFixed(1);
}

/** The delay before the next download attempt: 30 → "30 s", 300 → "5 min", 7200 → "2 h". */
export function formatRetry(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 360) / 10} h`;
}

function ratio(done: number, total: number, empty: number): number {
  if (!(total > 0)) return empty;
  return Math.min(1, Math.max(0, done / total));
}

export interface ModelProgress {
  done: number;
  total: number;
  ratio: number;
  /** "41.2 / 90.9 MB (45%)" or "120 / 1,000 (12%)". */
  label: string;
}

export interface ModelView {
  state: string;
  /** Downloading, installing or re-embedding: poll every MODEL_POLL_MS. */
  busy: boolean;
  level: 'ok' | 'warn' | 'error' | 'info';
  /** The one-line status: "Downloading all-MiniLM-L6-v2", "Re-embedding memories 120 / 1,000", … */
  status: string;
  progress: ModelProgress | null;
  /** What search runs on now, when it is not the model. */
  searchNow: string | null;
  /** Why the index fell back (the index's `embedder_fallback`, shown here instead of in the index list). */
  reason: string | null;
  error: string | null;
  /** "retrying in 30 s" after a transient failure. */
  retry: string | null;
  /** A command to run (`claude-mem models download`) when nothing will fetch the model by itself. */
  hint: string | null;
  endpoint: string | null;
}

/** What search runs on while the model is not in use. */
function fallbackSearch(index: IndexStatus | null): string {
  if (!index) return 'nothing: the search index is not open';
  const hashing = index.embedder_fallback !== null || index.embedder.startsWith('hash');
  return hashing ? `${index.embedder} (hashing fallback: lexical, not semantic)` : index.embedder;
}

/** The hint, unless the fallback reason the page already shows names the same command. */
function hintUnlessSaid(reason: string | null): string | null {
  return reason?.includes(DOWNLOAD_HINT) ? null : DOWNLOAD_HINT;
}

/** The "Search model" block, or null for a worker that does not report `model`. */
export function describeModel(model: ModelStatus | null | undefined, index: IndexStatus | null): ModelView | null {
  if (!model) return null;
  const view: ModelView = {
    state: model.state,
    busy: modelBusy(model),
    level: 'info',
    status: model.state,
    progress: null,
    searchNow: null,
    reason: null,
    error: null,
    retry: null,
    hint: null,
    endpoint: model.endpoint ?? null,
  };
  const attempt = model.attempts > 1 ? ` (attempt ${model.attempts})` : '';
  const fallbackReason = index?.embedder_fallback ?? null;
  switch (model.state) {
    case 'downloading': {
      const r = ratio(model.bytes_done, model.bytes_total, 0);
      view.status = `Downloading ${MODEL_NAME}${attempt}`;
      view.progress = {
        done: model.bytes_done,
        total: model.bytes_total,
        ratio: r,
        label: `${formatMB(model.bytes_done)} / ${formatMB(model.bytes_total)} MB (${formatPercent(r)})`,
      };
      view.searchNow = `${fallbackSearch(index)} until the model is in`;
      // The error of the attempt before this one, kept by the worker.
      if (model.last_error) view.error = `previous attempt: ${model.last_error}`;
      break;
    }
    case 'installing':
      view.status = `Installing ${MODEL_NAME}: checking and loading the downloaded files`;
      view.searchNow = `${fallbackSearch(index)} until the model is in`;
      break;
    case 'reembedding': {
      const r = ratio(model.reembed_done, model.reembed_total, 1);
      view.status = `Re-embedding memories ${formatCount(model.reembed_done)} / ${formatCount(model.reembed_total)}`;
      view.progress = { done: model.reembed_done, total: model.reembed_total, ratio: r, label: formatPercent(r) };
      view.searchNow = `${MODEL_NAME}; results are incomplete until every memory is re-embedded`;
      view.endpoint = null;
      break;
    }
    case 'installed':
      view.level = 'ok';
      view.status = `${MODEL_NAME} · semantic search on`;
      view.endpoint = null;
      break;
    case 'failed':
      view.level = 'error';
      view.status = `${MODEL_NAME} is not in use: the download or install failed${attempt}`;
      view.error = model.last_error;
      view.searchNow = fallbackSearch(index);
      // The index's reason ("no model …; get it with …") says less than the download's own error.
      if (model.retry_in_s !== undefined && model.retry_in_s !== null) view.retry = `retrying in ${formatRetry(model.retry_in_s)}`;
      else view.hint = DOWNLOAD_HINT;
      break;
    case 'absent':
      view.level = 'warn';
      view.status = `${MODEL_NAME} is not installed`;
      view.searchNow = fallbackSearch(index);
      view.reason = fallbackReason;
      view.hint = hintUnlessSaid(fallbackReason);
      break;
    case 'not_used':
      view.status = `Not used: search.embedder selects another embedder`;
      view.searchNow = fallbackSearch(index);
      view.reason = fallbackReason;
      if (fallbackReason) view.level = 'warn';
      break;
    default:
      view.searchNow = index ? fallbackSearch(index) : null;
      view.reason = fallbackReason;
  }
  return view;
}

/** The top-of-page warning about the hashing fallback, told with what the model download is doing. */
export function fallbackWarning(index: IndexStatus, model: ModelStatus | null | undefined): string {
  const lead = `Fallback hashing embedder in use (${index.embedder})`;
  switch (model?.state) {
    case 'downloading':
      return `${lead} while ${MODEL_NAME} downloads: semantic search comes on by itself when it is in.`;
    case 'installing':
      return `${lead} while ${MODEL_NAME} is installed: semantic search comes on by itself when it is in.`;
    case 'failed': {
      const err = model.last_error ? ` (${model.last_error})` : '';
      const next =
        model.retry_in_s !== undefined && model.retry_in_s !== null
          ? `retrying in ${formatRetry(model.retry_in_s)}`
          : `run \`${DOWNLOAD_HINT}\``;
      return `${lead}: getting ${MODEL_NAME} failed${err}; ${next}. Vector search is lexical only.`;
    }
    default:
      return `${lead}: ${index.embedder_fallback}. Vector search is lexical only.`;
  }
}

/** The "Hook spool" lines; empty (no line at all) when nothing waits and nothing is set aside. */
export function spoolLines(spool: SpoolStatus | null | undefined): { text: string; level: 'info' | 'warn' }[] {
  if (!spool) return [];
  const lines: { text: string; level: 'info' | 'warn' }[] = [];
  if (spool.backlog > 0) {
    const n = formatCount(spool.backlog);
    lines.push({ text: spool.backlog === 1 ? '1 event waiting to be stored' : `${n} events waiting to be stored`, level: 'info' });
  }
  if (spool.quarantined > 0) {
    const n = formatCount(spool.quarantined);
    const what = spool.quarantined === 1 ? '1 unreadable event' : `${n} unreadable events`;
    lines.push({ text: `${what} set aside in spool/quarantine`, level: 'warn' });
  }
  return lines;
}

/** Whether the Health page should poll at MODEL_POLL_MS. */
export function wantsFastPoll(h: Health | null | undefined): boolean {
  return modelBusy(h?.model);
}
