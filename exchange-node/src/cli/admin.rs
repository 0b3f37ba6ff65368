//! Commands that run on the node's own machine: `init`, `serve`, operator tokens, and what is
//! read straight from the local database (`deliveries`, `security-events`, `audit`). Not here: the
//! clerk commands, which go through the operator API.

use super::*;
use console_kit::accounts::Accounts;

#[derive(Args)]
pub(super) struct InitArgs {
    /// This county's 6-digit code, e.g. 621202.
    #[arg(long)]
    pub(super) county: String,
    /// County name, e.g. 武都区.
    #[arg(long, default_value = "")]
    pub(super) name: String,
    /// The registry's peer endpoint, https://HOST:PORT.
    #[arg(long)]
    pub(super) registry: Option<String>,
    /// The provincial CA certificate (ca.crt from the registry operator).
    #[arg(long)]
    pub(super) ca_cert: PathBuf,
    /// One-time enrolment token from `registry enroll`.
    #[arg(long)]
    pub(super) token: Option<String>,
    /// Endpoint other nodes use to reach this one, https://HOST:PORT.
    #[arg(long)]
    pub(super) advertise: Option<String>,
    #[arg(long)]
    pub(super) peer_listen: Option<String>,
    #[arg(long)]
    pub(super) operator_listen: Option<String>,
    /// Air-gapped sites, step 1: write a CSR here for `registry ca issue`.
    #[arg(long, conflicts_with_all = ["token", "certificate"])]
    pub(super) offline_csr: Option<PathBuf>,
    /// Air-gapped sites, step 2: install the certificate `registry ca issue` wrote.
    #[arg(long, conflicts_with = "token")]
    pub(super) certificate: Option<PathBuf>,
}

pub(super) async fn run_init(config: &NodeConfig, args: &InitArgs) -> anyhow::Result<()> {
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

pub(super) async fn serve(config: NodeConfig, ready_file: Option<PathBuf>) -> anyhow::Result<()> {
    init_tracing(config.log_format);
    let peer = bind_listener(&config.peer_listen.to_string(), "peer").await?;
    let operator = bind_listener(&config.operator_listen.to_string(), "operator").await?;
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
    let console = if config.console_listen.trim().is_empty() {
        None
    } else {
        Some(bind_listener(config.console_listen.trim(), "console").await?)
    };
    let console_address = match &console {
        Some(listener) => listener.local_addr()?.to_string(),
        None => String::new(),
    };
    let bound = json!({"peer": peer.local_addr()?.to_string(), "operator": operator.local_addr()?.to_string(), "metrics": metrics_address, "console": console_address});
    record_bound_addresses(&bound, &config.paths().serve_state, ready_file.as_deref())?;
    crate::run(
        config,
        crate::Listeners {
            peer,
            operator,
            metrics,
            console,
        },
        shutdown_signal(),
    )
    .await
}

#[derive(Subcommand)]
pub(super) enum OperatorCommand {
    /// Without --role: a named operator token for the operator API (printed once, stored
    /// hashed; works without a restart). With --role: a console account with a password
    /// (prompted for, or read from --password-file); again for the same name replaces the role
    /// and password, unlocks it and ends its sessions.
    Add {
        #[arg(long)]
        name: String,
        /// clerk (acts on cases and people), viewer (reads), admin (also manages operators).
        #[arg(long, value_parser = ["clerk", "viewer", "admin"])]
        role: Option<String>,
        /// Read the password from the first line of this file instead of prompting.
        #[arg(long, requires = "role")]
        password_file: Option<PathBuf>,
    },
    /// Console accounts: name, role, failed sign-ins, locked or not.
    List,
    /// Lifts a console account's lock-out after repeated failed sign-ins.
    Unlock {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Recompute the audit log's hash chain; fails if an entry was changed or removed.
    Verify,
}

/// The name of a new operator: 1 to 64 characters, no control characters.
fn operator_name(name: &str) -> anyhow::Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        bail!("--name must be 1 to 64 characters without control characters, e.g. --name 王芳");
    }
    Ok(name)
}

/// `operator add`: a named operator token, printed once and stored hashed.
pub(super) async fn add_operator(config: &NodeConfig, name: &str) -> anyhow::Result<()> {
    let name = operator_name(name)?;
    let store = Store::connect(&config.database_url()).await?;
    let token = generate_token("mpxop")?;
    store.add_operator_token(name, &hash_token(&token)).await?;
    println!("{token}");
    eprintln!(
        "Operator token for {name}: shown once, stored hashed; a running node accepts it within 5 s."
    );
    Ok(())
}

/// `operator add --role`: a console account with an argon2id-hashed password.
pub(super) async fn add_console_operator(
    config: &NodeConfig,
    name: &str,
    role: &str,
    password_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let password = console_kit::password::read_password(password_file)?;
    let store = Store::connect(&config.database_url()).await?;
    let now = mpx_proto::time::now_unix_ms();
    let (name, role): (String, crate::console::auth::Role) = Accounts::new(store.database())
        .put_operator(name, role, &password, now)
        .await
        .map_err(|error| anyhow::anyhow!("nothing was changed: {error}"))?;
    eprintln!(
        "Console operator {name} ({}) can sign in now; the password is stored as an argon2id hash.",
        role.label()
    );
    Ok(())
}

/// `operator list`: console accounts.
pub(super) async fn list_operators(config: &NodeConfig) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    let now = mpx_proto::time::now_unix_ms();
    let rows = Accounts::new(store.database())
        .list()
        .await?
        .into_iter()
        .map(|account| {
            let locked = if account.locked_until_unix_ms > now {
                format!("until {}", format_unix_ms(account.locked_until_unix_ms))
            } else {
                String::new()
            };
            vec![
                terminal_safe(&account.name).to_string(),
                account.role,
                account.failed_sign_ins.to_string(),
                locked,
            ]
        })
        .collect();
    print_table(&["NAME", "ROLE", "FAILED SIGN-INS", "LOCKED"], rows);
    Ok(())
}

/// `operator unlock`: clears a console account's failures and lock.
pub(super) async fn unlock_operator(config: &NodeConfig, name: &str) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    if !Accounts::new(store.database())
        .clear_failed_sign_ins(name.trim())
        .await?
    {
        bail!(
            "there is no console operator named {:?} (see `operator list`)",
            name.trim()
        );
    }
    eprintln!("Console operator {} is unlocked.", name.trim());
    Ok(())
}

/// `deliveries`: messages in the outbox, from the local database.
pub(super) async fn deliveries(
    cli: &Cli,
    config: &NodeConfig,
    all: bool,
    limit: u32,
) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    let messages = store.list_outbox(all, limit).await?;
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

/// `security-events`: refused peers, newest first, from the local database.
pub(super) async fn security_events(config: &NodeConfig, limit: u32) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    let rows = store
        .security_events(limit)
        .await?
        .into_iter()
        .map(|(peer, event, detail)| vec![peer, event, detail])
        .collect();
    print_table(&["PEER", "EVENT", "DETAIL"], rows);
    Ok(())
}

/// `audit`: the audit log, newest first; `audit verify` recomputes its hash chain.
pub(super) async fn audit(
    config: &NodeConfig,
    limit: u32,
    command: Option<&AuditCommand>,
) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    if let Some(AuditCommand::Verify) = command {
        return match store.verify_audit_chain().await? {
            Ok(entries) => {
                println!("审计日志完整 audit log intact: {entries} entries, hash chain verified");
                Ok(())
            }
            Err(problem) => bail!("审计日志被篡改 the audit log fails verification: {problem}"),
        };
    }
    let rows = store
        .audit_entries(limit)
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
