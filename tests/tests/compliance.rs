//! End-to-end compliance: three real county nodes report their case events with signed
//! evidence to a real registry, and the registry's figures match a hand-counted scenario.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mpx_proto::calendar::WorkingCalendar;
use mpx_proto::v1::{
    self, AcceptCaseRequest, CaseDirection, CaseEvidenceRequest, CaseState,
    ReportCaseEventsRequest, WatchRequest,
};
use mpx_tests::cases::{
    case_at, open_verification as open, report_county as county, report_json, respond,
};
use mpx_tests::{Backend, Province, WAIT, resident_id, wait_for_state, wait_until};

mpx_tests::on_every_backend!(
    on_time_late_and_unanswered_requests_give_the_hand_counted_rates_and_ranking,
    an_unreceived_response_is_disputed_until_it_arrives_and_an_altered_receipt_is_rejected,
);

const WUDU: &str = "621202";
const LINXIA: &str = "621221";
const CHENGGUAN: &str = "620102";

fn shipped_calendar() -> WorkingCalendar {
    WorkingCalendar::load_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/calendars"),
    )
    .unwrap()
}

/// The period label (YYYY-MM) of the month a deadline falls in.
fn month_of_due(due_at_unix_ms: i64) -> String {
    let day = mpx_proto::time::date_of_unix_ms(due_at_unix_ms - 1).unwrap();
    format!("{:04}-{:02}", day.year(), day.month())
}

