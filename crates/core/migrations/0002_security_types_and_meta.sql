-- The security_alert and security_note observation types, and a small key/value table for the worker's
-- own state (the compressor configuration's fingerprint, which decides when parked events are retried).
--
-- SQLite cannot change a CHECK constraint in place: the observations table is rebuilt, same columns,
-- ids and indexes. No table references observations, so nothing else moves.

CREATE TABLE observations_new (
    id              INTEGER PRIMARY KEY,
    session_id      TEXT NOT NULL REFERENCES sdk_sessions (id) ON DELETE CASCADE,
    project         TEXT NOT NULL,
    prompt_number   INTEGER NOT NULL DEFAULT 0,
    type            TEXT NOT NULL
                    CHECK (type IN ('decision', 'bugfix', 'feature', 'refactor', 'discovery', 'change',
                                    'security_alert', 'security_note')),
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
INSERT INTO observations_new (id, session_id, project, prompt_number, type, title, subtitle, narrative,
    facts, concepts, files_read, files_modified, keywords, source_event_ids, input_tokens, output_tokens,
    compressor, model, created_at)
SELECT id, session_id, project, prompt_number, type, title, subtitle, narrative,
    facts, concepts, files_read, files_modified, keywords, source_event_ids, input_tokens, output_tokens,
    compressor, model, created_at
FROM observations;
DROP TABLE observations;
ALTER TABLE observations_new RENAME TO observations;
CREATE INDEX idx_observations_project_created ON observations (project, created_at DESC);
CREATE INDEX idx_observations_session ON observations (session_id, id);
CREATE INDEX idx_observations_created ON observations (created_at DESC);

CREATE TABLE worker_meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
