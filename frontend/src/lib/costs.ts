// Cost meters: the chart's day series, its geometry, the budget gauge.

import type { CostGroup, CostTotals, CostsResponse } from './types';

export const ZERO: CostTotals = {
  calls: 0,
  input_tokens: 0,
  output_tokens: 0,
  cache_write_tokens: 0,
  cache_read_tokens: 0,
  cost_usd: 0,
};

export function totalTokens(t: CostTotals): number {
  return (t.input_tokens ?? 0) + (t.output_tokens ?? 0) + (t.cache_write_tokens ?? 0) + (t.cache_read_tokens ?? 0);
}

const DAY = 86_400_000;

export function utcDayKey(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The `days` UTC day keys ending today, oldest first (the worker groups `by_day` the same way). */
export function dayKeys(now: number, days: number): string[] {
  const start = now - (now % DAY);
  const out: string[] = [];
  for (let i = days - 1; i >= 0; i--) out.push(utcDayKey(start - i * DAY));
  return out;
}

/** Day of the month (UTC): `days` for "this month". */
export function dayOfMonth(now: number): number {
  return new Date(now).getUTCDate();
}

/** Every day of the period, days with no LLM call as zeros. */
export function fillDays(byDay: CostGroup[], now: number, days: number): CostGroup[] {
  const map = new Map(byDay.map((g) => [g.key, g]));
  return dayKeys(now, days).map((key) => map.get(key) ?? { key, ...ZERO });
}

export type Metric = 'cost_usd' | 'tokens';

export function metricValue(t: CostTotals, m: Metric): number {
  return m === 'tokens' ? totalTokens(t) : t.cost_usd ?? 0;
}

export interface Bar {
  key: string;
  value: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Bars over `width`×`height`, scaled to the largest value (a flat zero line when all are zero). */
export function chartBars(series: CostGroup[], metric: Metric, width: number, height: number, gap = 2): { bars: Bar[]; max: number } {
  const values = series.map((g) => metricValue(g, metric));
  const max = Math.max(0, ...values);
  const n = series.length || 1;
  const slot = width / n;
  const w = Math.max(1, slot - gap);
  const bars = series.map((g, i) => {
    const value = values[i];
    const h = max > 0 ? Math.max(value > 0 ? 1 : 0, (value / max) * height) : 0;
    return { key: g.key, value, x: i * slot + gap / 2, y: height - h, w, h };
  });
  return { bars, max };
}

export interface Gauge {
  ratio: number;
  level: 'ok' | 'warn' | 'over';
}

export function budgetGauge(b: CostsResponse['budget']): Gauge {
  if (!(b.daily_usd > 0)) return { ratio: b.spent_today_usd > 0 || b.exhausted ? 1 : 0, level: b.exhausted ? 'over' : 'ok' };
  const raw = b.spent_today_usd / b.daily_usd;
  const level = b.exhausted || raw >= 1 ? 'over' : raw >= 0.8 ? 'warn' : 'ok';
  return { ratio: Math.min(1, Math.max(0, raw)), level };
}

/** Most expensive first, then most tokens, then by name. */
export function sortGroups(groups: CostGroup[]): CostGroup[] {
  return [...groups].sort((a, b) => b.cost_usd - a.cost_usd || totalTokens(b) - totalTokens(a) || a.key.localeCompare(b.key));
}

/** Gridlines for a chart whose largest value is `max`: 0 and up to four round steps covering it. */
export function axisTicks(max: number): number[] {
  if (!(max > 0)) return [0];
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** `2026-12-03` → `Dec 3` (UTC, like the days themselves). */
export function shortDay(key: string): string {
  const d = new Date(`${key}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return key;
  return d.toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
}
