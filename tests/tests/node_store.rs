//! The exchange node's store and workflow, on SQLite and on PostgreSQL: the same behaviour suite
//! against both backends, so they cannot drift.
#![allow(clippy::unwrap_used)]

use exchange_node::clock::Clock;
use exchange_node::directory::DirectoryHandle;
use exchange_node::outbox::DeliveryNotifier;
use exchange_node::store::{CaseOrder, CaseQuery, CaseTallies, Store};
use exchange_node::workflow::{OpenCase, Workflow};
use mpx_proto::division::CountyCode;
use mpx_proto::resident_id::CheckDigitMode;
use mpx_proto::v1::{
    self, Case, CaseDirection, CaseKind, CasePriority, CaseState, Envelope, NoticeVerdict,
    PersonStatus, ReceiptStatus,
};
use mpx_tests::resident_id;
use prost::Message;

mpx_tests::on_both_backends!(
    people_round_trip_with_status_filter_and_pages,
    cases_list_open_first_by_due_date_with_history,
    case_lists_filter_sort_count_and_tally_by_the_deadline_in_force,
    outbox_delivers_in_order_retries_later_and_settles_once,
    audit_security_events_tokens_and_counts,
    a_notice_and_a_request_round_trip_between_two_workflows,
    a_delivery_lease_has_one_holder,
    a_provisional_due_date_is_recomputed_when_the_year_is_published,
    deadline_alerts_fire_once_send_reminders_and_clear_when_answered,
    the_monitor_looks_at_a_case_only_when_its_alerts_can_change,
    an_extension_keeps_the_original_due_date_and_moves_the_alerts,
    receipts_are_signed_and_an_altered_receipt_is_refused,
    the_audit_log_is_a_hash_chain_that_detects_changes,
    an_undelivered_backlog_raises_one_alert_per_peer_until_it_drains,
);

async fn a_delivery_lease_has_one_holder(url: &str) {
    let first = Store::connect(url).await.unwrap();
    let second = Store::connect(url).await.unwrap();
    assert!(
        first
            .try_lease("delivery:621221", "p1", 0, 30_000)
            .await
            .unwrap()
    );
    assert!(
        !second
            .try_lease("delivery:621221", "p2", 10_000, 30_000)
            .await
            .unwrap()
    );
    assert!(
        second
            .try_lease("delivery:620102", "p2", 10_000, 30_000)
            .await
            .unwrap(),
        "leases are per peer"
    );
    assert!(
        second
            .try_lease("delivery:621221", "p2", 30_000, 30_000)
            .await
            .unwrap(),
        "after expiry"
    );
    assert!(
        !first
            .try_lease("delivery:621221", "p1", 31_000, 30_000)
            .await
            .unwrap()
    );
    first.close().await;
    second.close().await;
}

/// A second, separate database of the same backend as `url`.
async fn second_database(url: &str) -> String {
    if url.starts_with("sqlite:") {
        url.replace("test.db", "second.db")
    } else {
        mpx_tests::postgres::database("second").await.unwrap()
    }
}

fn workflow(
    store: Store,
    county: &str,
) -> (Workflow, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (notifier, wakeups) = DeliveryNotifier::channel();
    let workflow = Workflow::new(
        store,
        CountyCode::parse(county).unwrap(),
        CheckDigitMode::Strict,
        DirectoryHandle::default(),
        notifier,
        Clock::manual(1_780_000_000_000),
    );
    (workflow, wakeups)
}

fn person(id: &str, status: PersonStatus) -> v1::Person {
    v1::Person {
        resident_id: id.into(),
        name: "测试".into(),
        sex: v1::Sex::Male as i32,
        birth_date: "1990-01-01".into(),
        hukou_county: "621221".into(),
        residence_county: "621202".into(),
        residence_address: "某路1号".into(),
        arrival_date: "2026-01-01".into(),
        status: status as i32,
        resident_id_flagged: true,
        ..Default::default()
    }
}

async fn people_round_trip_with_status_filter_and_pages(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    for seq in 0..5 {
        let status = if seq % 2 == 0 {
            PersonStatus::Residing
        } else {
            PersonStatus::Departed
        };
        tx.upsert_person(&person(&resident_id("621221", seq), status), 10)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let id = resident_id("621221", 0);
    let got = store.get_person(&id).await.unwrap().unwrap();
    assert_eq!(
        got,
        v1::Person {
            updated_at_unix_ms: 10,
            ..person(&id, PersonStatus::Residing)
        }
    );
    assert!(
        store
            .get_person(&resident_id("621221", 9))
            .await
            .unwrap()
            .is_none()
    );

    let residing = store
        .list_people(Some(PersonStatus::Residing), "", 100)
        .await
        .unwrap();
    assert_eq!(residing.len(), 3);
    let first_page = store.list_people(None, "", 2).await.unwrap();
    let second_page = store
        .list_people(None, &first_page[1].resident_id, 10)
        .await
        .unwrap();
    assert_eq!(first_page.len() + second_page.len(), 5);
    assert!(first_page[1].resident_id < second_page[0].resident_id);

    // An upsert replaces the record.
    let mut tx = store.begin().await.unwrap();
    tx.upsert_person(
        &v1::Person {
            name: "改名".into(),
            ..person(&id, PersonStatus::LivingElsewhere)
        },
        20,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let got = store.get_person(&id).await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.status()),
        ("改名", PersonStatus::LivingElsewhere)
    );

    // The console's look-ups: people by whole name, a person's roster changes newest first.
    let named = store.people_named("测试", 10).await.unwrap();
    assert_eq!(named.len(), 4, "the fifth was renamed");
    assert!(
        named
            .windows(2)
            .all(|w| w[0].resident_id < w[1].resident_id)
    );
    assert!(store.people_named("测", 10).await.unwrap().is_empty());
    assert_eq!(store.people_named("测试", 2).await.unwrap().len(), 2);
    let changes = store.roster_changes_of(&id, 10).await.unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        (changes[0].0.as_str(), changes[0].4),
        ("living_elsewhere", 20)
    );
    assert_eq!((changes[1].0.as_str(), changes[1].4), ("residing", 10));
    assert!(store.cases_about(&id, 10).await.unwrap().is_empty());
    // A transaction that is not committed leaves nothing behind.
    let mut tx = store.begin().await.unwrap();
    tx.upsert_person(
        &person(&resident_id("621221", 7), PersonStatus::Residing),
        30,
    )
    .await
    .unwrap();
    drop(tx);
    assert!(
        store
            .get_person(&resident_id("621221", 7))
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;
}

fn case(id: &str, direction: CaseDirection, state: CaseState, due: i64) -> Case {
    Case {
        case_id: id.into(),
        kind: CaseKind::Verification as i32,
        direction: direction as i32,
        requester_county: "621202".into(),
        recipient_county: "621221".into(),
        state: state as i32,
        priority: CasePriority::Urgent as i32,
        resident_id: resident_id("621221", 1),
        questions: "请核实".into(),
        verdict: NoticeVerdict::Disputed as i32,
        opened_at_unix_ms: 5,
        due_at_unix_ms: due,
        ..Default::default()
    }
}

