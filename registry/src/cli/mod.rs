//! The `registry` command line: parse, load the config, then serve, run an offline command or
//! call the operator API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use mpx_proto::division::{CountyCode, ProvinceCode};
use mpx_proto::identity::{certificate_der_from_pem, certificate_fingerprint};
use mpx_proto::runtime::{generate_token, hash_token, init_tracing, load_config, shutdown_signal};
use serde::Serialize;

use crate::ca::CertificateAuthority;
use crate::config::{CONFIG_FILE_NAME, ENV_KEYS, RegistryConfig};
use crate::store::Store;

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
        /// YYYY-MM (month), YYYY-Qn, YYYY-Hn, YYYY-Www (ISO week) or YYYY-MM-DD.
        #[arg(long)]
        period: String,
        /// table, csv, json, or md (a notice ready to circulate: Chinese; add --english).
        #[arg(long, default_value = "table")]
        format: String,
        /// The md notice in English.
        #[arg(long)]
        english: bool,
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
        /// The extract (CSV or JSON Lines; columns as for a county import).
        #[arg(long)]
        against: PathBuf,
        /// Whose extract it is: statistics, police, …
        #[arg(long)]
        source: String,
        /// Why you compare (recorded in the audit log).
        #[arg(long)]
        purpose: String,
        /// csv or jsonl (default: from the file name).
        #[arg(long)]
        format: Option<String>,
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
    /// Operator tokens for the registry's operator API.
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
        /// Once bound, write {"peer": ADDR, "operator": ADDR} here (for scripts and tests).
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the provincial root CA and the registry's certificate in the data directory.
    Init {
        /// Two-digit province code, e.g. 62.
        #[arg(long)]
        province: String,
    },
    /// Offline enrolment for air-gapped sites: sign a node's CSR file.
    Issue {
        #[arg(long)]
        county: String,
        /// The CSR written by `exchange-node init --offline-csr FILE`.
        #[arg(long)]
        csr: PathBuf,
        /// Where to write the certificate (PEM).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "")]
        name: String,
    },
}

