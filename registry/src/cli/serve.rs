//! `registry serve`: bind the listeners (peer, operator, console), record their addresses in serve.json, then run the
//! registry ([`crate::run`]) until a shutdown signal. What is served is in [`crate::service`].

use std::path::PathBuf;

use mpx_proto::runtime::{bind_listener, init_tracing, record_bound_addresses, shutdown_signal};

use crate::config::RegistryConfig;

/// `serve`: until SIGTERM or Ctrl-C.
pub(super) async fn serve(
    config: RegistryConfig,
    ready_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    init_tracing(config.log_format);
    let peer = bind_listener(&config.peer_listen.to_string(), "peer").await?;
    let operator = bind_listener(&config.operator_listen.to_string(), "operator").await?;
    let console = if config.console_listen.trim().is_empty() {
        None
    } else {
        Some(bind_listener(config.console_listen.trim(), "console").await?)
    };
    let console_address = match &console {
        Some(listener) => listener.local_addr()?.to_string(),
        None => String::new(),
    };
    let bound = serde_json::json!({
        "peer": peer.local_addr()?.to_string(),
        "operator": operator.local_addr()?.to_string(),
        "console": console_address,
    });
    record_bound_addresses(
        &bound,
        &config.data_dir.join("serve.json"),
        ready_file.as_deref(),
    )?;
    crate::run(
        config,
        crate::Listeners {
            peer,
            operator,
            console,
        },
        shutdown_signal(),
    )
    .await?;
    Ok(())
}