async fn cases_list_open_first_by_due_date_with_history(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let ids: Vec<String> = (0..5).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let mut tx = store.begin().await.unwrap();
    tx.save_case(
        &case(&ids[0], CaseDirection::Inbound, CaseState::Closed, 100),
        1,
    )
    .await
    .unwrap();
    tx.save_case(
        &case(&ids[1], CaseDirection::Inbound, CaseState::Delivered, 300),
        1,
    )
    .await
    .unwrap();
    tx.save_case(
        &case(&ids[2], CaseDirection::Inbound, CaseState::Accepted, 200),
        1,
    )
    .await
    .unwrap();
    tx.save_case(
        &case(&ids[3], CaseDirection::Inbound, CaseState::Delivered, 0),
        1,
    )
    .await
    .unwrap();
    tx.save_case(
        &case(&ids[4], CaseDirection::Outbound, CaseState::Queued, 0),
        1,
    )
    .await
    .unwrap();
    tx.add_case_event(&ids[1], 20, "accepted", "clerk", "b")
        .await
        .unwrap();
    tx.add_case_event(&ids[1], 10, "received", "621202", "a")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let inbox = store
        .list_cases(
            &CaseQuery {
                direction: CaseDirection::Inbound,
                ..Default::default()
            },
            0,
            100,
        )
        .await
        .unwrap();
    let order: Vec<&str> = inbox.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(
        order,
        [&ids[2], &ids[1], &ids[3], &ids[0]],
        "open by due date, unknown due last, finished last"
    );
    let open = store
        .list_cases(
            &CaseQuery {
                direction: CaseDirection::Inbound,
                open_only: true,
                ..Default::default()
            },
            0,
            100,
        )
        .await
        .unwrap();
    assert_eq!(open.len(), 3);
    // A person's cases (the console's person page), the other county as this node sees it.
    let about = store
        .cases_about(&resident_id("621221", 1), 10)
        .await
        .unwrap();
    assert_eq!(about.len(), 5);
    let outbound = about.iter().find(|c| c.0 == ids[4]).unwrap();
    assert_eq!(
        (
            outbound.2.as_str(),
            outbound.3.as_str(),
            outbound.4.as_str()
        ),
        ("outbound", "queued", "621221")
    );
    let inbound = about.iter().find(|c| c.0 == ids[1]).unwrap();
    assert_eq!(
        (inbound.1.as_str(), inbound.4.as_str()),
        (
            mpx_proto::case_kind::kind_label(CaseKind::Verification as i32),
            "621202"
        )
    );
    assert!(
        store
            .cases_about(&resident_id("621221", 2), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let delivered = store
        .list_cases(
            &CaseQuery {
                direction: CaseDirection::Inbound,
                state: Some(CaseState::Delivered),
                ..Default::default()
            },
            0,
            100,
        )
        .await
        .unwrap();
    assert_eq!(delivered.len(), 2);
    let page = store
        .list_cases(
            &CaseQuery {
                direction: CaseDirection::Inbound,
                ..Default::default()
            },
            1,
            2,
        )
        .await
        .unwrap();
    assert_eq!(page[0].case_id, ids[1]);
    assert_eq!(
        store
            .list_cases(
                &CaseQuery {
                    direction: CaseDirection::Outbound,
                    ..Default::default()
                },
                0,
                100
            )
            .await
            .unwrap()
            .len(),
        1
    );

    let stored = store.get_case(&ids[1]).await.unwrap().unwrap();
    assert_eq!(
        stored,
        case(&ids[1], CaseDirection::Inbound, CaseState::Delivered, 300)
    );
    let events = store.case_events(&ids[1]).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["received", "accepted"]
    );

    // Saving again updates the mutable fields only.
    let mut tx = store.begin().await.unwrap();
    let mut changed = stored.clone();
    changed.state = CaseState::Responded as i32;
    changed.answer = "答复".into();
    changed.questions = "不应改变".into();
    tx.save_case(&changed, 2).await.unwrap();
    tx.commit().await.unwrap();
    let stored = store.get_case(&ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.state(),
            stored.answer.as_str(),
            stored.questions.as_str()
        ),
        (CaseState::Responded, "答复", "请核实")
    );
    store.close().await;
}

/// The filters of a list (kind, priority, other county, waiting for an answer, the deadline in
/// force: an extension granted moves it, one only asked for does not), its three orders, its
/// count, and the start page's tallies, all in SQL.
async fn case_lists_filter_sort_count_and_tally_by_the_deadline_in_force(url: &str) {
    let store = Store::connect(url).await.unwrap();
    // (name, direction, state, kind, priority, peer, opened, due, extension, extended due)
    let rows = [
        (
            "a",
            CaseDirection::Inbound,
            CaseState::Delivered,
            CaseKind::Verification,
            CasePriority::Urgent,
            "621202",
            10,
            1_000,
            "",
            0,
        ),
        (
            "b",
            CaseDirection::Inbound,
            CaseState::Accepted,
            CaseKind::ResidenceNotice,
            CasePriority::Normal,
            "620102",
            20,
            2_000,
            "granted",
            5_000,
        ),
        (
            "c",
            CaseDirection::Inbound,
            CaseState::Accepted,
            CaseKind::Verification,
            CasePriority::Normal,
            "621202",
            30,
            3_000,
            "requested",
            9_000,
        ),
        (
            "d",
            CaseDirection::Inbound,
            CaseState::Responded,
            CaseKind::Verification,
            CasePriority::Normal,
            "621202",
            40,
            1_500,
            "",
            0,
        ),
        (
            "e",
            CaseDirection::Inbound,
            CaseState::Delivered,
            CaseKind::ResidenceNotice,
            CasePriority::Normal,
            "620102",
            50,
            0,
            "",
            0,
        ),
        (
            "f",
            CaseDirection::Outbound,
            CaseState::Responded,
            CaseKind::Verification,
            CasePriority::Normal,
            "621202",
            60,
            1_000,
            "",
            0,
        ),
    ];
    let mut tx = store.begin().await.unwrap();
    let mut id_of = std::collections::HashMap::new();
    for (name, direction, state, kind, priority, peer, opened, due, extension, extended) in rows {
        let id = uuid::Uuid::now_v7().to_string();
        let mut case = case(&id, direction, state, due);
        case.kind = kind as i32;
        case.priority = priority as i32;
        if direction == CaseDirection::Inbound {
            case.requester_county = peer.into();
        } else {
            case.recipient_county = peer.into();
        }
        case.opened_at_unix_ms = opened;
        case.extension_state = extension.into();
        case.extended_due_at_unix_ms = extended;
        if state == CaseState::Responded {
            case.responded_at_unix_ms = 700;
        }
        tx.save_case(&case, 1).await.unwrap();
        id_of.insert(id, name);
    }
    tx.commit().await.unwrap();
    let names =
        |cases: Vec<Case>| -> Vec<&str> { cases.iter().map(|c| id_of[&c.case_id]).collect() };
    let inbox = CaseQuery {
        direction: CaseDirection::Inbound,
        ..Default::default()
    };
    let list = |query: CaseQuery| {
        let store = store.clone();
        async move {
            let cases = store.list_cases(&query, 0, 100).await.unwrap();
            let count = store.count_cases(&query).await.unwrap();
            assert_eq!(count, cases.len() as u64, "{query:?}");
            cases
        }
    };
    // Answered (d) is still open until closed; no deadline (e) last.
    assert_eq!(names(list(inbox.clone()).await), ["a", "d", "b", "c", "e"]);
    assert_eq!(
        names(
            list(CaseQuery {
                order: CaseOrder::Newest,
                ..inbox.clone()
            })
            .await
        ),
        ["e", "d", "c", "b", "a"]
    );
    assert_eq!(
        names(
            list(CaseQuery {
                order: CaseOrder::Oldest,
                ..inbox.clone()
            })
            .await
        ),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        names(
            list(CaseQuery {
                kind: Some(CaseKind::ResidenceNotice),
                ..inbox.clone()
            })
            .await
        ),
        ["b", "e"]
    );
    assert_eq!(
        names(
            list(CaseQuery {
                priority: Some(CasePriority::Urgent),
                ..inbox.clone()
            })
            .await
        ),
        ["a"]
    );
    assert_eq!(
        names(
            list(CaseQuery {
                peer_county: Some("620102".into()),
                ..inbox.clone()
            })
            .await
        ),
        ["b", "e"]
    );
    let waiting = CaseQuery {
        awaiting_answer: true,
        ..inbox.clone()
    };
    assert_eq!(names(list(waiting.clone()).await), ["a", "b", "c", "e"]);
    // "Overdue at 2 500": a (1 000) and c (3 000 asked to move, not granted: still 3 000, so
    // not yet); b's granted extension moves it to 5 000.
    assert_eq!(
        names(
            list(CaseQuery {
                due_until_unix_ms: 2_500,
                ..waiting.clone()
            })
            .await
        ),
        ["a"]
    );
    assert_eq!(
        names(
            list(CaseQuery {
                due_after_unix_ms: 2_500,
                due_until_unix_ms: 5_000,
                ..waiting.clone()
            })
            .await
        ),
        ["b", "c"]
    );
    // Any bound leaves out cases without a deadline; answered ones count unless waiting only.
    assert_eq!(
        names(
            list(CaseQuery {
                due_after_unix_ms: 1,
                ..inbox.clone()
            })
            .await
        ),
        ["a", "d", "b", "c"]
    );
    assert_eq!(
        names(store.list_cases(&inbox, 1, 2).await.unwrap()),
        ["d", "b"],
        "a page from an offset"
    );
    assert_eq!(
        store.case_tallies(2_500, 4_000, 600).await.unwrap(),
        CaseTallies {
            awaiting_acceptance: 2,
            overdue: 1,
            due_soon: 1,
            answered: 1,
        },
        "at 2 500 with due soon until 4 000: a overdue, c soon, b (5 000) later; f answered at 700"
    );
    assert_eq!(
        store
            .case_tallies(2_500, 4_000, 700)
            .await
            .unwrap()
            .answered,
        0
    );
}

