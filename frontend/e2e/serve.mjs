// A tiny static server for `dist/` that proxies `/api` and `/hooks` to a claude-mem worker.
// Used by the e2e until the worker embeds the viewer, and handy in development:
//   CLAUDE_MEM_URL=http://127.0.0.1:37777 node e2e/serve.mjs [port]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

function proxy(req, res, target, token) {
  const url = new URL(req.url, target);
  const headers = { ...req.headers, host: url.host };
  // The worker accepts only its own origin and wants its API token: this dev proxy speaks for the page.
  if (token) {
    headers.authorization = `Bearer ${token}`;
    delete headers.origin;
  }
  const up = http.request(url, { method: req.method, headers }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.headers);
    upRes.pipe(res);
  });
  up.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'bad_gateway', reason: `worker unreachable: ${e.message}` }));
  });
  // An EventSource that goes away must not leave the upstream stream open.
  res.on('close', () => up.destroy());
  req.pipe(up);
}

function serveStatic(req, res, dist) {
  const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file = path.normalize(path.join(dist, pathname));
  if (!file.startsWith(dist)) {
    res.writeHead(403).end();
    return;
  }
  if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(dist, 'index.html');
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
  const cache = file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache';
  res.writeHead(200, { 'content-type': type, 'cache-control': cache });
  fs.createReadStream(file).pipe(res);
}

/** Starts the server; resolves to `{ url, close() }`. */
export function startViewerServer({ dist, target, token = process.env.CLAUDE_MEM_API_TOKEN, port = 0, host = '127.0.0.1' }) {
  const root = path.resolve(dist);
  const server = http.createServer((req, res) => {
    const p = req.url ?? '/';
    if (p.startsWith('/api/') || p === '/api' || p.startsWith('/hooks/') || p === '/metrics') proxy(req, res, target, token);
    else serveStatic(req, res, root);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      resolve({
        url: `http://${host}:${actual}/`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const target = process.env.CLAUDE_MEM_URL ?? 'http://127.0.0.1:37777';
  const port = Number(process.argv[2] ?? process.env.PORT ?? 5174);
  const { url } = await startViewerServer({ dist: path.join(here, '..', 'dist'), target, port });
  console.log(`viewer on ${url} (API proxied to ${target})`);
}
