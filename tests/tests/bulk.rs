//! End-to-end bulk roster work: import of generated spreadsheets (GB18030, planted defects),
//! export, and reconciliation with another department's extract, at a node and at the province.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use mpx_proto::synth::{Defect, RosterSpec, department_extract, roster, write_csv};
use mpx_proto::tabular::Encoding;
use mpx_proto::v1::{CaseDirection, ListCasesRequest};
use mpx_tests::sheets::{openpyxl, workbook_sheets};
use mpx_tests::{Backend, Province, WAIT, wait_until};

mpx_tests::on_every_backend!(
    an_import_stores_good_rows_explains_every_bad_one_and_changes_nothing_when_repeated,
    reconciliation_finds_exactly_the_planted_differences_at_the_county_and_the_province,
    a_clerks_workbook_imports_without_conversion_and_bad_rows_come_back_with_reasons,
);

const WUDU: &str = "621202";
const LINXIA: &str = "621221";

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn import(province: &Province, file: &std::path::Path) -> serde_json::Value {
    let mut command = province.node(WUDU).cli();
    command.args(["--json", "records", "import"]).arg(file);
    json_of(&mpx_tests::run_ok(command))
}

/// Rows of a CSV file written by the tools (UTF-8 with a BOM), header included.
fn csv_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

