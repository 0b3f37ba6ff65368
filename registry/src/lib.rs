//! The provincial registry: CA and enrolment, the signed directory of county nodes, the
//! provincial index and its queries, and the compliance figures.
//!
//! # Layout
//!
//! - [`config`]: the typed configuration (file, `MPX_*` variables, flags).
//! - [`ca`]: the provincial root CA; node certificates from CSRs; the registry's own certificate.
//! - [`store`]: all SQL (directory, tokens, index, audit chain, case reports, compliance rows,
//!   province alerts, assignments).
//! - [`compliance`]: pure core of the figures: periods, evidence verification, merging both
//!   sides' reports into one case, the per-county report and ranking.
//! - [`render`]: `registry report` output: table, CSV, JSON, the Markdown notice (通报).
//! - [`service`]: `mpx.v1.Enrollment`, `Directory`, `Index`, `Compliance` (peer listener) and
//!   `Queries`, `Compliance` (operator listener).
//! - [`console`]: the province console (web pages over the same services; sign-in shared with
//!   the county console through `console_kit`).
//! - [`run`]: serves the peer, operator and console listeners until shutdown.
//! - [`cli`]: the command line, one module per command group.
//!
//! The binary (`src/main.rs`) only calls [`cli::main`], which parses the command line, loads the
//! config and calls [`run`], one of the offline commands (`ca init`, `ca issue`, `enroll`,
//! `revoke`, `nodes`, `operator add`, `audit verify`) or an operator-API client (`locate`,
//! `report`, `watch`, `evidence`, …).

pub mod ca;
pub mod cli;
pub mod compliance;
pub mod config;
pub mod console;
pub mod reconcile;
pub mod render;
pub mod service;
pub mod store;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use mpx_proto::division::ProvinceCode;
use mpx_proto::evidence::Signer;
use mpx_proto::runtime::{TlsMaterial, reflection_service};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::ca::{CaPaths, CertificateAuthority};
use crate::config::RegistryConfig;
use crate::service::compliance::{ComplianceService, EvidenceSettings, Listener};
use crate::service::directory::{DeadlineSettings, DirectoryService};
use crate::service::enrollment::EnrollmentService;
use crate::service::index::IndexService;
use crate::service::queries::QueriesService;
use crate::store::Store;

/// The bound listeners `run` serves on (bind port 0 in tests).
#[derive(Debug)]
pub struct Listeners {
    pub peer: TcpListener,
    pub operator: TcpListener,
    /// The province console (web), when enabled.
    pub console: Option<TcpListener>,
}

