//! What each listener shows the outside: reflection lists exactly the services it answers;
//! files are private whatever the umask; a stopped process exits.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use tonic::transport::{Channel, Endpoint};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use mpx_tests::Province;

const WUDU: &str = "621202";
const LINXIA: &str = "621221";

/// The services a listener's reflection advertises.
async fn listed(channel: Channel) -> BTreeSet<String> {
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tonic::codegen::tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names
        .iter()
        .chain(&[
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
        ])
        .map(|name| name.to_string())
        .collect()
}

async fn plain(address: std::net::SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Seen: every listener listed the whole contract, so `grpcurl list` offered services that
/// answer UNIMPLEMENTED there.
#[tokio::test]
async fn each_listener_lists_exactly_the_services_it_serves() {
    let province = Province::start(&[WUDU, LINXIA]).await;
    let node_peer = listed(province.peer_channel(LINXIA, WUDU).await.unwrap()).await;
    assert_eq!(node_peer, set(&["mpx.v1.Exchange"]));
    let node_operator = listed(plain(province.node(WUDU).operator.unwrap()).await).await;
    assert_eq!(
        node_operator,
        set(&["mpx.v1.Records", "mpx.v1.Cases", "mpx.v1.Alerts"])
    );
    let registry_peer = listed(province.registry_peer_channel(WUDU).await.unwrap()).await;
    assert_eq!(
        registry_peer,
        set(&[
            "mpx.v1.Enrollment",
            "mpx.v1.Directory",
            "mpx.v1.Compliance",
            "mpx.v1.Index"
        ])
    );
    let registry_operator = listed(province.registry_operator_channel().await.0).await;
    assert_eq!(
        registry_operator,
        set(&["mpx.v1.Queries", "mpx.v1.Compliance"])
    );
}

/// Registers a person at WUDU whose hukou is LINXIA: a notice queued for a peer.
async fn queue_a_notice(province: &Province, seq: u32) {
    province
        .node(WUDU)
        .records()
        .await
        .create_person(mpx_proto::v1::CreatePersonRequest {
            person: Some(mpx_proto::v1::Person {
                resident_id: mpx_tests::resident_id(LINXIA, seq),
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

/// SIGTERM to WUDU's node; it must have exited within 60 s.
async fn sigterm_and_expect_exit(province: &mut Province) {
    let process = province
        .nodes
        .get_mut(WUDU)
        .unwrap()
        .process
        .as_mut()
        .unwrap();
    process.signal_group("-TERM");
    let started = std::time::Instant::now();
    while process.is_running() && started.elapsed() < std::time::Duration::from_secs(60) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        !process.is_running(),
        "the node still runs 60 s after SIGTERM"
    );
    eprintln!("exited {:?} after SIGTERM", started.elapsed());
}

/// Seen: a node whose data directory was deleted logged "background work did not stop within
/// 10 s" after SIGTERM and never exited. After the drain deadline the process exits, whatever
/// its background tasks are doing.
#[tokio::test]
async fn a_node_exits_after_sigterm_even_when_its_data_directory_is_gone() {
    let mut province = Province::start(&[WUDU, LINXIA]).await;
    // Work in flight: a notice queued for a peer, then the data directory removed under it.
    queue_a_notice(&province, 3).await;
    std::fs::remove_dir_all(&province.node(WUDU).data_dir).unwrap();
    sigterm_and_expect_exit(&mut province).await;
}

/// A node whose registry hangs (SIGSTOP) mid-call still exits after SIGTERM.
#[tokio::test]
async fn a_node_exits_after_sigterm_while_its_registry_hangs() {
    let mut province = Province::start(&[WUDU, LINXIA]).await;
    province.registry.as_ref().unwrap().signal_group("-STOP");
    queue_a_notice(&province, 4).await;
    sigterm_and_expect_exit(&mut province).await;
    province.registry.as_ref().unwrap().signal_group("-CONT");
}

/// Every file the servers create is private (0600, directories 0700) whatever the umask they
/// were started with. Seen: node databases 0644 under the quickstart.
#[tokio::test]
async fn every_file_a_province_writes_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    // The harness starts the servers with this process's umask; make it permissive.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let province = Province::start(&[WUDU, LINXIA]).await;
    // Traffic, so that WAL files, receipts and caches exist.
    queue_a_notice(&province, 5).await;
    let mut checked = 0;
    let mut open = Vec::new();
    let mut pending = vec![province.dir.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let metadata = entry.metadata().unwrap();
            let mode = metadata.permissions().mode() & 0o777;
            if metadata.is_dir() {
                pending.push(entry.path());
            }
            if mode & 0o077 != 0 {
                open.push(format!("{:o} {}", mode, entry.path().display()));
            }
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} files");
    assert!(open.is_empty(), "readable by others: {open:#?}");
}
