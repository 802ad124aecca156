// Number, money and time formatting shared by every view.

/** 950 · 12.3k · 4.56M · 1.2B */
export function formatTokens(n: number | null | undefined): string {
  const v = Number(n ?? 0);
  if (!Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  const sign = v < 0 ? '-' : '';
  const scaled = (x: number, unit: string) => {
    const digits = x < 10 ? 2 : x < 100 ? 1 : 0;
    return `${sign}${trimZeros(x.toFixed(digits))}${unit}`;
  };
  if (abs < 1000) return `${sign}${Math.round(abs)}`;
  if (abs < 999_500) return scaled(abs / 1e3, 'k');
  if (abs < 999_500_000) return scaled(abs / 1e6, 'M');
  return scaled(abs / 1e9, 'B');
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** $0.00 · $0.0042 · $1.23 · $1,234 — small amounts keep enough digits to be meaningful. */
export function formatUsd(n: number | null | undefined): string {
  const v = Number(n ?? 0);
  if (!Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  const sign = v < 0 ? '-' : '';
  if (abs === 0) return '$0.00';
  if (abs < 0.0001) return `${sign}<$0.0001`;
  if (abs < 0.01) return `${sign}$${trimZeros(abs.toPrecision(2))}`;
  if (abs < 1000) return `${sign}$${abs.toFixed(2)}`;
  return `${sign}$${Math.round(abs).toLocaleString('en-US')}`;
}

/** 0.4213 → "42.1%"; 0 → "0%"; 1 → "100%". */
export function formatPercent(ratio: number | null | undefined): string {
  const v = Number(ratio ?? 0);
  if (!Number.isFinite(v)) return '—';
  const pct = v * 100;
  if (pct === 0 || pct === 100) return `${pct}%`;
  return `${trimZeros(pct.toFixed(pct < 10 ? 1 : 0))}%`;
}

export function formatCount(n: number | null | undefined): string {
  const v = Number(n ?? 0);
  return Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "just now" · "5m ago" · "3h ago" · "2d ago" · "Nov 3" · "Nov 3, 2024" */
export function formatAge(ms: number, now: number = Date.now()): string {
  if (!Number.isFinite(ms)) return '—';
  const s = Math.floor((now - ms) / 1000);
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.round(s / 3600);
  if (h < 24) return `${h}h ago`;
  const d = Math.round(s / 86400);
  if (d < 7) return `${d}d ago`;
  const date = new Date(ms);
  const nowYear = new Date(now).getFullYear();
  const base = `${MONTHS[date.getMonth()]} ${date.getDate()}`;
  return date.getFullYear() === nowYear ? base : `${base}, ${date.getFullYear()}`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Local "2026-11-25 17:43". */
export function formatDateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** 3725 → "1h 2m"; 59 → "59s"; 90061 → "1d 1h". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m`;
}

/** The last path segment, for compact file chips. */
export function basename(path: string): string {
  const parts = path.split(/[\\/]/).filter(Boolean);
  return parts.length ? parts[parts.length - 1] : path;
}

export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${s.slice(0, Math.max(0, max - 1)).trimEnd()}…`;
}
