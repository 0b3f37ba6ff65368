//! The registry store's behaviour, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use registry::store::{Store, StoreError};

mpx_tests::on_both_backends!(
    a_token_is_redeemed_once_and_re_enrolment_revokes_the_old_certificate,
    revocation_and_endpoints_bump_the_version,
    operator_tokens_round_trip,
    maintenance_runs_under_one_lease_and_drops_old_tokens,
    the_registry_audit_log_is_a_hash_chain,
    the_report_tallies_in_sql_match_the_rules_case_by_case,
    roster_changes_keep_each_persons_newest_in_and_across_calls,
    a_nodes_last_directory_fetch_replaces_the_one_before,
    events_re_reported_after_a_restore_are_kept_but_counted_once,
    a_restored_node_raises_one_alert_per_backup,
);

/// A node restored from a backup re-reports case events it rebuilt from its peers: the same
/// events (case, event, instant, evidence) under new sequence numbers. The registry stores each
/// (the cursor moves past them, the evidence trail names the original) and merges none again:
/// the case, its reminders and the period's tally are what they were, and no alert is raised,
/// even for a receipt that no longer checks. An altered receipt under the same instant is no
/// repeat: refused with an alert. Two copies of a new event in one batch count once.
async fn events_re_reported_after_a_restore_are_kept_but_counted_once(url: &str) {
    use mpx_proto::calendar::WorkingCalendar;
    use mpx_proto::v1::{CaseDirection, CaseEventReport, ReceiptEvidence, ResponseEvidence};
    use registry::compliance::{Rules, Verification};
    let store = Store::connect(url).await.unwrap();
    let calendar = WorkingCalendar::load_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/calendars"),
    )
    .unwrap();
    let rules = Rules {
        calendar: &calendar,
        calendar_version: "test",
        policies: &[],
        policy_version: "test",
        max_transit_ms: 86_400_000,
    };
    let (requester, recipient) = ("621202", "621221");
    let case_id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    // 2026-11-02 10:00+08:00 (a Monday); delivered a minute later, due 20 days on, answered
    // the next day, reminded before the answer.
    let opened = 1_793_584_800_000i64;
    let (delivered, due) = (opened + 60_000, opened + 20 * 86_400_000);
    let (reminded, answered) = (opened + 3_600_000, opened + 86_400_000);
    let event = |seq: i64, event: &str, at: i64| CaseEventReport {
        seq,
        case_id: case_id.into(),
        event: event.into(),
        at_unix_ms: at,
        role: CaseDirection::Outbound as i32,
        requester_county: requester.into(),
        recipient_county: recipient.into(),
        ..Default::default()
    };
    let delivery = |seq: i64| {
        let mut report = event(seq, "delivered", delivered);
        report.receipt = Some(ReceiptEvidence {
            receipt: Some(mpx_proto::v1::Receipt {
                received_at_unix_ms: delivered,
                due_at_unix_ms: due,
                case_id: case_id.into(),
                ..Default::default()
            }),
            envelope_sha256: String::new(),
        });
        (report, Verification::Verified)
    };
    let answer = |seq: i64| {
        let mut report = event(seq, "responded", answered);
        report.response = Some(ResponseEvidence {
            case_id: case_id.into(),
            responded_at_unix_ms: answered,
            outcome_kind: "answered".into(),
            ..Default::default()
        });
        (report, Verification::Verified)
    };
    let plain = |seq: i64, name: &str, at: i64| (event(seq, name, at), Verification::NoEvidence);
    let originals = |first: i64| {
        vec![
            plain(first, "sent", opened),
            delivery(first + 1),
            plain(first + 2, "reminded", reminded),
            answer(first + 3),
        ]
    };
    let (cursor, refused) = store
        .record_case_events(requester, &originals(1), 0, &rules, answered)
        .await
        .unwrap();
    assert_eq!((cursor, refused.len()), (4, 0));
    let as_of = due + 86_400_000;
    let tally = || store.compliance_due_tally("2026-11-01", "2027-01-01", as_of, 0);
    let alerts = || store.recent_province_alerts(i64::MAX, None, None, 100);
    let (_, case_before) = store.case_evidence(case_id).await.unwrap();
    let case_before = case_before.unwrap();
    assert_eq!(case_before.reminders, 1);
    let tally_before = tally().await.unwrap();
    assert_eq!(
        tally_before
            .groups
            .iter()
            .map(|group| (group.requests_due, group.responses, group.timely))
            .collect::<Vec<_>>(),
        [(1, 1, 1)],
        "one case due, answered on time"
    );
    let alerts_before = alerts().await.unwrap();

    // The restored node's rebuilt copies, numbered above the registry's cursor.
    let (cursor, refused) = store
        .record_case_events(requester, &originals(101), 0, &rules, answered + 1_000)
        .await
        .unwrap();
    assert_eq!(
        (cursor, refused.len()),
        (104, 0),
        "the cursor moves past them"
    );
    let (events, case_after) = store.case_evidence(case_id).await.unwrap();
    assert_eq!(case_after.unwrap(), case_before, "nothing merged twice");
    assert_eq!(tally().await.unwrap(), tally_before);
    assert_eq!(alerts().await.unwrap(), alerts_before);
    let labels: Vec<(i64, String)> = events
        .iter()
        .map(|stored| {
            (
                stored.report.as_ref().unwrap().seq,
                stored.verification.clone(),
            )
        })
        .collect();
    assert_eq!(labels.len(), 8, "every report is kept: {labels:?}");
    assert!(
        labels.contains(&(103, "repeat of seq 3 (after a restore)".to_string())),
        "{labels:?}"
    );
    assert_eq!(
        labels
            .iter()
            .filter(|(seq, label)| *seq > 100 && label.starts_with("repeat of seq "))
            .count(),
        4,
        "{labels:?}"
    );

    // The delivery once more, its receipt no longer checking (the recipient's certificate
    // changed since): a repeat all the same, so no alert. The same instant with the receipt's
    // time moved a day earlier is no repeat: refused, with an alert, and the case unchanged.
    let (rechecked, _) = delivery(120);
    let mut forged = rechecked.clone();
    forged.seq = 121;
    if let Some(receipt) = forged.receipt.as_mut().and_then(|e| e.receipt.as_mut()) {
        receipt.received_at_unix_ms -= 86_400_000;
    }
    let does_not_verify = || Verification::Rejected("does not verify".into());
    let (cursor, refused) = store
        .record_case_events(
            requester,
            &[(rechecked, does_not_verify()), (forged, does_not_verify())],
            0,
            &rules,
            answered + 1_500,
        )
        .await
        .unwrap();
    assert_eq!(cursor, 121);
    assert_eq!(
        refused.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [121],
        "only the altered receipt is refused"
    );
    let raised: Vec<_> = alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|alert| !alerts_before.contains(alert))
        .map(|alert| (alert.kind, alert.case_id))
        .collect();
    assert_eq!(
        raised,
        [("EVIDENCE_REJECTED".to_string(), case_id.to_string())]
    );
    let (_, case_after) = store.case_evidence(case_id).await.unwrap();
    assert_eq!(case_after.unwrap(), case_before);

    // A new reminder that the restore left both renumbered and rebuilt: twice in one batch.
    let again = opened + 2 * 3_600_000;
    let (cursor, _) = store
        .record_case_events(
            requester,
            &[plain(130, "reminded", again), plain(131, "reminded", again)],
            0,
            &rules,
            answered + 2_000,
        )
        .await
        .unwrap();
    assert_eq!(cursor, 131);
    let (_, case_now) = store.case_evidence(case_id).await.unwrap();
    assert_eq!(case_now.unwrap().reminders, 2, "one more reminder, not two");
    assert_eq!(tally().await.unwrap(), tally_before);
    store.close().await;
}