async fn outbox_delivers_in_order_retries_later_and_settles_once(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let ids: Vec<String> = (0..4).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let mut tx = store.begin().await.unwrap();
    for (index, id) in ids.iter().enumerate() {
        let recipient = if index == 3 { "620102" } else { "621221" };
        tx.enqueue(
            id,
            recipient,
            "case",
            "request",
            &[index as u8; 3],
            100 + index as i64,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut recipients = store.pending_recipients().await.unwrap();
    recipients.sort();
    assert_eq!(recipients, ["620102", "621221"]);
    let pending = store.pending_outbox("621221", 1_000, 10).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|m| m.message_id.as_str())
            .collect::<Vec<_>>(),
        [&ids[0], &ids[1], &ids[2]]
    );
    assert_eq!(pending[1].envelope, vec![1u8; 3]);
    assert_eq!(
        store
            .pending_outbox("621221", 1_000, 2)
            .await
            .unwrap()
            .len(),
        2
    );

    // A failure defers the messages until their next attempt.
    store
        .record_delivery_failure(&ids[..2], "peer down", 5_000)
        .await
        .unwrap();
    let now_pending = store.pending_outbox("621221", 1_000, 10).await.unwrap();
    assert_eq!(now_pending.len(), 1);
    assert_eq!(store.next_attempt_at("621221").await.unwrap(), Some(0));
    let later = store.pending_outbox("621221", 5_000, 10).await.unwrap();
    assert_eq!(later.len(), 3);
    assert_eq!(
        (later[0].attempts, later[0].last_error.as_str()),
        (1, "peer down")
    );

    // Settling is once only, and a batch says which of its rows it settled.
    let settlement = |id: &str, rejected: bool, error: &str, at: i64, receipt: &[u8]| {
        exchange_node::store::OutboxSettlement {
            message_id: id.to_string(),
            rejected,
            error: error.to_string(),
            received_at_unix_ms: at,
            receipt: receipt.to_vec(),
        }
    };
    let mut tx = store.begin().await.unwrap();
    let settled = tx
        .settle_outbox_batch(&[settlement(&ids[0], false, "", 6_000, b"receipt")])
        .await
        .unwrap();
    assert_eq!(settled.len(), 1);
    assert!(settled.contains(&ids[0]));
    let settled = tx
        .settle_outbox_batch(&[
            settlement(&ids[0], false, "", 6_001, b"again"),
            settlement(&ids[1], true, "invalid", 6_000, b"receipt"),
        ])
        .await
        .unwrap();
    assert_eq!(
        settled.into_iter().collect::<Vec<_>>(),
        [ids[1].clone()],
        "the row settled before is left alone"
    );
    let first = tx.outbox_message(&ids[0]).await.unwrap().unwrap();
    assert_eq!((first.state.as_str(), first.attempts), ("delivered", 2));
    let second = tx.outbox_message(&ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (second.state.as_str(), second.last_error.as_str()),
        ("rejected", "invalid")
    );
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .pending_outbox("621221", 10_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.list_outbox(false, 10).await.unwrap().len(),
        3,
        "pending and rejected"
    );
    assert_eq!(store.list_outbox(true, 10).await.unwrap().len(), 4);

    // The inbox deduplicates by message id.
    let mut tx = store.begin().await.unwrap();
    tx.insert_inbox(
        &ids[0],
        "621202",
        "case",
        "request",
        7,
        b"stored receipt",
        "envelope digest",
        b"envelope",
    )
    .await
    .unwrap();
    let entries = tx.inbox_entries(&[&ids[0], &ids[1]]).await.unwrap();
    assert_eq!(entries.len(), 1, "only the stored one");
    let entry = &entries[&ids[0]];
    assert_eq!(
        (
            entry.sender.as_str(),
            entry.receipt.as_slice(),
            entry.envelope_sha256.as_str()
        ),
        ("621202", &b"stored receipt"[..], "envelope digest")
    );
    assert!(
        tx.insert_inbox(&ids[0], "621202", "case", "request", 8, b"x", "", b"")
            .await
            .is_err()
    );
    drop(tx);
    store.close().await;
}

async fn audit_security_events_tokens_and_counts(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store
        .audit(
            "clerk-wang",
            "records.get",
            "协查核实",
            &resident_id("621221", 1),
            1,
        )
        .await
        .unwrap();
    let entries = store.audit_entries(10).await.unwrap();
    assert_eq!(entries[0].0, "clerk-wang");
    assert_eq!(entries[0].2, "协查核实");
    assert_eq!(entries[0].4, 1);
    store
        .record_security_event("620102", "spoofed sender", "detail")
        .await
        .unwrap();
    assert_eq!(
        store.security_events(10).await.unwrap()[0].1,
        "spoofed sender"
    );
    store.add_operator_token("admin", "hash").await.unwrap();
    assert_eq!(store.operator_tokens().await.unwrap()["hash"], "admin");
    assert_eq!(store.counts().await.unwrap(), (0, 0, 0, 0));
    store.close().await;
}

