//! The compliance figures and alerts through the operator API: `report`, `watch`, `evidence`; and
//! `escalations`, read straight from the database. The figures are computed in
//! [`crate::compliance`] and rendered by [`crate::render`].

use anyhow::{Context, bail};

use super::client::{OperatorArgs, compliance_client};
use crate::config::RegistryConfig;
use crate::store::Store;

/// `escalations`: cases that counties escalated, newest first.
pub(super) async fn escalations(
    config: &RegistryConfig,
    json: bool,
    limit: u32,
) -> anyhow::Result<()> {
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
    Ok(())
}

/// `--as-of`: a date (the end of that day in the province) or an RFC 3339 instant.
fn parse_as_of(text: &str) -> anyhow::Result<i64> {
    crate::compliance::parse_as_of(text).map_err(anyhow::Error::msg)
}

pub(super) struct ReportOptions {
    pub(super) format: String,
    pub(super) english: bool,
    pub(super) out: Option<std::path::PathBuf>,
    pub(super) as_of: Option<String>,
    pub(super) county: Option<String>,
    pub(super) overdue: u32,
}

pub(super) async fn report(
    config: &RegistryConfig,
    period: String,
    options: &ReportOptions,
    operator: &OperatorArgs,
) -> anyhow::Result<()> {
    let format = options.format.as_str();
    let english = options.english;
    let as_of = options.as_of.clone();
    let county = options.county.clone();
    if !matches!(format, "table" | "csv" | "json" | "md" | "xlsx") {
        bail!("--format {format:?}: use table, csv, json, md or xlsx");
    }
    if format == "xlsx" && options.out.is_none() {
        bail!("--format xlsx writes a file: add --out FILE.xlsx");
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
    let text = match format {
        "xlsx" => {
            let path = options
                .out
                .as_deref()
                .unwrap_or(std::path::Path::new("report.xlsx"));
            crate::render::workbook(&response, path)?;
            eprintln!("Report written to {}.", path.display());
            return Ok(());
        }
        "csv" => crate::render::csv(&response),
        "json" => format!("{}\n", crate::render::json(&response)),
        "md" => crate::render::notice(&response, english),
        _ => crate::render::table(&response),
    };
    match &options.out {
        Some(path) => {
            use std::io::Write as _;
            let mut file = mpx_proto::tabular::output::create_private(path)?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("Report written to {}.", path.display());
        }
        None => print!("{text}"),
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
        "RESTORED" => "备份恢复 RESTORED",
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

pub(super) async fn watch(
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

pub(super) async fn evidence(
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
