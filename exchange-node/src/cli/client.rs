//! The operator API as the clerk commands reach it: where the node listens, the bearer token,
//! and a gRPC status turned into a message that says what to check.

use super::*;

pub(super) type Authorized = InterceptedService<Channel, AuthHeader>;

#[derive(Clone)]
pub(super) struct AuthHeader(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for AuthHeader {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub(super) async fn connect(
    cli: &Cli,
    config: &NodeConfig,
) -> anyhow::Result<(Channel, AuthHeader, String)> {
    let server = match &cli.server {
        Some(server) => server.clone(),
        None => {
            // The running server's own record of what it bound wins over the config.
            let mut address = config.operator_listen;
            if address.port() == 0 || config.paths().serve_state.exists() {
                address = bound_operator_address(config)?;
            }
            if address.ip().is_unspecified() {
                address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{address}")
        }
    };
    let token = match &cli.token {
        Some(token) => token.trim().to_string(),
        None => read_token_file(&config.paths().operator_token)?,
    };
    let header = format!("Bearer {token}")
        .parse()
        .context("the operator token has characters that cannot go in a header")?;
    let channel = tonic::transport::Endpoint::from_shared(server.clone())
        .with_context(|| format!("--server {server:?}: expected http://HOST:PORT"))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot reach the node's operator API at {server}: is `exchange-node serve` running? (set --server or {CONFIG_FILE_NAME})"))?;
    Ok((channel, AuthHeader(header), server))
}

/// The operator address a running `serve` bound (from `DATA_DIR/serve.json`).
pub(super) fn bound_operator_address(config: &NodeConfig) -> anyhow::Result<std::net::SocketAddr> {
    let path = config.paths().serve_state;
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("the config asks for operator port 0 and {} is missing: is the node serving? (or pass --server)", path.display())
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    value["operator"]
        .as_str()
        .and_then(|address| address.parse().ok())
        .with_context(|| format!("{} has no operator address", path.display()))
}

pub(super) fn explain(status: tonic::Status) -> anyhow::Error {
    let hint = match status.code() {
        tonic::Code::Unauthenticated => {
            " (check --token / MPX_TOKEN, or the data directory's operator.token)"
        }
        tonic::Code::Unavailable => {
            " (the node may be stopping or its database unavailable; retry)"
        }
        _ => "",
    };
    anyhow::anyhow!("{}{hint}", status.message())
}

pub(super) async fn records_client(
    cli: &Cli,
    config: &NodeConfig,
) -> anyhow::Result<RecordsClient<Authorized>> {
    let (channel, auth, _) = connect(cli, config).await?;
    Ok(RecordsClient::new(InterceptedService::new(channel, auth)))
}

pub(super) async fn cases_client(
    cli: &Cli,
    config: &NodeConfig,
) -> anyhow::Result<CasesClient<Authorized>> {
    let (channel, auth, _) = connect(cli, config).await?;
    Ok(CasesClient::new(InterceptedService::new(channel, auth)))
}
