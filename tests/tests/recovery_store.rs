//! The node's store for recovery after a restore, on SQLite and on PostgreSQL: the pages a peer
//! answers a restored node from, the renumbering of reports above the registry's cursor, and the
//! record of restores, peers and items for a clerk.
#![allow(clippy::unwrap_used)]

use exchange_node::store::{OutboxSettlement, RecoveryItem, RecoveryPeer, Store};
use mpx_proto::v1;

mpx_tests::on_both_backends!(
    a_peers_history_pages_in_order_from_the_last_message_held,
    reports_move_above_the_registrys_cursor_in_their_order,
    restores_peers_and_items_for_a_clerk_are_recorded,
);

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn a_peers_history_pages_in_order_from_the_last_message_held(url: &str) {
    let store = Store::connect(url).await.unwrap();
    // Five messages to 621221 (the fourth refused there, the fifth still pending), one to
    // another county.
    let sent: Vec<String> = (0..5).map(|_| id()).collect();
    let elsewhere = id();
    let mut tx = store.begin().await.unwrap();
    for (index, message) in sent.iter().enumerate() {
        tx.enqueue(message, "621221", "case", "notice", &[index as u8; 4], 100)
            .await
            .unwrap();
    }
    tx.enqueue(&elsewhere, "620102", "case", "notice", b"x", 100)
        .await
        .unwrap();
    let settle = |message: &str, rejected: bool| OutboxSettlement {
        message_id: message.to_string(),
        rejected,
        error: String::new(),
        received_at_unix_ms: 200,
        receipt: format!("receipt of {message}").into_bytes(),
    };
    tx.settle_outbox_batch(&[
        settle(&sent[0], false),
        settle(&sent[1], false),
        settle(&sent[2], false),
        settle(&sent[3], true),
        settle(&elsewhere, false),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Replayed: delivered rows only, to that county only, after the position named.
    let all = store.delivered_after("621221", 0, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|row| row.envelope[0]).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(
        all[1].receipt,
        format!("receipt of {}", sent[1]).into_bytes()
    );
    let after_first = store
        .outbox_seq_of("621221", &sent[0])
        .await
        .unwrap()
        .unwrap();
    let rest = store
        .delivered_after("621221", after_first, 1)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1, "a page holds at most the limit");
    assert_eq!(rest[0].envelope[0], 1);
    assert_eq!(
        store.outbox_seq_of("621221", &elsewhere).await.unwrap(),
        None,
        "another county's message is no position here"
    );
    assert_eq!(
        store.last_delivered_to("621221").await.unwrap().as_deref(),
        Some(sent[2].as_str())
    );
    assert_eq!(store.last_delivered_to("621223").await.unwrap(), None);

    // Returned: what was stored from a county, in storing order, envelopes kept (or not).
    let stored: Vec<String> = (0..4).map(|_| id()).collect();
    let mut tx = store.begin().await.unwrap();
    for (index, message) in stored.iter().enumerate() {
        let envelope: &[u8] = if index == 0 { b"" } else { b"envelope" };
        tx.insert_inbox(
            message,
            "621223",
            "case",
            "response",
            // Two at one instant: the id orders them.
            [10, 20, 20, 30][index],
            b"receipt",
            "digest",
            envelope,
        )
        .await
        .unwrap();
    }
    tx.insert_inbox(&id(), "620102", "case", "notice", 15, b"r", "d", b"e")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let from_start = store.inbox_after("621223", (0, ""), 10).await.unwrap();
    let mut expected = vec![stored[0].clone()];
    let mut same_instant = vec![stored[1].clone(), stored[2].clone()];
    same_instant.sort();
    expected.extend(same_instant.clone());
    expected.push(stored[3].clone());
    assert_eq!(
        from_start
            .iter()
            .map(|row| row.message_id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(from_start[1].envelope.as_deref(), Some(&b"envelope"[..]));
    let position = store
        .inbox_position("621223", &same_instant[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(position.0, 20);
    let after = store
        .inbox_after("621223", (position.0, &position.1), 10)
        .await
        .unwrap();
    assert_eq!(
        after
            .iter()
            .map(|row| row.message_id.clone())
            .collect::<Vec<_>>(),
        [same_instant[1].clone(), stored[3].clone()]
    );
    assert_eq!(
        store.inbox_position("620102", &stored[0]).await.unwrap(),
        None,
        "a message is looked up for its own sender only"
    );
    assert_eq!(
        store.last_received_from("621223").await.unwrap().as_deref(),
        Some(stored[3].as_str())
    );
    store.close().await;
}

fn report(case_id: &str, event: &str) -> v1::CaseEventReport {
    v1::CaseEventReport {
        case_id: case_id.to_string(),
        event: event.to_string(),
        at_unix_ms: 1_000,
        ..Default::default()
    }
}

async fn reports_move_above_the_registrys_cursor_in_their_order(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    for index in 0..5 {
        tx.queue_case_report(&report(&format!("case-{index}"), "sent"))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(store.highest_report_seq("case_reports").await.unwrap(), 5);
    // The registry acknowledged two; after a restore its cursor is at 40.
    store.record_acknowledged("case_reports", 2).await.unwrap();
    assert_eq!(
        store
            .provincial_cursor("acknowledged:case_reports")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.unacknowledged_reports("case_reports").await.unwrap(),
        3
    );
    let moved = store
        .renumber_reports_above("case_reports", 2, 40)
        .await
        .unwrap();
    assert_eq!(moved, 3);
    assert_eq!(
        store.unacknowledged_reports("case_reports").await.unwrap(),
        3,
        "the moved rows still wait for the registry"
    );
    let after_cursor = store.case_reports_after(40, 10).await.unwrap();
    assert_eq!(
        after_cursor
            .iter()
            .map(|r| (r.seq > 40, r.case_id.as_str()))
            .collect::<Vec<_>>(),
        [(true, "case-2"), (true, "case-3"), (true, "case-4")],
        "the unacknowledged rows, above the cursor, in their order"
    );
    assert_eq!(store.case_reports_after(0, 10).await.unwrap().len(), 5);
    // A new row follows them.
    let mut tx = store.begin().await.unwrap();
    tx.queue_case_report(&report("case-5", "sent"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let last = store.case_reports_after(40, 10).await.unwrap();
    assert_eq!(last.len(), 4);
    assert_eq!(last[3].case_id, "case-5");
    assert!(last[3].seq > last[2].seq);
    store
        .record_acknowledged("case_reports", last[3].seq)
        .await
        .unwrap();
    assert_eq!(
        store.unacknowledged_reports("case_reports").await.unwrap(),
        0
    );

    // Nothing to move, and the registry far ahead: the next row still lands above its cursor.
    let highest = store.highest_report_seq("roster_changes").await.unwrap();
    assert_eq!(highest, 0);
    let moved = store
        .renumber_reports_above("roster_changes", 0, 500)
        .await
        .unwrap();
    assert_eq!(moved, 0);
    let mut tx = store.begin().await.unwrap();
    let person = v1::Person {
        resident_id: mpx_tests::resident_id("621221", 1),
        name: "测试人员".into(),
        hukou_county: "621221".into(),
        residence_county: "621221".into(),
        status: v1::PersonStatus::Residing as i32,
        ..Default::default()
    };
    tx.upsert_person(&person, 1_000).await.unwrap();
    tx.commit().await.unwrap();
    let changes = store.roster_changes_after(500, 10).await.unwrap();
    assert_eq!(changes.len(), 1, "the new roster change is above 500");
    assert!(
        store
            .renumber_reports_above("no_such_table", 0, 1)
            .await
            .is_err(),
        "only the report tables"
    );
    store.close().await;
}

async fn restores_peers_and_items_for_a_clerk_are_recorded(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let summary = store.recovery_summary().await.unwrap();
    assert_eq!(summary.restore, None);
    assert_eq!(store.newest_instant().await.unwrap(), 0);

    let restore_id = store
        .record_restore("command", 5_000, "restored from a file", 9_000)
        .await
        .unwrap();
    store
        .note_on_restore(&restore_id, "3 roster changes lost")
        .await
        .unwrap();
    let restore = store.current_restore().await.unwrap().unwrap();
    assert_eq!(
        (
            restore.noticed_by.as_str(),
            restore.backup_of_unix_ms,
            restore.detail.as_str(),
            restore.finished_at_unix_ms
        ),
        (
            "command",
            5_000,
            "restored from a file; 3 roster changes lost",
            0
        )
    );

    store
        .start_recovery_pass(&["621202".into(), "621223".into()], 9_100, true)
        .await
        .unwrap();
    let row = |county: &str, state: &str, replayed: i64, rebuilt: i64| RecoveryPeer {
        county: county.into(),
        state: state.into(),
        replayed,
        rebuilt,
        needs_clerk: 0,
        last_error: String::new(),
        updated_at_unix_ms: 9_200,
    };
    store
        .record_recovery_peer(&row("621202", "done", 40, 2))
        .await
        .unwrap();
    store
        .record_recovery_peer(&row("621202", "done", 1, 0))
        .await
        .unwrap();
    store
        .record_recovery_peer(&row("621223", "failed", 0, 0))
        .await
        .unwrap();
    let item = RecoveryItem {
        county: "621223".into(),
        message_id: id(),
        body_kind: "response".into(),
        case_id: id(),
        at_unix_ms: 4_000,
        reason: "an answer to a case this node no longer has".into(),
    };
    assert!(
        store
            .record_recovery_item(&restore_id, &item)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_recovery_item(&restore_id, &item)
            .await
            .unwrap(),
        "an item is listed once"
    );
    let summary = store.recovery_summary().await.unwrap();
    assert_eq!(
        (
            summary.peers,
            summary.peers_pending,
            summary.replayed,
            summary.rebuilt,
            summary.needs_clerk
        ),
        (2, 1, 41, 2, 1),
        "counts add up; a failed peer is still pending"
    );
    assert_eq!(store.recovery_items(&restore_id).await.unwrap(), vec![item]);

    // A later start while the recovery is unfinished keeps the counts; once finished, a new
    // pass starts from nothing.
    store
        .start_recovery_pass(&["621202".into(), "621223".into()], 9_300, true)
        .await
        .unwrap();
    assert_eq!(store.recovery_summary().await.unwrap().replayed, 41);
    store.finish_restore(&restore_id, 9_400).await.unwrap();
    assert_eq!(
        store
            .current_restore()
            .await
            .unwrap()
            .unwrap()
            .finished_at_unix_ms,
        9_400
    );
    store
        .start_recovery_pass(&["621202".into()], 9_500, false)
        .await
        .unwrap();
    let summary = store.recovery_summary().await.unwrap();
    assert_eq!((summary.peers, summary.replayed), (1, 0));
    store.close().await;
}

/// What a peer hands back is checked before anything is stored: a replayed message must carry
/// a receipt this node signed, and a returned one must be this node's own.
#[tokio::test]
async fn a_recovered_message_that_does_not_check_out_is_left_for_a_clerk_and_nothing_is_stored() {
    use exchange_node::workflow::{Recovered, Workflow};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("node.db").display());
    let store = Store::connect(&url).await.unwrap();
    let (notifier, _wakeups) = exchange_node::outbox::DeliveryNotifier::channel();
    let workflow = Workflow::new(
        store.clone(),
        mpx_proto::division::CountyCode::parse("621221").unwrap(),
        mpx_proto::resident_id::CheckDigitMode::Strict,
        exchange_node::directory::DirectoryHandle::default(),
        notifier,
        exchange_node::clock::Clock::manual(1_780_000_000_000),
    );
    let peer = mpx_proto::division::CountyCode::parse("621202").unwrap();
    let envelope = v1::Envelope {
        message_id: id(),
        sender: "621202".into(),
        recipient: "621221".into(),
        created_at_unix_ms: 1_779_000_000_000,
        body: Some(v1::envelope::Body::Reminder(v1::Reminder {
            case_id: id(),
            text: "请尽快答复".into(),
        })),
    };
    // A receipt nobody signed: the peer could have made up its instant.
    let forged = v1::DeliveredMessage {
        envelope: Some(envelope.clone()),
        receipt: Some(v1::Receipt {
            message_id: envelope.message_id.clone(),
            status: v1::ReceiptStatus::Stored as i32,
            received_at_unix_ms: 1_700_000_000_000,
            ..Default::default()
        }),
    };
    match workflow.replay_delivered(peer, &forged).await.unwrap() {
        Recovered::NeedsClerk(reason) => assert!(reason.contains("does not verify"), "{reason}"),
        other => panic!("a forged receipt was taken: {other:?}"),
    }
    // A message "returned" that this node never sent.
    match workflow.rebuild_returned(peer, &forged).await.unwrap() {
        Recovered::NeedsClerk(reason) => assert!(reason.contains("not from this node"), "{reason}"),
        other => panic!("another county's message was rebuilt as ours: {other:?}"),
    }
    // Half a message.
    let half = v1::DeliveredMessage {
        envelope: Some(envelope),
        receipt: None,
    };
    assert!(matches!(
        workflow.replay_delivered(peer, &half).await.unwrap(),
        Recovered::NeedsClerk(_)
    ));
    assert_eq!(store.last_received_from("621202").await.unwrap(), None);
    assert_eq!(
        store.newest_instant().await.unwrap(),
        0,
        "nothing was stored"
    );
    store.close().await;
}

/// An answer the requester refuses did not take effect there: the responder's case is open
/// again, with why. And while this start's recovery has not asked a peer yet, that peer's
/// follow-up on a case this node does not have is put off (the sender retries), not refused.
#[tokio::test]
async fn a_refused_answer_reopens_the_case_and_a_follow_up_waits_for_the_recovery() {
    use exchange_node::workflow::{OpenCase, Workflow, WorkflowError};
    use mpx_proto::division::CountyCode;
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let node = |county: &str, file: &str| {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join(file).display());
        let county = CountyCode::parse(county).unwrap();
        async move {
            let (notifier, _wakeups) = exchange_node::outbox::DeliveryNotifier::channel();
            Workflow::new(
                Store::connect(&url).await.unwrap(),
                county,
                mpx_proto::resident_id::CheckDigitMode::Strict,
                exchange_node::directory::DirectoryHandle::default(),
                notifier,
                exchange_node::clock::Clock::manual(1_780_000_000_000),
            )
        }
    };
    let wudu = node("621202", "wudu.db").await;
    let linxia = node("621221", "linxia.db").await;
    let case = wudu
        .open_case(
            "clerk",
            &OpenCase {
                kind: v1::CaseKind::Verification,
                recipient_county: "621221".into(),
                priority: v1::CasePriority::Normal,
                resident_id: mpx_tests::resident_id("621221", 5),
                subject_name: "测试".into(),
                questions: "请核实".into(),
            },
        )
        .await
        .unwrap();
    let request = wudu
        .store()
        .pending_outbox("621221", i64::MAX, 10)
        .await
        .unwrap();
    let envelopes: Vec<v1::Envelope> = request
        .iter()
        .map(|m| v1::Envelope::decode(m.envelope.as_slice()).unwrap())
        .collect();
    let wudu_code = CountyCode::parse("621202").unwrap();
    linxia.receive_batch(wudu_code, envelopes).await.unwrap();
    linxia
        .respond(
            "王科员",
            &case.case_id,
            "经核实，仍在本辖区居住",
            v1::NoticeVerdict::Unspecified,
        )
        .await
        .unwrap();
    let answer = linxia
        .store()
        .pending_outbox("621202", i64::MAX, 10)
        .await
        .unwrap();
    assert_eq!(answer.len(), 1);
    // 621202 refuses it (as a node that lost the case would).
    let refusal = v1::Receipt {
        message_id: answer[0].message_id.clone(),
        status: v1::ReceiptStatus::Rejected as i32,
        error: format!("case_id: no case {:?} at this node", case.case_id),
        received_at_unix_ms: 1_780_000_001_000,
        ..Default::default()
    };
    linxia.settle_receipts(&answer, &[refusal]).await.unwrap();
    let reopened = linxia
        .store()
        .get_case(&case.case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reopened.state(), v1::CaseState::Delivered, "open again");
    assert_eq!(reopened.responded_at_unix_ms, 0);
    let history = linxia.store().case_events(&case.case_id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|event| event.event == "response rejected"
                && event.detail.contains("open here again")),
        "{history:?}"
    );

    // A follow-up from 621202 on a case 621221 does not have: refused normally, put off while
    // the recovery pass has 621202 still to ask.
    let reminder = |case_id: &str| v1::Envelope {
        message_id: id(),
        sender: "621202".into(),
        recipient: "621221".into(),
        created_at_unix_ms: 1_780_000_000_000,
        body: Some(v1::envelope::Body::Reminder(v1::Reminder {
            case_id: case_id.to_string(),
            text: "请尽快答复".into(),
        })),
    };
    let unknown = id();
    let receipts = linxia
        .receive_batch(wudu_code, vec![reminder(&unknown)])
        .await
        .unwrap();
    assert_eq!(receipts[0].status(), v1::ReceiptStatus::Rejected);
    linxia.recovery_gate().start(["621202".to_string()]);
    let put_off = linxia
        .receive_batch(wudu_code, vec![reminder(&unknown)])
        .await
        .unwrap_err();
    assert!(
        matches!(put_off, WorkflowError::Unavailable(_)),
        "{put_off:?}"
    );
    // A follow-up on a case it has is taken meanwhile.
    let known = linxia
        .receive_batch(wudu_code, vec![reminder(&case.case_id)])
        .await
        .unwrap();
    assert_eq!(known[0].status(), v1::ReceiptStatus::Stored);
    linxia.recovery_gate().done("621202");
    let receipts = linxia
        .receive_batch(wudu_code, vec![reminder(&unknown)])
        .await
        .unwrap();
    assert_eq!(receipts[0].status(), v1::ReceiptStatus::Rejected);
}