/// Periodic upkeep that must run once per province, not once per replica: each run takes the
/// `registry:maintenance` lease first; the replica that holds it does the work.
async fn maintenance_loop(store: Store, interval: std::time::Duration, cancel: CancellationToken) {
    let holder = format!("registry/{}", uuid::Uuid::now_v7());
    let lease_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX / 4) * 2;
    loop {
        let now = mpx_proto::time::now_unix_ms();
        match store
            .try_lease("registry:maintenance", &holder, now, lease_ms)
            .await
        {
            Ok(true) => {
                // Keep spent tokens a week for the record, then drop them.
                match store
                    .delete_expired_enrollment_tokens(now - 7 * 24 * 3_600_000)
                    .await
                {
                    Ok(deleted) => {
                        tracing::info!(deleted, %holder, "maintenance: expired enrolment tokens removed")
                    }
                    Err(error) => tracing::warn!(%error, "maintenance failed"),
                }
            }
            Ok(false) => tracing::debug!("maintenance: another replica holds the lease"),
            Err(error) => tracing::warn!(%error, "maintenance: cannot take the lease"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Raises province alerts the passing of time causes (OVERDUE; DISPUTED for evidence one side
/// still lacks after the grace period). One replica scans, under the `registry:alerts` lease.
async fn alert_scan_loop(
    store: Store,
    interval: std::time::Duration,
    grace_ms: i64,
    cancel: CancellationToken,
) {
    let holder = format!("registry/{}", uuid::Uuid::now_v7());
    let lease_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX / 4) * 2;
    loop {
        let now = mpx_proto::time::now_unix_ms();
        match store
            .try_lease("registry:alerts", &holder, now, lease_ms)
            .await
        {
            Ok(true) => match store.scan_compliance_alerts(now, grace_ms).await {
                Ok(0) => {}
                Ok(raised) => tracing::info!(raised, "province alerts raised"),
                Err(error) => tracing::warn!(%error, "alert scan failed"),
            },
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "alert scan: cannot take the lease"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Serves until `shutdown` resolves, then drains in-flight calls and closes the database.
pub async fn run(
    config: RegistryConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let province = ProvinceCode::parse(&config.province).with_context(|| {
        "set `province` (e.g. \"62\") in the config; `registry ca init --province CODE` writes it"
    })?;
    let store = Store::connect(&config.database_url())
        .await
        .context("opening the registry database")?;
    let authority = Arc::new(CertificateAuthority::load(&config.data_dir, province)?);
    let paths = CaPaths::new(&config.data_dir);
    let tls = TlsMaterial::load(
        &paths.registry_certificate,
        &paths.registry_key,
        &paths.ca_certificate,
    )?;
    let signer =
        Arc::new(Signer::from_pkcs8_pem(&tls.key_pem).context("loading the registry key")?);

    let enrollment = EnrollmentService::new(
        store.clone(),
        authority.clone(),
        province,
        config.certificate_validity_days,
    );
    let calendar = config
        .calendar()
        .context("loading the working-day calendar")?;
    let policies = config
        .policies()
        .map_err(|error| anyhow::anyhow!("deadline policies: {error}"))?;
    let deadlines = Arc::new(DeadlineSettings {
        calendar: mpx_proto::policy::calendar_to_proto(&calendar),
        calendar_version: calendar.version(),
        policy_version: mpx_proto::policy::policy_version(&policies),
        policies,
    });
    if store
        .publish_settings(&deadlines.calendar_version, &deadlines.policy_version)
        .await?
    {
        tracing::info!(calendar = %deadlines.calendar_version, policies = %deadlines.policy_version, "new calendar or policies published");
    }
    for year in calendar.years().filter(|year| !year.published) {
        tracing::warn!(
            year = year.year,
            "no published holiday notice for this year: deadlines reaching into it are provisional (weekends only)"
        );
    }
    let calendar = Arc::new(calendar);
    let grace_ms = i64::try_from(config.reconcile_grace_minutes)
        .unwrap_or(i64::MAX / 120_000)
        .saturating_mul(60_000);
    let evidence = EvidenceSettings {
        calendar: calendar.clone(),
        deadlines: deadlines.clone(),
        grace_ms,
        max_transit_ms: i64::try_from(config.max_transit_hours)
            .unwrap_or(i64::MAX / 7_200_000)
            .saturating_mul(3_600_000),
    };
    let directory = DirectoryService::new(
        store.clone(),
        signer,
        tls.certificate_pem.clone(),
        province.to_string(),
        deadlines,
    );

    let cancel = CancellationToken::new();
    // Checked before anything is served: a console on a LAN address without HTTPS is refused.
    let console_tls = console_kit::tls::from_config(
        &config.console_listen,
        config.console_certificate.as_deref(),
        config.console_key.as_deref(),
    )?;
    let console = listeners.console.map(|listener| {
        let state = crate::console::ConsoleState::new(crate::console::Inner {
            store: store.clone(),
            compliance: ComplianceService::new(
                store.clone(),
                Listener::Operator,
                evidence.clone(),
                cancel.clone(),
            ),
            idle_minutes: i64::try_from(config.console_idle_minutes.max(1)).unwrap_or(30),
            https: console_tls.is_some(),
            province,
            enrollment_token_ttl_hours: config.enrollment_token_ttl_hours,
            queries: QueriesService::new(store.clone(), evidence.clone()),
        });
        tokio::spawn(crate::console::serve(
            listener,
            console_tls,
            state,
            cancel.clone(),
        ))
    });
    let tokens = mpx_proto::runtime::OperatorTokens::default();
    tokens.replace(store.operator_tokens().await?);
    let (peer_health_reporter, peer_health) = tonic_health::server::health_reporter();
    peer_health_reporter
        .set_serving::<mpx_proto::v1::enrollment_server::EnrollmentServer<EnrollmentService>>()
        .await;
    peer_health_reporter
        .set_serving::<mpx_proto::v1::directory_server::DirectoryServer<DirectoryService>>()
        .await;
    let (_operator_health_reporter, operator_health) = tonic_health::server::health_reporter();

    let peer_address = listeners.peer.local_addr()?;
    let operator_address = listeners.operator.local_addr()?;
    let peer_server = Server::builder()
        .tls_config(tls.server_config(false))?
        .add_service(peer_health)
        .add_service(reflection_service(&[
            mpx_proto::v1::enrollment_server::SERVICE_NAME,
            mpx_proto::v1::directory_server::SERVICE_NAME,
            mpx_proto::v1::compliance_server::SERVICE_NAME,
            mpx_proto::v1::index_server::SERVICE_NAME,
        ])?)
        .add_service(enrollment.into_server())
        .add_service(directory.into_server())
        .add_service(
            ComplianceService::new(
                store.clone(),
                Listener::Peer,
                evidence.clone(),
                cancel.clone(),
            )
            .into_server(),
        )
        .add_service(IndexService::new(store.clone()).into_server())
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listeners.peer),
            cancel.clone().cancelled_owned(),
        );
    let operator_server = Server::builder()
        .add_service(operator_health)
        .add_service(reflection_service(&[
            mpx_proto::v1::queries_server::SERVICE_NAME,
            mpx_proto::v1::compliance_server::SERVICE_NAME,
        ])?)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            QueriesService::new(store.clone(), evidence.clone()).into_server(),
            tokens.interceptor(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            ComplianceService::new(
                store.clone(),
                Listener::Operator,
                evidence.clone(),
                cancel.clone(),
            )
            .into_server(),
            tokens.interceptor(),
        ))
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listeners.operator),
            cancel.clone().cancelled_owned(),
        );
    tracing::info!(%peer_address, %operator_address, province = %province, "registry serving");

    let token_refresh = tokio::spawn({
        let tokens = tokens.clone();
        let store = store.clone();
        let cancel = cancel.clone();
        async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                }
                match store.operator_tokens().await {
                    Ok(current) => tokens.replace(current),
                    Err(error) => tracing::warn!(%error, "cannot reload operator tokens"),
                }
            }
        }
    });
    let maintenance = tokio::spawn(maintenance_loop(
        store.clone(),
        std::time::Duration::from_secs(config.maintenance_interval_seconds.max(1)),
        cancel.clone(),
    ));

    let alert_scan = tokio::spawn(alert_scan_loop(
        store.clone(),
        std::time::Duration::from_secs(config.alert_scan_seconds.max(1)),
        grace_ms,
        cancel.clone(),
    ));

    let shutdown_trigger = cancel.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutdown requested: draining");
        shutdown_trigger.cancel();
        // Draining (15 s), background work and closing the database, with a margin.
        mpx_proto::runtime::exit_after(std::time::Duration::from_secs(40));
    });
    let drain_deadline = {
        let cancel = cancel.clone();
        async move {
            cancel.cancelled().await;
            tokio::time::sleep(std::time::Duration::from_secs(15)).await;
        }
    };
    let (peer_result, operator_result) = tokio::select! {
        results = async { tokio::join!(peer_server, operator_server) } => results,
        _ = drain_deadline => {
            tracing::warn!("calls still open 15 s after shutdown began; closing them");
            (Ok(()), Ok(()))
        }
    };
    cancel.cancel();
    let _ = maintenance.await;
    let _ = alert_scan.await;
    let _ = token_refresh.await;
    if let Some(console) = console {
        let _ = console.await;
    }
    if tokio::time::timeout(std::time::Duration::from_secs(5), store.close())
        .await
        .is_err()
    {
        tracing::warn!("the database did not close within 5 s; exiting without it");
    }
    peer_result.context("peer listener")?;
    operator_result.context("operator listener")?;
    tracing::info!("registry stopped");
    Ok(())
}
