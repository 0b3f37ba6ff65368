-- Directory of county nodes, enrolment tokens, revocations and operator tokens.
-- Instants are INTEGER Unix milliseconds; the same DDL is kept for PostgreSQL.
CREATE TABLE nodes (
    county TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    endpoint TEXT NOT NULL DEFAULT '',
    certificate_sha256 TEXT NOT NULL DEFAULT '',
    certificate_pem TEXT NOT NULL DEFAULT '',
    -- 'pending' (token issued), 'active', 'revoked'
    status TEXT NOT NULL,
    enrolled_at_unix_ms BIGINT NOT NULL DEFAULT 0,
    updated_at_unix_ms BIGINT NOT NULL
);

CREATE TABLE enrollment_tokens (
    token_sha256 TEXT PRIMARY KEY,
    county TEXT NOT NULL,
    created_at_unix_ms BIGINT NOT NULL,
    expires_at_unix_ms BIGINT NOT NULL,
    used_at_unix_ms BIGINT
);

CREATE TABLE revocations (
    certificate_sha256 TEXT PRIMARY KEY,
    county TEXT NOT NULL,
    revoked_at_unix_ms BIGINT NOT NULL,
    reason TEXT NOT NULL
);

-- One row: bumped in the same transaction as every change that the directory shows.
CREATE TABLE directory_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 1);

CREATE TABLE operator_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at_unix_ms BIGINT NOT NULL
);
