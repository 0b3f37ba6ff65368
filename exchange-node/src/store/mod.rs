//! All SQL of the node, behind [`Store`] (reads and single-statement writes) and [`StoreTx`]
//! (a transaction: a state change, its outbox rows and its events commit together). Portable SQL
//! over `sqlx::Any`; migrations per backend.

use std::collections::HashMap;

use mpx_proto::runtime::{Database, DatabaseError, open_database, value_rows};
use mpx_proto::v1::{
    self, CaseDirection, CaseKind, CasePriority, NoticeVerdict, PersonStatus, Sex,
};
use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::domain::{state_from_label, state_label};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A store operation that failed. Driver errors are converted here, once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Open(#[from] DatabaseError),
}

/// One outbox row waiting for delivery.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub seq: i64,
    pub message_id: String,
    pub recipient: String,
    pub case_id: String,
    pub body_kind: String,
    pub envelope: Vec<u8>,
    pub state: String,
    pub created_at_unix_ms: i64,
    pub attempts: i64,
    pub last_error: String,
}

/// A stored inbox entry: who sent what, and the receipt we answered with.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    pub sender: String,
    pub receipt: Vec<u8>,
}

/// Handle to the node's database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    database: Database,
    pool: AnyPool,
}

/// An open transaction.
pub struct StoreTx {
    transaction: Transaction<'static, Any>,
    /// SQLite takes anonymous `?` placeholders in long statements: with numbered ones its
    /// parameter-name lookup is linear per parameter, quadratic per statement.
    is_sqlite: bool,
}

// ---- labels: enums as stored ------------------------------------------------------------------

pub fn kind_label(kind: CaseKind) -> &'static str {
    match kind {
        CaseKind::ResidenceNotice => "residence_notice",
        CaseKind::Verification => "verification",
        CaseKind::RecordTransfer => "record_transfer",
        CaseKind::Unspecified => "unspecified",
    }
}

fn kind_from_label(label: &str) -> CaseKind {
    match label {
        "residence_notice" => CaseKind::ResidenceNotice,
        "verification" => CaseKind::Verification,
        "record_transfer" => CaseKind::RecordTransfer,
        _ => CaseKind::Unspecified,
    }
}

pub fn direction_label(direction: CaseDirection) -> &'static str {
    match direction {
        CaseDirection::Outbound => "outbound",
        CaseDirection::Inbound => "inbound",
        CaseDirection::Unspecified => "unspecified",
    }
}

fn direction_from_label(label: &str) -> CaseDirection {
    match label {
        "outbound" => CaseDirection::Outbound,
        "inbound" => CaseDirection::Inbound,
        _ => CaseDirection::Unspecified,
    }
}

pub fn priority_label(priority: CasePriority) -> &'static str {
    match priority {
        CasePriority::Urgent => "urgent",
        _ => "normal",
    }
}

fn priority_from_label(label: &str) -> CasePriority {
    match label {
        "urgent" => CasePriority::Urgent,
        _ => CasePriority::Normal,
    }
}

pub fn verdict_label(verdict: NoticeVerdict) -> &'static str {
    match verdict {
        NoticeVerdict::Confirmed => "confirmed",
        NoticeVerdict::Disputed => "disputed",
        NoticeVerdict::Unspecified => "",
    }
}

fn verdict_from_label(label: &str) -> NoticeVerdict {
    match label {
        "confirmed" => NoticeVerdict::Confirmed,
        "disputed" => NoticeVerdict::Disputed,
        _ => NoticeVerdict::Unspecified,
    }
}

pub fn status_label(status: PersonStatus) -> &'static str {
    match status {
        PersonStatus::Residing => "residing",
        PersonStatus::Departed => "departed",
        PersonStatus::LivingElsewhere => "living_elsewhere",
        PersonStatus::WhereaboutsUnknown => "whereabouts_unknown",
        PersonStatus::Unspecified => "unspecified",
    }
}

fn status_from_label(label: &str) -> PersonStatus {
    match label {
        "residing" => PersonStatus::Residing,
        "departed" => PersonStatus::Departed,
        "living_elsewhere" => PersonStatus::LivingElsewhere,
        "whereabouts_unknown" => PersonStatus::WhereaboutsUnknown,
        _ => PersonStatus::Unspecified,
    }
}

fn sex_label(sex: i32) -> &'static str {
    match Sex::try_from(sex).unwrap_or(Sex::Unspecified) {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Unspecified => "",
    }
}

fn sex_from_label(label: &str) -> Sex {
    match label {
        "male" => Sex::Male,
        "female" => Sex::Female,
        _ => Sex::Unspecified,
    }
}

// ---- rows ---------------------------------------------------------------------------------------

const PERSON_COLUMNS: &str = "resident_id, name, sex, birth_date, hukou_county, residence_county,
    residence_address, arrival_date, departure_date, phone, notes, status, resident_id_flagged,
    updated_at_unix_ms";

