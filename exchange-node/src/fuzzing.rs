//! Fuzz-target body for what a peer delivers: a `DeliverRequest` decoded from arbitrary bytes and
//! handed to the node's real receive path ([`Workflow::receive_batch`], as `service::exchange`
//! does) over a temporary SQLite store, set up once per process.
//!
//! So that most inputs reach the bodies rather than being refused at the first check, the harness
//! rewrites the routing after decoding (the TLS layer and the peer's own code guarantee these in
//! real traffic):
//!
//! - `sender` and `recipient` become the test counties (621202 → this node, 621221);
//! - every distinct `message_id` becomes a fresh UUID (equal ids in one batch stay equal, so the
//!   duplicate-in-a-batch path is reached), except one starting with `!`, kept as is without it;
//! - every distinct case id (`case_id`, `parent_case_id`) becomes a fresh UUID, equal within the
//!   batch (a request and its withdrawal in one batch meet), except: empty stays empty, `!…` is
//!   kept as is without the `!`, and `o…` names a case this node sent to 621202, created for the
//!   batch in the state given by the id's second byte (so responses reach the response code).
//!
//! Properties asserted: the batch is answered (an error for the whole batch would make the sender
//! retry it forever), one receipt per envelope in order; a refusal names the field it is about;
//! what is stored reads back; delivering the same batch again returns the same receipts and has
//! no second effect.

use std::collections::HashMap;
use std::sync::OnceLock;

use mpx_proto::division::CountyCode;
use mpx_proto::resident_id::{CheckDigitMode, check_character};
use mpx_proto::v1::{
    Case, CaseDirection, CaseKind, CasePriority, CaseState, DeliverRequest, Envelope, NoticeKind,
    Receipt, ReceiptStatus, envelope::Body,
};
use prost::Message;

use crate::clock::Clock;
use crate::directory::DirectoryHandle;
use crate::outbox::DeliveryNotifier;
use crate::store::Store;
use crate::workflow::Workflow;

/// This node.
pub const NODE: &str = "621221";
/// The peer delivering.
pub const PEER: &str = "621202";
/// Envelopes per batch at most (the service allows 1000; a fuzz input needs fewer).
const MAX_ENVELOPES: usize = 64;
/// 2026-05-28, a Thursday.
const NOW_UNIX_MS: i64 = 1_780_000_000_000;

struct Harness {
    runtime: tokio::runtime::Runtime,
    workflow: Workflow,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        // Memory-backed where the machine has it: the harness commits a transaction per input.
        let base = ["/dev/shm"]
            .iter()
            .map(std::path::PathBuf::from)
            .find(|dir| dir.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        remove_stale_stores(&base);
        let dir = base.join(format!("{STORE_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for the fuzz store");
        let url = format!("sqlite://{}?mode=rwc", dir.join("node.db").display());
        let store = runtime
            .block_on(Store::connect(&url))
            .expect("the fuzz store opens");
        let (notifier, _wakeups) = DeliveryNotifier::channel();
        let workflow = Workflow::new(
            store,
            county(NODE),
            CheckDigitMode::Strict,
            DirectoryHandle::default(),
            notifier,
            Clock::manual(NOW_UNIX_MS),
        );
        Harness { runtime, workflow }
    })
}

const STORE_PREFIX: &str = "mpx-fuzz-envelope-";

