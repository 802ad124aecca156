-- Team mode: the same record of truth as the embedded SQLite store (crates/core/migrations), shared by
-- several worker replicas. Every content row carries the team and user that own it; every read filters
-- by team. Times are Unix epoch milliseconds (UTC), as in SQLite, so rows copy across unchanged.

CREATE TABLE teams (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id          BIGSERIAL PRIMARY KEY,
    team_id     BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (team_id, name)
);

-- Only the SHA-256 of a token is kept: a leaked table does not leak working tokens.
CREATE TABLE api_tokens (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at  BIGINT
);

CREATE TABLE sdk_sessions (
    id                 TEXT PRIMARY KEY,          -- Claude Code's session_id
    team_id            BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id            BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project            TEXT NOT NULL,
    cwd                TEXT NOT NULL DEFAULT '',
    transcript_path    TEXT,
    started_at         BIGINT NOT NULL,
    last_seen_at       BIGINT NOT NULL,
    ended_at           BIGINT,
    end_reason         TEXT,
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    event_count        BIGINT NOT NULL DEFAULT 0,
    prompt_count       BIGINT NOT NULL DEFAULT 0,
    observation_count  BIGINT NOT NULL DEFAULT 0,
    input_tokens       BIGINT NOT NULL DEFAULT 0,
    output_tokens      BIGINT NOT NULL DEFAULT 0,
    -- The processing claim: the replica working on this session and until when (a lease, so a killed
    -- replica's sessions are taken over).
    claimed_by         TEXT,
    claimed_until      BIGINT
);
CREATE INDEX idx_sessions_team_project_seen ON sdk_sessions (team_id, project, last_seen_at DESC);

CREATE TABLE user_prompts (
    id             BIGSERIAL PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sdk_sessions (id) ON DELETE CASCADE,
    team_id        BIGINT NOT NULL,
    user_id        BIGINT NOT NULL,
    prompt_number  BIGINT NOT NULL,
    prompt_id      TEXT,
    text           TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    UNIQUE (session_id, prompt_number)
);

-- The durable ingest queue, written before a hook is acknowledged.
CREATE TABLE pending_messages (
    id             BIGSERIAL PRIMARY KEY,
    event_key      TEXT NOT NULL UNIQUE,          -- idempotency: a redelivered event hits this
    session_id     TEXT NOT NULL REFERENCES sdk_sessions (id) ON DELETE CASCADE,
    team_id        BIGINT NOT NULL,
    user_id        BIGINT NOT NULL,
    event_name     TEXT NOT NULL,
    tool_name      TEXT,
    prompt_number  BIGINT NOT NULL DEFAULT 0,
    payload        JSONB NOT NULL,
    state          TEXT NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'processing', 'done', 'skipped', 'failed')),
    attempts       BIGINT NOT NULL DEFAULT 0,
    last_error     TEXT,
    next_attempt_at BIGINT,
    created_at     BIGINT NOT NULL,
    processed_at   BIGINT
);
CREATE INDEX idx_pending_session ON pending_messages (session_id, id);
CREATE INDEX idx_pending_due ON pending_messages (id) WHERE state = 'pending';

CREATE TABLE observations (
    id              BIGSERIAL PRIMARY KEY,
    session_id      TEXT NOT NULL REFERENCES sdk_sessions (id) ON DELETE CASCADE,
    team_id         BIGINT NOT NULL,
    user_id         BIGINT NOT NULL,
    project         TEXT NOT NULL,
    prompt_number   BIGINT NOT NULL DEFAULT 0,
    type            TEXT NOT NULL
                    CHECK (type IN ('decision', 'bugfix', 'feature', 'refactor', 'discovery', 'change')),
    title           TEXT NOT NULL,
    subtitle        TEXT NOT NULL DEFAULT '',
    narrative       TEXT NOT NULL DEFAULT '',
    facts           JSONB NOT NULL DEFAULT '[]',
    concepts        JSONB NOT NULL DEFAULT '[]',
    files_read      JSONB NOT NULL DEFAULT '[]',
    files_modified  JSONB NOT NULL DEFAULT '[]',
    keywords        JSONB NOT NULL DEFAULT '[]',
    source_event_ids JSONB NOT NULL DEFAULT '[]',
    input_tokens    BIGINT NOT NULL DEFAULT 0,
    output_tokens   BIGINT NOT NULL DEFAULT 0,
    compressor      TEXT NOT NULL,
    model           TEXT,
    created_at      BIGINT NOT NULL,
    -- PostgreSQL's own full text: title weighs most, then the subtitle and keywords, then the rest.
    search_tsv      TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', subtitle || ' ' || (keywords #>> '{}')), 'B') ||
        setweight(to_tsvector('english', narrative || ' ' || (facts #>> '{}') || ' ' || (concepts #>> '{}')
                  || ' ' || (files_read #>> '{}') || ' ' || (files_modified #>> '{}')), 'C')
    ) STORED,
    -- The embedding (NULL until a replica computed it) and which embedder made it. Without pgvector
    -- this array is the vectors' record of truth; each replica derives its hnsw_rs graph from it.
    embedding       REAL[],
    embedder        TEXT
);
CREATE INDEX idx_observations_team_project_created ON observations (team_id, project, created_at DESC);
CREATE INDEX idx_observations_session ON observations (session_id, id);
CREATE INDEX idx_observations_tsv ON observations USING GIN (search_tsv);
CREATE INDEX idx_observations_unembedded ON observations (id) WHERE embedding IS NULL;

-- Every replica keeps its vector graph current from these notifications (payload: the observation id).
CREATE FUNCTION notify_observation_embedded() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('claude_mem_embedded', NEW.id::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER observations_embedded AFTER UPDATE OF embedding ON observations
    FOR EACH ROW WHEN (NEW.embedding IS NOT NULL AND OLD.embedding IS DISTINCT FROM NEW.embedding)
    EXECUTE FUNCTION notify_observation_embedded();

CREATE TABLE session_summaries (
    id             BIGSERIAL PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sdk_sessions (id) ON DELETE CASCADE,
    team_id        BIGINT NOT NULL,
    user_id        BIGINT NOT NULL,
    project        TEXT NOT NULL,
    prompt_number  BIGINT NOT NULL DEFAULT 0,
    request        TEXT NOT NULL DEFAULT '',
    investigated   TEXT NOT NULL DEFAULT '',
    learned        TEXT NOT NULL DEFAULT '',
    completed      TEXT NOT NULL DEFAULT '',
    next_steps     TEXT NOT NULL DEFAULT '',
    compressor     TEXT NOT NULL,
    model          TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX idx_summaries_team_project_created ON session_summaries (team_id, project, created_at DESC);
CREATE INDEX idx_summaries_session ON session_summaries (session_id);

CREATE TABLE llm_usage (
    id                 BIGSERIAL PRIMARY KEY,
    session_id         TEXT REFERENCES sdk_sessions (id) ON DELETE SET NULL,
    team_id            BIGINT,
    project            TEXT,
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    purpose            TEXT NOT NULL,
    input_tokens       BIGINT NOT NULL DEFAULT 0,
    output_tokens      BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens  BIGINT NOT NULL DEFAULT 0,
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL
);
CREATE INDEX idx_llm_usage_created ON llm_usage (created_at);
