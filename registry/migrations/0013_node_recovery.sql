-- What a node says of a restore from a backup with each directory refresh (issue 17): the
-- instant of the newest record in the backup it was restored from (0: never restored) and its
-- recovery from its peers so far. The province console's county page shows them; a new backup
-- instant raises one RESTORED province alert. Older nodes send none of it: 0.
ALTER TABLE node_contacts ADD COLUMN restored_backup_of_unix_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE node_contacts ADD COLUMN recovery_peers_pending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE node_contacts ADD COLUMN recovery_replayed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE node_contacts ADD COLUMN recovery_rebuilt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE node_contacts ADD COLUMN recovery_needs_clerk BIGINT NOT NULL DEFAULT 0;