/// Removes the stores of harness processes that have ended (a process cannot remove its own: it
/// ends by exit or abort).
fn remove_stale_stores(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(STORE_PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn county(code: &str) -> CountyCode {
    CountyCode::parse(code).expect("a test county")
}

fn fresh_uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A valid resident ID with hukou in this node's county.
fn subject_id() -> String {
    let first17 = format!("{NODE}19900101001");
    format!("{first17}{}", check_character(first17.as_bytes()))
}

/// Rewrites ids as the module documentation says; returns the outbound cases to create.
#[derive(Default)]
struct Ids {
    messages: HashMap<String, String>,
    cases: HashMap<String, String>,
    outbound: Vec<Case>,
}

impl Ids {
    fn message(&mut self, id: &mut String) {
        if let Some(raw) = id.strip_prefix('!') {
            *id = raw.to_string();
            return;
        }
        *id = self
            .messages
            .entry(id.clone())
            .or_insert_with(fresh_uuid)
            .clone();
    }

    fn case(&mut self, id: &mut String) {
        if id.is_empty() {
            return;
        }
        if let Some(raw) = id.strip_prefix('!') {
            *id = raw.to_string();
            return;
        }
        if let Some(mapped) = self.cases.get(id.as_str()) {
            *id = mapped.clone();
            return;
        }
        let mapped = fresh_uuid();
        if id.starts_with('o') {
            let selector = id.as_bytes().get(1).copied().unwrap_or(0);
            let state =
                CaseState::try_from(i32::from(selector % 12)).unwrap_or(CaseState::Delivered);
            self.outbound.push(Case {
                case_id: mapped.clone(),
                kind: if selector & 0x80 == 0 {
                    CaseKind::Verification
                } else {
                    CaseKind::RecordTransfer
                } as i32,
                direction: CaseDirection::Outbound as i32,
                requester_county: NODE.into(),
                recipient_county: PEER.into(),
                state: state as i32,
                priority: CasePriority::Normal as i32,
                resident_id: subject_id(),
                questions: "请核实".into(),
                opened_at_unix_ms: NOW_UNIX_MS - 86_400_000,
                delivered_at_unix_ms: NOW_UNIX_MS - 86_000_000,
                due_at_unix_ms: NOW_UNIX_MS + 10 * 86_400_000,
                handled_by: "fuzz".into(),
                ..Default::default()
            });
        }
        self.cases.insert(id.clone(), mapped.clone());
        *id = mapped;
    }

    fn envelope(&mut self, envelope: &mut Envelope) {
        envelope.sender = PEER.into();
        envelope.recipient = NODE.into();
        self.message(&mut envelope.message_id);
        let Some(body) = envelope.body.as_mut() else {
            return;
        };
        match body {
            Body::Notice(notice) => self.case(&mut notice.case_id),
            Body::Request(request) => {
                self.case(&mut request.case_id);
                self.case(&mut request.parent_case_id);
            }
            Body::Response(response) => self.case(&mut response.case_id),
            Body::Reminder(reminder) => self.case(&mut reminder.case_id),
            Body::Withdrawal(withdrawal) => self.case(&mut withdrawal.case_id),
            Body::RecordShare(share) => self.case(&mut share.case_id),
            Body::ExtensionRequest(request) => self.case(&mut request.case_id),
            Body::ExtensionDecision(decision) => self.case(&mut decision.case_id),
        }
    }
}

/// A refusal says which field and what was expected: `notice.kind: ARRIVED, MOVED or DEPARTED`.
fn assert_names_a_field(error: &str) {
    let field = error.split_once(": ").map(|(field, _)| field);
    assert!(
        field.is_some_and(|field| !field.is_empty() && !field.contains(char::is_whitespace)),
        "the refusal {error:?} does not start with the field it is about"
    );
}

/// Decodes a `DeliverRequest` and delivers it from [`PEER`] to a node of [`NODE`].
pub fn envelope(data: &[u8]) {
    let Ok(request) = DeliverRequest::decode(data) else {
        return;
    };
    let mut envelopes = request.envelopes;
    envelopes.truncate(MAX_ENVELOPES);
    let mut ids = Ids::default();
    for envelope in &mut envelopes {
        ids.envelope(envelope);
    }
    let harness = harness();
    harness.runtime.block_on(deliver(
        &harness.workflow,
        envelopes,
        std::mem::take(&mut ids.outbound),
    ));
}

async fn deliver(workflow: &Workflow, envelopes: Vec<Envelope>, outbound: Vec<Case>) {
    let store = workflow.store();
    if !outbound.is_empty() {
        let mut tx = store.begin().await.expect("a transaction");
        for case in &outbound {
            tx.save_case(case, NOW_UNIX_MS)
                .await
                .expect("an outbound case is saved");
        }
        tx.commit().await.expect("outbound cases commit");
    }
    let receipts = match workflow
        .receive_batch(county(PEER), envelopes.clone())
        .await
    {
        Ok(receipts) => receipts,
        Err(error) => panic!("the whole batch failed (the peer would retry it forever): {error}"),
    };
    assert_eq!(receipts.len(), envelopes.len(), "one receipt per envelope");
    let mut first_receipts: HashMap<&str, (&Envelope, &Receipt)> = HashMap::new();
    for (envelope, receipt) in envelopes.iter().zip(&receipts) {
        assert_eq!(receipt.message_id, envelope.message_id, "receipts in order");
        // A message id seen before in the batch: the same envelope is a redelivery and gets its
        // first receipt again; another body under that id is refused as such.
        if let Some((first_envelope, first)) = first_receipts.get(envelope.message_id.as_str()) {
            if uuid::Uuid::parse_str(&envelope.message_id).is_ok() {
                if *first_envelope == envelope {
                    assert_eq!(receipt, *first, "a redelivery gets the first receipt");
                } else {
                    assert_eq!(receipt.status(), ReceiptStatus::Rejected, "{receipt:?}");
                    assert!(
                        receipt.error.contains("already used for another message"),
                        "another body under a used id is refused as such: {}",
                        receipt.error
                    );
                }
                continue;
            }
        } else {
            first_receipts.insert(&envelope.message_id, (envelope, receipt));
        }
        match receipt.status() {
            ReceiptStatus::Rejected => {
                assert_names_a_field(&receipt.error);
                continue;
            }
            ReceiptStatus::Stored => assert!(receipt.error.is_empty()),
            other => panic!("a receipt is stored or rejected, not {other:?}"),
        }
        // Stored under the canonical form of the UUID the peer sent.
        let read_back = |case_id: String| async move {
            let case_id = uuid::Uuid::parse_str(&case_id)
                .map(|id| id.to_string())
                .unwrap_or_else(|_| panic!("a stored case has a UUID, not {case_id:?}"));
            store
                .get_case(&case_id)
                .await
                .expect("the store reads")
                .unwrap_or_else(|| panic!("the stored case {case_id} reads back"))
        };
        match &envelope.body {
            Some(Body::Notice(notice)) => {
                assert_eq!(receipt.case_id, notice.case_id);
                let case = read_back(receipt.case_id.clone()).await;
                assert_eq!(case.direction(), CaseDirection::Inbound);
                assert_eq!(case.requester_county, PEER);
                assert_eq!(case.kind(), CaseKind::ResidenceNotice);
                if matches!(notice.kind(), NoticeKind::Arrived | NoticeKind::Moved) {
                    let person = store
                        .get_person(&case.resident_id)
                        .await
                        .expect("the store reads")
                        .unwrap_or_else(|| {
                            panic!("the person of notice {} reads back", case.case_id)
                        });
                    assert_eq!(person.hukou_county, NODE);
                }
            }
            Some(Body::Request(request)) => {
                assert_eq!(receipt.case_id, request.case_id);
                let case = read_back(receipt.case_id.clone()).await;
                assert_eq!(case.direction(), CaseDirection::Inbound);
                assert_eq!(case.requester_county, PEER);
                assert_eq!(case.recipient_county, NODE);
                assert_eq!(case.resident_id.len(), 18);
            }
            _ => {}
        }
    }
    // Redelivery (a lost receipt, a restart): the same receipts, no second effect.
    let again = match workflow.receive_batch(county(PEER), envelopes).await {
        Ok(receipts) => receipts,
        Err(error) => panic!("the redelivered batch failed: {error}"),
    };
    assert_eq!(
        again, receipts,
        "a redelivered batch gets its original receipts"
    );
}
