//! Prometheus metrics on `GET /metrics` (its own listener, `metrics_listen`).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `mpx_cases` | gauge | `kind`, `direction`, `state`: cases by state (open and finished) |
//! | `mpx_alerts_open` | gauge | `kind` (`due_soon`, `overdue`, `escalated`, `not_accepted`, `undelivered`, `no_route`), `direction` |
//! | `mpx_outbox_depth` | gauge | `peer`: messages waiting for delivery |
//! | `mpx_outbox_oldest_age_seconds` | gauge | `peer`: age of the oldest waiting message |
//! | `mpx_delivery_latency_seconds` | histogram | — : queued → receipt stored, per message |
//! | `mpx_alerts_fired_total` | counter | `kind` |
//! | `mpx_messages_received_total` | counter | `kind`, `outcome` (`stored`, `rejected`, `duplicate`) |
//! | `mpx_intake_pushbacks_total` | counter | — : batches refused as busy (UNAVAILABLE with a retry-after) |
//! | `mpx_recovery_messages_total` | counter | `outcome` (`replayed`, `rebuilt`, `needs_clerk`): what this node got back from its peers after a restore |
//! | `mpx_recovery_served_total` | counter | `direction` (`replayed`, `returned`): messages this node gave back to a restored peer |
//! | `mpx_recovery_peers_pending` | gauge | — : peers this start's recovery pass has still to hear from |
//! | `mpx_restore_unfinished` | gauge | — : 1 while a restore's recovery is not finished |
//!
//! Gauges are read from the database at each scrape, so they are exact and survive restarts;
//! counters and the histogram count since the process started. No personal data is in any label.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];

/// Every case state's label (the contract's states after `UNSPECIFIED`).
fn case_states() -> impl Iterator<Item = &'static str> {
    (1..)
        .map_while(|number| mpx_proto::v1::CaseState::try_from(number).ok())
        .map(crate::domain::state_label)
}

/// Installs the process-wide recorder (the `metrics` facade is global by design). `None` when
/// one is installed already.
pub fn install_recorder() -> Option<PrometheusHandle> {
    let buckets = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
    ];
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("mpx_delivery_latency_seconds".into()),
            &buckets,
        )
        .ok()?;
    match builder.install_recorder() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!(%error, "metrics recorder not installed");
            None
        }
    }
}

#[derive(Clone)]
struct MetricsState {
    handle: PrometheusHandle,
    store: Store,
    /// Peers seen with a non-empty outbox, so their gauges drop to 0 once drained.
    peers: Arc<Mutex<HashSet<String>>>,
}

async fn render(State(state): State<MetricsState>) -> (axum::http::StatusCode, String) {
    if let Err(error) = refresh_gauges(&state).await {
        tracing::warn!(%error, "metrics: cannot read the database");
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("# database unavailable: {error}\n"),
        );
    }
    (axum::http::StatusCode::OK, state.handle.render())
}

async fn refresh_gauges(state: &MetricsState) -> Result<(), crate::store::StoreError> {
    let now = mpx_proto::time::now_unix_ms();
    let cases = state.store.case_counts().await?;
    for kind in mpx_proto::case_kind::KINDS.iter().map(|spec| spec.label) {
        for direction in DIRECTIONS {
            for case_state in case_states() {
                let count = cases
                    .iter()
                    .find(|(k, d, s, _)| k == kind && d == direction && s == case_state)
                    .map(|(_, _, _, count)| *count)
                    .unwrap_or(0);
                metrics::gauge!("mpx_cases", "kind" => kind, "direction" => direction, "state" => case_state).set(count as f64);
            }
        }
    }
    let alerts = state.store.open_alert_counts().await?;
    for (_, kind, _) in crate::monitor::ALERT_KINDS {
        for direction in DIRECTIONS {
            let count = alerts
                .iter()
                .find(|(k, d, _)| k == kind && d == direction)
                .map(|(_, _, count)| *count)
                .unwrap_or(0);
            metrics::gauge!("mpx_alerts_open", "kind" => kind, "direction" => direction)
                .set(count as f64);
        }
    }
    let recovery = state.store.recovery_summary().await?;
    metrics::gauge!("mpx_recovery_peers_pending").set(recovery.peers_pending as f64);
    metrics::gauge!("mpx_restore_unfinished").set(
        if recovery
            .restore
            .is_some_and(|restore| restore.finished_at_unix_ms == 0)
        {
            1.0
        } else {
            0.0
        },
    );
    let outbox = state.store.outbox_stats().await?;
    let mut peers = state
        .peers
        .lock()
        .map_err(|_| crate::store::StoreError::Database(sqlx::Error::PoolClosed))?;
    for (peer, _, _) in &outbox {
        peers.insert(peer.clone());
    }
    for peer in peers.iter() {
        let (depth, oldest) = outbox
            .iter()
            .find(|(p, _, _)| p == peer)
            .map(|(_, depth, oldest)| (*depth, *oldest))
            .unwrap_or((0, now));
        metrics::gauge!("mpx_outbox_depth", "peer" => peer.clone()).set(depth as f64);
        metrics::gauge!("mpx_outbox_oldest_age_seconds", "peer" => peer.clone())
            .set(((now - oldest).max(0) as f64) / 1000.0);
    }
    Ok(())
}

/// Serves `GET /metrics` until `cancel`.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    store: Store,
    cancel: CancellationToken,
) {
    let state = MetricsState {
        handle,
        store,
        peers: Arc::default(),
    };
    let router = axum::Router::new()
        .route("/metrics", get(render))
        .with_state(state);
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
    {
        tracing::warn!(%error, "metrics listener stopped");
    }
}
