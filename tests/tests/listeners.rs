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
