-- Leases: one holder at a time for work that must not run twice (a peer's delivery stream,
-- periodic jobs), among processes that share this database.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_unix_ms BIGINT NOT NULL
);
