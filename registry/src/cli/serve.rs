//! `registry serve`: bind both listeners, record their addresses in serve.json, then run the
//! registry ([`crate::run`]) until a shutdown signal. What is served is in [`crate::service`].

use std::path::PathBuf;

use anyhow::Context;
use mpx_proto::runtime::{init_tracing, shutdown_signal};

use crate::config::RegistryConfig;

/// `serve`: until SIGTERM or Ctrl-C.
pub(super) async fn serve(
    config: RegistryConfig,
    ready_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    init_tracing(config.log_format);
    let peer = tokio::net::TcpListener::bind(config.peer_listen)
        .await
        .with_context(|| format!("binding the peer listener on {}", config.peer_listen))?;
    let operator = tokio::net::TcpListener::bind(config.operator_listen)
        .await
        .with_context(|| {
            format!(
                "binding the operator listener on {}",
                config.operator_listen
            )
        })?;
    let ready = serde_json::json!({
        "peer": peer.local_addr()?.to_string(),
        "operator": operator.local_addr()?.to_string(),
    });
    // The bound addresses, for query commands when the config asks for port 0.
    let state = config.data_dir.join("serve.json");
    std::fs::write(&state, ready.to_string())
        .with_context(|| format!("writing {}", state.display()))?;
    if let Some(path) = ready_file {
        std::fs::write(&path, ready.to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    crate::run(
        config,
        crate::Listeners { peer, operator },
        shutdown_signal(),
    )
    .await?;
    Ok(())
}
