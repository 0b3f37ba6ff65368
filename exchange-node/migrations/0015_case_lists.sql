-- The lists of cases (ListCases, the console's inbox and outbox and its start page) read
-- indexes instead of sorting or scanning every case of a direction: one in the default order
-- (open first, by due date, those without one last, then the newest), one by the deadline in
-- force (the extended one once granted) for the due-soon and overdue counts and filters, one by
-- opening time, and one by answer time ("answers since you last signed in"). The first two
-- cover what the old (direction, state, due date) index served.
DROP INDEX cases_by_direction;
CREATE INDEX cases_list_by_due ON cases (
    direction,
    (CASE WHEN state IN ('closed', 'withdrawn', 'redirected', 'rejected') THEN 1 ELSE 0 END),
    (CASE WHEN due_at_unix_ms = 0 THEN 1 ELSE 0 END),
    due_at_unix_ms,
    opened_at_unix_ms DESC,
    case_id
);
CREATE INDEX cases_by_due_in_force ON cases (
    direction,
    state,
    (CASE WHEN extension_state = 'granted' AND extended_due_at_unix_ms > 0
          THEN extended_due_at_unix_ms ELSE due_at_unix_ms END)
);
CREATE INDEX cases_by_opened ON cases (direction, opened_at_unix_ms, case_id);
CREATE INDEX cases_by_answer ON cases (direction, responded_at_unix_ms);
-- A case page shows the signed evidence of its case (the rows it reports to the province).
CREATE INDEX case_reports_by_case ON case_reports (case_id, seq);
