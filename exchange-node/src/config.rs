//! The node's typed configuration: defaults, then the TOML file, then `MPX_*` variables, then
//! command-line flags. Unknown keys are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mpx_proto::resident_id::CheckDigitMode;
use mpx_proto::runtime::LogFormat;
use serde::{Deserialize, Serialize};

/// Environment variables read (as `MPX_<KEY>`, e.g. `MPX_DATABASE_URL`).
pub const ENV_KEYS: &[&str] = &[
    "COUNTY",
    "NAME",
    "DATA_DIR",
    "DATABASE_URL",
    "PEER_LISTEN",
    "PEER_ADVERTISE",
    "OPERATOR_LISTEN",
    "REGISTRY_URL",
    "LOG_FORMAT",
    "RESIDENT_ID_CHECK",
    "METRICS_LISTEN",
    "CONSOLE_LISTEN",
    "CONSOLE_CERTIFICATE",
    "CONSOLE_KEY",
];

/// Name of the config file that `exchange-node init` writes into the data directory.
pub const CONFIG_FILE_NAME: &str = "node.toml";

/// Everything `exchange-node serve` needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This county's 6-digit code; must match the certificate.
    pub county: String,
    /// County name, e.g. 武都区.
    pub name: String,
    /// Key, certificates, directory cache, operator token and (by default) the SQLite database.
    pub data_dir: PathBuf,
    /// `sqlite://PATH?mode=rwc` or `postgres://…`; default: SQLite in the data directory.
    pub database_url: Option<String>,
    /// Peer listener (mutual TLS, other counties' nodes).
    pub peer_listen: SocketAddr,
    /// The endpoint published in the directory (https://HOST:PORT); default: the bound address.
    pub peer_advertise: Option<String>,
    /// Operator listener (clerks' CLI, bearer tokens); keep it on loopback.
    pub operator_listen: SocketAddr,
    /// Prometheus `GET /metrics` listener; empty to disable.
    pub metrics_listen: String,
    /// The web console; empty to disable. Plain HTTP only on a loopback address: elsewhere
    /// (an office LAN) set `console_certificate` and `console_key` for HTTPS.
    pub console_listen: String,
    /// PEM certificate chain for HTTPS on the console (with `console_key`).
    pub console_certificate: Option<PathBuf>,
    /// PEM private key for HTTPS on the console (with `console_certificate`).
    pub console_key: Option<PathBuf>,
    /// Minutes a console session may stay unused before it ends.
    pub console_idle_minutes: u64,
    /// The provincial registry's peer endpoint, https://HOST:PORT; several replicas as a
    /// comma-separated list (each call goes to a healthy one, and is tried once more on another
    /// if that one fails; a replica that fails is avoided until it answers health checks).
    pub registry_url: String,
    /// Milliseconds a registry replica gets for the TCP connect, and again for the TLS
    /// handshake (a hung replica accepts connections but never completes the handshake).
    pub registry_connect_timeout_ms: u64,
    /// Milliseconds a registry replica gets to answer one call before the call is tried on
    /// another replica.
    pub registry_call_timeout_ms: u64,
    pub log_format: LogFormat,
    /// `strict` refuses a resident ID with a wrong check digit; `warn` accepts and flags it.
    pub resident_id_check: CheckDigitMode,
    /// Seconds between directory refreshes (revocations take effect within this).
    pub directory_refresh_seconds: u64,
    /// Seconds between reports to the registry (roster changes for the index, case events for
    /// the compliance figures).
    pub index_report_seconds: u64,
    pub delivery: DeliveryConfig,
    pub limits: LimitsConfig,
    /// Deadline alerts: lead time, escalation grace, undelivered threshold.
    pub monitor: MonitorConfig,
}

/// When the monitor raises what.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Seconds between ticks.
    pub interval_seconds: u64,
    /// `DUE_SOON` this many working days before the deadline.
    pub due_soon_working_days: u32,
    /// `ESCALATED` this many working days after the deadline.
    pub escalation_grace_working_days: u32,
    /// `UNDELIVERED` (one per peer) when a message to it waited this long in the outbox.
    pub undelivered_after_seconds: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval_seconds: 60,
            due_soon_working_days: 2,
            escalation_grace_working_days: 5,
            undelivered_after_seconds: 3600,
        }
    }
}

