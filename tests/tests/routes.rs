//! Where a notice can go. A code that is no county is refused wherever it comes from; a real
//! county with no route (not enrolled yet, or in another province) holds its notices, says so,
//! raises one alert per destination, and delivers them when a route appears. Seen before: a
//! notice to 110101 (another province) or 629999 (no county) retried with back-off for ever
//! while the clerk was told nothing.
#![allow(clippy::unwrap_used)]

use mpx_proto::v1::{
    self, AlertKind, CaseDirection, CreatePersonRequest, ListAlertsRequest, ListCasesRequest,
};
use mpx_tests::{Province, WAIT, resident_id, wait_until};

const WUDU: &str = "621202";
const LINXIA: &str = "621221";
const CHENGGUAN: &str = "620102";
/// 北京市朝阳区: a real county of a province this one does not exchange with.
const CHAOYANG: &str = "110105";

fn arrival(id: String, hukou: &str) -> v1::Person {
    v1::Person {
        resident_id: id,
        name: "测试人员".into(),
        hukou_county: hukou.into(),
        residence_address: "城关镇人民路12号".into(),
        arrival_date: "2026-03-01".into(),
        ..Default::default()
    }
}

async fn outbox(province: &Province) -> Vec<v1::Case> {
    province
        .node(WUDU)
        .cases()
        .await
        .list_cases(ListCasesRequest {
            direction: CaseDirection::Outbound as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases
}

async fn open_no_route_alerts(province: &Province) -> Vec<v1::Alert> {
    province
        .node(WUDU)
        .alerts()
        .await
        .list_alerts(ListAlertsRequest {
            open_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .alerts
        .into_iter()
        .filter(|alert| alert.kind() == AlertKind::NoRoute)
        .collect()
}

#[tokio::test]
async fn a_code_that_is_no_county_is_refused_and_a_county_without_a_route_is_held() {
    let mut province = Province::start(&[WUDU, LINXIA]).await;
    let mut records = province.node(WUDU).records().await;

    // No county at all: refused at the clerk API, with why.
    let status = records
        .create_person(CreatePersonRequest {
            person: Some(arrival(resident_id(LINXIA, 1), "629999")),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status
            .message()
            .starts_with("person.hukou_county: 629999 is no county in GB/T 2260"),
        "{}",
        status.message()
    );

    // A county of another province, and one of ours not enrolled yet: stored, held, and said.
    for (seq, hukou) in [(2, CHAOYANG), (3, CHENGGUAN)] {
        let response = records
            .create_person(CreatePersonRequest {
                person: Some(arrival(resident_id(hukou, seq), hukou)),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            response
                .warnings
                .iter()
                .any(|w| w.contains("has no route yet") && w.contains(hukou)),
            "{:?}",
            response.warnings
        );
    }
    let held = outbox(&province).await;
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(|case| case.no_route), "{held:#?}");
    let shown = province.node(WUDU).cli_output(&["cases", "outbox"]);
    assert!(shown.contains("held: no route"), "{shown}");

    // One alert per destination, naming it.
    wait_until(WAIT, "a NO_ROUTE alert per destination", || async {
        open_no_route_alerts(&province).await.len() == 2
    })
    .await;
    let alerts = open_no_route_alerts(&province).await;
    assert!(
        alerts
            .iter()
            .any(|a| a.counterpart_county == CHAOYANG && a.detail.contains("朝阳区"))
    );

    // No attempts while held: the log has no delivery failures for either.
    let log = std::fs::read_to_string(province.node(WUDU).data_dir.join("node.log")).unwrap();
    assert!(!log.contains("delivery failed"), "{log}");

    // CHENGGUAN enrols: what was held for it is delivered without anyone asking.
    province.enroll(CHENGGUAN);
    province.start_node(CHENGGUAN).await;
    wait_until(WAIT, "the held notice delivered to 620102", || async {
        outbox(&province).await.iter().any(|case| {
            case.recipient_county == CHENGGUAN && case.state() == v1::CaseState::Delivered
        })
    })
    .await;
    wait_until(WAIT, "its NO_ROUTE alert cleared", || async {
        let open = open_no_route_alerts(&province).await;
        open.len() == 1 && open[0].counterpart_county == CHAOYANG
    })
    .await;
}
