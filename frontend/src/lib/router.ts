// Hash routes: #/live, #/search?q=…, #/sessions, #/sessions/<id>, #/costs, #/settings, #/health, #/logs,
// and #/context (a team server's).
// `?project=` rides on every route: the one project filter all pages share, kept in the URL.

export const VIEWS = ['live', 'search', 'sessions', 'costs', 'settings', 'health', 'logs'] as const;
/** A team server's pages: no settings or logs (the operator's), the context preview on its own page. */
export const TEAM_VIEWS = ['live', 'search', 'sessions', 'costs', 'context', 'health'] as const;
/** Every route the viewer knows (`#/context` is the team's page). */
const ROUTES: readonly string[] = [...VIEWS, 'context'];
export type View = (typeof VIEWS)[number] | (typeof TEAM_VIEWS)[number];

export interface Route {
  view: View;
  param: string | null;
  query: Record<string, string>;
}

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#\/?/, '');
  const [path, search = ''] = h.split('?', 2);
  const [first, ...rest] = path.split('/');
  const view = ROUTES.includes(first) ? (first as View) : 'live';
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(search)) query[k] = v;
  const param = rest.length && rest.join('/') ? decodeURIComponent(rest.join('/')) : null;
  return { view, param: view === first ? param : null, query };
}

export function buildHash(view: View, param?: string | null, query?: Record<string, string | undefined>): string {
  let h = `#/${view}`;
  if (param) h += `/${encodeURIComponent(param)}`;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `${h}?${s}` : h;
}

/** The hash of `view` keeping the global project filter (and nothing else of the current query). */
export function viewHash(view: View, project: string | undefined, param?: string | null): string {
  return buildHash(view, param, { project });
}
