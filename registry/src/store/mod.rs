//! All SQL of the registry, behind [`Store`]. Portable SQL over `sqlx::Any`, so SQLite and
//! PostgreSQL run the same statements; one migration tree, expanded per backend (`migrations`).
//! Here: the handle, connection, leases and the shared types; one room per group of tables:
//! `directory`, `index`, `compliance`, `assignments`, `audit`, `node_activity`.

use mpx_proto::database::DatabaseError;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::compliance::{
    CaseRecord, CountyOverdue, DueGroup, DueTally, OverdueTally, RaisedAlert, Verification,
};

mod assignments;
mod audit;
mod compliance;
mod directory;
pub use directory::NodeContact;
mod index;
mod migrations;
mod node_activity;

pub use node_activity::LastCaseReport;

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Open(#[from] DatabaseError),
    #[error("the enrolment token is unknown, used, expired, or for another county")]
    TokenInvalid,
    #[error("county {0} is not in the directory")]
    UnknownCounty(String),
}

/// One node as the registry knows it (columns by field name).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NodeRecord {
    pub county: String,
    pub certificate_pem: String,
    pub name: String,
    pub endpoint: String,
    pub certificate_sha256: String,
    pub status: String,
    pub enrolled_at_unix_ms: i64,
    pub updated_at_unix_ms: i64,
}

/// A revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    pub certificate_sha256: String,
    pub county: String,
    pub revoked_at_unix_ms: i64,
    pub reason: String,
}

mpx_proto::store_handle! {
    /// Handle to the registry's database; cheap to clone.
    pub struct Store;
    migrations = migrations::MIGRATIONS;
}

/// SQL of the report's rules (`compliance::answered_by`, `counts_in_report`, `dispute_of`,
/// `is_open_overdue`), with `$3` the report's instant and `$4` the latest instant old enough to
/// be disputed (in the open-overdue query the instant is `$1`).
const ANSWERED: &str = "(responded_at_unix_ms > 0 AND responded_at_unix_ms <= $3)";
const COUNTS_IN_REPORT: &str = "(due_at_unix_ms > 0 AND requester_reported_at_unix_ms > 0
    AND (delivered_at_unix_ms > 0 OR (length(requester_county) = 6 AND substr(requester_county, 3) = '0000'))
    AND delivered_at_unix_ms <= $3
    AND NOT (withdrawn_at_unix_ms > 0 AND withdrawn_at_unix_ms <= $3
             AND withdrawn_at_unix_ms < due_at_unix_ms
             AND NOT (responded_at_unix_ms > 0 AND responded_at_unix_ms <= $3
                      AND responded_at_unix_ms <= withdrawn_at_unix_ms))
    AND (due_at_unix_ms <= $3 OR (responded_at_unix_ms > 0 AND responded_at_unix_ms <= $3)))";
const DISPUTED: &str = "(dispute <> ''
    OR (response_by_recipient <> 0 AND response_by_requester = 0
        AND requester_reported_at_unix_ms > 0
        AND NOT (length(requester_county) = 6 AND substr(requester_county, 3) = '0000')
        AND responded_at_unix_ms <= $4)
    OR (receipt_by_recipient <> 0 AND receipt_by_requester = 0
        AND requester_reported_at_unix_ms > 0
        AND NOT (length(requester_county) = 6 AND substr(requester_county, 3) = '0000')
        AND delivered_at_unix_ms <= $4)
    OR ((length(requester_county) = 6 AND substr(requester_county, 3) = '0000')
        AND delivered_at_unix_ms = 0 AND opened_at_unix_ms <= $4))";
const OPEN_OVERDUE: &str = "(requester_reported_at_unix_ms > 0 AND due_at_unix_ms > 0
    AND due_at_unix_ms <= $1
    AND (responded_at_unix_ms <= 0 OR responded_at_unix_ms > $1)
    AND NOT (withdrawn_at_unix_ms > 0 AND withdrawn_at_unix_ms <= $1)
    AND NOT (closed_at_unix_ms > 0 AND closed_at_unix_ms <= $1))";

/// `columns` of the cases open past due as of `$1`, as two index ranges of `compliance_open`
/// (never answered; answered after `$1`) rather than one OR the planner may answer with a scan
/// of every case.
fn open_overdue_rows(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM compliance_cases
         WHERE responded_at_unix_ms <= 0 AND {OPEN_OVERDUE}
         UNION ALL
         SELECT {columns} FROM compliance_cases
         WHERE responded_at_unix_ms > $1 AND {OPEN_OVERDUE}"
    )
}

const COMPLIANCE_COLUMNS: &str =
    "case_id, kind, priority, requester_county, recipient_county, parent_case_id,
    opened_at_unix_ms, delivered_at_unix_ms, due_at_unix_ms, due_date, acceptance_due_at_unix_ms,
    accepted_at_unix_ms, responded_at_unix_ms, response_outcome, response_working_days,
    withdrawn_at_unix_ms, closed_at_unix_ms, extended_due_at_unix_ms, reminders,
    receipt_by_requester, receipt_by_recipient, response_by_requester, response_by_recipient,
    requester_reported_at_unix_ms, recipient_reported_at_unix_ms, dispute";

