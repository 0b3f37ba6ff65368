-- The registry's audit log of province-wide queries: a hash chain, like the nodes' log.
CREATE TABLE audit_log (
    entry_id TEXT PRIMARY KEY,
    at_unix_ms BIGINT NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    purpose TEXT NOT NULL,
    subject TEXT NOT NULL,
    rows_returned BIGINT NOT NULL,
    chain_index BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
CREATE INDEX audit_log_by_chain ON audit_log (chain_index);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    entries BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, entries, last_hash) VALUES (1, 0, '');
