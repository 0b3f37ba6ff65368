//! The `exchange-node` command line: `init`, `serve`, local operator commands, and the clerk
//! commands (`records …`, `cases …`) that talk to a running node's operator API.

mod admin;
mod alerts;
mod bulk;
mod cases;
mod client;
mod output;
mod records;
pub mod restore;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mpx_proto::operator_client::{OperatorChannel, OperatorTarget, print_table};
use mpx_proto::runtime::{
    Overrides, bind_listener, dump_config, generate_token, hash_token, init_tracing, load_config,
    record_bound_addresses, shutdown_signal,
};
use mpx_proto::text::terminal_safe;
use mpx_proto::time::format_unix_ms;
use mpx_proto::v1::cases_client::CasesClient;
use mpx_proto::v1::records_client::RecordsClient;
use mpx_proto::v1::{self, CaseDirection, CaseKind, CasePriority, NoticeVerdict, PersonStatus};
use serde_json::json;
use unicode_width::UnicodeWidthStr;

use admin::{
    AuditCommand, InitArgs, OperatorCommand, add_console_operator, add_operator, audit, deliveries,
    list_operators, run_init, security_events, serve, unlock_operator,
};
use alerts::{AlertsCommand, alerts};
use cases::{CasesCommand, cases};
use client::{Authorized, cases_client, connect, explain, records_client};
use output::{case_json, case_state_text, person_json, print_case, print_person};
use records::{RecordsCommand, records};

use crate::config::{ENV_KEYS, NodeConfig};
use crate::domain::state_label;
use crate::enroll::{InitOptions, InitOutcome, init};
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
        /// Web console listener, e.g. 127.0.0.1:7090 ("" disables).
        #[arg(long)]
        console_listen: Option<String>,
        /// Once bound, write {"peer": ADDR, "operator": ADDR, "metrics": ADDR, "console": ADDR}
        /// here (for scripts and tests).
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
    /// Operators: tokens for the operator API, console accounts with passwords and roles.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Compare the roster with another department's extract (数据比对): only ours, only theirs,
    /// and differing fields, with a CSV of the differences.
    Reconcile(bulk::ReconcileArgs),
    /// Put a backup in place of the database (node stopped), checked; the next start recovers
    /// from the peers everything since the backup.
    Restore(restore::RestoreArgs),
    /// The node's state from its own database: counts, outbox, and any restore and recovery.
    Status,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    mpx_proto::runtime::block_on_command(dispatch(Cli::parse()))
}

fn load(cli: &Cli, overrides: Overrides) -> anyhow::Result<NodeConfig> {
    let file = NodeConfig::file_to_read(cli.config.as_deref(), cli.data_dir.as_deref());
    let overrides = overrides.set("data_dir", cli.data_dir.as_ref().map(|dir| dir.display()));
    Ok(load_config(file.as_deref(), ENV_KEYS, &overrides)?)
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = &cli.command else {
        // `--dump-config` alone prints the configuration; nothing at all prints the help.
        if cli.dump_config {
            return Ok(dump_config(&load(&cli, Overrides::default())?)?);
        }
        use clap::CommandFactory;
        Cli::command().print_help()?;
        bail!("a command is needed (see above)");
    };
    let overrides = match command {
        Command::Init(args) => Overrides::default()
            .set("county", Some(&args.county))
            .set("name", Some(&args.name).filter(|name| !name.is_empty()))
            .set("registry_url", args.registry.as_ref())
            .set("peer_listen", args.peer_listen.as_ref())
            .set("operator_listen", args.operator_listen.as_ref())
            .set("peer_advertise", args.advertise.as_ref()),
        Command::Serve {
            peer_listen,
            operator_listen,
            peer_advertise,
            metrics_listen,
            console_listen,
            ..
        } => Overrides::default()
            .set("peer_listen", peer_listen.as_ref())
            .set("operator_listen", operator_listen.as_ref())
            .set("peer_advertise", peer_advertise.as_ref())
            .set("metrics_listen", metrics_listen.as_ref())
            .set("console_listen", console_listen.as_ref()),
        _ => Overrides::default(),
    };
    let config = load(&cli, overrides)?;
    if cli.dump_config {
        return Ok(dump_config(&config)?);
    }
    match command {
        Command::Init(args) => run_init(&config, args).await,
        Command::Serve { ready_file, .. } => serve(config, ready_file.clone()).await,
        Command::Operator(OperatorCommand::Add {
            name, role: None, ..
        }) => add_operator(&config, name).await,
        Command::Operator(OperatorCommand::Add {
            name,
            role: Some(role),
            password_file,
        }) => add_console_operator(&config, name, role, password_file.as_deref()).await,
        Command::Operator(OperatorCommand::List) => list_operators(&config).await,
        Command::Operator(OperatorCommand::Unlock { name }) => unlock_operator(&config, name).await,
        Command::Deliveries { all, limit } => deliveries(&cli, &config, *all, *limit).await,
        Command::SecurityEvents { limit } => security_events(&config, *limit).await,
        Command::Audit { limit, command } => audit(&config, *limit, command.as_ref()).await,
        Command::Records(command) => records(&cli, &config, command).await,
        Command::Reconcile(args) => {
            let mut records = records_client(&cli, &config).await?;
            let mut cases = cases_client(&cli, &config).await?;
            bulk::reconcile(&mut records, &mut cases, &config.county, args, cli.json).await
        }
        Command::Cases(command) => cases(&cli, &config, command).await,
        Command::Restore(args) => restore::restore(&config, args).await,
        Command::Status => restore::status(&cli, &config).await,
        Command::Alerts(command) => alerts(&cli, &config, command).await,
    }
}