/// The index keeps, per person and reporting county, the change with the highest sequence
/// number: within one call (several changes of one person) and across calls (an older change
/// arriving late changes nothing); the cursor is the highest sequence number seen.
async fn roster_changes_keep_each_persons_newest_in_and_across_calls(url: &str) {
    use mpx_proto::v1::{PersonStatus, RosterChange};
    let store = Store::connect(url).await.unwrap();
    let change = |seq: i64, id: &str, residence: &str, status: PersonStatus| RosterChange {
        seq,
        resident_id: id.into(),
        name: "测试".into(),
        hukou_county: "621221".into(),
        residence_county: residence.into(),
        status: status as i32,
        since: "2026-11-01".into(),
        changed_at_unix_ms: 0,
    };
    let (a, b) = ("62122119900101001X", "621221199001010028");
    // Person a three times in one call, out of order; 450 others (more than one statement).
    let mut changes = vec![
        change(7, a, "621202", PersonStatus::Residing),
        change(9, a, "", PersonStatus::WhereaboutsUnknown),
        change(8, a, "621223", PersonStatus::Residing),
    ];
    for i in 0..450 {
        changes.push(change(
            10 + i,
            &format!("6212211990010{i:04}X"),
            "621202",
            PersonStatus::Residing,
        ));
    }
    changes.push(change(5, b, "621202", PersonStatus::Residing));
    let cursor = store
        .record_roster_changes("621202", &changes, 1_000)
        .await
        .unwrap();
    assert_eq!(cursor, 459);
    let at = |reports: Vec<mpx_proto::v1::IndexReport>| {
        assert_eq!(reports.len(), 1);
        (reports[0].status(), reports[0].residence_county.clone())
    };
    assert_eq!(
        at(store.locate(a).await.unwrap()),
        (PersonStatus::WhereaboutsUnknown, String::new()),
        "the newest of the call"
    );
    // A late, older change of b is ignored; a newer one is taken.
    store
        .record_roster_changes(
            "621202",
            &[change(4, b, "621223", PersonStatus::Residing)],
            2_000,
        )
        .await
        .unwrap();
    assert_eq!(
        at(store.locate(b).await.unwrap()),
        (PersonStatus::Residing, "621202".to_string())
    );
    store
        .record_roster_changes(
            "621202",
            &[change(500, b, "", PersonStatus::Departed)],
            3_000,
        )
        .await
        .unwrap();
    assert_eq!(at(store.locate(b).await.unwrap()).0, PersonStatus::Departed);
    assert_eq!(store.locate("62122119900100449X").await.unwrap().len(), 1);
}

