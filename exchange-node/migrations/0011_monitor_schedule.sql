-- When the deadline monitor next looks at a case, so a tick reads only the cases whose alerts
-- can change now instead of every open case near a deadline: 0 whenever an open case is saved
-- (look at the next tick), then the next instant one of its alerts could fire; the largest
-- BIGINT once none can (closed cases, and open ones with nothing left to raise).
ALTER TABLE cases ADD COLUMN next_check_at_unix_ms BIGINT NOT NULL DEFAULT 0;
UPDATE cases SET next_check_at_unix_ms = 9223372036854775807
    WHERE state NOT IN ('queued', 'delivered', 'accepted');
CREATE INDEX cases_next_check ON cases (next_check_at_unix_ms);
-- Clearing UNDELIVERED alerts looks only at the open ones of that kind.
CREATE INDEX alerts_open_by_kind ON alerts (kind, cleared_at_unix_ms);
-- What the stored instants were computed under (calendar version and alert settings), so a
-- restart with the same ones does not look at every open case again.
CREATE TABLE monitor_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
