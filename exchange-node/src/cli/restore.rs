//! `restore`: puts a backup in place of the node's database, checked, and records the restore so
//! the node's next start recovers from its peers what came since; `status`: the node's state as
//! its own database holds it, recovery included. Both read the local database, not the API.

use std::path::Path;

use super::*;
use crate::cli::output::print_fields;

#[derive(Args)]
pub(super) struct RestoreArgs {
    /// The backup file (SQLite, e.g. made with `sqlite3 node.db ".backup FILE"`). The node must
    /// be stopped. The database it replaces is kept beside it as node.db.before-restore-….
    backup: Option<PathBuf>,
    /// The database was restored already by other means (PostgreSQL: `pg_restore`): only
    /// record the restore, so the next start recovers and the province is told.
    #[arg(long, conflicts_with = "backup")]
    already_restored: bool,
}

/// `exchange-node restore`.
pub(super) async fn restore(config: &NodeConfig, args: &RestoreArgs) -> anyhow::Result<()> {
    let url = config.database_url();
    let detail = match (&args.backup, args.already_restored) {
        (Some(backup), false) => {
            if !url.starts_with("sqlite:") {
                bail!(
                    "this node's database is not SQLite: restore it with its own tools (PostgreSQL: pg_restore --clean --if-exists), then run `exchange-node restore --already-restored`"
                );
            }
            refuse_if_running(config)?;
            let target = config.data_dir.join("node.db");
            let digest = check_backup(backup).await?;
            put_in_place(backup, &target)?;
            format!(
                "restored from {} (SHA-256 {})",
                backup.display(),
                &digest[..16]
            )
        }
        (None, true) => "restored by the operator's own tools (--already-restored)".to_string(),
        _ => bail!(
            "say what to restore: `exchange-node restore BACKUP_FILE` (SQLite), or `exchange-node restore --already-restored` after restoring PostgreSQL with its own tools"
        ),
    };
    let store = Store::connect(&url)
        .await
        .context("opening the restored database")?;
    let backup_of = store.newest_instant().await?;
    let now = crate::clock::Clock::system().now_unix_ms();
    store
        .record_restore("command", backup_of, &detail, now)
        .await?;
    store.close().await;
    println!(
        "已恢复 restored: the database now holds what the backup held, up to {} ({detail}).",
        mpx_proto::time::format_unix_ms(backup_of)
    );
    println!(
        "Start the node: it asks every county in the directory for what it delivered here and what it stored from here since, rebuilds it, and tells the province. Follow it with `exchange-node status`."
    );
    Ok(())
}

/// Refuses while something answers on the node's operator address (the node runs).
fn refuse_if_running(config: &NodeConfig) -> anyhow::Result<()> {
    let address = config.operator_listen;
    if address.port() == 0 {
        return Ok(());
    }
    if std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_millis(500)).is_ok()
    {
        bail!(
            "the node is running (it answers on its operator address {address}): stop it first (systemctl stop mpx-node), then run restore again"
        );
    }
    Ok(())
}

/// Checks that `backup` is a sound SQLite database of a node; returns its SHA-256.
async fn check_backup(backup: &Path) -> anyhow::Result<String> {
    let digest =
        file_sha256(backup).with_context(|| format!("reading the backup {}", backup.display()))?;
    let url = format!("sqlite://{}?mode=ro", backup.display());
    let options: sqlx::sqlite::SqliteConnectOptions = url
        .parse()
        .with_context(|| format!("the backup path {} is not usable", backup.display()))?;
    use sqlx::{ConnectOptions, Connection, Row};
    let mut connection = options
        .connect()
        .await
        .with_context(|| format!("{} is not a SQLite database", backup.display()))?;
    let verdict: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut connection)
        .await
        .with_context(|| format!("{} is not a SQLite database", backup.display()))?
        .try_get(0)?;
    if verdict != "ok" {
        bail!(
            "the backup {} is damaged (SQLite integrity check: {verdict}); take an older backup",
            backup.display()
        );
    }
    let tables: i64 = sqlx::query(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('inbox', 'outbox', 'cases', '_sqlx_migrations')",
    )
    .fetch_one(&mut connection)
    .await?
    .try_get(0)?;
    if tables != 4 {
        bail!(
            "{} is a SQLite database but not an exchange node's (no inbox, outbox, cases and migrations tables)",
            backup.display()
        );
    }
    connection.close().await.ok();
    Ok(digest)
}

/// The SHA-256 of a file (hex), read in pieces: a backup may be larger than memory.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        context.update(&buffer[..read]);
    }
    Ok(mpx_proto::hex(context.finish().as_ref()))
}

/// Copies `backup` over `target` atomically (a copy beside it, synced, then renamed), keeping the
/// database it replaces, and removes the old write-ahead log so it cannot be applied to the
/// restored file.
fn put_in_place(backup: &Path, target: &Path) -> anyhow::Result<()> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let staging = target.with_extension("db.restoring");
    std::fs::copy(backup, &staging)
        .with_context(|| format!("copying {} to {}", backup.display(), staging.display()))?;
    set_owner_only(&staging)?;
    std::fs::File::open(&staging)?.sync_all()?;
    if target.exists() {
        let kept = target.with_extension(format!("db.before-restore-{stamp}"));
        std::fs::rename(target, &kept)
            .with_context(|| format!("keeping the current database as {}", kept.display()))?;
        println!("kept the database it replaces as {}", kept.display());
    }
    for suffix in ["db-wal", "db-shm"] {
        let side = target.with_extension(suffix);
        if side.exists() {
            std::fs::rename(
                &side,
                target.with_extension(format!("{suffix}.before-restore-{stamp}")),
            )
            .with_context(|| format!("moving {} aside", side.display()))?;
        }
    }
    std::fs::rename(&staging, target)
        .with_context(|| format!("putting the backup in place at {}", target.display()))?;
    Ok(())
}

