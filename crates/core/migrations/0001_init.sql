-- The record of truth. Full text and vectors live in derived indexes, never here.
-- Times are Unix epoch milliseconds (UTC).

CREATE TABLE sdk_sessions (
    id                 TEXT PRIMARY KEY,          -- Claude Code's session_id
    project            TEXT NOT NULL,
    cwd                TEXT NOT NULL DEFAULT '',
    transcript_path    TEXT,
    started_at         INTEGER NOT NULL,
    last_seen_at       INTEGER NOT NULL,
    ended_at           INTEGER,
    end_reason         TEXT,
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    event_count        INTEGER NOT NULL DEFAULT 0,
    prompt_count       INTEGER NOT NULL DEFAULT 0,
    observation_count  INTEGER NOT NULL DEFAULT 0,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_sessions_project_seen ON sdk_sessions (project, last_seen_at DESC);
CREATE INDEX idx_sessions_seen ON sdk_sessions (last_seen_at DESC);

CREATE TABLE user_prompts (
    id             INTEGER PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sdk_sessions (id) ON DELETE CASCADE,
    prompt_number  INTEGER NOT NULL,
    prompt_id      TEXT,
    text           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (session_id, prompt_number)
);

-- The durable ingest queue: written before a hook is acknowledged.
CREATE TABLE pending_messages (
    id             INTEGER PRIMARY KEY,
    event_key      TEXT NOT NULL UNIQUE,          -- idempotency: a redelivered event hits this
    session_id     TEXT NOT NULL REFERENCES sdk_sessions (id) ON DELETE CASCADE,
    event_name     TEXT NOT NULL,
    tool_name      TEXT,
    prompt_number  INTEGER NOT NULL DEFAULT 0,
    payload        TEXT NOT NULL,                 -- the hook JSON as received (after privacy filtering)
    state          TEXT NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'processing', 'done', 'skipped', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    next_attempt_at INTEGER,
    created_at     INTEGER NOT NULL,
    processed_at   INTEGER
);
CREATE INDEX idx_pending_session ON pending_messages (session_id, id);
CREATE INDEX idx_pending_state ON pending_messages (state, id);

CREATE TABLE observations (
    id              INTEGER PRIMARY KEY,
    session_id      TEXT NOT NULL REFERENCES sdk_sessions (id) ON DELETE CASCADE,
    project         TEXT NOT NULL,
    prompt_number   INTEGER NOT NULL DEFAULT 0,
    type            TEXT NOT NULL
                    CHECK (type IN ('decision', 'bugfix', 'feature', 'refactor', 'discovery', 'change')),
    title           TEXT NOT NULL,
    subtitle        TEXT NOT NULL DEFAULT '',
    narrative       TEXT NOT NULL DEFAULT '',
    facts           TEXT NOT NULL DEFAULT '[]',   -- JSON arrays of strings
    concepts        TEXT NOT NULL DEFAULT '[]',
    files_read      TEXT NOT NULL DEFAULT '[]',
    files_modified  TEXT NOT NULL DEFAULT '[]',
    keywords        TEXT NOT NULL DEFAULT '[]',
    source_event_ids TEXT NOT NULL DEFAULT '[]',
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    compressor      TEXT NOT NULL,
    model           TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX idx_observations_project_created ON observations (project, created_at DESC);
CREATE INDEX idx_observations_session ON observations (session_id, id);
CREATE INDEX idx_observations_created ON observations (created_at DESC);

CREATE TABLE session_summaries (
    id             INTEGER PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sdk_sessions (id) ON DELETE CASCADE,
    project        TEXT NOT NULL,
    prompt_number  INTEGER NOT NULL DEFAULT 0,
    request        TEXT NOT NULL DEFAULT '',
    investigated   TEXT NOT NULL DEFAULT '',
    learned        TEXT NOT NULL DEFAULT '',
    completed      TEXT NOT NULL DEFAULT '',
    next_steps     TEXT NOT NULL DEFAULT '',
    compressor     TEXT NOT NULL,
    model          TEXT,
    created_at     INTEGER NOT NULL
);
CREATE INDEX idx_summaries_project_created ON session_summaries (project, created_at DESC);
CREATE INDEX idx_summaries_session ON session_summaries (session_id);

CREATE TABLE llm_usage (
    id                 INTEGER PRIMARY KEY,
    session_id         TEXT REFERENCES sdk_sessions (id) ON DELETE SET NULL,
    project            TEXT,
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    purpose            TEXT NOT NULL,            -- observation | summary | embedding
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cost_usd           REAL NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL
);
CREATE INDEX idx_llm_usage_created ON llm_usage (created_at);
