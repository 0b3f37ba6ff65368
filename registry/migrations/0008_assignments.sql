-- Cases the province opened for counties (from conflicts and untracked people). Each county's
-- node fetches its own after the sequence number it holds; what happens next reaches the
-- registry in that node's case events, like any other case.
CREATE TABLE assignments (
    seq ${serial_key},
    case_id TEXT NOT NULL UNIQUE,
    county TEXT NOT NULL,
    finding TEXT NOT NULL,
    resident_id TEXT NOT NULL,
    subject_name TEXT NOT NULL,
    questions TEXT NOT NULL,
    priority TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    purpose TEXT NOT NULL,
    opened_at_unix_ms BIGINT NOT NULL
);
CREATE INDEX assignments_by_county ON assignments (county, seq);
CREATE INDEX assignments_by_person ON assignments (resident_id, county, finding);
