-- The audit log becomes a hash chain: each entry's hash covers the previous entry's hash and its
-- own fields, and the head row holds the last hash and the count, so a changed, removed or
-- truncated entry is detected by `exchange-node audit verify`.
ALTER TABLE audit_log ADD COLUMN chain_index BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN entry_hash TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_log_by_chain ON audit_log (chain_index);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    entries BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, entries, last_hash) VALUES (1, 0, '');
