-- Every change to the roster, in order, for the provincial index (shipped from a cursor the
-- registry keeps). Written in the same transaction as the change.
CREATE TABLE roster_changes (
    seq ${serial_key},
    resident_id TEXT NOT NULL,
    name TEXT NOT NULL,
    hukou_county TEXT NOT NULL,
    residence_county TEXT NOT NULL,
    status TEXT NOT NULL,
    since TEXT NOT NULL,
    changed_at_unix_ms BIGINT NOT NULL
);
