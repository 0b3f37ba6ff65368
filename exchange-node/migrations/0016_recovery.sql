-- Recovery after a restore from a backup. The inbox keeps each stored envelope, so a peer that
-- was restored can be given back what it sent here (rows stored before this migration keep
-- none, and are reported as lost, by id, kind and time). A peer's recovery walks the inbox by
-- sender in storing order.
ALTER TABLE inbox ADD COLUMN envelope ${blob};
CREATE INDEX inbox_by_sender ON inbox (sender, received_at_unix_ms, message_id);
-- The outbox is replayed to a restored peer in sending order, delivered rows only.
CREATE INDEX outbox_by_recipient ON outbox (recipient, seq);

-- Whether, and from what, this database was restored, and how the recovery went. One row per
-- restore noticed (by `exchange-node restore`, or at start when the registry holds reports this
-- database never wrote); the newest row is the current one.
CREATE TABLE restores (
    restore_id TEXT PRIMARY KEY,
    -- When the restore was noticed, and how ('command' or 'detected').
    noticed_at_unix_ms BIGINT NOT NULL,
    noticed_by TEXT NOT NULL,
    -- The newest instant recorded in the restored database: what the backup holds up to.
    backup_of_unix_ms BIGINT NOT NULL,
    -- The reports to the province this database had sent, as the registry acknowledged them
    -- (from provincial_cursors), at restore time.
    detail TEXT NOT NULL,
    -- 0 while peers remain to answer.
    finished_at_unix_ms BIGINT NOT NULL DEFAULT 0
);

-- One row per peer asked in the current start's recovery pass: how far it went.
CREATE TABLE recovery_peers (
    county TEXT PRIMARY KEY,
    -- 'pending', 'done', 'failed' (retried)
    state TEXT NOT NULL,
    replayed BIGINT NOT NULL DEFAULT 0,
    rebuilt BIGINT NOT NULL DEFAULT 0,
    needs_clerk BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    updated_at_unix_ms BIGINT NOT NULL
);

-- What a recovery could not rebuild, for a clerk: a message a peer holds from this node whose
-- envelope is gone, or a replayed or returned message that could not be applied.
CREATE TABLE recovery_items (
    item_id TEXT PRIMARY KEY,
    restore_id TEXT NOT NULL,
    county TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body_kind TEXT NOT NULL,
    case_id TEXT NOT NULL,
    at_unix_ms BIGINT NOT NULL,
    reason TEXT NOT NULL,
    UNIQUE (message_id)
);
