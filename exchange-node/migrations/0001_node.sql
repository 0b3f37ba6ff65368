-- One county node: roster, cases with their history, transactional outbox, idempotent inbox,
-- audit of personal-data reads, security events and operator tokens.
-- Instants are INTEGER Unix milliseconds, dates TEXT YYYY-MM-DD.
CREATE TABLE people (
    resident_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    hukou_county TEXT NOT NULL,
    residence_county TEXT NOT NULL,
    residence_address TEXT NOT NULL,
    arrival_date TEXT NOT NULL,
    departure_date TEXT NOT NULL,
    phone TEXT NOT NULL,
    notes TEXT NOT NULL,
    status TEXT NOT NULL,
    resident_id_flagged BIGINT NOT NULL,
    created_at_unix_ms BIGINT NOT NULL,
    updated_at_unix_ms BIGINT NOT NULL
);
CREATE INDEX people_by_status ON people (status, resident_id);

CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    direction TEXT NOT NULL,
    requester_county TEXT NOT NULL,
    recipient_county TEXT NOT NULL,
    state TEXT NOT NULL,
    priority TEXT NOT NULL,
    resident_id TEXT NOT NULL,
    subject_name TEXT NOT NULL,
    questions TEXT NOT NULL,
    answer TEXT NOT NULL,
    verdict TEXT NOT NULL,
    redirected_to_county TEXT NOT NULL,
    parent_case_id TEXT NOT NULL,
    child_case_id TEXT NOT NULL,
    opened_at_unix_ms BIGINT NOT NULL,
    delivered_at_unix_ms BIGINT NOT NULL,
    accepted_at_unix_ms BIGINT NOT NULL,
    responded_at_unix_ms BIGINT NOT NULL,
    closed_at_unix_ms BIGINT NOT NULL,
    due_at_unix_ms BIGINT NOT NULL,
    reason TEXT NOT NULL,
    handled_by TEXT NOT NULL,
    updated_at_unix_ms BIGINT NOT NULL
);
CREATE INDEX cases_by_direction ON cases (direction, state, due_at_unix_ms);

CREATE TABLE case_events (
    event_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    at_unix_ms BIGINT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX case_events_by_case ON case_events (case_id, at_unix_ms);

-- Written in the same transaction as the change that caused the message.
CREATE TABLE outbox (
    seq ${serial_key},
    message_id TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    case_id TEXT NOT NULL,
    body_kind TEXT NOT NULL,
    envelope ${blob} NOT NULL,
    -- 'pending', 'delivered', 'rejected'
    state TEXT NOT NULL,
    created_at_unix_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_unix_ms BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    delivered_at_unix_ms BIGINT NOT NULL DEFAULT 0,
    receipt ${blob}
);
CREATE INDEX outbox_pending ON outbox (state, recipient, seq);

-- One row per message ever stored; a redelivery gets the stored receipt back.
CREATE TABLE inbox (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    case_id TEXT NOT NULL,
    body_kind TEXT NOT NULL,
    received_at_unix_ms BIGINT NOT NULL,
    receipt ${blob} NOT NULL
);

CREATE TABLE audit_log (
    entry_id TEXT PRIMARY KEY,
    at_unix_ms BIGINT NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    purpose TEXT NOT NULL,
    subject TEXT NOT NULL,
    rows_returned BIGINT NOT NULL
);

CREATE TABLE security_events (
    event_id TEXT PRIMARY KEY,
    at_unix_ms BIGINT NOT NULL,
    peer TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE TABLE operator_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at_unix_ms BIGINT NOT NULL
);
