-- Case events for the province's compliance figures (shipped from a cursor the registry
-- keeps, like roster_changes). Each row is an encoded mpx.v1.CaseEventReport carrying the
-- signed receipt or response it rests on. Written in the same transaction as the change.
CREATE TABLE case_reports (
    seq ${serial_key},
    case_id TEXT NOT NULL,
    event TEXT NOT NULL,
    at_unix_ms BIGINT NOT NULL,
    report ${blob} NOT NULL
);