async fn inbound_cases(province: &Province, county: &str) -> usize {
    province
        .node(county)
        .cases()
        .await
        .list_cases(ListCasesRequest {
            direction: CaseDirection::Inbound as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases
        .len()
}

async fn an_import_stores_good_rows_explains_every_bad_one_and_changes_nothing_when_repeated(
    backend: Backend,
) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let mut spec = RosterSpec::new(300, WUDU, &[WUDU, LINXIA]);
    spec.defect_rate = 0.2;
    spec.seed = 7;
    let rows: Vec<_> = roster(&spec).collect();
    let file = province.dir.join("花名册.csv");
    write_csv(
        rows.clone().into_iter(),
        std::fs::File::create(&file).unwrap(),
        Encoding::Gb18030,
    )
    .unwrap();
    let clean = rows.iter().filter(|r| r.defect.is_none()).count() as u64;
    let defective: HashMap<u64, Defect> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.defect.map(|d| (i as u64 + 2, d)))
        .collect();
    for defect in Defect::ALL {
        assert!(
            defective.values().any(|d| *d == defect),
            "the generated file has every kind of defect ({defect:?} missing)"
        );
    }

    let summary = import(&province, &file);
    assert_eq!(summary["rows"], 300);
    assert_eq!(summary["stored"], clean);
    assert_eq!(summary["rejected"], defective.len() as u64);
    let rejects = std::path::PathBuf::from(summary["rejects_file"].as_str().unwrap());
    let rejected = csv_rows(&rejects);
    assert_eq!(rejected[0][..2], ["line".to_string(), "reason".to_string()]);
    assert_eq!(
        rejected[0][2], "公民身份号码",
        "the original header, decoded from GB18030"
    );
    assert_eq!(
        rejected.len() - 1,
        defective.len(),
        "one reject row per bad row"
    );
    for row in &rejected[1..] {
        let line: u64 = row[0].parse().unwrap();
        let defect = defective
            .get(&line)
            .unwrap_or_else(|| panic!("line {line} was good but rejected: {row:?}"));
        assert!(
            row[1].contains(defect.reason_mentions()),
            "line {line} ({defect:?}): the reason {:?} names the problem",
            row[1]
        );
        assert!(row.len() > 3, "the original row is kept: {row:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rejects).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "rejected rows hold personal data");
    }

    // The hukou county gets one residence notice per person stored whose hukou is there.
    let notices = rows
        .iter()
        .filter(|r| r.defect.is_none() && r.person.hukou_county == LINXIA)
        .count();
    assert!(notices > 0);
    wait_until(WAIT, "every residence notice to reach 621221", || async {
        inbound_cases(&province, LINXIA).await == notices
    })
    .await;

    // The same file again changes nothing.
    let again = import(&province, &file);
    assert_eq!(again["stored"], 0);
    assert_eq!(again["unchanged"], clean);
    assert_eq!(again["rejected"], defective.len() as u64);
    assert_eq!(again["notices_queued"], 0);
    // Nothing new was queued at the sender, so nothing new can reach 621221.
    let outbound = province
        .node(WUDU)
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
        .len();
    assert_eq!(outbound, notices, "no new notices");
    assert_eq!(
        inbound_cases(&province, LINXIA).await,
        notices,
        "no new notices"
    );

    // Export: the chosen fields, Chinese headers, 0600, audited.
    let out = province.dir.join("export.csv");
    let mut export = province.node(WUDU).cli();
    export
        .args([
            "records",
            "export",
            "--purpose",
            "年度核对",
            "--status",
            "residing",
            "--fields",
            "resident_id,name,hukou_county",
            "--header",
            "zh",
            "--out",
        ])
        .arg(&out);
    mpx_tests::run_ok(export);
    let exported = csv_rows(&out);
    assert_eq!(exported[0], ["公民身份号码", "姓名", "户籍地代码"]);
    assert_eq!(exported.len() as u64 - 1, clean);
    // One read for the whole export, with its purpose, and its count when it ended.
    let audit = province.node(WUDU).cli_output(&["audit"]);
    assert!(audit.contains("年度核对"), "the export is audited: {audit}");
    let finished: Vec<&str> = audit
        .lines()
        .filter(|line| line.contains("records.export finished"))
        .collect();
    assert_eq!(finished.len(), 1, "one audited export: {audit}");
    assert_eq!(
        finished[0].split_whitespace().last(),
        Some(clean.to_string().as_str()),
        "with the count of records read (the ROWS column): {}",
        finished[0]
    );
}

async fn reconciliation_finds_exactly_the_planted_differences_at_the_county_and_the_province(
    backend: Backend,
) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    let spec = RosterSpec::new(400, WUDU, &[WUDU, LINXIA]);
    let ours = province.dir.join("roster.csv");
    write_csv(
        roster(&spec),
        std::fs::File::create(&ours).unwrap(),
        Encoding::Utf8,
    )
    .unwrap();
    assert_eq!(import(&province, &ours)["stored"], 400);
    let (extract, planted) = department_extract(&spec, 20);
    let theirs = province.dir.join("police.csv");
    write_csv(
        extract.clone().into_iter(),
        std::fs::File::create(&theirs).unwrap(),
        Encoding::Gb18030,
    )
    .unwrap();

    let differences = province.dir.join("differences.csv");
    let mut reconcile = province.node(WUDU).cli();
    reconcile
        .args([
            "--json",
            "reconcile",
            "--source",
            "police",
            "--purpose",
            "半年度比对",
            "--open-cases",
            "--against",
        ])
        .arg(&theirs)
        .arg("--out")
        .arg(&differences);
    let report = json_of(&mpx_tests::run_ok(reconcile));
    assert_eq!(report["ours"], 400);
    assert_eq!(report["theirs"], extract.len());
    assert_eq!(report["only_ours"], planted.only_ours.len());
    assert_eq!(report["only_theirs"], planted.only_theirs.len());
    assert_eq!(report["mismatched_people"], planted.mismatches.len());
    let rows = csv_rows(&differences);
    let mut found: Vec<(String, String, String)> = rows[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    found.sort();
    let mut expected: Vec<(String, String, String)> = planted
        .only_ours
        .iter()
        .map(|id| ("only_ours".into(), id.clone(), String::new()))
        .chain(
            planted
                .only_theirs
                .iter()
                .map(|id| ("only_theirs".into(), id.clone(), String::new())),
        )
        .chain(
            planted
                .mismatches
                .iter()
                .map(|(id, field)| ("mismatch".into(), id.clone(), field.to_string())),
        )
        .collect();
    expected.sort();
    assert_eq!(found, expected, "exactly the planted differences");
    // A hukou mismatch naming another county becomes a verification case there.
    let to_linxia = rows[1..]
        .iter()
        .filter(|r| r[2] == "hukou_county" && r[4] == LINXIA)
        .count();
    assert!(to_linxia > 0);
    assert_eq!(report["cases_opened"], to_linxia);
    wait_until(WAIT, "the verification cases to reach 621221", || async {
        // 621221 also holds the residence notices of the import.
        let notices = roster(&spec)
            .filter(|r| r.person.hukou_county == LINXIA)
            .count();
        inbound_cases(&province, LINXIA).await == notices + to_linxia
    })
    .await;

    // The province: the index (what 621202 reported) against a provincial extract.
    wait_until(WAIT, "the index to hold the roster", || async {
        let mut counts = province.registry_cli();
        counts.args(["counts", "--json", "--purpose", "比对前核对"]);
        mpx_tests::run_ok(counts).contains("\"residing\":400")
    })
    .await;
    let mut registry = province.registry_cli();
    registry
        .args([
            "reconcile",
            "--json",
            "--source",
            "statistics",
            "--purpose",
            "省级比对",
            "--against",
        ])
        .arg(&theirs);
    let provincial = json_of(&mpx_tests::run_ok(registry));
    let gaps = &provincial["counties"][WUDU];
    assert_eq!(gaps["only_index"], planted.only_ours.len());
    assert_eq!(gaps["only_extract"], planted.only_theirs.len());
    // The index holds names and hukou counties, not birth dates.
    let comparable = planted
        .mismatches
        .iter()
        .filter(|(_, field)| *field != "birth_date")
        .count();
    assert_eq!(gaps["mismatched"], comparable);
    let mut verify = province.registry_cli();
    verify.args(["audit", "verify"]);
    assert!(mpx_tests::run_ok(verify).contains("audit log intact"));
}

/// The workbook fixtures (made by openpyxl, xlwt and odfpy: tests/fixtures/sheets/generate.py).
fn sheet_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sheets")
        .join(name)
}

