//! All SQL of the node, behind [`Store`] (reads and single-statement writes) and [`StoreTx`]
//! (a transaction: a state change, its outbox rows and its events commit together). Portable SQL
//! over `sqlx::Any`; one migration tree, expanded per backend (`migrations`). Here: the handle,
//! connection, leases, the types and row mappings the rooms share; one room per group of tables:
//! `people`, `cases`, `outbox` (and inbox), `alerts`, `audit` (and security events, tokens),
//! `reports` (to the province).

use std::collections::HashMap;

use mpx_proto::database::{DatabaseError, value_rows};
use mpx_proto::person::{self, Stored};
use mpx_proto::v1::{self, CaseDirection, CaseKind, PersonStatus};
use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

use crate::domain::{state_from_label, state_label};

mod alerts;
mod audit;
mod cases;
mod migrations;
mod outbox;
mod people;
mod recovery;
mod reports;

pub use cases::{CaseOrder, CaseQuery, CaseTallies};
pub use recovery::{
    DeliveredRow, InboxRow, RecoveryItem, RecoveryPeer, RecoverySummary, RestoreRecord,
};

/// A store operation that failed. Driver errors are converted here, once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Open(#[from] DatabaseError),
}

/// One outbox row waiting for delivery (columns by field name).
#[derive(Debug, Clone, sqlx::FromRow)]
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
    /// SHA-256 (hex) of the envelope as received; empty for messages stored before it was kept.
    pub envelope_sha256: String,
}

mpx_proto::store_handle! {
    /// Handle to the node's database; cheap to clone.
    pub struct Store;
    migrations = migrations::MIGRATIONS;
}

/// An open transaction.
pub struct StoreTx {
    transaction: Transaction<'static, Any>,
    /// SQLite takes anonymous `?` placeholders in long statements: with numbered ones its
    /// parameter-name lookup is linear per parameter, quadratic per statement.
    is_sqlite: bool,
}

// ---- labels: enums as stored ------------------------------------------------------------------

/// The stored label of a case kind (the case-kind table's, [`mpx_proto::case_kind`]).
pub fn kind_label(kind: CaseKind) -> &'static str {
    mpx_proto::case_kind::kind_label(kind as i32)
}

fn kind_from_label(label: &str) -> CaseKind {
    mpx_proto::case_kind::kind_from_label(label).unwrap_or(CaseKind::Unspecified)
}

use mpx_proto::case_kind::{direction_from_label, priority_from_label, verdict_from_label};
pub use mpx_proto::case_kind::{direction_label, priority_label, verdict_label};

/// The stored label of a person's status (defined once, in [`mpx_proto::person`]).
pub use mpx_proto::person::status_label;

// ---- rows ---------------------------------------------------------------------------------------

/// The `people` columns of a [`v1::Person`], in field-table order.
static PERSON_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    person::FIELDS
        .iter()
        .map(|field| field.name)
        .collect::<Vec<_>>()
        .join(", ")
});

fn person_from_row(row: &AnyRow) -> Result<v1::Person, sqlx::Error> {
    let mut person = v1::Person::default();
    for field in person::FIELDS {
        let value = if field.stored_as_integer() {
            Stored::Integer(row.try_get(field.name)?)
        } else {
            Stored::Text(row.try_get(field.name)?)
        };
        field.set(&mut person, value);
    }
    Ok(person)
}

/// Binds a field's stored value.
fn bind_stored<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    value: Stored,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    match value {
        Stored::Text(text) => query.bind(text),
        Stored::Integer(number) => query.bind(number),
    }
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

const OUTBOX_COLUMNS: &str = "seq, message_id, recipient, case_id, body_kind, envelope, state,
    created_at_unix_ms, attempts, last_error";

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

// ---- the store ----------------------------------------------------------------------------------

impl Store {
    /// Starts a transaction.
    pub async fn begin(&self) -> Result<StoreTx, StoreError> {
        Ok(StoreTx {
            transaction: self.database.begin().await?,
            is_sqlite: self.database.is_sqlite,
        })
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

/// One alert as stored (columns by field name).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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

// ---- transactions -------------------------------------------------------------------------------

impl StoreTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.transaction.commit().await?;
        Ok(())
    }
}
