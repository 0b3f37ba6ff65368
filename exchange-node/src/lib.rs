//! One county's exchange node: roster, cases, transactional outbox and idempotent inbox, peer
//! and operator APIs.
//!
//! # Layout
//!
//! - [`config`]: the typed configuration and the data-directory layout.
//! - [`domain`]: pure core: validated input ([`domain::NewResident`]) and the case state machine.
//! - [`store`]: all SQL (people, cases, events, outbox, inbox, audit, tokens).
//! - [`workflow`]: what the node does: register/move/depart people (residence notices), open and
//!   handle cases, store deliveries, settle receipts. Each change commits with its outbox rows.
//! - [`outbox`]: one delivery worker per destination county; batching, backoff with jitter.
//! - [`directory`]: the registry's signed directory: verification, refresh, disk cache.
//! - [`provincial`]: roster changes and case events shipped to the registry from its cursor.
//! - [`recovery`]: once per start, each peer is asked what this database may have lost (after
//!   a restore from a backup: everything since the backup comes back).
//! - [`registry_client`]: the registry's replicas: a healthy one per call, a failed call tried
//!   once more on another, health checks bring a replica that failed back.
//! - [`service`]: gRPC: `mpx.v1.Exchange` (peers, mTLS), `mpx.v1.Records` and `mpx.v1.Cases`
//!   (operators, bearer tokens).
//! - [`enroll`]: `exchange-node init`: key, CSR, enrolment, files.
//! - [`console`]: the county web console (server-rendered HTML over the operator services).
//! - [`cli`]: the command line (thin `main.rs` calls [`cli::main`]).
//! - [`clock`]: injected time.

pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod directory;
pub mod domain;
pub mod enroll;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod monitor;
pub mod outbox;
pub mod provincial;
pub mod recovery;
pub mod registry_client;
pub mod service;
pub mod store;
pub mod workflow;

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, bail};
use mpx_proto::division::CountyCode;
use mpx_proto::identity::{PeerIdentity, REGISTRY_DNS_NAME, certificate_der_from_pem};
use mpx_proto::runtime::{OperatorTokens, TlsMaterial, reflection_service};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::clock::Clock;
use crate::config::NodeConfig;
use crate::directory::{DirectoryHandle, DirectoryRefresher};
use crate::monitor::DeadlineMonitor;
use crate::outbox::{DeliveryManager, DeliveryNotifier};
use crate::registry_client::{RegistryClient, RegistryTimeouts};
use crate::service::alerts::AlertsService;
use crate::service::cases::CasesService;
use crate::service::exchange::ExchangeService;
use crate::service::records::RecordsService;
use crate::store::Store;
use crate::workflow::Workflow;

/// The longest a node takes to stop after SIGTERM: draining calls (15 s), background work (10 s)
/// and closing the database (5 s), with a margin. Past it the process exits whatever it is doing.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(40);

/// The bound listeners `run` serves on (bind port 0 in tests).
#[derive(Debug)]
pub struct Listeners {
    pub peer: TcpListener,
    pub operator: TcpListener,
    /// `GET /metrics` (Prometheus), when enabled.
    pub metrics: Option<TcpListener>,
    /// The web console, when enabled.
    pub console: Option<TcpListener>,
}

/// The endpoint to publish: the configured one, else the bound address (loopback when bound to
/// all interfaces, with a warning: set `peer_advertise` in production).
fn advertised_endpoint(config: &NodeConfig, bound: std::net::SocketAddr) -> String {
    if let Some(endpoint) = &config.peer_advertise {
        return endpoint.clone();
    }
    if bound.ip().is_unspecified() {
        tracing::warn!(
            "peer_advertise is not set; publishing 127.0.0.1, which only nodes on this host can reach"
        );
        return format!("https://127.0.0.1:{}", bound.port());
    }
    format!("https://{bound}")
}

/// This node instance's name for leases: the same across restarts of the same instance (host and
/// data directory), so a node that crashed takes its own leases back at once, while a second
/// instance elsewhere on the same database waits for them to expire.
fn lease_holder(county: CountyCode, config: &NodeConfig) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    let data_dir =
        std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    format!("{county}@{}:{}", host.trim(), data_dir.display())
}

