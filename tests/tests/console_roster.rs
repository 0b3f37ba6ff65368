//! The roster pages of the county console (花名册) in a real browser against a real node: a
//! search needs a purpose and is audited; a person is registered through the form, and a bad
//! resident ID is refused beside its field with nothing stored; a clerk's workbook imports with
//! its bad rows offered back as a workbook (行号, 原因, …) that is deleted once fetched; the
//! roster exports as a workbook and reconciles against an extract; a viewer cannot import and
//! a post without the CSRF token is refused; a file that is no roster is refused by name.
//! Screenshots: roster.png and import.png, where console.rs puts its own (target/tmp/screenshots;
//! docs/screenshots with MPX_UPDATE_SCREENSHOTS=1).
#![allow(clippy::unwrap_used)]

/// The console tests' browser harness (this file uses part of it).
#[allow(dead_code)]
#[path = "console/browser.rs"]
mod browser;

use fantoccini::{Client, Locator};
use mpx_proto::v1::{GetPersonRequest, ListPeopleRequest};
use mpx_tests::sheets::workbook_sheets;
use mpx_tests::{Node, Province, resident_id};

use browser::{Driver, body_text, click, fill, has, path, screenshot, sign_in, text};

const WUDU: &str = "621202";
const LINXIA: &str = "621221";
const PASSWORD: &str = "花名册测试口令-2026";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sheets")
        .join(name)
}

