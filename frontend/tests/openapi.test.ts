/// <reference types="node" />
// The worker's OpenAPI document (src/lib/openapi.json, checked in by `UPDATE_OPENAPI=1 cargo test -p
// claude-mem-server --test openapi`) is a valid OpenAPI 3.1 document, and src/lib/api.gen.ts, which the
// viewer's types come from, is what openapi-typescript generates from it today.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileErrors, validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const documentPath = join(root, 'src/lib/openapi.json');
const generatedPath = join(root, 'src/lib/api.gen.ts');

describe('openapi.json', () => {
  it('is a valid OpenAPI document', async () => {
    const doc = JSON.parse(readFileSync(documentPath, 'utf8'));
    expect(doc.openapi).toMatch(/^3\.1\./);
    const result = await validate(doc);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('has the routes the viewer calls', () => {
    const doc = JSON.parse(readFileSync(documentPath, 'utf8'));
    for (const path of ['/api/health', '/api/search', '/api/observations', '/api/observations/{id}', '/api/sessions/{id}', '/api/costs', '/api/settings']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });
});

describe('api.gen.ts', () => {
  it('is what openapi-typescript generates from openapi.json (run `npm run gen:api` when not)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'claude-mem-api-gen-'));
    try {
      const out = join(dir, 'api.gen.ts');
      const bin = join(root, 'node_modules/.bin/openapi-typescript');
      execFileSync(bin, [documentPath, '-o', out], { cwd: root, stdio: 'pipe' });
      const fresh = readFileSync(out, 'utf8');
      const checkedIn = readFileSync(generatedPath, 'utf8');
      expect(checkedIn === fresh, 'src/lib/api.gen.ts is stale: run `npm run gen:api` in frontend/').toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
