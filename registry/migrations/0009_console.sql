-- The province console: operators who sign in with a password (argon2id PHC strings) and a
-- role (supervisor, viewer, admin), and their sessions, each stored by the SHA-256 of its id
-- (the id itself lives only in the browser's cookie). The same shape as the county node's
-- console tables; bearer tokens (operator_tokens) are unchanged.
CREATE TABLE operator_accounts (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_sign_ins BIGINT NOT NULL DEFAULT 0,
    locked_until_unix_ms BIGINT NOT NULL DEFAULT 0,
    last_sign_in_unix_ms BIGINT NOT NULL DEFAULT 0,
    created_at_unix_ms BIGINT NOT NULL
);

CREATE TABLE console_sessions (
    session_sha256 TEXT PRIMARY KEY,
    operator TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at_unix_ms BIGINT NOT NULL,
    last_seen_unix_ms BIGINT NOT NULL
);

CREATE INDEX console_sessions_operator ON console_sessions (operator);
