//! What a hostile or broken peer can put into a node or the registry: nothing a clerk could not.
//! Real processes, real mTLS; the "peer" is a client holding a genuine county certificate that
//! sends whatever it likes. The rules are backend-independent, so these run on SQLite only.
#![allow(clippy::unwrap_used)]

use mpx_proto::v1::{
    self, CaseDirection, DeliverRequest, Envelope, GetPersonRequest, ListCasesRequest, NoticeKind,
    PersonStatus, ReceiptStatus, envelope::Body,
};
use mpx_tests::{Province, resident_id};

const WUDU: &str = "621202";
const LINXIA: &str = "621221";

fn envelope(body: Body) -> Envelope {
    Envelope {
        message_id: uuid::Uuid::now_v7().to_string(),
        sender: WUDU.into(),
        recipient: LINXIA.into(),
        created_at_unix_ms: mpx_proto::time::now_unix_ms(),
        body: Some(body),
    }
}

/// A residence notice from WUDU about a LINXIA hukou holder, as an honest node sends it.
fn arrival(seq: u32) -> v1::Notice {
    v1::Notice {
        case_id: uuid::Uuid::now_v7().to_string(),
        kind: NoticeKind::Arrived as i32,
        person: Some(v1::Person {
            resident_id: resident_id(LINXIA, seq),
            name: "测试人员".into(),
            hukou_county: LINXIA.into(),
            residence_county: WUDU.into(),
            residence_address: "城关镇人民路12号".into(),
            arrival_date: "2026-03-01".into(),
            ..Default::default()
        }),
        effective_date: "2026-03-01".into(),
        destination_county: String::new(),
    }
}

async fn deliver(
    client: &mut v1::exchange_client::ExchangeClient<tonic::transport::Channel>,
    envelopes: Vec<Envelope>,
) -> Result<Vec<v1::Receipt>, tonic::Status> {
    let stream = tonic::codegen::tokio_stream::iter(vec![DeliverRequest { envelopes }]);
    let mut responses = client.deliver(stream).await?.into_inner();
    match responses.message().await? {
        Some(response) => Ok(response.receipts),
        None => Err(tonic::Status::unknown("stream ended without receipts")),
    }
}

