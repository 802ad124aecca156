// Issue 23: history paging over three lists, themes, session states, the Live page's wording, settings
// labels and the restart check, the cost chart's axis, logs, and telling a missing endpoint from a
// missing row.
import { describe, expect, it } from 'vitest';
import { advance, allExhausted, freshCursors, frontier, nextKind, type Cursors } from '../src/lib/history';
import { applyTheme, loadTheme, nextTheme, parseTheme, saveTheme } from '../src/lib/theme';
import { dayLabel, IDLE_AFTER_MS, sessionState, sessionTitle } from '../src/lib/sessions';
import { emptyState, feedRows, streamLabel } from '../src/lib/live';
import { fieldSource, restartedSince, showValue } from '../src/lib/settings';
import { axisTicks, shortDay } from '../src/lib/costs';
import { logFields, logTime } from '../src/lib/logs';
import { checkIcon } from '../src/lib/setup';
import { ApiError, describeError } from '../src/lib/api';
import { buildHash, parseHash, viewHash, VIEWS } from '../src/lib/router';
import { observationItem, promptItem, summaryItem } from '../src/lib/stream';
import type { Health, SettingField } from '../src/lib/types';
import { obs } from './stream.test';

describe('history paging', () => {
  it('shows only the stretch every list has reached, and pages the one furthest behind', () => {
    let c: Cursors = freshCursors();
    expect(frontier(c)).toBe(Infinity);
    expect(nextKind(c)).toBe('observation');
    c = { ...c, observation: advance(c.observation, { timestamps: [900, 500], next_before_id: 10 }) };
    c = { ...c, prompt: advance(c.prompt, { timestamps: [950, 300], next_before_id: 3 }) };
    expect(frontier(c)).toBe(Infinity); // summaries not loaded yet
    c = { ...c, summary: advance(c.summary, { timestamps: [800], next_before_id: null }) };
    // Observations reach back to 500, prompts to 300: older than 500 is not complete yet.
    expect(frontier(c)).toBe(500);
    expect(nextKind(c)).toBe('observation');
    c = { ...c, observation: advance(c.observation, { timestamps: [400, 100], next_before_id: null }) };
    expect(frontier(c)).toBe(300);
    expect(nextKind(c)).toBe('prompt');
    c = { ...c, prompt: advance(c.prompt, { timestamps: [], next_before_id: null }) };
    expect(allExhausted(c)).toBe(true);
    expect(frontier(c)).toBe(-Infinity);
    expect(nextKind(c)).toBeNull();
  });

  it('a type filter pages observations only', () => {
    const c = freshCursors(['observation']);
    expect(c.prompt.exhausted && c.summary.exhausted).toBe(true);
    expect(nextKind(c)).toBe('observation');
  });
});

describe('theme', () => {
  it('cycles system → light → dark and is kept', () => {
    expect(nextTheme('system')).toBe('light');
    expect(nextTheme('light')).toBe('dark');
    expect(nextTheme('dark')).toBe('system');
    expect(parseTheme('purple')).toBe('system');
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v), removeItem: (k: string) => void store.delete(k) };
    saveTheme('dark', storage);
    expect(loadTheme(storage)).toBe('dark');
    saveTheme('system', storage);
    expect(store.size).toBe(0);
    const root = { dataset: {} as Record<string, string> } as unknown as HTMLElement;
    applyTheme('light', root);
    expect(root.dataset.theme).toBe('light');
    applyTheme('system', root);
    expect(root.dataset.theme).toBeUndefined();
  });
});

describe('sessions', () => {
  const now = Date.UTC(2026, 11, 3, 12);
  it('an active session quiet for long is idle, not active forever', () => {
    expect(sessionState({ status: 'active', last_seen_at: now - 5 * 60_000, ended_at: null }, now).label).toBe('active');
    const idle = sessionState({ status: 'active', last_seen_at: now - IDLE_AFTER_MS - 3 * 3_600_000, ended_at: null }, now);
    expect(idle.label).toBe('idle');
    expect(idle.title).toMatch(/never said this session ended/);
    expect(sessionState({ status: 'completed', last_seen_at: 0, ended_at: 1 }, now).label).toBe('completed');
  });
  it('titles by the first prompt, else the summary, else the project', () => {
    expect(sessionTitle({ prompt: 'fix  the\nlogin', summary: 's' }, 'p')).toBe('fix the login');
    expect(sessionTitle({ prompt: null, summary: 'Add VAT' }, 'p')).toBe('Add VAT');
    expect(sessionTitle(undefined, 'acme')).toBe('acme');
    expect(sessionTitle({ prompt: 'x'.repeat(300), summary: null }, 'p')).toHaveLength(120);
  });
  it('names days', () => {
    const today = new Date(2026, 11, 3, 15).getTime();
    expect(dayLabel(new Date(2026, 11, 3, 1).getTime(), today)).toBe('Today');
    expect(dayLabel(new Date(2026, 11, 2, 23).getTime(), today)).toBe('Yesterday');
    expect(dayLabel(new Date(2026, 10, 20).getTime(), today, 'en-US')).toMatch(/Nov 20/);
  });
});

