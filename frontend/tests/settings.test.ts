import { describe, expect, it } from 'vitest';
import { diffSettings, errorField, fieldLabel, groupFields, initialRaw, parseDraft, restartNotice } from '../src/lib/settings';
import type { SettingField } from '../src/lib/types';

const f = (key: string, type: string, value: unknown, extra: Partial<SettingField> = {}): SettingField => ({
  key,
  type,
  value,
  default: value,
  description: '',
  ...extra,
});

const fields: SettingField[] = [
  f('port', 'integer', 37777, { restart_required: true }),
  f('compression.daily_budget_usd', 'number', 1),
  f('compression.enabled', 'boolean', true),
  f('compression.provider', 'enum', 'auto', { options: ['auto', 'local', 'anthropic', 'openai'] }),
  f('compression.anthropic_api_key', 'secret', null, { is_set: true }),
  f('search.openai_api_key', 'secret', null, { is_set: false }),
  f('log_level', 'string', 'info'),
];

describe('grouping and labels', () => {
  it('groups by first segment, general first', () => {
    expect(groupFields(fields).map((g) => [g.section, g.fields.length])).toEqual([
      ['general', 2],
      ['compression', 4],
      ['search', 1],
    ]);
    expect(fieldLabel('compression.daily_budget_usd')).toBe('daily budget usd');
  });
  it('initial input values', () => {
    expect(initialRaw(fields[0])).toBe('37777');
    expect(initialRaw(fields[2])).toBe(true);
    expect(initialRaw(fields[4])).toBe('');
    expect(initialRaw(f('x', 'string', { a: 1 }))).toBe('{"a":1}');
  });
});

describe('parseDraft', () => {
  it('types values', () => {
    expect(parseDraft(fields[0], { kind: 'value', raw: ' 8080 ' })).toEqual({ ok: true, value: 8080 });
    expect(parseDraft(fields[0], { kind: 'value', raw: '80.5' })).toMatchObject({ ok: false });
    expect(parseDraft(fields[1], { kind: 'value', raw: '2.5' })).toEqual({ ok: true, value: 2.5 });
    expect(parseDraft(fields[1], { kind: 'value', raw: 'abc' })).toMatchObject({ ok: false, error: 'must be a number' });
    expect(parseDraft(fields[1], { kind: 'value', raw: '' })).toMatchObject({ ok: false });
    expect(parseDraft(fields[2], { kind: 'value', raw: false })).toEqual({ ok: true, value: false });
    expect(parseDraft(fields[3], { kind: 'value', raw: 'local' })).toEqual({ ok: true, value: 'local' });
    expect(parseDraft(fields[3], { kind: 'value', raw: 'gpt' })).toMatchObject({ ok: false });
  });
});

describe('list fields', () => {
  const skip = f('capture.skip_tools', 'list', ['TodoWrite', 'Skill']);
  it('are edited as comma-separated text and sent as a list', () => {
    expect(initialRaw(skip)).toBe('TodoWrite, Skill');
    expect(parseDraft(skip, { kind: 'value', raw: ' Read ,, mcp__github__* ,' })).toEqual({ ok: true, value: ['Read', 'mcp__github__*'] });
    expect(parseDraft(skip, { kind: 'value', raw: '' })).toEqual({ ok: true, value: [] });
  });
  it('send only a real change', () => {
    expect(diffSettings([skip], { 'capture.skip_tools': { kind: 'value', raw: 'TodoWrite,Skill' } }).changes).toEqual({});
    expect(diffSettings([skip], { 'capture.skip_tools': { kind: 'value', raw: 'TodoWrite' } }).changes).toEqual({
      'capture.skip_tools': ['TodoWrite'],
    });
  });
});

describe('diffSettings', () => {
  it('sends only what changed', () => {
    const d = diffSettings(fields, {
      port: { kind: 'value', raw: '37777' },
      'compression.daily_budget_usd': { kind: 'value', raw: '2.5' },
      'compression.enabled': { kind: 'value', raw: true },
      log_level: { kind: 'value', raw: 'debug' },
    });
    expect(d).toEqual({ changes: { 'compression.daily_budget_usd': 2.5, log_level: 'debug' }, errors: {} });
  });
  it('secrets: a new value, a clear, and clearing an unset one is a no-op', () => {
    const d = diffSettings(fields, {
      'compression.anthropic_api_key': { kind: 'secret-clear' },
      'search.openai_api_key': { kind: 'secret-set', raw: 'sk-new' },
    });
    expect(d.changes).toEqual({ 'compression.anthropic_api_key': null, 'search.openai_api_key': 'sk-new' });
    expect(diffSettings(fields, { 'search.openai_api_key': { kind: 'secret-clear' } }).changes).toEqual({});
    expect(diffSettings(fields, { 'search.openai_api_key': { kind: 'secret-set', raw: '  ' } }).changes).toEqual({});
  });
  it('reports parse errors per field and leaves them out', () => {
    const d = diffSettings(fields, { port: { kind: 'value', raw: 'eighty' }, log_level: { kind: 'value', raw: 'warn' } });
    expect(d.errors).toEqual({ port: 'must be a whole number' });
    expect(d.changes).toEqual({ log_level: 'warn' });
  });
});

describe('server errors', () => {
  it('maps the 422 field to the form', () => {
    expect(errorField(fields, 'port')).toBe('port');
    expect(errorField(fields, 'compression.daily_budget_usd')).toBe('compression.daily_budget_usd');
    expect(errorField([...fields, f('compression.pricing', 'string', '{}')], 'compression.pricing.claude-haiku')).toBe('compression.pricing');
    expect(errorField(fields, 'nonsense')).toBeNull();
    expect(errorField(fields, undefined)).toBeNull();
  });
  it('restart notice', () => {
    expect(restartNotice([])).toBeNull();
    expect(restartNotice(['port', 'host'])).toContain('port, host');
  });
});