async fn inbound_cases(province: &Province) -> Vec<v1::Case> {
    province
        .node(LINXIA)
        .cases()
        .await
        .list_cases(ListCasesRequest {
            direction: CaseDirection::Inbound as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases
}

#[tokio::test]
async fn a_peer_cannot_store_what_a_clerk_could_not() {
    let province = Province::start(&[WUDU, LINXIA]).await;
    let mut client = province.peer_client(WUDU, LINXIA).await.unwrap();

    type Change = Box<dyn Fn(&mut v1::Person)>;
    let hostile: Vec<(Change, &str)> = vec![
        (
            Box::new(|p| p.residence_address = "路".repeat(350_000)),
            "notice.person.residence_address: at most 200 characters",
        ),
        (
            Box::new(|p| p.residence_address = "幸福路\u{0}1号".into()),
            "notice.person.residence_address: must not contain a control character",
        ),
        (
            Box::new(|p| p.residence_address = "\u{1b}[2J\u{1b}[31m幸福路".into()),
            "notice.person.residence_address: must not contain a control character",
        ),
        (
            Box::new(|p| p.name = "张\u{202E}三".into()),
            "notice.person.name: must not contain a bidirectional override",
        ),
        (
            Box::new(|p| p.birth_date = "1980-01-01".into()),
            "notice.person.birth_date: the resident ID says",
        ),
        (
            Box::new(|p| {
                let id = mpx_proto::resident_id::ResidentId::parse(&p.resident_id).unwrap();
                p.sex = if id.sex() == v1::Sex::Male {
                    v1::Sex::Female as i32
                } else {
                    v1::Sex::Male as i32
                };
            }),
            "notice.person.sex: the resident ID says",
        ),
        (
            Box::new(|p| p.arrival_date = "2099-01-01".into()),
            "notice.person.arrival_date: must not be in the future",
        ),
    ];
    let mut envelopes = Vec::new();
    for (seq, (change, _)) in hostile.iter().enumerate() {
        let mut notice = arrival(seq as u32 + 1);
        change(notice.person.as_mut().unwrap());
        envelopes.push(envelope(Body::Notice(notice)));
    }
    // An honest notice in the same batch, claiming things only the receiver may decide.
    let mut claims = arrival(50);
    {
        let person = claims.person.as_mut().unwrap();
        person.resident_id_flagged = true;
        person.status = PersonStatus::Residing as i32;
        person.updated_at_unix_ms = 1;
    }
    envelopes.push(envelope(Body::Notice(claims)));
    let receipts = deliver(&mut client, envelopes).await.unwrap();
    assert_eq!(receipts.len(), hostile.len() + 1);
    for (receipt, (_, expected)) in receipts.iter().zip(&hostile) {
        assert_eq!(receipt.status(), ReceiptStatus::Rejected, "{expected}");
        assert!(
            receipt.error.starts_with(expected),
            "expected {expected:?}, got {:?}",
            receipt.error
        );
        assert!(
            receipt.error.len() < 400,
            "the error does not echo the input"
        );
    }
    assert_eq!(receipts[hostile.len()].status(), ReceiptStatus::Stored);

    // Only the honest notice became a case, and its record is what the receiver decided.
    let cases = inbound_cases(&province).await;
    assert_eq!(cases.len(), 1, "rejected notices store nothing");
    let stored = province
        .node(LINXIA)
        .records()
        .await
        .get_person(GetPersonRequest {
            resident_id: resident_id(LINXIA, 50),
            purpose: "核查".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert!(
        !stored.resident_id_flagged,
        "the check-digit flag is the receiver's to compute"
    );
    assert_eq!(stored.status(), PersonStatus::LivingElsewhere);
    assert!(stored.updated_at_unix_ms > 1);
    for seq in 1..=hostile.len() as u32 {
        let status = province
            .node(LINXIA)
            .records()
            .await
            .get_person(GetPersonRequest {
                resident_id: resident_id(LINXIA, seq),
                purpose: "核查".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound, "person {seq}");
    }

    // A wrong check digit from a peer is accepted (warn mode) and flagged by the receiver.
    let mut slip = arrival(60);
    {
        let person = slip.person.as_mut().unwrap();
        let mut id = person.resident_id.clone();
        let last = id.pop().unwrap();
        id.push(if last == '0' { '1' } else { '0' });
        person.resident_id = id;
    }
    let slip_id = slip.person.as_ref().unwrap().resident_id.clone();
    let receipts = deliver(&mut client, vec![envelope(Body::Notice(slip))])
        .await
        .unwrap();
    assert_eq!(
        receipts[0].status(),
        ReceiptStatus::Stored,
        "{}",
        receipts[0].error
    );
    let flagged = province
        .node(LINXIA)
        .records()
        .await
        .get_person(GetPersonRequest {
            resident_id: slip_id,
            purpose: "核查".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert!(flagged.resident_id_flagged);

    // Every other body is held to the same rules: free text of a request.
    let request = Body::Request(v1::Request {
        case_id: uuid::Uuid::now_v7().to_string(),
        kind: v1::CaseKind::Verification as i32,
        priority: v1::CasePriority::Normal as i32,
        resident_id: resident_id(LINXIA, 70),
        subject_name: "李\u{2066}四".into(),
        questions: "请核实".into(),
        parent_case_id: String::new(),
    });
    let receipts = deliver(&mut client, vec![envelope(request)]).await.unwrap();
    assert_eq!(receipts[0].status(), ReceiptStatus::Rejected);
    assert!(
        receipts[0].error.starts_with("request.subject_name:"),
        "{}",
        receipts[0].error
    );
    assert_eq!(inbound_cases(&province).await.len(), 2);
}

/// Seen: a 5 MiB DeliverRequest ended the stream with status OK and no receipts (the decode
/// error was logged at debug level). Now: RESOURCE_EXHAUSTED naming the limit, a security
/// event, and a sender whose batch is over its peer's limit splits it until it goes through.
#[tokio::test]
async fn an_oversized_batch_is_refused_by_name_and_the_sender_splits_its_batches() {
    let mut province = Province::start(&[WUDU]).await;
    province.enroll(LINXIA);
    // LINXIA takes at most 8 KiB a message: a batch of 40 notices (~350 bytes each) is over it.
    let config = province.node(LINXIA).data_dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("max_message_bytes = 4194304"), "{text}");
    std::fs::write(
        &config,
        text.replace("max_message_bytes = 4194304", "max_message_bytes = 8192"),
    )
    .unwrap();
    province.start_node(LINXIA).await;

    // A raw 5 MiB batch from a hostile or broken peer.
    let mut client = province
        .peer_client(WUDU, LINXIA)
        .await
        .unwrap()
        .max_encoding_message_size(64 * 1024 * 1024);
    let mut huge = arrival(1);
    huge.person.as_mut().unwrap().notes = "x".repeat(5 * 1024 * 1024);
    let status = deliver(&mut client, vec![envelope(Body::Notice(huge))])
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("8192"), "{}", status.message());
    let events = province.node(LINXIA).cli_output(&["security-events"]);
    assert!(events.contains("oversized batch"), "{events}");

    // A legitimate backlog over the limit: the sender splits it and every notice arrives.
    let rows = (0..40)
        .map(|seq| v1::ImportRow {
            line: seq as u64 + 2,
            person: Some(v1::Person {
                resident_id: resident_id(LINXIA, 100 + seq),
                name: "测试人员".into(),
                hukou_county: LINXIA.into(),
                residence_address: "城关镇人民路12号".repeat(8),
                arrival_date: "2026-03-01".into(),
                ..Default::default()
            }),
        })
        .collect();
    let results = province
        .node(WUDU)
        .records()
        .await
        .import_people(v1::ImportPeopleRequest {
            rows,
            source: "test".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(
        results
            .iter()
            .all(|r| r.outcome() == v1::ImportOutcome::Stored),
        "{results:?}"
    );
    mpx_tests::wait_until(mpx_tests::WAIT, "40 notices at LINXIA", || async {
        inbound_cases(&province).await.len() == 40
    })
    .await;
    let log = std::fs::read_to_string(province.node(WUDU).data_dir.join("node.log")).unwrap();
    assert!(log.contains("splitting it"), "the sender split its batch");
}

/// The registry holds what counties report to the same text rule as a county holds a clerk's
/// input: a name with a terminal escape, or a detail with a bidirectional override, is refused
/// by field, and nothing of the batch is stored.
#[tokio::test]
async fn the_registry_refuses_text_a_clerk_could_not_type_from_a_county() {
    let province = Province::start(&[WUDU, LINXIA]).await;
    let channel = province.registry_peer_channel(WUDU).await.unwrap();
    let mut index = v1::index_client::IndexClient::new(channel.clone());
    let change = |seq: i64, name: &str| v1::RosterChange {
        seq,
        resident_id: resident_id(WUDU, 900 + seq as u32),
        name: name.into(),
        hukou_county: WUDU.into(),
        residence_county: LINXIA.into(),
        status: PersonStatus::Residing as i32,
        since: "2026-11-02".into(),
        changed_at_unix_ms: mpx_proto::time::now_unix_ms(),
    };
    let refused = index
        .report_roster_changes(v1::ReportRosterChangesRequest {
            changes: vec![change(1, "张三"), change(2, "李四\u{1b}[2J")],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused
            .message()
            .starts_with("changes[1].name: must not contain a control character"),
        "{}",
        refused.message()
    );
    let cursor = index
        .report_roster_changes(v1::ReportRosterChangesRequest { changes: vec![] })
        .await
        .unwrap()
        .into_inner()
        .acknowledged_seq;
    assert_eq!(cursor, 0, "nothing of the refused batch was stored");

    let mut compliance = v1::compliance_client::ComplianceClient::new(channel);
    let refused = compliance
        .report_escalations(v1::ReportEscalationsRequest {
            escalations: vec![v1::EscalationReport {
                case_id: uuid::Uuid::now_v7().to_string(),
                case_kind: "verification".into(),
                requester_county: LINXIA.into(),
                recipient_county: WUDU.into(),
                delivered_at_unix_ms: mpx_proto::time::now_unix_ms() - 86_400_000,
                due_at_unix_ms: mpx_proto::time::now_unix_ms(),
                escalated_at_unix_ms: mpx_proto::time::now_unix_ms(),
                direction: "inbound".into(),
                detail: "逾期\u{202e}已办结".into(),
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused
            .message()
            .starts_with("escalations[0].detail: must not contain a bidirectional override"),
        "{}",
        refused.message()
    );
}

/// `Exchange.Recover` gives a county back its own history only, and refuses a malformed request
/// by field.
#[tokio::test]
async fn a_recovery_answers_only_the_callers_own_history_and_refuses_bad_input_by_field() {
    const CHENGGUAN: &str = "620102";
    let province = Province::start(&[WUDU, LINXIA, CHENGGUAN]).await;
    let mut wudu = province.peer_client(WUDU, LINXIA).await.unwrap();
    let sent: Vec<Envelope> = (0..3)
        .map(|seq| envelope(Body::Notice(arrival(700 + seq))))
        .collect();
    let receipts = deliver(&mut wudu, sent.clone()).await.unwrap();
    assert!(
        receipts
            .iter()
            .all(|receipt| receipt.status() == ReceiptStatus::Stored)
    );
    let recover = |last_sent: &str, page_token: &str| v1::RecoverRequest {
        last_received_message_id: String::new(),
        last_sent_message_id: last_sent.to_string(),
        page_token: page_token.to_string(),
    };

    // Everything 621202 sent, with the receipts it got, in order.
    let all = wudu.recover(recover("", "")).await.unwrap().into_inner();
    assert_eq!(
        all.returned
            .iter()
            .map(|m| m.envelope.clone().unwrap())
            .collect::<Vec<_>>(),
        sent
    );
    assert_eq!(
        all.returned
            .iter()
            .map(|m| m.receipt.clone().unwrap())
            .collect::<Vec<_>>(),
        receipts
    );
    assert!(all.replayed.is_empty() && all.next_page_token.is_empty());
    // From the last message it still holds as delivered.
    let after = wudu
        .recover(recover(&sent[0].message_id, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.returned.len(), 2);

    // Another county gets nothing of 621202's.
    let mut chengguan = province.peer_client(CHENGGUAN, LINXIA).await.unwrap();
    let theirs = chengguan
        .recover(recover("", ""))
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.returned.is_empty() && theirs.replayed.is_empty());
    let named = chengguan
        .recover(recover(&sent[2].message_id, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(
        named.returned.is_empty(),
        "naming another county's message reveals nothing"
    );

    // Malformed input: refused by field.
    let refused = wudu.recover(recover("", "1:x:y")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("page_token"), "{refused:?}");
    let refused = wudu
        .recover(recover("not-a-message-id", ""))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("last_sent_message_id"),
        "{refused:?}"
    );
}