/// The scenario, counted by hand:
///
/// | case | to     | what happens                                 |
/// |------|--------|----------------------------------------------|
/// | l1   | 621221 | accepted and answered at once (on time, 0 WD) |
/// | l2   | 621221 | answered 45 days later, never accepted (late) |
/// | l3   | 621221 | never answered (overdue, escalated)           |
/// | c1   | 620102 | answered at once without accepting (on time)  |
/// | c2   | 620102 | never answered (overdue)                      |
///
/// So 621221: 3 due, 2 answered (66.7 %), 1 on time (33.3 %), 1 accepted within SLA (33.3 %),
/// median working days = (0 + WD(l2)) / 2, 1 open overdue (l3). 620102: 2 due, 1 answered and on
/// time (50 %), acceptance 50 % (an answer within the acceptance deadline counts), median 0, 1
/// open overdue (c2). 620102 ranks first, 621221 second; 621202 (nothing due) is not ranked.
async fn on_time_late_and_unanswered_requests_give_the_hand_counted_rates_and_ranking(
    backend: Backend,
) {
    let Some(mut province) = Province::start_on(backend, &[WUDU, LINXIA, CHENGGUAN]).await else {
        return;
    };
    let l1 = open(&province, LINXIA, 11).await;
    let l2 = open(&province, LINXIA, 12).await;
    let l3 = open(&province, LINXIA, 13).await;
    let c1 = open(&province, CHENGGUAN, 21).await;
    let c2 = open(&province, CHENGGUAN, 22).await;
    for case in [&l1, &l2, &l3, &c1, &c2] {
        wait_for_state(&province, WUDU, &case.case_id, CaseState::Delivered).await;
    }
    province
        .node(LINXIA)
        .cases()
        .await
        .accept_case(AcceptCaseRequest {
            case_id: l1.case_id.clone(),
            note: String::new(),
        })
        .await
        .unwrap();
    respond(&province, LINXIA, &l1.case_id).await;
    respond(&province, CHENGGUAN, &c1.case_id).await;
    // l1's acceptance and answer and c1's answer reach 621202 now, before its clock moves: one
    // arriving after the move would have been 45 days in transit, which the registry rightly
    // disputes (and a disputed case is not scored).
    wait_until(
        WAIT,
        "621202 to hold l1's acceptance and answer and c1's answer",
        || async {
            let l1 = case_at(&province, WUDU, &l1.case_id).await;
            let c1 = case_at(&province, WUDU, &c1.case_id).await;
            l1.accepted_at_unix_ms > 0
                && l1.state == CaseState::Responded as i32
                && c1.state == CaseState::Responded as i32
        },
    )
    .await;
    // 621221 answers l2 45 days later (its process lives in the future).
    // The requester's node receives the answer then, too (the registry checks a response was
    // not signed after it arrived).
    for county in [LINXIA, WUDU] {
        province.stop_node(county);
        province.nodes.get_mut(county).unwrap().clock_offset = Some("+45d".into());
        province.start_node(county).await;
    }
    respond(&province, LINXIA, &l2.case_id).await;
    wait_for_state(&province, WUDU, &l2.case_id, CaseState::Responded).await;

    let cases: Vec<v1::Case> = cases_at_requester(&province, [&l1, &l2, &l3, &c1, &c2]).await;
    let due = cases[0].due_at_unix_ms;
    assert!(
        cases.iter().all(|c| c.due_at_unix_ms == due),
        "all five were delivered the same day, so share a due date: {:?}",
        cases.iter().map(|c| c.due_at_unix_ms).collect::<Vec<_>>()
    );
    let period = month_of_due(due);
    let due_day = mpx_proto::time::date_of_unix_ms(due - 1).unwrap();
    let as_of_day = due_day.checked_add(jiff::Span::new().days(30)).unwrap();
    let as_of = as_of_day.to_string();
    let as_of_ms = mpx_proto::calendar::end_of_day_unix_ms(as_of_day) - 1;

    // Wait for both sides' reports of everything to reach the registry.
    let mut report = serde_json::Value::Null;
    wait_until(WAIT, "the registry to have every case event", || {
        report = report_json(&province, &period, Some(&as_of));
        let ready = county(&report, LINXIA)["responses"] == 2
            && county(&report, CHENGGUAN)["responses"] == 1
            && county(&report, LINXIA)["requests_due"] == 3
            && county(&report, CHENGGUAN)["requests_due"] == 2;
        async move { ready }
    })
    .await;

    let calendar = shipped_calendar();
    let l2_days = calendar
        .working_days_between_instants(cases[1].delivered_at_unix_ms, cases[1].responded_at_unix_ms)
        .value;
    assert!(l2_days > 20, "45 days later is past 20 working days");
    let overdue_days = |case: &v1::Case| {
        calendar
            .working_days_between_instants(case.due_at_unix_ms - 1, as_of_ms)
            .value
    };

    let linxia = county(&report, LINXIA);
    assert_eq!(linxia["requests_due"], 3);
    assert_eq!(linxia["responses"], 2);
    assert_eq!(linxia["timely"], 1);
    assert_eq!(linxia["response_rate"].as_f64().unwrap(), 2.0 / 3.0);
    assert_eq!(linxia["timely_rate"].as_f64().unwrap(), 1.0 / 3.0);
    assert_eq!(linxia["acceptance_due"], 3);
    assert_eq!(linxia["accepted_within_sla"], 1);
    assert_eq!(
        linxia["median_working_days"].as_f64().unwrap(),
        l2_days as f64 / 2.0
    );
    assert_eq!(linxia["open_overdue"], 1);
    assert_eq!(linxia["oldest_overdue_case_id"], l3.case_id.as_str());
    assert_eq!(
        linxia["oldest_overdue_working_days"],
        overdue_days(&cases[2])
    );
    assert_eq!(linxia["disputed"], 0);
    assert_eq!(linxia["rank"], 2);

    let chengguan = county(&report, CHENGGUAN);
    assert_eq!(chengguan["requests_due"], 2);
    assert_eq!(chengguan["responses"], 1);
    assert_eq!(chengguan["timely"], 1);
    assert_eq!(chengguan["timely_rate"].as_f64().unwrap(), 0.5);
    assert_eq!(chengguan["accepted_within_sla"], 1);
    assert_eq!(chengguan["median_working_days"].as_f64().unwrap(), 0.0);
    assert_eq!(chengguan["open_overdue"], 1);
    assert_eq!(chengguan["oldest_overdue_case_id"], c2.case_id.as_str());
    assert_eq!(chengguan["rank"], 1);

    let wudu = county(&report, WUDU);
    assert_eq!(
        (wudu["rank"].clone(), wudu["requests_due"].clone()),
        (0.into(), 0.into())
    );
    let order: Vec<&str> = report["counties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["county"].as_str().unwrap())
        .collect();
    assert_eq!(order, [CHENGGUAN, LINXIA, WUDU], "ranked by timely rate");
    let overdue: Vec<&str> = report["overdue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(overdue.len(), 2);
    assert!(overdue.contains(&l3.case_id.as_str()) && overdue.contains(&c2.case_id.as_str()));

    // Only the counties' own signed timestamps decide: the figures as of the day before l2 was
    // answered count it as unanswered.
    let before_l2 = mpx_proto::time::date_of_unix_ms(cases[1].responded_at_unix_ms)
        .unwrap()
        .yesterday()
        .unwrap()
        .to_string();
    let earlier = report_json(&province, &period, Some(&before_l2));
    assert_eq!(county(&earlier, LINXIA)["responses"], 1);

    // 621221's node (45 days on) escalated the unanswered l3; the province sees the alert and the
    // overdue list says so.
    wait_until(WAIT, "the escalation of l3 to reach the province", || {
        let mut watch = province.registry_cli();
        watch.args(["watch", "--no-follow", "--json"]);
        let out = mpx_tests::run_ok(watch);
        let found = out
            .lines()
            .any(|line| line.contains(&l3.case_id) && line.contains("\"kind\":\"ESCALATED\""));
        async move { found }
    })
    .await;
    let report = report_json(&province, &period, Some(&as_of));
    let l3_row = report["overdue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case_id"] == l3.case_id.as_str())
        .unwrap();
    assert_eq!(l3_row["escalated"], true);

    // The notice for circulation: Chinese, counties in rank order, overdue cases by id and age,
    // and no personal data.
    let mut md = province.registry_cli();
    md.args([
        "report", "--period", &period, "--format", "md", "--as-of", &as_of,
    ]);
    let notice = mpx_tests::run_ok(md);
    assert!(
        notice.contains("通报") && notice.contains("按期反馈率"),
        "{notice}"
    );
    let first = notice.find(&format!("| 1 | {CHENGGUAN}")).expect(&notice);
    let second = notice.find(&format!("| 2 | {LINXIA}")).expect(&notice);
    assert!(first < second);
    assert!(
        notice.contains("33.3%") && notice.contains("50.0%"),
        "{notice}"
    );
    assert!(notice.contains(&l3.case_id) && notice.contains(&c2.case_id));
    assert!(
        notice.contains(&format!("| {} |", overdue_days(&cases[2]))),
        "the overdue age in working days: {notice}"
    );
    for seq in [11, 12, 13] {
        assert!(
            !notice.contains(&resident_id(LINXIA, seq)),
            "no resident IDs"
        );
    }
    assert!(
        !notice.contains("测试人员") && !notice.contains("经核实"),
        "no names or answers"
    );

    let mut csv = province.registry_cli();
    csv.args([
        "report", "--period", &period, "--format", "csv", "--as-of", &as_of,
    ]);
    let csv = mpx_tests::run_ok(csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "header and three counties: {csv}");
    assert!(lines[0].starts_with("period,county,name,rank"));
    assert!(lines[2].contains(&format!(",{LINXIA},")) && lines[2].contains(",0.3333,"));

    // The same report as a workbook for the office: the ranking with rates as numbers, the
    // overdue cases and the disputed ones, each on its sheet; no personal data.
    let xlsx = province.dir.join("通报.xlsx");
    let mut workbook = province.registry_cli();
    workbook
        .args([
            "report", "--period", &period, "--format", "xlsx", "--as-of", &as_of, "--out",
        ])
        .arg(&xlsx);
    mpx_tests::run_ok(workbook);
    let sheets = mpx_tests::sheets::workbook_sheets(&xlsx);
    let names: Vec<&str> = sheets.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["合规排名", "逾期未反馈", "双方不一致"]);
    let ranking = &sheets[0].1;
    assert_eq!(ranking.len(), 4, "header and three counties: {ranking:?}");
    assert_eq!(ranking[0][1], "排名");
    assert_eq!(ranking[1][1..3], ["1", CHENGGUAN]);
    assert_eq!(ranking[2][1..3], ["2", LINXIA]);
    assert_eq!(
        ranking[2][7], "33.3",
        "the timely rate in percent, a number"
    );
    let overdue: Vec<&str> = sheets[1].1[1..].iter().map(|row| row[0].as_str()).collect();
    assert!(overdue.contains(&l3.case_id.as_str()), "{overdue:?}");
    let everything = format!("{sheets:?}");
    for seq in [11, 12, 13] {
        assert!(
            !everything.contains(&resident_id(LINXIA, seq)),
            "no resident IDs"
        );
    }
    let mut no_out = province.registry_cli();
    no_out.args(["report", "--period", &period, "--format", "xlsx"]);
    let out = mpx_tests::run(no_out);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("add --out FILE.xlsx"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut bad = province.registry_cli();
    bad.args(["report", "--period", "2026-13"]);
    let out = mpx_tests::run(bad);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("YYYY-MM"),
        "a bad period says what is expected"
    );
}

