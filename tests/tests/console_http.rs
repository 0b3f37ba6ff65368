//! The console against hostile or broken requests, over plain HTTP/1.1 from a socket (no
//! browser): malformed forms, bodies past the limit, odd paths and query strings, markup in
//! parameters, wrong content types. Each gets a page with a Chinese message and the right
//! status, never a crash, a dropped connection or echoed markup; every answer carries the
//! content security policy.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use mpx_tests::Province;

const WUDU: &str = "621202";
const PASSWORD: &str = "控制台测试口令-2026";

/// One HTTP/1.1 exchange: (status, headers, body).
fn http(
    console: SocketAddr,
    method: &str,
    target: &str,
    cookies: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(console).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {console}\r\nConnection: close\r\nAccept-Language: zh-CN\r\nCookie: {cookies}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A server may answer (and close) before reading a body past its limit.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).to_string();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    (status, head.to_string(), body.to_string())
}

fn get(console: SocketAddr, target: &str, cookies: &str) -> (u16, String, String) {
    http(console, "GET", target, cookies, "text/plain", b"")
}

fn post(console: SocketAddr, target: &str, cookies: &str, body: &str) -> (u16, String, String) {
    let form = "application/x-www-form-urlencoded";
    http(console, "POST", target, cookies, form, body.as_bytes())
}