/// Where the operator API is and who calls it.
#[derive(clap::Args)]
struct OperatorArgs {
    /// Operator API, e.g. http://127.0.0.1:7401 (default: serve.json, else the config).
    #[arg(long, env = "MPX_SERVER")]
    server: Option<String>,
    /// Operator token (default: DATA_DIR/operator.token).
    #[arg(long, env = "MPX_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// What every province-wide query takes.
#[derive(clap::Args)]
struct QueryArgs {
    /// Why you ask (recorded in the audit log with your operator name).
    #[arg(long)]
    purpose: String,
    #[command(flatten)]
    operator: OperatorArgs,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; fails if an entry was changed or removed.
    Verify,
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create a named operator token; it is printed once and stored hashed.
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
    database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operator_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    province: Option<String>,
}

pub fn main() -> ExitCode {
    mpx_proto::runtime::block_on_command(dispatch(Cli::parse()))
}

fn load(cli: &Cli, overrides: Overrides) -> anyhow::Result<RegistryConfig> {
    let file = RegistryConfig::file_to_read(cli.config.as_deref(), cli.data_dir.as_deref());
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        ..overrides
    };
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
        Command::Serve {
            peer_listen,
            operator_listen,
            ..
        } => Overrides {
            peer_listen: peer_listen.clone(),
            operator_listen: operator_listen.clone(),
            ..Overrides::default()
        },
        Command::Ca {
            command: CaCommand::Init { province },
        } => Overrides {
            province: Some(province.clone()),
            ..Overrides::default()
        },
        _ => Overrides::default(),
    };
    let config = load(&cli, overrides)?;
    if cli.dump_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    let now = mpx_proto::time::now_unix_ms();
    let Some(command) = cli.command else {
        return Ok(());
    };
    match command {
        Command::Ca {
            command: CaCommand::Init { .. },
        } => {
            let province = province_of(&config)?;
            CertificateAuthority::init(&config.data_dir, province)?;
            let config_path = config.data_dir.join(CONFIG_FILE_NAME);
            if !config_path.exists() {
                let written = RegistryConfig {
                    data_dir: std::fs::canonicalize(&config.data_dir)?,
                    ..config.clone()
                };
                std::fs::write(&config_path, toml::to_string_pretty(&written)?)
                    .with_context(|| format!("writing {}", config_path.display()))?;
            }
            let store = Store::connect(&config.database_url()).await?;
            let token = generate_token("mpxop");
            store
                .add_operator_token("admin", &hash_token(&token), now)
                .await?;
            mpx_proto::runtime::write_private_file(
                &config.operator_token_path(),
                token.as_bytes(),
            )?;
            println!(
                "Provincial CA for province {province} created in {}",
                config.data_dir.display()
            );
            println!(
                "  CA certificate (give to every county): {}",
                config.data_dir.join("ca/ca.crt").display()
            );
            println!(
                "  config:                                {}",
                config_path.display()
            );
            println!(
                "  operator token (admin):                {}",
                config.operator_token_path().display()
            );
            println!(
                "Next: registry --data-dir {} enroll --county 621202",
                config.data_dir.display()
            );
        }
        Command::Ca {
            command:
                CaCommand::Issue {
                    county,
                    csr,
                    out,
                    name,
                },
        } => {
            let province = province_of(&config)?;
            let county = parse_county(&county, province)?;
            let authority = CertificateAuthority::load(&config.data_dir, province)?;
            let csr_pem = read_file(&csr)?;
            let pem =
                authority.issue_for_county(&csr_pem, county, config.certificate_validity_days)?;
            let der = certificate_der_from_pem(&pem)?;
            let store = Store::connect(&config.database_url()).await?;
            store
                .register_certificate(
                    county.as_str(),
                    &name,
                    &pem,
                    &certificate_fingerprint(&der),
                    now,
                )
                .await?;
            std::fs::write(&out, &pem).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "Certificate for county {county} written to {}",
                out.display()
            );
            println!(
                "Copy it and ca/ca.crt to the node and run `exchange-node init --certificate FILE --ca-cert FILE ...`."
            );
        }
        Command::Enroll {
            county,
            name,
            ttl_hours,
        } => {
            let province = province_of(&config)?;
            let county = parse_county(&county, province)?;
            let store = Store::connect(&config.database_url()).await?;
            let token = generate_token("mpxenrol");
            let ttl_hours = ttl_hours.unwrap_or(config.enrollment_token_ttl_hours);
            let expires = now + i64::from(ttl_hours) * 3_600_000;
            store
                .create_enrollment_token(
                    county.as_str(),
                    name.trim(),
                    &hash_token(&token),
                    now,
                    expires,
                )
                .await?;
            println!("{token}");
            eprintln!(
                "One-time enrolment token for county {county}, valid {ttl_hours} h. On the node run:\n  exchange-node init --county {county} --registry https://REGISTRY:PORT --ca-cert ca.crt --token {token}"
            );
        }
        Command::Revoke { county, reason } => {
            let province = province_of(&config)?;
            let county = parse_county(&county, province)?;
            let store = Store::connect(&config.database_url()).await?;
            let fingerprint = store.revoke_county(county.as_str(), &reason, now).await?;
            println!("Revoked county {county} (certificate sha256 {fingerprint}).");
            println!("Every node refuses it from its next directory refresh.");
        }
        Command::Escalations { json, limit } => {
            let store = Store::connect(&config.database_url()).await?;
            let escalations = store.escalations(limit).await?;
            if json {
                for (reporter, e) in &escalations {
                    println!(
                        "{}",
                        serde_json::json!({
                            "reporter": reporter, "case_id": e.case_id, "case_kind": e.case_kind,
                            "requester_county": e.requester_county, "recipient_county": e.recipient_county,
                            "delivered_at_unix_ms": e.delivered_at_unix_ms, "due_at_unix_ms": e.due_at_unix_ms,
                            "escalated_at_unix_ms": e.escalated_at_unix_ms, "direction": e.direction, "detail": e.detail,
                        })
                    );
                }
            } else if escalations.is_empty() {
                println!("(none)");
            } else {
                println!(
                    "{:<16}  {:<8}  {:<8}  {:<8}  {:<16}  CASE",
                    "ESCALATED", "REPORTER", "FROM", "TO", "DUE"
                );
                for (reporter, e) in &escalations {
                    println!(
                        "{:<16}  {:<8}  {:<8}  {:<8}  {:<16}  {}",
                        mpx_proto::time::format_unix_ms(e.escalated_at_unix_ms),
                        reporter,
                        e.requester_county,
                        e.recipient_county,
                        mpx_proto::time::format_unix_ms(e.due_at_unix_ms),
                        e.case_id
                    );
                }
            }
        }
        Command::Locate { id, query } => locate(&config, &id, query).await?,
        Command::Counts { query } => {
            let mut client = queries_client(&config, &query).await?;
            let counties = client
                .counts(mpx_proto::v1::CountsRequest {
                    purpose: query.purpose.clone(),
                })
                .await
                .map_err(|s| anyhow::anyhow!("{}", s.message()))?
                .into_inner()
                .counties;
            if query.json {
                for c in &counties {
                    let value = serde_json::json!({"county": c.county, "residing": c.residing, "inflow": c.inflow, "outflow": c.outflow});
                    println!("{value}");
                }
            } else {
                println!(
                    "{:<8}  {:>10}  {:>10}  {:>10}",
                    "COUNTY", "RESIDING", "INFLOW", "OUTFLOW"
                );
                for c in &counties {
                    println!(
                        "{:<8}  {:>10}  {:>10}  {:>10}",
                        c.county, c.residing, c.inflow, c.outflow
                    );
                }
            }
        }
        Command::Conflicts {
            open_cases: true,
            query,
        } => open_cases(&config, mpx_proto::v1::Finding::Conflict, 0, &query).await?,
        Command::Untracked {
            days,
            open_cases: true,
            query,
        } => open_cases(&config, mpx_proto::v1::Finding::Untracked, days, &query).await?,
        Command::Conflicts { query, .. } => {
            let mut client = queries_client(&config, &query).await?;
            let conflicts = client
                .conflicts(mpx_proto::v1::ConflictsRequest {
                    purpose: query.purpose.clone(),
                    limit: 0,
                })
                .await
                .map_err(|s| anyhow::anyhow!("{}", s.message()))?
                .into_inner()
                .conflicts;
            for c in &conflicts {
                if query.json {
                    let value = serde_json::json!({"resident_id": c.resident_id, "name": c.name, "counties": c.counties});
                    println!("{value}");
                } else {
                    println!(
                        "{}  {}  residing in {}",
                        c.resident_id,
                        c.name,
                        c.counties.join(", ")
                    );
                }
            }
            if conflicts.is_empty() && !query.json {
                println!("(none)");
            }
        }
        Command::Untracked { days, query, .. } => {
            let mut client = queries_client(&config, &query).await?;
            let request = mpx_proto::v1::UntrackedRequest {
                purpose: query.purpose.clone(),
                min_days: days,
                limit: 0,
            };
            let people = client
                .untracked(request)
                .await
                .map_err(|s| anyhow::anyhow!("{}", s.message()))?
                .into_inner()
                .people;
            for p in &people {
                let last = if p.last_known_residence.is_empty() {
                    "-"
                } else {
                    p.last_known_residence.as_str()
                };
                if query.json {
                    let value = serde_json::json!({"resident_id": p.resident_id, "name": p.name, "hukou_county": p.hukou_county,
                        "since": p.since, "last_known_residence": p.last_known_residence});
                    println!("{value}");
                } else {
                    println!(
                        "{}  {}  hukou {}  gone out since {}  last known {last}",
                        p.resident_id, p.name, p.hukou_county, p.since
                    );
                }
            }
            if people.is_empty() && !query.json {
                println!("(none)");
            }
        }
        Command::Flows {
            from,
            to,
            suppress_below,
            query,
        } => {
            let mut client = queries_client(&config, &query).await?;
            let request = mpx_proto::v1::FlowsRequest {
                purpose: query.purpose.clone(),
                from_date: from,
                to_date: to,
                suppress_below,
            };
            let response = client
                .flows(request)
                .await
                .map_err(|s| anyhow::anyhow!("{}", s.message()))?
                .into_inner();
            let shown = |f: &mpx_proto::v1::Flow| {
                if f.suppressed {
                    format!("<{}", response.suppress_below)
                } else {
                    f.count.to_string()
                }
            };
            for f in &response.flows {
                if query.json {
                    let value = serde_json::json!({"from_county": f.from_county, "to_county": f.to_county, "count": shown(f), "suppressed": f.suppressed});
                    println!("{value}");
                } else {
                    println!("{} → {}  {}", f.from_county, f.to_county, shown(f));
                }
            }
            if response.flows.is_empty() && !query.json {
                println!("(none)");
            }
        }

        Command::Report {
            period,
            format,
            english,
            as_of,
            county,
            overdue,
            operator,
        } => {
            let options = ReportOptions {
                format,
                english,
                as_of,
                county,
                overdue,
            };
            report(&config, period, &options, &operator).await?
        }
        Command::Watch {
            after,
            county,
            no_follow,
            json,
            operator,
        } => watch(&config, after, county, !no_follow, json, &operator).await?,
        Command::Evidence {
            case_id,
            json,
            operator,
        } => evidence(&config, case_id, json, &operator).await?,
        Command::Reconcile {
            against,
            source,
            purpose,
            format,
            encoding,
            out,
            json,
        } => {
            let store = Store::connect(&config.database_url()).await?;
            let args = crate::reconcile::Args {
                against,
                source,
                purpose,
                format,
                encoding,
                out,
                json,
            };
            crate::reconcile::run(&store, &args).await?;
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let store = Store::connect(&config.database_url()).await?;
            match store.verify_audit_chain().await? {
                Ok(entries) => println!(
                    "审计日志完整 audit log intact: {entries} entries, hash chain verified"
                ),
                Err(problem) => bail!("审计日志被篡改 the audit log fails verification: {problem}"),
            }
        }
        Command::Nodes { json } => {
            let store = Store::connect(&config.database_url()).await?;
            let nodes = store.list_nodes().await?;
            if json {
                for node in &nodes {
                    println!(
                        "{}",
                        serde_json::json!({
                            "county": node.county, "name": node.name, "endpoint": node.endpoint,
                            "status": node.status, "certificate_sha256": node.certificate_sha256,
                        })
                    );
                }
            } else {
                println!(
                    "{:<8} {:<8} {:<30} {:<16} NAME",
                    "COUNTY", "STATUS", "ENDPOINT", "CERT SHA256"
                );
                for node in &nodes {
                    let short: String = node.certificate_sha256.chars().take(16).collect();
                    println!(
                        "{:<8} {:<8} {:<30} {:<16} {}",
                        node.county, node.status, node.endpoint, short, node.name
                    );
                }
            }
        }
        Command::Operator {
            command: OperatorCommand::Add { name },
        } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 64 {
                bail!("--name must be 1 to 64 characters, e.g. --name supervisor-li");
            }
            let store = Store::connect(&config.database_url()).await?;
            let token = generate_token("mpxop");
            store
                .add_operator_token(name, &hash_token(&token), now)
                .await?;
            println!("{token}");
            eprintln!("Operator token for {name}; it is shown once and stored hashed.");
        }
        Command::Serve { ready_file, .. } => {
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
        }
    }
    Ok(())
}