/// How the outbox delivers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Envelopes per batch on the stream.
    pub batch_size: u32,
    /// First retry delay after a failure; doubles up to `retry_max_ms`, with jitter.
    pub retry_initial_ms: u64,
    /// The longest wait between attempts: bounds how long delivery takes to resume after a
    /// peer or network fault ends (a peer that says when to retry is retried then).
    pub retry_max_ms: u64,
    /// Per-call deadline for one batch.
    pub batch_timeout_ms: u64,
}

/// What the peer listener accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest encoded gRPC message accepted.
    pub max_message_bytes: usize,
    /// Most envelopes in one DeliverRequest.
    pub max_batch_envelopes: usize,
    /// Batches from peers stored at once; further batches wait (their streams are not read
    /// meanwhile, so HTTP/2 flow control holds the senders back and memory stays bounded).
    pub concurrent_batches: usize,
    /// How long a batch may wait for its turn before the sender is told to come back later
    /// (UNAVAILABLE with `grpc-retry-pushback-ms`): overload is pushed back, never queued
    /// without bound.
    pub intake_wait_ms: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            county: String::new(),
            name: String::new(),
            data_dir: PathBuf::from("node-data"),
            database_url: None,
            peer_listen: SocketAddr::from(([0, 0, 0, 0], 7443)),
            peer_advertise: None,
            operator_listen: SocketAddr::from(([127, 0, 0, 1], 7080)),
            registry_url: String::new(),
            registry_connect_timeout_ms: 3_000,
            registry_call_timeout_ms: 5_000,
            metrics_listen: "127.0.0.1:9464".into(),
            console_listen: "127.0.0.1:7090".into(),
            console_certificate: None,
            console_key: None,
            console_idle_minutes: 30,
            log_format: LogFormat::Text,
            resident_id_check: CheckDigitMode::Strict,
            directory_refresh_seconds: 30,
            index_report_seconds: 10,
            delivery: DeliveryConfig::default(),
            limits: LimitsConfig::default(),
            monitor: MonitorConfig::default(),
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            retry_initial_ms: 500,
            retry_max_ms: 15_000,
            batch_timeout_ms: 30_000,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_batch_envelopes: 1000,
            concurrent_batches: 2,
            intake_wait_ms: 5_000,
        }
    }
}

/// Paths of the node's files under its data directory.
#[derive(Debug, Clone)]
pub struct NodePaths {
    pub key: PathBuf,
    pub certificate: PathBuf,
    pub ca_certificate: PathBuf,
    pub directory_cache: PathBuf,
    pub operator_token: PathBuf,
    pub config: PathBuf,
    /// Written by `serve`: the addresses it bound.
    pub serve_state: PathBuf,
}

impl NodePaths {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            key: data_dir.join("tls").join("node.key"),
            certificate: data_dir.join("tls").join("node.crt"),
            ca_certificate: data_dir.join("tls").join("ca.crt"),
            directory_cache: data_dir.join("directory.bin"),
            operator_token: data_dir.join("operator.token"),
            config: data_dir.join(CONFIG_FILE_NAME),
            serve_state: data_dir.join("serve.json"),
        }
    }
}

impl NodeConfig {
    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("node.db").display()
            )
        })
    }

    /// The registry endpoints in `registry_url`.
    pub fn registry_urls(&self) -> Vec<String> {
        self.registry_url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn paths(&self) -> NodePaths {
        NodePaths::new(&self.data_dir)
    }

    /// The config file to read: `--config`, else `DATA_DIR/node.toml` when it exists.
    pub fn file_to_read(explicit: Option<&Path>, data_dir: Option<&Path>) -> Option<PathBuf> {
        if let Some(path) = explicit {
            return Some(path.to_path_buf());
        }
        let candidate = data_dir?.join(CONFIG_FILE_NAME);
        candidate.exists().then_some(candidate)
    }
}
