//! End-to-end: two or three real county nodes and a registry over loopback mutual TLS.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mpx_proto::v1::{
    self, AcceptCaseRequest, CaseDirection, CaseKind, CasePriority, CaseState, CreatePersonRequest,
    DeliverRequest, Envelope, GetCaseRequest, GetPersonRequest, ListCasesRequest, NoticeVerdict,
    OpenCaseRequest, PersonStatus, ReceiptStatus, RedirectCaseRequest, RespondCaseRequest,
    WithdrawCaseRequest, envelope::Body,
};
use mpx_tests::cases::{cases_at, person};
use mpx_tests::{Backend, Province, resident_id, wait_for_state, wait_until};

/// Registry replicas share a PostgreSQL database, so this scenario runs on the PostgreSQL shapes.
mod registry_replicas {
    #[tokio::test]
    async fn registry_on_postgres() {
        super::nodes_carry_on_through_a_second_registry_replica(
            mpx_tests::Backend::RegistryOnPostgres,
        )
        .await
    }
    #[tokio::test]
    async fn all_on_postgres() {
        super::nodes_carry_on_through_a_second_registry_replica(mpx_tests::Backend::AllOnPostgres)
            .await
    }
}

mpx_tests::on_every_backend!(
    province_queries_find_conflicts_untracked_counts_and_flows,
    the_registry_locates_a_person_from_both_counties_reports,
    a_late_answer_is_marked_late_on_both_sides_with_the_same_due_date,
    alerts_stream_in_and_clear,
    offline_enrolment_and_the_clerk_cli_work_end_to_end,
    a_residence_notice_reaches_the_hukou_county_and_updates_its_roster,
    a_verification_is_accepted_answered_redirected_and_withdrawn,
    queued_messages_reach_a_restarted_recipient_exactly_once,
    a_sender_killed_mid_batch_loses_nothing_and_duplicates_nothing,
    a_spoofed_sender_is_refused_and_recorded_and_a_duplicate_gets_the_original_receipt,
    plaintext_and_foreign_ca_clients_are_refused,
    a_revoked_county_is_refused_without_a_restart,
    an_invalid_resident_id_is_refused_with_the_field_named_and_nothing_written,
);

const WUDU: &str = "621202";
const LINXIA: &str = "621221";
const CHENGGUAN: &str = "620102";
const WAIT: Duration = Duration::from_secs(30);

