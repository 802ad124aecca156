-- Dedup keys (`pending_messages.event_key`) were `{event}:{session}:{id}` with nothing escaped, so a
-- session `a:b` with tool call `c` and a session `a` with tool call `b:c` shared one key and the second
-- event was dropped as a duplicate. Keys now escape `\` and `:` in the session and the id (`\\`, `\:`;
-- `hook_event::event_key`). Existing keys are rewritten the same way, so a redelivery of an event stored
-- before this migration still finds it. The old key is split with the row's own event name and session
-- id, which is exact; rows whose key does not start with them are left alone. Only keys that change are
-- touched, first under a \x01 prefix (no key starts with it) so no intermediate key can collide with
-- another row's old one.
UPDATE pending_messages
SET event_key = char(1) || event_name || ':'
    || replace(replace(session_id, '\', '\\'), ':', '\:') || ':'
    || replace(replace(substr(event_key, length(event_name) + length(session_id) + 3), '\', '\\'), ':', '\:')
WHERE substr(event_key, 1, length(event_name) + length(session_id) + 2) = event_name || ':' || session_id || ':'
  AND (instr(session_id, ':') > 0 OR instr(session_id, '\') > 0
       OR instr(substr(event_key, length(event_name) + length(session_id) + 3), ':') > 0
       OR instr(substr(event_key, length(event_name) + length(session_id) + 3), '\') > 0);

UPDATE pending_messages SET event_key = substr(event_key, 2) WHERE substr(event_key, 1, 1) = char(1);
