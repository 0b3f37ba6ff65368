//! `registry enroll`, `revoke`, `nodes` and `operator add`: who may join the directory of county
//! nodes, who is in it, and who may call the operator API. Offline: straight to the database. The
//! node certificates themselves are `ca.rs`'s; serving the directory is [`crate::service::directory`].

use anyhow::bail;
use clap::Subcommand;
use mpx_proto::runtime::{generate_token, hash_token};

use super::{parse_county, province_of};
use crate::config::RegistryConfig;
use crate::store::Store;

#[derive(Subcommand)]
pub(super) enum OperatorCommand {
    /// Create a named operator token; it is printed once and stored hashed.
    Add {
        #[arg(long)]
        name: String,
    },
}

/// `enroll`: a one-time enrolment token for a county.
pub(super) async fn enroll(
    config: &RegistryConfig,
    county: String,
    name: String,
    ttl_hours: Option<u32>,
    now: i64,
) -> anyhow::Result<()> {
    let province = province_of(config)?;
    let county = parse_county(&county, province)?;
    let store = Store::connect(&config.database_url()).await?;
    let token = generate_token("mpxenrol")?;
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
    Ok(())
}

/// `revoke`: a county's certificate, refused by every node at its next directory refresh.
pub(super) async fn revoke(
    config: &RegistryConfig,
    county: String,
    reason: String,
    now: i64,
) -> anyhow::Result<()> {
    let province = province_of(config)?;
    let county = parse_county(&county, province)?;
    let store = Store::connect(&config.database_url()).await?;
    let fingerprint = store.revoke_county(county.as_str(), &reason, now).await?;
    println!("Revoked county {county} (certificate sha256 {fingerprint}).");
    println!("Every node refuses it from its next directory refresh.");
    Ok(())
}

/// `nodes`: the directory as it stands.
pub(super) async fn nodes(config: &RegistryConfig, json: bool) -> anyhow::Result<()> {
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
    Ok(())
}

/// `operator add`: a named operator token, printed once and stored hashed.
pub(super) async fn operator_add(
    config: &RegistryConfig,
    name: String,
    now: i64,
) -> anyhow::Result<()> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        bail!("--name must be 1 to 64 characters, e.g. --name supervisor-li");
    }
    let store = Store::connect(&config.database_url()).await?;
    let token = generate_token("mpxop")?;
    store
        .add_operator_token(name, &hash_token(&token), now)
        .await?;
    println!("{token}");
    eprintln!("Operator token for {name}; it is shown once and stored hashed.");
    Ok(())
}