/// Random provincial cases whose instants collide often (a few days apart, or unset), so every
/// branch of the report's rules is taken: the store's SQL tallies must equal the rules applied
/// case by case (`compliance::tally_due`, `tally_overdue`), for several report instants.
async fn the_report_tallies_in_sql_match_the_rules_case_by_case(url: &str) {
    use mpx_proto::synth::Rng;
    use registry::compliance::{CaseRecord, due_date_of, tally_due, tally_overdue};
    let store = Store::connect(url).await.unwrap();
    let day = 86_400_000i64;
    // 2026-11-01T00:00+08:00.
    let base = 1_793_462_400_000i64;
    let mut rng = Rng::new(7);
    let instant = |rng: &mut Rng, unset: f64| {
        if rng.chance(unset) {
            0
        } else {
            base - 5 * day + rng.below(14) as i64 * 3 * day
        }
    };
    let counties = ["621202", "621221", "621223", "620000"];
    let mut records = Vec::new();
    for i in 0..1_500u64 {
        let due = instant(&mut rng, 0.1);
        let responded = instant(&mut rng, 0.4);
        let record = CaseRecord {
            case_id: format!("{:08x}-0000-7000-8000-{:012x}", rng.next_u64() as u32, i),
            kind: "verification".into(),
            priority: "normal".into(),
            requester_county: counties[rng.below(4) as usize].into(),
            recipient_county: counties[rng.below(3) as usize].into(),
            opened_at_unix_ms: instant(&mut rng, 0.1),
            delivered_at_unix_ms: instant(&mut rng, 0.2),
            due_at_unix_ms: due,
            due_date: due_date_of(due),
            acceptance_due_at_unix_ms: instant(&mut rng, 0.5),
            accepted_at_unix_ms: instant(&mut rng, 0.5),
            responded_at_unix_ms: responded,
            response_outcome: if responded > 0 {
                "answered".into()
            } else {
                String::new()
            },
            response_working_days: if rng.chance(0.2) {
                -1
            } else {
                rng.below(6) as i64
            },
            withdrawn_at_unix_ms: instant(&mut rng, 0.8),
            closed_at_unix_ms: instant(&mut rng, 0.8),
            extended_due_at_unix_ms: instant(&mut rng, 0.8),
            receipt_by_requester: rng.chance(0.7),
            receipt_by_recipient: rng.chance(0.7),
            response_by_requester: rng.chance(0.6),
            response_by_recipient: rng.chance(0.6),
            requester_reported_at_unix_ms: instant(&mut rng, 0.15),
            recipient_reported_at_unix_ms: instant(&mut rng, 0.15),
            dispute: if rng.chance(0.05) {
                "signatures disagree".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        records.push(record);
    }
    store.put_compliance_cases(&records, base).await.unwrap();
    let in_november: Vec<CaseRecord> = records
        .iter()
        .filter(|r| r.due_date.as_str() >= "2026-11-01" && r.due_date.as_str() < "2026-12-01")
        .cloned()
        .collect();
    assert!(in_november.len() > 500 && in_november.len() < records.len());
    let mut seen_disputed = 0;
    for (as_of, grace) in [
        (base + 10 * day, 2 * day),
        (base + 20 * day, 0),
        (base + 40 * day, 3 * day),
    ] {
        let expected = tally_due(&in_november, as_of, grace);
        let actual = store
            .compliance_due_tally("2026-11-01", "2026-12-01", as_of, grace)
            .await
            .unwrap();
        assert_eq!(actual.groups, expected.groups, "as of {as_of}");
        assert_eq!(actual.disputed, expected.disputed, "as of {as_of}");
        assert!(expected.groups.iter().map(|g| g.requests_due).sum::<i64>() > 50);
        seen_disputed += expected.disputed.len();
        for (county, limit) in [(None, 10_000), (None, 7), (Some("621221"), 5)] {
            let expected = tally_overdue(&records, as_of, county, limit);
            let actual = store
                .compliance_overdue_tally(as_of, county, limit)
                .await
                .unwrap();
            assert_eq!(actual, expected, "as of {as_of}, county {county:?}");
            assert!(!expected.listed.is_empty());
        }
    }
    assert!(seen_disputed > 10, "disputes exercised: {seen_disputed}");
}

async fn maintenance_runs_under_one_lease_and_drops_old_tokens(url: &str) {
    let replica_a = Store::connect(url).await.unwrap();
    let replica_b = Store::connect(url).await.unwrap();
    assert!(
        replica_a
            .try_lease("registry:maintenance", "a", 1_000, 500)
            .await
            .unwrap()
    );
    assert!(
        !replica_b
            .try_lease("registry:maintenance", "b", 1_200, 500)
            .await
            .unwrap(),
        "held by a"
    );
    assert!(
        replica_a
            .try_lease("registry:maintenance", "a", 1_300, 500)
            .await
            .unwrap(),
        "a renews"
    );
    assert!(
        !replica_b
            .try_lease("registry:maintenance", "b", 1_700, 500)
            .await
            .unwrap(),
        "renewed to 1800"
    );
    assert!(
        replica_b
            .try_lease("registry:maintenance", "b", 1_800, 500)
            .await
            .unwrap(),
        "expired: b takes it"
    );
    replica_b
        .release_lease("registry:maintenance", "b")
        .await
        .unwrap();
    assert!(
        replica_a
            .try_lease("registry:maintenance", "a", 1_900, 500)
            .await
            .unwrap(),
        "released"
    );

    replica_a
        .create_enrollment_token("621202", "", "old", 0, 100)
        .await
        .unwrap();
    replica_a
        .create_enrollment_token("621202", "", "new", 0, 10_000)
        .await
        .unwrap();
    assert_eq!(
        replica_a
            .delete_expired_enrollment_tokens(5_000)
            .await
            .unwrap(),
        1
    );
    assert!(
        replica_a
            .enrollment_token_is_valid("621202", "new", 1_000)
            .await
            .unwrap()
    );
    replica_a.close().await;
    replica_b.close().await;
}

async fn a_token_is_redeemed_once_and_re_enrolment_revokes_the_old_certificate(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store
        .create_enrollment_token("621202", "武都区", "hash1", 1_000, 10_000)
        .await
        .unwrap();
    assert!(
        store
            .enrollment_token_is_valid("621202", "hash1", 2_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .enrollment_token_is_valid("621221", "hash1", 2_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .enrollment_token_is_valid("621202", "hash1", 20_000)
            .await
            .unwrap()
    );
    let (version_before, nodes, _) = store.directory().await.unwrap();
    assert!(nodes.is_empty(), "pending nodes are not published");

    store
        .complete_enrollment(
            "621202",
            "hash1",
            "",
            "https://127.0.0.1:1",
            "PEM1",
            "fp1",
            2_000,
        )
        .await
        .unwrap();
    let again = store
        .complete_enrollment("621202", "hash1", "", "", "PEM2", "fp2", 2_500)
        .await;
    assert!(matches!(again, Err(StoreError::TokenInvalid)));

    let (version, nodes, revocations) = store.directory().await.unwrap();
    assert!(version > version_before);
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].name, "武都区");
    assert_eq!(nodes[0].certificate_sha256, "fp1");
    assert!(revocations.is_empty());

    store
        .create_enrollment_token("621202", "", "hash2", 3_000, 10_000)
        .await
        .unwrap();
    store
        .complete_enrollment("621202", "hash2", "", "", "PEM2", "fp2", 3_500)
        .await
        .unwrap();
    let (_, nodes, revocations) = store.directory().await.unwrap();
    assert_eq!(nodes[0].certificate_sha256, "fp2");
    assert_eq!(nodes[0].endpoint, "https://127.0.0.1:1", "endpoint kept");
    assert_eq!(
        nodes[0].name, "武都区",
        "name kept when the new token names none"
    );
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].certificate_sha256, "fp1");
    assert_eq!(revocations[0].reason, "superseded by re-enrolment");
    store.close().await;
}

