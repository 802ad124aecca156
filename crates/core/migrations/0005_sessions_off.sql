-- Sessions the user chose not to record (issue 21): started with CLAUDE_MEM=off, or turned off from inside
-- with /claude-mem:off. Nothing of such a session is stored; this row is all that is kept, so the viewer
-- can show the session as "not recorded" and events that still arrive for it are dropped.
CREATE TABLE sessions_off (
    session_id TEXT PRIMARY KEY,
    project    TEXT NOT NULL,
    cwd        TEXT NOT NULL DEFAULT '',
    how        TEXT NOT NULL CHECK (how IN ('env', 'command', 'api')),
    at         INTEGER NOT NULL
);
