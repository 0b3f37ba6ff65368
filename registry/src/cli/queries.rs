//! The province-wide queries through the operator API (audited; each needs a purpose): `locate`,
//! `counts`, `conflicts`, `untracked`, `flows`, and `--open-cases` for conflicts and untracked.
//! Answering them is [`crate::service::queries`]; the channel is `client.rs`'s.

use super::client::{QueryArgs, queries_client};
use crate::config::RegistryConfig;

pub(super) async fn locate(
    config: &RegistryConfig,
    id: &str,
    query: QueryArgs,
) -> anyhow::Result<()> {
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

/// `counts`: residing, inflow and outflow per county.
pub(super) async fn counts(config: &RegistryConfig, query: QueryArgs) -> anyhow::Result<()> {
    let mut client = queries_client(config, &query).await?;
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
    Ok(())
}

/// `conflicts`: people whom two or more counties list as residing.
pub(super) async fn conflicts(config: &RegistryConfig, query: QueryArgs) -> anyhow::Result<()> {
    let mut client = queries_client(config, &query).await?;
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
    Ok(())
}

/// `untracked`: people gone out of their hukou county whom no county reports as residing.
pub(super) async fn untracked(
    config: &RegistryConfig,
    days: u32,
    query: QueryArgs,
) -> anyhow::Result<()> {
    let mut client = queries_client(config, &query).await?;
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
    Ok(())
}

/// `flows`: county-to-county arrivals in a period, small counts suppressed.
pub(super) async fn flows(
    config: &RegistryConfig,
    from: String,
    to: String,
    suppress_below: u32,
    query: QueryArgs,
) -> anyhow::Result<()> {
    let mut client = queries_client(config, &query).await?;
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
    Ok(())
}

pub(super) async fn open_cases(
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
