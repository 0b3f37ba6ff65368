//! The operator-API client side of the command line: the `--server`/`--token` and query flags,
//! and the Bearer-token channel to a running `registry serve`. What each command asks and prints
//! is in `queries.rs` and `report.rs`; the server side is [`crate::service`].

use anyhow::Context;

use crate::config::RegistryConfig;

/// Where the operator API is and who calls it.
#[derive(clap::Args)]
pub(super) struct OperatorArgs {
    /// Operator API, e.g. http://127.0.0.1:7401 (default: serve.json, else the config).
    #[arg(long, env = "MPX_SERVER")]
    pub(super) server: Option<String>,
    /// Operator token (default: DATA_DIR/operator.token).
    #[arg(long, env = "MPX_TOKEN", hide_env_values = true)]
    pub(super) token: Option<String>,
}

/// What every province-wide query takes.
#[derive(clap::Args)]
pub(super) struct QueryArgs {
    /// Why you ask (recorded in the audit log with your operator name).
    #[arg(long)]
    pub(super) purpose: String,
    #[command(flatten)]
    pub(super) operator: OperatorArgs,
    /// JSON instead of a table.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Clone)]
pub(super) struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
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

pub(super) type OperatorChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

pub(super) async fn queries_client(
    config: &RegistryConfig,
    query: &QueryArgs,
) -> anyhow::Result<mpx_proto::v1::queries_client::QueriesClient<OperatorChannel>> {
    Ok(mpx_proto::v1::queries_client::QueriesClient::new(
        operator_channel(config, &query.operator).await?,
    ))
}

pub(super) async fn compliance_client(
    config: &RegistryConfig,
    operator: &OperatorArgs,
) -> anyhow::Result<mpx_proto::v1::compliance_client::ComplianceClient<OperatorChannel>> {
    Ok(mpx_proto::v1::compliance_client::ComplianceClient::new(
        operator_channel(config, operator).await?,
    ))
}

/// A channel to the running registry's operator API with the operator's token.
async fn operator_channel(
    config: &RegistryConfig,
    operator: &OperatorArgs,
) -> anyhow::Result<OperatorChannel> {
    let server = match operator.server.clone() {
        Some(server) => server,
        None => {
            // The running server's own record of what it bound wins over the config.
            let path = config.data_dir.join("serve.json");
            let mut address = config.operator_listen;
            if address.port() == 0 || path.exists() {
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "{} is missing: is `registry serve` running? (or pass --server)",
                        path.display()
                    )
                })?;
                let value: serde_json::Value = serde_json::from_str(&text)?;
                address = value["operator"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .context("serve.json has no operator address")?;
            }
            if address.ip().is_unspecified() {
                address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{address}")
        }
    };
    let token = match operator.token.clone() {
        Some(token) => token,
        None => std::fs::read_to_string(config.operator_token_path()).with_context(|| {
            format!(
                "reading {} (or pass --token)",
                config.operator_token_path().display()
            )
        })?,
    };
    let header = format!("Bearer {}", token.trim())
        .parse()
        .context("the token cannot go in a header")?;
    let channel = tonic::transport::Endpoint::from_shared(server.clone())?
        .connect()
        .await
        .with_context(|| format!("cannot reach the registry's operator API at {server}"))?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel,
        Bearer(header),
    ))
}
