//! The province console's queries and alerts in a real browser (headless chromium through
//! chromedriver), against a real registry and three real county nodes:
//!
//! - a query without a purpose is refused, saying to fill in the purpose; one with a purpose is
//!   answered and is in the registry's audit log under the operator's name; counts, flows (small
//!   counts suppressed as `registry flows` does) and locating a person (in full to the asker);
//! - "open cases for these" on a conflict: a viewer's post is refused (403), a supervisor's opens
//!   a case at each county listing the person, which the county's node then holds;
//! - the alerts page gets disputed alerts live (server-sent events) and its filter narrows them.
//!
//! Screenshots of both pages to target/tmp/screenshots/ (and docs/screenshots/ with
//! `MPX_UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "console/browser.rs"]
mod browser;

use std::time::Duration;

use fantoccini::{Client, Locator};
use mpx_proto::v1::{self, CaseState, CreatePersonRequest, GetCaseRequest, RespondCaseRequest};
use mpx_tests::cases::open_verification as open;
use mpx_tests::{Province, ProvinceOptions, WAIT, resident_id, wait_for_state, wait_until};

use browser::{Driver, click, fill, has, screenshot, sign_in, text, wait_for};

const WUDU: &str = "621202";
const LINXIA: &str = "621221";
const CHENGGUAN: &str = "620102";
const PASSWORD: &str = "省级平台测试口令-2026";

/// The registry's audit log: operator, action, purpose and subject of each entry, in order.
async fn audit_log(province: &Province) -> Vec<[String; 4]> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let url = province.registry_database_url().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=ro",
            province.registry_dir.join("registry.db").display()
        )
    });
    let mut connection = sqlx::AnyConnection::connect(&url).await.unwrap();
    let rows = sqlx::query(
        "SELECT operator, action, purpose, subject FROM audit_log
         WHERE chain_index > 0 ORDER BY chain_index",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            ["operator", "action", "purpose", "subject"]
                .map(|c| row.try_get::<String, _>(c).unwrap())
        })
        .collect()
}

/// The rows of a table as text, one string a row.
async fn rows_of(b: &Client, css: &str) -> Vec<String> {
    let mut rows = Vec::new();
    for row in b
        .find_all(Locator::Css(&format!("{css} tbody tr")))
        .await
        .unwrap()
    {
        rows.push(row.text().await.unwrap());
    }
    rows
}

