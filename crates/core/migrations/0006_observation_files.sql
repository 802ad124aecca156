-- The files each observation read or modified, by base name, so "which memories touched src/db.rs?" is an
-- index lookup instead of a scan of every observation's JSON file lists. File context asks it before every
-- Read and Edit (issue 21), search's `file=` on every such query. Kept by triggers: an observation's rows
-- come with its insert (or an edit of its file lists) and go with its delete (the foreign key cascades).
-- The name is the part after the last '/' (SQLite has no string reverse: the directory prefix is what
-- rtrim leaves when it strips every non-'/' character from the end; backslashes count as '/'); the caller
-- checks the whole path.
CREATE TABLE observation_files (
    observation_id INTEGER NOT NULL REFERENCES observations (id) ON DELETE CASCADE,
    name           TEXT NOT NULL
);
CREATE INDEX idx_observation_files_name ON observation_files (name, observation_id);
CREATE INDEX idx_observation_files_observation ON observation_files (observation_id);

CREATE TRIGGER observation_files_insert AFTER INSERT ON observations BEGIN
    INSERT INTO observation_files (observation_id, name)
    SELECT DISTINCT NEW.id, replace(v, rtrim(v, replace(v, '/', '')), '')
    FROM (SELECT replace(value, '\', '/') AS v
          FROM json_each(CASE WHEN json_valid(NEW.files_read) THEN NEW.files_read ELSE '[]' END)
          WHERE typeof(value) = 'text'
          UNION
          SELECT replace(value, '\', '/')
          FROM json_each(CASE WHEN json_valid(NEW.files_modified) THEN NEW.files_modified ELSE '[]' END)
          WHERE typeof(value) = 'text')
    WHERE v <> '';
END;

CREATE TRIGGER observation_files_update AFTER UPDATE OF files_read, files_modified ON observations BEGIN
    DELETE FROM observation_files WHERE observation_id = NEW.id;
    INSERT INTO observation_files (observation_id, name)
    SELECT DISTINCT NEW.id, replace(v, rtrim(v, replace(v, '/', '')), '')
    FROM (SELECT replace(value, '\', '/') AS v
          FROM json_each(CASE WHEN json_valid(NEW.files_read) THEN NEW.files_read ELSE '[]' END)
          WHERE typeof(value) = 'text'
          UNION
          SELECT replace(value, '\', '/')
          FROM json_each(CASE WHEN json_valid(NEW.files_modified) THEN NEW.files_modified ELSE '[]' END)
          WHERE typeof(value) = 'text')
    WHERE v <> '';
END;

-- Observations stored before this migration.
INSERT INTO observation_files (observation_id, name)
SELECT DISTINCT id, replace(v, rtrim(v, replace(v, '/', '')), '')
FROM (SELECT o.id AS id, replace(f.value, '\', '/') AS v
      FROM observations o, json_each(CASE WHEN json_valid(o.files_read) THEN o.files_read ELSE '[]' END) f
      WHERE typeof(f.value) = 'text'
      UNION
      SELECT o.id, replace(f.value, '\', '/')
      FROM observations o, json_each(CASE WHEN json_valid(o.files_modified) THEN o.files_modified ELSE '[]' END) f
      WHERE typeof(f.value) = 'text')
WHERE v <> '';
