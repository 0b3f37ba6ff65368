//! The county web console in a real browser (headless chromium through chromedriver), against
//! real nodes over mTLS: a clerk works a case from the inbox to the answer, which arrives in the
//! requester county's console; bad input is refused beside its field and stores nothing; forged
//! posts, another node's session, a viewer's action and an ended session are refused.
//! Screenshots of the main pages go to target/tmp/screenshots/, and to docs/screenshots/ (the
//! README's) with `MPX_UPDATE_SCREENSHOTS=1`.
#![allow(clippy::unwrap_used)]

#[path = "console/browser.rs"]
mod browser;

use fantoccini::Locator;
use mpx_proto::v1::{
    CaseDirection, CaseKind, CasePriority, CaseState, ListCasesRequest, OpenCaseRequest,
};
use mpx_tests::cases::case_at;
use mpx_tests::{Province, resident_id, wait_for_state};

use browser::{Driver, body_text, click, fill, has, path, screenshot, sign_in, text};

const WUDU: &str = "621202";
const LINXIA: &str = "621221";
const CHENGGUAN: &str = "620102";
const PASSWORD: &str = "控制台测试口令-2026";

/// A verification from Wudu to Linxia, delivered there.
async fn delivered_request(province: &Province, seq: u32) -> String {
    let case = province
        .node(WUDU)
        .cases()
        .await
        .open_case(OpenCaseRequest {
            kind: CaseKind::Verification as i32,
            recipient_county: LINXIA.into(),
            priority: CasePriority::Normal as i32,
            resident_id: resident_id(LINXIA, seq),
            subject_name: "张三".into(),
            questions: "请核实此人是否仍在贵县居住".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    wait_for_state(province, LINXIA, &case.case_id, CaseState::Delivered).await;
    case.case_id
}

async fn state_at(province: &Province, county: &str, case_id: &str) -> CaseState {
    mpx_tests::case_state(province, county, case_id)
        .await
        .unwrap()
}

async fn outbound_count(province: &Province, county: &str) -> usize {
    province
        .node(county)
        .cases()
        .await
        .list_cases(ListCasesRequest {
            direction: CaseDirection::Outbound as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases
        .len()
}

#[tokio::test]
async fn a_clerk_works_a_case_from_inbox_to_answer_in_the_browser() {
    let driver = Driver::start();
    let province = Province::start(&[WUDU, LINXIA]).await;
    let (wudu, linxia) = (province.node(WUDU), province.node(LINXIA));
    wudu.add_console_operator("李明", "clerk", PASSWORD);
    linxia.add_console_operator("王芳", "clerk", PASSWORD);
    let case_id = delivered_request(&province, 7).await;
    let (wudu_console, linxia_console) = (wudu.console.unwrap(), linxia.console.unwrap());
    let b = driver.browser().await;

    // Sign in at Linxia: the start page counts the request awaiting acceptance.
    sign_in(&b, linxia_console, "王芳", PASSWORD).await;
    assert_eq!(path(&b).await, "/");
    assert_eq!(text(&b, "#operator").await, "王芳");
    assert_eq!(text(&b, "#tile-awaiting .count").await, "1");
    assert_eq!(text(&b, "#tile-overdue .count").await, "0");
    let html_lang = b
        .find(Locator::Css("html"))
        .await
        .unwrap()
        .attr("lang")
        .await
        .unwrap();
    assert_eq!(html_lang.as_deref(), Some("zh-CN"));
    screenshot(&b, "start").await;

    // The inbox, filtered from the tile: the case with its working days left as a number.
    click(&b, "#tile-awaiting").await;
    browser::wait_for(&b, "#cases-total").await;
    assert_eq!(path(&b).await, "/inbox?state=delivered");
    let row = format!("#case-{case_id}");
    let days = text(&b, &format!("{row} td.days")).await;
    let days: i32 = days
        .parse()
        .unwrap_or_else(|_| panic!("days left {days:?}"));
    assert!(
        (1..=20).contains(&days),
        "a normal request has up to 20 working days: {days}"
    );
    let masked = mpx_proto::resident_id::mask(&resident_id(LINXIA, 7));
    assert_eq!(text(&b, &format!("{row} td.id")).await, masked);
    assert!(text(&b, &row).await.contains("武都区"));
    screenshot(&b, "inbox").await;

    // Open it, accept, answer (each a POST answered with a redirect).
    click(&b, &format!("{row} a")).await;
    assert_eq!(text(&b, "#masked-id").await, masked);
    click(&b, "#do-accept").await;
    browser::wait_for(&b, "#done").await;
    assert_eq!(path(&b).await, format!("/cases/{case_id}?done=1"));
    assert_eq!(
        state_at(&province, LINXIA, &case_id).await,
        CaseState::Accepted
    );
    assert!(
        !has(&b, "#do-accept").await,
        "accepted: accept is no longer offered"
    );
    screenshot(&b, "case").await;
    let answer = "经核实，此人仍在本县居住。";
    fill(&b, "#answer-text", answer).await;
    click(&b, "#do-respond").await;
    assert_eq!(text(&b, "#answer").await, answer);

    // The full ID only for a purpose, as its own audited read.
    fill(&b, "#reveal-purpose", "核实身份").await;
    click(&b, "#do-reveal").await;
    assert_eq!(text(&b, "#full-id").await, resident_id(LINXIA, 7));

    // The console's reads are in the audit log under the clerk's name, as the CLI's are.
    let audit = linxia.cli_output(&["audit"]);
    assert!(
        audit
            .lines()
            .any(|line| line.contains("王芳") && line.contains("cases.get")),
        "{audit}"
    );
    assert!(
        audit
            .lines()
            .any(|line| line.contains("cases.reveal_id") && line.contains("核实身份")),
        "{audit}"
    );

    // The answer arrives in Wudu's console (the same browser keeps both counties' sessions).
    wait_for_state(&province, WUDU, &case_id, CaseState::Responded).await;
    sign_in(&b, wudu_console, "李明", PASSWORD).await;
    assert_eq!(
        text(&b, "#tile-answers .count").await,
        "1",
        "answered since the last visit"
    );
    sign_in(&b, wudu_console, "李明", PASSWORD).await;
    assert_eq!(
        text(&b, "#tile-answers .count").await,
        "0",
        "seen at the previous visit"
    );
    b.goto(&format!("http://{wudu_console}/outbox"))
        .await
        .unwrap();
    click(&b, &format!("#case-{case_id} a")).await;
    assert_eq!(text(&b, "#answer").await, answer);
    assert!(has(&b, "#do-close").await);
    // Linxia's signed receipt, acceptance and answer, each verified now against its certificate.
    let checks = b
        .find_all(Locator::Css("#evidence td.check"))
        .await
        .unwrap();
    let mut verified = Vec::new();
    for check in &checks {
        verified.push((
            check.attr("class").await.unwrap().unwrap_or_default(),
            check.text().await.unwrap(),
        ));
    }
    assert_eq!(verified.len(), 3, "{verified:?}");
    assert!(
        verified
            .iter()
            .all(|(class, text)| class.contains("ok") && text == "签名有效"),
        "{verified:?}"
    );
    assert!(
        text(&b, "#evidence").await.contains("（621221）"),
        "signed by the recipient"
    );
    b.execute(
        "document.getElementById('evidence').scrollIntoView({block: 'center'});",
        vec![],
    )
    .await
    .unwrap();
    screenshot(&b, "case-evidence").await;
    // The printable view: the same case without navigation or forms, signed by who printed it.
    click(&b, "#print-view").await;
    browser::wait_for(&b, "#printed-by").await;
    assert_eq!(path(&b).await, format!("/cases/{case_id}/print"));
    assert_eq!(text(&b, "#answer").await, answer);
    assert!(text(&b, "#printed-by").await.contains("李明"));
    assert!(!has(&b, "nav").await && !has(&b, "form").await);

    // A bad resident ID in a new request: the Chinese message beside the field, nothing stored.
    let before = outbound_count(&province, WUDU).await;
    b.goto(&format!("http://{wudu_console}/cases/new"))
        .await
        .unwrap();
    b.find(Locator::Css("#recipient_county"))
        .await
        .unwrap()
        .select_by_value(LINXIA)
        .await
        .unwrap();
    let mut bad_id = resident_id(LINXIA, 8);
    bad_id.pop();
    bad_id.push(if resident_id(LINXIA, 8).ends_with('0') {
        '1'
    } else {
        '0'
    });
    fill(&b, "#resident_id", &bad_id).await;
    fill(&b, "#subject_name", "李四").await;
    fill(&b, "#questions", "请核实户籍").await;
    click(&b, "#submit-request").await;
    let error = text(&b, "#resident_id-error").await;
    assert!(error.contains("应为18位公民身份号码"), "{error}");
    assert!(has(&b, "#form-error").await);
    let kept = b
        .find(Locator::Css("#resident_id"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some(bad_id.as_str()),
        "the form keeps what was typed"
    );
    assert_eq!(
        outbound_count(&province, WUDU).await,
        before,
        "nothing stored"
    );

    // The same form, corrected, opens the request.
    fill(&b, "#resident_id", &resident_id(LINXIA, 8)).await;
    click(&b, "#submit-request").await;
    browser::wait_for(&b, "#done").await;
    assert_eq!(outbound_count(&province, WUDU).await, before + 1);
    b.close().await.unwrap();
}

/// Submits the first form posting to `action` with its CSRF field set to `csrf` (or removed),
/// as a forged or stale page would.
async fn post_with_csrf(b: &fantoccini::Client, action: &str, csrf: Option<&str>) {
    let script = r#"
        const [action, csrf] = arguments;
        let form = document.querySelector(`form[action="${action}"]`);
        if (!form) {
            form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            document.body.appendChild(form);
        }
        for (const old of form.querySelectorAll('input[name=csrf]')) { old.remove(); }
        if (csrf !== null) {
            const input = document.createElement('input');
            input.type = 'hidden'; input.name = 'csrf'; input.value = csrf;
            form.appendChild(input);
        }
        form.submit();
    "#;
    b.execute(
        script,
        vec![
            action.into(),
            csrf.map_or(serde_json::Value::Null, Into::into),
        ],
    )
    .await
    .unwrap();
    // Wait for the answer page to replace this one.
    for _ in 0..100 {
        if !has(b, &format!("form[action=\"{action}\"]")).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn session_cookie(b: &fantoccini::Client, county: &str) -> String {
    b.get_named_cookie(&format!("mpx_session_{county}"))
        .await
        .unwrap()
        .value()
        .to_string()
}

#[tokio::test]
async fn the_console_refuses_forged_posts_foreign_sessions_viewers_and_ended_sessions() {
    let driver = Driver::start();
    let province = Province::start(&[WUDU, LINXIA]).await;
    let (wudu, linxia) = (province.node(WUDU), province.node(LINXIA));
    wudu.add_console_operator("李明", "clerk", PASSWORD);
    linxia.add_console_operator("王芳", "clerk", PASSWORD);
    linxia.add_console_operator("赵敏", "viewer", PASSWORD);
    let case_id = delivered_request(&province, 11).await;
    let (wudu_console, linxia_console) = (wudu.console.unwrap(), linxia.console.unwrap());
    let b = driver.browser().await;
    let accept = format!("/cases/{case_id}/accept");

    // A session of Wudu's node is no session at Linxia's, whatever the cookie is called.
    sign_in(&b, wudu_console, "李明", PASSWORD).await;
    assert_eq!(path(&b).await, "/");
    let wudu_session = session_cookie(&b, WUDU).await;
    b.goto(&format!("http://{linxia_console}/inbox"))
        .await
        .unwrap();
    assert_eq!(
        path(&b).await,
        "/sign-in",
        "Wudu's cookie does not sign in at Linxia"
    );
    browser::plant_cookie(&b, &format!("mpx_session_{LINXIA}"), &wudu_session).await;
    b.goto(&format!("http://{linxia_console}/inbox"))
        .await
        .unwrap();
    assert_eq!(
        path(&b).await,
        "/sign-in",
        "Wudu's session id is unknown at Linxia"
    );

    // A POST without the CSRF token, or with a wrong one, is refused and changes nothing.
    sign_in(&b, linxia_console, "王芳", PASSWORD).await;
    assert_eq!(path(&b).await, "/");
    for csrf in [None, Some("0".repeat(64).as_str())] {
        b.goto(&format!("http://{linxia_console}/cases/{case_id}"))
            .await
            .unwrap();
        post_with_csrf(&b, &accept, csrf).await;
        let page = body_text(&b).await;
        assert!(page.contains("防伪令牌"), "{csrf:?}: {page}");
    }
    assert_eq!(
        state_at(&province, LINXIA, &case_id).await,
        CaseState::Delivered
    );

    // Sign-out ends the session: its id no longer signs anybody in.
    let clerk_session = session_cookie(&b, LINXIA).await;
    b.goto(&format!("http://{linxia_console}/")).await.unwrap();
    click(&b, "#sign-out").await;
    browser::wait_for(&b, "#sign-in").await;
    assert_eq!(path(&b).await, "/sign-in");
    browser::plant_cookie(&b, &format!("mpx_session_{LINXIA}"), &clerk_session).await;
    b.goto(&format!("http://{linxia_console}/")).await.unwrap();
    assert!(path(&b).await.starts_with("/sign-in"), "{}", path(&b).await);

    // A viewer reads the case but is offered no action, and a forged action is refused.
    sign_in(&b, linxia_console, "赵敏", PASSWORD).await;
    b.goto(&format!("http://{linxia_console}/cases/{case_id}"))
        .await
        .unwrap();
    assert!(has(&b, "#masked-id").await);
    assert!(!has(&b, "#do-accept").await);
    assert!(!has(&b, "a[href=\"/cases/new\"]").await);
    let viewer_csrf = b
        .find(Locator::Css("form[action=\"/sign-out\"] input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    post_with_csrf(&b, &accept, Some(&viewer_csrf)).await;
    let page = body_text(&b).await;
    assert!(page.contains("不能办理此操作"), "{page}");
    assert_eq!(
        state_at(&province, LINXIA, &case_id).await,
        CaseState::Delivered
    );
    b.goto(&format!("http://{linxia_console}/")).await.unwrap();
    click(&b, "#sign-out").await;

    // Five wrong passwords lock the account, even against the right one, as a security event.
    for attempt in 1..=5 {
        sign_in(&b, linxia_console, "王芳", "wrong password").await;
        let error = text(&b, "#sign-in-error").await;
        let expected = if attempt < 5 {
            "用户名或密码错误"
        } else {
            "已锁定"
        };
        assert!(error.contains(expected), "attempt {attempt}: {error}");
    }
    sign_in(&b, linxia_console, "王芳", PASSWORD).await;
    assert!(text(&b, "#sign-in-error").await.contains("已锁定"));
    let events = linxia.cli_output(&["security-events"]);
    assert!(events.contains("console_sign_in_locked"), "{events}");
    let listed = linxia.cli_output(&["operator", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("王芳") && l.contains("until")),
        "{listed}"
    );

    // An admin unlocks the clerk and adds an operator from the console; a clerk may not.
    linxia.add_console_operator("周强", "admin", PASSWORD);
    sign_in(&b, linxia_console, "周强", PASSWORD).await;
    click(&b, "a[href=\"/operators\"]").await;
    click(&b, "button.unlock").await;
    browser::wait_for(&b, "#done").await;
    fill(&b, "#op-name", "钱七").await;
    b.find(Locator::Css("#op-role"))
        .await
        .unwrap()
        .select_by_value("viewer")
        .await
        .unwrap();
    fill(&b, "#op-password", "short").await;
    fill(&b, "#op-password-again", "short").await;
    click(&b, "#add-operator").await;
    let error = text(&b, "#password-error").await;
    assert!(error.contains("密码至少10个字符"), "{error}");
    fill(&b, "#op-password", PASSWORD).await;
    fill(&b, "#op-password-again", PASSWORD).await;
    click(&b, "#add-operator").await;
    browser::wait_for(&b, "#done").await;
    let events = linxia.cli_output(&["security-events"]);
    assert!(
        events.contains("console_operator_changed") && events.contains("钱七"),
        "{events}"
    );
    sign_in(&b, linxia_console, "钱七", PASSWORD).await;
    assert_eq!(text(&b, "#operator").await, "钱七");
    assert!(!has(&b, "a[href=\"/operators\"]").await);
    sign_in(&b, linxia_console, "王芳", PASSWORD).await;
    assert_eq!(path(&b).await, "/", "unlocked by the admin");
    b.goto(&format!("http://{linxia_console}/operators"))
        .await
        .unwrap();
    assert!(body_text(&b).await.contains("不能办理此操作"));
    b.close().await.unwrap();
}

#[tokio::test]
async fn given_a_certificate_the_console_serves_https_with_secure_cookies() {
    let driver = Driver::start();
    let mut province = Province::start(&[WUDU]).await;
    province.stop_node(WUDU);
    let data_dir = province.node(WUDU).data_dir.clone();
    let config_path = data_dir.join("node.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    // Top-level keys go before the first [table] of the file.
    let tls = format!(
        "console_certificate = {:?}\nconsole_key = {:?}\n",
        data_dir.join("tls/node.crt"),
        data_dir.join("tls/node.key")
    );
    std::fs::write(&config_path, format!("{tls}{config}")).unwrap();
    province.start_node(WUDU).await;
    let wudu = province.node(WUDU);
    wudu.add_console_operator("李明", "clerk", PASSWORD);
    let console = wudu.console.unwrap();
    let b = driver.browser().await;

    browser::sign_in_at(&b, &format!("https://{console}"), "李明", PASSWORD).await;
    assert_eq!(text(&b, "#operator").await, "李明");
    let cookie = b
        .get_named_cookie(&format!("mpx_session_{WUDU}"))
        .await
        .unwrap();
    assert_eq!(
        cookie.secure(),
        Some(true),
        "a session cookie under TLS is Secure"
    );
    assert_eq!(cookie.http_only(), Some(true));

    // The same port does not answer plain HTTP with a page.
    b.goto(&format!("http://{console}/sign-in")).await.ok();
    assert!(
        !has(&b, "#sign-in").await,
        "plain HTTP must not reach the console"
    );
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_clerk_asks_for_more_time_the_requester_grants_it_and_a_case_is_redirected() {
    let driver = Driver::start();
    let province = Province::start(&[WUDU, LINXIA, CHENGGUAN]).await;
    let (wudu, linxia) = (province.node(WUDU), province.node(LINXIA));
    wudu.add_console_operator("李明", "clerk", PASSWORD);
    linxia.add_console_operator("王芳", "clerk", PASSWORD);
    let extended = delivered_request(&province, 21).await;
    let misrouted = delivered_request(&province, 22).await;
    let (wudu_console, linxia_console) = (wudu.console.unwrap(), linxia.console.unwrap());
    let b = driver.browser().await;
    sign_in(&b, linxia_console, "王芳", PASSWORD).await;

    // Not a number of days: the service's refusal on the page, nothing changed.
    b.goto(&format!("http://{linxia_console}/cases/{extended}"))
        .await
        .unwrap();
    fill(&b, "#extend-days", "五天").await;
    click(&b, "#do-extend").await;
    let refusal = text(&b, "#action-error").await;
    assert!(
        refusal.contains("延期工作日数应为1到60之间的整数"),
        "{refusal}"
    );
    assert_eq!(
        case_at(&province, LINXIA, &extended).await.extension_state,
        ""
    );

    // Ask for five more working days; Wudu's clerk grants them.
    fill(&b, "#extend-days", "5").await;
    fill(&b, "#extend-text", "需赴外地核实").await;
    click(&b, "#do-extend").await;
    browser::wait_for(&b, "#done").await;
    assert!(!has(&b, "#do-extend").await, "one request at a time");
    mpx_tests::wait_until(mpx_tests::WAIT, "the extension request at Wudu", || async {
        case_at(&province, WUDU, &extended).await.extension_state == "requested"
    })
    .await;
    sign_in(&b, wudu_console, "李明", PASSWORD).await;
    b.goto(&format!("http://{wudu_console}/cases/{extended}"))
        .await
        .unwrap();
    fill(&b, "#grant-text", "同意").await;
    click(&b, "#do-grant").await;
    browser::wait_for(&b, "#done").await;
    assert!(!text(&b, "#extended-due").await.is_empty());
    assert_eq!(
        case_at(&province, WUDU, &extended).await.extension_state,
        "granted"
    );

    // Linxia redirects the other request to Chengguan, chosen by name.
    b.goto(&format!("http://{linxia_console}/cases/{misrouted}"))
        .await
        .unwrap();
    let option = b
        .find(Locator::Css(&format!(
            "#redirect-county option[value=\"{CHENGGUAN}\"]"
        )))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(option.contains("城关区"), "{option}");
    b.find(Locator::Css("#redirect-county"))
        .await
        .unwrap()
        .select_by_value(CHENGGUAN)
        .await
        .unwrap();
    fill(&b, "#redirect-text", "非本县户籍，应由城关区核实").await;
    click(&b, "#do-redirect").await;
    browser::wait_for(&b, "#done").await;
    wait_for_state(&province, WUDU, &misrouted, CaseState::Redirected).await;

    // The alerts page lists what the monitor raised (or says there is none).
    b.goto(&format!("http://{linxia_console}/alerts"))
        .await
        .unwrap();
    browser::wait_for(&b, "#no-alerts, table.alerts").await;
    b.close().await.unwrap();
}

/// A residence notice from Wudu about a person whose hukou is `hukou` (queued for that county).
async fn notice_to(province: &Province, hukou: &str, seq: u32) {
    province
        .node(WUDU)
        .records()
        .await
        .create_person(mpx_proto::v1::CreatePersonRequest {
            person: Some(mpx_proto::v1::Person {
                resident_id: resident_id(hukou, seq),
                name: "测试人员".into(),
                hukou_county: hukou.into(),
                residence_address: "城关镇人民路12号".into(),
                arrival_date: "2026-03-01".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_new_alert_appears_on_the_open_alerts_page_without_a_reload() {
    let driver = Driver::start();
    let mut province = Province::start(&[WUDU, LINXIA]).await;
    let wudu = province.node(WUDU);
    wudu.add_console_operator("李明", "clerk", PASSWORD);
    let console = wudu.console.unwrap();
    let b = driver.browser().await;
    sign_in(&b, console, "李明", PASSWORD).await;
    b.goto(&format!("http://{console}/alerts")).await.unwrap();
    // The script connected its stream (it shows the note only then); nothing is open yet.
    browser::wait_for(&b, "#alerts-live-note:not([hidden])").await;
    assert!(has(&b, "#no-alerts:not([hidden])").await);
    assert!(!has(&b, "#alerts-table tbody tr").await);
    assert_eq!(text(&b, "#nav-alert-count").await, "0");
    // Gone if the page reloads: the row must come from the stream, not from a new page.
    b.execute("window.mpxSamePage = true;", vec![])
        .await
        .unwrap();

    // A notice to Chengguan, which is not enrolled: held, and a NO_ROUTE alert within a tick.
    notice_to(&province, CHENGGUAN, 31).await;
    let row = "#alerts-table tbody tr";
    mpx_tests::wait_until(
        mpx_tests::WAIT,
        "the new alert's row on the open page",
        || async { has(&b, row).await },
    )
    .await;
    let same_page = b
        .execute("return window.mpxSamePage === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        same_page,
        serde_json::Value::Bool(true),
        "the page reloaded"
    );
    let shown = text(&b, row).await;
    assert!(
        shown.contains("无路由") && shown.contains("城关区（620102）"),
        "{shown}"
    );
    assert!(!has(&b, "#alerts-table[hidden]").await);
    assert_eq!(text(&b, "#nav-alert-count").await, "1", "the nav counts it");
    assert!(has(&b, "#no-alerts[hidden]").await);
    let announced = text(&b, "#alerts-status").await;
    assert!(
        announced.starts_with("新提醒：") && announced.contains("城关区"),
        "{announced}"
    );

    // The same row without the script: the server-rendered list after a reload.
    let id = b
        .find(Locator::Css(row))
        .await
        .unwrap()
        .attr("id")
        .await
        .unwrap()
        .unwrap();
    b.refresh().await.unwrap();
    assert!(text(&b, &format!("#{id}")).await.contains("城关区"));

    // Signed out elsewhere (here: by a request of the page's own), the stream ends and the page
    // says live updates stopped.
    browser::wait_for(&b, "#alerts-live-note:not([hidden])").await;
    b.execute(
        r#"const csrf = document.querySelector('form[action="/sign-out"] input[name=csrf]').value;
           fetch('/sign-out', {method: 'POST', body: new URLSearchParams({csrf})});"#,
        vec![],
    )
    .await
    .unwrap();
    mpx_tests::wait_until(
        mpx_tests::WAIT,
        "the page to say live updates stopped",
        || async { text(&b, "#alerts-status").await.contains("实时更新已停止") },
    )
    .await;

    // The open stream does not hold the node up when it stops.
    sign_in(&b, console, "李明", PASSWORD).await;
    b.goto(&format!("http://{console}/alerts")).await.unwrap();
    browser::wait_for(&b, "#alerts-live-note:not([hidden])").await;
    let stopping = std::time::Instant::now();
    province.stop_node(WUDU);
    assert!(
        stopping.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        stopping.elapsed()
    );
    let log = std::fs::read_to_string(province.node(WUDU).data_dir.join("node.log")).unwrap();
    assert!(!log.contains("did not stop"), "{log}");
    b.close().await.unwrap();
}

#[tokio::test]
async fn the_directory_page_lists_counties_with_their_queues_and_the_nodes_health() {
    let driver = Driver::start();
    let mut province = Province::start(&[WUDU, LINXIA]).await;
    province
        .node(WUDU)
        .add_console_operator("李明", "viewer", PASSWORD);
    // Linxia is enrolled but down: what Wudu sends it waits in the outbox. Chengguan is not
    // enrolled: held for want of a route.
    province.stop_node(LINXIA);
    notice_to(&province, LINXIA, 41).await;
    notice_to(&province, LINXIA, 42).await;
    notice_to(&province, CHENGGUAN, 43).await;
    let console = province.node(WUDU).console.unwrap();
    let b = driver.browser().await;
    sign_in(&b, console, "李明", PASSWORD).await;
    click(&b, "#nav-directory").await;
    browser::wait_for(&b, "#node-health").await;
    assert_eq!(path(&b).await, "/directory");

    let linxia = format!("#county-{LINXIA}");
    // 621221 is 成县 in GB/T 2260 (the constant's name is only a label).
    assert_eq!(text(&b, &format!("{linxia} .name")).await, "成县");
    assert_eq!(text(&b, &format!("{linxia} .depth")).await, "2");
    assert_eq!(
        text(&b, &format!("{linxia} .state")).await,
        "已接入，可送达"
    );
    let chengguan = format!("#county-{CHENGGUAN}");
    assert_eq!(text(&b, &format!("{chengguan} .name")).await, "城关区");
    assert_eq!(text(&b, &format!("{chengguan} .depth")).await, "1");
    assert!(
        text(&b, &format!("{chengguan} .state"))
            .await
            .contains("无路由"),
    );
    assert_eq!(text(&b, &format!("#county-{WUDU} .name")).await, "武都区");
    assert_eq!(text(&b, &format!("#county-{WUDU} .state")).await, "本节点");
    assert_eq!(text(&b, &format!("#county-{WUDU} .depth")).await, "0");

    // The node's own health: the registry answered (the directory refresh calls it every
    // second here), a directory is in force, and the certificate's expiry as a Chinese date.
    assert_eq!(text(&b, "#registry-state").await, "可连接");
    let version = text(&b, "#directory-version").await;
    assert!(version.contains("签发"), "{version}");
    let expiry = text(&b, "#certificate-expiry").await;
    let (year, rest) = expiry
        .split_once('年')
        .unwrap_or_else(|| panic!("{expiry}"));
    let (month, rest) = rest.split_once('月').unwrap_or_else(|| panic!("{expiry}"));
    let day = rest
        .strip_suffix('日')
        .unwrap_or_else(|| panic!("{expiry}"));
    let expires = jiff::civil::date(
        year.parse().unwrap(),
        month.parse().unwrap(),
        day.parse().unwrap(),
    );
    let today = mpx_proto::time::date_of_unix_ms(jiff::Timestamp::now().as_millisecond()).unwrap();
    assert!(
        expires > today && expires < today.checked_add(jiff::Span::new().days(400)).unwrap(),
        "a certificate issued for a year at enrolment: {expiry}"
    );
    assert!(text(&b, "#certificate-note").await.contains("天后到期"));
    screenshot(&b, "directory").await;

    // In English: the same facts, dates as ISO 8601, no full-width punctuation.
    b.goto(&format!("http://{console}/directory?lang=en"))
        .await
        .unwrap();
    assert_eq!(text(&b, "#registry-state").await, "reachable");
    let expiry_en = text(&b, "#certificate-expiry").await;
    assert_eq!(expiry_en, expires.to_string());
    assert_eq!(
        text(&b, &format!("{linxia} .state")).await,
        "enrolled, endpoint known"
    );
    let note = text(&b, "#certificate-note").await;
    assert!(note.starts_with(" (") || note.starts_with('('), "{note}");
    assert!(note.ends_with("days left)"), "{note}");
    b.close().await.unwrap();
}