/// The value of a `Set-Cookie` of `name` in response headers.
fn set_cookie(head: &str, name: &str) -> String {
    head.lines()
        .filter_map(|line| line.strip_prefix("set-cookie: "))
        .find_map(|cookie| cookie.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {head}"))
        .to_string()
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_field(body: &str) -> String {
    let start = body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    body[start..start + 64].to_string()
}

#[tokio::test]
async fn the_console_answers_broken_and_hostile_requests_with_a_page_never_a_crash() {
    let province = Province::start(&[WUDU]).await;
    let wudu = province.node(WUDU);
    wudu.add_console_operator("李明", "clerk", PASSWORD);
    let console = wudu.console.unwrap();

    // Signing in: the form's CSRF token must come back with it (double submit).
    let (status, head, body) = get(console, "/sign-in", "");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(
        !head.contains("strict-transport-security"),
        "HSTS only over TLS: {head}"
    );
    let sign_in_cookie = format!(
        "mpx_sign_in_{WUDU}={}",
        set_cookie(&head, &format!("mpx_sign_in_{WUDU}"))
    );
    let token = csrf_field(&body);
    let credentials = format!(
        "name=%E6%9D%8E%E6%98%8E&password={}",
        "%E6%8E%A7%E5%88%B6%E5%8F%B0%E6%B5%8B%E8%AF%95%E5%8F%A3%E4%BB%A4-2026"
    );
    let (status, _, body) = post(console, "/sign-in", &sign_in_cookie, &credentials);
    assert_eq!(status, 403, "no token: {body}");
    assert!(body.contains("防伪令牌"), "{body}");
    let (status, _, body) = post(console, "/sign-in", &sign_in_cookie, "name=%zz&password=%");
    assert!(status == 400 || status == 403, "{status}: {body}");
    let (status, head, _) = post(
        console,
        "/sign-in",
        &sign_in_cookie,
        &format!("{credentials}&csrf={token}"),
    );
    assert_eq!(status, 303);
    assert!(
        head.contains("HttpOnly") && head.contains("SameSite=Strict"),
        "{head}"
    );
    let session = format!(
        "mpx_session_{WUDU}={}",
        set_cookie(&head, &format!("mpx_session_{WUDU}"))
    );
    let (_, _, page) = get(console, "/", &session);
    let csrf = csrf_field(&page);

    // Odd addresses: a page that says so, in Chinese.
    for target in [
        "/cases/not-a-case",
        "/cases/%FF%FE",
        "/cases/00000000-0000-7000-8000-000000000000",
        "/no/such/page",
    ] {
        let (status, head, body) = get(console, target, &session);
        assert_eq!(status, 404, "{target}: {body}");
        assert!(body.contains("未找到该页面或案件"), "{target}: {body}");
        assert!(head.contains("content-security-policy"), "{target}");
    }

    // Query strings of any shape list what matches; markup is never echoed as markup.
    for query in [
        "?page=-1&state=%00&kind=x",
        "?peer=%3Cscript%3Ealert(1)%3C/script%3E&due=never&page=99999999999999999999",
        "?state=%FF&priority=%",
        "?lang=xx",
    ] {
        let (status, _, body) = get(console, &format!("/inbox{query}"), &session);
        assert!(status == 200 || status == 400, "{query}: {status}");
        assert!(!body.contains("<script>"), "{query}: markup echoed");
    }

    // Forms that cannot be read, or are far too large: refused, nothing stored.
    let case = "/cases/00000000-0000-7000-8000-000000000000/accept";
    let (status, _, body) = http(console, "POST", case, &session, "application/json", b"{}");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("无法读取提交的内容"), "{body}");
    // Broken UTF-8 in a field is read lossily; the case does not exist.
    let (status, _, body) = post(console, case, &session, &format!("csrf={csrf}&text=%E0%A4"));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("未找到该页面或案件"), "{body}");
    let (status, _, body) = post(
        console,
        &format!("{case}/../explode"),
        &session,
        &format!("csrf={csrf}"),
    );
    assert!(status == 404 || status == 405, "{status}: {body}");
    let (status, _, body) = post(
        console,
        "/cases/00000000-0000-7000-8000-000000000000/explode",
        &session,
        &format!("csrf={csrf}"),
    );
    assert_eq!(status, 404, "{body}");
    let huge = format!(
        "csrf={csrf}&recipient_county=621221&resident_id=x&subject_name=a&questions={}",
        "%E9%97%AE".repeat(1_000_000)
    );
    let (status, _, body) = post(console, "/cases/new", &session, &huge);
    assert!(status == 400 || status == 413, "{status}: {body}");
    let long = format!(
        "csrf={csrf}&recipient_county=621221&resident_id=&subject_name=a&questions={}",
        "%E9%97%AE".repeat(20_000)
    );
    let (status, _, body) = post(console, "/cases/new", &session, &long);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("field-error"), "{body}");
    let (status, _, body) = post(console, "/cases/new", &session, "csrf=&resident_id=1");
    assert_eq!(status, 403, "{body}");

    let outbound = wudu
        .cases()
        .await
        .list_cases(mpx_proto::v1::ListCasesRequest {
            direction: mpx_proto::v1::CaseDirection::Outbound as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert!(outbound.is_empty(), "nothing was stored: {outbound:?}");

    // The list as CSV: a purpose first (refused without one), then audited as an export.
    let (status, _, body) = get(console, "/outbox.csv?state=queued&purpose=", &session);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("导出须填写用途"), "{body}");
    let (status, head, body) = get(
        console,
        "/outbox.csv?state=&purpose=%E5%B9%B4%E5%BA%A6%E6%A0%B8%E5%AF%B9",
        &session,
    );
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("text/csv"), "{head}");
    assert!(body.starts_with("\u{feff}案件,类型,对方县"), "{body}");
    let audit = wudu.cli_output(&["audit"]);
    assert!(
        audit
            .lines()
            .any(|l| l.contains("李明") && l.contains("cases.export") && l.contains("年度核对")),
        "{audit}"
    );

    // English on request, remembered in a cookie; dates in ISO form there.
    let (status, head, body) = get(console, "/inbox?lang=en", &session);
    assert_eq!(status, 200);
    assert!(
        body.contains("<html lang=\"en\">") && body.contains("Inbox"),
        "{body}"
    );
    assert!(head.contains("mpx_lang=en"), "{head}");
    let (_, _, body) = get(console, "/", &format!("{session}; mpx_lang=en"));
    assert!(body.contains("Awaiting acceptance"), "{body}");
    let (_, _, body) = get(console, "/", &session);
    assert!(
        body.contains("<html lang=\"zh-CN\">") && body.contains("待接收"),
        "{body}"
    );

    // The node is still serving.
    let (status, _, _) = get(console, "/", &session);
    assert_eq!(status, 200);
}