#[cfg(unix)]
fn set_owner_only(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_owner_only(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// `exchange-node status`.
pub(super) async fn status(cli: &Cli, config: &NodeConfig) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    let (people, inbound, outbound, pending) = store.counts().await?;
    let roster_backlog = store.unacknowledged_reports("roster_changes").await?;
    let events_backlog = store.unacknowledged_reports("case_reports").await?;
    let summary = store.recovery_summary().await?;
    let peers = store.recovery_peers().await?;
    let items = match &summary.restore {
        Some(restore) => store.recovery_items(&restore.restore_id).await?,
        None => Vec::new(),
    };
    store.close().await;
    let recovery_line = recovery_sentence(&summary);
    if cli.json {
        let restore = summary.restore.as_ref().map(|restore| {
            json!({
                "noticed_at_unix_ms": restore.noticed_at_unix_ms,
                "noticed_by": restore.noticed_by,
                "backup_of_unix_ms": restore.backup_of_unix_ms,
                "detail": restore.detail,
                "finished_at_unix_ms": restore.finished_at_unix_ms,
            })
        });
        println!(
            "{}",
            json!({
                "county": config.county,
                "people": people,
                "open_inbound": inbound,
                "open_outbound": outbound,
                "outbox_pending": pending,
                "province_backlog": {
                    "roster_changes": roster_backlog,
                    "case_events": events_backlog,
                },
                "restore": restore,
                "recovery": {
                    "peers": summary.peers,
                    "peers_pending": summary.peers_pending,
                    "replayed": summary.replayed,
                    "rebuilt": summary.rebuilt,
                    "needs_clerk": summary.needs_clerk,
                    "items": items.iter().map(|item| json!({
                        "county": item.county,
                        "message_id": item.message_id,
                        "body_kind": item.body_kind,
                        "case_id": item.case_id,
                        "at_unix_ms": item.at_unix_ms,
                        "reason": item.reason,
                    })).collect::<Vec<_>>(),
                },
                "summary": recovery_line,
            })
        );
        return Ok(());
    }
    print_fields(&[
        ("县 County", config.county.clone()),
        ("人员 People", people.to_string()),
        ("待办来件 Open inbound", inbound.to_string()),
        ("待回复去件 Open outbound", outbound.to_string()),
        ("待投递 Outbox pending", pending.to_string()),
        (
            "待报省 Not yet taken by the province",
            format!("{roster_backlog} roster changes, {events_backlog} case events"),
        ),
        ("恢复 Recovery", recovery_line),
    ]);
    if let Some(restore) = &summary.restore
        && !restore.detail.is_empty()
    {
        println!("\n{}", terminal_safe(&restore.detail));
    }
    let asked: Vec<Vec<String>> = peers
        .iter()
        .filter(|peer| peer.state != "done" || peer.replayed + peer.rebuilt + peer.needs_clerk > 0)
        .map(|peer| {
            vec![
                peer.county.clone(),
                peer.state.clone(),
                peer.replayed.to_string(),
                peer.rebuilt.to_string(),
                peer.needs_clerk.to_string(),
                peer.last_error.clone(),
            ]
        })
        .collect();
    if !asked.is_empty() {
        println!();
        print_table(
            &[
                "PEER",
                "STATE",
                "REPLAYED",
                "REBUILT",
                "NEEDS CLERK",
                "LAST ERROR",
            ],
            asked,
        );
    }
    if !items.is_empty() {
        println!("\n需人工处理 Items a clerk must look at:");
        print_table(
            &["AT", "PEER", "KIND", "CASE", "MESSAGE", "WHY"],
            items
                .iter()
                .map(|item| {
                    vec![
                        mpx_proto::time::format_unix_ms(item.at_unix_ms),
                        item.county.clone(),
                        item.body_kind.clone(),
                        item.case_id.clone(),
                        item.message_id.clone(),
                        item.reason.clone(),
                    ]
                })
                .collect(),
        );
    }
    Ok(())
}

/// "restored from a backup of T; recovering from N peers; M messages replayed; K items need a
/// clerk", or that no restore is known.
pub fn recovery_sentence(summary: &crate::store::RecoverySummary) -> String {
    let Some(restore) = &summary.restore else {
        return if summary.replayed + summary.rebuilt > 0 {
            format!(
                "{} messages replayed and {} rebuilt from peers at this start",
                summary.replayed, summary.rebuilt
            )
        } else {
            "从未从备份恢复 never restored from a backup".to_string()
        };
    };
    let progress = if restore.finished_at_unix_ms == 0 && summary.peers == 0 {
        "待启动 waiting for the node to start and ask its peers".to_string()
    } else if restore.finished_at_unix_ms == 0 {
        format!(
            "正在恢复 recovering from {} of {} peers",
            summary.peers_pending, summary.peers
        )
    } else {
        format!(
            "恢复完成 recovered at {}",
            mpx_proto::time::format_unix_ms(restore.finished_at_unix_ms)
        )
    };
    format!(
        "从 {} 的备份恢复 restored from a backup of {} ({}); {progress}; {} messages replayed; {} rebuilt; {} items need a clerk",
        mpx_proto::time::format_unix_ms(restore.backup_of_unix_ms),
        mpx_proto::time::format_unix_ms(restore.backup_of_unix_ms),
        restore.noticed_by,
        summary.replayed,
        summary.rebuilt,
        summary.needs_clerk
    )
}
