-- Compliance: case events reported by both sides of each case, the provincial view of each case
-- merged from them, and province-level alerts.

-- Every report as received, with the verdict on its evidence (kept for "with what evidence").
CREATE TABLE case_reports (
    reporter_county TEXT NOT NULL,
    seq BIGINT NOT NULL,
    case_id TEXT NOT NULL,
    event TEXT NOT NULL,
    report ${blob} NOT NULL,
    -- 'verified', 'no evidence', or why the evidence was rejected.
    verification TEXT NOT NULL,
    received_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (reporter_county, seq)
);
CREATE INDEX case_reports_by_case ON case_reports (case_id);

CREATE TABLE case_report_cursors (
    county TEXT PRIMARY KEY,
    acknowledged_seq BIGINT NOT NULL
);

-- One row per case. Scored timestamps come only from verified evidence (the recipient's signed
-- receipt and responses); the *_by_requester / *_by_recipient columns say which side has
-- reported which evidence, so a disagreement can be found.
CREATE TABLE compliance_cases (
    case_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    priority TEXT NOT NULL,
    requester_county TEXT NOT NULL,
    recipient_county TEXT NOT NULL,
    parent_case_id TEXT NOT NULL,
    opened_at_unix_ms BIGINT NOT NULL,
    delivered_at_unix_ms BIGINT NOT NULL,
    due_at_unix_ms BIGINT NOT NULL,
    -- The due day (YYYY-MM-DD, province time): the period a case is scored in.
    due_date TEXT NOT NULL,
    acceptance_due_at_unix_ms BIGINT NOT NULL,
    accepted_at_unix_ms BIGINT NOT NULL,
    responded_at_unix_ms BIGINT NOT NULL,
    response_outcome TEXT NOT NULL,
    -- Working days from delivery to response (-1 while unanswered).
    response_working_days BIGINT NOT NULL,
    withdrawn_at_unix_ms BIGINT NOT NULL,
    closed_at_unix_ms BIGINT NOT NULL,
    extended_due_at_unix_ms BIGINT NOT NULL,
    reminders BIGINT NOT NULL,
    receipt_by_requester BIGINT NOT NULL,
    receipt_by_recipient BIGINT NOT NULL,
    response_by_requester BIGINT NOT NULL,
    response_by_recipient BIGINT NOT NULL,
    requester_reported_at_unix_ms BIGINT NOT NULL,
    recipient_reported_at_unix_ms BIGINT NOT NULL,
    -- A disagreement between the two sides' evidence, or evidence that did not verify.
    dispute TEXT NOT NULL,
    updated_at_unix_ms BIGINT NOT NULL
);
CREATE INDEX compliance_by_recipient_due ON compliance_cases (recipient_county, due_date);
CREATE INDEX compliance_by_due_date ON compliance_cases (due_date);
CREATE INDEX compliance_open ON compliance_cases (responded_at_unix_ms, due_at_unix_ms);

-- Province-level alerts, each raised once per case and kind; Compliance.Watch streams them.
CREATE TABLE province_alerts (
    alert_id ${serial_key},
    kind TEXT NOT NULL,
    case_id TEXT NOT NULL,
    county TEXT NOT NULL,
    counterpart_county TEXT NOT NULL,
    raised_at_unix_ms BIGINT NOT NULL,
    due_at_unix_ms BIGINT NOT NULL,
    detail TEXT NOT NULL,
    UNIQUE (case_id, kind)
);
