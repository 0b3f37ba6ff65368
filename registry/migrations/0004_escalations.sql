-- Escalations reported by county nodes: cases unanswered past the grace period.
CREATE TABLE escalations (
    case_id TEXT NOT NULL,
    reporter_county TEXT NOT NULL,
    case_kind TEXT NOT NULL,
    requester_county TEXT NOT NULL,
    recipient_county TEXT NOT NULL,
    delivered_at_unix_ms BIGINT NOT NULL,
    due_at_unix_ms BIGINT NOT NULL,
    escalated_at_unix_ms BIGINT NOT NULL,
    direction TEXT NOT NULL,
    detail TEXT NOT NULL,
    received_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (case_id, reporter_county)
);
CREATE INDEX escalations_by_recipient ON escalations (recipient_county, escalated_at_unix_ms);