async fn revocation_and_endpoints_bump_the_version(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store
        .register_certificate("621221", "成县", "PEM", "fp", 1)
        .await
        .unwrap();
    let v1 = store
        .publish_endpoint("621221", "https://127.0.0.1:9", 2)
        .await
        .unwrap();
    let v2 = store
        .publish_endpoint("621221", "https://127.0.0.1:9", 3)
        .await
        .unwrap();
    assert_eq!(v1, v2, "an unchanged endpoint is not a new version");
    assert_eq!(
        store.revoke_county("621221", "key lost", 4).await.unwrap(),
        "fp"
    );
    let (v3, nodes, revocations) = store.directory().await.unwrap();
    assert!(v3 > v2);
    assert_eq!(nodes[0].status, "revoked");
    assert_eq!(revocations[0].reason, "key lost");
    assert!(matches!(
        store.revoke_county("620102", "x", 5).await,
        Err(StoreError::UnknownCounty(_))
    ));
    // Migrations are idempotent: connecting again changes nothing.
    let again = Store::connect(url).await.unwrap();
    assert_eq!(again.directory().await.unwrap().0, v3);
    store.close().await;
}

async fn operator_tokens_round_trip(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store
        .add_operator_token("supervisor-li", "h1", 1)
        .await
        .unwrap();
    store.add_operator_token("admin", "h2", 2).await.unwrap();
    let tokens = store.operator_tokens().await.unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens["h1"], "supervisor-li");
    assert!(
        store.add_operator_token("dup", "h1", 3).await.is_err(),
        "a hash is unique"
    );
    store.close().await;
}

