-- When an ESCALATED alert was reported to the province (0 while not yet).
ALTER TABLE alerts ADD COLUMN reported_at_unix_ms BIGINT NOT NULL DEFAULT 0;
