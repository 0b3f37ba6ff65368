//! The province console in a real browser (headless chromium through chromedriver), against a
//! real registry and three real county nodes: a supervisor signs in and reads the ranking of a
//! seeded period — the hand-counted figures of the compliance scenario, and the very figures of
//! `registry report` for the same period and instant; a viewer is refused an admin's page and
//! the enrolment of a county, which an admin does; signing out ends the session on the server. Screenshot of the compliance page
//! to target/tmp/screenshots/ (and docs/screenshots/ with `MPX_UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "console/browser.rs"]
mod browser;

use fantoccini::{Client, Locator};
use mpx_proto::v1::{AcceptCaseRequest, CaseState};
use mpx_tests::cases::{
    case_at, open_verification as open, report_county as county, report_json, respond,
};
use mpx_tests::{Province, WAIT, wait_for_state, wait_until};

use browser::{Driver, body_text, click, has, path, screenshot, sign_in, text};

const WUDU: &str = "621202";
const LINXIA: &str = "621221";
const CHENGGUAN: &str = "620102";
const PASSWORD: &str = "省级平台测试口令-2026";

/// One row of the console's ranking as the page shows it: rank, requests due, responses, timely,
/// timely rate, mark.
async fn ranking_row(b: &Client, county: &str) -> [String; 6] {
    let row = b
        .find(Locator::Css(&format!(
            "#ranking tr[data-county='{county}']"
        )))
        .await
        .unwrap_or_else(|_| panic!("no row for {county}"));
    let mut cells = Vec::new();
    for css in [
        ".rank",
        ".due",
        ".responses",
        ".timely",
        ".timely-rate",
        ".standing",
    ] {
        let cell = row.find(Locator::Css(css)).await.unwrap();
        cells.push(cell.text().await.unwrap().trim().to_string());
    }
    cells.try_into().unwrap()
}

