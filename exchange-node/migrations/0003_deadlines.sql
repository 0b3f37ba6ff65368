-- Deadlines: acceptance due date, whether the due date rests on an unpublished calendar year,
-- and the calendar and policy versions it was computed with.
ALTER TABLE cases ADD COLUMN acceptance_due_at_unix_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN due_provisional BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN calendar_version TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';
CREATE INDEX cases_provisional ON cases (due_provisional);