#[derive(Clone)]
struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
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

type OperatorChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

async fn queries_client(
    config: &RegistryConfig,
    query: &QueryArgs,
) -> anyhow::Result<mpx_proto::v1::queries_client::QueriesClient<OperatorChannel>> {
    Ok(mpx_proto::v1::queries_client::QueriesClient::new(
        operator_channel(config, &query.operator).await?,
    ))
}

async fn compliance_client(
    config: &RegistryConfig,
    operator: &OperatorArgs,
) -> anyhow::Result<mpx_proto::v1::compliance_client::ComplianceClient<OperatorChannel>> {
    Ok(mpx_proto::v1::compliance_client::ComplianceClient::new(
        operator_channel(config, operator).await?,
    ))
}

/// A channel to the running registry's operator API with the operator's token.
async fn operator_channel(
    config: &RegistryConfig,
    operator: &OperatorArgs,
) -> anyhow::Result<OperatorChannel> {
    let server = match operator.server.clone() {
        Some(server) => server,
        None => {
            // The running server's own record of what it bound wins over the config.
            let path = config.data_dir.join("serve.json");
            let mut address = config.operator_listen;
            if address.port() == 0 || path.exists() {
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "{} is missing: is `registry serve` running? (or pass --server)",
                        path.display()
                    )
                })?;
                let value: serde_json::Value = serde_json::from_str(&text)?;
                address = value["operator"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .context("serve.json has no operator address")?;
            }
            if address.ip().is_unspecified() {
                address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{address}")
        }
    };
    let token = match operator.token.clone() {
        Some(token) => token,
        None => std::fs::read_to_string(config.operator_token_path()).with_context(|| {
            format!(
                "reading {} (or pass --token)",
                config.operator_token_path().display()
            )
        })?,
    };
    let header = format!("Bearer {}", token.trim())
        .parse()
        .context("the token cannot go in a header")?;
    let channel = tonic::transport::Endpoint::from_shared(server.clone())?
        .connect()
        .await
        .with_context(|| format!("cannot reach the registry's operator API at {server}"))?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel,
        Bearer(header),
    ))
}