async fn a_clerks_workbook_imports_without_conversion_and_bad_rows_come_back_with_reasons(
    backend: Backend,
) {
    let Some(province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
        return;
    };
    // Named .csv on purpose: the content, not the name, says it is a workbook.
    let file = province.dir.join("花名册.csv");
    std::fs::copy(sheet_fixture("roster.xlsx"), &file).unwrap();
    let summary = import(&province, &file);
    assert_eq!(summary["sheet"], "花名册");
    assert_eq!(
        summary["rows"], 5,
        "title, header, blank and totals rows are not people"
    );
    assert_eq!(summary["stored"], 3);
    assert_eq!(summary["rejected"], 2);
    assert_eq!(summary["totals_rows_skipped"], serde_json::json!([10]));
    assert_eq!(summary["ignored_columns"], serde_json::json!(["序号"]));

    // Bad rows come back in a workbook, since a workbook came in: Chinese headers, the
    // clerk's own columns after the line and the reason, every cell as text.
    let rejects = std::path::PathBuf::from(summary["rejects_file"].as_str().unwrap());
    assert!(
        rejects
            .to_string_lossy()
            .ends_with("花名册.csv.rejects.xlsx"),
        "{rejects:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rejects).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the reject file holds personal data");
    }
    let sheets = workbook_sheets(&rejects);
    assert_eq!(sheets.len(), 1);
    assert_eq!(sheets[0].0, "未导入的行");
    let rejected = &sheets[0].1;
    assert_eq!(
        rejected[0],
        [
            "行号",
            "原因",
            "序号",
            "姓名",
            "性别",
            "公民身份号码",
            "户籍地",
            "现居住地址",
            "来本地日期",
            "联系电话"
        ]
    );
    let lines: Vec<&str> = rejected[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        lines,
        ["6", "9"],
        "line numbers as the spreadsheet shows them"
    );
    assert!(
        rejected[1][1].starts_with("resident_id: the cell holds the number")
            && rejected[1][1].contains("format the column as text"),
        "{:?}",
        rejected[1]
    );
    assert_eq!(rejected[1][3], "王强", "the original cells, as text");
    assert_eq!(rejected[1][8], "2026-01-05", "a date cell as a date");
    assert!(rejected[2][1].contains("check"), "{:?}", rejected[2]);

    // The clerk opens the reject workbook in another program (openpyxl here), types 王强's ID
    // as text over the number, and imports the same file again: 王强 is stored, the row with
    // the wrong check digit is refused again, and the line and reason columns are ignored.
    let wang = mpx_tests::resident_id(WUDU, 77);
    let fixed = province.dir.join("改正后.xlsx");
    let printed = openpyxl(
        r#"
import sys, openpyxl
book = openpyxl.load_workbook(sys.argv[1])
sheet = book.active
header = [cell.value for cell in sheet[1]]
id_column = header.index("公民身份号码") + 1
for row in range(2, sheet.max_row + 1):
    if str(sheet.cell(row, 2).value).startswith("resident_id: the cell holds the number"):
        sheet.cell(row, id_column).value = sys.argv[2]
print(sheet.title, sheet.freeze_panes, sheet.cell(1, 1).font.b, sheet.cell(2, id_column).data_type)
book.save(sys.argv[3])
"#,
        &[
            rejects.as_os_str(),
            std::ffi::OsStr::new(&wang),
            fixed.as_os_str(),
        ],
    );
    assert_eq!(
        printed.trim(),
        "未导入的行 A2 True s",
        "openpyxl reads our workbook: its sheet, the frozen header, bold, text cells"
    );
    let again = import(&province, &fixed);
    assert_eq!(again["rows"], 2, "{again}");
    assert_eq!(again["stored"], 1, "{again}");
    assert_eq!(again["rejected"], 1, "{again}");
    assert_eq!(
        again["ignored_columns"],
        serde_json::json!(["行号", "原因", "序号"])
    );

    let mut command = province.node(WUDU).cli();
    command.args([
        "records",
        "get",
        "621202198805122248",
        "--purpose",
        "核对导入",
    ]);
    let shown = mpx_tests::run_ok(command);
    assert!(
        shown.contains("李娜") && shown.contains("2025-11-20"),
        "{shown}"
    );

    // The .xls keeps its roster on a second sheet; the .ods holds the same people.
    for name in ["roster.xls", "roster.ods"] {
        // Copied, so the reject file is not written among the fixtures.
        let copy = province.dir.join(name);
        std::fs::copy(sheet_fixture(name), &copy).unwrap();
        let summary = import(&province, &copy);
        assert_eq!(summary["rows"], 3, "{name}");
        assert_eq!(summary["unchanged"], 2, "{name}: the same two people again");
        assert_eq!(summary["rejected"], 1, "{name}: the numeric ID");
    }

    // Not a roster: one sentence, no bytes.
    let mut command = province.node(WUDU).cli();
    command
        .args(["records", "import"])
        .arg(sheet_fixture("not-a-roster.pdf"));
    let output = command.output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("this is a PDF document, not a roster; save the roster as .xlsx or CSV"),
        "{stderr}"
    );
    assert!(!stderr.contains("%PDF"), "{stderr}");

    // Export as a workbook: Chinese headers, IDs as text, dates as date cells; the same people
    // and values as the CSV export.
    let export = |out: &std::path::Path, extra: &[&str]| {
        let mut command = province.node(WUDU).cli();
        command
            .args(["records", "export", "--purpose", "核对花名册", "--out"])
            .arg(out)
            .args(extra);
        mpx_tests::run_ok(command);
    };
    let xlsx = province.dir.join("导出.xlsx");
    export(&xlsx, &[]);
    let csv_file = province.dir.join("导出.csv");
    export(&csv_file, &["--header", "zh"]);
    let sheets = workbook_sheets(&xlsx);
    assert_eq!(sheets.len(), 1);
    assert_eq!(sheets[0].0, "花名册");
    let (workbook, csv) = (&sheets[0].1, csv_rows(&csv_file));
    assert_eq!(
        workbook.len(),
        5,
        "the header and four people: {workbook:?}"
    );
    assert_eq!(workbook.len(), csv.len());
    assert_eq!(workbook[0], csv[0], "the same Chinese headers");
    assert_eq!(workbook[0][0], "公民身份号码");
    let mut date_cells = 0;
    for (ours, theirs) in workbook[1..].iter().zip(&csv[1..]) {
        assert_eq!(ours.len(), theirs.len());
        for (cell, text) in ours.iter().zip(theirs) {
            if *cell != *text {
                assert_eq!(*cell, format!("date:{text}"), "{ours:?} vs {theirs:?}");
                date_cells += 1;
            }
        }
    }
    assert!(date_cells >= 8, "birth and arrival dates are date cells");
    assert!(
        workbook.iter().any(|row| row[0] == wang),
        "the ID typed over the number, as text: {workbook:?}"
    );

    // A department's extract as a workbook (the first fixture): the differences come back as a
    // workbook beside it, in Chinese — 王强, fixed above, is only in our roster.
    let extract = province.dir.join("公安提取.xlsx");
    std::fs::copy(sheet_fixture("roster.xlsx"), &extract).unwrap();
    let mut reconcile = province.node(WUDU).cli();
    reconcile
        .args([
            "--json",
            "reconcile",
            "--source",
            "police",
            "--purpose",
            "半年度比对",
            "--against",
        ])
        .arg(&extract);
    let report = json_of(&mpx_tests::run_ok(reconcile));
    let differences = std::path::PathBuf::from(report["differences_file"].as_str().unwrap());
    assert_eq!(
        differences,
        province.dir.join("公安提取.xlsx.differences.xlsx")
    );
    let sheets = workbook_sheets(&differences);
    assert_eq!(sheets[0].0, "比对差异");
    let rows = &sheets[0].1;
    assert_eq!(
        rows[0],
        ["差异", "公民身份号码", "字段", "本方", "对方", "对方行号"]
    );
    assert!(
        rows[1..]
            .iter()
            .any(|row| row[0] == "仅本方有" && row[1] == wang && row[5].is_empty()),
        "{rows:?}"
    );
    assert_eq!(report["only_ours"], 1, "{report}");
}
