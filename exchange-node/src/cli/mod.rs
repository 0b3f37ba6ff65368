//! The `exchange-node` command line: `init`, `serve`, local operator commands, and the clerk
//! commands (`records …`, `cases …`) that talk to a running node's operator API.

mod bulk;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mpx_proto::runtime::{generate_token, hash_token, init_tracing, load_config, shutdown_signal};
use mpx_proto::text::terminal_safe;
use mpx_proto::time::format_unix_ms;
use mpx_proto::v1::cases_client::CasesClient;
use mpx_proto::v1::records_client::RecordsClient;
use mpx_proto::v1::{
    self, CaseDirection, CaseKind, CasePriority, NoticeVerdict, PersonStatus, Sex,
};
use serde::Serialize;
use serde_json::json;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use unicode_width::UnicodeWidthStr;

use crate::config::{CONFIG_FILE_NAME, ENV_KEYS, NodeConfig};
use crate::domain::state_label;
use crate::enroll::{InitOptions, InitOutcome, init, read_token_file};
use crate::store::{
    Store, direction_label, kind_label, priority_label, status_label, verdict_label,
};

#[derive(Parser)]
#[command(
    name = "exchange-node",
    version,
    about = "MPX county exchange node: roster, notices and verification requests with other counties",
    after_help = "Config: --config FILE, else DATA_DIR/node.toml; then MPX_* variables; then flags.\n\
                  Clerk commands reach the node's operator API at --server (default: from the config) \
                  with --token (default: DATA_DIR/operator.token)."
)]
pub struct Cli {
    /// TOML config file (default: DATA_DIR/node.toml when it exists).
    #[arg(long, global = true, env = "MPX_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (key, certificates, database, operator token).
    #[arg(long, global = true, env = "MPX_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Operator API address for clerk commands, e.g. http://127.0.0.1:7080.
    #[arg(long, global = true, env = "MPX_SERVER")]
    server: Option<String>,
    /// Operator token for clerk commands.
    #[arg(long, global = true, env = "MPX_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Machine-readable output: one JSON object per line.
    #[arg(long, global = true)]
    json: bool,
    /// Print the effective configuration as TOML and exit.
    #[arg(long, global = true)]
    dump_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Enrol this node with the provincial registry and lay out its data directory.
    Init(InitArgs),
    /// Serve the peer listener (mTLS) and the operator listener.
    Serve {
        /// e.g. 0.0.0.0:7443; port 0 picks a free port.
        #[arg(long)]
        peer_listen: Option<String>,
        /// e.g. 127.0.0.1:7080.
        #[arg(long)]
        operator_listen: Option<String>,
        /// Endpoint published in the directory, https://HOST:PORT.
        #[arg(long)]
        peer_advertise: Option<String>,
        /// Prometheus listener, e.g. 127.0.0.1:9464 ("" disables).
        #[arg(long)]
        metrics_listen: Option<String>,
        /// Once bound, write {"peer": ADDR, "operator": ADDR} here (for scripts and tests).
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
    /// The roster: people living here, and people whose hukou is here.
    #[command(subcommand)]
    Records(RecordsCommand),
    /// Notices and verification requests with other counties.
    #[command(subcommand)]
    Cases(CasesCommand),
    /// Deadline alerts: due soon, overdue, escalated, not accepted, undelivered.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Messages waiting in the outbox (read from the local database).
    Deliveries {
        /// Include delivered messages.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Refused peers (spoofed senders, revoked certificates), newest first (local database).
    SecurityEvents {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The audit log of personal-data reads, newest first (local database).
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(subcommand)]
        command: Option<AuditCommand>,
    },
    /// Operator tokens for the operator API.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Compare the roster with another department's extract (数据比对): only ours, only theirs,
    /// and differing fields, with a CSV of the differences.
    Reconcile(bulk::ReconcileArgs),
}

#[derive(Args)]
struct InitArgs {
    /// This county's 6-digit code, e.g. 621202.
    #[arg(long)]
    county: String,
    /// County name, e.g. 武都区.
    #[arg(long, default_value = "")]
    name: String,
    /// The registry's peer endpoint, https://HOST:PORT.
    #[arg(long)]
    registry: Option<String>,
    /// The provincial CA certificate (ca.crt from the registry operator).
    #[arg(long)]
    ca_cert: PathBuf,
    /// One-time enrolment token from `registry enroll`.
    #[arg(long)]
    token: Option<String>,
    /// Endpoint other nodes use to reach this one, https://HOST:PORT.
    #[arg(long)]
    advertise: Option<String>,
    #[arg(long)]
    peer_listen: Option<String>,
    #[arg(long)]
    operator_listen: Option<String>,
    /// Air-gapped sites, step 1: write a CSR here for `registry ca issue`.
    #[arg(long, conflicts_with_all = ["token", "certificate"])]
    offline_csr: Option<PathBuf>,
    /// Air-gapped sites, step 2: install the certificate `registry ca issue` wrote.
    #[arg(long, conflicts_with = "token")]
    certificate: Option<PathBuf>,
}

#[derive(Subcommand)]
enum RecordsCommand {
    /// Register a person living in this county (notifies the hukou county when it is elsewhere).
    Add {
        /// 18-character resident ID (a 15-digit legacy number is upgraded).
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Hukou county code (户籍地).
        #[arg(long)]
        hukou: String,
        /// Address in this county.
        #[arg(long)]
        address: String,
        /// Date the person came to live here (YYYY-MM-DD; default today).
        #[arg(long, default_value = "")]
        arrival: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// Show one person (audited).
    Get {
        id: String,
        /// Why you read this record (recorded in the audit log).
        #[arg(long)]
        purpose: String,
    },
    /// List people (audited).
    List {
        /// Why you read these records (recorded in the audit log).
        #[arg(long)]
        purpose: String,
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Start after this resident ID (the `next` value printed under a full page).
        #[arg(long, default_value = "")]
        after: String,
    },
    /// Record a move to a new address within this county.
    Move {
        id: String,
        #[arg(long)]
        address: String,
        #[arg(long, default_value = "")]
        date: String,
    },
    /// Load a roster file (CSV in UTF-8 or GB18030, or JSON Lines): good rows are registered
    /// (with residence notices), bad rows go to a reject file with their line and reason.
    Import(bulk::ImportArgs),
    /// Write the roster to CSV or JSON Lines (audited; the file is created 0600).
    Export(bulk::ExportArgs),
    /// Record that a person left this county.
    Depart {
        id: String,
        #[arg(long, default_value = "")]
        date: String,
        /// Destination county, when known.
        #[arg(long, default_value = "")]
        to: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    Residing,
    Departed,
    LivingElsewhere,
    WhereaboutsUnknown,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Verification,
    RecordTransfer,
}

#[derive(Clone, Copy, ValueEnum)]
enum PriorityArg {
    Normal,
    Urgent,
}

#[derive(Clone, Copy, ValueEnum)]
enum VerdictArg {
    Confirmed,
    Disputed,
}

#[derive(Subcommand)]
enum CasesCommand {
    /// Send a verification request (协查) to another county.
    Send {
        /// Recipient county code.
        #[arg(long)]
        to: String,
        /// Resident ID of the person concerned.
        #[arg(long)]
        id: String,
        /// What to verify.
        #[arg(long)]
        questions: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, value_enum, default_value = "normal")]
        priority: PriorityArg,
        #[arg(long, value_enum, default_value = "verification")]
        kind: KindArg,
    },
    /// Cases other counties sent here, open ones first by due date.
    Inbox {
        /// Include closed, withdrawn and redirected cases.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Cases this county sent, open ones first.
    Outbox {
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One case with its history.
    Show { case_id: String },
    /// Take up an inbound case.
    Accept {
        case_id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Answer an inbound case.
    Respond {
        case_id: String,
        #[arg(long, default_value = "")]
        answer: String,
        /// For residence notices: confirmed or disputed.
        #[arg(long, value_enum)]
        verdict: Option<VerdictArg>,
    },
    /// Say an inbound case belongs to another county.
    Redirect {
        case_id: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
    },
    /// Withdraw a case this county sent.
    Withdraw {
        case_id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Close an answered case this county sent.
    Close { case_id: String },
    /// Ask the requesting county for more working days (the original due date stays on record).
    Extend {
        case_id: String,
        #[arg(long)]
        days: u32,
        #[arg(long)]
        reason: String,
    },
    /// Grant (or, with --deny, refuse) an extension the recipient asked for.
    DecideExtension {
        case_id: String,
        #[arg(long)]
        deny: bool,
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the audit log's hash chain; fails if an entry was changed or removed.
    Verify,
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Alerts, newest first (open ones only unless --all).
    List {
        #[arg(long)]
        all: bool,
        /// At most this many (up to 1000); the next page is printed as `--after TOKEN`.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// The page after this token (from the previous page's last line).
        #[arg(long, default_value = "")]
        after: String,
    },
    /// Print alerts as they fire, until Ctrl-C.
    Watch {
        /// Print the open alerts first.
        #[arg(long)]
        include_open: bool,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create a named operator token (printed once, stored hashed; works without a restart).
    Add {
        #[arg(long)]
        name: String,
    },
}

#[derive(Serialize, Default)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    county: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registry_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operator_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_advertise: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_listen: Option<String>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    mpx_proto::runtime::block_on_command(dispatch(Cli::parse()))
}

fn load(cli: &Cli, overrides: Overrides) -> anyhow::Result<NodeConfig> {
    let file = NodeConfig::file_to_read(cli.config.as_deref(), cli.data_dir.as_deref());
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        ..overrides
    };
    Ok(load_config(file.as_deref(), ENV_KEYS, &overrides)?)
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = &cli.command else {
        if cli.dump_config {
            let config = load(&cli, Overrides::default())?;
            print!("{}", toml::to_string_pretty(&config)?);
            return Ok(());
        }
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        bail!("a command is needed (see above)");
    };
    let overrides = match command {
        Command::Init(args) => Overrides {
            county: Some(args.county.clone()),
            name: (!args.name.is_empty()).then(|| args.name.clone()),
            registry_url: args.registry.clone(),
            peer_listen: args.peer_listen.clone(),
            operator_listen: args.operator_listen.clone(),
            peer_advertise: args.advertise.clone(),
            ..Overrides::default()
        },
        Command::Serve {
            peer_listen,
            operator_listen,
            peer_advertise,
            metrics_listen,
            ..
        } => Overrides {
            peer_listen: peer_listen.clone(),
            operator_listen: operator_listen.clone(),
            peer_advertise: peer_advertise.clone(),
            metrics_listen: metrics_listen.clone(),
            ..Overrides::default()
        },
        _ => Overrides::default(),
    };
    let config = load(&cli, overrides)?;
    if cli.dump_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    match command {
        Command::Init(args) => run_init(&config, args).await,
        Command::Serve { ready_file, .. } => serve(config, ready_file.clone()).await,
        Command::Operator(OperatorCommand::Add { name }) => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 64 {
                bail!("--name must be 1 to 64 characters, e.g. --name clerk-wang");
            }
            let store = Store::connect(&config.database_url()).await?;
            let token = generate_token("mpxop");
            store.add_operator_token(name, &hash_token(&token)).await?;
            println!("{token}");
            eprintln!(
                "Operator token for {name}: shown once, stored hashed; a running node accepts it within 5 s."
            );
            Ok(())
        }
        Command::Deliveries { all, limit } => {
            let store = Store::connect(&config.database_url()).await?;
            let messages = store.list_outbox(*all, *limit).await?;
            if cli.json {
                for m in &messages {
                    println!(
                        "{}",
                        json!({"message_id": m.message_id, "recipient": m.recipient, "case_id": m.case_id,
                        "kind": m.body_kind, "state": m.state, "attempts": m.attempts, "last_error": m.last_error,
                        "created_at_unix_ms": m.created_at_unix_ms})
                    );
                }
            } else {
                let rows = messages
                    .iter()
                    .map(|m| {
                        vec![
                            m.recipient.clone(),
                            m.body_kind.clone(),
                            m.state.clone(),
                            m.attempts.to_string(),
                            format_unix_ms(m.created_at_unix_ms),
                            m.case_id.clone(),
                            m.last_error.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "TO",
                        "KIND",
                        "STATE",
                        "TRIES",
                        "QUEUED",
                        "CASE",
                        "LAST ERROR",
                    ],
                    rows,
                );
            }
            Ok(())
        }
        Command::SecurityEvents { limit } => {
            let store = Store::connect(&config.database_url()).await?;
            let rows = store
                .security_events(*limit)
                .await?
                .into_iter()
                .map(|(peer, event, detail)| vec![peer, event, detail])
                .collect();
            print_table(&["PEER", "EVENT", "DETAIL"], rows);
            Ok(())
        }
        Command::Audit {
            command: Some(AuditCommand::Verify),
            ..
        } => {
            let store = Store::connect(&config.database_url()).await?;
            match store.verify_audit_chain().await? {
                Ok(entries) => {
                    println!(
                        "审计日志完整 audit log intact: {entries} entries, hash chain verified"
                    );
                    Ok(())
                }
                Err(problem) => bail!("审计日志被篡改 the audit log fails verification: {problem}"),
            }
        }
        Command::Audit {
            limit,
            command: None,
        } => {
            let store = Store::connect(&config.database_url()).await?;
            let rows = store
                .audit_entries(*limit)
                .await?
                .into_iter()
                .map(|(operator, action, purpose, subject, count)| {
                    vec![
                        operator,
                        action,
                        purpose,
                        mpx_proto::resident_id::mask(&subject),
                        count.to_string(),
                    ]
                })
                .collect();
            print_table(&["OPERATOR", "ACTION", "PURPOSE", "SUBJECT", "ROWS"], rows);
            Ok(())
        }
        Command::Records(command) => records(&cli, &config, command).await,
        Command::Reconcile(args) => {
            let mut records = records_client(&cli, &config).await?;
            let mut cases = cases_client(&cli, &config).await?;
            bulk::reconcile(&mut records, &mut cases, &config.county, args, cli.json).await
        }
        Command::Cases(command) => cases(&cli, &config, command).await,
        Command::Alerts(command) => alerts(&cli, &config, command).await,
    }
}

async fn run_init(config: &NodeConfig, args: &InitArgs) -> anyhow::Result<()> {
    let outcome = init(InitOptions {
        config: config.clone(),
        ca_certificate: args.ca_cert.clone(),
        token: args.token.clone(),
        offline_csr: args.offline_csr.clone(),
        certificate: args.certificate.clone(),
    })
    .await?;
    match outcome {
        InitOutcome::CsrWritten(path) => {
            println!(
                "CSR written to {}. The node's key stays in {}.",
                path.display(),
                config.data_dir.display()
            );
            println!(
                "Next, at the registry: registry ca issue --county {} --csr {} --out node.crt",
                config.county,
                path.display()
            );
            println!(
                "Then here: exchange-node init --county {} --ca-cert ca.crt --certificate node.crt --registry https://REGISTRY:PORT",
                config.county
            );
        }
        InitOutcome::Ready {
            config_path,
            token_path,
            created_token,
            enrolled_through,
            failed,
        } => {
            for failure in &failed {
                eprintln!("registry {failure}; tried the next URL");
            }
            match enrolled_through {
                Some(url) => println!(
                    "Node for county {} is enrolled (enrolled through {url}).",
                    config.county
                ),
                None => println!("Node for county {} is enrolled.", config.county),
            }
            println!("  config:         {}", config_path.display());
            if created_token {
                println!("  operator token: {} (admin)", token_path.display());
            }
            println!(
                "Next: exchange-node --data-dir {} serve",
                config.data_dir.display()
            );
        }
    }
    Ok(())
}

async fn serve(config: NodeConfig, ready_file: Option<PathBuf>) -> anyhow::Result<()> {
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
    let metrics = if config.metrics_listen.trim().is_empty() {
        None
    } else {
        let address = &config.metrics_listen;
        Some(
            tokio::net::TcpListener::bind(address.as_str())
                .await
                .with_context(|| format!("binding the metrics listener on {address} (set metrics_listen, or \"\" to disable)"))?,
        )
    };
    let metrics_address = match &metrics {
        Some(listener) => listener.local_addr()?.to_string(),
        None => String::new(),
    };
    let ready = json!({"peer": peer.local_addr()?.to_string(), "operator": operator.local_addr()?.to_string(), "metrics": metrics_address});
    // The bound addresses, for clerk commands when the config asks for port 0.
    let state_path = config.paths().serve_state;
    std::fs::write(&state_path, ready.to_string())
        .with_context(|| format!("writing {}", state_path.display()))?;
    if let Some(path) = ready_file {
        std::fs::write(&path, ready.to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    crate::run(
        config,
        crate::Listeners {
            peer,
            operator,
            metrics,
        },
        shutdown_signal(),
    )
    .await
}

// ---- clerk commands ---------------------------------------------------------------------------

pub(super) type Authorized = InterceptedService<Channel, AuthHeader>;

#[derive(Clone)]
pub(super) struct AuthHeader(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for AuthHeader {
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

async fn connect(cli: &Cli, config: &NodeConfig) -> anyhow::Result<(Channel, AuthHeader, String)> {
    let server = match &cli.server {
        Some(server) => server.clone(),
        None => {
            // The running server's own record of what it bound wins over the config.
            let mut address = config.operator_listen;
            if address.port() == 0 || config.paths().serve_state.exists() {
                address = bound_operator_address(config)?;
            }
            if address.ip().is_unspecified() {
                address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{address}")
        }
    };
    let token = match &cli.token {
        Some(token) => token.trim().to_string(),
        None => read_token_file(&config.paths().operator_token)?,
    };
    let header = format!("Bearer {token}")
        .parse()
        .context("the operator token has characters that cannot go in a header")?;
    let channel = tonic::transport::Endpoint::from_shared(server.clone())
        .with_context(|| format!("--server {server:?}: expected http://HOST:PORT"))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot reach the node's operator API at {server}: is `exchange-node serve` running? (set --server or {CONFIG_FILE_NAME})"))?;
    Ok((channel, AuthHeader(header), server))
}

/// The operator address a running `serve` bound (from `DATA_DIR/serve.json`).
fn bound_operator_address(config: &NodeConfig) -> anyhow::Result<std::net::SocketAddr> {
    let path = config.paths().serve_state;
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("the config asks for operator port 0 and {} is missing: is the node serving? (or pass --server)", path.display())
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    value["operator"]
        .as_str()
        .and_then(|address| address.parse().ok())
        .with_context(|| format!("{} has no operator address", path.display()))
}

pub(super) fn explain(status: tonic::Status) -> anyhow::Error {
    let hint = match status.code() {
        tonic::Code::Unauthenticated => {
            " (check --token / MPX_TOKEN, or the data directory's operator.token)"
        }
        tonic::Code::Unavailable => {
            " (the node may be stopping or its database unavailable; retry)"
        }
        _ => "",
    };
    anyhow::anyhow!("{}{hint}", status.message())
}

async fn records_client(
    cli: &Cli,
    config: &NodeConfig,
) -> anyhow::Result<RecordsClient<Authorized>> {
    let (channel, auth, _) = connect(cli, config).await?;
    Ok(RecordsClient::new(InterceptedService::new(channel, auth)))
}

async fn cases_client(cli: &Cli, config: &NodeConfig) -> anyhow::Result<CasesClient<Authorized>> {
    let (channel, auth, _) = connect(cli, config).await?;
    Ok(CasesClient::new(InterceptedService::new(channel, auth)))
}

async fn records(cli: &Cli, config: &NodeConfig, command: &RecordsCommand) -> anyhow::Result<()> {
    let mut client = records_client(cli, config).await?;
    match command {
        RecordsCommand::Import(args) => bulk::import(&mut client, args, cli.json).await?,
        RecordsCommand::Export(args) => bulk::export(&mut client, args).await?,
        RecordsCommand::Add {
            id,
            name,
            hukou,
            address,
            arrival,
            phone,
            notes,
        } => {
            let person = v1::Person {
                resident_id: id.clone(),
                name: name.clone(),
                hukou_county: hukou.clone(),
                residence_address: address.clone(),
                arrival_date: arrival.clone(),
                phone: phone.clone(),
                notes: notes.clone(),
                ..Default::default()
            };
            let response = client
                .create_person(v1::CreatePersonRequest {
                    person: Some(person),
                })
                .await
                .map_err(explain)?
                .into_inner();
            for warning in &response.warnings {
                eprintln!("warning: {warning}");
            }
            let person = response.person.unwrap_or_default();
            if cli.json {
                let mut value = person_json(&person);
                value["notice_case_id"] = json!(response.notice_case_id);
                println!("{value}");
            } else {
                println!(
                    "Registered {} {}.",
                    terminal_safe(&person.name),
                    mpx_proto::resident_id::mask(&person.resident_id)
                );
                if !response.notice_case_id.is_empty() {
                    println!(
                        "Residence notice {} queued for hukou county {}.",
                        response.notice_case_id, person.hukou_county
                    );
                }
            }
        }
        RecordsCommand::Get { id, purpose } => {
            let person = client
                .get_person(v1::GetPersonRequest {
                    resident_id: id.clone(),
                    purpose: purpose.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .person
                .unwrap_or_default();
            if cli.json {
                println!("{}", person_json(&person));
            } else {
                print_person(&person);
            }
        }
        RecordsCommand::List {
            purpose,
            status,
            limit,
            after,
        } => {
            let status = status.map(|s| match s {
                StatusArg::Residing => PersonStatus::Residing,
                StatusArg::Departed => PersonStatus::Departed,
                StatusArg::LivingElsewhere => PersonStatus::LivingElsewhere,
                StatusArg::WhereaboutsUnknown => PersonStatus::WhereaboutsUnknown,
            });
            let response = client
                .list_people(v1::ListPeopleRequest {
                    purpose: purpose.clone(),
                    status: status.unwrap_or(PersonStatus::Unspecified) as i32,
                    page_size: *limit,
                    page_token: after.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            if cli.json {
                for person in &response.people {
                    println!("{}", person_json(person));
                }
            } else {
                let rows = response
                    .people
                    .iter()
                    .map(|p| {
                        vec![
                            p.resident_id.clone(),
                            p.name.clone(),
                            status_label(p.status()).to_string(),
                            p.hukou_county.clone(),
                            p.residence_county.clone(),
                            p.residence_address.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "RESIDENT ID",
                        "NAME",
                        "STATUS",
                        "HUKOU",
                        "RESIDENCE",
                        "ADDRESS",
                    ],
                    rows,
                );
                if !response.next_page_token.is_empty() {
                    println!("(more: --after {})", response.next_page_token);
                }
            }
        }
        RecordsCommand::Move { id, address, date } => {
            let response = client
                .move_person(v1::MovePersonRequest {
                    resident_id: id.clone(),
                    new_residence_address: address.clone(),
                    effective_date: date.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            report_change(
                cli,
                "Move recorded",
                response.person.unwrap_or_default(),
                &response.notice_case_id,
            );
        }
        RecordsCommand::Depart { id, date, to } => {
            let response = client
                .depart_person(v1::DepartPersonRequest {
                    resident_id: id.clone(),
                    departure_date: date.clone(),
                    destination_county: to.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            report_change(
                cli,
                "Departure recorded",
                response.person.unwrap_or_default(),
                &response.notice_case_id,
            );
        }
    }
    Ok(())
}

fn report_change(cli: &Cli, what: &str, person: v1::Person, case_id: &str) {
    if cli.json {
        let mut value = person_json(&person);
        value["notice_case_id"] = json!(case_id);
        println!("{value}");
    } else {
        println!(
            "{what} for {} {}.",
            terminal_safe(&person.name),
            mpx_proto::resident_id::mask(&person.resident_id)
        );
        if !case_id.is_empty() {
            println!(
                "Residence notice {case_id} queued for hukou county {}.",
                person.hukou_county
            );
        }
    }
}

async fn cases(cli: &Cli, config: &NodeConfig, command: &CasesCommand) -> anyhow::Result<()> {
    let mut client = cases_client(cli, config).await?;
    let case = match command {
        CasesCommand::Send {
            to,
            id,
            questions,
            name,
            priority,
            kind,
        } => {
            client
                .open_case(v1::OpenCaseRequest {
                    kind: match kind {
                        KindArg::Verification => CaseKind::Verification,
                        KindArg::RecordTransfer => CaseKind::RecordTransfer,
                    } as i32,
                    recipient_county: to.clone(),
                    priority: match priority {
                        PriorityArg::Normal => CasePriority::Normal,
                        PriorityArg::Urgent => CasePriority::Urgent,
                    } as i32,
                    resident_id: id.clone(),
                    subject_name: name.clone(),
                    questions: questions.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Inbox { all, limit } | CasesCommand::Outbox { all, limit } => {
            let direction = if matches!(command, CasesCommand::Inbox { .. }) {
                CaseDirection::Inbound
            } else {
                CaseDirection::Outbound
            };
            let response = client
                .list_cases(v1::ListCasesRequest {
                    direction: direction as i32,
                    state: 0,
                    open_only: !all,
                    page_size: *limit,
                    page_token: String::new(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            if cli.json {
                for case in &response.cases {
                    println!("{}", case_json(case));
                }
            } else {
                let counterpart = if direction == CaseDirection::Inbound {
                    "FROM"
                } else {
                    "TO"
                };
                let rows = response
                    .cases
                    .iter()
                    .map(|c| {
                        let other = if direction == CaseDirection::Inbound {
                            &c.requester_county
                        } else {
                            &c.recipient_county
                        };
                        vec![
                            c.case_id.clone(),
                            kind_label(c.kind()).to_string(),
                            other.clone(),
                            case_state_text(c),
                            priority_label(c.priority()).to_string(),
                            mpx_proto::time::format_due(crate::monitor::effective_due_at(c)),
                            days_left_text(c),
                            c.subject_name.clone(),
                            mpx_proto::resident_id::mask(&c.resident_id),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "CASE",
                        "KIND",
                        counterpart,
                        "STATE",
                        "PRIORITY",
                        "DUE",
                        "LEFT",
                        "NAME",
                        "RESIDENT ID",
                    ],
                    rows,
                );
            }
            return Ok(());
        }
        CasesCommand::Show { case_id } => {
            let response = client
                .get_case(v1::GetCaseRequest {
                    case_id: case_id.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            let case = response.case.unwrap_or_default();
            if cli.json {
                let mut value = case_json(&case);
                value["events"] = response
                    .events
                    .iter()
                    .map(|e| json!({"at_unix_ms": e.at_unix_ms, "event": e.event, "actor": e.actor, "detail": e.detail}))
                    .collect();
                println!("{value}");
            } else {
                print_case(&case);
                println!();
                let rows = response
                    .events
                    .iter()
                    .map(|e| {
                        vec![
                            format_unix_ms(e.at_unix_ms),
                            e.event.clone(),
                            e.actor.clone(),
                            e.detail.clone(),
                        ]
                    })
                    .collect();
                print_table(&["WHEN", "EVENT", "BY", "DETAIL"], rows);
            }
            return Ok(());
        }
        CasesCommand::Accept { case_id, note } => {
            client
                .accept_case(v1::AcceptCaseRequest {
                    case_id: case_id.clone(),
                    note: note.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Respond {
            case_id,
            answer,
            verdict,
        } => {
            client
                .respond_case(v1::RespondCaseRequest {
                    case_id: case_id.clone(),
                    answer: answer.clone(),
                    verdict: match verdict {
                        Some(VerdictArg::Confirmed) => NoticeVerdict::Confirmed,
                        Some(VerdictArg::Disputed) => NoticeVerdict::Disputed,
                        None => NoticeVerdict::Unspecified,
                    } as i32,
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Redirect {
            case_id,
            to,
            reason,
        } => {
            client
                .redirect_case(v1::RedirectCaseRequest {
                    case_id: case_id.clone(),
                    redirect_to_county: to.clone(),
                    reason: reason.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Withdraw { case_id, reason } => {
            client
                .withdraw_case(v1::WithdrawCaseRequest {
                    case_id: case_id.clone(),
                    reason: reason.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Extend {
            case_id,
            days,
            reason,
        } => {
            client
                .request_extension(v1::RequestExtensionRequest {
                    case_id: case_id.clone(),
                    working_days: *days,
                    reason: reason.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::DecideExtension {
            case_id,
            deny,
            note,
        } => {
            client
                .decide_extension(v1::DecideExtensionRequest {
                    case_id: case_id.clone(),
                    grant: !deny,
                    note: note.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Close { case_id } => {
            client
                .close_case(v1::CloseCaseRequest {
                    case_id: case_id.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
    };
    let case = case.unwrap_or_default();
    if cli.json {
        println!("{}", case_json(&case));
    } else {
        println!(
            "Case {} is now {}.",
            case.case_id,
            state_label(case.state())
        );
    }
    Ok(())
}

/// A case's state as a table shows it: a case held for want of a route says so.
fn case_state_text(case: &v1::Case) -> String {
    if case.no_route {
        format!("{} (无路由暂存 held: no route)", state_label(case.state()))
    } else {
        state_label(case.state()).to_string()
    }
}

fn alert_kind_text(kind: v1::AlertKind) -> &'static str {
    match kind {
        v1::AlertKind::DueSoon => "即将到期 due soon",
        v1::AlertKind::Overdue => "已逾期 overdue",
        v1::AlertKind::Escalated => "已上报 escalated",
        v1::AlertKind::NotAccepted => "未受理 not accepted",
        v1::AlertKind::Undelivered => "未送达 undelivered",
        v1::AlertKind::NoRoute => "无路由暂存 held: no route",
        v1::AlertKind::Unspecified => "-",
    }
}

fn alert_json(alert: &v1::Alert) -> serde_json::Value {
    json!({
        "alert_id": alert.alert_id, "kind": crate::monitor::alert_kind_label(alert.kind()),
        "case_id": alert.case_id, "direction": alert.direction, "counterpart_county": alert.counterpart_county,
        "raised_at_unix_ms": alert.raised_at_unix_ms, "due_at_unix_ms": alert.due_at_unix_ms,
        "cleared_at_unix_ms": alert.cleared_at_unix_ms, "detail": alert.detail,
    })
}

fn alert_row(alert: &v1::Alert) -> Vec<String> {
    vec![
        format_unix_ms(alert.raised_at_unix_ms),
        alert_kind_text(alert.kind()).to_string(),
        alert.case_id.clone(),
        alert.direction.clone(),
        alert.counterpart_county.clone(),
        if alert.cleared_at_unix_ms > 0 {
            format!("cleared {}", format_unix_ms(alert.cleared_at_unix_ms))
        } else {
            "open".into()
        },
        alert.detail.clone(),
    ]
}

const ALERT_HEADERS: [&str; 7] = [
    "RAISED",
    "KIND",
    "CASE",
    "DIRECTION",
    "COUNTY",
    "STATUS",
    "DETAIL",
];

async fn alerts(cli: &Cli, config: &NodeConfig, command: &AlertsCommand) -> anyhow::Result<()> {
    let (channel, auth, _) = connect(cli, config).await?;
    let mut client =
        mpx_proto::v1::alerts_client::AlertsClient::new(InterceptedService::new(channel, auth));
    match command {
        AlertsCommand::List { all, limit, after } => {
            let response = client
                .list_alerts(v1::ListAlertsRequest {
                    open_only: !all,
                    page_size: *limit,
                    page_token: after.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            if cli.json {
                for alert in &response.alerts {
                    println!("{}", alert_json(alert));
                }
            } else {
                print_table(
                    &ALERT_HEADERS,
                    response.alerts.iter().map(alert_row).collect(),
                );
                if !response.next_page_token.is_empty() {
                    println!("(more: --after {})", response.next_page_token);
                }
            }
        }
        AlertsCommand::Watch { include_open } => {
            let mut stream = client
                .watch_alerts(v1::WatchAlertsRequest {
                    include_open: *include_open,
                })
                .await
                .map_err(explain)?
                .into_inner();
            if !cli.json {
                eprintln!("watching alerts (Ctrl-C to stop)");
            }
            while let Some(message) = stream.message().await.map_err(explain)? {
                let Some(alert) = message.alert else { continue };
                if cli.json {
                    println!("{}", alert_json(&alert));
                } else {
                    println!("{}", terminal_safe(&alert_row(&alert).join("  ")));
                }
            }
        }
    }
    Ok(())
}

fn days_left_text(case: &v1::Case) -> String {
    match case.working_days_left {
        0 if case.due_at_unix_ms == 0 => "-".into(),
        left if left < 0 => format!("逾期{} overdue {}wd", -left, -left),
        left => format!("{left}wd"),
    }
}

// ---- output -----------------------------------------------------------------------------------

fn sex_text(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "男 male",
        Sex::Female => "女 female",
        Sex::Unspecified => "-",
    }
}

/// A person as JSON (field names as in the proto).
pub fn person_json(person: &v1::Person) -> serde_json::Value {
    json!({
        "resident_id": person.resident_id, "name": person.name,
        "sex": match person.sex() { Sex::Male => "male", Sex::Female => "female", Sex::Unspecified => "" },
        "birth_date": person.birth_date, "hukou_county": person.hukou_county,
        "residence_county": person.residence_county, "residence_address": person.residence_address,
        "arrival_date": person.arrival_date, "departure_date": person.departure_date,
        "phone": person.phone, "notes": person.notes, "status": status_label(person.status()),
        "resident_id_flagged": person.resident_id_flagged, "updated_at_unix_ms": person.updated_at_unix_ms,
    })
}

/// A case as JSON (field names as in the proto).
pub fn case_json(case: &v1::Case) -> serde_json::Value {
    json!({
        "case_id": case.case_id, "kind": kind_label(case.kind()), "direction": direction_label(case.direction()),
        "requester_county": case.requester_county, "recipient_county": case.recipient_county,
        "state": state_label(case.state()), "no_route": case.no_route, "priority": priority_label(case.priority()),
        "resident_id": case.resident_id, "subject_name": case.subject_name, "questions": case.questions,
        "answer": case.answer, "verdict": verdict_label(case.verdict()),
        "redirected_to_county": case.redirected_to_county, "parent_case_id": case.parent_case_id,
        "child_case_id": case.child_case_id, "opened_at_unix_ms": case.opened_at_unix_ms,
        "delivered_at_unix_ms": case.delivered_at_unix_ms, "accepted_at_unix_ms": case.accepted_at_unix_ms,
        "responded_at_unix_ms": case.responded_at_unix_ms, "closed_at_unix_ms": case.closed_at_unix_ms,
        "due_at_unix_ms": case.due_at_unix_ms, "reason": case.reason, "handled_by": case.handled_by,
    })
}

fn print_fields(fields: &[(&str, String)]) {
    let width = fields
        .iter()
        .map(|(label, _)| label.width())
        .max()
        .unwrap_or(0);
    for (label, value) in fields {
        if value.is_empty() {
            continue;
        }
        let padding = " ".repeat(width - label.width());
        // Stored text may come from a peer: print it so the terminal cannot interpret it.
        println!("{label}{padding}  {}", terminal_safe(value));
    }
}

fn print_person(person: &v1::Person) {
    print_fields(&[
        ("身份证号 Resident ID", person.resident_id.clone()),
        ("姓名 Name", person.name.clone()),
        ("性别 Sex", sex_text(person.sex()).to_string()),
        ("出生日期 Birth date", person.birth_date.clone()),
        ("户籍地 Hukou county", person.hukou_county.clone()),
        ("现居住地 Residence county", person.residence_county.clone()),
        ("地址 Address", person.residence_address.clone()),
        ("来此日期 Arrived", person.arrival_date.clone()),
        ("离开日期 Departed", person.departure_date.clone()),
        ("状态 Status", status_label(person.status()).to_string()),
        ("电话 Phone", person.phone.clone()),
        ("备注 Notes", person.notes.clone()),
        (
            "核验 Check",
            if person.resident_id_flagged {
                "校验码有误 wrong check digit (accepted in warn mode)".into()
            } else {
                String::new()
            },
        ),
    ]);
}

fn print_case(case: &v1::Case) {
    print_fields(&[
        ("案件 Case", case.case_id.clone()),
        ("类型 Kind", kind_label(case.kind()).to_string()),
        (
            "方向 Direction",
            direction_label(case.direction()).to_string(),
        ),
        ("发起 From", case.requester_county.clone()),
        ("接收 To", case.recipient_county.clone()),
        ("状态 State", case_state_text(case)),
        (
            "优先级 Priority",
            priority_label(case.priority()).to_string(),
        ),
        (
            "对象 Subject",
            format!(
                "{} {}",
                case.subject_name,
                mpx_proto::resident_id::mask(&case.resident_id)
            ),
        ),
        ("事项 Questions", case.questions.clone()),
        ("答复 Answer", case.answer.clone()),
        ("结论 Verdict", verdict_label(case.verdict()).to_string()),
        ("转办 Redirected to", case.redirected_to_county.clone()),
        ("原案件 Parent case", case.parent_case_id.clone()),
        ("转办案件 Linked case", case.child_case_id.clone()),
        ("发起时间 Opened", format_unix_ms(case.opened_at_unix_ms)),
        (
            "送达时间 Delivered",
            if case.delivered_at_unix_ms > 0 {
                format_unix_ms(case.delivered_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "受理时间 Accepted",
            if case.accepted_at_unix_ms > 0 {
                format_unix_ms(case.accepted_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "答复时间 Responded",
            if case.responded_at_unix_ms > 0 {
                format_unix_ms(case.responded_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "截止时间 Due",
            if case.due_at_unix_ms > 0 {
                mpx_proto::time::format_due(case.due_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "受理截止 Accept by",
            if case.acceptance_due_at_unix_ms > 0 {
                mpx_proto::time::format_due(case.acceptance_due_at_unix_ms)
            } else {
                String::new()
            },
        ),
        (
            "临时截止 Provisional",
            if case.due_provisional {
                format!(
                    "是 yes: calendar {} has an unpublished year",
                    case.calendar_version
                )
            } else {
                String::new()
            },
        ),
        (
            "逾期答复 Answered late",
            if case.answered_late {
                "是 yes".into()
            } else {
                String::new()
            },
        ),
        (
            "延期 Extension",
            match case.extension_state.as_str() {
                "" => String::new(),
                state => format!("{state} ({} working days)", case.extension_working_days),
            },
        ),
        (
            "延期截止 Extended due",
            if case.extended_due_at_unix_ms > 0 {
                mpx_proto::time::format_due(case.extended_due_at_unix_ms)
            } else {
                String::new()
            },
        ),
        ("原因 Reason", case.reason.clone()),
        ("经办 Handled by", case.handled_by.clone()),
    ]);
}

/// Prints an aligned table; widths count CJK characters as two columns.
pub fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        println!("(none)");
        return;
    }
    // Cells hold stored text, some of it from peers: one line each, escaped for the terminal.
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|cell| terminal_safe(&cell).replace('\n', "⏎").replace('\t', " "))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (index, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(cell.width());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (index, cell) in cells.iter().enumerate() {
            text.push_str(cell);
            if index + 1 < cells.len() {
                text.push_str(&" ".repeat(widths[index] - cell.width() + 2));
            }
        }
        println!("{}", text.trim_end());
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}