async fn the_registry_audit_log_is_a_hash_chain(url: &str) {
    use sqlx::Connection;
    let store = Store::connect(url).await.unwrap();
    for index in 0..3 {
        store
            .audit(
                "supervisor-li",
                "locate",
                "核查流动人口",
                &format!("62122119900307123{index}"),
                1,
            )
            .await
            .unwrap();
    }
    assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(3));
    sqlx::any::install_default_drivers();
    let mut raw = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query("UPDATE audit_log SET rows_returned = 0 WHERE chain_index = 2")
        .execute(&mut raw)
        .await
        .unwrap();
    let problem = store.verify_audit_chain().await.unwrap().unwrap_err();
    assert!(problem.contains("entry 2"), "{problem}");
    let _ = raw.close().await;
    store.close().await;
}

/// Each directory fetch replaces the county's row: when, the version held, the backlog said.
async fn a_nodes_last_directory_fetch_replaces_the_one_before(url: &str) {
    use registry::store::NodeContact;
    let store = Store::connect(url).await.unwrap();
    assert_eq!(store.node_contact("621221").await.unwrap(), None);
    let first = NodeContact {
        county: "621221".into(),
        seen_at_unix_ms: 1_000,
        directory_version: 3,
        outbox_pending: 12,
        oldest_pending_unix_ms: 900,
        ..Default::default()
    };
    store.record_node_contact(&first).await.unwrap();
    assert_eq!(store.node_contact("621221").await.unwrap(), Some(first));
    let drained = NodeContact {
        county: "621221".into(),
        seen_at_unix_ms: 31_000,
        directory_version: 4,
        outbox_pending: 0,
        oldest_pending_unix_ms: 0,
        ..Default::default()
    };
    store.record_node_contact(&drained).await.unwrap();
    assert_eq!(store.node_contact("621221").await.unwrap(), Some(drained));
    assert_eq!(store.node_contact("621202").await.unwrap(), None);
    store.close().await;
}