fn compliance_from_row(row: &AnyRow) -> Result<CaseRecord, sqlx::Error> {
    let flag = |name: &str| row.try_get::<i64, _>(name).map(|v| v != 0);
    Ok(CaseRecord {
        case_id: row.try_get("case_id")?,
        kind: row.try_get("kind")?,
        priority: row.try_get("priority")?,
        requester_county: row.try_get("requester_county")?,
        recipient_county: row.try_get("recipient_county")?,
        parent_case_id: row.try_get("parent_case_id")?,
        opened_at_unix_ms: row.try_get("opened_at_unix_ms")?,
        delivered_at_unix_ms: row.try_get("delivered_at_unix_ms")?,
        due_at_unix_ms: row.try_get("due_at_unix_ms")?,
        due_date: row.try_get("due_date")?,
        acceptance_due_at_unix_ms: row.try_get("acceptance_due_at_unix_ms")?,
        accepted_at_unix_ms: row.try_get("accepted_at_unix_ms")?,
        responded_at_unix_ms: row.try_get("responded_at_unix_ms")?,
        response_outcome: row.try_get("response_outcome")?,
        response_working_days: row.try_get("response_working_days")?,
        withdrawn_at_unix_ms: row.try_get("withdrawn_at_unix_ms")?,
        closed_at_unix_ms: row.try_get("closed_at_unix_ms")?,
        extended_due_at_unix_ms: row.try_get("extended_due_at_unix_ms")?,
        reminders: row.try_get("reminders")?,
        receipt_by_requester: flag("receipt_by_requester")?,
        receipt_by_recipient: flag("receipt_by_recipient")?,
        response_by_requester: flag("response_by_requester")?,
        response_by_recipient: flag("response_by_recipient")?,
        requester_reported_at_unix_ms: row.try_get("requester_reported_at_unix_ms")?,
        recipient_reported_at_unix_ms: row.try_get("recipient_reported_at_unix_ms")?,
        dispute: row.try_get("dispute")?,
    })
}

fn alert_from_row(row: &AnyRow) -> Result<mpx_proto::v1::ProvinceAlert, sqlx::Error> {
    Ok(mpx_proto::v1::ProvinceAlert {
        alert_id: row.try_get("alert_id")?,
        kind: row.try_get("kind")?,
        case_id: row.try_get("case_id")?,
        county: row.try_get("county")?,
        counterpart_county: row.try_get("counterpart_county")?,
        raised_at_unix_ms: row.try_get("raised_at_unix_ms")?,
        due_at_unix_ms: row.try_get("due_at_unix_ms")?,
        detail: row.try_get("detail")?,
    })
}

/// Raises `alert` about `case_id` unless one of its kind was raised about it before; returns
/// how many it raised (0 or 1).
async fn insert_alert(
    executor: &mut sqlx::AnyConnection,
    case_id: &str,
    alert: &RaisedAlert,
    due_at_unix_ms: i64,
    now_unix_ms: i64,
) -> Result<u64, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO province_alerts (kind, case_id, county, counterpart_county, raised_at_unix_ms,
            due_at_unix_ms, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id, kind) DO NOTHING",
    )
    .bind(alert.kind)
    .bind(case_id)
    .bind(&alert.county)
    .bind(&alert.counterpart_county)
    .bind(now_unix_ms)
    .bind(due_at_unix_ms)
    .bind(&alert.detail)
    .execute(executor)
    .await?
    .rows_affected();
    Ok(inserted)
}

/// Moves `county`'s cursor in `table` (`index_cursors` or `case_report_cursors`) up to
/// `highest` (never down) and returns where it stands.
async fn advance_cursor(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &'static str,
    county: &str,
    highest: i64,
) -> Result<i64, sqlx::Error> {
    let upsert = format!(
        "INSERT INTO {table} (county, acknowledged_seq) VALUES ($1, $2)
         ON CONFLICT (county) DO UPDATE SET acknowledged_seq = $2 WHERE {table}.acknowledged_seq < $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(upsert))
        .bind(county)
        .bind(highest)
        .execute(&mut **transaction)
        .await?;
    let select = format!("SELECT acknowledged_seq FROM {table} WHERE county = $1");
    sqlx::query(sqlx::AssertSqlSafe(select))
        .bind(county)
        .fetch_one(&mut **transaction)
        .await?
        .try_get("acknowledged_seq")
}

/// A case the province opens for one county.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    pub county: String,
    /// `conflict` or `untracked`.
    pub finding: &'static str,
    pub resident_id: String,
    pub subject_name: String,
    pub questions: String,
    /// `normal` or `urgent`.
    pub priority: &'static str,
}
