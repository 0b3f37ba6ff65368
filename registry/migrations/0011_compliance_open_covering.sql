-- The open-overdue tally (every case open past due, per county, for every report and the
-- console's compliance page) read compliance_open's range and then each case's row for the
-- rest of the rule (reported, withdrawn, closed) and the county: with a year of 1 M cases and
-- a fifth never answered, 200 000 lookups into the table per report. The index now holds what
-- that tally reads, so the range is all it reads.
DROP INDEX compliance_open;
CREATE INDEX compliance_open ON compliance_cases (responded_at_unix_ms, due_at_unix_ms,
    requester_reported_at_unix_ms, withdrawn_at_unix_ms, closed_at_unix_ms, recipient_county,
    due_date);
