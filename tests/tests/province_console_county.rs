//! The province console's county page, case evidence and revocation in a real browser (headless
//! chromium through chromedriver), against a real registry and three real county nodes: from the
//! ranking a supervisor opens a county's page, which lists its open overdue case with the working
//! days past due that `registry report` gives; the evidence of an answered case shows both sides'
//! signed reports verified (✓); a malformed case id and an unknown county are pages that say so;
//! the counties are grouped by prefecture with their certificate's expiry; a viewer cannot revoke
//! a county (403) and an admin can, after which the county shows as revoked; a node that says it
//! was restored from a backup raises one alert per backup and its page shows its recovery.
//! Screenshots of the
//! county, evidence and counties pages to target/tmp/screenshots/ (and docs/screenshots/ with
//! `MPX_UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "console/browser.rs"]
mod browser;

use fantoccini::{Client, Locator};
use mpx_proto::v1::{self, AcceptCaseRequest, CaseState, RespondCaseRequest};
use mpx_tests::cases::{case_at, open_verification};
use mpx_tests::{Province, WAIT, wait_for_state, wait_until};

use browser::{Driver, body_text, click, has, path, screenshot, sign_in, text, wait_for};

const WUDU: &str = "621202";
const LINXIA: &str = "621221";
const CHENGGUAN: &str = "620102";
const PASSWORD: &str = "省级平台测试口令-2026";
const SESSION_COOKIE: &str = "mpx_session_registry";

/// `registry report --period P --as-of A --format json`, the row of `code`.
fn report_row(province: &Province, period: &str, as_of: &str, code: &str) -> serde_json::Value {
    let mut command = province.registry_cli();
    command.args([
        "report", "--period", period, "--format", "json", "--as-of", as_of,
    ]);
    let out = mpx_tests::run_ok(command);
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("report is not JSON ({e}): {out}"));
    report["counties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["county"] == code)
        .cloned()
        .unwrap_or_else(|| panic!("county {code} missing from {report}"))
}

/// The browser's session cookie, for plain HTTP requests as the same operator.
async fn session_of(b: &Client) -> String {
    let session = b.get_named_cookie(SESSION_COOKIE).await.unwrap();
    format!("{SESSION_COOKIE}={}", session.value())
}

/// The part of an HTML page from the element with `id` to the end of its table.
fn table_of<'a>(html: &'a str, id: &str) -> &'a str {
    let Some(start) = html.find(&format!("id=\"{id}\"")) else {
        return "";
    };
    let rest = &html[start..];
    &rest[..rest.find("</table>").unwrap_or(rest.len())]
}

/// Two cases from 621202 to 621221 on the same day: `overdue` is never answered, `answered`
/// is accepted and answered at once. Returns them, the month they are due in and a day ten
/// days after their due day (the report's instant: the first is overdue by then).
async fn seed(province: &Province) -> (v1::Case, v1::Case, String, String) {
    let overdue = open_verification(province, LINXIA, 31).await;
    let answered = open_verification(province, LINXIA, 32).await;
    for case in [&overdue, &answered] {
        wait_for_state(province, WUDU, &case.case_id, CaseState::Delivered).await;
    }
    let linxia = province.node(LINXIA);
    linxia
        .cases()
        .await
        .accept_case(AcceptCaseRequest {
            case_id: answered.case_id.clone(),
            note: String::new(),
        })
        .await
        .unwrap();
    linxia
        .cases()
        .await
        .respond_case(RespondCaseRequest {
            case_id: answered.case_id.clone(),
            answer: "经核实，该人员仍在本辖区居住".into(),
            verdict: 0,
        })
        .await
        .unwrap();
    wait_for_state(province, WUDU, &answered.case_id, CaseState::Responded).await;
    let due = case_at(province, WUDU, &overdue.case_id)
        .await
        .due_at_unix_ms;
    let due_day = mpx_proto::time::date_of_unix_ms(due - 1).unwrap();
    let period = format!("{:04}-{:02}", due_day.year(), due_day.month());
    let as_of = due_day
        .checked_add(jiff::Span::new().days(10))
        .unwrap()
        .to_string();
    wait_until(WAIT, "the registry to score both cases", || {
        let row = report_row(province, &period, &as_of, LINXIA);
        let ready = row["requests_due"] == 2 && row["responses"] == 1 && row["open_overdue"] == 1;
        async move { ready }
    })
    .await;
    (overdue, answered, period, as_of)
}