/// The compliance scenario of tests/tests/compliance.rs, counted by hand:
///
/// | case | to     | what happens                                  |
/// |------|--------|-----------------------------------------------|
/// | l1   | 621221 | accepted and answered at once (on time)       |
/// | l2   | 621221 | answered 45 days later (late)                 |
/// | l3   | 621221 | never answered (overdue)                      |
/// | c1   | 620102 | answered at once (on time)                    |
/// | c2   | 620102 | never answered (overdue)                      |
///
/// 620102: 2 due, 1 answered, 1 on time (50.0 %), rank 1. 621221: 3 due, 2 answered, 1 on time
/// (33.3 %), rank 2. 621202: nothing due, not ranked. Returns the period and the as-of day.
async fn seed_the_hand_counted_period(province: &mut Province) -> (String, String) {
    let l1 = open(province, LINXIA, 11).await;
    let l2 = open(province, LINXIA, 12).await;
    let l3 = open(province, LINXIA, 13).await;
    let c1 = open(province, CHENGGUAN, 21).await;
    let c2 = open(province, CHENGGUAN, 22).await;
    for case in [&l1, &l2, &l3, &c1, &c2] {
        wait_for_state(province, WUDU, &case.case_id, CaseState::Delivered).await;
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
    respond(province, LINXIA, &l1.case_id).await;
    respond(province, CHENGGUAN, &c1.case_id).await;
    let seeded: &Province = province;
    wait_until(WAIT, "621202 to hold the answers to l1 and c1", || async {
        case_at(seeded, WUDU, &l1.case_id).await.state == CaseState::Responded as i32
            && case_at(seeded, WUDU, &c1.case_id).await.state == CaseState::Responded as i32
    })
    .await;
    // 621221 answers l2 45 days later (both sides' processes live in the future).
    for code in [LINXIA, WUDU] {
        province.stop_node(code);
        province.nodes.get_mut(code).unwrap().clock_offset = Some("+45d".into());
        province.start_node(code).await;
    }
    respond(province, LINXIA, &l2.case_id).await;
    wait_for_state(province, WUDU, &l2.case_id, CaseState::Responded).await;

    let due = case_at(province, WUDU, &l1.case_id).await.due_at_unix_ms;
    let due_day = mpx_proto::time::date_of_unix_ms(due - 1).unwrap();
    let period = format!("{:04}-{:02}", due_day.year(), due_day.month());
    let as_of = due_day
        .checked_add(jiff::Span::new().days(30))
        .unwrap()
        .to_string();
    let seeded: &Province = province;
    wait_until(WAIT, "the registry to have every case event", || {
        let report = report_json(seeded, &period, Some(&as_of));
        let ready = county(&report, LINXIA)["responses"] == 2
            && county(&report, CHENGGUAN)["responses"] == 1
            && county(&report, LINXIA)["requests_due"] == 3
            && county(&report, CHENGGUAN)["requests_due"] == 2;
        async move { ready }
    })
    .await;
    (period, as_of)
}

#[tokio::test]
async fn a_supervisor_reads_the_hand_counted_ranking_a_viewer_is_refused_and_sign_out_ends_it() {
    let driver = Driver::start();
    let mut province = Province::start(&[WUDU, LINXIA, CHENGGUAN]).await;
    let (period, as_of) = seed_the_hand_counted_period(&mut province).await;
    province.add_registry_console_operator("李督导", "supervisor", PASSWORD);
    province.add_registry_console_operator("赵查看", "viewer", PASSWORD);
    province.add_registry_console_operator("王管理", "admin", PASSWORD);
    let console = province
        .registry_console
        .expect("the registry serves its console");
    let base = format!("http://{console}");

    let b = driver.browser().await;
    sign_in(&b, console, "李督导", PASSWORD).await;
    assert_eq!(path(&b).await, "/compliance", "signed in, to the figures");
    assert_eq!(text(&b, "#operator").await, "李督导");
    assert!(
        !has(&b, "#nav-operators").await,
        "a supervisor is not offered the admin's page"
    );

    // The period and instant as the form sends them (a GET form: this URL is its submission).
    b.goto(&format!("{base}/compliance?period={period}&as_of={as_of}"))
        .await
        .unwrap();
    assert_eq!(text(&b, "#period-label").await, period);
    assert_eq!(
        ranking_row(&b, CHENGGUAN).await,
        ["1", "2", "1", "1", "50.0%", "前三名"].map(String::from)
    );
    assert_eq!(
        ranking_row(&b, LINXIA).await,
        ["2", "3", "2", "1", "33.3%", "前三名"].map(String::from)
    );
    let wudu = ranking_row(&b, WUDU).await;
    assert_eq!(wudu[..5], ["—", "0", "0", "0", "—"].map(String::from));
    assert!(wudu[5].contains("不参与排名"), "{wudu:?}");
    // Ranked order, top to bottom.
    let mut order = Vec::new();
    for row in b.find_all(Locator::Css("#ranking tbody tr")).await.unwrap() {
        order.push(row.attr("data-county").await.unwrap().unwrap());
    }
    assert_eq!(order, [CHENGGUAN, LINXIA, WUDU]);
    // Named as clerks know them, from the GB/T 2260 table when the directory has no name.
    assert!(
        text(&b, "#ranking tr[data-county='620102'] .county")
            .await
            .contains("城关区")
    );
    // The same figures as `registry report` for the same period and instant.
    let report = report_json(&province, &period, Some(&as_of));
    for code in [CHENGGUAN, LINXIA, WUDU] {
        let cli = county(&report, code);
        let shown = ranking_row(&b, code).await;
        assert_eq!(shown[1], cli["requests_due"].to_string(), "{code}");
        assert_eq!(shown[2], cli["responses"].to_string(), "{code}");
        assert_eq!(shown[3], cli["timely"].to_string(), "{code}");
    }
    // Every rate has its number beside the bar.
    assert_eq!(
        b.find_all(Locator::Css("#ranking svg.bar"))
            .await
            .unwrap()
            .len(),
        6,
        "two bars a county"
    );
    screenshot(&b, "province-compliance").await;

    // The downloads are `registry report`'s own output for the same choice (the CSV with a BOM
    // for spreadsheets), fetched with this browser's session.
    assert!(has(&b, "#download-csv").await && has(&b, "#download-notice").await);
    let session = b
        .get_named_cookie("mpx_session_registry")
        .await
        .unwrap()
        .value()
        .to_string();
    let cookie = format!("mpx_session_registry={session}");
    let cli = |format: &str| {
        let mut command = province.registry_cli();
        command.args([
            "report", "--period", &period, "--format", format, "--as-of", &as_of,
        ]);
        mpx_tests::run_ok(command)
    };
    let query = format!("period={period}&as_of={as_of}");
    let csv = mpx_tests::http::request(
        console,
        "GET",
        &format!("/compliance.csv?{query}"),
        &cookie,
        "",
    )
    .unwrap();
    assert_eq!(csv.status, 200);
    assert!(
        csv.head.contains("attachment; filename=\"compliance-"),
        "{}",
        csv.head
    );
    assert_eq!(csv.body.strip_prefix('\u{feff}'), Some(cli("csv").as_str()));
    let notice = mpx_tests::http::request(
        console,
        "GET",
        &format!("/compliance.md?{query}"),
        &cookie,
        "",
    )
    .unwrap();
    assert_eq!(notice.body, cli("md"));
    assert!(notice.body.contains("通报"));
    let refused =
        mpx_tests::http::request(console, "GET", &format!("/compliance.csv?{query}"), "", "")
            .unwrap();
    assert_eq!(refused.status, 303, "no download without a session");

    // The printable 通报 is the same Markdown as HTML: its title, and the ranking as a table.
    b.goto(&format!("{base}/compliance/print?{query}"))
        .await
        .unwrap();
    let title = notice.body.lines().next().unwrap().trim_start_matches("# ");
    assert_eq!(text(&b, "#notice h1").await, title);
    let printed = text(&b, "#notice table").await;
    assert!(
        printed.contains(&format!("1 {CHENGGUAN} 城关区 2 1 1 50.0%")),
        "{printed}"
    );
    screenshot(&b, "province-notice-print").await;

    // Month by month: the seeded month's figures, the province's sum, a line beside each row.
    b.goto(&format!("{base}/compliance/trend?months=3&as_of={as_of}"))
        .await
        .unwrap();
    let mut months = Vec::new();
    for th in b.find_all(Locator::Css("#trend thead th")).await.unwrap() {
        months.push(th.text().await.unwrap());
    }
    let column = months
        .iter()
        .position(|m| *m == period)
        .expect("the seeded month")
        - 1;
    let cell = |row: String| {
        let b = &b;
        async move {
            b.find_all(Locator::Css(&format!("{row} td")))
                .await
                .unwrap()[column]
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        cell(format!("#trend tr[data-county='{CHENGGUAN}']")).await,
        "50.0%"
    );
    assert_eq!(
        cell(format!("#trend tr[data-county='{LINXIA}']")).await,
        "33.3%"
    );
    // 2 of 5 on time province-wide.
    assert_eq!(cell("#trend-province".into()).await, "40.0%");
    assert!(
        has(
            &b,
            &format!("#trend tr[data-county='{CHENGGUAN}'] svg circle")
        )
        .await
    );
    screenshot(&b, "province-trend").await;

    // Quick choices: one click to the last five days (五天一评比), said as the period shown.
    b.goto(&format!("{base}/compliance")).await.unwrap();
    let five_days = b
        .find(Locator::Css("#quick a[data-period*='..']"))
        .await
        .unwrap();
    let chosen = five_days.attr("data-period").await.unwrap().unwrap();
    five_days.click().await.unwrap();
    let shown = browser::wait_for(&b, "#quick strong[aria-current]").await;
    assert!(shown.text().await.unwrap().contains("近五日"));
    assert_eq!(text(&b, "#period-label").await, chosen);

    // A bad period is refused beside the form, saying what is expected.
    b.goto(&format!("{base}/compliance?period=2026-13"))
        .await
        .unwrap();
    assert!(text(&b, "#period-error").await.contains("YYYY-MM"));
    // A range of days (the five- and ten-day rounds) is a period too.
    b.goto(&format!("{base}/compliance?from=2026-11-01&to=2026-11-05"))
        .await
        .unwrap();
    assert_eq!(text(&b, "#period-label").await, "2026-11-01..2026-11-05");

    // English on request: the same table.
    b.goto(&format!(
        "{base}/compliance?period={period}&as_of={as_of}&lang=en"
    ))
    .await
    .unwrap();
    assert!(body_text(&b).await.contains("Timely rate"));
    assert_eq!(
        ranking_row(&b, CHENGGUAN).await[4..],
        ["50.0%", "top three"].map(String::from)
    );
    b.goto(&format!("{base}/compliance?lang=zh")).await.unwrap();

    // A viewer reads but is refused the admin's page; an admin opens it.
    sign_in(&b, console, "赵查看", PASSWORD).await;
    assert_eq!(path(&b).await, "/compliance");
    assert!(!has(&b, "#nav-operators").await);
    b.goto(&format!("{base}/operators")).await.unwrap();
    assert!(
        text(&b, "#message").await.contains("无权"),
        "{}",
        body_text(&b).await
    );
    assert!(!has(&b, "#operators").await);
    // The viewer reads the counties but is offered no enrolment, and a post of it (with the
    // viewer's own valid session and token) is refused: enrolling is an admin's.
    b.goto(&format!("{base}/counties")).await.unwrap();
    assert!(text(&b, "#counties").await.contains(LINXIA));
    assert!(!has(&b, "#enrol").await);
    let viewer_csrf = b
        .find(Locator::Css("input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let viewer_session = b
        .get_named_cookie("mpx_session_registry")
        .await
        .unwrap()
        .value()
        .to_string();
    let refused = mpx_tests::http::request(
        console,
        "POST",
        "/counties/enrol",
        &format!("mpx_session_registry={viewer_session}"),
        &format!("csrf={viewer_csrf}&county=621222&name=x"),
    )
    .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("无权"), "{}", refused.body);
    sign_in(&b, console, "王管理", PASSWORD).await;
    // An admin enrols a county: a code of another province is refused beside the field, one of
    // this province gets its one-time token, shown once.
    click(&b, "#nav-counties").await;
    browser::fill(&b, "#county", "110101").await;
    click(&b, "#enrol-submit").await;
    assert!(text(&b, "#county-error").await.contains("110101"));
    assert!(!has(&b, "#token").await);
    browser::fill(&b, "#county", "621222").await;
    browser::fill(&b, "#name", "文县").await;
    click(&b, "#enrol-submit").await;
    assert!(text(&b, "#token").await.starts_with("mpxenrol_"));
    b.goto(&format!("{base}/counties")).await.unwrap();
    assert!(!has(&b, "#token").await, "shown once");
    click(&b, "#nav-operators").await;
    let operators = text(&b, "#operators").await;
    for name in ["李督导", "赵查看", "王管理"] {
        assert!(operators.contains(name), "{operators}");
    }

    // Signing out ends the session on the server, not only in this browser.
    let session = b
        .get_named_cookie("mpx_session_registry")
        .await
        .unwrap()
        .value()
        .to_string();
    let before = mpx_tests::http::request(
        console,
        "GET",
        "/compliance",
        &format!("mpx_session_registry={session}"),
        "",
    )
    .unwrap();
    assert_eq!(before.status, 200, "the session works before sign-out");
    click(&b, "#sign-out").await;
    // The click returns before the next page loads: wait for the sign-in form.
    browser::wait_for(&b, "#sign-in").await;
    assert_eq!(path(&b).await, "/sign-in");
    let after = mpx_tests::http::request(
        console,
        "GET",
        "/compliance",
        &format!("mpx_session_registry={session}"),
        "",
    )
    .unwrap();
    assert_eq!(after.status, 303, "{}", after.head);
    assert!(after.head.contains("location: /sign-in"), "{}", after.head);
    b.goto(&format!("{base}/compliance")).await.unwrap();
    assert_eq!(path(&b).await, "/sign-in");
    b.close().await.unwrap();
}

/// The province console's sign-in follows the county console's rules (console-kit): five wrong
/// passwords in a row lock the account (the right one is refused too) until `registry operator
/// unlock`; a sign-in without its CSRF cookie and a post with another token are refused and
/// change nothing; every page carries the policy `default-src 'self'`. Plain HTTP, no browser.
#[tokio::test]
async fn the_registry_console_locks_out_guessing_and_refuses_forged_posts() {
    use mpx_tests::http;
    let province = Province::start(&[]).await;
    province.add_registry_console_operator("李督导", "supervisor", PASSWORD);
    let console = province
        .registry_console
        .expect("the registry serves its console");

    let page = http::request(console, "GET", "/sign-in", "", "").unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.head
            .to_ascii_lowercase()
            .contains("content-security-policy: default-src 'self'"),
        "{}",
        page.head
    );
    // Without the sign-in cookie that goes with the form's token: refused before any password
    // is checked.
    let token = http::csrf_field(&page.body).unwrap();
    let forged = http::request(
        console,
        "POST",
        "/sign-in",
        "",
        &format!("name=x&password=y&csrf={token}"),
    )
    .unwrap();
    assert_eq!(forged.status, 403);

    for attempt in 1..=5 {
        let refused = http::sign_in(console, "registry", "李督导", "不是这个口令-123")
            .expect_err("a wrong password");
        let expected = if attempt < 5 { "(401)" } else { "(403)" };
        assert!(
            refused.to_string().contains(expected),
            "{attempt}: {refused}"
        );
    }
    let locked = http::sign_in(console, "registry", "李督导", PASSWORD)
        .expect_err("locked, even with the right password");
    assert!(
        locked.to_string().contains("(403)") && locked.to_string().contains("锁定"),
        "{locked}"
    );
    let mut unlock = province.registry_cli();
    unlock.args(["operator", "unlock", "--name", "李督导"]);
    mpx_tests::run_ok(unlock);
    let session = http::sign_in(console, "registry", "李督导", PASSWORD).unwrap();

    // A sign-out posted with another token is refused and the session lives on.
    let forged = http::request(console, "POST", "/sign-out", &session, "csrf=0000").unwrap();
    assert_eq!(forged.status, 403);
    let still = http::request(console, "GET", "/compliance", &session, "").unwrap();
    assert_eq!(still.status, 200, "{}", still.body);
    assert!(still.body.contains("李督导"));
}