fn person_from_row(row: &AnyRow) -> Result<v1::Person, sqlx::Error> {
    Ok(v1::Person {
        resident_id: row.try_get("resident_id")?,
        name: row.try_get("name")?,
        sex: sex_from_label(&row.try_get::<String, _>("sex")?) as i32,
        birth_date: row.try_get("birth_date")?,
        hukou_county: row.try_get("hukou_county")?,
        residence_county: row.try_get("residence_county")?,
        residence_address: row.try_get("residence_address")?,
        arrival_date: row.try_get("arrival_date")?,
        departure_date: row.try_get("departure_date")?,
        phone: row.try_get("phone")?,
        notes: row.try_get("notes")?,
        status: status_from_label(&row.try_get::<String, _>("status")?) as i32,
        resident_id_flagged: row.try_get::<i64, _>("resident_id_flagged")? != 0,
        updated_at_unix_ms: row.try_get("updated_at_unix_ms")?,
    })
}

/// How one receipt settles its outbox row ([`StoreTx::settle_outbox_batch`]).
#[derive(Debug, Clone)]
pub struct OutboxSettlement {
    pub message_id: String,
    pub rejected: bool,
    pub error: String,
    pub received_at_unix_ms: i64,
    pub receipt: Vec<u8>,
}

/// One step of a case's history ([`StoreTx::add_case_events`]).
#[derive(Debug, Clone)]
pub struct NewCaseEvent {
    pub case_id: String,
    pub at_unix_ms: i64,
    pub event: String,
    pub actor: String,
    pub detail: String,
}

/// `cases.next_check_at_unix_ms` of a case the monitor need not look at again.
const NEVER: i64 = i64::MAX;

const CASE_COLUMNS: &str = "case_id, kind, direction, requester_county, recipient_county, state,
    priority, resident_id, subject_name, questions, answer, verdict, redirected_to_county,
    parent_case_id, child_case_id, opened_at_unix_ms, delivered_at_unix_ms, accepted_at_unix_ms,
    responded_at_unix_ms, closed_at_unix_ms, due_at_unix_ms, reason, handled_by,
    acceptance_due_at_unix_ms, due_provisional, calendar_version, policy_version, reminded_at_unix_ms,
    extension_state, extension_working_days, extended_due_at_unix_ms";

fn case_from_row(row: &AnyRow) -> Result<v1::Case, sqlx::Error> {
    Ok(v1::Case {
        case_id: row.try_get("case_id")?,
        kind: kind_from_label(&row.try_get::<String, _>("kind")?) as i32,
        direction: direction_from_label(&row.try_get::<String, _>("direction")?) as i32,
        requester_county: row.try_get("requester_county")?,
        recipient_county: row.try_get("recipient_county")?,
        state: state_from_label(&row.try_get::<String, _>("state")?) as i32,
        priority: priority_from_label(&row.try_get::<String, _>("priority")?) as i32,
        resident_id: row.try_get("resident_id")?,
        subject_name: row.try_get("subject_name")?,
        questions: row.try_get("questions")?,
        answer: row.try_get("answer")?,
        verdict: verdict_from_label(&row.try_get::<String, _>("verdict")?) as i32,
        redirected_to_county: row.try_get("redirected_to_county")?,
        parent_case_id: row.try_get("parent_case_id")?,
        child_case_id: row.try_get("child_case_id")?,
        opened_at_unix_ms: row.try_get("opened_at_unix_ms")?,
        delivered_at_unix_ms: row.try_get("delivered_at_unix_ms")?,
        accepted_at_unix_ms: row.try_get("accepted_at_unix_ms")?,
        responded_at_unix_ms: row.try_get("responded_at_unix_ms")?,
        closed_at_unix_ms: row.try_get("closed_at_unix_ms")?,
        due_at_unix_ms: row.try_get("due_at_unix_ms")?,
        reason: row.try_get("reason")?,
        handled_by: row.try_get("handled_by")?,
        acceptance_due_at_unix_ms: row.try_get("acceptance_due_at_unix_ms")?,
        due_provisional: row.try_get::<i64, _>("due_provisional")? != 0,
        calendar_version: row.try_get("calendar_version")?,
        policy_version: row.try_get("policy_version")?,
        reminded_at_unix_ms: row.try_get("reminded_at_unix_ms")?,
        working_days_left: 0,
        answered_late: false,
        extension_state: row.try_get("extension_state")?,
        extension_working_days: u32::try_from(row.try_get::<i64, _>("extension_working_days")?)
            .unwrap_or(0),
        extended_due_at_unix_ms: row.try_get("extended_due_at_unix_ms")?,
        // Computed when read (the directory decides), never stored.
        no_route: false,
    })
}