#[tokio::test]
async fn a_countys_page_lists_its_overdue_case_and_the_evidence_of_an_answer_is_verified() {
    let driver = Driver::start();
    let mut province = Province::start(&[WUDU, LINXIA, CHENGGUAN]).await;
    let (overdue, answered, period, as_of) = seed(&province).await;
    province.add_registry_console_operator("李督导", "supervisor", PASSWORD);
    let console = province
        .registry_console
        .expect("the registry serves its console");
    let base = format!("http://{console}");
    let b = driver.browser().await;
    sign_in(&b, console, "李督导", PASSWORD).await;
    let cookie = session_of(&b).await;

    // Both sides report their events on their own schedule: wait until the registry holds the
    // signed receipt and response from each.
    let evidence_path = format!("/cases/{}", answered.case_id);
    wait_until(WAIT, "both sides' signed evidence at the registry", || {
        let page = mpx_tests::http::request(console, "GET", &evidence_path, &cookie, "").unwrap();
        let ready = page.status == 200
            && table_of(&page.body, "requester-reports")
                .matches('✓')
                .count()
                >= 2
            && table_of(&page.body, "recipient-reports")
                .matches('✓')
                .count()
                >= 2;
        async move { ready }
    })
    .await;

    // From the ranking to the county's page (the report's instant goes along).
    b.goto(&format!("{base}/compliance?period={period}&as_of={as_of}"))
        .await
        .unwrap();
    click(
        &b,
        &format!("#ranking tr[data-county='{LINXIA}'] .county a"),
    )
    .await;
    wait_for(&b, "#county-title").await;
    assert!(
        path(&b).await.starts_with(&format!("/counties/{LINXIA}?")),
        "{}",
        path(&b).await
    );
    assert!(text(&b, "#county-title").await.contains("成县"));
    assert!(text(&b, "#prefecture").await.contains("陇南市"));

    // Its open overdue case, with the working days past due that `registry report` gives.
    let cli = report_row(&province, &period, &as_of, LINXIA);
    let row = format!("#overdue tr[data-case='{}']", overdue.case_id);
    assert_eq!(
        text(&b, &format!("{row} .working-days")).await,
        cli["oldest_overdue_working_days"].to_string()
    );
    assert!(text(&b, &row).await.contains("逾期"));
    assert!(
        !has(
            &b,
            &format!("#overdue tr[data-case='{}']", answered.case_id)
        )
        .await,
        "an answered case is not overdue"
    );
    assert!(text(&b, "#overdue-total").await.contains('1'));
    // The month's figures are the report's, with a bar chart beside the table.
    let month = format!("#months tr[data-period='{period}']");
    assert_eq!(text(&b, &format!("{month} .due")).await, "2");
    assert_eq!(text(&b, &format!("{month} .responses")).await, "1");
    assert_eq!(text(&b, &format!("{month} .timely")).await, "1");
    assert_eq!(text(&b, &format!("{month} .timely-rate")).await, "50.0%");
    assert_eq!(
        b.find_all(Locator::Css("#timely-chart rect.fill"))
            .await
            .unwrap()
            .len(),
        6,
        "a bar a month"
    );
    // The node as the registry knows it, and as the node said of itself at its last directory
    // fetch (it fetches at start and every few seconds): the version it held, its backlog.
    assert_eq!(text(&b, "#node-status").await, "在用");
    assert_eq!(text(&b, "#fingerprint").await.len(), 64);
    assert!(text(&b, "#expiry").await.contains("天后到期"));
    assert!(text(&b, "#last-report").await.contains("序号"));
    assert!(
        has(&b, "#last-contact").await,
        "the node has fetched the directory"
    );
    let held = text(&b, "#directory-version").await;
    assert!(
        held.starts_with(|c: char| c.is_ascii_digit()) && held.contains("版本"),
        "{held}"
    );
    let backlog = text(&b, "#backlog").await;
    assert!(
        backlog.contains("条消息待发") && backlog.contains("节点上报于"),
        "{backlog}"
    );
    screenshot(&b, "province-county").await;

    // The overdue case's evidence, read at the report's instant.
    click(&b, &format!("{row} a")).await;
    wait_for(&b, "#verdict").await;
    assert_eq!(text(&b, "#verdict").await, "逾期未答复");
    assert!(text(&b, "#no-dispute").await.contains("没有争议"));

    // The answered case: both sides' reports, each signature checked, and the verdict in words.
    b.goto(&format!("{base}{evidence_path}")).await.unwrap();
    assert_eq!(text(&b, "#verdict").await, "按期答复");
    assert!(text(&b, "#why").await.contains("不晚于答复时限"));
    let recipient = text(&b, "#recipient-reports").await;
    assert!(
        recipient.contains("送达") && recipient.contains("✓ 签名有效"),
        "{recipient}"
    );
    assert!(
        !has(&b, "tr.rejected").await,
        "no evidence refused: {}",
        body_text(&b).await
    );
    assert!(text(&b, "#requester-reports").await.contains("✓ 签名有效"));
    assert!(text(&b, "#deciding-times").await.contains("24:00"));
    screenshot(&b, "province-evidence").await;
    b.goto(&format!("{base}{evidence_path}?lang=en"))
        .await
        .unwrap();
    assert_eq!(text(&b, "#verdict").await, "answered on time");
    assert!(text(&b, "#recipient-reports").await.contains("✓ verified"));
    b.goto(&format!("{base}/compliance?lang=zh")).await.unwrap();

    // Bad input is a page that says what is wrong, never a crash.
    let reply = mpx_tests::http::request(console, "GET", "/cases/not-a-case", &cookie, "").unwrap();
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("UUID"), "{}", reply.body);
    let unknown = "/cases/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    let reply = mpx_tests::http::request(console, "GET", unknown, &cookie, "").unwrap();
    assert_eq!(reply.status, 404);
    assert!(reply.body.contains("没有县（区）上报过"), "{}", reply.body);
    for bad in [
        "/counties/999999",
        "/counties/110101",
        "/counties/%E6%88%90",
    ] {
        let reply = mpx_tests::http::request(console, "GET", bad, &cookie, "").unwrap();
        assert_eq!(reply.status, 404, "{bad}");
        assert!(reply.body.contains("没有这个县"), "{bad}: {}", reply.body);
    }
    let reply = mpx_tests::http::request(
        console,
        "GET",
        &format!("/counties/{LINXIA}?as_of=yesterday"),
        &cookie,
        "",
    )
    .unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("id=\"as-of-error\""), "{}", reply.body);

    // 620102's node says with its directory refresh that it was restored from a backup (its
    // own process is stopped, so no refresh of its own overwrites what is said here): one
    // RESTORED alert however often it says so, another for another backup, and the county
    // page shows the recovery as last said.
    province.stop_node(CHENGGUAN);
    let mut directory = v1::directory_client::DirectoryClient::new(
        province.registry_peer_channel(CHENGGUAN).await.unwrap(),
    );
    // 2026-12-03 10:00 and 2026-12-10 10:00 in Asia/Shanghai.
    let (backup, later_backup) = (1_796_263_200_000i64, 1_796_868_000_000i64);
    let refresh = |backup_of: i64, peers: u32, replayed: u64| v1::GetDirectoryRequest {
        restored_backup_of_unix_ms: backup_of,
        recovery_peers_pending: peers,
        recovery_replayed: replayed,
        recovery_rebuilt: 12,
        recovery_needs_clerk: 1,
        ..Default::default()
    };
    let restore_alerts = || {
        let path = format!("/alerts?county={CHENGGUAN}&kind=RESTORED");
        let page = mpx_tests::http::request(console, "GET", &path, &cookie, "").unwrap();
        assert_eq!(page.status, 200, "{}", page.body);
        page.body.matches("data-kind=\"RESTORED\"").count()
    };
    directory
        .get_directory(refresh(backup, 2, 0))
        .await
        .unwrap();
    directory
        .get_directory(refresh(backup, 1, 507))
        .await
        .unwrap();
    assert_eq!(
        restore_alerts(),
        1,
        "one alert however often the node says it"
    );
    b.goto(&format!("{base}/alerts?kind=RESTORED"))
        .await
        .unwrap();
    let listed = text(&b, "#alerts-table").await;
    assert!(
        listed.contains("节点从备份恢复")
            && listed
                .contains("从 2026-12-03 10:00 的备份恢复；正在向 2 个节点恢复，已重放 0 条消息")
            && !listed.contains("restore/"),
        "{listed}"
    );
    b.goto(&format!("{base}/counties/{CHENGGUAN}"))
        .await
        .unwrap();
    let restore = text(&b, "#restore").await;
    assert!(
        restore.contains(
            "从 2026年12月3日 10:00 的备份恢复；正在向 1 个节点恢复；已重放 507 条消息；已重建 12 条；1 项需人工处理"
        ),
        "{restore}"
    );
    directory
        .get_directory(refresh(later_backup, 0, 9))
        .await
        .unwrap();
    assert_eq!(restore_alerts(), 2, "another backup, another alert");
    b.goto(&format!("{base}/counties/{CHENGGUAN}?lang=en"))
        .await
        .unwrap();
    let restore = text(&b, "#restore").await;
    assert!(
        restore
            .contains("restored from a backup of 2026-12-10 10:00; recovered; 9 messages replayed"),
        "{restore}"
    );
    b.goto(&format!("{base}/counties/{LINXIA}?lang=zh"))
        .await
        .unwrap();
    assert!(
        !has(&b, "#restore").await,
        "a county never restored says nothing of it"
    );
    b.close().await.unwrap();
}

