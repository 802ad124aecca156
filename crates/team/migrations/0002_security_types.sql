-- The security_alert and security_note observation types.
ALTER TABLE observations DROP CONSTRAINT observations_type_check;
ALTER TABLE observations ADD CONSTRAINT observations_type_check
    CHECK (type IN ('decision', 'bugfix', 'feature', 'refactor', 'discovery', 'change',
                    'security_alert', 'security_note'));
