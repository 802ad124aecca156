import { describe, expect, it } from 'vitest';
import { basename, formatAge, formatCount, formatDuration, formatPercent, formatTokens, formatUsd, truncate } from '../src/lib/format';

describe('formatTokens', () => {
  it('keeps small counts whole', () => {
    expect(formatTokens(0)).toBe('0');
    expect(formatTokens(950)).toBe('950');
    expect(formatTokens(null)).toBe('0');
  });
  it('scales with k / M / B', () => {
    expect(formatTokens(1000)).toBe('1k');
    expect(formatTokens(12_345)).toBe('12.3k');
    expect(formatTokens(999_499)).toBe('999k');
    expect(formatTokens(999_999)).toBe('1M');
    expect(formatTokens(4_560_000)).toBe('4.56M');
    expect(formatTokens(1_200_000_000)).toBe('1.2B');
    expect(formatTokens(-2500)).toBe('-2.5k');
  });
});

describe('formatUsd', () => {
  it('zero and cents', () => {
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(1.234)).toBe('$1.23');
    expect(formatUsd(999.99)).toBe('$999.99');
  });
  it('fractions of a cent stay meaningful', () => {
    expect(formatUsd(0.0042)).toBe('$0.0042');
    expect(formatUsd(0.004)).toBe('$0.004');
    expect(formatUsd(0.00001)).toBe('<$0.0001');
  });
  it('large amounts get separators', () => {
    expect(formatUsd(1234.5)).toBe('$1,235');
    expect(formatUsd(Number.NaN)).toBe('—');
  });
});

describe('formatPercent', () => {
  it('rounds sensibly', () => {
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(0.4213)).toBe('42%');
    expect(formatPercent(0.0512)).toBe('5.1%');
  });
});

describe('formatAge', () => {
  const now = new Date(2026, 10, 25, 12, 0, 0).getTime();
  it('relative for recent times', () => {
    expect(formatAge(now - 10_000, now)).toBe('just now');
    expect(formatAge(now + 5_000, now)).toBe('just now');
    expect(formatAge(now - 5 * 60_000, now)).toBe('5m ago');
    expect(formatAge(now - 3 * 3_600_000, now)).toBe('3h ago');
    expect(formatAge(now - 2 * 86_400_000, now)).toBe('2d ago');
  });
  it('a date for older times', () => {
    expect(formatAge(new Date(2026, 10, 3).getTime(), now)).toBe('Nov 3');
    expect(formatAge(new Date(2024, 0, 9).getTime(), now)).toBe('Jan 9, 2024');
  });
});

describe('misc', () => {
  it('durations, counts, names', () => {
    expect(formatDuration(59)).toBe('59s');
    expect(formatDuration(3725)).toBe('1h 2m');
    expect(formatDuration(90061)).toBe('1d 1h');
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(basename('/home/dev/src/store/db.rs')).toBe('db.rs');
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
  });
});
