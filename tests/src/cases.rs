//! Cases as the end-to-end tests make and read them: a verification from 621202 (the tests'
//! requester) about a generated person, a clerk's answer, a case as a node holds it, and the
//! province's report as `registry report --format json` prints it.

use mpx_proto::v1::{
    self, CaseDirection, CaseKind, CasePriority, GetCaseRequest, ListCasesRequest, OpenCaseRequest,
    RespondCaseRequest,
};

use crate::{Province, resident_id, run_ok};

/// The county that opens the tests' verifications.
pub const REQUESTER: &str = "621202";

/// Opens a normal-priority verification from 621202 to `recipient` about generated person
/// `seq` of that county.
pub async fn open_verification(province: &Province, recipient: &str, seq: u32) -> v1::Case {
    open_verification_from(province, REQUESTER, recipient, seq, CasePriority::Normal).await
}

/// Opens a verification from `requester` to `recipient` about generated person `seq` of that
/// county.
pub async fn open_verification_from(
    province: &Province,
    requester: &str,
    recipient: &str,
    seq: u32,
    priority: CasePriority,
) -> v1::Case {
    province
        .node(requester)
        .cases()
        .await
        .open_case(OpenCaseRequest {
            kind: CaseKind::Verification as i32,
            recipient_county: recipient.into(),
            priority: priority as i32,
            resident_id: resident_id(recipient, seq),
            subject_name: "测试人员".into(),
            questions: "请核实该人员现居住情况".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
}

/// `county`'s clerk answers `case_id`.
pub async fn respond(province: &Province, county: &str, case_id: &str) {
    province
        .node(county)
        .cases()
        .await
        .respond_case(RespondCaseRequest {
            case_id: case_id.into(),
            answer: "经核实，该人员仍在本辖区居住".into(),
            verdict: 0,
        })
        .await
        .unwrap();
}

/// The case as `county`'s node holds it.
pub async fn case_at(province: &Province, county: &str, case_id: &str) -> v1::Case {
    province
        .node(county)
        .cases()
        .await
        .get_case(GetCaseRequest {
            case_id: case_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
}

/// `registry report --period P [--as-of A] --format json` as a JSON value.
pub fn report_json(province: &Province, period: &str, as_of: Option<&str>) -> serde_json::Value {
    let mut command = province.registry_cli();
    command.args(["report", "--period", period, "--format", "json"]);
    if let Some(as_of) = as_of {
        command.args(["--as-of", as_of]);
    }
    let out = run_ok(command);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("report is not JSON ({e}): {out}"))
}

/// The row of `code` in a report.
pub fn report_county<'a>(report: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    report["counties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["county"] == code)
        .unwrap_or_else(|| panic!("county {code} missing from {report}"))
}

/// A generated person living in the sending county with their hukou in `hukou`: registering
/// them sends a residence notice there.
pub fn person(id: &str, hukou: &str) -> v1::Person {
    v1::Person {
        resident_id: id.to_string(),
        name: "测试人员".to_string(),
        hukou_county: hukou.to_string(),
        residence_address: "城关镇人民路12号".to_string(),
        arrival_date: "2026-03-01".to_string(),
        ..Default::default()
    }
}

/// Every case of one direction at `county`, through all pages of `ListCases`.
pub async fn cases_at(
    province: &Province,
    county: &str,
    direction: CaseDirection,
) -> Vec<v1::Case> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let response = province
            .node(county)
            .cases()
            .await
            .list_cases(ListCasesRequest {
                direction: direction as i32,
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(response.cases);
        if response.next_page_token.is_empty() {
            return all;
        }
        page_token = response.next_page_token;
    }
}
