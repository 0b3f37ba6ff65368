//! `alerts …`: the node's deadline and delivery alerts, listed or watched as they fire.

use super::*;

#[derive(Subcommand)]
pub(super) enum AlertsCommand {
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

pub(super) fn alert_json(alert: &v1::Alert) -> serde_json::Value {
    json!({
        "alert_id": alert.alert_id, "kind": crate::monitor::alert_kind_label(alert.kind()),
        "case_id": alert.case_id, "direction": alert.direction, "counterpart_county": alert.counterpart_county,
        "raised_at_unix_ms": alert.raised_at_unix_ms, "due_at_unix_ms": alert.due_at_unix_ms,
        "cleared_at_unix_ms": alert.cleared_at_unix_ms, "detail": alert.detail,
    })
}

pub(super) fn alert_row(alert: &v1::Alert) -> Vec<String> {
    vec![
        format_unix_ms(alert.raised_at_unix_ms),
        crate::monitor::alert_kind_text(alert.kind()).to_string(),
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

pub(super) const ALERT_HEADERS: [&str; 7] = [
    "RAISED",
    "KIND",
    "CASE",
    "DIRECTION",
    "COUNTY",
    "STATUS",
    "DETAIL",
];

pub(super) async fn alerts(
    cli: &Cli,
    config: &NodeConfig,
    command: &AlertsCommand,
) -> anyhow::Result<()> {
    let mut client = mpx_proto::v1::alerts_client::AlertsClient::new(connect(cli, config).await?);
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