#[tokio::test]
async fn counties_are_grouped_by_prefecture_and_only_an_admin_revokes_one() {
    let driver = Driver::start();
    let province = Province::start(&[WUDU, LINXIA, CHENGGUAN]).await;
    province.add_registry_console_operator("赵查看", "viewer", PASSWORD);
    province.add_registry_console_operator("王管理", "admin", PASSWORD);
    let console = province
        .registry_console
        .expect("the registry serves its console");
    let base = format!("http://{console}");
    let b = driver.browser().await;

    // A viewer reads the counties by prefecture, with each certificate's expiry, but is offered
    // no revocation, and a post of one (with the viewer's own session and token) is refused.
    sign_in(&b, console, "赵查看", PASSWORD).await;
    b.goto(&format!("{base}/counties")).await.unwrap();
    let longnan = text(&b, "#counties tbody[data-prefecture='621200']").await;
    assert!(
        longnan.contains("陇南市") && longnan.contains(WUDU) && longnan.contains(LINXIA),
        "{longnan}"
    );
    assert!(!longnan.contains(CHENGGUAN), "{longnan}");
    let lanzhou = text(&b, "#counties tbody[data-prefecture='620100']").await;
    assert!(
        lanzhou.contains("兰州市") && lanzhou.contains(CHENGGUAN),
        "{lanzhou}"
    );
    assert!(
        text(&b, &format!("tr[data-county='{CHENGGUAN}'] .expiry"))
            .await
            .contains("天后到期")
    );
    assert!(!has(&b, "#revoke").await);
    let csrf = b
        .find(Locator::Css("input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let viewer = session_of(&b).await;
    let refused = mpx_tests::http::request(
        console,
        "POST",
        "/counties/revoke",
        &viewer,
        &format!("csrf={csrf}&county={CHENGGUAN}&reason=test&confirm=yes"),
    )
    .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("无权"), "{}", refused.body);

    // An admin: a revocation without a reason or the confirmation is refused beside the field
    // and changes nothing; with both, the county is revoked.
    sign_in(&b, console, "王管理", PASSWORD).await;
    b.goto(&format!("{base}/counties")).await.unwrap();
    assert!(has(&b, "#revoke").await);
    let csrf = b
        .find(Locator::Css("#revoke input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let admin = session_of(&b).await;
    let unconfirmed = mpx_tests::http::request(
        console,
        "POST",
        "/counties/revoke",
        &admin,
        &format!("csrf={csrf}&county={CHENGGUAN}&reason=&confirm="),
    )
    .unwrap();
    assert_eq!(unconfirmed.status, 422, "{}", unconfirmed.body);
    assert!(unconfirmed.body.contains("id=\"confirm-error\""));
    assert!(unconfirmed.body.contains("id=\"reason-error\""));
    b.goto(&format!("{base}/counties/{CHENGGUAN}"))
        .await
        .unwrap();
    assert_eq!(text(&b, "#node-status").await, "在用", "nothing changed");

    b.goto(&format!("{base}/counties")).await.unwrap();
    wait_for(&b, "#revoke-county")
        .await
        .select_by_value(CHENGGUAN)
        .await
        .unwrap();
    browser::fill(&b, "#reason", "节点私钥疑似泄露").await;
    click(&b, "#confirm").await;
    click(&b, "#revoke-submit").await;
    wait_for(&b, "#revoked").await;
    assert!(text(&b, "#revoked").await.contains(CHENGGUAN));
    assert_eq!(
        text(&b, &format!("tr[data-county='{CHENGGUAN}'] .status")).await,
        "已吊销"
    );
    screenshot(&b, "province-counties").await;
    click(&b, &format!("tr[data-county='{CHENGGUAN}'] a")).await;
    wait_for(&b, "#node-status").await;
    let status = text(&b, "#node-status").await;
    assert!(
        status.contains("已吊销") && status.contains("节点私钥疑似泄露"),
        "{status}"
    );
    // As `registry nodes` has it, and the audit chain holds with the revocation in it.
    let mut nodes = province.registry_cli();
    nodes.args(["nodes", "--json"]);
    let listed = mpx_tests::run_ok(nodes);
    assert!(
        listed
            .lines()
            .any(|line| line.contains(CHENGGUAN) && line.contains("\"revoked\"")),
        "{listed}"
    );
    let mut verify = province.registry_cli();
    verify.args(["audit", "verify"]);
    mpx_tests::run_ok(verify);
    b.close().await.unwrap();
}
