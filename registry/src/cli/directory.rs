//! `registry enroll`, `revoke`, `nodes` and `operator add`/`unlock`: who may join the directory of
//! county nodes, who is in it, and who may call the operator API or sign in to the console. Offline: straight to the database. The
//! node certificates themselves are `ca.rs`'s; serving the directory is [`crate::service::directory`].

use anyhow::bail;
use clap::Subcommand;
use mpx_proto::runtime::{generate_token, hash_token};

use super::{parse_county, province_of};
use crate::config::RegistryConfig;
use crate::store::Store;

#[derive(Subcommand)]
pub(super) enum OperatorCommand {
    /// Without --role: create a named operator token for the operator API (printed once, stored
    /// hashed). With --role: a province console account with a password (argon2id).
    Add {
        #[arg(long)]
        name: String,
        /// supervisor (reads, opens cases), viewer (reads) or admin (also enrols and revokes).
        #[arg(long)]
        role: Option<String>,
        /// Read the password from the first line of this file instead of prompting.
        #[arg(long, requires = "role")]
        password_file: Option<std::path::PathBuf>,
    },
    /// Clear a console account's failed sign-ins and lock.
    Unlock {
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
    let ttl_hours = ttl_hours.unwrap_or(config.enrollment_token_ttl_hours);
    let token =
        crate::service::enrollment::issue_enrollment_token(&store, &county, &name, ttl_hours, now)
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

/// `operator add --role`: a province console account with an argon2id-hashed password.
pub(super) async fn console_operator_add(
    config: &RegistryConfig,
    name: &str,
    role: &str,
    password_file: Option<&std::path::Path>,
    now: i64,
) -> anyhow::Result<()> {
    let password = console_kit::password::read_password(password_file)?;
    let store = Store::connect(&config.database_url()).await?;
    let (name, role): (String, crate::console::auth::Role) =
        console_kit::accounts::Accounts::new(store.database())
            .put_operator(name, role, &password, now)
            .await
            .map_err(|error| anyhow::anyhow!("nothing was changed: {error}"))?;
    eprintln!(
        "Console operator {name} ({}) can sign in now; the password is stored as an argon2id hash.",
        role.label()
    );
    Ok(())
}

/// `operator unlock`: clears a console account's failures and lock.
pub(super) async fn console_operator_unlock(
    config: &RegistryConfig,
    name: &str,
) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    let accounts = console_kit::accounts::Accounts::new(store.database());
    if !accounts.clear_failed_sign_ins(name.trim()).await? {
        bail!("there is no console operator named {:?}", name.trim());
    }
    eprintln!("Console operator {} is unlocked.", name.trim());
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