describe('live page', () => {
  const health = (counts: Partial<Health['counts']>) =>
    ({ counts: { sessions: 0, events: 0, pending: 0, failed: 0, prompts: 0, observations: 0, ...counts } }) as Health;
  it('says paused, offline or live honestly', () => {
    expect(streamLabel('live', true, false).text).toMatch(/paused/);
    expect(streamLabel('live', false, true).state).toBe('offline');
    expect(streamLabel('live', false, false).text).toBe('● live');
  });
  it('tells a filter that matches nothing, parked events and a first run apart', () => {
    expect(emptyState({ items: 0, project: 'webapp', health: health({ observations: 40 }) }).kind).toBe('filtered');
    const parked = emptyState({ items: 0, health: health({ events: 16, failed: 16 }) });
    expect(parked.kind).toBe('parked');
    expect(parked.text).toMatch(/API key/);
    expect(emptyState({ items: 0, health: health({ events: 3, pending: 3 }) }).kind).toBe('waiting');
    expect(emptyState({ items: 0, health: health({}) }).kind).toBe('first-run');
  });
  it('puts a separator where the day changes and groups a session', () => {
    const a = observationItem(obs(2, { created_at: 2000, session_id: 's1' }));
    const b = promptItem({ session_id: 's1', project: 'p', prompt_number: 1, prompt: 'x', created_at: 1900 });
    const c = summaryItem({ id: 1, session_id: 's2', project: 'p', prompt_number: 1, request: '', investigated: '', learned: '', completed: '', next_steps: '', compressor: 'local', model: null, created_at: 100 });
    const rows = feedRows([a, b, c], (ms) => (ms > 1000 ? 'd2' : 'd1'));
    expect(rows.map((r) => r.kind)).toEqual(['day', 'item', 'item', 'day', 'item']);
    expect(rows[2].kind === 'item' && rows[2].sameSession).toBe(true);
    expect(rows[4].kind === 'item' && rows[4].index).toBe(2);
  });
});

describe('settings labels', () => {
  const field = (over: Partial<SettingField>): SettingField => ({ key: 'port', type: 'integer', description: '', default: 37777, value: 37777, ...over });
  it('labels environment overrides and values waiting for a restart', () => {
    expect(fieldSource(field({}))).toBeNull();
    const env = fieldSource(field({ running: 41234, overridden_by: 'CLAUDE_MEM_PORT' }))!;
    expect(env.kind).toBe('env');
    expect(env.text).toMatch(/CLAUDE_MEM_PORT.*41234/);
    const key = fieldSource(field({ key: 'k', type: 'secret', value: null, is_set: false, running_is_set: true, overridden_by: 'ANTHROPIC_API_KEY' }))!;
    expect(key.text).toMatch(/ANTHROPIC_API_KEY/);
    expect(fieldSource(field({ value: 2500, running: 1000, pending_restart: true }))!.text).toMatch(/runs with 1000 until it restarts/);
    expect(fieldSource(field({ running: 40123 }))!.kind).toBe('start');
    expect(showValue(['a', 'b'])).toBe('a, b');
    expect(showValue(0.3)).toBe('0.3');
  });
  it('knows a restarted worker by its uptime', () => {
    const before = { uptime: 120, at: 1_000_000 };
    expect(restartedSince(before, { uptime: 122, at: 1_002_000 })).toBe(false);
    expect(restartedSince(before, { uptime: 0, at: 1_002_000 })).toBe(true);
    expect(restartedSince({ uptime: 0, at: 0 }, { uptime: 0, at: 3000 })).toBe(true);
  });
});

describe('cost chart axis', () => {
  it('has round gridlines covering the largest value', () => {
    expect(axisTicks(0)).toEqual([0]);
    expect(axisTicks(0.37)).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    expect(axisTicks(1000)).toEqual([0, 250, 500, 750, 1000]);
    const t = axisTicks(7);
    expect(t[t.length - 1]).toBeGreaterThanOrEqual(7);
    expect(shortDay('2026-12-03')).toBe('Dec 3');
  });
});

describe('logs, setup, routes and errors', () => {
  it('formats log lines', () => {
    expect(logFields({ addr: '127.0.0.1:1', n: 3, 'log.file': '/x.rs' })).toBe('addr=127.0.0.1:1 n=3');
    expect(logTime('nonsense')).toBe('nonsense');
    expect(logTime(null)).toBe('');
    expect(checkIcon('ok')).toBe('✓');
    expect(checkIcon('fail')).toBe('✗');
  });
  it('keeps the project filter across views', () => {
    expect(VIEWS).toContain('logs');
    expect(viewHash('costs', 'webapp')).toBe('#/costs?project=webapp');
    expect(viewHash('live', undefined)).toBe('#/live');
    expect(parseHash(buildHash('sessions', 'abc', { project: 'p' }))).toEqual({ view: 'sessions', param: 'abc', query: { project: 'p' } });
  });
  it('a pruned session is not a missing endpoint', () => {
    const gone = new ApiError(404, 'not_found', 'no session "abc"');
    expect(gone.missing).toBe(false);
    expect(gone.notFound).toBe(true);
    expect(describeError(gone, 'session timelines')).toMatch(/Not found: no session "abc"\. It may have been pruned/);
    const old = new ApiError(404, 'not_found', 'no such endpoint');
    expect(old.missing).toBe(true);
    expect(describeError(old, 'logs')).toMatch(/does not provide logs/);
  });
});

import { failureOf } from '../src/lib/live';

describe('failures at a glance', () => {
  it('marks failed tests, rejected pushes and errors, not a passing run', () => {
    expect(failureOf({ title: 'Tests pass: `cargo test` (test result: ok. 12 passed; 0 failed)' })).toBeNull();
    expect(failureOf({ title: 'cargo test -p store', narrative: 'test result: FAILED. 11 passed; 1 failed' })).toBe('tests failed');
    expect(failureOf({ title: 'git push', narrative: '! [rejected] main -> main (non-fast-forward)' })).toBe('push rejected');
    expect(failureOf({ title: 'npm run build', subtitle: 'exited with code 2' })).toBe('non-zero exit');
    expect(failureOf({ title: 'cargo build', narrative: 'error[E0433]: cannot find crate' })).toBe('error');
    expect(failureOf({ title: 'Changed the error handling in api.rs' })).toBeNull();
  });
});