fn outbox_from_row(row: &AnyRow) -> Result<OutboxMessage, sqlx::Error> {
    Ok(OutboxMessage {
        seq: row.try_get("seq")?,
        message_id: row.try_get("message_id")?,
        recipient: row.try_get("recipient")?,
        case_id: row.try_get("case_id")?,
        body_kind: row.try_get("body_kind")?,
        envelope: row.try_get("envelope")?,
        state: row.try_get("state")?,
        created_at_unix_ms: row.try_get("created_at_unix_ms")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

const OUTBOX_COLUMNS: &str = "seq, message_id, recipient, case_id, body_kind, envelope, state,
    created_at_unix_ms, attempts, last_error";

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

// ---- the store ----------------------------------------------------------------------------------

impl Store {
    /// Connects (`sqlite://PATH?mode=rwc` or `postgres://…`) and migrates.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let database = open_database(url, &SQLITE_MIGRATIONS, &POSTGRES_MIGRATIONS).await?;
        Ok(Self {
            pool: database.pool.clone(),
            database,
        })
    }

    /// Takes or renews a lease (see [`Database::try_lease`]).
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_unix_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .database
            .try_lease(name, holder, now_unix_ms, ttl_ms)
            .await?)
    }

    /// Gives a lease up early.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        Ok(self.database.release_lease(name, holder).await?)
    }

    /// Closes the pool (last step of shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<StoreTx, StoreError> {
        Ok(StoreTx {
            transaction: self.database.begin().await?,
            is_sqlite: self.database.is_sqlite,
        })
    }

    pub async fn get_person(&self, resident_id: &str) -> Result<Option<v1::Person>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE resident_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(resident_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(person_from_row).transpose()?)
    }

    /// People after `after_resident_id`, by resident ID, optionally of one status.
    pub async fn list_people(
        &self,
        status: Option<PersonStatus>,
        after_resident_id: &str,
        limit: u32,
    ) -> Result<Vec<v1::Person>, StoreError> {
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM people
             WHERE resident_id > $1 AND ($2 = '' OR status = $2)
             ORDER BY resident_id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after_resident_id)
            .bind(status.map(status_label).unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(person_from_row).collect::<Result<_, _>>()?)
    }

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

    /// Cases of one direction: open ones first, by due date (unknown last), then newest first.
    pub async fn list_cases(
        &self,
        direction: CaseDirection,
        state: Option<v1::CaseState>,
        open_only: bool,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<v1::Case>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS},
                CASE WHEN state IN ('closed', 'withdrawn', 'redirected', 'rejected') THEN 1 ELSE 0 END AS finished
             FROM cases
             WHERE direction = $1 AND ($2 = '' OR state = $2)
               AND ($3 = 0 OR state NOT IN ('closed', 'withdrawn', 'redirected', 'rejected'))
             ORDER BY finished, CASE WHEN due_at_unix_ms = 0 THEN 1 ELSE 0 END, due_at_unix_ms,
                      opened_at_unix_ms DESC, case_id
             LIMIT $4 OFFSET $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(direction_label(direction))
            .bind(state.map(state_label).unwrap_or(""))
            .bind(i64::from(open_only))
            .bind(i64::from(limit))
            .bind(offset as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(case_from_row).collect::<Result<_, _>>()?)
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

    /// Peers with a message pending since `cutoff_unix_ms` or before: (peer, messages pending,
    /// oldest queued at).
    pub async fn undelivered_peers(
        &self,
        cutoff_unix_ms: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT recipient, COUNT(*) AS n, MIN(created_at_unix_ms) AS oldest FROM outbox
             WHERE state = 'pending' GROUP BY recipient HAVING MIN(created_at_unix_ms) <= $1",
        )
        .bind(cutoff_unix_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("recipient")?,
                    row.try_get("n")?,
                    row.try_get("oldest")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The open alert of `kind` (`undelivered`, `no_route`) about `peer`, if any.
    pub async fn open_peer_alert(
        &self,
        kind: &str,
        peer: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT alert_id FROM alerts WHERE kind = $2 AND cleared_at_unix_ms = 0
               AND counterpart_county = $1 AND case_id LIKE 'peer/%'",
        )
        .bind(peer)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get("alert_id")).transpose()?)
    }

    /// Updates what an open alert says (a peer's backlog while it lasts).
    pub async fn update_alert_detail(
        &self,
        alert_id: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE alerts SET detail = $2 WHERE alert_id = $1")
            .bind(alert_id)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Clears open `NO_ROUTE` alerts about peers that have a route now (`routed`) or nothing
    /// queued any more.
    pub async fn clear_no_route_alerts(
        &self,
        now_unix_ms: i64,
        routed: &[String],
    ) -> Result<u64, StoreError> {
        let open = sqlx::query(
            "SELECT alert_id, counterpart_county FROM alerts
             WHERE kind = 'no_route' AND cleared_at_unix_ms = 0",
        )
        .fetch_all(&self.pool)
        .await?;
        let pending: std::collections::HashSet<String> =
            self.pending_recipients().await?.into_iter().collect();
        let mut cleared = 0;
        for row in &open {
            let peer: String = row.try_get("counterpart_county")?;
            if routed.contains(&peer) || !pending.contains(&peer) {
                let alert_id: String = row.try_get("alert_id")?;
                cleared +=
                    sqlx::query("UPDATE alerts SET cleared_at_unix_ms = $1 WHERE alert_id = $2")
                        .bind(now_unix_ms)
                        .bind(alert_id)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
            }
        }
        Ok(cleared)
    }

    /// Clears open `UNDELIVERED` alerts whose backlog drained: a peer's alert once nothing to it
    /// has waited since `cutoff_unix_ms` or longer (and older per-case alerts once their case's
    /// messages were delivered). Returns how many. (The alerts about a case's deadlines are
    /// cleared when the case is saved answered, ended or accepted: [`StoreTx::save_case`].)
    pub async fn clear_resolved_alerts(
        &self,
        now_unix_ms: i64,
        cutoff_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let per_peer = sqlx::query(
            "UPDATE alerts SET cleared_at_unix_ms = $1
             WHERE kind = 'undelivered' AND cleared_at_unix_ms = 0 AND case_id LIKE 'peer/%'
               AND counterpart_county NOT IN
                   (SELECT recipient FROM outbox WHERE state = 'pending' AND created_at_unix_ms <= $2)",
        )
        .bind(now_unix_ms)
        .bind(cutoff_unix_ms)
        .execute(&self.pool)
        .await?;
        let per_case = sqlx::query(
            "UPDATE alerts SET cleared_at_unix_ms = $1
             WHERE kind = 'undelivered' AND cleared_at_unix_ms = 0 AND case_id NOT LIKE 'peer/%'
               AND case_id NOT IN (SELECT case_id FROM outbox WHERE state = 'pending')",
        )
        .bind(now_unix_ms)
        .execute(&self.pool)
        .await?;
        Ok(per_peer.rows_affected() + per_case.rows_affected())
    }

    /// Cases by (kind, direction, state, count), for metrics.
    pub async fn case_counts(&self) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, direction, state, COUNT(*) AS n FROM cases GROUP BY kind, direction, state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("kind")?,
                    row.try_get("direction")?,
                    row.try_get("state")?,
                    row.try_get("n")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Open alerts by (kind, direction, count), for metrics.
    pub async fn open_alert_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, direction, COUNT(*) AS n FROM alerts WHERE cleared_at_unix_ms = 0 GROUP BY kind, direction",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("kind")?,
                    row.try_get("direction")?,
                    row.try_get("n")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Pending outbox per peer: (peer, depth, oldest queued at), for metrics.
    pub async fn outbox_stats(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT recipient, COUNT(*) AS n, MIN(created_at_unix_ms) AS oldest FROM outbox
             WHERE state = 'pending' GROUP BY recipient",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("recipient")?,
                    row.try_get("n")?,
                    row.try_get("oldest")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// ESCALATED alerts not yet reported to the province.
    pub async fn unreported_escalations(&self, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT alert_id, case_id, kind, direction, counterpart_county, raised_at_unix_ms,
                    due_at_unix_ms, cleared_at_unix_ms, detail
             FROM alerts WHERE kind = 'escalated' AND reported_at_unix_ms = 0
             ORDER BY raised_at_unix_ms LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(alert_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Marks alerts as reported to the province.
    pub async fn mark_reported(
        &self,
        alert_ids: &[String],
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        for alert_id in alert_ids {
            sqlx::query("UPDATE alerts SET reported_at_unix_ms = $1 WHERE alert_id = $2")
                .bind(now_unix_ms)
                .bind(alert_id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Roster changes after `seq`, in order, for the provincial index.
    pub async fn roster_changes_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<v1::RosterChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, resident_id, name, hukou_county, residence_county, status, since, changed_at_unix_ms
             FROM roster_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(v1::RosterChange {
                    seq: row.try_get("seq")?,
                    resident_id: row.try_get("resident_id")?,
                    name: row.try_get("name")?,
                    hukou_county: row.try_get("hukou_county")?,
                    residence_county: row.try_get("residence_county")?,
                    status: status_from_label(&row.try_get::<String, _>("status")?) as i32,
                    since: row.try_get("since")?,
                    changed_at_unix_ms: row.try_get("changed_at_unix_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// How far a stream from the registry has been taken in (0 before the first).
    pub async fn provincial_cursor(&self, name: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT seq FROM provincial_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("seq")).transpose()?.unwrap_or(0))
    }

    /// Case events after `seq`, in order, for the province's compliance figures.
    pub async fn case_reports_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<v1::CaseEventReport>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, report FROM case_reports WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut reports = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            let bytes: Vec<u8> = row.try_get("report")?;
            match v1::CaseEventReport::decode(bytes.as_slice()) {
                Ok(mut report) => {
                    report.seq = seq;
                    reports.push(report);
                }
                // Written by this node, so never expected; skipped rather than blocking the stream.
                Err(error) => tracing::error!(seq, %error, "undecodable case report skipped"),
            }
        }
        Ok(reports)
    }

    /// Alerts, newest first.
    /// Alerts, newest first, after `after` (the last one of the previous page) when given.
    pub async fn list_alerts(
        &self,
        open_only: bool,
        limit: u32,
        after: Option<&AlertCursor>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let (after_ms, after_id) = match after {
            Some(cursor) => (cursor.raised_at_unix_ms, cursor.alert_id.as_str()),
            None => (i64::MAX, ""),
        };
        let rows = sqlx::query(
            "SELECT alert_id, case_id, kind, direction, counterpart_county, raised_at_unix_ms,
                    due_at_unix_ms, cleared_at_unix_ms, detail
             FROM alerts WHERE ($1 = 0 OR cleared_at_unix_ms = 0)
               AND (raised_at_unix_ms < $3 OR (raised_at_unix_ms = $3 AND alert_id < $4))
             ORDER BY raised_at_unix_ms DESC, alert_id DESC LIMIT $2",
        )
        .bind(i64::from(open_only))
        .bind(i64::from(limit))
        .bind(after_ms)
        .bind(after_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(alert_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
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

    /// Up to `limit` pending messages for `recipient` that are due for an attempt, oldest first.
    pub async fn pending_outbox(
        &self,
        recipient: &str,
        now_unix_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
             WHERE state = 'pending' AND recipient = $1 AND next_attempt_at_unix_ms <= $2
             ORDER BY seq LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(recipient)
            .bind(now_unix_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(outbox_from_row).collect::<Result<_, _>>()?)
    }

    /// Every recipient with pending messages.
    pub async fn pending_recipients(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT recipient FROM outbox WHERE state = 'pending'")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| row.try_get("recipient"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The earliest next attempt among pending messages for `recipient`.
    pub async fn next_attempt_at(&self, recipient: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at_unix_ms) AS next FROM outbox WHERE state = 'pending' AND recipient = $1",
        )
        .bind(recipient)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("next")?)
    }

    /// Outbox rows for listing: pending and rejected ones, or all (newest first).
    pub async fn list_outbox(
        &self,
        include_delivered: bool,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ($1 = 1 OR state <> 'delivered')
             ORDER BY seq DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(include_delivered))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(outbox_from_row).collect::<Result<_, _>>()?)
    }

    /// Records a failed attempt for these messages and when to try again.
    pub async fn record_delivery_failure(
        &self,
        message_ids: &[String],
        error: &str,
        next_attempt_at_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        for message_id in message_ids {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at_unix_ms = $2
                 WHERE message_id = $3 AND state = 'pending'",
            )
            .bind(error)
            .bind(next_attempt_at_unix_ms)
            .bind(message_id)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Appends an audit entry for a read of personal data to the hash chain.
    pub async fn audit(
        &self,
        operator: &str,
        action: &str,
        purpose: &str,
        subject: &str,
        rows_returned: usize,
    ) -> Result<(), StoreError> {
        Ok(self
            .database
            .append_audit(operator, action, purpose, subject, rows_returned as i64)
            .await?)
    }

    /// Recomputes the audit chain (see [`Database::verify_audit_chain`]).
    pub async fn verify_audit_chain(&self) -> Result<Result<i64, String>, StoreError> {
        Ok(self.database.verify_audit_chain().await?)
    }

    /// Audit entries, newest first (for `exchange-node audit` and tests).
    pub async fn audit_entries(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String, String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT operator, action, purpose, subject, rows_returned FROM audit_log
             ORDER BY at_unix_ms DESC, entry_id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("operator")?,
                    row.try_get("action")?,
                    row.try_get("purpose")?,
                    row.try_get("subject")?,
                    row.try_get("rows_returned")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Records a refused peer (spoofed sender, revoked certificate, …).
    pub async fn record_security_event(
        &self,
        peer: &str,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO security_events (event_id, at_unix_ms, peer, event, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(mpx_proto::time::now_unix_ms())
        .bind(peer)
        .bind(event)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Security events, newest first: (peer, event, detail).
    pub async fn security_events(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT peer, event, detail FROM security_events ORDER BY at_unix_ms DESC, event_id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("peer")?,
                    row.try_get("event")?,
                    row.try_get("detail")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn add_operator_token(
        &self,
        name: &str,
        token_sha256: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO operator_tokens (token_sha256, name, created_at_unix_ms) VALUES ($1, $2, $3)")
            .bind(token_sha256)
            .bind(name)
            .bind(mpx_proto::time::now_unix_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// All operator tokens: hash → name.
    pub async fn operator_tokens(&self) -> Result<HashMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT token_sha256, name FROM operator_tokens")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("token_sha256")?, row.try_get("name")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Counts for a status line: (people, open inbound, open outbound, pending outbox).
    pub async fn counts(&self) -> Result<(i64, i64, i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM people) AS people,
               (SELECT COUNT(*) FROM cases WHERE direction = 'inbound'
                  AND state NOT IN ('closed', 'withdrawn', 'redirected', 'rejected')) AS inbound,
               (SELECT COUNT(*) FROM cases WHERE direction = 'outbound'
                  AND state NOT IN ('closed', 'withdrawn', 'redirected', 'rejected')) AS outbound,
               (SELECT COUNT(*) FROM outbox WHERE state = 'pending') AS pending",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((
            row.try_get("people")?,
            row.try_get("inbound")?,
            row.try_get("outbound")?,
            row.try_get("pending")?,
        ))
    }
}

/// One alert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    pub alert_id: String,
    /// The case the alert is about; for an `UNDELIVERED` alert, which is about a peer,
    /// `peer/{county}/{raised at}` (the table keeps one alert per subject and kind).
    pub case_id: String,
    /// `due_soon`, `overdue`, `escalated`, `not_accepted`, `undelivered`.
    pub kind: String,
    pub direction: String,
    pub counterpart_county: String,
    pub raised_at_unix_ms: i64,
    pub due_at_unix_ms: i64,
    pub cleared_at_unix_ms: i64,
    pub detail: String,
}

/// Where a page of alerts ends: the last alert's raise instant and id, as a page token
/// `{raised_at_unix_ms}_{alert_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertCursor {
    pub raised_at_unix_ms: i64,
    pub alert_id: String,
}

impl AlertCursor {
    pub fn of(alert: &AlertRecord) -> Self {
        Self {
            raised_at_unix_ms: alert.raised_at_unix_ms,
            alert_id: alert.alert_id.clone(),
        }
    }

    pub fn token(&self) -> String {
        format!("{}_{}", self.raised_at_unix_ms, self.alert_id)
    }

    /// Parses a page token; `None` when it is not one.
    pub fn parse(token: &str) -> Option<Self> {
        let (ms, id) = token.split_once('_')?;
        let raised_at_unix_ms = ms.parse().ok()?;
        uuid::Uuid::parse_str(id).ok()?;
        Some(Self {
            raised_at_unix_ms,
            alert_id: id.to_string(),
        })
    }
}

fn alert_from_row(row: &AnyRow) -> Result<AlertRecord, sqlx::Error> {
    Ok(AlertRecord {
        alert_id: row.try_get("alert_id")?,
        case_id: row.try_get("case_id")?,
        kind: row.try_get("kind")?,
        direction: row.try_get("direction")?,
        counterpart_county: row.try_get("counterpart_county")?,
        raised_at_unix_ms: row.try_get("raised_at_unix_ms")?,
        due_at_unix_ms: row.try_get("due_at_unix_ms")?,
        cleared_at_unix_ms: row.try_get("cleared_at_unix_ms")?,
        detail: row.try_get("detail")?,
    })
}

// ---- transactions -------------------------------------------------------------------------------

impl StoreTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.transaction.commit().await?;
        Ok(())
    }

    pub async fn get_person(
        &mut self,
        resident_id: &str,
    ) -> Result<Option<v1::Person>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE resident_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(resident_id)
            .fetch_optional(&mut *self.transaction)
            .await?;
        Ok(row.as_ref().map(person_from_row).transpose()?)
    }

    /// The stored records of these people (those that exist), in one statement per 500 IDs.
    pub async fn get_people(
        &mut self,
        resident_ids: &[&str],
    ) -> Result<HashMap<String, v1::Person>, StoreError> {
        let mut found = HashMap::with_capacity(resident_ids.len());
        for part in resident_ids.chunks(500) {
            let list = (1..=part.len())
                .map(|n| {
                    if self.is_sqlite {
                        "?".to_string()
                    } else {
                        format!("${n}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE resident_id IN ({list})");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in part {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&mut *self.transaction).await? {
                let person = person_from_row(&row)?;
                found.insert(person.resident_id.clone(), person);
            }
        }
        Ok(found)
    }

    /// [`StoreTx::upsert_person`] for many people: multi-row statements (500 rows each) for the
    /// records and their roster changes, the same effect with a few statements per batch.
    pub async fn upsert_people(
        &mut self,
        people: &[v1::Person],
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        for part in people.chunks(500) {
            let sql = format!(
                "INSERT INTO people (resident_id, name, sex, birth_date, hukou_county, residence_county,
                    residence_address, arrival_date, departure_date, phone, notes, status,
                    resident_id_flagged, created_at_unix_ms, updated_at_unix_ms)
                 VALUES {}
                 ON CONFLICT (resident_id) DO UPDATE SET
                    name = excluded.name, sex = excluded.sex, birth_date = excluded.birth_date,
                    hukou_county = excluded.hukou_county, residence_county = excluded.residence_county,
                    residence_address = excluded.residence_address, arrival_date = excluded.arrival_date,
                    departure_date = excluded.departure_date, phone = excluded.phone,
                    notes = excluded.notes, status = excluded.status,
                    resident_id_flagged = excluded.resident_id_flagged,
                    updated_at_unix_ms = excluded.updated_at_unix_ms",
                value_rows(part.len(), 15, self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for person in part {
                let status =
                    PersonStatus::try_from(person.status).unwrap_or(PersonStatus::Unspecified);
                query = query
                    .bind(person.resident_id.clone())
                    .bind(person.name.clone())
                    .bind(sex_label(person.sex))
                    .bind(person.birth_date.clone())
                    .bind(person.hukou_county.clone())
                    .bind(person.residence_county.clone())
                    .bind(person.residence_address.clone())
                    .bind(person.arrival_date.clone())
                    .bind(person.departure_date.clone())
                    .bind(person.phone.clone())
                    .bind(person.notes.clone())
                    .bind(status_label(status))
                    .bind(i64::from(person.resident_id_flagged))
                    .bind(now_unix_ms)
                    .bind(now_unix_ms);
            }
            query.execute(&mut *self.transaction).await?;
            let sql = format!(
                "INSERT INTO roster_changes (resident_id, name, hukou_county, residence_county, status,
                    since, changed_at_unix_ms) VALUES {}",
                value_rows(part.len(), 7, self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for person in part {
                let status =
                    PersonStatus::try_from(person.status).unwrap_or(PersonStatus::Unspecified);
                let since = match status {
                    PersonStatus::Departed | PersonStatus::WhereaboutsUnknown => {
                        person.departure_date.clone()
                    }
                    _ => person.arrival_date.clone(),
                };
                query = query
                    .bind(person.resident_id.clone())
                    .bind(person.name.clone())
                    .bind(person.hukou_county.clone())
                    .bind(person.residence_county.clone())
                    .bind(status_label(status))
                    .bind(since)
                    .bind(now_unix_ms);
            }
            query.execute(&mut *self.transaction).await?;
        }
        Ok(())
    }

    /// Inserts or replaces a person's record.
    pub async fn upsert_person(
        &mut self,
        person: &v1::Person,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO people (resident_id, name, sex, birth_date, hukou_county, residence_county,
                residence_address, arrival_date, departure_date, phone, notes, status,
                resident_id_flagged, created_at_unix_ms, updated_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
             ON CONFLICT (resident_id) DO UPDATE SET
                name = $2, sex = $3, birth_date = $4, hukou_county = $5, residence_county = $6,
                residence_address = $7, arrival_date = $8, departure_date = $9, phone = $10,
                notes = $11, status = $12, resident_id_flagged = $13, updated_at_unix_ms = $14",
        )
        .bind(&person.resident_id)
        .bind(&person.name)
        .bind(sex_label(person.sex))
        .bind(&person.birth_date)
        .bind(&person.hukou_county)
        .bind(&person.residence_county)
        .bind(&person.residence_address)
        .bind(&person.arrival_date)
        .bind(&person.departure_date)
        .bind(&person.phone)
        .bind(&person.notes)
        .bind(status_label(PersonStatus::try_from(person.status).unwrap_or(PersonStatus::Unspecified)))
        .bind(i64::from(person.resident_id_flagged))
        .bind(now_unix_ms)
        .execute(&mut *self.transaction)
        .await?;
        // The same change, for the provincial index.
        let status = PersonStatus::try_from(person.status).unwrap_or(PersonStatus::Unspecified);
        let since = match status {
            PersonStatus::Departed | PersonStatus::WhereaboutsUnknown => &person.departure_date,
            _ => &person.arrival_date,
        };
        sqlx::query(
            "INSERT INTO roster_changes (resident_id, name, hukou_county, residence_county, status, since,
                                         changed_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&person.resident_id)
        .bind(&person.name)
        .bind(&person.hukou_county)
        .bind(&person.residence_county)
        .bind(status_label(status))
        .bind(since)
        .bind(now_unix_ms)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

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

    /// Records how far a stream from the registry has been taken in.
    pub async fn set_provincial_cursor(&mut self, name: &str, seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO provincial_cursors (name, seq) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET seq = $2 WHERE provincial_cursors.seq < $2",
        )
        .bind(name)
        .bind(seq)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    /// Queues one case event for the province (see [`Store::case_reports_after`]).
    pub async fn queue_case_report(
        &mut self,
        report: &v1::CaseEventReport,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO case_reports (case_id, event, at_unix_ms, report) VALUES ($1, $2, $3, $4)",
        )
        .bind(&report.case_id)
        .bind(&report.event)
        .bind(report.at_unix_ms)
        .bind(report.encode_to_vec())
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    /// Raises an alert unless this case already has one of this kind. True when it is new.
    pub async fn raise_alert(&mut self, alert: &AlertRecord) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO alerts (alert_id, case_id, kind, direction, counterpart_county, raised_at_unix_ms,
                                 due_at_unix_ms, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (case_id, kind) DO NOTHING",
        )
        .bind(&alert.alert_id)
        .bind(&alert.case_id)
        .bind(&alert.kind)
        .bind(&alert.direction)
        .bind(&alert.counterpart_county)
        .bind(alert.raised_at_unix_ms)
        .bind(alert.due_at_unix_ms)
        .bind(&alert.detail)
        .execute(&mut *self.transaction)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Queues an encoded envelope for delivery (transactional outbox).
    #[allow(clippy::too_many_arguments)]
    pub async fn enqueue(
        &mut self,
        message_id: &str,
        recipient: &str,
        case_id: &str,
        body_kind: &str,
        envelope: &[u8],
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (message_id, recipient, case_id, body_kind, envelope, state, created_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
        )
        .bind(message_id)
        .bind(recipient)
        .bind(case_id)
        .bind(body_kind)
        .bind(envelope.to_vec())
        .bind(now_unix_ms)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    /// Settles the outbox rows of one delivered batch in one statement per 200 rows; returns
    /// the ids of the rows that were pending (the others were settled before).
    pub async fn settle_outbox_batch(
        &mut self,
        settlements: &[OutboxSettlement],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut settled = std::collections::HashSet::new();
        for part in settlements.chunks(200) {
            let sql = format!(
                "UPDATE outbox SET state = v.column2, last_error = v.column3,
                    delivered_at_unix_ms = v.column4, receipt = v.column5, attempts = attempts + 1
                 FROM (VALUES {}) AS v
                 WHERE outbox.message_id = v.column1 AND outbox.state = 'pending'
                 RETURNING outbox.message_id",
                value_rows(part.len(), 5, self.is_sqlite)
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for settlement in part {
                query = query
                    .bind(settlement.message_id.clone())
                    .bind(if settlement.rejected {
                        "rejected"
                    } else {
                        "delivered"
                    })
                    .bind(settlement.error.clone())
                    .bind(settlement.received_at_unix_ms)
                    .bind(settlement.receipt.clone());
            }
            settled.extend(query.fetch_all(&mut *self.transaction).await?);
        }
        Ok(settled)
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

    /// Queues case events for the province, in order, 200 a statement.
    pub async fn queue_case_reports(
        &mut self,
        reports: &[v1::CaseEventReport],
    ) -> Result<(), StoreError> {
        for part in reports.chunks(200) {
            let sql = format!(
                "INSERT INTO case_reports (case_id, event, at_unix_ms, report) VALUES {}",
                value_rows(part.len(), 4, self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for report in part {
                query = query
                    .bind(report.case_id.clone())
                    .bind(report.event.clone())
                    .bind(report.at_unix_ms)
                    .bind(report.encode_to_vec());
            }
            query.execute(&mut *self.transaction).await?;
        }
        Ok(())
    }

    pub async fn outbox_message(
        &mut self,
        message_id: &str,
    ) -> Result<Option<OutboxMessage>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE message_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(message_id)
            .fetch_optional(&mut *self.transaction)
            .await?;
        Ok(row.as_ref().map(outbox_from_row).transpose()?)
    }

    /// The inbox entries of these message ids (those that exist), by id.
    pub async fn inbox_entries(
        &mut self,
        message_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, InboxEntry>, StoreError> {
        let mut entries = std::collections::HashMap::new();
        for part in message_ids.chunks(500) {
            let sql = format!(
                "SELECT message_id, sender, receipt FROM inbox WHERE message_id IN {}",
                value_rows(1, part.len(), self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in part {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.transaction).await? {
                entries.insert(
                    row.try_get("message_id")?,
                    InboxEntry {
                        sender: row.try_get("sender")?,
                        receipt: row.try_get("receipt")?,
                    },
                );
            }
        }
        Ok(entries)
    }

    /// Records a stored message and the receipt answered for it.
    pub async fn insert_inbox(
        &mut self,
        message_id: &str,
        sender: &str,
        case_id: &str,
        body_kind: &str,
        received_at_unix_ms: i64,
        receipt: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO inbox (message_id, sender, case_id, body_kind, received_at_unix_ms, receipt)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(message_id)
        .bind(sender)
        .bind(case_id)
        .bind(body_kind)
        .bind(received_at_unix_ms)
        .bind(receipt.to_vec())
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }
}
