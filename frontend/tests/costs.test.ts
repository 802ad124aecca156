import { describe, expect, it } from 'vitest';
import { budgetGauge, chartBars, dayKeys, dayOfMonth, fillDays, sortGroups, totalTokens, ZERO } from '../src/lib/costs';

const now = Date.UTC(2026, 10, 25, 15, 0, 0);

describe('days', () => {
  it('UTC keys ending today, oldest first', () => {
    expect(dayKeys(now, 3)).toEqual(['2026-11-23', '2026-11-24', '2026-11-25']);
    expect(dayKeys(Date.UTC(2024, 2, 1, 1), 2)).toEqual(['2024-02-29', '2024-03-01']);
    expect(dayOfMonth(now)).toBe(25);
  });
  it('fills missing days with zeros', () => {
    const filled = fillDays([{ key: '2026-11-24', ...ZERO, cost_usd: 0.5, calls: 2 }], now, 3);
    expect(filled.map((d) => [d.key, d.cost_usd])).toEqual([
      ['2026-11-23', 0],
      ['2026-11-24', 0.5],
      ['2026-11-25', 0],
    ]);
  });
});

describe('chartBars', () => {
  it('scales to the largest value', () => {
    const series = fillDays([{ key: '2026-11-24', ...ZERO, cost_usd: 2 }, { key: '2026-11-25', ...ZERO, cost_usd: 1 }], now, 4);
    const { bars, max } = chartBars(series, 'cost_usd', 400, 100, 0);
    expect(max).toBe(2);
    expect(bars.map((b) => b.h)).toEqual([0, 0, 100, 50]);
    expect(bars[2]).toMatchObject({ x: 200, y: 0, w: 100 });
  });
  it('all zero: flat, no NaN', () => {
    const { bars, max } = chartBars(fillDays([], now, 30), 'tokens', 300, 80);
    expect(max).toBe(0);
    expect(bars).toHaveLength(30);
    expect(bars.every((b) => b.h === 0 && Number.isFinite(b.x))).toBe(true);
  });
  it('tiny values stay visible', () => {
    const { bars } = chartBars([{ key: 'a', ...ZERO, input_tokens: 1 }, { key: 'b', ...ZERO, input_tokens: 100000 }], 'tokens', 100, 100);
    expect(bars[0].h).toBe(1);
  });
});

describe('totals and gauge', () => {
  it('total tokens include cache', () => {
    expect(totalTokens({ calls: 1, input_tokens: 1, output_tokens: 2, cache_write_tokens: 3, cache_read_tokens: 4, cost_usd: 0 })).toBe(10);
  });
  it('gauge levels', () => {
    expect(budgetGauge({ daily_usd: 1, spent_today_usd: 0, remaining_usd: 1, exhausted: false })).toEqual({ ratio: 0, level: 'ok' });
    expect(budgetGauge({ daily_usd: 1, spent_today_usd: 0.85, remaining_usd: 0.15, exhausted: false })).toMatchObject({ level: 'warn' });
    expect(budgetGauge({ daily_usd: 1, spent_today_usd: 1.4, remaining_usd: 0, exhausted: true })).toEqual({ ratio: 1, level: 'over' });
    expect(budgetGauge({ daily_usd: 0, spent_today_usd: 0, remaining_usd: 0, exhausted: true })).toEqual({ ratio: 1, level: 'over' });
  });
  it('sorts groups by cost then tokens', () => {
    const g = sortGroups([
      { key: 'b', ...ZERO, input_tokens: 5 },
      { key: 'a', ...ZERO, cost_usd: 1 },
      { key: 'c', ...ZERO, input_tokens: 9 },
    ]);
    expect(g.map((x) => x.key)).toEqual(['a', 'c', 'b']);
  });
});