/// The inbox's filters, orders and count are the service's (in SQL): priority, other county,
/// a range of due dates, oldest or newest first, the number of cases in all, and a date that is
/// not one named beside its field; the CSV export takes the same filters.
#[tokio::test]
async fn the_inbox_filters_sorts_and_counts_what_the_clerk_asks_for() {
    use mpx_proto::v1::{CaseKind, CasePriority, CaseState, OpenCaseRequest};
    const LINXIA: &str = "621221";
    let province = Province::start(&[WUDU, LINXIA]).await;
    let linxia = province.node(LINXIA);
    linxia.add_console_operator("王芳", "clerk", PASSWORD);
    let console = linxia.console.unwrap();
    let mut cases = Vec::new();
    for (seq, priority) in [
        (1, CasePriority::Normal),
        (2, CasePriority::Urgent),
        (3, CasePriority::Normal),
    ] {
        let case = province
            .node(WUDU)
            .cases()
            .await
            .open_case(OpenCaseRequest {
                kind: CaseKind::Verification as i32,
                recipient_county: LINXIA.into(),
                priority: priority as i32,
                resident_id: mpx_tests::resident_id(LINXIA, seq),
                subject_name: format!("测试{seq}"),
                questions: "请核实".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap();
        mpx_tests::wait_for_state(&province, LINXIA, &case.case_id, CaseState::Delivered).await;
        // Distinct opening instants for the orders.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        cases.push(case.case_id);
    }
    let session = mpx_tests::http::sign_in(console, LINXIA, "王芳", PASSWORD).unwrap();
    let inbox = |query: &str| {
        let reply =
            mpx_tests::http::request(console, "GET", &format!("/inbox{query}"), &session, "")
                .unwrap();
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        reply.body
    };
    // The case ids listed, in order, and the count shown.
    let listed = |body: &str| -> (Vec<usize>, String) {
        let mut rows: Vec<(usize, usize)> = cases
            .iter()
            .enumerate()
            .filter_map(|(n, id)| {
                body.find(&format!("id=\"case-{id}\""))
                    .map(|at| (at, n + 1))
            })
            .collect();
        rows.sort();
        let total = body
            .split("id=\"cases-total\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or_default()
            .to_string();
        (rows.into_iter().map(|(_, n)| n).collect(), total)
    };
    let (all, total) = listed(&inbox(""));
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(total, "共计件数：3");
    assert_eq!(listed(&inbox("?priority=urgent")).0, [2]);
    assert_eq!(listed(&inbox("?sort=oldest")).0, [1, 2, 3]);
    assert_eq!(listed(&inbox("?sort=newest")).0, [3, 2, 1]);
    assert_eq!(listed(&inbox(&format!("?peer={WUDU}"))).0.len(), 3);
    assert_eq!(
        listed(&inbox("?peer=620102")),
        (vec![], "共计件数：0".into())
    );
    assert!(listed(&inbox("?due=overdue")).0.is_empty());

    // By due date: the two normal requests share theirs; the urgent one is due earlier.
    let mut due_days = Vec::new();
    for case_id in &cases {
        let due = due_at(&province, LINXIA, case_id).await;
        due_days.push(mpx_proto::time::date_of_unix_ms(due - 1).unwrap());
    }
    let (normal, urgent) = (due_days[0], due_days[1]);
    assert_eq!(due_days[2], normal);
    assert!(urgent < normal, "urgent {urgent}, normal {normal}");
    assert_eq!(
        listed(&inbox(&format!(
            "?due_from={normal}&due_to={normal}&sort=oldest"
        )))
        .0,
        [1, 3]
    );
    assert_eq!(listed(&inbox(&format!("?due_to={urgent}"))).0, [2]);
    assert_eq!(
        listed(&inbox(&format!("?due_from={normal}&due_to={urgent}"))),
        (vec![], "共计件数：0".into()),
        "a range that ends before it starts holds nothing"
    );
    let body = inbox("?due_from=2026-02-30");
    assert!(
        body.contains("aria-invalid=\"true\"") && body.contains("2026-02-30：应为日期"),
        "{body}"
    );

    // The export takes the filters.
    let reply = mpx_tests::http::request(
        console,
        "GET",
        "/inbox.csv?priority=urgent&purpose=%E6%A0%B8%E5%AF%B9",
        &session,
        "",
    )
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body.lines().count(), 2, "{}", reply.body);
    assert!(reply.body.contains(&cases[1]), "{}", reply.body);
}

/// A case's deadline (Unix ms) at `county`.
async fn due_at(province: &Province, county: &str, case_id: &str) -> i64 {
    province
        .node(county)
        .cases()
        .await
        .get_case(mpx_proto::v1::GetCaseRequest {
            case_id: case_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .due_at_unix_ms
}