/// Opens a normal-priority verification from 621202 to 621221 about a generated person.
async fn open_verification(province: &Province, seq: u32, questions: &str) -> v1::Case {
    province
        .node(WUDU)
        .cases()
        .await
        .open_case(OpenCaseRequest {
            kind: CaseKind::Verification as i32,
            recipient_county: LINXIA.into(),
            priority: CasePriority::Normal as i32,
            resident_id: resident_id(LINXIA, seq),
            subject_name: String::new(),
            questions: questions.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
}

async fn a_residence_notice_reaches_the_hukou_county_and_updates_its_roster(backend: Backend) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let id = resident_id(LINXIA, 1);
    let created = province
        .node(WUDU)
        .records()
        .await
        .create_person(CreatePersonRequest {
            person: Some(person(&id, LINXIA)),
        })
        .await
        .unwrap()
        .into_inner();
    let notice_case = created.notice_case_id;
    assert!(
        !notice_case.is_empty(),
        "a notice case is opened for a hukou elsewhere"
    );
    wait_for_state(&province, WUDU, &notice_case, CaseState::Delivered).await;

    let at_hukou = province
        .node(LINXIA)
        .records()
        .await
        .get_person(GetPersonRequest {
            resident_id: id.clone(),
            purpose: "e2e check".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert_eq!(at_hukou.status(), PersonStatus::LivingElsewhere);
    assert_eq!(at_hukou.residence_county, WUDU);
    assert_eq!(at_hukou.residence_address, "城关镇人民路12号");
    assert_eq!(at_hukou.arrival_date, "2026-03-01");

    let inbox = cases_at(&province, LINXIA, CaseDirection::Inbound).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].case_id, notice_case);
    assert_eq!(inbox[0].kind(), CaseKind::ResidenceNotice);

    // The hukou county confirms; the residence county sees it.
    province
        .node(LINXIA)
        .cases()
        .await
        .respond_case(RespondCaseRequest {
            case_id: notice_case.clone(),
            answer: String::new(),
            verdict: NoticeVerdict::Confirmed as i32,
        })
        .await
        .unwrap();
    wait_for_state(&province, WUDU, &notice_case, CaseState::Responded).await;

    // A departure tells the hukou county the person's whereabouts are unknown.
    let departed = province
        .node(WUDU)
        .records()
        .await
        .depart_person(v1::DepartPersonRequest {
            resident_id: id.clone(),
            departure_date: "2026-11-01".into(),
            destination_county: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    wait_for_state(
        &province,
        WUDU,
        &departed.notice_case_id,
        CaseState::Delivered,
    )
    .await;
    let at_hukou = province
        .node(LINXIA)
        .records()
        .await
        .get_person(GetPersonRequest {
            resident_id: id.clone(),
            purpose: "e2e check".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert_eq!(at_hukou.status(), PersonStatus::WhereaboutsUnknown);
    assert_eq!(at_hukou.departure_date, "2026-11-01");

    // The read was audited with the purpose.
    let audit = province.node(LINXIA).cli_output(&["audit"]);
    assert!(
        audit.contains("e2e check") && audit.contains("records.get"),
        "{audit}"
    );
    let verified = province.node(LINXIA).cli_output(&["audit", "verify"]);
    assert!(verified.contains("audit log intact"), "{verified}");
}

async fn a_verification_is_accepted_answered_redirected_and_withdrawn(backend: Backend) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA, CHENGGUAN]).await else {
        return;
    };
    let id = resident_id(LINXIA, 2);
    let open = |questions: &str| OpenCaseRequest {
        kind: CaseKind::Verification as i32,
        recipient_county: LINXIA.into(),
        priority: CasePriority::Urgent as i32,
        resident_id: id.clone(),
        subject_name: "测试人员".into(),
        questions: questions.into(),
    };
    let mut wudu = province.node(WUDU).cases().await;
    let mut linxia = province.node(LINXIA).cases().await;

    // Answered.
    let case = wudu
        .open_case(open("请核实户籍状态"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(case.state(), CaseState::Queued);
    wait_for_state(&province, LINXIA, &case.case_id, CaseState::Delivered).await;
    linxia
        .accept_case(AcceptCaseRequest {
            case_id: case.case_id.clone(),
            note: "已受理".into(),
        })
        .await
        .unwrap();
    wait_for_state(&province, WUDU, &case.case_id, CaseState::Accepted).await;
    linxia
        .respond_case(RespondCaseRequest {
            case_id: case.case_id.clone(),
            answer: "户籍正常".into(),
            verdict: 0,
        })
        .await
        .unwrap();
    wait_for_state(&province, WUDU, &case.case_id, CaseState::Responded).await;
    let seen = wudu
        .get_case(GetCaseRequest {
            case_id: case.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let answered = seen.case.unwrap();
    assert_eq!(answered.answer, "户籍正常");
    assert_eq!(answered.priority(), CasePriority::Urgent);
    assert!(
        answered.delivered_at_unix_ms > 0
            && answered.accepted_at_unix_ms >= answered.delivered_at_unix_ms
    );
    // Both sides hold the same due dates, computed by the recipient from the delivery instant.
    let at_recipient = linxia
        .get_case(GetCaseRequest {
            case_id: case.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert!(
        answered.due_at_unix_ms > answered.delivered_at_unix_ms,
        "urgent: 10 working days"
    );
    assert_eq!(answered.due_at_unix_ms, at_recipient.due_at_unix_ms);
    assert_eq!(
        answered.acceptance_due_at_unix_ms,
        at_recipient.acceptance_due_at_unix_ms
    );
    assert_eq!(
        answered.delivered_at_unix_ms,
        at_recipient.delivered_at_unix_ms
    );
    assert_eq!(answered.calendar_version, at_recipient.calendar_version);
    assert!(
        answered.calendar_version.starts_with("2024-2026"),
        "{}",
        answered.calendar_version
    );
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/calendars");
    let expected = mpx_proto::policy::case_deadlines(
        &mpx_proto::calendar::WorkingCalendar::load_dir(&shipped).unwrap(),
        &answered.calendar_version,
        &mpx_proto::policy::default_policies(),
        &answered.policy_version,
        CaseKind::Verification,
        CasePriority::Urgent,
        answered.delivered_at_unix_ms,
    );
    assert_eq!(
        answered.due_at_unix_ms, expected.due_at_unix_ms,
        "the shipped calendar and default policy"
    );
    let events: Vec<_> = seen.events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        ["opened", "request delivered", "accepted", "responded"]
    );
    // Answering twice is refused.
    let again = linxia
        .respond_case(RespondCaseRequest {
            case_id: case.case_id.clone(),
            answer: "再次".into(),
            verdict: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition, "{again:?}");

    // Redirected: the requester opens the linked case at the named county.
    let misrouted = wudu
        .open_case(open("此人是否在贵地"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    wait_for_state(&province, LINXIA, &misrouted.case_id, CaseState::Delivered).await;
    linxia
        .redirect_case(RedirectCaseRequest {
            case_id: misrouted.case_id.clone(),
            redirect_to_county: CHENGGUAN.into(),
            reason: "非本地户籍".into(),
        })
        .await
        .unwrap();
    wait_for_state(&province, WUDU, &misrouted.case_id, CaseState::Redirected).await;
    let parent = wudu
        .get_case(GetCaseRequest {
            case_id: misrouted.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(parent.redirected_to_county, CHENGGUAN);
    let child = parent.child_case_id;
    assert!(!child.is_empty());
    wait_for_state(&province, CHENGGUAN, &child, CaseState::Delivered).await;
    let at_third = province
        .node(CHENGGUAN)
        .cases()
        .await
        .get_case(GetCaseRequest {
            case_id: child.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(at_third.parent_case_id, misrouted.case_id);
    assert_eq!(at_third.requester_county, WUDU);

    // Withdrawn: the recipient sees it withdrawn.
    let withdrawn = wudu
        .open_case(open("撤回测试"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    wait_for_state(&province, LINXIA, &withdrawn.case_id, CaseState::Delivered).await;
    wudu.withdraw_case(WithdrawCaseRequest {
        case_id: withdrawn.case_id.clone(),
        reason: "已查明".into(),
    })
    .await
    .unwrap();
    wait_for_state(&province, LINXIA, &withdrawn.case_id, CaseState::Withdrawn).await;
}

async fn queued_messages_reach_a_restarted_recipient_exactly_once(backend: Backend) {
    let Some(mut province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    province.stop_node(LINXIA);
    let mut records = province.node(WUDU).records().await;
    let count = 40;
    for seq in 0..count {
        records
            .create_person(CreatePersonRequest {
                person: Some(person(&resident_id(LINXIA, 100 + seq), LINXIA)),
            })
            .await
            .unwrap();
    }
    // The sender keeps retrying while the recipient is down.
    wait_until(WAIT, "failed delivery attempts to be recorded", || async {
        province
            .node(WUDU)
            .cli_output(&["--json", "deliveries"])
            .lines()
            .any(|line| !line.contains("\"attempts\":0"))
    })
    .await;
    province.start_node(LINXIA).await;
    wait_until(WAIT, "every notice to be delivered", || async {
        cases_at(&province, WUDU, CaseDirection::Outbound)
            .await
            .iter()
            .all(|c| c.state() == CaseState::Delivered)
    })
    .await;
    let inbox = cases_at(&province, LINXIA, CaseDirection::Inbound).await;
    assert_eq!(
        inbox.len(),
        count as usize,
        "each notice arrives exactly once"
    );
    let mut ids: Vec<_> = inbox.iter().map(|c| c.resident_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count as usize);
}

async fn a_sender_killed_mid_batch_loses_nothing_and_duplicates_nothing(backend: Backend) {
    let Some(mut province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    province.stop_node(LINXIA);
    let mut records = province.node(WUDU).records().await;
    let count = 150;
    for seq in 0..count {
        records
            .create_person(CreatePersonRequest {
                person: Some(person(&resident_id(LINXIA, 300 + seq), LINXIA)),
            })
            .await
            .unwrap();
    }
    // The recipient comes back and the sender dies as soon as delivery has begun.
    province.start_node(LINXIA).await;
    wait_until(WAIT, "delivery to begin", || async {
        !cases_at(&province, LINXIA, CaseDirection::Inbound)
            .await
            .is_empty()
    })
    .await;
    province.kill_node(WUDU);
    province.start_node(WUDU).await;
    wait_until(
        WAIT,
        "every notice to be delivered after the restart",
        || async {
            cases_at(&province, WUDU, CaseDirection::Outbound)
                .await
                .iter()
                .all(|c| c.state() == CaseState::Delivered)
        },
    )
    .await;
    let inbox = cases_at(&province, LINXIA, CaseDirection::Inbound).await;
    assert_eq!(inbox.len(), count as usize, "exactly once at the recipient");
}

fn envelope(sender: &str, recipient: &str, body: Body) -> Envelope {
    Envelope {
        message_id: uuid::Uuid::now_v7().to_string(),
        sender: sender.into(),
        recipient: recipient.into(),
        created_at_unix_ms: mpx_proto::time::now_unix_ms(),
        body: Some(body),
    }
}

fn request_body(id: &str) -> Body {
    Body::Request(v1::Request {
        case_id: uuid::Uuid::now_v7().to_string(),
        kind: CaseKind::Verification as i32,
        priority: CasePriority::Normal as i32,
        resident_id: id.into(),
        subject_name: String::new(),
        questions: "请核实".into(),
        parent_case_id: String::new(),
    })
}

async fn deliver(
    client: &mut mpx_proto::v1::exchange_client::ExchangeClient<tonic::transport::Channel>,
    envelopes: Vec<Envelope>,
) -> Result<Vec<v1::Receipt>, tonic::Status> {
    let stream = tokio_stream_once(DeliverRequest { envelopes });
    let mut responses = client.deliver(stream).await?.into_inner();
    match responses.message().await? {
        Some(response) => Ok(response.receipts),
        None => Err(tonic::Status::unknown("stream ended without receipts")),
    }
}

fn tokio_stream_once(
    request: DeliverRequest,
) -> impl tonic::codegen::tokio_stream::Stream<Item = DeliverRequest> {
    tonic::codegen::tokio_stream::iter(vec![request])
}

async fn a_spoofed_sender_is_refused_and_recorded_and_a_duplicate_gets_the_original_receipt(
    backend: Backend,
) {
    let Some(mut province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    province
        .use_backend_for(backend, CHENGGUAN)
        .await
        .expect("PostgreSQL was available a moment ago");
    province.enroll(CHENGGUAN);
    let mut client = province.peer_client(WUDU, LINXIA).await.unwrap();
    let spoofed = envelope(CHENGGUAN, LINXIA, request_body(&resident_id(LINXIA, 5)));
    let status = deliver(&mut client, vec![spoofed]).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains(CHENGGUAN));
    let events = province.node(LINXIA).cli_output(&["security-events"]);
    assert!(events.contains("spoofed sender"), "{events}");
    assert!(
        cases_at(&province, LINXIA, CaseDirection::Inbound)
            .await
            .is_empty(),
        "nothing stored"
    );

    // The same envelope twice: one effect, the same receipt.
    let genuine = envelope(WUDU, LINXIA, request_body(&resident_id(LINXIA, 6)));
    let first = deliver(&mut client, vec![genuine.clone()]).await.unwrap();
    let second = deliver(&mut client, vec![genuine.clone(), genuine.clone()])
        .await
        .unwrap();
    assert_eq!(first[0].status(), ReceiptStatus::Stored);
    // The receipt is signed by the recipient's certificate key; altering a timestamp breaks it.
    let linxia_certificate =
        mpx_proto::identity::certificate_der_from_pem(&province.node(LINXIA).tls().certificate_pem)
            .unwrap();
    let digest = mpx_proto::sha256_hex(&prost::Message::encode_to_vec(&genuine));
    mpx_proto::evidence::verify_receipt(&linxia_certificate, &first[0], &digest).unwrap();
    let mut altered = first[0].clone();
    altered.received_at_unix_ms += 1;
    assert!(mpx_proto::evidence::verify_receipt(&linxia_certificate, &altered, &digest).is_err());
    assert_eq!(second[0], first[0]);
    assert_eq!(second[1], first[0]);
    assert_eq!(
        cases_at(&province, LINXIA, CaseDirection::Inbound)
            .await
            .len(),
        1
    );

    // The same message id with another body is no redelivery: refused, not given the first
    // receipt (which would tell the sender that what it sent now was stored).
    let mut reused = envelope(WUDU, LINXIA, request_body(&resident_id(LINXIA, 9)));
    reused.message_id = genuine.message_id.clone();
    let receipts = deliver(&mut client, vec![reused]).await.unwrap();
    assert_eq!(receipts[0].status(), ReceiptStatus::Rejected);
    assert!(
        receipts[0]
            .error
            .contains("already used for another message"),
        "{}",
        receipts[0].error
    );
    let inbound = cases_at(&province, LINXIA, CaseDirection::Inbound).await;
    assert_eq!(inbound.len(), 1, "nothing of the second body stored");
    assert_eq!(
        deliver(&mut client, vec![genuine.clone()]).await.unwrap()[0],
        first[0],
        "the genuine envelope still gets its receipt"
    );

    // A bad body is rejected in its receipt, with the field named; the batch's other envelope is stored.
    // (A peer's check-digit slip is accepted in warn mode; an impossible birth date is not.)
    let bad = envelope(WUDU, LINXIA, request_body("11010519491331002X"));
    let good = envelope(WUDU, LINXIA, request_body(&resident_id(LINXIA, 7)));
    let receipts = deliver(&mut client, vec![bad, good]).await.unwrap();
    assert_eq!(receipts[0].status(), ReceiptStatus::Rejected);
    assert!(
        receipts[0].error.contains("request.resident_id"),
        "{}",
        receipts[0].error
    );
    assert_eq!(receipts[1].status(), ReceiptStatus::Stored);
}

async fn plaintext_and_foreign_ca_clients_are_refused(backend: Backend) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let address = province.node(LINXIA).peer.unwrap();

    // Plaintext HTTP/2 to the TLS port.
    let plaintext = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plaintext {
        let mut client = mpx_proto::v1::exchange_client::ExchangeClient::new(channel);
        let result = deliver(
            &mut client,
            vec![envelope(
                WUDU,
                LINXIA,
                request_body(&resident_id(LINXIA, 8)),
            )],
        )
        .await;
        assert!(result.is_err(), "plaintext must not be served");
    }

    // A certificate from another CA.
    let foreign = province.dir.join("foreign");
    mpx_tests::run_ok({
        let mut c = mpx_tests::command("registry");
        c.arg("--data-dir")
            .arg(foreign.join("registry"))
            .args(["ca", "init", "--province", "62"]);
        c
    });
    let node_dir = foreign.join("node");
    let csr = foreign.join("node.csr");
    mpx_tests::run_ok({
        let mut c = mpx_tests::command("exchange-node");
        c.arg("--data-dir")
            .arg(&node_dir)
            .args(["init", "--county", WUDU, "--ca-cert"]);
        c.arg(foreign.join("registry/ca/ca.crt"))
            .arg("--offline-csr")
            .arg(&csr);
        c
    });
    let certificate = foreign.join("node.crt");
    mpx_tests::run_ok({
        let mut c = mpx_tests::command("registry");
        c.arg("--data-dir")
            .arg(foreign.join("registry"))
            .args(["ca", "issue", "--county", WUDU, "--csr"]);
        c.arg(&csr).arg("--out").arg(&certificate);
        c
    });
    let tls = mpx_proto::runtime::TlsMaterial {
        certificate_pem: std::fs::read_to_string(&certificate).unwrap(),
        key_pem: std::fs::read_to_string(node_dir.join("tls/node.key")).unwrap(),
        // Trust the real CA for the server, present the foreign certificate as the client.
        ca_pem: std::fs::read_to_string(province.registry_dir.join("ca/ca.crt")).unwrap(),
    };
    let connected = tonic::transport::Endpoint::from_shared(format!("https://{address}"))
        .unwrap()
        .tls_config(tls.client_config("c621221.county.mpx"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = connected {
        let mut client = mpx_proto::v1::exchange_client::ExchangeClient::new(channel);
        let result = deliver(
            &mut client,
            vec![envelope(
                WUDU,
                LINXIA,
                request_body(&resident_id(LINXIA, 9)),
            )],
        )
        .await;
        assert!(result.is_err(), "a foreign-CA client must be refused");
    }
    assert!(
        cases_at(&province, LINXIA, CaseDirection::Inbound)
            .await
            .is_empty(),
        "nothing stored"
    );
}

async fn a_revoked_county_is_refused_without_a_restart(backend: Backend) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let mut client = province.peer_client(WUDU, LINXIA).await.unwrap();
    let receipts = deliver(
        &mut client,
        vec![envelope(
            WUDU,
            LINXIA,
            request_body(&resident_id(LINXIA, 10)),
        )],
    )
    .await
    .unwrap();
    assert_eq!(receipts[0].status(), ReceiptStatus::Stored);

    mpx_tests::run_ok({
        let mut revoke = province.registry_cli();
        revoke.args(["revoke", "--county", WUDU, "--reason", "key lost"]);
        revoke
    });
    wait_until(WAIT, "the recipient to refuse the revoked county", || async {
        let Ok(mut client) = province.peer_client(WUDU, LINXIA).await else { return true };
        matches!(
            deliver(&mut client, vec![envelope(WUDU, LINXIA, request_body(&resident_id(LINXIA, 11)))]).await,
            Err(status) if status.code() == tonic::Code::PermissionDenied
        )
    })
    .await;
    // From now on nothing from the revoked county is stored.
    let stored_before = cases_at(&province, LINXIA, CaseDirection::Inbound)
        .await
        .len();
    let mut client = province.peer_client(WUDU, LINXIA).await.unwrap();
    let status = deliver(
        &mut client,
        vec![envelope(
            WUDU,
            LINXIA,
            request_body(&resident_id(LINXIA, 12)),
        )],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert!(status.message().contains("revoked"), "{}", status.message());
    assert_eq!(
        cases_at(&province, LINXIA, CaseDirection::Inbound)
            .await
            .len(),
        stored_before
    );
    let events = province.node(LINXIA).cli_output(&["security-events"]);
    assert!(events.contains("revoked certificate"), "{events}");
}

async fn an_invalid_resident_id_is_refused_with_the_field_named_and_nothing_written(
    backend: Backend,
) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let mut records = province.node(WUDU).records().await;
    let status = records
        .create_person(CreatePersonRequest {
            person: Some(person("110105194912310021", LINXIA)),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().starts_with("person.resident_id:"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("check character"),
        "{}",
        status.message()
    );
    let mut bad_county = person(&resident_id(LINXIA, 12), "62122");
    bad_county.name = "测试".into();
    let status = records
        .create_person(CreatePersonRequest {
            person: Some(bad_county),
        })
        .await
        .unwrap_err();
    assert!(
        status.message().starts_with("person.hukou_county:"),
        "{}",
        status.message()
    );
    assert!(
        cases_at(&province, WUDU, CaseDirection::Outbound)
            .await
            .is_empty(),
        "no notice queued"
    );
    let listed = records
        .list_people(v1::ListPeopleRequest {
            purpose: "check".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.people.is_empty(), "nothing half-written");

    // Reads need a purpose; calls need a valid token.
    let status = records
        .get_person(GetPersonRequest {
            resident_id: resident_id(LINXIA, 12),
            purpose: String::new(),
        })
        .await
        .unwrap_err();
    assert!(
        status.message().starts_with("purpose:"),
        "{}",
        status.message()
    );
    let channel = tonic::transport::Endpoint::from_shared(format!(
        "http://{}",
        province.node(WUDU).operator.unwrap()
    ))
    .unwrap()
    .connect()
    .await
    .unwrap();
    let status = mpx_proto::v1::records_client::RecordsClient::new(channel)
        .list_people(v1::ListPeopleRequest {
            purpose: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

/// Air-gapped enrolment (`init --offline-csr`, `registry ca issue`, `init --certificate`), then
/// the clerk CLI end to end: a bad ID names the field; a good one is delivered.
async fn offline_enrolment_and_the_clerk_cli_work_end_to_end(backend: Backend) {
    let Some(mut province) = Province::start_on(backend, &[LINXIA]).await else {
        return;
    };
    province
        .use_backend_for(backend, WUDU)
        .await
        .expect("PostgreSQL was available a moment ago");
    province.enroll_offline(WUDU);
    province.start_node(WUDU).await;
    let wudu = province.node(WUDU);

    let output = mpx_tests::run({
        let mut add = wudu.cli();
        add.args([
            "records",
            "add",
            "--id",
            "110105194912310021",
            "--name",
            "测试",
            "--hukou",
            LINXIA,
            "--address",
            "某路1号",
        ]);
        add
    });
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("person.resident_id") && stderr.contains("check character"),
        "{stderr}"
    );

    let id = resident_id(LINXIA, 77);
    let output = wudu.cli_output(&[
        "--json",
        "records",
        "add",
        "--id",
        &id,
        "--name",
        "测试",
        "--hukou",
        LINXIA,
        "--address",
        "某路1号",
    ]);
    let added: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    let case_id = added["notice_case_id"].as_str().unwrap().to_string();
    wait_for_state(&province, WUDU, &case_id, CaseState::Delivered).await;
    let shown = wudu.cli_output(&["cases", "show", &case_id]);
    assert!(
        shown.contains("residence_notice") && shown.contains("notice delivered"),
        "{shown}"
    );
    // The recipient's signed receipt, checked against its certificate when shown.
    let shown: serde_json::Value = serde_json::from_str(
        wudu.cli_output(&["--json", "cases", "show", &case_id])
            .trim(),
    )
    .unwrap();
    assert_eq!(
        shown["evidence"],
        serde_json::json!([{
            "event": "delivered",
            "signer_county": LINXIA,
            "signed_at_unix_ms": shown["evidence"][0]["signed_at_unix_ms"],
            "arrived_at_unix_ms": shown["evidence"][0]["arrived_at_unix_ms"],
            "check": "verified",
        }]),
        "{shown}"
    );
    assert!(shown["evidence"][0]["signed_at_unix_ms"].as_i64() > Some(0));
    let inbox = province.node(LINXIA).cli_output(&["cases", "inbox"]);
    assert!(inbox.contains(&case_id), "{inbox}");
    let listed = province.node(LINXIA).cli_output(&[
        "records",
        "list",
        "--purpose",
        "e2e",
        "--status",
        "living-elsewhere",
    ]);
    assert!(listed.contains(&id) && listed.contains(WUDU), "{listed}");
}

/// Two registry processes on one PostgreSQL database: one is killed, and the nodes carry on
/// through the other (a restarted node publishes its new endpoint there, and the other node
/// delivers to it).
async fn nodes_carry_on_through_a_second_registry_replica(backend: Backend) {
    let Some(mut province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let replica = province.start_registry_replica().await;
    let both = format!("https://{},https://{replica}", province.registry_peer);
    for county in [WUDU, LINXIA] {
        province.nodes.get_mut(county).unwrap().registry_url = Some(both.clone());
        province.stop_node(county);
        province.start_node(county).await;
    }
    province.kill_registry();
    // LINXIA comes back on a new port; only the replica can tell WUDU about it.
    province.stop_node(LINXIA);
    province.start_node(LINXIA).await;
    let case = open_verification(&province, 90, "副本测试").await;
    wait_for_state(&province, WUDU, &case.case_id, CaseState::Delivered).await;
    let log = std::fs::read_to_string(province.dir.join("registry-replica.log")).unwrap();
    assert!(
        log.contains("endpoint published"),
        "the replica served the node:\n{log}"
    );
}

/// A supervisor watches alerts stream in: with the recipient down, the sender's monitor raises
/// UNDELIVERED for that peer (threshold 2 s in tests), on the stream and in the CLI; it clears
/// when the backlog is delivered.
async fn alerts_stream_in_and_clear(backend: Backend) {
    let Some(mut province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let mut watch = mpx_proto::v1::alerts_client::AlertsClient::new(
        tonic::service::interceptor::InterceptedService::new(
            tonic::transport::Endpoint::from_shared(format!(
                "http://{}",
                province.node(WUDU).operator.unwrap()
            ))
            .unwrap()
            .connect()
            .await
            .unwrap(),
            mpx_tests::Bearer::new(&province.node(WUDU).token),
        ),
    )
    .watch_alerts(v1::WatchAlertsRequest { include_open: true })
    .await
    .unwrap()
    .into_inner();
    province.stop_node(LINXIA);
    let case = open_verification(&province, 95, "告警测试").await;
    let alert = tokio::time::timeout(WAIT, watch.message())
        .await
        .expect("an alert within 30 s")
        .unwrap()
        .unwrap()
        .alert
        .unwrap();
    // UNDELIVERED is about the peer (one alert per peer, not per message).
    assert_eq!(alert.kind(), v1::AlertKind::Undelivered);
    assert_eq!(
        (alert.case_id.as_str(), alert.counterpart_county.as_str()),
        ("", LINXIA)
    );
    assert!(
        alert.detail.contains("1 messages undelivered to 621221"),
        "{alert:?}"
    );
    let listed = province.node(WUDU).cli_output(&["alerts", "list"]);
    assert!(
        listed.contains("undelivered") && listed.contains(LINXIA),
        "{listed}"
    );
    let metrics = province.node(WUDU).scrape_metrics();
    for line in [
        "mpx_alerts_open{kind=\"undelivered\",direction=\"outbound\"} 1",
        "mpx_outbox_depth{peer=\"621221\"} 1",
        "mpx_cases{kind=\"verification\",direction=\"outbound\",state=\"queued\"} 1",
        "mpx_alerts_fired_total{kind=\"undelivered\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }

    province.start_node(LINXIA).await;
    wait_for_state(&province, WUDU, &case.case_id, CaseState::Delivered).await;
    wait_until(WAIT, "the alert to clear", || async {
        province
            .node(WUDU)
            .cli_output(&["--json", "alerts", "list"])
            .trim()
            .is_empty()
    })
    .await;
    let all = province
        .node(WUDU)
        .cli_output(&["--json", "alerts", "list", "--all"]);
    assert!(
        all.contains("\"cleared_at_unix_ms\":") && !all.contains("\"cleared_at_unix_ms\":0"),
        "{all}"
    );
}

/// A late answer between two real nodes: the recipient answers 40 days after delivery (its
/// process runs under faketime), and both sides mark the case answered late against the same
/// due date.
async fn a_late_answer_is_marked_late_on_both_sides_with_the_same_due_date(backend: Backend) {
    let Some(mut province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let case = open_verification(&province, 97, "逾期测试").await;
    wait_for_state(&province, WUDU, &case.case_id, CaseState::Delivered).await;
    province.stop_node(LINXIA);
    province.nodes.get_mut(LINXIA).unwrap().clock_offset = Some("+40d".into());
    province.start_node(LINXIA).await;
    let mut linxia = province.node(LINXIA).cases().await;
    let inbox = linxia
        .list_cases(ListCasesRequest {
            direction: CaseDirection::Inbound as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        inbox.cases[0].working_days_left < 0,
        "40 days later the case shows as overdue"
    );
    // The recipient's monitor escalates the case (more than 5 working days late) and reports it
    // to the province.
    wait_until(WAIT, "the escalation to reach the registry", || async {
        let mut list = province.registry_cli();
        list.args(["escalations", "--json"]);
        let out = String::from_utf8_lossy(&mpx_tests::run(list).stdout).to_string();
        out.contains(&case.case_id) && out.contains(&format!("\"reporter\":\"{LINXIA}\""))
    })
    .await;
    linxia
        .respond_case(RespondCaseRequest {
            case_id: case.case_id.clone(),
            answer: "迟到的答复".into(),
            verdict: 0,
        })
        .await
        .unwrap();
    wait_for_state(&province, WUDU, &case.case_id, CaseState::Responded).await;
    let get = |county: &'static str| {
        let province = &province;
        let case_id = case.case_id.clone();
        async move {
            province
                .node(county)
                .cases()
                .await
                .get_case(GetCaseRequest { case_id })
                .await
                .unwrap()
                .into_inner()
                .case
                .unwrap()
        }
    };
    let (at_requester, at_recipient) = (get(WUDU).await, get(LINXIA).await);
    assert!(at_requester.due_at_unix_ms > 0);
    assert_eq!(
        at_requester.due_at_unix_ms, at_recipient.due_at_unix_ms,
        "the same due date on both sides"
    );
    assert!(
        at_requester.answered_late && at_recipient.answered_late,
        "late on both sides"
    );
    assert_eq!(
        at_requester.responded_at_unix_ms,
        at_recipient.responded_at_unix_ms
    );
    let shown = province
        .node(WUDU)
        .cli_output(&["cases", "show", &case.case_id]);
    assert!(shown.contains("Answered late"), "{shown}");
}

/// The provincial index: both counties' rosters reach the registry, `registry locate` answers
/// where the person is registered and living, refuses a query without a purpose, and audits
/// each query in a chain that verifies.
async fn the_registry_locates_a_person_from_both_counties_reports(backend: Backend) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let id = resident_id(LINXIA, 99);
    province
        .node(WUDU)
        .records()
        .await
        .create_person(CreatePersonRequest {
            person: Some(person(&id, LINXIA)),
        })
        .await
        .unwrap();
    let locate = |purpose: &str| {
        let mut command = province.registry_cli();
        command.args(["locate", &id, "--json", "--purpose", purpose]);
        mpx_tests::run(command)
    };
    wait_until(
        WAIT,
        "both counties' reports to reach the index",
        || async {
            let output = locate("e2e 核查");
            let text = String::from_utf8_lossy(&output.stdout);
            text.contains("\"reporting_county\":\"621202\"")
                && text.contains("\"reporting_county\":\"621221\"")
        },
    )
    .await;
    let answer: serde_json::Value = serde_json::from_slice(&locate("e2e 核查").stdout).unwrap();
    assert_eq!(answer["hukou_county"], LINXIA);
    assert_eq!(answer["residing_in"], serde_json::json!([WUDU]));
    let at_hukou = answer["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reporting_county"] == LINXIA)
        .unwrap();
    assert_eq!(at_hukou["status"], "living_elsewhere");
    assert_eq!(at_hukou["residence_county"], WUDU);

    let refused = locate("  ");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("purpose: required"));
    let mut verify = province.registry_cli();
    verify.args(["audit", "verify"]);
    let verified = mpx_tests::run_ok(verify);
    assert!(verified.contains("audit log intact"), "{verified}");
}

/// Province-wide questions against a hand-made scenario: a conflict (one person residing in two
/// counties), an untracked person (gone out, nobody reports them), counts, and flows with small
/// counts suppressed.
async fn province_queries_find_conflicts_untracked_counts_and_flows(backend: Backend) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA, CHENGGUAN]).await else {
        return;
    };
    let both = resident_id(LINXIA, 201);
    let gone = resident_id(LINXIA, 202);
    for (county, id) in [(WUDU, &both), (CHENGGUAN, &both), (WUDU, &gone)] {
        province
            .node(county)
            .records()
            .await
            .create_person(CreatePersonRequest {
                person: Some(person(id, LINXIA)),
            })
            .await
            .unwrap();
    }
    province
        .node(WUDU)
        .records()
        .await
        .depart_person(v1::DepartPersonRequest {
            resident_id: gone.clone(),
            departure_date: "2026-10-01".into(),
            destination_county: String::new(),
        })
        .await
        .unwrap();
    let query = |args: &[&str]| {
        let mut command = province.registry_cli();
        command.args(args).args(["--json", "--purpose", "e2e 核查"]);
        String::from_utf8_lossy(&mpx_tests::run_ok(command).into_bytes()).to_string()
    };
    // Between WUDU's departure report and LINXIA's own (after the departure notice reaches it),
    // the index briefly lists `gone` as living elsewhere since its arrival: wait for the latter.
    wait_until(
        WAIT,
        "the index to hold every county's latest report",
        || async {
            let untracked = query(&["untracked", "--days", "30"]);
            untracked.contains(&gone)
                && untracked.contains("2026-10-01")
                && query(&["conflicts"]).contains(&both)
        },
    )
    .await;
    let conflicts = query(&["conflicts"]);
    let conflict: serde_json::Value =
        serde_json::from_str(conflicts.lines().next().unwrap()).unwrap();
    assert_eq!(conflict["resident_id"], both.as_str());
    assert_eq!(conflict["counties"], serde_json::json!([CHENGGUAN, WUDU]));
    let untracked: serde_json::Value =
        serde_json::from_str(query(&["untracked", "--days", "30"]).trim()).unwrap();
    assert_eq!(
        (
            untracked["hukou_county"].as_str(),
            untracked["since"].as_str()
        ),
        (Some(LINXIA), Some("2026-10-01"))
    );
    assert!(
        query(&["untracked", "--days", "100"]).trim().is_empty(),
        "gone out only 61 days ago"
    );

    let counts: Vec<serde_json::Value> = query(&["counts"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |county: &str| {
        counts
            .iter()
            .find(|c| c["county"] == county)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (of(WUDU)["residing"].as_i64(), of(WUDU)["inflow"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(of(CHENGGUAN)["residing"].as_i64(), Some(1));
    assert_eq!(
        of(LINXIA)["outflow"].as_i64(),
        Some(2),
        "both hukou people are away"
    );

    let suppressed = query(&["flows", "--from", "2026-01-01", "--to", "2026-12-31"]);
    assert!(
        suppressed.contains("\"count\":\"<5\"") && !suppressed.contains("\"count\":\"1\""),
        "{suppressed}"
    );
    let shown: Vec<serde_json::Value> = query(&[
        "flows",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--suppress-below",
        "1",
    ])
    .lines()
    .map(|line| serde_json::from_str(line).unwrap())
    .collect();
    let linxia_to_wudu = shown
        .iter()
        .find(|f| f["from_county"] == LINXIA && f["to_county"] == WUDU)
        .unwrap();
    assert_eq!(linxia_to_wudu["count"], "1");
    assert_eq!(shown.len(), 2, "621221 → 621202 and 621221 → 620102");

    // In one call each, the findings become cases for the counties concerned: the conflict for
    // both counties listing the person, the untracked person for the hukou county (and the last
    // residence it knew); asking again opens nothing new while those are unanswered.
    let opened = |args: &[&str]| -> Vec<serde_json::Value> {
        query(args)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let conflict_cases = opened(&["conflicts", "--open-cases"]);
    let mut counties: Vec<&str> = conflict_cases
        .iter()
        .map(|c| c["county"].as_str().unwrap())
        .collect();
    counties.sort_unstable();
    assert_eq!(counties, [CHENGGUAN, WUDU]);
    assert!(
        conflict_cases
            .iter()
            .all(|c| c["resident_id"] == both.as_str())
    );
    assert!(
        opened(&["conflicts", "--open-cases"]).is_empty(),
        "already open"
    );
    let untracked_cases = opened(&["untracked", "--days", "30", "--open-cases"]);
    assert!(
        untracked_cases
            .iter()
            .any(|c| c["county"] == LINXIA && c["resident_id"] == gone.as_str()),
        "{untracked_cases:?}"
    );
    let at_chengguan = conflict_cases
        .iter()
        .find(|c| c["county"] == CHENGGUAN)
        .unwrap()["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_state(&province, CHENGGUAN, &at_chengguan, CaseState::Delivered).await;
    let assigned = province
        .node(CHENGGUAN)
        .cases()
        .await
        .get_case(GetCaseRequest {
            case_id: at_chengguan.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(assigned.requester_county, "620000", "the province asks");
    assert_eq!(assigned.resident_id, both);
    assert!(
        assigned.due_at_unix_ms > 0,
        "with a deadline like any request"
    );
    province
        .node(CHENGGUAN)
        .cases()
        .await
        .respond_case(RespondCaseRequest {
            case_id: at_chengguan.clone(),
            answer: "该人员已于上月迁离本县".into(),
            verdict: 0,
        })
        .await
        .unwrap();
    // The county's signed receipt and answer reach the province in its case events.
    wait_until(WAIT, "the province to hold the signed answer", || async {
        let mut evidence = province.registry_cli();
        evidence.args(["evidence", &at_chengguan, "--json"]);
        let out = String::from_utf8_lossy(&mpx_tests::run(evidence).stdout).to_string();
        let verified = |event: &str| {
            serde_json::from_str::<serde_json::Value>(&out)
                .ok()
                .and_then(|v| v["events"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .any(|e| e["event"] == event && e["verification"] == "verified")
        };
        verified("delivered") && verified("responded")
    })
    .await;
    wait_for_state(&province, CHENGGUAN, &at_chengguan, CaseState::Responded).await;

    let mut verify = province.registry_cli();
    verify.args(["audit", "verify"]);
    assert!(mpx_tests::run_ok(verify).contains("audit log intact"));
}
