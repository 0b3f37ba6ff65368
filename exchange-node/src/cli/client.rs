//! The operator API as the clerk commands reach it: this node's `--server`, `serve.json` or
//! config, and its token (the shared parts are `mpx_proto::operator_client`).

use super::*;

pub(super) type Authorized = OperatorChannel;

/// A channel to the node's operator API, with the operator's token on every call.
pub(super) async fn connect(cli: &Cli, config: &NodeConfig) -> anyhow::Result<Authorized> {
    let paths = config.paths();
    let target = OperatorTarget {
        server: cli.server.as_deref(),
        token: cli.token.as_deref(),
        configured: config.operator_listen,
        serve_state: &paths.serve_state,
        token_file: &paths.operator_token,
        serve_command: "exchange-node serve",
    };
    let (channel, _) = target.connect().await.map_err(anyhow::Error::msg)?;
    Ok(channel)
}

/// A failed call as an error that says what to check.
pub(super) fn explain(status: tonic::Status) -> anyhow::Error {
    anyhow::Error::msg(mpx_proto::operator_client::explain(&status))
}

pub(super) async fn records_client(
    cli: &Cli,
    config: &NodeConfig,
) -> anyhow::Result<RecordsClient<Authorized>> {
    Ok(RecordsClient::new(connect(cli, config).await?))
}

pub(super) async fn cases_client(
    cli: &Cli,
    config: &NodeConfig,
) -> anyhow::Result<CasesClient<Authorized>> {
    Ok(CasesClient::new(connect(cli, config).await?))
}