async fn cases_at_requester<const N: usize>(
    province: &Province,
    cases: [&v1::Case; N],
) -> Vec<v1::Case> {
    let mut out = Vec::with_capacity(N);
    for case in cases {
        out.push(case_at(province, WUDU, &case.case_id).await);
    }
    out
}

/// A response that the requester never received leaves its case disputed (listed, not scored)
/// until it arrives; a receipt whose received time was altered is rejected, raises an alert and
/// flags the case; a county cannot report as the other side.
async fn an_unreceived_response_is_disputed_until_it_arrives_and_an_altered_receipt_is_rejected(
    backend: Backend,
) {
    let Some(mut province) = Province::start_on_with_registry_env(
        backend,
        &[WUDU, LINXIA],
        &[
            ("MPX_RECONCILE_GRACE_MINUTES", "0"),
            ("MPX_ALERT_SCAN_SECONDS", "1"),
        ],
    )
    .await
    else {
        return;
    };
    let v = open(&province, LINXIA, 31).await;
    let u = open(&province, LINXIA, 32).await;
    wait_for_state(&province, WUDU, &v.case_id, CaseState::Delivered).await;
    wait_for_state(&province, WUDU, &u.case_id, CaseState::Delivered).await;
    respond(&province, LINXIA, &v.case_id).await;
    wait_for_state(&province, WUDU, &v.case_id, CaseState::Responded).await;
    let period = month_of_due(case_at(&province, WUDU, &v.case_id).await.due_at_unix_ms);
    // Both sides' reports of v reach the registry (until then v is one-sided, hence disputed,
    // with no grace period configured).
    wait_until(WAIT, "v to be scored", || {
        let report = report_json(&province, &period, None);
        let scored = county(&report, LINXIA)["responses"] == 1;
        async move { scored }
    })
    .await;

    // The requester is down when 621221 answers u.
    province.stop_node(WUDU);
    respond(&province, LINXIA, &u.case_id).await;
    let mut report = serde_json::Value::Null;
    wait_until(WAIT, "u to be disputed", || {
        report = report_json(&province, &period, None);
        let disputed = report["disputed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["case_id"] == u.case_id.as_str());
        async move { disputed }
    })
    .await;
    let linxia = county(&report, LINXIA);
    assert_eq!(linxia["disputed"], 1);
    assert_eq!(
        (linxia["requests_due"].clone(), linxia["responses"].clone()),
        (2.into(), 1.into()),
        "while disputed, u counts as due and unanswered: causing a dispute helps nobody"
    );
    let reason = report["disputed"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("has not reported receiving"), "{reason}");
    let mut alerts = province.registry_compliance().await;
    let mut stream = alerts
        .watch(WatchRequest {
            after_alert_id: 0,
            county: LINXIA.into(),
        })
        .await
        .unwrap()
        .into_inner();
    // The alert fires once per case, with the first reason a scan saw. With no grace period
    // configured, a scan can also fall in the moment between the two sides' reports of u's
    // delivery (621221's arrived, 621202's not yet): then it names the receipt. The report
    // above gives the reason in force.
    let disputed = next_alert(&mut stream, "DISPUTED", &u.case_id).await;
    assert_eq!(disputed.county, LINXIA);
    assert!(
        disputed.detail.contains("has not reported receiving")
            || disputed.detail.contains("holds no receipt for it"),
        "{disputed:?}"
    );

    // Once it arrives, the case is scored like any other.
    province.start_node(WUDU).await;
    wait_for_state(&province, WUDU, &u.case_id, CaseState::Responded).await;
    wait_until(WAIT, "u to be scored once both sides agree", || {
        report = report_json(&province, &period, None);
        let scored = county(&report, LINXIA)["responses"] == 2;
        async move { scored }
    })
    .await;
    assert_eq!(county(&report, LINXIA)["disputed"], 0);
    assert_eq!(county(&report, LINXIA)["timely"], 2);

    // 621202's genuine report of v's delivery, as the registry stored it…
    let evidence = alerts
        .case_evidence(CaseEvidenceRequest {
            case_id: v.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let genuine = evidence
        .events
        .iter()
        .find(|e| e.reporter_county == WUDU && e.report.as_ref().unwrap().event == "delivered")
        .expect("621202 reported the delivery");
    assert_eq!(genuine.verification, "verified");
    // …resent with the received time moved a day earlier (which would make a late answer look
    // timely). The node is stopped so its own stream does not race the forged sequence number.
    province.stop_node(WUDU);
    let mut as_wudu = province.registry_compliance_as(WUDU).await;
    let cursor = as_wudu
        .report_case_events(ReportCaseEventsRequest { events: Vec::new() })
        .await
        .unwrap()
        .into_inner()
        .acknowledged_seq;
    let mut forged = genuine.report.clone().unwrap();
    forged.seq = cursor + 1;
    forged
        .receipt
        .as_mut()
        .unwrap()
        .receipt
        .as_mut()
        .unwrap()
        .received_at_unix_ms -= 86_400_000;
    let answer = as_wudu
        .report_case_events(ReportCaseEventsRequest {
            events: vec![forged.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.rejected, 1);
    assert!(
        answer.rejections[0].reason.contains("does not verify"),
        "{answer:?}"
    );
    assert_eq!(answer.acknowledged_seq, cursor + 1, "the stream moves on");
    let rejected = next_alert(&mut stream, "EVIDENCE_REJECTED", &v.case_id).await;
    assert_eq!(
        rejected.county, WUDU,
        "the alert names who sent the altered receipt"
    );
    // The altered receipt changes nothing: v stays scored on the genuine evidence, on time.
    let after = report_json(&province, &period, None);
    assert_eq!(county(&after, LINXIA)["timely"], 2);
    assert_eq!(county(&after, LINXIA)["disputed"], 0);
    let mut show = province.registry_cli();
    show.args(["evidence", &v.case_id]);
    let shown = mpx_tests::run_ok(show);
    assert!(
        shown.contains("rejected: the receipt") && shown.contains("verified"),
        "{shown}"
    );

    // A genuine receipt presented for another case, a report as the other side, and a
    // malformed event are each refused by name, and the stream moves on past them.
    let mut replayed = genuine.report.clone().unwrap();
    replayed.seq = cursor + 2;
    replayed.case_id = u.case_id.clone();
    let mut as_recipient = genuine.report.clone().unwrap();
    as_recipient.seq = cursor + 3;
    as_recipient.role = CaseDirection::Inbound as i32;
    let mut malformed = genuine.report.clone().unwrap();
    malformed.seq = cursor + 4;
    malformed.case_id = "not-a-case".into();
    let answer = as_wudu
        .report_case_events(ReportCaseEventsRequest {
            events: vec![replayed, as_recipient, malformed],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.acknowledged_seq, cursor + 4);
    let reason_of = |seq: i64| {
        answer
            .rejections
            .iter()
            .find(|r| r.seq == seq)
            .unwrap_or_else(|| panic!("seq {seq} refused: {answer:?}"))
            .reason
            .clone()
    };
    assert!(
        reason_of(cursor + 2).contains("the receipt is for case"),
        "{answer:?}"
    );
    assert!(
        reason_of(cursor + 3).contains("events[1].role"),
        "{answer:?}"
    );
    assert!(
        reason_of(cursor + 4).contains("events[2].case_id"),
        "{answer:?}"
    );
    assert_eq!(
        county(&report_json(&province, &period, None), LINXIA)["timely"],
        2,
        "nothing refused changed the figures"
    );
    // Supervisor methods are not on the peer listener.
    let status = as_wudu
        .report(v1::ComplianceReportRequest {
            period: period.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
}

/// The next alert of `kind` about `case_id` on a Watch stream (others are skipped).
async fn next_alert(
    stream: &mut tonic::Streaming<v1::ProvinceAlert>,
    kind: &str,
    case_id: &str,
) -> v1::ProvinceAlert {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let alert = stream
                .message()
                .await
                .unwrap()
                .expect("the stream stays open");
            if alert.kind == kind && alert.case_id == case_id {
                return alert;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} alert for {case_id} within 30 s"))
}
