// End-to-end checks of the viewer in a real browser (Debian's chromium via playwright-core) against a real
// `claude-mem serve` seeded through its hook endpoints with Claude Code payloads.
//
// Env: CLAUDE_MEM_BIN (default ../target/debug/claude-mem), CLAUDE_MEM_FIXTURES (default
// /work/shared/fixtures/hooks or ../../shared/fixtures/hooks), CHROMIUM (default /usr/bin/chromium),
// VIEWER_URL (use an already running viewer+worker instead of spawning one: its data gets modified!),
// E2E_MODE=proxy (serve dist/ ourselves even if the worker embeds a viewer), E2E_STRICT=1 (skips fail),
// SCREENSHOTS_DIR (default ../docs/screenshots; empty string to not copy), VIEWER_DIST (the built viewer
// E2E_MODE=proxy serves, default dist/), E2E_ONLY (run only the checks whose name matches this regex).
//
// Team mode: VIEWER_URL=<a team server (`claude-mem serve` with CLAUDE_MEM_DATABASE_URL)> and
// E2E_TEAM_TOKEN=<a user's API token (`claude-mem team add-user`)>. The browser signs in through the
// team's form (the token pasted, as a person does); the suite seeds through /hooks with the bearer token
// and runs the checks a team server applies to (memories, sessions, search, live stream, edit/forget,
// costs, context); the laptop-only ones (settings, setup, logs, capture, restart, sessions off) are
// listed as N/A with the reason, which E2E_STRICT does not count as a failure. E2E_TEAM_OTHER_TOKEN
// (optional): a token of another team, whose memory must never show. Screenshots stay in
// e2e/artifacts/team: they are copied only to an explicit SCREENSHOTS_DIR, never to docs/screenshots.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startViewerServer } from './serve.mjs';
import { startMockAnthropic, USAGE } from './mock-anthropic.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const teamToken = process.env.E2E_TEAM_TOKEN ?? '';
const team = teamToken !== '';
const otherTeamToken = process.env.E2E_TEAM_OTHER_TOKEN ?? '';
const artifacts = path.join(here, 'artifacts', ...(team ? ['team'] : []));
fs.mkdirSync(artifacts, { recursive: true });
const docsScreenshots = path.resolve(root, '..', 'docs', 'screenshots');
// A team run's pages are not the documentation's: never copied there.
const screenshotsDir = team
  ? (process.env.SCREENSHOTS_DIR && path.resolve(process.env.SCREENSHOTS_DIR) !== docsScreenshots ? process.env.SCREENSHOTS_DIR : '')
  : (process.env.SCREENSHOTS_DIR ?? docsScreenshots);
const bin = path.resolve(root, process.env.CLAUDE_MEM_BIN ?? '../target/debug/claude-mem');
const fixturesDir = [process.env.CLAUDE_MEM_FIXTURES, '/work/shared/fixtures/hooks', path.resolve(root, '../../shared/fixtures/hooks')]
  .filter(Boolean)
  .find((p) => fs.existsSync(p));
const strict = process.env.E2E_STRICT === '1';
const distDir = path.resolve(root, process.env.VIEWER_DIST ?? 'dist');
const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY, 'i') : null;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log('[e2e]', ...a);

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(fn, { timeout = 15000, interval = 200, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

// ---------------------------------------------------------------------------------------------- auth
// The worker wants its API token (0600 in its data dir) on every memory route; the browser gets in with a
// one-time code from `POST /api/auth/code`, swapped for a session cookie (what `claude-mem open` does).
const tokenOf = (dataDir) => fs.readFileSync(path.join(dataDir, 'api-token'), 'utf8').trim();
const withToken = (tok, init = {}) => ({ ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${tok}` } });
let token = process.env.CLAUDE_MEM_API_TOKEN ?? '';

async function signInUrl(base = workerBase, tok = token) {
  const res = await fetch(`${base}/api/auth/code`, withToken(tok, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }));
  if (!res.ok) throw new Error(`POST /api/auth/code: HTTP ${res.status} ${await res.text()}`);
  return `${base}${(await res.json()).path}`;
}

// ---------------------------------------------------------------------------------------------- worker
let worker = null;
let workerEnv = null;
let tmp = null;
let viewer = null;
let workerBase;
let pageBase;
let mode;

async function startWorker() {
  if (!fs.existsSync(bin)) throw new Error(`${bin} missing: build the workspace (cargo build) or set CLAUDE_MEM_BIN`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-mem-e2e-'));
  const home = path.join(tmp, 'home');
  fs.mkdirSync(home);
  const port = await freePort();
  const env = {
    ...process.env,
    CLAUDE_MEM_DATA_DIR: path.join(tmp, 'data'),
    CLAUDE_MEM_PORT: String(port),
    CLAUDE_MEM_COMPRESSOR: 'local',
    CLAUDE_MEM_EMBEDDER: 'hash',
    CLAUDE_MEM_BATCH_LINGER_MS: '0',
    // info, not warn: the Logs page has lines to show.
    CLAUDE_MEM_LOG_LEVEL: 'info',
    CLAUDE_MEM_MODEL_DOWNLOAD: 'off',
    HOME: home,
  };
  delete env.ANTHROPIC_API_KEY;
  delete env.CLAUDE_MEM_HOST;
  workerEnv = env;
  spawnWorker('w');
  workerBase = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${workerBase}/api/health`)).ok, { timeout: 30000, what: 'worker /api/health' });
  token = tokenOf(path.join(tmp, 'data'));
  log(`worker up at ${workerBase} (data in ${tmp})`);
}

/** `claude-mem serve` with the suite's environment (the same data directory and port each time). */
function spawnWorker(flag) {
  const logFile = fs.openSync(path.join(artifacts, 'worker.log'), flag);
  worker = spawn(bin, ['serve'], { env: workerEnv, detached: true, stdio: ['ignore', logFile, logFile] });
  worker.on('exit', (code, sig) => log(`worker exited (${code ?? sig})`));
}