async fn open_cases(
    config: &RegistryConfig,
    finding: mpx_proto::v1::Finding,
    min_days: u32,
    query: &QueryArgs,
) -> anyhow::Result<()> {
    let mut client = queries_client(config, query).await?;
    let response = client
        .open_cases(mpx_proto::v1::OpenCasesRequest {
            purpose: query.purpose.clone(),
            finding: finding as i32,
            min_days,
            ..Default::default()
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    for case in &response.opened {
        if query.json {
            let value = serde_json::json!({"case_id": case.case_id, "county": case.county, "resident_id": case.resident_id});
            println!("{value}");
        } else {
            println!(
                "已立案 opened {}  for county {}  about {}",
                case.case_id, case.county, case.resident_id
            );
        }
    }
    if !query.json {
        println!(
            "{} opened; {} skipped (an unanswered case about the person is already open there)",
            response.opened.len(),
            response.already_open
        );
    }
    Ok(())
}

/// `--as-of`: a date (the end of that day in the province) or an RFC 3339 instant.
fn parse_as_of(text: &str) -> anyhow::Result<i64> {
    if let Ok(date) = mpx_proto::time::parse_date(text) {
        return Ok(mpx_proto::calendar::end_of_day_unix_ms(date) - 1);
    }
    let instant: jiff::Timestamp = text.parse().with_context(|| {
        format!("--as-of {text:?}: expected YYYY-MM-DD or an RFC 3339 time like 2026-12-01T09:00:00+08:00")
    })?;
    Ok(instant.as_millisecond())
}

struct ReportOptions {
    format: String,
    english: bool,
    as_of: Option<String>,
    county: Option<String>,
    overdue: u32,
}

async fn report(
    config: &RegistryConfig,
    period: String,
    options: &ReportOptions,
    operator: &OperatorArgs,
) -> anyhow::Result<()> {
    let format = options.format.as_str();
    let english = options.english;
    let as_of = options.as_of.clone();
    let county = options.county.clone();
    if !matches!(format, "table" | "csv" | "json" | "md") {
        bail!("--format {format:?}: use table, csv, json or md");
    }
    let as_of_unix_ms = as_of.as_deref().map(parse_as_of).transpose()?.unwrap_or(0);
    let mut client = compliance_client(config, operator).await?;
    let response = client
        .report(mpx_proto::v1::ComplianceReportRequest {
            period,
            as_of_unix_ms,
            county: county.unwrap_or_default(),
            overdue_limit: options.overdue,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    match format {
        "csv" => print!("{}", crate::render::csv(&response)),
        "json" => println!("{}", crate::render::json(&response)),
        "md" => print!("{}", crate::render::notice(&response, english)),
        _ => print!("{}", crate::render::table(&response)),
    }
    Ok(())
}

fn alert_line(alert: &mpx_proto::v1::ProvinceAlert, json: bool) -> String {
    if json {
        return serde_json::json!({
            "alert_id": alert.alert_id, "kind": alert.kind, "case_id": alert.case_id,
            "county": alert.county, "counterpart_county": alert.counterpart_county,
            "raised_at_unix_ms": alert.raised_at_unix_ms, "due_at_unix_ms": alert.due_at_unix_ms,
            "detail": alert.detail,
        })
        .to_string();
    }
    let kind = match alert.kind.as_str() {
        "OVERDUE" => "逾期 OVERDUE",
        "ESCALATED" => "督办 ESCALATED",
        "DISPUTED" => "不一致 DISPUTED",
        "EVIDENCE_REJECTED" => "证据无效 EVIDENCE_REJECTED",
        other => other,
    };
    format!(
        "{:>6}  {}  {:<26}  {}  {} ← {}  {}",
        alert.alert_id,
        mpx_proto::time::format_unix_ms(alert.raised_at_unix_ms),
        kind,
        alert.case_id,
        alert.county,
        alert.counterpart_county,
        alert.detail
    )
}

async fn watch(
    config: &RegistryConfig,
    after: i64,
    county: Option<String>,
    follow: bool,
    json: bool,
    operator: &OperatorArgs,
) -> anyhow::Result<()> {
    let mut client = compliance_client(config, operator).await?;
    let mut stream = client
        .watch(mpx_proto::v1::WatchRequest {
            after_alert_id: after,
            county: county.unwrap_or_default(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    loop {
        let next = if follow {
            tokio::select! {
                next = stream.message() => next,
                _ = mpx_proto::runtime::shutdown_signal() => return Ok(()),
            }
        } else {
            // What is there now: the server sends the backlog at once, then waits.
            match tokio::time::timeout(std::time::Duration::from_millis(1500), stream.message())
                .await
            {
                Ok(next) => next,
                Err(_) => return Ok(()),
            }
        };
        match next.map_err(|s| anyhow::anyhow!("{}", s.message()))? {
            Some(alert) => println!("{}", alert_line(&alert, json)),
            None => return Ok(()),
        }
    }
}

async fn evidence(
    config: &RegistryConfig,
    case_id: String,
    json: bool,
    operator: &OperatorArgs,
) -> anyhow::Result<()> {
    let mut client = compliance_client(config, operator).await?;
    let response = client
        .case_evidence(mpx_proto::v1::CaseEvidenceRequest { case_id })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    let time = |ms: i64| {
        if ms > 0 {
            mpx_proto::time::format_unix_ms(ms)
        } else {
            "-".into()
        }
    };
    let facts = |report: &mpx_proto::v1::CaseEventReport| {
        let mut facts = Vec::new();
        if let Some(receipt) = report.receipt.as_ref().and_then(|e| e.receipt.as_ref()) {
            facts.push(format!(
                "received {} due {} (message {})",
                time(receipt.received_at_unix_ms),
                mpx_proto::time::format_due(receipt.due_at_unix_ms),
                receipt.message_id
            ));
        }
        if let Some(response) = &report.response {
            facts.push(format!(
                "{} at {} by {}",
                response.outcome_kind,
                time(response.responded_at_unix_ms),
                response.handled_by
            ));
        }
        if report.extended_due_at_unix_ms > 0 {
            facts.push(format!(
                "extended to {}",
                mpx_proto::time::format_due(report.extended_due_at_unix_ms)
            ));
        }
        facts.join("; ")
    };
    if json {
        let events: Vec<_> = response
            .events
            .iter()
            .map(|e| {
                let report = e.report.clone().unwrap_or_default();
                serde_json::json!({
                    "reporter_county": e.reporter_county, "event": report.event,
                    "at_unix_ms": report.at_unix_ms, "verification": e.verification,
                    "received_at_unix_ms": e.received_at_unix_ms, "facts": facts(&report),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"case_id": response.case_id, "dispute": response.dispute, "events": events})
        );
        return Ok(());
    }
    println!("案件 Case {}", response.case_id);
    if !response.dispute.is_empty() {
        println!("不一致 Disputed: {}", response.dispute);
    }
    println!();
    println!(
        "{:<16}  {:<8}  {:<18}  {:<40}  FACTS",
        "AT", "REPORTER", "EVENT", "EVIDENCE"
    );
    for e in &response.events {
        let report = e.report.clone().unwrap_or_default();
        println!(
            "{:<16}  {:<8}  {:<18}  {:<40}  {}",
            time(report.at_unix_ms),
            e.reporter_county,
            report.event,
            e.verification,
            facts(&report)
        );
    }
    Ok(())
}

async fn locate(config: &RegistryConfig, id: &str, query: QueryArgs) -> anyhow::Result<()> {
    let json = query.json;
    let mut client = queries_client(config, &query).await?;
    let response = client
        .locate(mpx_proto::v1::LocateRequest {
            resident_id: id.to_string(),
            purpose: query.purpose.clone(),
        })
        .await
        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
        .into_inner();
    let status = |s: i32| {
        mpx_proto::v1::PersonStatus::try_from(s)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("PERSON_STATUS_")
                    .to_lowercase()
            })
            .unwrap_or_default()
    };
    if json {
        let reports: Vec<_> = response
            .reports
            .iter()
            .map(|r| {
                serde_json::json!({
                    "reporting_county": r.reporting_county, "name": r.name, "hukou_county": r.hukou_county,
                    "residence_county": r.residence_county, "status": status(r.status), "since": r.since,
                    "reported_at_unix_ms": r.reported_at_unix_ms,
                })
            })
            .collect();
        let value = serde_json::json!({
            "hukou_county": response.hukou_county, "residing_in": response.residing_in, "reports": reports,
        });
        println!("{value}");
        return Ok(());
    }
    if response.reports.is_empty() {
        println!("(no county reports this person)");
        return Ok(());
    }
    let residing = if response.residing_in.is_empty() {
        "-".to_string()
    } else {
        response.residing_in.join(", ")
    };
    println!("户籍地 Hukou county:   {}", response.hukou_county);
    println!("现居住地 Residing in:  {residing}");
    println!();
    println!(
        "{:<8}  {:<20}  {:<8}  {:<9}  {:<10}  NAME",
        "COUNTY", "STATUS", "HUKOU", "RESIDENCE", "SINCE"
    );
    for r in &response.reports {
        let residence = if r.residence_county.is_empty() {
            "-"
        } else {
            r.residence_county.as_str()
        };
        println!(
            "{:<8}  {:<20}  {:<8}  {:<9}  {:<10}  {}",
            r.reporting_county,
            status(r.status),
            r.hukou_county,
            residence,
            r.since,
            r.name
        );
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

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