#[tokio::test]
async fn a_query_needs_a_purpose_is_audited_and_only_a_supervisor_opens_cases_for_the_findings() {
    let driver = Driver::start();
    let province = Province::start(&[WUDU, LINXIA, CHENGGUAN]).await;
    // A conflict: a person of 621221 whom 621202 and 620102 both list as residing (arrived
    // 2026-03-01, so two flows of one person each, below the threshold).
    let both = resident_id(LINXIA, 301);
    for county in [WUDU, CHENGGUAN] {
        province
            .node(county)
            .records()
            .await
            .create_person(CreatePersonRequest {
                person: Some(v1::Person {
                    resident_id: both.clone(),
                    name: "测试人员".into(),
                    hukou_county: LINXIA.into(),
                    residence_address: "城关镇人民路12号".into(),
                    arrival_date: "2026-03-01".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
    }
    wait_until(WAIT, "the index to list the conflict", || async {
        let mut command = province.registry_cli();
        command.args(["conflicts", "--json", "--purpose", "e2e 等待索引"]);
        mpx_tests::run_ok(command).contains(&both)
    })
    .await;
    province.add_registry_console_operator("李督导", "supervisor", PASSWORD);
    province.add_registry_console_operator("赵查看", "viewer", PASSWORD);
    let console = province
        .registry_console
        .expect("the registry serves its console");
    let base = format!("http://{console}");

    let b = driver.browser().await;
    sign_in(&b, console, "李督导", PASSWORD).await;
    click(&b, "#nav-queries").await;
    wait_for(&b, "#conflicts-form").await;

    // A purpose of blanks passes the browser's `required` but not the registry: refused,
    // saying what to fill in, with the service's own words beside the field.
    fill(&b, "#conflicts-purpose", "   ").await;
    click(&b, "#conflicts-submit").await;
    assert!(text(&b, "#refused").await.contains("查询事由"));
    assert!(
        text(&b, "#conflicts-purpose-error")
            .await
            .contains("purpose: required"),
    );
    assert!(!has(&b, "#conflicts-table").await, "nothing answered");
    // The same for a form sent with no purpose at all (a GET form: this URL is its submission).
    b.goto(&format!("{base}/queries/counts?purpose="))
        .await
        .unwrap();
    assert!(text(&b, "#refused").await.contains("查询事由"));
    assert!(!has(&b, "#counts-table").await);
    let refused_entries = audit_log(&province).await;
    assert!(
        refused_entries
            .iter()
            .all(|entry| entry[0] != "李督导"
                || !["conflicts", "counts"].contains(&entry[1].as_str())),
        "a refused query is not run, so not in the log: {refused_entries:?}"
    );

    // With a purpose: answered, and in the audit log under the operator's name.
    let purpose = "2026年下半年重复登记核查";
    fill(&b, "#conflicts-purpose", purpose).await;
    click(&b, "#conflicts-submit").await;
    wait_for(&b, "#conflicts-table").await;
    let conflicts = rows_of(&b, "#conflicts-table").await;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert!(
        conflicts[0].contains(&both) && conflicts[0].contains("城关区（620102）"),
        "{conflicts:?}"
    );
    assert!(text(&b, "#audited").await.contains(purpose));
    let entries = audit_log(&province).await;
    assert!(
        entries
            .iter()
            .any(|e| e[0] == "李督导" && e[1] == "conflicts" && e[2] == purpose),
        "{entries:?}"
    );
    screenshot(&b, "province-queries").await;

    // Counts, flows (a matrix and a table, both suppressing the small counts), and a person
    // located: shown in full to the operator who asked.
    b.goto(&format!("{base}/queries/counts?purpose=人数核对"))
        .await
        .unwrap();
    assert_eq!(
        text(&b, "#counts-table tr[data-county='621202'] .residing").await,
        "1"
    );
    b.goto(&format!(
        "{base}/queries/flows?purpose=流动分析&from=2026-01-01&to=2026-12-31"
    ))
    .await
    .unwrap();
    let matrix = text(&b, "#flows-matrix").await;
    let table = rows_of(&b, "#flows-table").await;
    assert!(matrix.contains("<5"), "{matrix}");
    assert_eq!(table.len(), 2, "{table:?}");
    assert!(table.iter().all(|row| row.ends_with("<5")), "{table:?}");
    b.goto(&format!("{base}/queries")).await.unwrap();
    fill(&b, "#locate-purpose", "核实居住地").await;
    fill(&b, "#locate-resident-id", &both).await;
    click(&b, "#locate-submit").await;
    assert_eq!(text(&b, "#located-id").await, both);
    let residing = text(&b, "#located-residing").await;
    assert!(
        residing.contains(WUDU) && residing.contains(CHENGGUAN),
        "{residing}"
    );
    assert!(
        !b.current_url().await.unwrap().as_str().contains(&both),
        "the resident ID stays out of the address"
    );
    let entries = audit_log(&province).await;
    for (action, purpose) in [
        ("counts", "人数核对"),
        ("flows", "流动分析"),
        ("locate", "核实居住地"),
    ] {
        assert!(
            entries
                .iter()
                .any(|e| e[0] == "李督导" && e[1] == action && e[2] == purpose),
            "{action}: {entries:?}"
        );
    }

    // A viewer reads the findings but is offered no action, and a post of it (with the viewer's
    // own valid session and token) is refused.
    let viewer = mpx_tests::http::sign_in(console, "registry", "赵查看", PASSWORD).unwrap();
    let listed = mpx_tests::http::request(
        console,
        "GET",
        "/queries/conflicts?purpose=%E6%9F%A5%E7%9C%8B",
        &viewer,
        "",
    )
    .unwrap();
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(listed.body.contains(&both) && !listed.body.contains("open-cases-form"));
    let csrf = mpx_tests::http::csrf_field(&listed.body).unwrap();
    let refused = mpx_tests::http::request(
        console,
        "POST",
        "/queries/open-cases",
        &viewer,
        &format!("csrf={csrf}&finding=conflicts&min_days=0&people={both}&purpose=x"),
    )
    .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("无权"), "{}", refused.body);

    // The supervisor opens them: one case for each county listing the person.
    b.goto(&format!("{base}/queries/conflicts?purpose={purpose}"))
        .await
        .unwrap();
    assert_eq!(
        wait_for(&b, "#open-cases-purpose")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(purpose),
        "the query's purpose, to keep or change"
    );
    click(&b, "#open-cases").await;
    assert_eq!(text(&b, "#opened-count").await, "2");
    assert_eq!(text(&b, "#skipped-count").await, "0");
    let by_county = text(&b, "#opened-by-county").await;
    assert!(
        by_county.contains(WUDU) && by_county.contains(CHENGGUAN),
        "{by_county}"
    );
    let mut opened = Vec::new();
    for row in rows_of(&b, "#opened-cases").await {
        let case_id = row.split_whitespace().next().unwrap().to_string();
        let county = if row.contains(CHENGGUAN) {
            CHENGGUAN
        } else {
            WUDU
        };
        opened.push((case_id, county));
    }
    assert_eq!(opened.len(), 2, "{opened:?}");
    for (case_id, county) in &opened {
        wait_for_state(&province, county, case_id, CaseState::Delivered).await;
        let case = province
            .node(county)
            .cases()
            .await
            .get_case(GetCaseRequest {
                case_id: case_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap();
        assert_eq!(case.requester_county, "620000", "the province asks");
        assert_eq!(case.resident_id, both);
    }
    let entries = audit_log(&province).await;
    assert!(
        entries
            .iter()
            .any(|e| e[0] == "李督导" && e[1] == "open cases for conflicts" && e[2] == purpose),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e[0] != "赵查看" || e[1] == "conflicts"),
        "the viewer's refused post opened nothing: {entries:?}"
    );
    let mut verify = province.registry_cli();
    verify.args(["audit", "verify"]);
    assert!(mpx_tests::run_ok(verify).contains("audit log intact"));
    b.close().await.unwrap();
}

/// The ids of the alerts table's rows (`alert-N`), top to bottom.
async fn alert_rows(b: &Client) -> Vec<(String, Option<String>)> {
    let mut rows = Vec::new();
    for row in b
        .find_all(Locator::Css("#alerts-table tbody tr"))
        .await
        .unwrap()
    {
        rows.push((
            row.text().await.unwrap(),
            row.attr("data-kind").await.unwrap(),
        ));
    }
    rows
}

#[tokio::test]
async fn the_alerts_page_gets_new_alerts_live_and_its_filter_narrows_them() {
    let driver = Driver::start();
    // Disputes at once (no grace period) and a scan every second.
    let mut province = Province::start_with(
        &[WUDU, LINXIA, CHENGGUAN],
        ProvinceOptions {
            registry_env: vec![
                ("MPX_RECONCILE_GRACE_MINUTES".into(), "0".into()),
                ("MPX_ALERT_SCAN_SECONDS".into(), "1".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    province.add_registry_console_operator("李督导", "supervisor", PASSWORD);
    let console = province
        .registry_console
        .expect("the registry serves its console");
    let base = format!("http://{console}");
    let b = driver.browser().await;
    sign_in(&b, console, "李督导", PASSWORD).await;
    click(&b, "#nav-alerts").await;
    wait_for(&b, "#alert-filter").await;
    assert!(alert_rows(&b).await.is_empty(), "nothing has happened yet");
    // The script has opened the stream.
    wait_until(WAIT, "the page to say live updates are on", || async {
        wait_for(&b, "#alerts-live-note")
            .await
            .is_displayed()
            .await
            .unwrap()
    })
    .await;

    // Two answers the requester never receives (it is down): each case is disputed, one about
    // 621221, one about 620102.
    let to_linxia = open(&province, LINXIA, 41).await;
    let to_chengguan = open(&province, CHENGGUAN, 42).await;
    for case in [&to_linxia, &to_chengguan] {
        wait_for_state(&province, WUDU, &case.case_id, CaseState::Delivered).await;
    }
    province.stop_node(WUDU);
    for (county, case) in [(LINXIA, &to_linxia), (CHENGGUAN, &to_chengguan)] {
        province
            .node(county)
            .cases()
            .await
            .respond_case(RespondCaseRequest {
                case_id: case.case_id.clone(),
                answer: "经核实，该人员仍在本辖区居住".into(),
                verdict: 0,
            })
            .await
            .unwrap();
    }
    // They arrive on the page without a reload.
    let mut rows = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while rows.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no live rows within 90 s: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        rows = alert_rows(&b).await;
    }
    let live = rows
        .iter()
        .map(|(text, _)| text.as_str())
        .collect::<Vec<_>>();
    assert!(
        live.iter().any(|row| row.contains(&to_linxia.case_id)),
        "{live:?}"
    );
    assert!(
        live.iter().all(|row| row.contains("双方记录不一致")),
        "{live:?}"
    );
    assert!(text(&b, "#alerts-status").await.contains("新预警"));

    // Reloaded, the list has them; the filter (a GET form) narrows it to one county's dispute.
    b.goto(&format!("{base}/alerts")).await.unwrap();
    let listed = alert_rows(&b).await;
    assert!(listed.len() >= 2, "{listed:?}");
    screenshot(&b, "province-alerts").await;
    wait_for(&b, "#alert-county")
        .await
        .select_by_value(LINXIA)
        .await
        .unwrap();
    wait_for(&b, "#alert-kind")
        .await
        .select_by_value("DISPUTED")
        .await
        .unwrap();
    click(&b, "#filter").await;
    wait_until(WAIT, "the filtered page", || async {
        browser::path(&b).await.contains("county=621221")
    })
    .await;
    let narrowed = alert_rows(&b).await;
    assert_eq!(narrowed.len(), 1, "{narrowed:?}");
    assert!(narrowed[0].0.contains(&to_linxia.case_id), "{narrowed:?}");
    assert_eq!(narrowed[0].1.as_deref(), Some("DISPUTED"));
    // Another kind: none, said in words.
    b.goto(&format!("{base}/alerts?county={LINXIA}&kind=OVERDUE"))
        .await
        .unwrap();
    assert!(
        wait_for(&b, "#no-alerts")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    assert!(alert_rows(&b).await.is_empty());
    // A filter that is not one: said beside its field.
    b.goto(&format!("{base}/alerts?county=62&kind=LATE"))
        .await
        .unwrap();
    assert!(text(&b, "#alert-county-error").await.contains("621202"));
    assert!(text(&b, "#alert-kind-error").await.contains("OVERDUE"));
    b.close().await.unwrap();
}
