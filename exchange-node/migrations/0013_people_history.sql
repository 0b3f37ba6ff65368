-- A person's page in the console lists their roster changes and the cases about them: both
-- read by resident ID, so neither scans its whole table.
CREATE INDEX roster_changes_by_person ON roster_changes (resident_id, seq);
CREATE INDEX cases_by_person ON cases (resident_id, opened_at_unix_ms);
