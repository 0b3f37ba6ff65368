//! `registry ca init` and `ca issue`: the provincial root CA in the data directory and offline
//! certificates for air-gapped nodes. The CA itself (keys, signing) is in [`crate::ca`]; online
//! enrolment is the peer listener's ([`crate::service::enrollment`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use mpx_proto::identity::{certificate_der_from_pem, certificate_fingerprint};
use mpx_proto::runtime::{generate_token, hash_token};

use super::{parse_county, province_of};
use crate::ca::CertificateAuthority;
use crate::config::{CONFIG_FILE_NAME, RegistryConfig};
use crate::store::Store;

#[derive(Subcommand)]
pub(super) enum CaCommand {
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

/// `ca init`: the CA, the registry's certificate, the config file and the admin operator token.
pub(super) async fn init(config: &RegistryConfig, now: i64) -> anyhow::Result<()> {
    let province = province_of(config)?;
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
    let token = generate_token("mpxop")?;
    store
        .add_operator_token("admin", &hash_token(&token), now)
        .await?;
    mpx_proto::runtime::write_private_file(&config.operator_token_path(), token.as_bytes())?;
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
    Ok(())
}

/// `ca issue`: sign a node's CSR file and register the certificate.
pub(super) async fn issue(
    config: &RegistryConfig,
    county: String,
    csr: PathBuf,
    out: PathBuf,
    name: String,
    now: i64,
) -> anyhow::Result<()> {
    let province = province_of(config)?;
    let county = parse_county(&county, province)?;
    let authority = CertificateAuthority::load(&config.data_dir, province)?;
    let csr_pem = read_file(&csr)?;
    let pem = authority.issue_for_county(&csr_pem, county, config.certificate_validity_days)?;
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
    Ok(())
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
