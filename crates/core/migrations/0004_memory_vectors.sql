-- Durable vectors (issue 22): each memory's embedding, per embedder, so the vector graph under index/ is a
-- cache that can be rebuilt from here without calling the model, and a new embedder can fill its own rows
-- in the background while the old embedder's keep serving.
--
-- `source` is the table the memory lives in ('observation', 'summary', 'prompt') and `row_id` its id there.
-- `encoding` 0 is `dim` little-endian f32s; 1 is a little-endian f32 scale followed by `dim` int8s
-- (value = scale * q). `project`, `kind` and `created_at` are the filter metadata the graph was given
-- when the vector was indexed, so a rebuild needs no other table.
CREATE TABLE memory_vectors (
    embedder   TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    row_id     INTEGER NOT NULL,
    dim        INTEGER NOT NULL,
    encoding   INTEGER NOT NULL,
    vector     BLOB    NOT NULL,
    project    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (embedder, source, row_id)
);

-- A deleted memory takes its vectors with it (ids of deleted rows can be reused by SQLite, and a stale
-- vector would then describe another memory). Cascades from a deleted session fire these too.
CREATE TRIGGER memory_vectors_observation_gone AFTER DELETE ON observations BEGIN
    DELETE FROM memory_vectors WHERE source = 'observation' AND row_id = OLD.id;
END;
CREATE TRIGGER memory_vectors_summary_gone AFTER DELETE ON session_summaries BEGIN
    DELETE FROM memory_vectors WHERE source = 'summary' AND row_id = OLD.id;
END;
CREATE TRIGGER memory_vectors_prompt_gone AFTER DELETE ON user_prompts BEGIN
    DELETE FROM memory_vectors WHERE source = 'prompt' AND row_id = OLD.id;
END;