async fn a_notice_and_a_request_round_trip_between_two_workflows(url: &str) {
    let (wudu, mut wudu_wakeups) = workflow(Store::connect(url).await.unwrap(), "621202");
    let (linxia, _) = workflow(
        Store::connect(&second_database(url).await).await.unwrap(),
        "621221",
    );
    let id = resident_id("621221", 42);
    let input = v1::Person {
        resident_id: id.clone(),
        name: "测试".into(),
        hukou_county: "621221".into(),
        residence_address: "钟楼路8号".into(),
        arrival_date: "2026-03-01".into(),
        ..Default::default()
    };
    let (_, warnings, notice_case) = wudu.register_person("clerk", &input).await.unwrap();
    assert!(warnings.is_empty());
    assert_eq!(
        wudu_wakeups.try_recv().unwrap(),
        "621221",
        "the delivery worker is woken"
    );
    let request = wudu
        .open_case(
            "clerk",
            &OpenCase {
                kind: CaseKind::Verification,
                recipient_county: "621221".into(),
                priority: CasePriority::Normal,
                resident_id: id.clone(),
                subject_name: "测试".into(),
                questions: "请核实".into(),
            },
        )
        .await
        .unwrap();

    let batch = wudu
        .store()
        .pending_outbox("621221", i64::MAX, 100)
        .await
        .unwrap();
    assert_eq!(batch.len(), 2);
    let envelopes: Vec<Envelope> = batch
        .iter()
        .map(|m| Envelope::decode(m.envelope.as_slice()).unwrap())
        .collect();
    let sender = CountyCode::parse("621202").unwrap();
    // The first message twice in the batch: stored once, answered twice with one receipt.
    let mut receipts = linxia
        .receive_batch(
            sender,
            vec![
                envelopes[0].clone(),
                envelopes[1].clone(),
                envelopes[0].clone(),
            ],
        )
        .await
        .unwrap();
    assert!(receipts.iter().all(|r| r.status() == ReceiptStatus::Stored));
    assert_eq!(receipts[2], receipts[0], "a message twice in one batch");
    receipts.truncate(2);
    let again = linxia.receive_batch(sender, envelopes).await.unwrap();
    assert_eq!(again, receipts, "a redelivery gets the original receipts");
    let at_hukou = linxia.store().get_person(&id).await.unwrap().unwrap();
    assert_eq!(
        (at_hukou.status(), at_hukou.residence_county.as_str()),
        (PersonStatus::LivingElsewhere, "621202")
    );
    assert_eq!(
        linxia
            .store()
            .list_cases(
                &CaseQuery {
                    direction: CaseDirection::Inbound,
                    ..Default::default()
                },
                0,
                10
            )
            .await
            .unwrap()
            .len(),
        2
    );

    wudu.settle_receipts(&batch, &receipts).await.unwrap();
    let notice = wudu
        .store()
        .get_case(&notice_case.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notice.state(), CaseState::Delivered);
    assert!(
        wudu.store()
            .pending_outbox("621221", i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The answer travels back and is applied once.
    linxia
        .respond(
            "clerk-li",
            &request.case_id,
            "户籍正常",
            NoticeVerdict::Unspecified,
        )
        .await
        .unwrap();
    let back = linxia
        .store()
        .pending_outbox("621202", i64::MAX, 10)
        .await
        .unwrap();
    let envelopes: Vec<Envelope> = back
        .iter()
        .map(|m| Envelope::decode(m.envelope.as_slice()).unwrap())
        .collect();
    let receipts = wudu
        .receive_batch(CountyCode::parse("621221").unwrap(), envelopes)
        .await
        .unwrap();
    assert_eq!(receipts[0].status(), ReceiptStatus::Stored);
    let answered = wudu
        .store()
        .get_case(&request.case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (answered.state(), answered.answer.as_str()),
        (CaseState::Responded, "户籍正常")
    );
    wudu.store().close().await;
    linxia.store().close().await;
}

fn snapshot_with(
    version: u64,
    calendar: &mpx_proto::calendar::WorkingCalendar,
) -> v1::DirectorySnapshot {
    let policies = mpx_proto::policy::default_policies();
    v1::DirectorySnapshot {
        version,
        province: "62".into(),
        calendar: mpx_proto::policy::calendar_to_proto(calendar),
        calendar_version: calendar.version(),
        policy_version: mpx_proto::policy::policy_version(&policies),
        policies,
        ..Default::default()
    }
}

async fn a_provisional_due_date_is_recomputed_when_the_year_is_published(url: &str) {
    use mpx_proto::calendar::{CalendarYear, WorkingCalendar};
    let shipped = WorkingCalendar::load_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/calendars"),
    )
    .unwrap();
    let directory = DirectoryHandle::default();
    directory.install(snapshot_with(1, &shipped));
    // Delivered Tuesday 2026-12-15 10:00 Shanghai; 20 working days reach into unpublished 2027.
    let delivered = "2026-12-15T10:00:00+08:00[Asia/Shanghai]"
        .parse::<jiff::ZonedDateTime>()
        .unwrap()
        .timestamp()
        .as_millisecond();
    let (notifier, _wakeups) = DeliveryNotifier::channel();
    let linxia = Workflow::new(
        Store::connect(url).await.unwrap(),
        CountyCode::parse("621221").unwrap(),
        CheckDigitMode::Strict,
        directory.clone(),
        notifier,
        Clock::manual(delivered),
    );
    let case_id = uuid::Uuid::now_v7().to_string();
    let envelope = Envelope {
        message_id: uuid::Uuid::now_v7().to_string(),
        sender: "621202".into(),
        recipient: "621221".into(),
        created_at_unix_ms: delivered,
        body: Some(v1::envelope::Body::Request(v1::Request {
            case_id: case_id.clone(),
            kind: CaseKind::Verification as i32,
            priority: CasePriority::Normal as i32,
            resident_id: resident_id("621221", 3),
            subject_name: String::new(),
            questions: "请核实".into(),
            parent_case_id: String::new(),
        })),
    };
    let receipt = linxia
        .receive_batch(CountyCode::parse("621202").unwrap(), vec![envelope])
        .await
        .unwrap()
        .remove(0);
    let end_of = |date: &str| mpx_proto::calendar::end_of_day_unix_ms(date.parse().unwrap());
    assert!(receipt.due_provisional);
    assert_eq!(
        receipt.due_at_unix_ms,
        end_of("2027-01-12"),
        "weekends only in 2027"
    );
    assert_eq!(
        receipt.acceptance_due_at_unix_ms,
        end_of("2026-12-17"),
        "2 working days"
    );
    let case = linxia.store().get_case(&case_id).await.unwrap().unwrap();
    assert_eq!(
        (case.due_at_unix_ms, case.due_provisional),
        (receipt.due_at_unix_ms, true)
    );

    // The 2027 notice arrives with the directory (hypothetical data: 1 January off).
    let mut years: Vec<_> = shipped
        .years()
        .filter(|y| y.year != 2027)
        .cloned()
        .collect();
    years.push(CalendarYear::parse("2027.toml", "year = 2027\npublished = true\nsource = \"t\"\n[[holidays]]\nname = \"元旦\"\noff = { from = \"2027-01-01\", to = \"2027-01-01\" }\n").unwrap());
    directory.install(snapshot_with(2, &WorkingCalendar::new(years).unwrap()));
    assert_eq!(linxia.recompute_provisional_deadlines().await.unwrap(), 1);
    let case = linxia.store().get_case(&case_id).await.unwrap().unwrap();
    assert_eq!(
        (case.due_at_unix_ms, case.due_provisional),
        (end_of("2027-01-13"), false)
    );
    assert_eq!(
        linxia.recompute_provisional_deadlines().await.unwrap(),
        0,
        "nothing left to settle"
    );
    let events = linxia.store().case_events(&case_id).await.unwrap();
    assert!(events.iter().any(|e| e.event == "due date recomputed"));
    linxia.store().close().await;
}

fn shanghai(text: &str) -> i64 {
    format!("{text}+08:00[Asia/Shanghai]")
        .parse::<jiff::ZonedDateTime>()
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn province_directory() -> DirectoryHandle {
    let shipped = mpx_proto::calendar::WorkingCalendar::load_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/calendars"),
    )
    .unwrap();
    let mut snapshot = snapshot_with(1, &shipped);
    for county in ["621202", "621221", "620102"] {
        snapshot.nodes.push(v1::NodeEntry {
            county: county.into(),
            endpoint: "https://127.0.0.1:1".into(),
            status: v1::NodeStatus::Active as i32,
            ..Default::default()
        });
    }
    let directory = DirectoryHandle::default();
    directory.install(snapshot);
    directory
}

/// Delivers what `from` has queued for `to`, and settles the receipts at `from`.
async fn deliver_between(from: &Workflow, to: &Workflow) {
    let batch = from
        .store()
        .pending_outbox(to.county().as_str(), i64::MAX, 1000)
        .await
        .unwrap();
    if batch.is_empty() {
        return;
    }
    let envelopes: Vec<Envelope> = batch
        .iter()
        .map(|m| Envelope::decode(m.envelope.as_slice()).unwrap())
        .collect();
    let receipts = to.receive_batch(from.county(), envelopes).await.unwrap();
    from.settle_receipts(&batch, &receipts).await.unwrap();
}

fn kinds(alerts: &[v1::Alert]) -> Vec<(v1::AlertKind, String)> {
    let mut kinds: Vec<_> = alerts
        .iter()
        .map(|a| (a.kind(), a.case_id.clone()))
        .collect();
    kinds.sort_by_key(|(kind, case)| (*kind as i32, case.clone()));
    kinds
}

/// A tick reads only the cases whose alerts can change: after one look, a case due in weeks is
/// not read again until the day its due-soon lead begins; a change to the case brings it back
/// at the next tick; a closed case is never read again.
async fn the_monitor_looks_at_a_case_only_when_its_alerts_can_change(url: &str) {
    use exchange_node::monitor::{DeadlineMonitor, MonitorConfig};
    let clock = Clock::manual(shanghai("2026-11-02T10:00:00"));
    let (notifier, _) = DeliveryNotifier::channel();
    let store = Store::connect(url).await.unwrap();
    let workflow = Workflow::new(
        store.clone(),
        CountyCode::parse("621221").unwrap(),
        CheckDigitMode::Strict,
        province_directory(),
        notifier,
        clock.clone(),
    );
    // Inbound, accepted, due at the end of Monday 30 November (the lead: 2 working days).
    let due = shanghai("2026-12-01T00:00:00");
    let mut case = Case {
        case_id: "00000000-0000-7000-8000-000000000001".into(),
        kind: CaseKind::Verification as i32,
        direction: CaseDirection::Inbound as i32,
        requester_county: "621202".into(),
        recipient_county: "621221".into(),
        state: CaseState::Accepted as i32,
        priority: CasePriority::Normal as i32,
        resident_id: resident_id("621221", 3),
        opened_at_unix_ms: clock.now_unix_ms(),
        delivered_at_unix_ms: clock.now_unix_ms(),
        accepted_at_unix_ms: clock.now_unix_ms(),
        due_at_unix_ms: due,
        ..Default::default()
    };
    let mut tx = store.begin().await.unwrap();
    tx.save_case(&case, clock.now_unix_ms()).await.unwrap();
    tx.commit().await.unwrap();
    let waiting = |at: i64| {
        let store = store.clone();
        async move { store.cases_to_check(at, 10).await.unwrap().len() }
    };
    assert_eq!(
        waiting(clock.now_unix_ms()).await,
        1,
        "a new case is looked at"
    );
    let monitor = DeadlineMonitor::new(workflow.clone(), MonitorConfig::default());
    assert!(monitor.tick().await.unwrap().is_empty());
    assert_eq!(
        waiting(clock.now_unix_ms()).await,
        0,
        "not again at the next tick"
    );
    // A change to the open case (here its priority) brings it back at the next tick.
    case.priority = CasePriority::Urgent as i32;
    let mut tx = store.begin().await.unwrap();
    tx.save_case(&case, clock.now_unix_ms()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        waiting(clock.now_unix_ms()).await,
        1,
        "changed: looked at again"
    );
    assert!(monitor.tick().await.unwrap().is_empty());
    assert_eq!(
        waiting(shanghai("2026-11-25T23:59:59")).await,
        0,
        "nor before the lead begins"
    );
    // Thursday 26 November starts the lead: Friday 27th and Monday 30th are the 2 working days
    // after it (the weekend does not count).
    assert_eq!(waiting(shanghai("2026-11-26T00:00:00")).await, 1);
    clock.advance_ms(shanghai("2026-11-26T00:00:00") - clock.now_unix_ms());
    let fired = monitor.tick().await.unwrap();
    assert_eq!(
        fired.iter().map(|a| a.kind()).collect::<Vec<_>>(),
        [v1::AlertKind::DueSoon]
    );
    assert_eq!(waiting(due - 1).await, 0, "next at the deadline itself");
    assert_eq!(waiting(due).await, 1);
    // A restart under the same calendar and settings keeps the stored instants; other ones
    // make every open case looked at again.
    let schedule = format!(
        "{}/2/5",
        workflow.directory().deadlines().calendar.version()
    );
    assert_eq!(
        store.reschedule_checks_unless(&schedule).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .reschedule_checks_unless("other calendar/2/5")
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(waiting(clock.now_unix_ms()).await, 1);
    assert_eq!(monitor.tick().await.unwrap().len(), 0, "fired once only");
    assert_eq!(waiting(due - 1).await, 0);
    // Answered: never read again, and its alert cleared.
    case.state = CaseState::Responded as i32;
    case.responded_at_unix_ms = clock.now_unix_ms();
    let mut tx = store.begin().await.unwrap();
    tx.save_case(&case, clock.now_unix_ms()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        waiting(i64::MAX - 1).await,
        0,
        "a closed case is not looked at"
    );
    let alerts = store.list_alerts(false, 100, None).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].cleared_at_unix_ms > 0,
        "its alert cleared with the answer"
    );
}

