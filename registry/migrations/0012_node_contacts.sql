-- Each enrolled node's last directory refresh (every `directory_refresh_seconds`): when, the
-- directory version it held, and its outbox backlog as it reported it — the node's state on
-- the province console's county page. One row a county, replaced on each refresh.
CREATE TABLE node_contacts (
    county TEXT PRIMARY KEY,
    seen_at_unix_ms BIGINT NOT NULL,
    directory_version BIGINT NOT NULL,
    outbox_pending BIGINT NOT NULL,
    oldest_pending_unix_ms BIGINT NOT NULL
);
