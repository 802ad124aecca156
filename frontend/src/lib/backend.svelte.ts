// Which kind of server the viewer talks to, learnt from `/api/health`: the laptop worker (SQLite, its
// health has no `backend`) or a team server (`backend: "postgres"`). A team server serves the memory
// routes (observations, sessions, search, stream, costs, context, edit and forget) but none of the
// laptop's own: settings, setup, logs, capture, admin (retry, restart, reindex), sessions off. In team
// mode the viewer neither shows nor asks for those.

import { isTeamHealth } from './health';

export const backend = $state({
  /** Health has answered once: `team` is what the server is, not a guess. */
  known: false,
  team: false,
});

export function noteBackend(h: { backend?: unknown } | null): void {
  if (!h) return;
  const team = isTeamHealth(h);
  if (backend.team !== team) backend.team = team;
  if (!backend.known) backend.known = true;
}