async fn deadline_alerts_fire_once_send_reminders_and_clear_when_answered(url: &str) {
    use exchange_node::monitor::{DeadlineMonitor, MonitorConfig};
    use v1::AlertKind::*;
    let clock = Clock::manual(shanghai("2026-11-02T10:00:00"));
    let directory = province_directory();
    let node = |store: Store, county: &str| {
        let (notifier, _) = DeliveryNotifier::channel();
        Workflow::new(
            store,
            CountyCode::parse(county).unwrap(),
            CheckDigitMode::Strict,
            directory.clone(),
            notifier,
            clock.clone(),
        )
    };
    let wudu = node(Store::connect(url).await.unwrap(), "621202");
    let linxia = node(
        Store::connect(&second_database(url).await).await.unwrap(),
        "621221",
    );
    let open = |questions: &str| OpenCase {
        kind: CaseKind::Verification,
        recipient_county: "621221".into(),
        priority: CasePriority::Normal,
        resident_id: resident_id("621221", 11),
        subject_name: String::new(),
        questions: questions.into(),
    };
    // Two requests delivered Monday 2026-11-02: 20 working days → due end of Monday 30 November;
    // acceptance within 2 working days → end of Wednesday 4 November.
    let late = wudu
        .open_case("clerk", &open("late"))
        .await
        .unwrap()
        .case_id;
    let answered = wudu
        .open_case("clerk", &open("answered in time"))
        .await
        .unwrap()
        .case_id;
    deliver_between(&wudu, &linxia).await;
    let at_requester = wudu.store().get_case(&late).await.unwrap().unwrap();
    assert_eq!(at_requester.due_at_unix_ms, shanghai("2026-12-01T00:00:00"));
    assert_eq!(
        at_requester.acceptance_due_at_unix_ms,
        shanghai("2026-11-05T00:00:00")
    );
    assert_eq!(
        linxia
            .store()
            .get_case(&late)
            .await
            .unwrap()
            .unwrap()
            .due_at_unix_ms,
        at_requester.due_at_unix_ms
    );

    let config = MonitorConfig::default();
    let requester = DeadlineMonitor::new(wudu.clone(), config.clone());
    let recipient = DeadlineMonitor::new(linxia.clone(), config.clone());
    assert!(requester.tick().await.unwrap().is_empty());
    assert!(recipient.tick().await.unwrap().is_empty());

    // Thursday 5 November: neither case was accepted.
    clock.advance_ms(shanghai("2026-11-05T09:00:00") - clock.now_unix_ms());
    let fired = recipient.tick().await.unwrap();
    assert_eq!(
        kinds(&fired),
        kinds_of(&[(NotAccepted, &late), (NotAccepted, &answered)])
    );
    assert!(
        fired
            .iter()
            .all(|a| a.direction == "inbound" && a.counterpart_county == "621202")
    );
    assert_eq!(
        requester.tick().await.unwrap().len(),
        2,
        "the requester sees it too"
    );
    linxia.accept("clerk-li", &late, "").await.unwrap();
    linxia
        .respond(
            "clerk-li",
            &answered,
            "户籍正常",
            NoticeVerdict::Unspecified,
        )
        .await
        .unwrap();
    deliver_between(&linxia, &wudu).await;
    assert!(recipient.tick().await.unwrap().is_empty());
    let open_alerts = linxia.store().list_alerts(true, 10, None).await.unwrap();
    assert!(
        open_alerts.is_empty(),
        "accepting and answering cleared them: {open_alerts:?}"
    );

    // Thursday 26 November: two working days left (27th, 30th) → due soon; a reminder goes out.
    clock.advance_ms(shanghai("2026-11-26T09:00:00") - clock.now_unix_ms());
    assert_eq!(
        kinds(&recipient.tick().await.unwrap()),
        kinds_of(&[(DueSoon, &late)])
    );
    assert_eq!(
        kinds(&requester.tick().await.unwrap()),
        kinds_of(&[(DueSoon, &late)])
    );
    assert!(
        requester.tick().await.unwrap().is_empty(),
        "once per case and kind"
    );
    assert!(
        DeadlineMonitor::new(wudu.clone(), config.clone())
            .tick()
            .await
            .unwrap()
            .is_empty(),
        "also after a restart"
    );
    let reminders: Vec<_> = wudu
        .store()
        .pending_outbox("621221", i64::MAX, 10)
        .await
        .unwrap();
    assert_eq!(
        reminders
            .iter()
            .map(|m| m.body_kind.as_str())
            .collect::<Vec<_>>(),
        ["reminder"]
    );
    deliver_between(&wudu, &linxia).await;
    let reminded = linxia.store().get_case(&late).await.unwrap().unwrap();
    assert!(
        reminded.reminded_at_unix_ms > 0,
        "the recipient's clerk sees the reminder"
    );

    // Tuesday 1 December: overdue (another reminder); Monday 7 December: five working days late.
    clock.advance_ms(shanghai("2026-12-01T09:00:00") - clock.now_unix_ms());
    assert_eq!(
        kinds(&requester.tick().await.unwrap()),
        kinds_of(&[(Overdue, &late)])
    );
    assert_eq!(
        wudu.store()
            .pending_outbox("621221", i64::MAX, 10)
            .await
            .unwrap()
            .len(),
        1,
        "overdue reminder"
    );
    deliver_between(&wudu, &linxia).await;
    clock.advance_ms(shanghai("2026-12-04T09:00:00") - clock.now_unix_ms());
    assert!(
        requester.tick().await.unwrap().is_empty(),
        "four working days late: not yet escalated"
    );
    clock.advance_ms(shanghai("2026-12-07T09:00:00") - clock.now_unix_ms());
    assert_eq!(
        kinds(&requester.tick().await.unwrap()),
        kinds_of(&[(Escalated, &late)])
    );
    assert_eq!(
        kinds(&recipient.tick().await.unwrap()),
        kinds_of(&[(Overdue, &late), (Escalated, &late)])
    );

    // The late answer clears every alert of the case, on both sides.
    linxia
        .respond("clerk-li", &late, "迟到的答复", NoticeVerdict::Unspecified)
        .await
        .unwrap();
    deliver_between(&linxia, &wudu).await;
    assert!(recipient.tick().await.unwrap().is_empty());
    assert!(requester.tick().await.unwrap().is_empty());
    assert!(
        linxia
            .store()
            .list_alerts(true, 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        wudu.store()
            .list_alerts(true, 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        wudu.store()
            .list_alerts(false, 10, None)
            .await
            .unwrap()
            .iter()
            .all(|a| a.cleared_at_unix_ms > 0)
    );

    // A message nobody receives raises UNDELIVERED, about its peer, after the threshold.
    let _stuck = wudu
        .open_case(
            "clerk",
            &OpenCase {
                recipient_county: "620102".into(),
                ..open("stuck")
            },
        )
        .await
        .unwrap()
        .case_id;
    clock.advance_ms(2 * 3_600_000);
    let fired = requester.tick().await.unwrap();
    assert_eq!(kinds(&fired), kinds_of(&[(Undelivered, &String::new())]));
    assert_eq!(fired[0].counterpart_county, "620102");
    wudu.store().close().await;
    linxia.store().close().await;
}

fn kinds_of(expected: &[(v1::AlertKind, &String)]) -> Vec<(v1::AlertKind, String)> {
    let mut kinds: Vec<_> = expected
        .iter()
        .map(|(kind, case)| (*kind, (*case).clone()))
        .collect();
    kinds.sort_by_key(|(kind, case)| (*kind as i32, case.clone()));
    kinds
}

async fn an_extension_keeps_the_original_due_date_and_moves_the_alerts(url: &str) {
    use exchange_node::monitor::{DeadlineMonitor, MonitorConfig};
    let clock = Clock::manual(shanghai("2026-11-02T10:00:00"));
    let directory = province_directory();
    let node = |store: Store, county: &str| {
        let (notifier, _) = DeliveryNotifier::channel();
        Workflow::new(
            store,
            CountyCode::parse(county).unwrap(),
            CheckDigitMode::Strict,
            directory.clone(),
            notifier,
            clock.clone(),
        )
    };
    let wudu = node(Store::connect(url).await.unwrap(), "621202");
    let linxia = node(
        Store::connect(&second_database(url).await).await.unwrap(),
        "621221",
    );
    let case_id = wudu
        .open_case(
            "clerk",
            &OpenCase {
                kind: CaseKind::Verification,
                recipient_county: "621221".into(),
                priority: CasePriority::Normal,
                resident_id: resident_id("621221", 12),
                subject_name: String::new(),
                questions: "请核实".into(),
            },
        )
        .await
        .unwrap()
        .case_id;
    deliver_between(&wudu, &linxia).await;
    let error = linxia
        .request_extension("clerk-li", &case_id, 0, "x")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("working_days"), "{error}");
    linxia
        .request_extension("clerk-li", &case_id, 5, "需要调阅档案")
        .await
        .unwrap();
    assert!(
        linxia
            .request_extension("clerk-li", &case_id, 5, "again")
            .await
            .is_err(),
        "one at a time"
    );
    deliver_between(&linxia, &wudu).await;
    assert_eq!(
        wudu.store()
            .get_case(&case_id)
            .await
            .unwrap()
            .unwrap()
            .extension_state,
        "requested"
    );
    // Granted: due end of Monday 30 November + 5 working days = end of Monday 7 December.
    let granted = wudu
        .decide_extension("clerk", &case_id, true, "同意")
        .await
        .unwrap();
    assert_eq!(
        granted.due_at_unix_ms,
        shanghai("2026-12-01T00:00:00"),
        "the original due date stays"
    );
    assert_eq!(
        granted.extended_due_at_unix_ms,
        shanghai("2026-12-08T00:00:00")
    );
    deliver_between(&wudu, &linxia).await;
    let at_recipient = linxia.store().get_case(&case_id).await.unwrap().unwrap();
    assert_eq!(
        (
            at_recipient.extension_state.as_str(),
            at_recipient.extended_due_at_unix_ms
        ),
        ("granted", granted.extended_due_at_unix_ms)
    );
    assert_eq!(at_recipient.due_at_unix_ms, granted.due_at_unix_ms);

    // On 2 December the original deadline has passed, the extended one has not: no OVERDUE.
    linxia.accept("clerk-li", &case_id, "").await.unwrap();
    deliver_between(&linxia, &wudu).await;
    let monitor = DeadlineMonitor::new(linxia.clone(), MonitorConfig::default());
    clock.advance_ms(shanghai("2026-12-02T09:00:00") - clock.now_unix_ms());
    let fired = monitor.tick().await.unwrap();
    assert!(
        fired.is_empty(),
        "the original deadline passed, the extended one has not: {fired:?}"
    );
    // Thursday 3 December: two working days (4th, 7th) before the extended deadline.
    clock.advance_ms(shanghai("2026-12-03T09:00:00") - clock.now_unix_ms());
    let fired = monitor.tick().await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(
        (fired[0].kind(), fired[0].due_at_unix_ms),
        (v1::AlertKind::DueSoon, granted.extended_due_at_unix_ms)
    );
    clock.advance_ms(shanghai("2026-12-08T09:00:00") - clock.now_unix_ms());
    assert!(
        monitor
            .tick()
            .await
            .unwrap()
            .iter()
            .any(|a| a.kind() == v1::AlertKind::Overdue)
    );
    wudu.store().close().await;
    linxia.store().close().await;
}

async fn receipts_are_signed_and_an_altered_receipt_is_refused(url: &str) {
    // The recipient's key and a certificate for it (self-signed is enough for the signature).
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let certificate = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem();
    let signer = std::sync::Arc::new(
        mpx_proto::evidence::Signer::from_pkcs8_pem(&key.serialize_pem()).unwrap(),
    );
    let directory = province_directory();
    let mut snapshot = v1::DirectorySnapshot {
        version: 2,
        ..Default::default()
    };
    snapshot.nodes.push(v1::NodeEntry {
        county: "621221".into(),
        endpoint: "https://127.0.0.1:1".into(),
        status: v1::NodeStatus::Active as i32,
        certificate_pem: certificate,
        ..Default::default()
    });
    directory.install(snapshot);
    let clock = Clock::manual(shanghai("2026-11-02T10:00:00"));
    let node = |store: Store, county: &str| {
        let (notifier, _) = DeliveryNotifier::channel();
        Workflow::new(
            store,
            CountyCode::parse(county).unwrap(),
            CheckDigitMode::Strict,
            directory.clone(),
            notifier,
            clock.clone(),
        )
    };
    let wudu = node(Store::connect(url).await.unwrap(), "621202");
    let linxia = node(
        Store::connect(&second_database(url).await).await.unwrap(),
        "621221",
    )
    .with_signer(signer);
    let open = OpenCase {
        kind: CaseKind::Verification,
        recipient_county: "621221".into(),
        priority: CasePriority::Normal,
        resident_id: resident_id("621221", 13),
        subject_name: String::new(),
        questions: "请核实".into(),
    };
    let case_id = wudu.open_case("clerk", &open).await.unwrap().case_id;
    let batch = wudu
        .store()
        .pending_outbox("621221", i64::MAX, 10)
        .await
        .unwrap();
    let envelopes: Vec<Envelope> = batch
        .iter()
        .map(|m| Envelope::decode(m.envelope.as_slice()).unwrap())
        .collect();
    let receipts = linxia
        .receive_batch(wudu.county(), envelopes)
        .await
        .unwrap();
    assert!(!receipts[0].signature.is_empty(), "signed");

    // A receipt whose received-at time was moved is refused, recorded, and nothing settles.
    let mut forged = receipts.clone();
    forged[0].received_at_unix_ms -= 86_400_000;
    let error = wudu.settle_receipts(&batch, &forged).await.unwrap_err();
    assert!(error.to_string().contains("does not verify"), "{error}");
    assert_eq!(
        wudu.store()
            .pending_outbox("621221", i64::MAX, 10)
            .await
            .unwrap()
            .len(),
        1,
        "still queued"
    );
    assert_eq!(
        wudu.store().security_events(10).await.unwrap()[0].1,
        "bad receipt signature"
    );
    let mut unsigned = receipts.clone();
    unsigned[0].signature.clear();
    assert!(
        wudu.settle_receipts(&batch, &unsigned).await.is_err(),
        "an unsigned receipt is refused too"
    );

    // The genuine receipt settles.
    wudu.settle_receipts(&batch, &receipts).await.unwrap();
    assert!(
        wudu.store()
            .pending_outbox("621221", i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The answer is signed too; an answer whose time was changed in transit is rejected.
    linxia
        .respond("clerk-li", &case_id, "户籍正常", NoticeVerdict::Unspecified)
        .await
        .unwrap();
    let back = linxia
        .store()
        .pending_outbox("621202", i64::MAX, 10)
        .await
        .unwrap();
    let genuine = Envelope::decode(back[0].envelope.as_slice()).unwrap();
    let mut tampered = genuine.clone();
    tampered.message_id = uuid::Uuid::now_v7().to_string();
    if let Some(v1::envelope::Body::Response(response)) = &mut tampered.body {
        assert!(!response.signature.is_empty(), "signed");
        response.responded_at_unix_ms -= 86_400_000;
    }
    let refused = wudu
        .receive_batch(linxia.county(), vec![tampered])
        .await
        .unwrap();
    assert_eq!(refused[0].status(), ReceiptStatus::Rejected);
    assert!(
        refused[0].error.contains("response.signature"),
        "{}",
        refused[0].error
    );
    let accepted = wudu
        .receive_batch(linxia.county(), vec![genuine])
        .await
        .unwrap();
    assert_eq!(accepted[0].status(), ReceiptStatus::Stored);
    assert_eq!(
        wudu.store()
            .get_case(&case_id)
            .await
            .unwrap()
            .unwrap()
            .state(),
        CaseState::Responded
    );
    wudu.store().close().await;
    linxia.store().close().await;
}

async fn the_audit_log_is_a_hash_chain_that_detects_changes(url: &str) {
    use sqlx::Connection;
    let store = Store::connect(url).await.unwrap();
    assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(0));
    for index in 0..5 {
        store
            .audit(
                "clerk-wang",
                "records.get",
                "协查核实\n第二行",
                &resident_id("621221", index),
                1,
            )
            .await
            .unwrap();
    }
    assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(5));

    sqlx::any::install_default_drivers();
    let mut raw = sqlx::AnyConnection::connect(url).await.unwrap();
    // A changed purpose is detected at that entry.
    sqlx::query("UPDATE audit_log SET purpose = 'routine' WHERE chain_index = 3")
        .execute(&mut raw)
        .await
        .unwrap();
    let problem = store.verify_audit_chain().await.unwrap().unwrap_err();
    assert!(
        problem.contains("entry 3") && problem.contains("altered"),
        "{problem}"
    );
    sqlx::query("UPDATE audit_log SET purpose = $1 WHERE chain_index = 3")
        .bind("协查核实\n第二行")
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(5), "restored");
    // A removed entry, and a removed tail, are detected too.
    sqlx::query("DELETE FROM audit_log WHERE chain_index = 5")
        .execute(&mut raw)
        .await
        .unwrap();
    let problem = store.verify_audit_chain().await.unwrap().unwrap_err();
    assert!(problem.contains("ends at entry 4"), "{problem}");
    sqlx::query("DELETE FROM audit_log WHERE chain_index = 2")
        .execute(&mut raw)
        .await
        .unwrap();
    let problem = store.verify_audit_chain().await.unwrap().unwrap_err();
    assert!(problem.contains("entry 2 is missing"), "{problem}");
    let _ = raw.close().await;
    store.close().await;
}

