-- The provincial index: the latest report of each county about each person, and how far each
-- county's change stream has been stored.
CREATE TABLE index_entries (
    resident_id TEXT NOT NULL,
    reporter_county TEXT NOT NULL,
    name TEXT NOT NULL,
    hukou_county TEXT NOT NULL,
    residence_county TEXT NOT NULL,
    status TEXT NOT NULL,
    since TEXT NOT NULL,
    change_seq BIGINT NOT NULL,
    reported_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (resident_id, reporter_county)
);
CREATE TABLE index_cursors (
    county TEXT PRIMARY KEY,
    acknowledged_seq BIGINT NOT NULL
);