/// A node that says it was restored from a backup raises one RESTORED alert, in Chinese then
/// English, however often it says so; its recovery as it says it replaces the one before; a
/// restore from another backup raises another. A node that says nothing raises nothing.
async fn a_restored_node_raises_one_alert_per_backup(url: &str) {
    use registry::store::NodeContact;
    let store = Store::connect(url).await.unwrap();
    // 2026-12-03 10:00 and 2026-12-10 10:00 in Asia/Shanghai.
    let (backup, later_backup) = (1_796_263_200_000i64, 1_796_868_000_000i64);
    let contact = |seen: i64, backup_of: i64, peers: i64, replayed: i64| NodeContact {
        county: "621221".into(),
        seen_at_unix_ms: seen,
        directory_version: 3,
        restored_backup_of_unix_ms: backup_of,
        recovery_peers_pending: peers,
        recovery_replayed: replayed,
        recovery_rebuilt: 4,
        recovery_needs_clerk: 1,
        ..Default::default()
    };
    let restored = || async {
        store
            .recent_province_alerts(i64::MAX, None, Some("RESTORED"), 100)
            .await
            .unwrap()
    };
    assert!(
        !store
            .record_node_contact(&contact(1_000, 0, 0, 0))
            .await
            .unwrap()
    );
    assert!(restored().await.is_empty(), "never restored");

    assert!(
        store
            .record_node_contact(&contact(2_000, backup, 3, 0))
            .await
            .unwrap()
    );
    let alerts = restored().await;
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(
        (
            alert.case_id.as_str(),
            alert.county.as_str(),
            alert.counterpart_county.as_str()
        ),
        ("restore/621221/1796263200000", "621221", "")
    );
    assert_eq!(alert.raised_at_unix_ms, 2_000);
    assert_eq!(
        alert.detail,
        "621221 成县 从 2026-12-03 10:00 的备份恢复；正在向 3 个节点恢复，已重放 0 条消息 / \
         county 621221 成县 restored a backup of 2026-12-03 10:00; recovering from 3 peers, 0 messages replayed"
    );

    // Said again as the recovery goes on, and again after an older binary said nothing.
    assert!(
        !store
            .record_node_contact(&contact(3_000, backup, 1, 507))
            .await
            .unwrap()
    );
    let now = store.node_contact("621221").await.unwrap().unwrap();
    assert_eq!(now, contact(3_000, backup, 1, 507), "the latest progress");
    assert!(
        !store
            .record_node_contact(&contact(4_000, 0, 0, 0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_node_contact(&contact(5_000, backup, 0, 600))
            .await
            .unwrap()
    );
    assert_eq!(restored().await.len(), 1, "one alert for one backup");

    // Restored again, from another backup.
    assert!(
        store
            .record_node_contact(&contact(6_000, later_backup, 3, 0))
            .await
            .unwrap()
    );
    let alerts = restored().await;
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].case_id, "restore/621221/1796868000000");
    assert!(
        alerts[0].detail.contains("从 2026-12-10 10:00 的备份恢复"),
        "{}",
        alerts[0].detail
    );
    store.close().await;
}