function stopWorker() {
  if (worker && worker.exitCode === null) {
    try {
      process.kill(-worker.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
}

async function killWorkerGroup() {
  if (!worker) return;
  stopWorker();
  const end = Date.now() + 5000;
  while (worker.exitCode === null && worker.signalCode === null && Date.now() < end) await sleep(100);
  if (worker.exitCode === null && worker.signalCode === null) {
    try {
      process.kill(-worker.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

// ---------------------------------------------------------------------------------------------- seeding
const fixture = (name) => JSON.parse(fs.readFileSync(path.join(fixturesDir, `${name}.json`), 'utf8'));

async function hook(event, payload) {
  const res = await fetch(`${workerBase}/hooks/${event}`, withToken(token, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  }));
  if (!res.ok) throw new Error(`hook ${event}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

async function api(p) {
  const res = await fetch(`${workerBase}${p}`, withToken(token));
  const body = await res.json().catch(() => null);
  return { status: res.status, body };
}

function session(id, project) {
  const base = fixture('SessionStart.startup');
  const cwd = `/home/dev/work/${project}`;
  const transcript_path = `/home/dev/.claude/projects/-home-dev-work-${project}/${id}.jsonl`;
  const common = { session_id: id, cwd, transcript_path };
  let toolN = 0;
  return {
    start: () => hook('SessionStart', { ...base, ...common }),
    prompt: (prompt, prompt_id = `prompt-${id.slice(0, 4)}-${Date.now()}`) =>
      hook('UserPromptSubmit', { ...fixture('UserPromptSubmit'), ...common, prompt, prompt_id }),
    edit: (file, oldS, newS) => {
      const p = fixture('PostToolUse.Bash');
      const abs = `${cwd}/${file}`;
      return hook('PostToolUse', {
        ...p,
        ...common,
        tool_name: 'Edit',
        tool_input: { file_path: abs, old_string: oldS, new_string: newS, replace_all: false },
        tool_response: { filePath: abs, oldString: oldS, newString: newS, originalFile: oldS, structuredPatch: [], userModified: false, replaceAll: false },
        tool_use_id: `toolu_${id.slice(0, 6)}_${++toolN}_${Date.now()}`,
      });
    },
    bash: (command, stdout) => {
      const p = fixture('PostToolUse.Bash');
      return hook('PostToolUse', {
        ...p,
        ...common,
        tool_input: { command, description: command },
        tool_response: { ...p.tool_response, stdout },
        tool_use_id: `toolu_${id.slice(0, 6)}_${++toolN}_${Date.now()}`,
      });
    },
    stop: (msg = 'done') => hook('Stop', { ...fixture('Stop'), ...common, last_assistant_message: msg }),
  };
}

const SESSION_A = 'dd3c069f-cebc-4332-a2d2-b224021fc02d';
const SESSION_B = '7a1e2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b';
const A = session(SESSION_A, 'acme-api');
const B = session(SESSION_B, 'webapp');

async function drained(minObservations) {
  return waitFor(
    async () => {
      const h = (await api('/api/health')).body;
      // A team server counts `pending_events` and has no index of its own (search reads PostgreSQL).
      const pending = team ? h.counts?.pending_events : h.counts.pending;
      return pending === 0 && h.counts.observations >= minObservations && (!h.index || h.index.documents >= h.counts.observations) ? h : null;
    },
    { timeout: 30000, what: `${minObservations} observations processed and indexed` },
  );
}

const SESSION_C = '0c0c0c0c-1111-4222-8333-944455556666';
const C = session(SESSION_C, 'notes');
/** More prompts than one history page (30): paging prompts back is exercised. */
const C_PROMPTS = 34;

/** Every row of a paged history list (`before_id` / `next_before_id`). */
async function countAll(p, key) {
  let n = 0;
  let before = null;
  for (let i = 0; i < 100; i++) {
    const { status, body } = await api(`${p}?limit=100${before ? `&before_id=${before}` : ''}`);
    assert.equal(status, 200, `${p}: ${JSON.stringify(body)}`);
    n += body[key].length;
    before = body.next_before_id;
    if (!before || body[key].length === 0) return n;
  }
  return n;
}

async function seed() {
  await C.start();
  for (let i = 1; i <= C_PROMPTS; i++) await C.prompt(`note ${i}: jot down the release checklist item ${i}`, `prompt-c-${i}`);
  await B.start();
  await B.prompt('refactor the widgets to use the new theme tokens');
  for (let i = 1; i <= 36; i++) {
    await B.edit(`src/components/Widget${i}.tsx`, `color: "#${i}"`, `color: var(--widget-${i})`);
  }
  await B.stop('All widgets now use theme tokens.');
  await A.start();
  await A.prompt('make the store open SQLite in WAL mode');
  await A.edit('src/store/db.rs', 'fn open() -> Connection', 'fn open_with_wal() -> Connection');
  await A.bash('cargo test -p store', 'test result: ok. 12 passed; 0 failed');
  await A.edit('src/store/migrations.rs', 'PRAGMA journal_mode=DELETE', 'PRAGMA journal_mode=WAL');
  await A.stop('The store now opens in WAL mode; tests pass.');
  const h = await drained(3);
  if (team) {
    // The team's health counts no prompts: the history does.
    h.counts.prompts = await countAll('/api/prompts', 'prompts');
  }
  log(`seeded: ${h.counts.observations} observations, ${h.counts.sessions} sessions, ${h.counts.prompts} prompts`);
  return h;
}

// ---------------------------------------------------------------------------------------------- checks
const results = [];
const shots = [];

async function check(name, fn, { needs = [], notOnTeam = null, teamOnly = false } = {}) {
  if (only && !only.test(name)) return;
  // Not a skip: the team server does not have what this checks (E2E_STRICT does not fail for it).
  if (team && notOnTeam) {
    results.push({ name, status: 'N/A', detail: `team server: ${notOnTeam}` });
    log(`N/A  ${name} (team server: ${notOnTeam})`);
    return;
  }
  if (!team && teamOnly) return;
  const missing = [];
  for (const ep of needs) {
    const [method, p] = ep.includes(' ') ? ep.split(' ') : ['GET', ep];
    const res = await fetch(`${workerBase}${p}`, withToken(token, { method, signal: AbortSignal.timeout(3000) })).catch(() => null);
    if (res) res.body?.cancel().catch(() => {});
    if (!res || res.status === 404 || res.status === 405) missing.push(`${method} ${p}`);
  }
  if (missing.length) {
    results.push({ name, status: 'SKIP', detail: `endpoint missing: ${missing.join(', ')}` });
    log(`SKIP ${name} (endpoint missing: ${missing.join(', ')})`);
    return;
  }
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, status: 'PASS', detail: `${Date.now() - t0} ms` });
    log(`PASS ${name}`);
  } catch (e) {
    results.push({ name, status: 'FAIL', detail: e.message.split('\n')[0] });
    log(`FAIL ${name}: ${e.stack ?? e.message}`);
    await page?.screenshot({ path: path.join(artifacts, `FAIL-${name}.png`) }).catch(() => {});
  }
}

async function shot(name, p = page) {
  const file = path.join(artifacts, `${name}.png`);
  await p.screenshot({ path: file });
  shots.push(file);
}

let browser;
let context;
let page;
const requests = [];

async function openPage({ signedOut = false, ...opts } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 }, colorScheme: 'light', ...opts });
  const p = await ctx.newPage();
  // Signed in the way a user is: the one-time link (embedded viewer; the proxy adds the token itself),
  // or on a team server the sign-in form with the user's token.
  if (mode === 'embedded' && !signedOut) await p.goto(await signInUrl());
  if (mode === 'team' && !signedOut) await teamSignIn(p);
  p.on('request', (r) => requests.push(r.url()));
  p.on('pageerror', (e) => pageErrors.push(e.message));
  p.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  return { ctx, p };
}
const pageErrors = [];
const consoleErrors = [];

/** The team server's sign-in form, filled and sent as a person does; answers the form's response. */
async function submitTeamToken(p, tok) {
  await p.waitForSelector('[data-testid="team-sign-in"]');
  await p.fill('input[name="token"]', tok);
  const [res] = await Promise.all([
    p.waitForNavigation(),
    p.click('[data-testid="team-sign-in"] button[type="submit"]'),
  ]);
  return res;
}

async function teamSignIn(p, tok = token) {
  await p.goto(pageBase);
  await submitTeamToken(p, tok);
  await p.waitForSelector('[data-testid="view-live"]');
}

/** Routes only the laptop worker has: a team viewer must never ask for them. */
const LAPTOP_ONLY = /\/api\/(settings|capture|setup|logs|admin\/|reindex|sessions\/off|auth\/code)\b|\/api\/projects\/[^/]+\/rename/;

const goto = async (hash, p = page) => {
  await p.goto(`${pageBase}#/${hash}`);
  await p.waitForSelector(`[data-testid="view-${hash.split(/[/?]/)[0]}"]`);
};

async function main() {
  if (team) {
    if (!process.env.VIEWER_URL) throw new Error('E2E_TEAM_TOKEN needs VIEWER_URL: the team server to test');
    mode = 'team';
    token = teamToken;
    pageBase = process.env.VIEWER_URL.replace(/\/?$/, '/');
    workerBase = pageBase.replace(/\/$/, '');
    const h = await fetch(`${workerBase}/api/health`, withToken(token)).then((r) => r.json());
    assert.equal(h.backend, 'postgres', `VIEWER_URL is not a team server: /api/health says ${JSON.stringify(h).slice(0, 200)}`);
  } else if (process.env.VIEWER_URL) {
    mode = 'external';
    pageBase = process.env.VIEWER_URL.replace(/\/?$/, '/');
    workerBase = pageBase.replace(/\/$/, '');
  } else {
    await startWorker();
    // The page itself wants the viewer's cookie: sign in like a browser, then ask for it.
    const swap = await fetch(await signInUrl(), { redirect: 'manual' });
    const cookie = (swap.headers.get('set-cookie') ?? '').split(';')[0];
    const index = await fetch(`${workerBase}/`, { headers: { cookie } }).then(async (r) => (r.ok ? r.text() : '')).catch(() => '');
    if (index.includes('claude-mem-viewer') && process.env.E2E_MODE !== 'proxy') {
      mode = 'embedded';
      pageBase = `${workerBase}/`;
    } else {
      if (!fs.existsSync(path.join(distDir, 'index.html'))) {
        log(`${distDir} missing: building`);
        execFileSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--outDir', distDir], { cwd: root, stdio: 'inherit' });
      }
      viewer = await startViewerServer({ dist: distDir, target: workerBase, token });
      mode = 'proxy';
      pageBase = viewer.url;
    }
  }
  log(`mode: ${mode}; page: ${pageBase}; fixtures: ${fixturesDir}`);
  const seeded = await seed();

  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  ({ ctx: context, p: page } = await openPage());

  await check('live: history renders', async () => {
    await goto('live');
    await page.waitForSelector('[data-testid="observation-card"]');
    const titles = await page.locator('[data-testid="obs-title"]').allInnerTexts();
    assert.ok(titles.some((t) => t.includes('db.rs')), `db.rs edit among the first cards: ${titles.slice(0, 5).join(' | ')}`);
    await page.waitForSelector('[data-testid="summary-card"]');
    await shot('live');
  });

  await check("team: the viewer shows the team's memories and nothing the team server lacks", async () => {
    await goto('live');
    await page.waitForSelector('[data-testid="team-badge"]');
    // The team's newest memories, as the API gives them to this user's token, are the page's.
    const { body } = await api('/api/observations?limit=10');
    const want = body.observations.map((o) => o.id);
    assert.ok(want.length >= 3, `the team has memories: ${want}`);
    await waitFor(async () => {
      const ids = await page.locator('[data-testid="feed"] [data-testid="observation-card"]').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
      return want.every((id) => ids.includes(id));
    }, { what: "the team's newest observations on the page" });
    const nav = await page.locator('nav.tabs a').evaluateAll((els) => els.map((e) => e.dataset.testid));
    assert.deepEqual(nav, ['nav-live', 'nav-search', 'nav-sessions', 'nav-costs', 'nav-context', 'nav-health']);
    assert.equal(await page.locator('[data-testid="capture-toggle"]').count(), 0, 'no capture switch');
    await goto('search?q=WAL');
    await page.waitForSelector('[data-testid="search-results"] [data-testid="observation-card"]');
    assert.equal(await page.locator('[data-testid="search-kind"]').count(), 0, 'observations only: no kind picker');
    // Keys 1–6 are the team's pages.
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('5');
    await page.waitForSelector('[data-testid="view-context"]');
    // A laptop page opened by its address says what it is, not an error.
    for (const v of ['settings', 'logs']) {
      await goto(v);
      await page.waitForSelector('[data-testid="team-unavailable"]');
    }
    await goto('health');
    await page.waitForSelector('[data-testid="health-team"]');
    for (const id of ['setup', 'reindex', 'health-capture-toggle', 'retry-parked']) {
      assert.equal(await page.locator(`[data-testid="${id}"]`).count(), 0, `no ${id} on a team server`);
    }
    await shot('team-health');
    // No page shows an error banner.
    for (const v of ['live', 'search?q=WAL', 'sessions', `sessions/${SESSION_A}`, 'costs', 'context', 'health', 'settings', 'logs']) {
      await goto(v);
      await sleep(500);
      const errors = await page.locator('.notice.error, [role="alert"]').allInnerTexts();
      assert.deepEqual(errors, [], `#/${v}: ${errors.join(' | ')}`);
    }
  }, { teamOnly: true });

  await check('live: infinite scroll back to the beginning', async () => {
    await goto('live');
    const total = seeded.counts.observations;
    await waitFor(
      async () => {
        await page.locator('[data-testid="feed-sentinel"]').scrollIntoViewIfNeeded();
        const n = await page.locator('[data-testid="observation-card"]').count();
        return n >= total && (await page.locator('[data-testid="feed-end"]').count()) > 0;
      },
      { timeout: 15000, what: `all ${total} observations after scrolling` },
    );
    const ids = await page.locator('[data-testid="observation-card"]').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
    assert.equal(new Set(ids).size, ids.length, 'no duplicate cards');
    assert.equal(ids.length, total);
    // Prompts and summaries page in too, however many there are (issue 23: 9 of 12 summaries showed).
    const summaries = (await api('/api/summaries?limit=500')).body.summaries.length;
    assert.equal(await page.locator('[data-testid="feed"] [data-testid="summary-card"]').count(), summaries, 'every summary');
    assert.equal(await page.locator('[data-testid="feed"] [data-testid="prompt-card"]').count(), seeded.counts.prompts, 'every prompt');
    assert.ok(seeded.counts.prompts > 30, `more prompts (${seeded.counts.prompts}) than one page`);
  });

  await check('live: reload keeps prompts', async () => {
    await goto('live');
    await page.waitForSelector('[data-testid="feed"] [data-testid="prompt-card"]');
    await page.reload();
    await page.waitForSelector('[data-testid="feed"] [data-testid="prompt-card"]', { timeout: 5000 });
    const texts = await page.locator('[data-testid="feed"] [data-testid="prompt-card"] .title').allInnerTexts();
    assert.ok(texts.some((t) => t.includes('WAL mode')), `prompts after a reload: ${texts.slice(0, 4).join(' | ')}`);
    await page.waitForSelector('[data-testid="day-separator"]');
  });

  await check('live: a filter that matches nothing says so, not "no memories yet"', async () => {
    await goto('live');
    await page.waitForSelector('[data-testid="observation-card"]');
    await page.selectOption('[data-testid="live-type"]', 'security_alert');
    await page.waitForSelector('[data-testid="live-empty"][data-kind="filtered"]');
    assert.match(await page.innerText('[data-testid="live-empty"]'), /Nothing matches this filter/);
    await page.selectOption('[data-testid="live-type"]', '');
    await page.waitForSelector('[data-testid="observation-card"]');
  });

  await check('live: capture can be paused and resumed, and says so', async () => {
    await goto('live');
    await page.waitForSelector('[data-testid="observation-card"]');
    await page.click('[data-testid="capture-toggle"]');
    await page.waitForSelector('[data-testid="stream-status"][data-paused="true"]');
    assert.match(await page.innerText('[data-testid="stream-status"]'), /paused/);
    assert.equal((await page.innerText('[data-testid="health-badge"]')).trim(), 'paused');
    assert.equal((await api('/api/capture')).body.paused, true);
    await page.waitForSelector('[data-testid="paused-notice"]');
    await shot('live-paused');
    await page.click('[data-testid="capture-toggle"]');
    await page.waitForSelector('[data-testid="stream-status"][data-paused="false"]');
    assert.equal((await api('/api/capture')).body.paused, false);
  }, { notOnTeam: 'no capture switch (each laptop pauses its own capture)' });

  await check('live: SSE stream connected', async () => {
    await goto('live');
    await waitFor(async () => (await page.getAttribute('[data-testid="stream-status"]', 'data-status')) === 'live', { timeout: 8000, what: 'stream status live' });
  }, { needs: ['/api/stream'] });

  await check('live: new memory appears without reload', async () => {
    await goto('live');
    await page.waitForSelector('[data-testid="observation-card"]');
    const navs = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && navs.push(f.url()));
    await A.prompt('also speed up fusion scoring');
    await A.edit('src/search/fusion.rs', 'fn fuse(a, b)', 'fn fuse_weighted(a, b, w)');
    await page.waitForSelector('[data-testid="obs-title"]:has-text("fusion.rs")', { timeout: 15000 });
    assert.equal(navs.length, 0, 'no reload happened');
    const status = await page.getAttribute('[data-testid="stream-status"]', 'data-status');
    log(`  (stream status: ${status})`);
    await shot('live-new-memory');
  });

  await check('search: finds and highlights, detail opens with facts and neighbours', async () => {
    await goto('live');
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'search-input', '/ focuses search');
    await page.keyboard.type('open_with_wal');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="search-results"][data-query="open_with_wal"] [data-testid="observation-card"]');
    const marks = await page.locator('[data-testid="search-results"] mark').allInnerTexts();
    assert.ok(marks.some((m) => m.toLowerCase().includes('open_with_wal') || m.toLowerCase().includes('wal')), `marks: ${marks.join(',')}`);
    const titles = await page.locator('[data-testid="search-results"] [data-testid="obs-title"]').allInnerTexts();
    assert.ok(titles.some((t) => /db\.rs/.test(t)), `db.rs among the results: ${titles.slice(0, 5).join(' | ')}`);
    await shot('search');
    // Enter after submitting selects the first result; Enter again opens it.
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="detail"] [data-testid="detail-title"]');
    assert.equal(await page.locator('[data-testid="detail-title"]').innerText(), titles[0]);
    // Hybrid ranking with the hashing embedder is approximate: open the db.rs result explicitly.
    await page.locator('[data-testid="search-results"] [data-testid="observation-card"]', { hasText: 'db.rs' }).first().click();
    await waitFor(async () => /db\.rs/.test(await page.locator('[data-testid="detail-title"]').innerText()), { what: 'db.rs detail' });
    await page.waitForSelector('[data-testid="detail-facts"] li');
    assert.match(await page.locator('[data-testid="detail-files"]').innerText(), /src\/store\/db\.rs/);
    await waitFor(async () => !(await page.locator('[data-testid="detail-next"]').isDisabled()), { what: 'next neighbour enabled' });
    await shot('detail');
    await page.click('[data-testid="detail-next"]');
    await waitFor(async () => !/db\.rs/.test(await page.locator('[data-testid="detail-title"]').innerText()), { what: 'neighbour opened' });
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="detail"]', { state: 'detached' });
  });

  await check('detail: edit a memory, forget it with undo', async () => {
    const title = 'Quokka cache decision for the e2e forget check';
    const res = await fetch(`${workerBase}/api/memories`, withToken(token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'We keep quokka entries for ten minutes.', title, project: 'webapp' }),
    }));
    assert.ok(res.ok, await res.text());
    await page.goto(`${pageBase}#/search?q=${encodeURIComponent('quokka')}`);
    await page.locator('[data-testid="observation-card"]', { hasText: 'Quokka' }).first().click();
    await page.waitForSelector('[data-testid="detail-edit"]');
    // Edit: title, type and facts, saved and shown.
    await page.click('[data-testid="detail-edit"]');
    await page.fill('[data-testid="edit-title"]', 'Quokka cache keeps entries for 10 minutes');
    await page.selectOption('[data-testid="edit-type"]', 'decision');
    await page.fill('[data-testid="edit-facts"]', 'TTL is 10 minutes\nupstream resets every 10 minutes');
    await page.click('[data-testid="edit-save"]');
    await waitFor(async () => (await page.locator('[data-testid="detail-title"]').innerText()) === 'Quokka cache keeps entries for 10 minutes', { what: 'edited title' });
    assert.equal(await page.locator('[data-testid="detail-facts"] li').count(), 2);
    const id = Number((await page.locator('[data-testid="detail"] .detail-head .muted').innerText()).replace('#', ''));
    assert.equal((await api(`/api/observations/${id}`)).body.observation.type, 'decision');
    // Forget, then Undo: nothing is deleted.
    await page.click('[data-testid="detail-forget"]');
    await page.waitForSelector('[data-testid="forget-pending"]');
    await page.click('[data-testid="forget-undo"]');
    await page.waitForSelector('[data-testid="detail-forget"]');
    await new Promise((r) => setTimeout(r, 5500));
    assert.equal((await api(`/api/observations/${id}`)).status, 200, 'undo kept it');
    // Forget for real: after the undo window the memory is gone from the worker and the page.
    await page.click('[data-testid="detail-forget"]');
    await page.waitForSelector('[data-testid="detail"]', { state: 'detached', timeout: 15000 });
    assert.equal((await api(`/api/observations/${id}`)).status, 404, 'forgotten');
    const found = (await api(`/api/search?q=quokka&min_score=0`)).body.results ?? [];
    assert.ok(!found.some((r) => r.observation?.id === id), 'search no longer finds it');
  });

  await check('search: filters and empty state', async () => {
    await page.goto(`${pageBase}#/live`);
    await page.goto(`${pageBase}#/search?q=${encodeURIComponent('Widget12')}&project=webapp`);
    await page.waitForSelector('[data-testid="search-results"][data-query="Widget12"] [data-testid="observation-card"]');
    assert.equal(await page.inputValue('[data-testid="project-filter"]'), 'webapp');
    const projects = await page.locator('[data-testid="search-results"] .project').allInnerTexts();
    assert.ok(projects.every((p) => p === 'webapp'), `projects: ${projects.join(',')}`);
    // Hybrid (the default) knows when nothing is relevant: no rows of noise for a query nothing answers.
    await page.fill('[data-testid="search-input"]', 'zzqxjv nonexistentterm');
    await page.waitForSelector('[data-testid="search-no-results"]');
    assert.match(await page.locator('[data-testid="search-no-results"]').innerText(), /Nothing relevant/);
    await page.selectOption('[data-testid="search-mode"]', 'text');
    await page.waitForSelector('[data-testid="search-no-results"]');
  });

  await check('search: prompts and summaries too, by kind', async () => {
    await page.goto(`${pageBase}#/live`);
    await page.goto(`${pageBase}#/search?q=${encodeURIComponent('WAL mode')}&kind=prompt&mode=text`);
    await page.waitForSelector('[data-testid="search-results"][data-query="WAL mode"] [data-testid="prompt-card"]');
    assert.equal(await page.inputValue('[data-testid="search-kind"]'), 'prompt');
    assert.equal(await page.locator('[data-testid="search-results"] [data-testid="observation-card"]').count(), 0);
    assert.ok(await page.locator('[data-testid="search-type"]').isDisabled(), 'types apply to observations only');
    await page.selectOption('[data-testid="search-kind"]', 'all');
    await page.waitForSelector('[data-testid="search-results"] [data-testid="observation-card"]');
    assert.ok((await page.locator('[data-testid="search-results"] [data-testid="prompt-card"]').count()) > 0, 'prompts stay in the mix');
    // A prompt leads to its session.
    await page.locator('[data-testid="search-results"] [data-testid="prompt-card"]').first().click();
    await waitFor(async () => page.url().includes('#/sessions/'), { what: 'session opened from a prompt' });
  }, { notOnTeam: 'it searches observations only (the viewer hides the kind picker there)' });

  await check('keyboard: j/k select, Enter opens, Esc closes', async () => {
    await goto('live');
    await page.waitForSelector('[data-testid="observation-card"]');
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    await page.keyboard.press('k');
    const sel = await page.locator('[data-testid="feed"] .card.selected').getAttribute('data-index');
    assert.equal(sel, '0');
    await page.keyboard.press('j');
    const selected = page.locator('[data-testid="feed"] .card.selected');
    assert.equal(await selected.getAttribute('data-index'), '1');
    if ((await selected.getAttribute('data-testid')) === 'observation-card') {
      await page.keyboard.press('Enter');
      await page.waitForSelector('[data-testid="detail"]');
      await page.keyboard.press('Escape');
      await page.waitForSelector('[data-testid="detail"]', { state: 'detached' });
    }
    await page.keyboard.press('?');
    await page.waitForSelector('[data-testid="help"]');
    await page.keyboard.press('Escape');
  });

  await check('sessions: list per project and timeline', async () => {
    await goto('sessions');
    await page.waitForSelector('[data-testid="session-row"]');
    assert.ok((await page.locator('[data-testid="session-row"]').count()) >= 2);
    await page.selectOption('[data-testid="project-filter"]', 'acme-api');
    await waitFor(async () => (await page.locator('[data-testid="session-row"]').count()) === 1, { what: 'filtered to one session' });
    await shot('sessions');
    await page.click(`[data-testid="session-row"][data-id="${SESSION_A}"]`);
    await page.waitForSelector('[data-testid="timeline"]');
    const prompts = await page.locator('[data-testid="timeline-prompt"]').allInnerTexts();
    assert.ok(prompts.some((p) => p.includes('WAL mode')), `prompts: ${prompts.join(' | ')}`);
    await page.waitForSelector('[data-testid="timeline-summary"]');
    assert.ok((await page.locator('[data-testid="timeline"] [data-testid="observation-card"]').count()) >= 2);
    await shot('session-timeline');
    await page.selectOption('[data-testid="project-filter"]', '');
  });

  await check('sessions: rows are titled by their first prompt; an unknown id is "not found"', async () => {
    await goto('sessions');
    await page.waitForSelector(`[data-testid="session-row"][data-id="${SESSION_A}"]`);
    await waitFor(async () => /WAL mode/.test(await page.innerText(`[data-testid="session-row"][data-id="${SESSION_A}"] [data-testid="session-title"]`)), { what: 'title from the first prompt' });
    await goto('sessions/no-such-session-0000');
    await page.waitForSelector('[data-testid="session-error"]');
    const msg = await page.innerText('[data-testid="session-error"]');
    assert.match(msg, /not in the database/);
    assert.doesNotMatch(msg, /Update claude-mem/);
  });

  await check('sessions: a session the user turned off is listed as not recorded', async () => {
    const res = await fetch(`${workerBase}/api/sessions/off`, withToken(token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ session_id: 'off-session-e2e-1', cwd: '/home/dev/work/secret-lab', how: 'env' }),
    }));
    assert.ok(res.ok, await res.text());
    await page.goto(`${pageBase}#/sessions`);
    await page.waitForSelector('[data-testid="session-off"][data-id="off-session-e2e-1"]');
    assert.match(await page.innerText('[data-testid="session-off"][data-id="off-session-e2e-1"]'), /not recorded[\s\S]*CLAUDE_MEM=off/);
  }, { needs: ['/api/sessions/off'], notOnTeam: 'no list of sessions turned off (kept by each laptop)' });

  await check('project filter: one for every page, kept in the URL', async () => {
    await goto('live');
    await page.waitForSelector('[data-testid="observation-card"]');
    await page.selectOption('[data-testid="project-filter"]', 'acme-api');
    await waitFor(async () => page.url().includes('project=acme-api'), { what: 'project in the URL' });
    await waitFor(async () => {
      const ps = await page.locator('[data-testid="feed"] .project').allInnerTexts();
      return ps.length > 0 && ps.every((p) => p === 'acme-api');
    }, { what: 'live filtered to acme-api' });
    await page.click('[data-testid="nav-sessions"]');
    await page.waitForSelector('[data-testid="session-row"]');
    assert.ok(page.url().includes('#/sessions?project=acme-api'), page.url());
    await waitFor(async () => (await page.locator('[data-testid="session-row"]').count()) === 1, { what: 'one acme-api session' });
    await page.reload();
    await page.waitForSelector('[data-testid="session-row"]');
    assert.equal(await page.inputValue('[data-testid="project-filter"]'), 'acme-api');
    await page.selectOption('[data-testid="project-filter"]', '');
    await waitFor(async () => !page.url().includes('project='), { what: 'filter cleared' });
  });

  await check('settings: form lists every field with its description', async () => {
    const { status, body } = await api('/api/settings');
    assert.equal(status, 200);
    await goto('settings');
    await page.waitForSelector('[data-testid="settings-form"]');
    for (const f of body.fields) {
      await page.waitForSelector(`[data-testid="setting-${f.key}"]`);
    }
    await shot('settings');
  }, { notOnTeam: "settings are the team server operator's (its environment and settings file)" });

  await check('settings: round-trip survives a reload', async () => {
    await goto('settings');
    const sel = '[data-testid="setting-compression.daily_budget_usd"] input';
    await page.waitForSelector(sel);
    const before = (await api('/api/settings')).body.fields.find((f) => f.key === 'compression.daily_budget_usd').value;
    const next = before === 2.5 ? 3.25 : 2.5;
    await page.fill(sel, String(next));
    await page.click('[data-testid="settings-save"]');
    await page.waitForSelector('[data-testid="settings-notice"]');
    await page.reload();
    await page.waitForSelector(sel);
    assert.equal(await page.inputValue(sel), String(next));
    const after = (await api('/api/settings')).body.fields.find((f) => f.key === 'compression.daily_budget_usd').value;
    assert.equal(after, next);
    // Secrets are write-only: the page never receives a value.
    const secrets = await page.locator('[data-testid="secret-state"]').allInnerTexts();
    assert.ok(secrets.every((s) => /^(set|not set)$/.test(s.trim())), `secret states: ${secrets.join(',')}`);
    await shot('settings');
  }, { needs: ['/api/settings'], notOnTeam: "settings are the team server operator's (its environment and settings file)" });

  await check('settings: a list setting is edited as comma-separated text', async () => {
    await goto('settings');
    const sel = '[data-testid="setting-capture.skip_tools"] input';
    await page.waitForSelector(sel);
    const field = () => api('/api/settings').then((r) => r.body.fields.find((f) => f.key === 'capture.skip_tools'));
    const before = await field();
    assert.equal(await page.inputValue(sel), before.value.join(', '));
    await page.fill(sel, ' TodoWrite ,Skill,, mcp__github__* ');
    await page.click('[data-testid="settings-save"]');
    await page.waitForSelector('[data-testid="settings-notice"]');
    // Applied live: no restart is asked for.
    assert.equal(await page.innerText('[data-testid="settings-notice"]'), 'Saved.');
    assert.deepEqual((await field()).value, ['TodoWrite', 'Skill', 'mcp__github__*']);
    await page.reload();
    await page.waitForSelector(sel);
    assert.equal(await page.inputValue(sel), 'TodoWrite, Skill, mcp__github__*');
    await page.fill(sel, before.value.join(', '));
    await page.click('[data-testid="settings-save"]');
    await page.waitForSelector('[data-testid="settings-notice"]');
    assert.deepEqual((await field()).value, before.value);
  }, { needs: ['/api/settings'], notOnTeam: "settings are the team server operator's (its environment and settings file)" });

  await check('settings: invalid value shows the inline error', async () => {
    await goto('settings');
    const fields = (await api('/api/settings')).body.fields.map((f) => f.key);
    const [key, bad] = [['compression.batch_size', '0'], ['compression.max_attempts', '0'], ['port', '0']].find(([k]) => fields.includes(k)) ?? [];
    assert.ok(key, 'a range-checked integer field');
    // Client-side: not a number at all.
    const budget = '[data-testid="setting-compression.daily_budget_usd"]';
    if (fields.includes('compression.daily_budget_usd')) {
      await page.fill(`${budget} input`, 'lots');
      await page.click('[data-testid="settings-save"]');
      await page.waitForSelector(`${budget} [data-testid="field-error"]`);
      await page.fill(`${budget} input`, String((await api('/api/settings')).body.fields.find((f) => f.key === 'compression.daily_budget_usd').value));
    }
    // Server-side: out of range, answered 422 with the field.
    const row = `[data-testid="setting-${key}"]`;
    await page.fill(`${row} input`, bad);
    await page.click('[data-testid="settings-save"]');
    await page.waitForSelector(`${row} [data-testid="field-error"]`);
    const msg = await page.locator(`${row} [data-testid="field-error"]`).innerText();
    assert.ok(msg.length > 3, `inline reason: ${msg}`);
    await shot('settings-invalid');
  }, { needs: ['/api/settings'], notOnTeam: "settings are the team server operator's (its environment and settings file)" });

  await check('settings: values set by the environment are labelled with what runs', async () => {
    await goto('settings');
    const port = new URL(workerBase).port;
    const row = '[data-testid="setting-port"]';
    await page.waitForSelector(`${row} [data-testid="setting-source"][data-kind="env"]`);
    const text = await page.innerText(`${row} [data-testid="setting-source"]`);
    assert.match(text, /CLAUDE_MEM_PORT/);
    assert.ok(text.includes(port), `the port that runs (${port}) in: ${text}`);
    assert.match(await page.innerText('[data-testid="setting-compression.provider"] [data-testid="setting-source"]'), /CLAUDE_MEM_COMPRESSOR.*local/);
    // f32 settings read as typed, not 0.30000001192092896.
    assert.equal(await page.inputValue('[data-testid="setting-compression.min_significance"] input'), '0.3');
    assert.doesNotMatch(await page.innerText('[data-testid="view-settings"]'), /0\.3000000/);
    await page.locator(row).scrollIntoViewIfNeeded();
    await shot('settings-env');
  }, { needs: ['/api/settings'], notOnTeam: "settings are the team server operator's (its environment and settings file)" });

  await check('settings: an invalid log level is refused with a sentence', async () => {
    await goto('settings');
    const row = '[data-testid="setting-log_level"]';
    await page.fill(`${row} input`, 'verbose!!');
    await page.click('[data-testid="settings-save"]');
    await page.waitForSelector(`${row} [data-testid="field-error"]`);
    const msg = await page.innerText(`${row} [data-testid="field-error"]`);
    assert.match(msg, /"verbose!!" is not a log level: use one of trace, debug, info, warn, error, off/);
    assert.doesNotMatch(msg, /invalid value|expected|EnvFilter/);
    const port = '[data-testid="setting-port"]';
    await page.fill(`${row} input`, 'info');
    await page.fill(`${port} input`, '99999');
    await page.click('[data-testid="settings-save"]');
    await page.waitForSelector(`${port} [data-testid="field-error"]`);
    assert.equal(await page.innerText(`${port} [data-testid="field-error"]`), '99999 is too large: use a number from 0 to 65535.');
    const fileLevel = (await api('/api/settings')).body.fields.find((f) => f.key === 'log_level').value;
    assert.equal(fileLevel, 'info', 'nothing was saved');
    await page.click('text=Discard');
  }, { needs: ['/api/settings'], notOnTeam: "settings are the team server operator's (its environment and settings file)" });

  await check('settings: unsaved edits survive a visit to another page', async () => {
    await goto('settings');
    const sel = '[data-testid="setting-compression.batch_size"] input';
    await page.waitForSelector(sel);
    const before = await page.inputValue(sel);
    await page.fill(sel, '7');
    await page.waitForSelector('[data-testid="settings-unsaved"]');
    await page.click('[data-testid="nav-live"]');
    await page.waitForSelector('[data-testid="view-live"]');
    await page.click('[data-testid="nav-settings"]');
    await page.waitForSelector(sel);
    assert.equal(await page.inputValue(sel), '7');
    await page.click('text=Discard');
    assert.equal(await page.inputValue(sel), before);
  }, { needs: ['/api/settings'], notOnTeam: "settings are the team server operator's (its environment and settings file)" });

  await check('settings: the context preview changes when the budget changes', async () => {
    await goto('settings');
    await page.waitForSelector('[data-testid="context-preview"]');
    await page.selectOption('[data-testid="context-project"]', 'webapp');
    await waitFor(async () => Number(await page.getAttribute('[data-testid="context-preview"]', 'data-tokens')) > 0, { what: 'a preview for webapp' });
    const wide = Number(await page.getAttribute('[data-testid="context-preview"]', 'data-tokens'));
    const shown = (await page.innerText('[data-testid="context-preview-text"]')).length;
    await page.fill('[data-testid="setting-context.budget_tokens"] input', '200');
    await waitFor(async () => (await page.getAttribute('[data-testid="context-preview"]', 'data-budget')) === '200', { what: 'the preview rebuilt for 200 tokens' });
    const narrow = Number(await page.getAttribute('[data-testid="context-preview"]', 'data-tokens'));
    assert.ok(narrow <= 200 && narrow < wide, `tokens ${wide} → ${narrow}`);
    assert.ok((await page.innerText('[data-testid="context-preview-text"]')).length < shown, 'the text shrank');
    await page.locator('[data-testid="context-preview"]').scrollIntoViewIfNeeded();
    await shot('settings-context-preview');
    await page.click('text=Discard');
    await waitFor(async () => (await page.getAttribute('[data-testid="context-preview"]', 'data-budget')) !== '200', { what: 'the saved budget again' });
  }, { needs: ['/api/context?project=webapp'], notOnTeam: 'no context settings to edit (the context page is checked instead)' });

  await check('settings: restart the worker applies what waits for a restart', async () => {
    await goto('settings');
    const sel = '[data-testid="setting-compression.daily_budget_usd"] input';
    await page.waitForSelector(sel);
    await page.fill(sel, '4.75');
    await page.click('[data-testid="settings-save"]');
    await page.waitForSelector('[data-testid="restart-pending"]');
    assert.match(await page.innerText('[data-testid="restart-pending"]'), /compression\.daily_budget_usd/);
    assert.notEqual((await api('/api/costs')).body.budget.daily_usd, 4.75, 'not running before the restart');
    const pid = (await api('/api/health')).body.pid;
    await page.click('[data-testid="restart-worker"]');
    await page.waitForSelector('[data-testid="settings-notice"]:has-text("Restarted")', { timeout: 30000 });
    assert.equal(await page.locator('[data-testid="restart-pending"]').count(), 0, 'nothing waits any more');
    assert.equal((await api('/api/costs')).body.budget.daily_usd, 4.75, 'the new budget runs');
    assert.equal((await api('/api/health')).body.pid, pid, 'the same process');
  }, { needs: ['/api/settings'], notOnTeam: 'no restart from the viewer' });

  await check('logs: recent worker lines, filtered by level', async () => {
    await goto('logs');
    await page.waitForSelector('[data-testid="log-line"]');
    const levels = await page.locator('[data-testid="log-line"]').evaluateAll((els) => els.map((e) => e.dataset.level));
    assert.ok(levels.length > 0 && levels.every((l) => ['info', 'warn', 'error'].includes(l)), `levels: ${levels.join(',')}`);
    assert.match(await page.innerText('[data-testid="log-lines"]'), /restart|worker listening/);
    await shot('logs');
    await page.selectOption('[data-testid="logs-level"]', 'error');
    await waitFor(async () => {
      const ls = await page.locator('[data-testid="log-line"]').evaluateAll((els) => els.map((e) => e.dataset.level));
      return ls.every((l) => l === 'error') && ((await page.locator('[data-testid="logs-empty"]').count()) > 0 || ls.length > 0);
    }, { what: 'errors only' });
  }, { needs: ['/api/logs'], notOnTeam: 'no worker log in the viewer' });

  await check('setup: the first-run checklist states what the worker knows', async () => {
    await goto('health');
    await page.waitForSelector('[data-testid="setup"] [data-testid="setup-reached"]');
    assert.equal(await page.getAttribute('[data-testid="setup-reached"]', 'data-state'), 'ok', 'events arrived');
    // The e2e HOME has no Claude Code settings: hooks are not installed, and the fix is named.
    assert.equal(await page.getAttribute('[data-testid="setup-hooks"]', 'data-state'), 'fail');
    assert.match(await page.innerText('[data-testid="setup-hooks"]'), /claude-mem install/);
    assert.equal(await page.getAttribute('[data-testid="setup-compressor"]', 'data-state'), 'ok');
    // The first run's offer: Connect Claude Code runs `claude-mem install --mcp` for this user.
    await page.click('[data-testid="connect-claude-code"]');
    await page.waitForSelector('[data-testid="setup-hooks"][data-state="ok"]', { timeout: 20000 });
    const settings = JSON.parse(fs.readFileSync(path.join(tmp, 'home', '.claude', 'settings.json'), 'utf8'));
    assert.match(JSON.stringify(settings.hooks.SessionStart), /claude-mem.*hook SessionStart/);
    const claudeJson = JSON.parse(fs.readFileSync(path.join(tmp, 'home', '.claude.json'), 'utf8'));
    assert.ok(claudeJson.mcpServers?.['claude-mem'], 'the MCP server is registered too');
    assert.equal(await page.locator('[data-testid="connect-claude-code"]').count(), 0, 'no offer once connected');
  }, { needs: ['/api/setup'], notOnTeam: 'no first-run checklist (hooks are set up on each laptop)' });

  await check('context: the page previews what SessionStart injects for a project', async () => {
    await goto('context');
    await page.waitForSelector('[data-testid="context-preview"]');
    await page.selectOption('[data-testid="context-project"]', 'acme-api');
    await page.waitForSelector('[data-testid="context-preview-text"]');
    const { body } = await api('/api/context?project=acme-api');
    await waitFor(async () => Number(await page.getAttribute('[data-testid="context-preview"]', 'data-tokens')) === body.context.tokens,
      { what: `the preview's tokens = /api/context's (${body.context.tokens})` });
    assert.ok(body.context.tokens > 0, 'acme-api has context');
    assert.match(await page.innerText('[data-testid="context-preview-text"]'), /db\.rs|WAL/);
    await shot('context');
  });

  await check('theme: the toggle overrides the system and is remembered', async () => {
    const { ctx, p } = await openPage({ colorScheme: 'light' });
    await goto('live', p);
    const dark = async () => {
      const [r, g, b] = (await p.evaluate(() => getComputedStyle(document.body).backgroundColor)).match(/\d+/g).map(Number);
      return r + g + b < 150;
    };
    assert.equal(await dark(), false);
    while ((await p.getAttribute('[data-testid="theme-toggle"]', 'data-theme')) !== 'dark') await p.click('[data-testid="theme-toggle"]');
    assert.equal(await dark(), true, 'dark on a light system');
    await p.reload();
    await p.waitForSelector('[data-testid="view-live"]');
    assert.equal(await dark(), true, 'kept across a reload');
    await p.click('[data-testid="theme-toggle"]');
    assert.equal(await p.getAttribute('[data-testid="theme-toggle"]', 'data-theme'), 'system');
    assert.equal(await dark(), false);
    await ctx.close();
  });

  await check('costs: zero state matches /api/costs', async () => {
    await goto('costs');
    await page.waitForSelector('[data-testid="cost-today-usd"]');
    const { body } = await api('/api/costs?days=30');
    const r = body.report;
    const tokens = (t) => t.input_tokens + t.output_tokens + t.cache_write_tokens + t.cache_read_tokens;
    const val = async (id) => Number(await page.getAttribute(`[data-testid="${id}"]`, 'data-value'));
    assert.equal(await val('cost-today-usd'), r.today.cost_usd);
    assert.equal(await val('cost-month-usd'), r.month.cost_usd);
    assert.equal(await val('cost-today-tokens'), tokens(r.today));
    assert.equal(await val('cost-month-tokens'), tokens(r.month));
    assert.equal(await val('cost-today-calls'), r.today.calls);
    assert.equal(await val('cost-month-calls'), r.month.calls);
    assert.equal(await val('cost-cache-ratio'), r.cache_hit_ratio);
    assert.equal(await val('budget-daily'), body.budget.daily_usd);
    assert.equal(await val('budget-spent'), body.budget.spent_today_usd);
    if (r.today.cost_usd === 0) assert.equal((await page.locator('[data-testid="cost-today-usd"]').innerText()).trim(), '$0.00');
    if (r.period.calls === 0) await page.waitForSelector('[data-testid="costs-zero"]');
    assert.equal(await page.locator('[data-testid="cost-chart"] rect.bar').count(), 30);
    await shot('costs');
  });

  await check('health: status, queue, hashing embedder warning', async () => {
    await goto('health');
    await page.waitForSelector('[data-testid="health-status"]');
    const h = (await api('/api/health')).body;
    assert.equal((await page.locator('[data-testid="health-status"]').innerText()).trim(), h.status);
    assert.equal(Number(await page.getAttribute('[data-testid="health-queue"]', 'data-value')), team ? h.counts.pending_events : h.counts.pending);
    if (team) {
      // The team server's own figures: its backend, its embedder, the team's counts.
      assert.equal((await page.innerText('[data-testid="health-backend"]')).trim(), 'postgres');
      assert.equal(Number((await page.innerText('[data-testid="health-observations"]')).replace(/\D/g, '')), h.counts.observations);
      assert.match(await page.locator('[data-testid="health-embedder"]').innerText(), new RegExp(h.vectors.embedder));
      if (h.vectors.embedder.startsWith('hash')) {
        const warnings = await page.locator('[data-testid="health-warning"]').allInnerTexts();
        assert.ok(warnings.some((w) => /hashing embedder/i.test(w)), `warnings: ${warnings.join(' | ')}`);
        assert.equal(await page.getAttribute('[data-testid="health-badge"]', 'data-level'), 'warn');
      }
      assert.equal((await page.innerText('[data-testid="health-badge"]')).trim(), `queue ${h.counts.pending_events}`);
    }
    if (h.index) {
      assert.match(await page.locator('[data-testid="health-embedder"]').innerText(), new RegExp(h.index.embedder));
      if (h.index.embedder.startsWith('hash')) {
        const warnings = await page.locator('[data-testid="health-warning"]').allInnerTexts();
        assert.ok(warnings.some((w) => /hashing embedder/i.test(w)), `warnings: ${warnings.join(' | ')}`);
        assert.equal(await page.getAttribute('[data-testid="health-badge"]', 'data-level'), 'warn');
      }
    }
    await shot('health');
  });

  // The worker's background model download, driven through its states with a mocked /api/health (a real
  // download needs the network): the page shows the bar, polls every 2 s only while the model is busy,
  // and says the hook spool's backlog only while there is one.
  await check('health: search model download progress and hook spool (mocked health)', async () => {
    const real = (await api('/api/health')).body;
    const TOTAL = 90_868_376;
    const reason = 'model.safetensors missing; using the lexical hashing fallback (hash-384) — get the model with `claude-mem models download` for semantic search';
    const hashIndex = real.index ? { ...real.index, embedder: 'hash-384', embedder_fallback: reason } : null;
    const minilmIndex = real.index ? { ...real.index, embedder: 'minilm-l6-v2', embedder_fallback: null } : null;
    const model = (over) => ({ state: 'absent', bytes_done: 0, bytes_total: TOTAL, reembed_done: 0, reembed_total: 0, attempts: 1, last_error: null, ...over });
    let body = {
      ...real,
      index: hashIndex,
      model: model({ state: 'downloading', bytes_done: TOTAL / 4, endpoint: 'https://huggingface.co' }),
      spool: { backlog: 3, quarantined: 1 },
    };
    const asked = [];
    const { ctx, p } = await openPage();
    // No stream (it would push the real health every 5 s): the page falls back to asking.
    await p.route('**/api/stream*', (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"not_found"}' }));
    await p.route('**/api/health', (r) => {
      asked.push(Date.now());
      return r.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    });
    try {
      // The embedded viewer's sign-in already loaded the app (stream open, health fetched) before the
      // routes above existed; a hash change would keep that document, so start it afresh.
      await p.goto('about:blank');
      await goto('health', p);
      const text = async (id) => (await p.locator(`[data-testid="${id}"]`).innerText()).trim();
      await p.waitForSelector('[data-testid="model"][data-state="downloading"]');
      assert.equal(await text('model-status'), 'Downloading all-MiniLM-L6-v2');
      assert.equal(await text('model-progress-label'), '22.7 / 90.9 MB (25%)');
      assert.equal(await p.getAttribute('[data-testid="model-progress"]', 'aria-valuenow'), '25');
      // The index's reason says to run `models download`: not while the worker is downloading it.
      assert.ok(!(await p.textContent('[data-testid="view-health"]')).includes('claude-mem models download'), 'no download hint while downloading');
      assert.match(await text('health-spool'), /3 events waiting to be stored · 1 unreadable event set aside in spool\/quarantine/);
      await shot('health-model-download', p);
      await p.setViewportSize({ width: 400, height: 600 });
      await sleep(300);
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `tray: horizontal overflow of ${overflow}px`);
      await p.locator('[data-testid="model"]').scrollIntoViewIfNeeded();
      await shot('tray-health-model-download', p);
      await p.setViewportSize({ width: 1200, height: 800 });

      // Busy: asked every 2 s (the 5 s fallback poll alone would ask once or twice in 6 s).
      body = { ...body, model: model({ state: 'downloading', bytes_done: TOTAL / 2, endpoint: 'https://huggingface.co' }) };
      await waitFor(async () => (await text('model-progress-label')) === '45.4 / 90.9 MB (50%)', { timeout: 4000, what: 'the bar at 50% within one 2 s poll' });
      const t0 = Date.now();
      await sleep(6000);
      const busyAsks = asked.filter((t) => t >= t0).length;
      assert.ok(busyAsks >= 3, `health asked ${busyAsks} times in 6 s while downloading`);

      body = { ...body, index: minilmIndex, model: model({ state: 'reembedding', bytes_done: TOTAL, reembed_done: 1200, reembed_total: 4800 }) };
      await waitFor(async () => (await text('model-status')) === 'Re-embedding memories 1,200 / 4,800', { timeout: 4000, what: 're-embedding progress' });
      assert.equal(await p.getAttribute('[data-testid="model-progress"]', 'aria-valuenow'), '25');

      body = { ...body, model: model({ state: 'installed', bytes_done: TOTAL, reembed_done: 4800, reembed_total: 4800 }), spool: { backlog: 0, quarantined: 0 } };
      await waitFor(async () => (await text('model-status')) === 'all-MiniLM-L6-v2 · semantic search on', { timeout: 4000, what: 'installed' });
      assert.equal(await p.locator('[data-testid="model-progress"]').count(), 0);
      assert.equal(await p.locator('[data-testid="health-spool"]').count(), 0, 'no spool line when nothing waits');
      // Idle again: back to the 5 s fallback poll.
      const t1 = Date.now();
      await sleep(6000);
      const idleAsks = asked.filter((t) => t >= t1).length;
      assert.ok(idleAsks <= 2, `health asked ${idleAsks} times in 6 s once installed`);

      body = { ...body, index: hashIndex, model: model({ state: 'failed', last_error: 'model.safetensors: SHA-256 mismatch' }) };
      await p.click('[data-testid="view-health"] .toolbar button');
      await p.waitForSelector('[data-testid="model"][data-state="failed"]');
      assert.match(await text('model-error'), /SHA-256 mismatch/);
      assert.equal(await text('model-hint'), 'claude-mem models download');
      assert.equal(await p.locator('[data-testid="model-retry"]').count(), 0);
      const page = await p.textContent('[data-testid="view-health"]');
      assert.equal(page.split('claude-mem models download').length - 1, 2, 'the hint once in the block, once in the warning');
      await shot('health-model-failed', p);
    } finally {
      await ctx.close();
    }
  }, { notOnTeam: 'no model download or hook spool (the laptop worker\'s)' });

  await check('theme: dark follows prefers-color-scheme', async () => {
    const { ctx, p } = await openPage({ colorScheme: 'dark' });
    await goto('live', p);
    await p.waitForSelector('[data-testid="observation-card"]');
    const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 150, `dark background, got ${bg}`);
    await shot('live-dark', p);
    await goto('costs', p);
    await p.waitForSelector('[data-testid="cost-chart"]');
    await shot('costs-dark', p);
    await ctx.close();
  });

  await check('responsive: 400x600 tray window', async () => {
    const { ctx, p } = await openPage({ viewport: { width: 400, height: 600 } });
    for (const view of ['live', 'search?q=db.rs', 'sessions', 'costs', team ? 'context' : 'settings', 'health']) {
      await goto(view, p);
      await sleep(400);
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `${view}: horizontal overflow of ${overflow}px`);
      await shot(`tray-${view.split('?')[0]}`, p);
    }
    await goto('live', p);
    await p.click('[data-testid="observation-card"] >> nth=0');
    await p.waitForSelector('[data-testid="detail-title"]');
    const box = await p.locator('[data-testid="detail"]').boundingBox();
    assert.ok(box && box.width >= 380, `detail is full width in the tray, got ${box?.width}`);
    await shot('tray-detail', p);
    await ctx.close();
  });

  // The worker goes away and comes back (same data, same port): every page that failed meanwhile loads
  // again by itself, within 3 s of the worker answering, with no click.
  await check('pages recover within 3 s of the worker\'s return', async () => {
    const views = [
      ['live', '[data-testid="observation-card"]'],
      ['search?q=db.rs', '[data-testid="search-results"] [data-testid="observation-card"]'],
      ['sessions', '[data-testid="session-row"]'],
      ['costs', '[data-testid="cost-today-usd"]'],
      ['settings', '[data-testid="settings-form"]'],
      ['health', '[data-testid="health-status"][data-status="ok"]'],
      ['logs', '[data-testid="log-line"]'],
    ];
    // A context per page: each holds a live stream, and Chromium allows six connections per host and
    // profile, so seven tabs of one profile would queue the seventh.
    const opened = [];
    for (let i = 0; i < views.length; i++) opened.push(await openPage());
    const pages = opened.map((o) => o.p);
    try {
      for (const p of pages) await goto('live', p);
      await pages[0].waitForSelector('[data-testid="observation-card"]');
      await killWorkerGroup();
      // In-app navigation (the viewer is loaded): each page asks the worker that is not there.
      for (let i = 0; i < views.length; i++) await pages[i].evaluate((h) => { location.hash = h; }, `#/${views[i][0]}`);
      for (let i = 0; i < views.length; i++) {
        const p = pages[i];
        await waitFor(async () => (await p.innerText('[data-testid="health-badge"]')).trim() === 'offline', { what: `${views[i][0]} offline` });
        if (i > 0 && views[i][0] !== 'health') await p.waitForSelector('.notice.error [data-testid="retry"]', { timeout: 10000 });
      }
      assert.equal(await pages[5].getAttribute('[data-testid="health-status"]', 'data-status'), 'offline', 'not "ok" in red while offline');
      await shot('offline-sessions', pages[2]);
      spawnWorker('a');
      await waitFor(async () => (await fetch(`${workerBase}/api/health`)).ok, { timeout: 30000, interval: 25, what: 'the worker back' });
      const t0 = Date.now();
      const took = await Promise.all(pages.map(async (p, i) => {
        await p.waitForSelector(views[i][1], { timeout: 15000 });
        await waitFor(async () => (await p.locator('.notice.error').count()) === 0, { interval: 50, what: `${views[i][0]} without an error` });
        return [views[i][0], Date.now() - t0];
      }));
      log(`  recovery: ${took.map(([v, ms]) => `${v} ${ms} ms`).join(', ')}`);
      for (const [v, ms] of took) assert.ok(ms <= 3000, `${v} recovered ${ms} ms after the worker returned`);
    } finally {
      for (const o of opened) await o.ctx.close();
    }
  }, { notOnTeam: 'this run neither starts nor stops the team server' });

  await check('screenshots: every page at 1280x800 and 420x700, light and dark', async () => {
    const views = [
      ['live', '[data-testid="observation-card"]'],
      ['search?q=WAL', '[data-testid="search-results"] [data-testid="observation-card"]'],
      ['sessions', '[data-testid="session-row"]'],
      [`sessions/${SESSION_A}`, '[data-testid="timeline"]'],
      ['costs', '[data-testid="cost-chart"]'],
      ...(team ? [['context', '[data-testid="context-preview-text"]']] : [['settings', '[data-testid="settings-form"]']]),
      ['health', '[data-testid="health-status"]'],
      ...(team ? [] : [['logs', '[data-testid="log-line"]']]),
    ];
    for (const colorScheme of ['light', 'dark']) {
      // A team run keeps to two of the four (light wide, dark narrow): it is about the team's pages.
      for (const [width, height] of (team ? (colorScheme === 'light' ? [[1280, 800]] : [[420, 700]]) : [[1280, 800], [420, 700]])) {
        const { ctx, p } = await openPage({ colorScheme, viewport: { width, height } });
        try {
          for (const [v, sel] of views) {
            await goto(v, p);
            await p.waitForSelector(sel);
            await sleep(350);
            if (width < 500) {
              const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
              assert.ok(overflow <= 0, `${v} at ${width}px: horizontal overflow of ${overflow}px`);
            }
            const name = v.startsWith('sessions/') ? 'session' : v.split('?')[0];
            await shot(`page-${name}-${width}x${height}-${colorScheme}`, p);
          }
        } finally {
          await ctx.close();
        }
      }
    }
  });

  await check('no request leaves the worker origin', async () => {
    const origin = new URL(pageBase).origin;
    const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(foreign, [], 'foreign requests');
    assert.ok(requests.length > 10, 'requests were recorded');
  });

  // A second worker compresses with "Anthropic" (a local server speaking its wire format): the cost page
  // must show exactly the calls and tokens the API reported, and the dollars the worker recorded for them.
  await check('costs: page matches the LLM usage (mock Anthropic API)', async () => {
    const mock = await startMockAnthropic();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-mem-e2e-llm-'));
    const port = await freePort();
    const proc = spawn(bin, ['serve'], {
      env: {
        ...process.env,
        CLAUDE_MEM_DATA_DIR: path.join(dir, 'data'),
        CLAUDE_MEM_PORT: String(port),
        CLAUDE_MEM_COMPRESSOR: 'anthropic',
        ANTHROPIC_API_KEY: 'sk-ant-e2e-not-a-real-key',
        CLAUDE_MEM_ANTHROPIC_BASE_URL: mock.url,
        CLAUDE_MEM_EMBEDDER: 'hash',
        CLAUDE_MEM_BATCH_LINGER_MS: '0',
        CLAUDE_MEM_LOG_LEVEL: 'warn',
        HOME: dir,
      },
      detached: true,
      stdio: 'ignore',
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(async () => (await fetch(`${base}/api/health`)).ok, { timeout: 30000, what: 'LLM worker health' });
      const tok = tokenOf(path.join(dir, 'data'));
      const post = async (event, body) => {
        const r = await fetch(`${base}/hooks/${event}`, withToken(tok, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
        assert.equal(r.status, 200, `${event}: ${await r.text()}`);
      };
      const cwd = '/home/dev/work/billing';
      await post('UserPromptSubmit', { session_id: 'llm-1', cwd, prompt: 'add VAT to invoices' });
      for (let i = 0; i < 3; i++) {
        await post('PostToolUse', {
          session_id: 'llm-1', cwd, tool_name: 'Edit', tool_use_id: `llm-edit-${i}`,
          tool_input: { file_path: `${cwd}/src/invoice_${i}.rs`, old_string: 'total', new_string: 'total_with_vat' }, tool_response: {},
        });
      }
      await post('Stop', { session_id: 'llm-1', cwd, stop_hook_active: false, last_assistant_message: 'VAT added.' });
      await waitFor(async () => {
        const h = await (await fetch(`${base}/api/health`, withToken(tok))).json();
        return h.counts.pending === 0 && h.counts.observations > 0;
      }, { timeout: 30000, what: 'LLM compression done' });
      assert.ok(mock.tally.calls >= 2, `LLM calls: ${mock.tally.calls}`);
      assert.equal(mock.tally.requests[0].headers['x-api-key'], 'sk-ant-e2e-not-a-real-key');
      const costs = await (await fetch(`${base}/api/costs?days=30`, withToken(tok))).json();
      const { ctx, p } = await openPage({ signedOut: true });
      await p.goto(await signInUrl(base, tok));
      await p.goto(`${base}/#/costs`);
      await p.waitForSelector('[data-testid="cost-chart"]');
      const val = async (id) => Number(await p.getAttribute(`[data-testid="${id}"]`, 'data-value'));
      const tokens = mock.tally.input_tokens + mock.tally.output_tokens + mock.tally.cache_write_tokens + mock.tally.cache_read_tokens;
      await waitFor(async () => (await val('cost-today-calls')) === mock.tally.calls, { what: 'calls on the page' });
      assert.equal(await val('cost-today-tokens'), tokens, 'tokens = what the API reported');
      assert.equal(await val('cost-month-tokens'), tokens);
      assert.equal(await val('cost-today-usd'), costs.report.today.cost_usd, 'USD = what the worker recorded');
      assert.ok(costs.report.today.cost_usd > 0, 'a priced model costs something');
      const expectedRatio = mock.tally.cache_read_tokens / (mock.tally.input_tokens + mock.tally.cache_read_tokens + mock.tally.cache_write_tokens);
      assert.ok(Math.abs((await val('cost-cache-ratio')) - expectedRatio) < 1e-9, `cache ratio ${await val('cost-cache-ratio')} vs ${expectedRatio}`);
      assert.equal(await val('budget-spent'), costs.budget.spent_today_usd);
      await shot('costs-with-usage', p);
      await ctx.close();
    } finally {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await mock.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, { notOnTeam: 'it starts a laptop worker of its own with a mock LLM' });

  // Without the one-time link a browser sees how to sign in, never the data; a link works once.
  if (mode === 'embedded') {
    await check('auth: a browser without the cookie gets the sign-in page; a link works once', async () => {
      const { ctx, p } = await openPage({ signedOut: true });
      const bare = await p.goto(`${workerBase}/`);
      assert.equal(bare.status(), 401);
      await p.waitForSelector('[data-testid="sign-in"]');
      assert.match(await p.textContent('body'), /claude-mem open/);
      const api = await p.goto(`${workerBase}/api/observations`);
      assert.equal(api.status(), 401);
      const link = await signInUrl();
      await p.goto(link);
      await p.waitForSelector('[data-testid="view-live"]');
      assert.equal(new URL(p.url()).search, '', 'the code is not left in the address bar');
      const { ctx: other, p: q } = await openPage({ signedOut: true });
      const again = await q.goto(link);
      assert.equal(again.status(), 401, 'a used link lets nobody else in');
      await q.waitForSelector('[data-testid="sign-in"]');
      await other.close();
      await ctx.close();
    });
  }

  if (mode === 'team') {
    await check('auth (team): without the cookie the sign-in form; a wrong token is refused, the right one lets in', async () => {
      const { ctx, p } = await openPage({ signedOut: true });
      try {
        const bare = await p.goto(pageBase);
        assert.equal(bare.status(), 401);
        await p.waitForSelector('[data-testid="team-sign-in"]');
        assert.equal(await p.locator('[data-testid="view-live"]').count(), 0, 'no viewer without the cookie');
        const data = await p.goto(`${workerBase}/api/observations`);
        assert.equal(data.status(), 401, 'no data without the cookie');
        await p.goto(pageBase);
        const wrong = await submitTeamToken(p, `cm_${'0'.repeat(64)}`);
        assert.equal(wrong.status(), 401, 'a wrong token is refused');
        await p.waitForSelector('[data-testid="team-sign-in"]');
        assert.match(await p.textContent('body'), /unknown or revoked/);
        assert.deepEqual((await ctx.cookies()).filter((c) => c.name === 'claude_mem_session'), [], 'no cookie for a wrong token');
        await p.goto(pageBase);
        await p.waitForSelector('[data-testid="team-sign-in"]');
        await submitTeamToken(p, token);
        await p.waitForSelector('[data-testid="view-live"] [data-testid="observation-card"]');
        const cookie = (await ctx.cookies()).find((c) => c.name === 'claude_mem_session');
        assert.ok(cookie?.httpOnly, 'the session cookie is HttpOnly');
        assert.equal(await p.evaluate(() => document.cookie.includes('claude_mem_session')), false, 'scripts cannot read it');
        await shot('team-signed-in', p);
      } finally {
        await ctx.close();
      }
    });

    if (!otherTeamToken) {
      results.push({ name: "team: another team's memory never shows", status: 'SKIP', detail: 'E2E_TEAM_OTHER_TOKEN not set' });
      log("SKIP team: another team's memory never shows (E2E_TEAM_OTHER_TOKEN not set)");
    } else await check("team: another team's memory never shows", async () => {
      const title = 'Otter ledger rotation of the rival team';
      const res = await fetch(`${workerBase}/api/memories`, withToken(otherTeamToken, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'The rival team rotates the otter ledger weekly.', title, project: 'acme-api' }),
      }));
      assert.ok(res.ok, await res.text());
      // The other team finds it; this team's viewer does not.
      const theirs = await (await fetch(`${workerBase}/api/search?q=otter&mode=text`, withToken(otherTeamToken))).json();
      assert.ok(theirs.results.length > 0, 'the other team finds its memory');
      await page.goto(`${pageBase}#/search?q=otter&mode=text`);
      await page.waitForSelector('[data-testid="search-no-results"]');
      await goto('live');
      await page.waitForSelector('[data-testid="observation-card"]');
      await sleep(500);
      assert.ok(!(await page.innerText('[data-testid="feed"]')).includes('Otter'), 'not in the live feed');
    });

    await check('team: the viewer never asked for a route the team server lacks', async () => {
      const asked = [...new Set(requests.filter((u) => LAPTOP_ONLY.test(new URL(u).pathname)).map((u) => new URL(u).pathname))];
      assert.deepEqual(asked, [], 'laptop-only routes requested');
    });
  }

  await check('no uncaught page errors', async () => {
    assert.deepEqual(pageErrors, []);
  });
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  console.error('[e2e] setup failed:', e);
  exitCode = 2;
} finally {
  await browser?.close().catch(() => {});
  await viewer?.close().catch(() => {});
  await killWorkerGroup();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}

if (screenshotsDir && shots.length) {
  try {
    fs.mkdirSync(screenshotsDir, { recursive: true });
    for (const f of shots) fs.copyFileSync(f, path.join(screenshotsDir, path.basename(f)));
    log(`${shots.length} screenshots in ${artifacts} (copied to ${screenshotsDir})`);
  } catch (e) {
    log(`could not copy screenshots: ${e.message}`);
  }
}

console.log(`\n[e2e] mode=${mode ?? '?'}  results:`);
for (const r of results) console.log(`  ${r.status.padEnd(4)}  ${r.name}${r.detail ? `  (${r.detail})` : ''}`);
if (consoleErrors.length) console.log(`[e2e] browser console errors (expected for 404s of missing endpoints):\n  ${[...new Set(consoleErrors)].slice(0, 10).join('\n  ')}`);
const failed = results.filter((r) => r.status === 'FAIL' || (strict && r.status === 'SKIP'));
if (failed.length) exitCode ||= 1;
console.log(`[e2e] ${results.filter((r) => r.status === 'PASS').length} passed, ${results.filter((r) => r.status === 'FAIL').length} failed, ${results.filter((r) => r.status === 'SKIP').length} skipped${team ? `, ${results.filter((r) => r.status === 'N/A').length} not applicable to a team server` : ''}`);
process.exit(exitCode);
