-- Deadline extensions: requested by the recipient, granted or denied by the requester. The
-- original due date is kept; the extended one is stored beside it.
ALTER TABLE cases ADD COLUMN extension_state TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN extension_working_days BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN extended_due_at_unix_ms BIGINT NOT NULL DEFAULT 0;
