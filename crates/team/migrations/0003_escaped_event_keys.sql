-- Dedup keys escape `\` and `:` in the session and the id (`\\`, `\:`), as the SQLite store's migration
-- 0003 and `hook_event::event_key` do: `a:b` + `c` and `a` + `b:c` no longer share a key. Existing keys
-- are rewritten the same way (split with the row's own event name and session id; rows whose key does
-- not start with them, such as sessions renamed for a team, are left alone), first under a chr(1) prefix
-- so no intermediate key collides with another row's old one.
UPDATE pending_messages
SET event_key = chr(1) || event_name || ':'
    || replace(replace(session_id, '\', '\\'), ':', '\:') || ':'
    || replace(replace(substr(event_key, length(event_name) + length(session_id) + 3), '\', '\\'), ':', '\:')
WHERE substr(event_key, 1, length(event_name) + length(session_id) + 2) = event_name || ':' || session_id || ':'
  AND (strpos(session_id, ':') > 0 OR strpos(session_id, '\') > 0
       OR strpos(substr(event_key, length(event_name) + length(session_id) + 3), ':') > 0
       OR strpos(substr(event_key, length(event_name) + length(session_id) + 3), '\') > 0);

UPDATE pending_messages SET event_key = substr(event_key, 2) WHERE substr(event_key, 1, 1) = chr(1);
