//! The registry's typed configuration: defaults, then the TOML file, then `MPX_*` variables,
//! then command-line flags. Unknown keys are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mpx_proto::runtime::LogFormat;
use serde::{Deserialize, Serialize};

/// Environment variables read (as `MPX_<KEY>`, e.g. `MPX_DATABASE_URL`).
pub const ENV_KEYS: &[&str] = &[
    "PROVINCE",
    "DATA_DIR",
    "DATABASE_URL",
    "PEER_LISTEN",
    "OPERATOR_LISTEN",
    "LOG_FORMAT",
    "ALERT_SCAN_SECONDS",
    "RECONCILE_GRACE_MINUTES",
    "MAX_TRANSIT_HOURS",
    "CONSOLE_LISTEN",
    "CONSOLE_CERTIFICATE",
    "CONSOLE_KEY",
];

/// Name of the config file that `registry ca init` writes into the data directory.
pub const CONFIG_FILE_NAME: &str = "registry.toml";

/// Everything `registry` needs to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Two-digit province code (GB/T 2260), e.g. "62".
    pub province: String,
    /// CA, TLS files and (by default) the SQLite database live here.
    pub data_dir: PathBuf,
    /// `sqlite://PATH?mode=rwc` or `postgres://…`; default: SQLite in the data directory.
    pub database_url: Option<String>,
    /// Peer listener (mutual TLS; enrolment is allowed without a client certificate).
    pub peer_listen: SocketAddr,
    /// Operator listener (health, reflection); keep it on loopback.
    pub operator_listen: SocketAddr,
    pub log_format: LogFormat,
    /// Lifetime of node certificates.
    pub certificate_validity_days: u32,
    /// Lifetime of an unused enrolment token.
    pub enrollment_token_ttl_hours: u32,
    /// Seconds between maintenance runs (one replica runs them, under a lease).
    pub maintenance_interval_seconds: u64,
    /// Directory of working-day calendar files (`YYYY.toml`); default: the years shipped in
    /// `deploy/calendars` at build time. Adding a year is a file here, not a code change.
    pub calendars_dir: Option<PathBuf>,
    /// Deadline policy overrides, e.g. `[[policies]] kind = "verification", priority = "urgent",
    /// acceptance = "2wd", response = "10wd"` (`wd` working days, `cd` calendar days).
    pub policies: Vec<PolicyOverride>,
    /// Seconds between scans for province alerts (OVERDUE, one-sided evidence → DISPUTED); one
    /// replica scans, under a lease.
    pub alert_scan_seconds: u64,
    /// Minutes one side may hold evidence the other has not reported (a response in flight, a
    /// receipt not yet settled) before the case counts as disputed.
    pub reconcile_grace_minutes: u64,
    /// Hours a signed response may take to reach the requester (or a province assignment to
    /// be taken in by its county) before the case is disputed.
    pub max_transit_hours: u64,
    /// The province console (web); empty to disable. Plain HTTP only on a loopback address:
    /// elsewhere set `console_certificate` and `console_key` for HTTPS.
    pub console_listen: String,
    /// PEM certificate chain for HTTPS on the console (with `console_key`).
    pub console_certificate: Option<PathBuf>,
    /// PEM private key for HTTPS on the console (with `console_certificate`).
    pub console_key: Option<PathBuf>,
    /// Minutes a console session may stay unused before it ends.
    pub console_idle_minutes: u64,
}

/// One deadline policy entry of the config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    /// `residence_notice`, `verification` or `record_transfer`.
    pub kind: String,
    /// `normal` or `urgent`.
    pub priority: String,
    pub acceptance: String,
    pub response: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            province: String::new(),
            data_dir: PathBuf::from("registry-data"),
            database_url: None,
            peer_listen: SocketAddr::from(([0, 0, 0, 0], 7400)),
            operator_listen: SocketAddr::from(([127, 0, 0, 1], 7401)),
            log_format: LogFormat::Text,
            certificate_validity_days: 365,
            enrollment_token_ttl_hours: 72,
            maintenance_interval_seconds: 300,
            calendars_dir: None,
            policies: Vec::new(),
            alert_scan_seconds: 60,
            reconcile_grace_minutes: 60,
            max_transit_hours: 24,
            console_listen: "127.0.0.1:7402".into(),
            console_certificate: None,
            console_key: None,
            console_idle_minutes: 30,
        }
    }
}

impl RegistryConfig {
    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("registry.db").display()
            )
        })
    }

    /// The config file to read: `--config`, else `DATA_DIR/registry.toml` when it exists.
    pub fn file_to_read(explicit: Option<&Path>, data_dir: Option<&Path>) -> Option<PathBuf> {
        if let Some(path) = explicit {
            return Some(path.to_path_buf());
        }
        let candidate = data_dir?.join(CONFIG_FILE_NAME);
        candidate.exists().then_some(candidate)
    }

    /// The calendar in force: `calendars_dir`, else the years shipped with this build.
    pub fn calendar(
        &self,
    ) -> Result<mpx_proto::calendar::WorkingCalendar, mpx_proto::calendar::CalendarError> {
        use mpx_proto::calendar::{CalendarYear, WorkingCalendar};
        if let Some(dir) = &self.calendars_dir {
            return WorkingCalendar::load_dir(dir);
        }
        let shipped = [
            (
                "2024.toml",
                include_str!("../../deploy/calendars/2024.toml"),
            ),
            (
                "2025.toml",
                include_str!("../../deploy/calendars/2025.toml"),
            ),
            (
                "2026.toml",
                include_str!("../../deploy/calendars/2026.toml"),
            ),
            (
                "2027.toml",
                include_str!("../../deploy/calendars/2027.toml"),
            ),
        ];
        let years = shipped
            .iter()
            .map(|(name, text)| CalendarYear::parse(name, text))
            .collect::<Result<Vec<_>, _>>()?;
        WorkingCalendar::new(years)
    }

    /// The deadline policies in force: the defaults, with the config's overrides applied.
    pub fn policies(&self) -> Result<Vec<mpx_proto::v1::DeadlinePolicy>, String> {
        use mpx_proto::v1::CasePriority;
        let mut policies = mpx_proto::policy::default_policies();
        for (index, entry) in self.policies.iter().enumerate() {
            let at = |field: &str| format!("policies[{index}].{field}");
            let Some(kind) = mpx_proto::case_kind::kind_from_label(&entry.kind) else {
                return Err(format!(
                    "{}: {:?} is not {}",
                    at("kind"),
                    entry.kind,
                    mpx_proto::case_kind::kind_labels()
                ));
            };
            let priority = match entry.priority.as_str() {
                "normal" => CasePriority::Normal,
                "urgent" => CasePriority::Urgent,
                other => {
                    return Err(format!(
                        "{}: {other:?} is not normal or urgent",
                        at("priority")
                    ));
                }
            };
            let acceptance = mpx_proto::policy::parse_deadline(&entry.acceptance)
                .map_err(|e| format!("{}: {e}", at("acceptance")))?;
            let response = mpx_proto::policy::parse_deadline(&entry.response)
                .map_err(|e| format!("{}: {e}", at("response")))?;
            policies.retain(|p| !(p.kind() == kind && p.priority() == priority));
            policies.push(mpx_proto::v1::DeadlinePolicy {
                kind: kind as i32,
                priority: priority as i32,
                acceptance: Some(acceptance),
                response: Some(response),
            });
        }
        Ok(policies)
    }

    /// The operator token file written at `ca init`.
    pub fn operator_token_path(&self) -> PathBuf {
        self.data_dir.join("operator.token")
    }
}
