//! Cases and their events: read, listed, saved, and the monitor's schedule of checks.

use super::*;

impl Store {
    pub async fn get_case(&self, case_id: &str) -> Result<Option<v1::Case>, StoreError> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(case_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(case_from_row).transpose()?)
    }

    pub async fn case_events(&self, case_id: &str) -> Result<Vec<v1::CaseEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_unix_ms, event, actor, detail FROM case_events WHERE case_id = $1
             ORDER BY at_unix_ms, event_id",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(v1::CaseEvent {
                    at_unix_ms: row.try_get("at_unix_ms")?,
                    event: row.try_get("event")?,
                    actor: row.try_get("actor")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The cases `query` selects, in its order, `limit` of them from `offset`.
    pub async fn list_cases(
        &self,
        query: &CaseQuery,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<v1::Case>, StoreError> {
        let (conditions, binds) = query.conditions();
        let order = match query.order {
            CaseOrder::Due => {
                "ORDER BY CASE WHEN state IN ('closed', 'withdrawn', 'redirected', 'rejected') THEN 1 ELSE 0 END,
                          CASE WHEN due_at_unix_ms = 0 THEN 1 ELSE 0 END, due_at_unix_ms,
                          opened_at_unix_ms DESC, case_id"
            }
            CaseOrder::Newest => "ORDER BY opened_at_unix_ms DESC, case_id DESC",
            CaseOrder::Oldest => "ORDER BY opened_at_unix_ms, case_id",
        };
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE {conditions} {order} LIMIT {} OFFSET {}",
            limit,
            // No list is that long; an absurd page token is an empty page, not an error.
            offset.min(i64::MAX as u64)
        );
        let rows = binds
            .bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(case_from_row).collect::<Result<_, _>>()?)
    }

    /// How many cases `query` selects.
    pub async fn count_cases(&self, query: &CaseQuery) -> Result<u64, StoreError> {
        let (conditions, binds) = query.conditions();
        let sql = format!("SELECT COUNT(*) AS n FROM cases WHERE {conditions}");
        let row = binds
            .bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// What the start page counts, in one query: inbound cases waiting for acceptance, and
    /// waiting for an answer with their deadline in force overdue (at or before `now_unix_ms`) or
    /// due soon (after it, at or before `soon_until_unix_ms`); outbound cases answered after
    /// `answered_after_unix_ms`.
    pub async fn case_tallies(
        &self,
        now_unix_ms: i64,
        soon_until_unix_ms: i64,
        answered_after_unix_ms: i64,
    ) -> Result<CaseTallies, StoreError> {
        let sql = format!(
            "SELECT
               (SELECT COUNT(*) FROM cases WHERE direction = 'inbound' AND state = 'delivered')
                 AS awaiting_acceptance,
               (SELECT COUNT(*) FROM cases WHERE direction = 'inbound' AND {AWAITING_ANSWER}
                  AND {DUE_IN_FORCE} > 0 AND {DUE_IN_FORCE} <= $1) AS overdue,
               (SELECT COUNT(*) FROM cases WHERE direction = 'inbound' AND {AWAITING_ANSWER}
                  AND {DUE_IN_FORCE} > $1 AND {DUE_IN_FORCE} <= $2) AS due_soon,
               (SELECT COUNT(*) FROM cases WHERE direction = 'outbound'
                  AND responded_at_unix_ms > $3) AS answered"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_unix_ms)
            .bind(soon_until_unix_ms)
            .bind(answered_after_unix_ms.max(0))
            .fetch_one(&self.pool)
            .await?;
        let count = |name: &str| -> Result<u64, sqlx::Error> {
            Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
        };
        Ok(CaseTallies {
            awaiting_acceptance: count("awaiting_acceptance")?,
            overdue: count("overdue")?,
            due_soon: count("due_soon")?,
            answered: count("answered")?,
        })
    }

    /// Cases whose monitor check is due by `now_unix_ms`, earliest first, at most `limit`, each
    /// with the `updated_at_unix_ms` it was read at (for [`StoreTx::schedule_checks`]).
    pub async fn cases_to_check(
        &self,
        now_unix_ms: i64,
        limit: usize,
    ) -> Result<Vec<(v1::Case, i64)>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS}, updated_at_unix_ms FROM cases
             WHERE next_check_at_unix_ms <= $1
             ORDER BY next_check_at_unix_ms
             LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_unix_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((case_from_row(row)?, row.try_get("updated_at_unix_ms")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Makes the monitor look at every open case at its next tick when the calendar or the
    /// alert settings (`schedule`: what the stored instants were computed under) differ from
    /// the last ones recorded. Returns how many cases were rescheduled, `None` when unchanged.
    pub async fn reschedule_checks_unless(
        &self,
        schedule: &str,
    ) -> Result<Option<u64>, StoreError> {
        let mut transaction = self.database.begin().await?;
        let recorded: Option<String> =
            sqlx::query_scalar("SELECT value FROM monitor_state WHERE name = 'schedule'")
                .fetch_optional(&mut *transaction)
                .await?;
        if recorded.as_deref() == Some(schedule) {
            return Ok(None);
        }
        let result = sqlx::query(
            "UPDATE cases SET next_check_at_unix_ms = 0
             WHERE next_check_at_unix_ms <> $1 AND next_check_at_unix_ms <> 0",
        )
        .bind(NEVER)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "INSERT INTO monitor_state (name, value) VALUES ('schedule', $1)
             ON CONFLICT (name) DO UPDATE SET value = $1",
        )
        .bind(schedule)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(Some(result.rows_affected()))
    }

    /// Cases by (kind, direction, state, count), for metrics.
    pub async fn case_counts(&self) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        // Columns in the tuple's order.
        Ok(sqlx::query_as(
            "SELECT kind, direction, state, COUNT(*) AS n FROM cases GROUP BY kind, direction, state",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Open cases whose due date is provisional (it rests on an unpublished calendar year).
    pub async fn provisional_open_cases(&self) -> Result<Vec<v1::Case>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE due_provisional = 1
               AND state NOT IN ('closed', 'withdrawn', 'redirected', 'rejected')"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(case_from_row).collect::<Result<_, _>>()?)
    }
}

impl StoreTx {
    pub async fn get_case(&mut self, case_id: &str) -> Result<Option<v1::Case>, StoreError> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(case_id)
            .fetch_optional(&mut *self.transaction)
            .await?;
        Ok(row.as_ref().map(case_from_row).transpose()?)
    }

    /// Inserts a new case or writes every field of an existing one.
    pub async fn save_case(&mut self, case: &v1::Case, now_unix_ms: i64) -> Result<(), StoreError> {
        let open = matches!(
            case.state(),
            v1::CaseState::Queued | v1::CaseState::Delivered | v1::CaseState::Accepted
        );
        sqlx::query(
            "INSERT INTO cases (case_id, kind, direction, requester_county, recipient_county, state,
                priority, resident_id, subject_name, questions, answer, verdict, redirected_to_county,
                parent_case_id, child_case_id, opened_at_unix_ms, delivered_at_unix_ms,
                accepted_at_unix_ms, responded_at_unix_ms, closed_at_unix_ms, due_at_unix_ms, reason,
                handled_by, updated_at_unix_ms, acceptance_due_at_unix_ms, due_provisional,
                calendar_version, policy_version, reminded_at_unix_ms, extension_state,
                extension_working_days, extended_due_at_unix_ms, next_check_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                     $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)
             ON CONFLICT (case_id) DO UPDATE SET
                state = $6, priority = $7, answer = $11, verdict = $12, redirected_to_county = $13,
                child_case_id = $15, delivered_at_unix_ms = $17, accepted_at_unix_ms = $18,
                responded_at_unix_ms = $19, closed_at_unix_ms = $20, due_at_unix_ms = $21,
                reason = $22, handled_by = $23, updated_at_unix_ms = $24,
                acceptance_due_at_unix_ms = $25, due_provisional = $26, calendar_version = $27,
                policy_version = $28, reminded_at_unix_ms = $29, extension_state = $30,
                extension_working_days = $31, extended_due_at_unix_ms = $32,
                next_check_at_unix_ms = $33",
        )
        .bind(&case.case_id)
        .bind(kind_label(case.kind()))
        .bind(direction_label(case.direction()))
        .bind(&case.requester_county)
        .bind(&case.recipient_county)
        .bind(state_label(case.state()))
        .bind(priority_label(case.priority()))
        .bind(&case.resident_id)
        .bind(&case.subject_name)
        .bind(&case.questions)
        .bind(&case.answer)
        .bind(verdict_label(case.verdict()))
        .bind(&case.redirected_to_county)
        .bind(&case.parent_case_id)
        .bind(&case.child_case_id)
        .bind(case.opened_at_unix_ms)
        .bind(case.delivered_at_unix_ms)
        .bind(case.accepted_at_unix_ms)
        .bind(case.responded_at_unix_ms)
        .bind(case.closed_at_unix_ms)
        .bind(case.due_at_unix_ms)
        .bind(&case.reason)
        .bind(&case.handled_by)
        .bind(now_unix_ms)
        .bind(case.acceptance_due_at_unix_ms)
        .bind(i64::from(case.due_provisional))
        .bind(&case.calendar_version)
        .bind(&case.policy_version)
        .bind(case.reminded_at_unix_ms)
        .bind(&case.extension_state)
        .bind(i64::from(case.extension_working_days))
        .bind(case.extended_due_at_unix_ms)
        .bind(if open { 0 } else { NEVER })
        .execute(&mut *self.transaction)
        .await?;
        // The deadline alerts of a case that is no longer open, and the NOT_ACCEPTED alert of
        // one that left the delivered state, have lost their cause. (A queued or delivered
        // case cannot have either yet.)
        if !open || case.state() == v1::CaseState::Accepted {
            sqlx::query(
                "UPDATE alerts SET cleared_at_unix_ms = $1
                 WHERE case_id = $2 AND cleared_at_unix_ms = 0
                   AND (kind = 'not_accepted' OR ($3 = 0 AND kind IN ('due_soon', 'overdue', 'escalated')))",
            )
            .bind(now_unix_ms)
            .bind(&case.case_id)
            .bind(i64::from(open))
            .execute(&mut *self.transaction)
            .await?;
        }
        Ok(())
    }

    /// Records when the monitor should next look at each case: (case id, the
    /// `updated_at_unix_ms` it read the case at, the instant). A case changed since it was read
    /// keeps the "look at the next tick" its change set.
    pub async fn schedule_checks(
        &mut self,
        checks: &[(String, i64, i64)],
    ) -> Result<(), StoreError> {
        for part in checks.chunks(300) {
            let sql = format!(
                "UPDATE cases SET next_check_at_unix_ms = v.column3
                 FROM (VALUES {}) AS v
                 WHERE cases.case_id = v.column1 AND cases.updated_at_unix_ms = v.column2",
                value_rows(part.len(), 3, self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (case_id, read_at, next) in part {
                query = query.bind(case_id).bind(read_at).bind(next);
            }
            query.execute(&mut *self.transaction).await?;
        }
        Ok(())
    }

    /// Appends a step to a case's history.
    pub async fn add_case_event(
        &mut self,
        case_id: &str,
        at_unix_ms: i64,
        event: &str,
        actor: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO case_events (event_id, case_id, at_unix_ms, event, actor, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(case_id)
        .bind(at_unix_ms)
        .bind(event)
        .bind(actor)
        .bind(detail)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    /// The cases with these ids (those that exist), by id.
    pub async fn get_cases(
        &mut self,
        case_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, v1::Case>, StoreError> {
        let mut unique: Vec<&str> = case_ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut cases = std::collections::HashMap::with_capacity(unique.len());
        for part in unique.chunks(500) {
            let sql = format!(
                "SELECT {CASE_COLUMNS} FROM cases WHERE case_id IN {}",
                value_rows(1, part.len(), self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in part {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.transaction).await? {
                let case = case_from_row(&row)?;
                cases.insert(case.case_id.clone(), case);
            }
        }
        Ok(cases)
    }

    /// Appends steps to cases' histories, in order, 200 rows a statement.
    pub async fn add_case_events(&mut self, events: &[NewCaseEvent]) -> Result<(), StoreError> {
        for part in events.chunks(200) {
            let sql = format!(
                "INSERT INTO case_events (event_id, case_id, at_unix_ms, event, actor, detail)
                 VALUES {}",
                value_rows(part.len(), 6, self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for event in part {
                query = query
                    .bind(new_id())
                    .bind(event.case_id.clone())
                    .bind(event.at_unix_ms)
                    .bind(event.event.clone())
                    .bind(event.actor.clone())
                    .bind(event.detail.clone());
            }
            query.execute(&mut *self.transaction).await?;
        }
        Ok(())
    }
}

/// The deadline in force of a case in SQL: the extended one once granted (as
/// [`crate::monitor::effective_due_at`] reads it), else the original; an index has this very
/// expression (migration 0015).
const DUE_IN_FORCE: &str = "(CASE WHEN extension_state = 'granted' AND extended_due_at_unix_ms > 0
          THEN extended_due_at_unix_ms ELSE due_at_unix_ms END)";

/// A case still waiting for its answer, in SQL.
const AWAITING_ANSWER: &str = "state IN ('queued', 'delivered', 'accepted')";

/// How [`Store::list_cases`] orders cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseOrder {
    /// Open cases first, by due date (cases without one after), then the newest.
    #[default]
    Due,
    /// The most recently opened first.
    Newest,
    /// The earliest opened first.
    Oldest,
}

/// Which cases a list holds (`mpx.v1.ListCasesRequest`'s filters, checked).
#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    pub direction: CaseDirection,
    pub state: Option<v1::CaseState>,
    /// Not closed, withdrawn, redirected or rejected.
    pub open_only: bool,
    /// Queued, delivered or accepted.
    pub awaiting_answer: bool,
    pub kind: Option<v1::CaseKind>,
    pub priority: Option<v1::CasePriority>,
    /// The requester of an inbound case, the recipient of an outbound one.
    pub peer_county: Option<String>,
    /// Deadline in force later than this (0: no bound).
    pub due_after_unix_ms: i64,
    /// Deadline in force at or before this (0: no bound).
    pub due_until_unix_ms: i64,
    pub order: CaseOrder,
}

/// What the start page counts ([`Store::case_tallies`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaseTallies {
    pub awaiting_acceptance: u64,
    pub overdue: u64,
    pub due_soon: u64,
    pub answered: u64,
}

/// Values bound to a built query, in placeholder order.
#[derive(Debug, Default)]
struct Binds(Vec<Bound>);

#[derive(Debug)]
enum Bound {
    Text(String),
    Int(i64),
}

impl Binds {
    /// Adds a value and returns its placeholder.
    fn push(&mut self, value: Bound) -> String {
        self.0.push(value);
        format!("${}", self.0.len())
    }

    fn bind_all<'q>(
        self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for value in self.0 {
            query = match value {
                Bound::Text(text) => query.bind(text),
                Bound::Int(n) => query.bind(n),
            };
        }
        query
    }
}

impl CaseQuery {
    /// The WHERE clause (only the conditions in force, so each list reads the index that fits
    /// it) and its values.
    fn conditions(&self) -> (String, Binds) {
        let mut binds = Binds::default();
        let mut conditions = vec![format!(
            "direction = {}",
            binds.push(Bound::Text(direction_label(self.direction).into()))
        )];
        if let Some(state) = self.state {
            conditions.push(format!(
                "state = {}",
                binds.push(Bound::Text(state_label(state).into()))
            ));
        }
        if self.open_only {
            conditions
                .push("state NOT IN ('closed', 'withdrawn', 'redirected', 'rejected')".into());
        }
        if self.awaiting_answer {
            conditions.push(AWAITING_ANSWER.into());
        }
        if let Some(kind) = self.kind {
            conditions.push(format!(
                "kind = {}",
                binds.push(Bound::Text(kind_label(kind).into()))
            ));
        }
        if let Some(priority) = self.priority {
            conditions.push(format!(
                "priority = {}",
                binds.push(Bound::Text(
                    mpx_proto::case_kind::priority_label(priority).into()
                ))
            ));
        }
        if let Some(peer) = &self.peer_county {
            let column = if self.direction == CaseDirection::Inbound {
                "requester_county"
            } else {
                "recipient_county"
            };
            conditions.push(format!(
                "{column} = {}",
                binds.push(Bound::Text(peer.clone()))
            ));
        }
        if self.due_after_unix_ms > 0 || self.due_until_unix_ms > 0 {
            conditions.push(format!(
                "{DUE_IN_FORCE} > {}",
                binds.push(Bound::Int(self.due_after_unix_ms.max(0)))
            ));
        }
        if self.due_until_unix_ms > 0 {
            conditions.push(format!(
                "{DUE_IN_FORCE} <= {}",
                binds.push(Bound::Int(self.due_until_unix_ms))
            ));
        }
        (conditions.join(" AND "), binds)
    }
}
