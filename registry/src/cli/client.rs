//! The operator-API client side of the command line: the `--server`/`--token` and query flags,
//! and the Bearer-token channel to a running `registry serve`. What each command asks and prints
//! is in `queries.rs` and `report.rs`; the server side is [`crate::service`].

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

pub(super) use mpx_proto::operator_client::OperatorChannel;

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
    let serve_state = config.data_dir.join("serve.json");
    let token_file = config.operator_token_path();
    let target = mpx_proto::operator_client::OperatorTarget {
        server: operator.server.as_deref(),
        token: operator.token.as_deref(),
        configured: config.operator_listen,
        serve_state: &serve_state,
        token_file: &token_file,
        serve_command: "registry serve",
    };
    let (channel, _) = target.connect().await.map_err(anyhow::Error::msg)?;
    Ok(channel)
}