/// Serves until `shutdown` resolves. Shutdown is ordered: stop taking calls, let in-flight calls
/// finish, stop background work, close the database.
pub async fn run(
    config: NodeConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let county = CountyCode::parse(&config.county)
        .with_context(|| format!("`county` in the config is {:?}", config.county))?;
    let paths = config.paths();
    let tls = TlsMaterial::load(&paths.certificate, &paths.key, &paths.ca_certificate)
        .context("loading the node's TLS files (run `exchange-node init` first)")?;
    let certificate_der = certificate_der_from_pem(&tls.certificate_pem)?;
    match PeerIdentity::from_certificate_der(&certificate_der)? {
        PeerIdentity::County(code) if code == county => {}
        other => bail!(
            "the node certificate names {}, but the config says county {county}",
            other.uri()
        ),
    }
    let ca_der = certificate_der_from_pem(&tls.ca_pem)?;
    if config.registry_url.is_empty() {
        bail!("`registry_url` is not set (e.g. https://registry.example:7400)");
    }
    let store = Store::connect(&config.database_url())
        .await
        .context("opening the node database")?;

    let directory = DirectoryHandle::default();
    let work_cancel = CancellationToken::new();
    let registry = RegistryClient::new(
        &config.registry_urls(),
        tls.client_config(REGISTRY_DNS_NAME),
        RegistryTimeouts::from_config(&config),
        work_cancel.clone(),
    )
    .map_err(|error| anyhow::anyhow!(error))?;
    let refresher = DirectoryRefresher {
        handle: directory.clone(),
        registry: registry.clone(),
        cache_path: paths.directory_cache.clone(),
        ca_der,
        province: county.province(),
        interval: Duration::from_secs(config.directory_refresh_seconds.max(1)),
        store: store.clone(),
    };
    refresher.load_cache();

    let (notifier, wakeups) = DeliveryNotifier::channel();
    let signer = std::sync::Arc::new(
        mpx_proto::evidence::Signer::from_pkcs8_pem(&tls.key_pem)
            .context("the node key cannot sign")?,
    );
    let workflow = Workflow::new(
        store.clone(),
        county,
        config.resident_id_check,
        directory.clone(),
        notifier,
        Clock::system(),
    )
    .with_signer(signer);

    let tokens = OperatorTokens::default();
    tokens.replace(store.operator_tokens().await?);

    let server_cancel = CancellationToken::new();
    let tracker = TaskTracker::new();

    let peer_address = listeners.peer.local_addr()?;
    let operator_address = listeners.operator.local_addr()?;
    let endpoint = advertised_endpoint(&config, peer_address);
    tracker.spawn(refresher.clone().run(work_cancel.clone()));
    tracker.spawn(refresher.publish_endpoint(endpoint.clone(), work_cancel.clone()));
    tracker.spawn({
        let tokens = tokens.clone();
        let store = store.clone();
        let cancel = work_cancel.clone();
        async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                match store.operator_tokens().await {
                    Ok(current) => tokens.replace(current),
                    Err(error) => tracing::warn!(%error, "cannot reload operator tokens"),
                }
            }
        }
    });
    // New calendar data (e.g. next year's holiday notice) settles provisional due dates.
    tracker.spawn({
        let workflow = workflow.clone();
        let mut installed = directory.subscribe();
        let cancel = work_cancel.clone();
        async move {
            loop {
                match workflow.recompute_provisional_deadlines().await {
                    Ok(0) => {}
                    Ok(changed) => tracing::info!(changed, "provisional due dates recomputed"),
                    Err(error) => tracing::warn!(%error, "cannot recompute provisional due dates"),
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    changed = installed.changed() => if changed.is_err() { return },
                }
            }
        }
    });
    if let Some(listener) = listeners.metrics
        && let Some(handle) = crate::metrics::install_recorder()
    {
        tracker.spawn(crate::metrics::serve(
            listener,
            handle,
            store.clone(),
            work_cancel.clone(),
        ));
    }
    let report_interval = Duration::from_secs(config.index_report_seconds.max(1));
    tracker.spawn(provincial::ship(
        provincial::RosterChanges {
            store: store.clone(),
            registry: registry.clone(),
        },
        report_interval,
        work_cancel.clone(),
    ));
    tracker.spawn(provincial::fetch_assignments(
        workflow.clone(),
        registry.clone(),
        report_interval,
        work_cancel.clone(),
    ));
    tracker.spawn(provincial::ship(
        provincial::CaseEvents {
            store: store.clone(),
            registry: registry.clone(),
        },
        report_interval,
        work_cancel.clone(),
    ));
    let monitor = DeadlineMonitor::new(workflow.clone(), config.monitor.clone())
        .reporting_to(registry.clone());
    tracker.spawn(monitor.clone().run(work_cancel.clone()));
    let manager = DeliveryManager {
        workflow: workflow.clone(),
        directory: directory.clone(),
        tls: tls.clone(),
        config: config.delivery.clone(),
        max_message_bytes: config.limits.max_message_bytes,
        lease_holder: lease_holder(county, &config),
    };
    tracker.spawn(manager.run(wakeups, work_cancel.clone(), tracker.clone()));
    // Once per start, ask every peer what this database may have lost (nothing, unless it was
    // restored from a backup; then everything the peers hold comes back).
    tracker.spawn(
        crate::recovery::RecoveryPass {
            workflow: workflow.clone(),
            directory: directory.clone(),
            tls: tls.clone(),
            max_message_bytes: config.limits.max_message_bytes,
            retry_initial: Duration::from_millis(config.delivery.retry_initial_ms.max(100)),
        }
        .run(work_cancel.clone()),
    );

    let (peer_health_reporter, peer_health) = tonic_health::server::health_reporter();
    peer_health_reporter
        .set_serving::<mpx_proto::v1::exchange_server::ExchangeServer<ExchangeService>>()
        .await;
    let (operator_health_reporter, operator_health) = tonic_health::server::health_reporter();
    operator_health_reporter
        .set_serving::<mpx_proto::v1::records_server::RecordsServer<RecordsService>>()
        .await;
    operator_health_reporter
        .set_serving::<mpx_proto::v1::cases_server::CasesServer<CasesService>>()
        .await;

    let exchange = ExchangeService::new(
        workflow.clone(),
        directory.clone(),
        crate::service::exchange::IntakeLimits {
            max_batch_envelopes: config.limits.max_batch_envelopes,
            max_message_bytes: config.limits.max_message_bytes,
            concurrent_batches: config.limits.concurrent_batches,
            intake_wait: Duration::from_millis(config.limits.intake_wait_ms),
        },
        tracker.clone(),
        server_cancel.clone(),
    );
    let console_tls = crate::console::tls_from_config(&config)?;
    if let Some(listener) = listeners.console {
        let console = crate::console::ConsoleState::new(crate::console::Inner {
            workflow: workflow.clone(),
            cases: CasesService::new(workflow.clone()),
            alerts: AlertsService::new(store.clone(), monitor.clone()),
            records: crate::service::records::RecordsService::new(workflow.clone()),
            data_dir: config.data_dir.clone(),
            county,
            idle_minutes: i64::try_from(config.console_idle_minutes.max(1)).unwrap_or(30),
            https: console_tls.is_some(),
            due_soon_working_days: i32::try_from(config.monitor.due_soon_working_days).unwrap_or(2),
            stuck_after_ms: i64::try_from(config.monitor.undelivered_after_seconds)
                .unwrap_or(3600)
                .saturating_mul(1000),
            imports: Default::default(),
            registry,
            certificate_not_after_unix_ms: crate::console::directory::certificate_not_after_unix_ms(
                &certificate_der,
            ),
            shutdown: server_cancel.clone(),
        });
        tracker.spawn(crate::console::serve(
            listener,
            console_tls,
            console,
            server_cancel.clone(),
        ));
    }
    let peer_server = Server::builder()
        .tls_config(tls.server_config(true))?
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        // A sender uses one stream; a few more leave room for a restart overlapping the old one.
        .max_concurrent_streams(Some(8))
        .add_service(peer_health)
        .add_service(reflection_service(&[
            mpx_proto::v1::exchange_server::SERVICE_NAME,
        ])?)
        .add_service(exchange.into_server())
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listeners.peer),
            server_cancel.clone().cancelled_owned(),
        );
    let operator_server = Server::builder()
        .add_service(operator_health)
        .add_service(reflection_service(&[
            mpx_proto::v1::records_server::SERVICE_NAME,
            mpx_proto::v1::cases_server::SERVICE_NAME,
            mpx_proto::v1::alerts_server::SERVICE_NAME,
        ])?)
        .add_service(InterceptedService::new(
            RecordsService::new(workflow.clone()).into_server(),
            tokens.interceptor(),
        ))
        .add_service(InterceptedService::new(
            CasesService::new(workflow.clone()).into_server(),
            tokens.interceptor(),
        ))
        .add_service(InterceptedService::new(
            AlertsService::new(store.clone(), monitor).into_server(),
            tokens.interceptor(),
        ))
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listeners.operator),
            server_cancel.clone().cancelled_owned(),
        );
    tracing::info!(%county, %peer_address, %operator_address, %endpoint, "exchange node serving");

    let trigger = server_cancel.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutdown requested: no new calls; draining");
        trigger.cancel();
        mpx_proto::runtime::exit_after(SHUTDOWN_DEADLINE);
    });
    let drain_deadline = {
        let cancel = server_cancel.clone();
        async move {
            cancel.cancelled().await;
            tokio::time::sleep(Duration::from_secs(15)).await;
        }
    };
    let (peer_result, operator_result) = tokio::select! {
        results = async { tokio::join!(peer_server, operator_server) } => results,
        _ = drain_deadline => {
            tracing::warn!("calls still open 15 s after shutdown began; closing them");
            (Ok(()), Ok(()))
        }
    };
    server_cancel.cancel();
    work_cancel.cancel();
    tracker.close();
    let mut unclean = Vec::new();
    if tokio::time::timeout(Duration::from_secs(10), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("background work did not stop within 10 s; exiting without it");
        unclean.push("background work did not stop within 10 s");
    }
    // Closing the pool waits for every connection to come back; a task that never returns its
    // connection must not keep the process alive.
    if tokio::time::timeout(Duration::from_secs(5), store.close())
        .await
        .is_err()
    {
        tracing::warn!("the database did not close within 5 s; exiting without it");
        unclean.push("the database did not close within 5 s");
    }
    peer_result.context("peer listener")?;
    operator_result.context("operator listener")?;
    if !unclean.is_empty() {
        anyhow::bail!(
            "stopped uncleanly: {} (queued work is safe in the database and resumes at the next start)",
            unclean.join("; ")
        );
    }
    tracing::info!("exchange node stopped");
    Ok(())
}
