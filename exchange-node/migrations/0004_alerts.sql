-- Deadline alerts: one row per case and kind, so each fires once, across restarts.
CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    direction TEXT NOT NULL,
    counterpart_county TEXT NOT NULL,
    raised_at_unix_ms BIGINT NOT NULL,
    due_at_unix_ms BIGINT NOT NULL,
    cleared_at_unix_ms BIGINT NOT NULL DEFAULT 0,
    detail TEXT NOT NULL,
    UNIQUE (case_id, kind)
);
CREATE INDEX alerts_open ON alerts (cleared_at_unix_ms, raised_at_unix_ms);
-- The monitor reads only the cases near their deadlines.
CREATE INDEX cases_by_due ON cases (due_at_unix_ms);
CREATE INDEX cases_by_acceptance_due ON cases (acceptance_due_at_unix_ms);
ALTER TABLE cases ADD COLUMN reminded_at_unix_ms BIGINT NOT NULL DEFAULT 0;