/// How many people the node's roster holds (through the operator API).
/// How many people the node's roster holds (every page of `ListPeople`).
async fn people(node: &Node) -> usize {
    let mut records = node.records().await;
    let (mut count, mut page_token) = (0, String::new());
    loop {
        let page = records
            .list_people(ListPeopleRequest {
                purpose: "测试核对人数".into(),
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        count += page.people.len();
        if page.next_page_token.is_empty() {
            return count;
        }
        page_token = page.next_page_token;
    }
}

/// The audit log's lines (`exchange-node audit`) that name `operator` and `action`.
fn audited(node: &Node, operator: &str, action: &str) -> Vec<String> {
    node.cli_output(&["audit"])
        .lines()
        .filter(|line| line.contains(operator) && line.contains(action))
        .map(str::to_string)
        .collect()
}

/// Fetches `href` from the page (with the browser's session): status, content type, bytes.
async fn fetch(b: &Client, href: &str) -> (u64, String, Vec<u8>) {
    let script = r#"
        const [href, done] = arguments;
        fetch(href).then(r => r.arrayBuffer().then(buffer => done(
            [r.status, r.headers.get('content-type') || '', Array.from(new Uint8Array(buffer))])));
    "#;
    let value = b.execute_async(script, vec![href.into()]).await.unwrap();
    let status = value[0].as_u64().unwrap();
    let content_type = value[1].as_str().unwrap().to_string();
    let bytes = value[2]
        .as_array()
        .unwrap()
        .iter()
        .map(|byte| u8::try_from(byte.as_u64().unwrap()).unwrap())
        .collect();
    (status, content_type, bytes)
}

/// Posts a multipart form from the page, as a forged or hand-made page would: `fields` as
/// text, and a small CSV file. Returns the status and the page's text.
async fn post_multipart(b: &Client, action: &str, fields: &[(&str, &str)]) -> (u64, String) {
    let script = r#"
        const [action, fields, done] = arguments;
        const form = new FormData();
        for (const [name, value] of fields) { form.append(name, value); }
        form.append('file', new Blob(['公民身份号码,姓名\n'], {type: 'text/csv'}), 'x.csv');
        fetch(action, {method: 'POST', body: form}).then(r => r.text().then(t => done([r.status, t])));
    "#;
    let fields: Vec<serde_json::Value> = fields
        .iter()
        .map(|(name, value)| serde_json::json!([name, value]))
        .collect();
    let value = b
        .execute_async(script, vec![action.into(), fields.into()])
        .await
        .unwrap();
    (
        value[0].as_u64().unwrap(),
        value[1].as_str().unwrap().to_string(),
    )
}

/// Clicks what submits a form or follows a link, and waits for the next page to have loaded
/// (so the next look-up cannot find an element of the page before).
async fn submit(b: &Client, css: &str) {
    b.execute("window.mpxPageBefore = true;", vec![])
        .await
        .unwrap();
    click(b, css).await;
    for _ in 0..200 {
        let loaded = b
            .execute(
                "return window.mpxPageBefore !== true && document.readyState === 'complete';",
                vec![],
            )
            .await
            .unwrap();
        if loaded.as_bool() == Some(true) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no new page within 10 s after clicking {css}");
}

/// The value of the page's CSRF field (the sign-out form carries it on every page).
async fn csrf(b: &Client) -> String {
    b.find(Locator::Css("form[action=\"/sign-out\"] input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_clerk_searches_registers_imports_exports_and_reconciles_in_the_roster_pages() {
    let driver = Driver::start();
    let province = Province::start(&[WUDU, LINXIA]).await;
    let wudu = province.node(WUDU);
    wudu.add_console_operator("李明", "clerk", PASSWORD);
    let console = wudu.console.unwrap();
    let base = format!("http://{console}");
    let b = driver.browser().await;
    sign_in(&b, console, "李明", PASSWORD).await;
    submit(&b, "#nav-roster").await;
    assert_eq!(path(&b).await, "/roster");

    // A bad resident ID: the Chinese message beside the field, nothing stored, what was typed kept.
    let id = resident_id(LINXIA, 31);
    fill(&b, "#reg-resident_id", "62122119900307").await;
    fill(&b, "#reg-name", "张伟").await;
    fill(&b, "#reg-hukou_county", LINXIA).await;
    fill(&b, "#reg-residence_address", "武都区钟楼街12号").await;
    submit(&b, "#register").await;
    let error = text(&b, "#resident_id-error").await;
    assert!(error.contains("应为18位公民身份号码"), "{error}");
    assert!(has(&b, "#form-error").await);
    assert_eq!(people(wudu).await, 0, "nothing stored");
    let kept = b
        .find(Locator::Css("#reg-name"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("张伟"));

    // Corrected, the person is registered (and the residence notice goes to Linxia).
    fill(&b, "#reg-resident_id", &id).await;
    submit(&b, "#register").await;
    let registered = text(&b, "#registered").await;
    let masked = mpx_proto::resident_id::mask(&id);
    assert!(registered.contains(&masked), "{registered}");
    let stored = wudu
        .records()
        .await
        .get_person(GetPersonRequest {
            resident_id: id.clone(),
            purpose: "测试核对登记".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert_eq!(stored.name, "张伟");
    assert_eq!(stored.hukou_county, LINXIA);

    // A search without a purpose is refused beside the purpose field and reads nothing.
    fill(&b, "#q", "张伟").await;
    submit(&b, "#search").await;
    let error = text(&b, "#purpose-error").await;
    assert!(error.contains("用途"), "{error}");
    assert!(!has(&b, "#results").await);
    assert!(audited(wudu, "李明", "records.search").is_empty());

    // With a purpose: the person, ID masked, and the read in the audit log under the clerk.
    fill(&b, "#search-purpose", "核对流入人员登记").await;
    submit(&b, "#search").await;
    let results = text(&b, "#results").await;
    assert!(results.contains(&masked), "{results}");
    assert!(!results.contains(&id), "IDs are masked in results");
    let lines = audited(wudu, "李明", "records.search");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("核对流入人员登记"), "{lines:?}");
    screenshot(&b, "roster").await;

    // By ID, then the person's page: masked until the clerk gives a purpose to see it.
    fill(&b, "#q", &id).await;
    submit(&b, "#search").await;
    submit(&b, "a.open-person").await;
    assert_eq!(text(&b, "#masked-id").await, masked);
    assert!(!body_text(&b).await.contains(&id));
    assert!(
        has(&b, "#history").await,
        "the registration is in its history"
    );
    let cases = text(&b, "#person-cases").await;
    assert!(
        cases.contains("居住通报"),
        "the notice to the hukou county: {cases}"
    );
    fill(&b, "#reveal-purpose", "核对证件号码").await;
    submit(&b, "#reveal").await;
    assert_eq!(text(&b, "#full-id").await, id);
    let reveals = audited(wudu, "李明", "records.reveal_id");
    assert_eq!(reveals.len(), 1, "{reveals:?}");
    assert!(reveals[0].contains("核对证件号码"), "{reveals:?}");
    let reads = audited(wudu, "李明", "records.get");
    assert!(
        reads
            .iter()
            .any(|line| line.contains(&masked) && line.contains("核对证件号码")),
        "{reads:?}"
    );

    // A move refused beside its field (an empty address), then done.
    submit(&b, "#do-move").await;
    let error = text(&b, "#new_residence_address-error").await;
    assert!(error.contains("地址"), "{error}");
    fill(&b, "#new_residence_address", "武都区东江镇8号").await;
    b.execute(
        "document.getElementById('effective_date').value = '2026-06-01';",
        vec![],
    )
    .await
    .unwrap();
    submit(&b, "#do-move").await;
    browser::wait_for(&b, "#done").await;
    assert!(body_text(&b).await.contains("武都区东江镇8号"));

    // Import the clerk's workbook: 3 stored, 2 rejected, the rejects offered as a workbook.
    b.goto(&format!("{base}/roster/bulk")).await.unwrap();
    let before = people(wudu).await;
    browser::wait_for(&b, "#import-file")
        .await
        .send_keys(fixture("roster.xlsx").to_str().unwrap())
        .await
        .unwrap();
    submit(&b, "#do-import").await;
    assert_eq!(text(&b, "#import-stored").await, "3");
    assert_eq!(text(&b, "#import-rejected").await, "2");
    assert_eq!(text(&b, "#import-totals").await, "10");
    assert_eq!(people(wudu).await, before + 3);
    screenshot(&b, "import").await;
    let files = wudu.data_dir.join("console-files");
    let kept: Vec<_> = std::fs::read_dir(&files)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "only the reject file is kept: {kept:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the reject file holds personal data");
    }
    let href = b
        .find(Locator::Css("#download-rejects"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let (status, content_type, bytes) = fetch(&b, &href).await;
    assert_eq!(status, 200);
    assert!(content_type.contains("spreadsheetml"), "{content_type}");
    let saved = province.dir.join("rejects.xlsx");
    std::fs::write(&saved, bytes).unwrap();
    let sheets = workbook_sheets(&saved);
    let rows = &sheets[0].1;
    assert_eq!(rows[0][..2], ["行号", "原因"]);
    assert_eq!(
        rows.len(),
        3,
        "two rejected rows under the header: {rows:?}"
    );
    let (again, _, _) = fetch(&b, &href).await;
    assert_ne!(again, 200, "a reject file is downloaded once");
    assert_eq!(std::fs::read_dir(&files).unwrap().count(), 0);

    // Export with a purpose: a workbook with Chinese headers, audited as records.export.
    let (status, content_type, bytes) = fetch(
        &b,
        "/roster/export?purpose=%E5%B9%B4%E5%BA%A6%E6%A0%B8%E5%AF%B9&format=xlsx",
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.contains("spreadsheetml"), "{content_type}");
    let exported = province.dir.join("export.xlsx");
    std::fs::write(&exported, bytes).unwrap();
    let rows = &workbook_sheets(&exported)[0].1;
    assert_eq!(rows[0][0], "公民身份号码");
    assert_eq!(rows.len(), before + 3 + 1);
    assert!(rows.iter().any(|row| row[0] == id));
    assert!(!audited(wudu, "李明", "records.export").is_empty());
    let (status, _, _) = fetch(&b, "/roster/export?purpose=&format=xlsx").await;
    assert_eq!(status, 422, "no export without a purpose");

    // Reconcile against the same workbook as a department's extract: the summary and a
    // differences workbook (张伟 is only ours).
    b.goto(&format!("{base}/roster/bulk")).await.unwrap();
    fill(&b, "#reconcile-source", "公安").await;
    fill(&b, "#reconcile-purpose", "半年度比对").await;
    browser::wait_for(&b, "#reconcile-file")
        .await
        .send_keys(fixture("roster.xlsx").to_str().unwrap())
        .await
        .unwrap();
    submit(&b, "#do-reconcile").await;
    assert_eq!(text(&b, "#rec-only-ours").await, "1");
    let href = b
        .find(Locator::Css("#download-differences"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let (status, _, bytes) = fetch(&b, &href).await;
    assert_eq!(status, 200);
    let differences = province.dir.join("differences.xlsx");
    std::fs::write(&differences, bytes).unwrap();
    let rows = &workbook_sheets(&differences)[0].1;
    assert_eq!(rows[0][0], "差异");
    assert!(rows.iter().any(|row| row[0] == "仅本方有" && row[1] == id));

    // An extract that gives 张伟's residence county as 621221 (ours says 621202): with the
    // option, a verification case to 621221 asks, naming the department.
    let extract = province.dir.join("公安-户籍.csv");
    let birth = format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]);
    std::fs::write(
        &extract,
        format!(
            "{}\n{id},张伟,男,{birth},{LINXIA},{LINXIA},武都区钟楼街12号,,\n",
            mpx_proto::synth::CSV_HEADER.join(",")
        ),
    )
    .unwrap();
    b.goto(&format!("{base}/roster/bulk")).await.unwrap();
    fill(&b, "#reconcile-source", "公安").await;
    fill(&b, "#reconcile-purpose", "户籍核对").await;
    browser::wait_for(&b, "#reconcile-file")
        .await
        .send_keys(extract.to_str().unwrap())
        .await
        .unwrap();
    click(&b, "#reconcile-open-cases").await;
    submit(&b, "#do-reconcile").await;
    assert_eq!(
        text(&b, "#rec-mismatched").await,
        "1",
        "{}",
        text(&b, "#reconcile-summary").await
    );
    assert_eq!(
        text(&b, "#rec-cases-opened").await,
        "1",
        "{}",
        text(&b, "#rec-cases").await
    );
    let asked = wudu
        .cases()
        .await
        .list_cases(mpx_proto::v1::ListCasesRequest {
            direction: mpx_proto::v1::CaseDirection::Outbound as i32,
            peer_county: LINXIA.into(),
            kind: mpx_proto::v1::CaseKind::Verification as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].resident_id, id);
    assert!(
        asked[0]
            .questions
            .starts_with("公安提供的数据显示该人员现居住地为贵县（621221），本县登记为 621202"),
        "{}",
        asked[0].questions
    );
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_viewer_cannot_import_and_roster_posts_need_the_csrf_token() {
    let driver = Driver::start();
    let province = Province::start(&[WUDU]).await;
    let wudu = province.node(WUDU);
    wudu.add_console_operator("李明", "clerk", PASSWORD);
    wudu.add_console_operator("赵敏", "viewer", PASSWORD);
    let console = wudu.console.unwrap();
    let b = driver.browser().await;

    // A clerk's posts without the token, or with another, are refused and store nothing.
    sign_in(&b, console, "李明", PASSWORD).await;
    b.goto(&format!("http://{console}/roster/bulk"))
        .await
        .unwrap();
    for token in [None, Some("0".repeat(64))] {
        let mut fields = vec![("source", "公安"), ("purpose", "比对")];
        if let Some(token) = &token {
            fields.insert(0, ("csrf", token.as_str()));
        }
        let (status, page) = post_multipart(&b, "/roster/import", &fields).await;
        assert_eq!(status, 403, "{token:?}: {page}");
        assert!(page.contains("防伪令牌"), "{page}");
        let (status, _) = post_multipart(&b, "/roster/reconcile", &fields).await;
        assert_eq!(status, 403);
    }
    let script = r#"
        const [done] = arguments;
        const body = new URLSearchParams({name: '张伟'});
        fetch('/roster/register', {method: 'POST', body}).then(r => done(r.status));
    "#;
    let status = b.execute_async(script, vec![]).await.unwrap();
    assert_eq!(status.as_u64(), Some(403));
    assert_eq!(people(wudu).await, 0);

    // A broken multipart body is a page in the clerk's language, never a crash.
    let script = r#"
        const [done] = arguments;
        fetch('/roster/import', {method: 'POST',
            headers: {'Content-Type': 'multipart/form-data; boundary=xyz'},
            body: '--xyz\r\nContent-Disposition: form-data; name="csrf"\r\n\r\nabc'})
          .then(r => r.text().then(t => done([r.status, t])));
    "#;
    let answer = b.execute_async(script, vec![]).await.unwrap();
    assert_eq!(answer[0].as_u64(), Some(400), "{answer:?}");
    assert!(
        answer[1].as_str().unwrap().contains("无法读取提交的内容"),
        "{answer:?}"
    );

    // What is not a roster is refused in the clerk's language, naming what it is; no file is
    // left behind.
    b.goto(&format!("http://{console}/roster/bulk"))
        .await
        .unwrap();
    browser::wait_for(&b, "#import-file")
        .await
        .send_keys(fixture("not-a-roster.pdf").to_str().unwrap())
        .await
        .unwrap();
    submit(&b, "#do-import").await;
    let error = text(&b, "#import-error").await;
    assert!(error.starts_with("无法读取该文件"), "{error}");
    assert!(
        error.contains("not-a-roster.pdf") && error.contains("PDF"),
        "{error}"
    );
    assert!(!error.contains("console-files"), "no server path: {error}");
    submit(&b, "#do-import").await;
    assert_eq!(text(&b, "#import-error").await, "请选择要上传的文件。");

    // A workbook over the .xlsx limit (a ZIP of 129 MiB, sparse on disk) is refused before it
    // is read, saying the limit.
    let big = province.dir.join("大花名册.xlsx");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&big).unwrap();
        file.write_all(b"PK\x03\x04").unwrap();
        file.set_len(129 << 20).unwrap();
    }
    browser::wait_for(&b, "#import-file")
        .await
        .send_keys(big.to_str().unwrap())
        .await
        .unwrap();
    submit(&b, "#do-import").await;
    let error = text(&b, "#import-error").await;
    assert!(
        error.starts_with("文件过大") && error.ends_with("128 MiB"),
        "{error}"
    );
    assert_eq!(people(wudu).await, 0);

    // The reading options: a workbook's first sheet (notes, no header) chosen by number is
    // refused saying so; nothing is stored.
    browser::wait_for(&b, "#import-file")
        .await
        .send_keys(fixture("roster.xls").to_str().unwrap())
        .await
        .unwrap();
    click(&b, "#import-form summary").await;
    fill(&b, "#import-sheet", "1").await;
    submit(&b, "#do-import").await;
    let error = text(&b, "#import-error").await;
    assert!(error.starts_with("无法读取该文件"), "{error}");
    assert_eq!(people(wudu).await, 0);
    let files = wudu.data_dir.join("console-files");
    assert_eq!(
        std::fs::read_dir(&files).unwrap().count(),
        0,
        "uploads are deleted"
    );

    // The pages switch to English.
    b.goto(&format!("http://{console}/roster/bulk?lang=en"))
        .await
        .unwrap();
    assert_eq!(text(&b, "h1").await, "Import, export and reconcile");
    b.goto(&format!("http://{console}/roster?lang=zh"))
        .await
        .unwrap();
    assert_eq!(text(&b, "h1").await, "花名册");

    // A viewer searches but is offered no import or register form, and a forged import is
    // refused for the role even with the viewer's own token.
    sign_in(&b, console, "赵敏", PASSWORD).await;
    b.goto(&format!("http://{console}/roster")).await.unwrap();
    browser::wait_for(&b, "#search").await;
    assert!(!has(&b, "#register-form").await);
    b.goto(&format!("http://{console}/roster/bulk"))
        .await
        .unwrap();
    browser::wait_for(&b, "#export-form").await;
    assert!(!has(&b, "#import-form").await);
    let token = csrf(&b).await;
    let (status, page) = post_multipart(&b, "/roster/import", &[("csrf", &token)]).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("角色"), "{page}");
    assert_eq!(people(wudu).await, 0);
    // A viewer may compare, but not open cases from a comparison.
    assert!(!has(&b, "#reconcile-open-cases").await);
    let (status, page) = post_multipart(
        &b,
        "/roster/reconcile",
        &[
            ("csrf", &token),
            ("source", "公安"),
            ("purpose", "比对"),
            ("open_cases", "1"),
        ],
    )
    .await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("角色"), "{page}");
    b.close().await.unwrap();
}

/// A large import runs as a job: the browser lands on its page, which shows a progress bar
/// against the file's rows and reloads itself (no JavaScript) until the summary.
#[tokio::test]
async fn a_large_import_shows_its_progress_until_the_summary() {
    const ROWS: u64 = 8_000;
    let driver = Driver::start();
    let province = Province::start(&[WUDU]).await;
    let wudu = province.node(WUDU);
    wudu.add_console_operator("李明", "clerk", PASSWORD);
    let console = wudu.console.unwrap();
    let file = province.dir.join("large-roster.csv");
    let spec = mpx_proto::synth::RosterSpec::new(ROWS, WUDU, &["620102"]);
    mpx_proto::synth::write_csv(
        mpx_proto::synth::roster(&spec),
        std::fs::File::create(&file).unwrap(),
        mpx_proto::tabular::Encoding::Utf8,
    )
    .unwrap();
    let b = driver.browser().await;
    sign_in(&b, console, "李明", PASSWORD).await;
    b.goto(&format!("http://{console}/roster/bulk"))
        .await
        .unwrap();
    browser::wait_for(&b, "#import-file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    submit(&b, "#do-import").await;
    assert!(
        path(&b).await.starts_with("/roster/import/"),
        "the import's own page"
    );
    // The bar while it runs (8 000 rows take some seconds), then the summary.
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    while !has(&b, "#import-summary").await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(180),
            "no summary after 3 minutes; progress seen: {seen:?}"
        );
        if let Ok(bar) = b.find(Locator::Css("#import-bar")).await
            && let Ok(Some(value)) = bar.attr("value").await
        {
            let rows = b
                .find(Locator::Css("#progress-rows"))
                .await
                .ok()
                .map(|cell| async move { cell.text().await.unwrap_or_default() });
            let rows = match rows {
                Some(text) => text.await,
                None => String::new(),
            };
            if seen.is_empty() {
                screenshot(&b, "import-progress").await;
            }
            seen.push((value, rows));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        !seen.is_empty(),
        "a progress bar was shown before the summary"
    );
    let percents: Vec<u64> = seen.iter().filter_map(|(v, _)| v.parse().ok()).collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]) && percents.iter().all(|p| *p < 100),
        "the bar only moves forward and reads 100 % only as the summary: {seen:?}"
    );
    assert_eq!(text(&b, "#import-rows").await, ROWS.to_string());
    let stored: u64 = text(&b, "#import-stored").await.parse().unwrap();
    let rejected: u64 = text(&b, "#import-rejected").await.parse().unwrap();
    assert_eq!(stored + rejected, ROWS, "every row stored or rejected");
    assert_eq!(people(wudu).await as u64, stored);
}
