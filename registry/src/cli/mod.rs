//! The `registry` command line: the flags, loading the config, and `dispatch`, which hands each
//! command to its group's module (`ca`, `directory`, `queries`, `report`, `reconcile`, `audit`,
//! `serve`; `client` holds the operator-API channel). No command's work is done here.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use mpx_proto::division::{CountyCode, ProvinceCode};
use mpx_proto::runtime::{Overrides, dump_config, load_config};

use crate::config::{CONFIG_FILE_NAME, ENV_KEYS, RegistryConfig};

mod audit;
mod ca;
mod client;
mod directory;
mod queries;
mod reconcile;
mod report;
mod serve;

use audit::AuditCommand;
use ca::CaCommand;
use client::{OperatorArgs, QueryArgs};
use directory::OperatorCommand;

#[derive(Parser)]
#[command(
    name = "registry",
    version,
    about = "MPX provincial registry: CA, node enrolment and the signed node directory",
    after_help = "Config: --config FILE, else DATA_DIR/registry.toml; then MPX_* variables; then flags."
)]
struct Cli {
    /// TOML config file (default: DATA_DIR/registry.toml when it exists).
    #[arg(long, global = true, env = "MPX_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (CA, TLS files, SQLite database).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH?mode=rwc or postgres://USER@HOST/DB.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long, global = true)]
    dump_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The provincial certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Print a one-time enrolment token for a county (give it to the county's operator).
    Enroll {
        /// 6-digit county code, e.g. 621202.
        #[arg(long)]
        county: String,
        /// County name, e.g. 武都区.
        #[arg(long, default_value = "")]
        name: String,
        /// Hours until the token expires (default from config: 72).
        #[arg(long)]
        ttl_hours: Option<u32>,
    },
    /// Revoke a county's certificate; every node refuses it at its next directory refresh.
    Revoke {
        #[arg(long)]
        county: String,
        #[arg(long, default_value = "revoked by the provincial operator")]
        reason: String,
    },
    /// Cases that counties escalated (unanswered past the grace period), newest first.
    Escalations {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Where is this person registered and living? (audited; needs a purpose)
    Locate {
        /// 18-character resident ID.
        id: String,
        #[command(flatten)]
        query: QueryArgs,
    },
    /// Per county: people residing, from elsewhere (inflow), own hukou living elsewhere (outflow).
    Counts {
        #[command(flatten)]
        query: QueryArgs,
    },
    /// People whom two or more counties list as residing.
    Conflicts {
        /// Also open a verification case for each county concerned (skipping those that
        /// already have an unanswered one about the person).
        #[arg(long)]
        open_cases: bool,
        #[command(flatten)]
        query: QueryArgs,
    },
    /// People their hukou county lists as gone out, whom no county reports as residing.
    Untracked {
        /// Gone out at least this many days ago.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Also open a verification case for the hukou county and the last residence county
        /// it knew (skipping those that already have an unanswered one about the person).
        #[arg(long)]
        open_cases: bool,
        #[command(flatten)]
        query: QueryArgs,
    },
    /// County-to-county flows of arrivals in a period (small counts shown as <N).
    Flows {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD.
        #[arg(long)]
        to: String,
        /// Counts below this are suppressed.
        #[arg(long, default_value_t = 5)]
        suppress_below: u32,
        #[command(flatten)]
        query: QueryArgs,
    },
    /// Compliance figures per responding county for a period, ranked by timely rate.
    Report {
        /// YYYY-MM (month), YYYY-Qn, YYYY-Hn, YYYY-Www (ISO week), YYYY-MM-DD, or a range of days
        /// YYYY-MM-DD..YYYY-MM-DD (both included).
        #[arg(long)]
        period: String,
        /// table, csv, json, md (a notice ready to circulate: Chinese; add --english), or xlsx (a
        /// workbook for the office: ranking, overdue cases, disputed cases; needs --out).
        #[arg(long, default_value = "table")]
        format: String,
        /// The md notice in English.
        #[arg(long)]
        english: bool,
        /// Write the report here (created 0600) instead of standard output; required for xlsx.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Figures as they stood at this instant (YYYY-MM-DD means the end of that day, or
        /// RFC 3339); default now.
        #[arg(long)]
        as_of: Option<String>,
        /// Only this responding county.
        #[arg(long)]
        county: Option<String>,
        /// List this many open overdue cases, oldest first (the counts cover all).
        #[arg(long, default_value_t = 100)]
        overdue: u32,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Province alerts (overdue, escalated, disputed, rejected evidence), then new ones as they
    /// are raised; Ctrl-C stops.
    Watch {
        /// Start after this alert id (0: from the oldest).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Only alerts about this county.
        #[arg(long)]
        county: Option<String>,
        /// Print what is there and exit instead of following.
        #[arg(long)]
        no_follow: bool,
        /// JSON lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Everything both sides reported about a case, with the verification of each signature.
    Evidence {
        case_id: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Compare the provincial index with a provincial extract (统计、公安 …), by resident ID:
    /// per county, people only in the index, only in the extract, and with differing fields.
    Reconcile {
        /// The extract (a workbook, CSV or JSON Lines; columns as for a county import).
        #[arg(long)]
        against: PathBuf,
        /// Whose extract it is: statistics, police, …
        #[arg(long)]
        source: String,
        /// Why you compare (recorded in the audit log).
        #[arg(long)]
        purpose: String,
        /// csv, jsonl, xlsx, xlsb, xls or ods (default: workbooks by their content, text by the
        /// file name).
        #[arg(long)]
        format: Option<String>,
        /// The workbook sheet, by name or number from 1 (default: the first with a header).
        #[arg(long)]
        sheet: Option<String>,
        /// utf-8, gb18030 or auto.
        #[arg(long, default_value = "auto")]
        encoding: String,
        /// CSV of the differences (default: AGAINST.differences.csv).
        #[arg(long)]
        out: Option<PathBuf>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The audit log of province-wide queries.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// List the nodes in the directory.
    Nodes {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Operators: tokens for the registry's operator API; accounts with a password and a role
    /// for the province console.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Serve the peer listener (enrolment, directory) and the operator listener.
    Serve {
        /// Peer listener address (mutual TLS), e.g. 0.0.0.0:7400; port 0 picks a free port.
        #[arg(long)]
        peer_listen: Option<String>,
        /// Operator listener address, e.g. 127.0.0.1:7401.
        #[arg(long)]
        operator_listen: Option<String>,
        /// The province console (web), e.g. 127.0.0.1:7402; "" to disable.
        #[arg(long)]
        console_listen: Option<String>,
        /// Once bound, write {"peer": ADDR, "operator": ADDR, "console": ADDR} here (for scripts
        /// and tests).
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    mpx_proto::runtime::block_on_command(dispatch(Cli::parse()))
}

fn load(cli: &Cli, overrides: Overrides) -> anyhow::Result<RegistryConfig> {
    let file = RegistryConfig::file_to_read(cli.config.as_deref(), cli.data_dir.as_deref());
    let overrides = overrides
        .set("data_dir", cli.data_dir.as_ref().map(|dir| dir.display()))
        .set("database_url", cli.database_url.as_ref());
    Ok(load_config(file.as_deref(), ENV_KEYS, &overrides)?)
}

fn province_of(config: &RegistryConfig) -> anyhow::Result<ProvinceCode> {
    ProvinceCode::parse(&config.province).with_context(|| {
        format!(
            "no valid province configured ({:?}): run `registry ca init --province CODE` or set province in {}",
            config.province, CONFIG_FILE_NAME
        )
    })
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
        Command::Serve {
            peer_listen,
            operator_listen,
            console_listen,
            ..
        } => Overrides::default()
            .set("peer_listen", peer_listen.as_ref())
            .set("operator_listen", operator_listen.as_ref())
            .set("console_listen", console_listen.as_ref()),
        Command::Ca {
            command: CaCommand::Init { province },
        } => Overrides::default().set("province", Some(province)),
        _ => Overrides::default(),
    };
    let config = load(&cli, overrides)?;
    if cli.dump_config {
        return Ok(dump_config(&config)?);
    }
    let now = mpx_proto::time::now_unix_ms();
    let Some(command) = cli.command else {
        return Ok(());
    };
    match command {
        Command::Ca {
            command: CaCommand::Init { .. },
        } => ca::init(&config, now).await?,
        Command::Ca {
            command:
                CaCommand::Issue {
                    county,
                    csr,
                    out,
                    name,
                },
        } => ca::issue(&config, county, csr, out, name, now).await?,
        Command::Enroll {
            county,
            name,
            ttl_hours,
        } => directory::enroll(&config, county, name, ttl_hours, now).await?,
        Command::Revoke { county, reason } => {
            directory::revoke(&config, county, reason, now).await?
        }
        Command::Escalations { json, limit } => report::escalations(&config, json, limit).await?,
        Command::Locate { id, query } => queries::locate(&config, &id, query).await?,
        Command::Counts { query } => queries::counts(&config, query).await?,
        Command::Conflicts {
            open_cases: true,
            query,
        } => queries::open_cases(&config, mpx_proto::v1::Finding::Conflict, 0, &query).await?,
        Command::Untracked {
            days,
            open_cases: true,
            query,
        } => queries::open_cases(&config, mpx_proto::v1::Finding::Untracked, days, &query).await?,
        Command::Conflicts { query, .. } => queries::conflicts(&config, query).await?,
        Command::Untracked { days, query, .. } => queries::untracked(&config, days, query).await?,
        Command::Flows {
            from,
            to,
            suppress_below,
            query,
        } => queries::flows(&config, from, to, suppress_below, query).await?,
        Command::Report {
            period,
            format,
            english,
            out,
            as_of,
            county,
            overdue,
            operator,
        } => {
            let options = report::ReportOptions {
                format,
                english,
                out,
                as_of,
                county,
                overdue,
            };
            report::report(&config, period, &options, &operator).await?
        }
        Command::Watch {
            after,
            county,
            no_follow,
            json,
            operator,
        } => report::watch(&config, after, county, !no_follow, json, &operator).await?,
        Command::Evidence {
            case_id,
            json,
            operator,
        } => report::evidence(&config, case_id, json, &operator).await?,
        Command::Reconcile {
            against,
            source,
            purpose,
            format,
            sheet,
            encoding,
            out,
            json,
        } => {
            let args = crate::reconcile::Args {
                against,
                source,
                purpose,
                format,
                sheet,
                encoding,
                out,
                json,
            };
            reconcile::reconcile(&config, &args).await?
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => audit::verify(&config).await?,
        Command::Nodes { json } => directory::nodes(&config, json).await?,
        Command::Operator {
            command: OperatorCommand::Add {
                name, role: None, ..
            },
        } => directory::operator_add(&config, name, now).await?,
        Command::Operator {
            command:
                OperatorCommand::Add {
                    name,
                    role: Some(role),
                    password_file,
                },
        } => {
            directory::console_operator_add(&config, &name, &role, password_file.as_deref(), now)
                .await?
        }
        Command::Operator {
            command: OperatorCommand::Unlock { name },
        } => directory::console_operator_unlock(&config, &name).await?,
        Command::Serve { ready_file, .. } => serve::serve(config, ready_file).await?,
    }
    Ok(())
}

fn parse_county(text: &str, province: ProvinceCode) -> anyhow::Result<CountyCode> {
    // A county of the shipped GB/T 2260 edition: enrolling or querying a code that is no
    // county is refused with why.
    let county = mpx_proto::division::DivisionTable::shipped()
        .county(text)
        .with_context(|| "--county".to_string())?;
    if county.province() != province {
        bail!("--county {county} is not in province {province}");
    }
    Ok(county)
}