/// Seen: a 45 s partition with 1 020 queued messages raised 1 020 UNDELIVERED alerts, and
/// `alerts list` showed 1 000 of them with no way to page further. One alert per peer, with the
/// queued count and the oldest age, updated while open and cleared when the backlog drains; lists
/// page with a cursor.
async fn an_undelivered_backlog_raises_one_alert_per_peer_until_it_drains(url: &str) {
    use exchange_node::monitor::{DeadlineMonitor, MonitorConfig};
    use exchange_node::store::AlertCursor;
    let clock = Clock::manual(shanghai("2026-11-02T10:00:00"));
    let directory = province_directory();
    let node = |store: Store, county: &str| {
        let (notifier, _) = DeliveryNotifier::channel();
        Workflow::new(
            store,
            CountyCode::parse(county).unwrap(),
            CheckDigitMode::Strict,
            directory.clone(),
            notifier,
            clock.clone(),
        )
    };
    let wudu = node(Store::connect(url).await.unwrap(), "621202");
    let linxia = node(
        Store::connect(&second_database(url).await).await.unwrap(),
        "621221",
    );
    let open = |to: &str, seq: u32| OpenCase {
        kind: CaseKind::Verification,
        recipient_county: to.into(),
        priority: CasePriority::Normal,
        resident_id: resident_id(to, seq),
        subject_name: String::new(),
        questions: "请核实".into(),
    };
    for seq in 0..30 {
        wudu.open_case("clerk", &open("621221", seq)).await.unwrap();
    }
    for seq in 0..5 {
        wudu.open_case("clerk", &open("620102", seq)).await.unwrap();
    }
    let monitor = DeadlineMonitor::new(wudu.clone(), MonitorConfig::default());
    assert!(monitor.tick().await.unwrap().is_empty(), "not stuck yet");

    clock.advance_ms(3_600_000 + 1_000);
    let fired = monitor.tick().await.unwrap();
    let undelivered: Vec<_> = fired
        .iter()
        .filter(|a| a.kind() == v1::AlertKind::Undelivered)
        .collect();
    assert_eq!(undelivered.len(), 2, "one per peer: {undelivered:#?}");
    let about = |peer: &str| -> v1::Alert {
        undelivered
            .iter()
            .find(|a| a.counterpart_county == peer)
            .map(|a| (*a).clone())
            .unwrap()
    };
    assert!(
        about("621221").detail.contains("30 messages"),
        "{:?}",
        about("621221")
    );
    assert!(about("620102").detail.contains("5 messages"));
    assert!(
        about("621221").case_id.is_empty(),
        "about a peer, not a case"
    );

    // The outage goes on and more is queued: no new alert, the open one says how much.
    for seq in 30..33 {
        wudu.open_case("clerk", &open("621221", seq)).await.unwrap();
    }
    clock.advance_ms(3_600_000);
    let fired = monitor.tick().await.unwrap();
    assert!(
        !fired.iter().any(|a| a.kind() == v1::AlertKind::Undelivered),
        "{fired:#?}"
    );
    let open_now = wudu.store().list_alerts(true, 100, None).await.unwrap();
    let linxia_alert = open_now
        .iter()
        .find(|a| a.counterpart_county == "621221")
        .unwrap();
    assert!(
        linxia_alert.detail.contains("33 messages"),
        "{linxia_alert:?}"
    );
    assert!(
        linxia_alert.detail.contains("120 min ago"),
        "{linxia_alert:?}"
    );

    // Pages: one alert at a time, each once, then the end.
    let first = wudu.store().list_alerts(true, 1, None).await.unwrap();
    let cursor = AlertCursor::parse(&AlertCursor::of(&first[0]).token()).unwrap();
    let second = wudu
        .store()
        .list_alerts(true, 1, Some(&cursor))
        .await
        .unwrap();
    let third = wudu
        .store()
        .list_alerts(true, 1, Some(&AlertCursor::of(&second[0])))
        .await
        .unwrap();
    assert_ne!(first[0].alert_id, second[0].alert_id);
    assert!(third.is_empty(), "{third:?}");

    // The backlog to 621221 drains: its alert clears; 620102's stays.
    deliver_between(&wudu, &linxia).await;
    monitor.tick().await.unwrap();
    let open_now = wudu.store().list_alerts(true, 100, None).await.unwrap();
    assert_eq!(open_now.len(), 1, "{open_now:#?}");
    assert_eq!(open_now[0].counterpart_county, "620102");
}
