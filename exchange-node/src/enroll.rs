//! `exchange-node init`: makes the node's key locally, enrols it with the registry by CSR (or
//! offline: writes the CSR, later installs the certificate), and lays out the data directory.

use std::path::PathBuf;

use anyhow::{Context, bail};
use mpx_proto::division::CountyCode;
use mpx_proto::evidence::verify_issued_by;
use mpx_proto::identity::{PeerIdentity, REGISTRY_DNS_NAME, certificate_der_from_pem};
use mpx_proto::runtime::{generate_token, hash_token, write_private_file};
use mpx_proto::v1::enrollment_client::EnrollmentClient;
use mpx_proto::v1::{EnrollRequest, EnrollResponse};
use rcgen::{CertificateParams, DnType, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::{NodeConfig, NodePaths};
use crate::registry_client::{
    RegistryTimeouts, connect_replica, describe_transport_error, registry_endpoint,
};
use crate::store::Store;

/// What `init` was asked to do.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub config: NodeConfig,
    /// The provincial CA certificate (from the registry operator).
    pub ca_certificate: PathBuf,
    /// One-time token from `registry enroll` (online enrolment).
    pub token: Option<String>,
    /// Offline, step 1: write the CSR here and stop.
    pub offline_csr: Option<PathBuf>,
    /// Offline, step 2: the certificate from `registry ca issue`.
    pub certificate: Option<PathBuf>,
}

/// What `init` did, for the summary it prints.
#[derive(Debug, Clone)]
pub enum InitOutcome {
    CsrWritten(PathBuf),
    Ready {
        config_path: PathBuf,
        token_path: PathBuf,
        created_token: bool,
        /// The registry URL that enrolled the node (online enrolment).
        enrolled_through: Option<String>,
        /// Registry URLs tried before it, each with why it failed.
        failed: Vec<String>,
    },
}

/// How one registry URL failed to enrol the node.
enum EnrolAttempt {
    /// Nothing reached the registry (no connection): the next URL is tried.
    Unreached(String),
    /// The request was sent and no answer came: the registry may have redeemed the token. The
    /// next URL is tried all the same (it enrols, or refuses the token as used; never both).
    Unanswered(String),
    /// The registry refused: every replica would (one database).
    Refused(tonic::Status),
}

/// Sends the enrolment to one registry URL.
async fn enrol_at(
    url: &str,
    tls: ClientTlsConfig,
    timeouts: RegistryTimeouts,
    request: EnrollRequest,
) -> Result<EnrollResponse, EnrolAttempt> {
    let endpoint = registry_endpoint(url, tls, timeouts)
        .map_err(|error| EnrolAttempt::Unreached(format!("not a usable URL: {error}")))?;
    let channel = connect_replica(&endpoint, timeouts)
        .await
        .map_err(EnrolAttempt::Unreached)?;
    let call = async { EnrollmentClient::new(channel).enroll(request).await };
    match tokio::time::timeout(timeouts.call, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status))
            if matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown
            ) =>
        {
            let why = match std::error::Error::source(&status) {
                Some(source) => describe_transport_error(source, timeouts.connect),
                None => status.message().to_string(),
            };
            Err(EnrolAttempt::Unanswered(why))
        }
        Ok(Err(status)) => Err(EnrolAttempt::Refused(status)),
        Err(_) => Err(EnrolAttempt::Unanswered(format!(
            "no answer within {:?} (timed out)",
            timeouts.call
        ))),
    }
}

/// Enrols through the first registry URL that answers, trying each in turn. Returns the answer,
/// the URL that gave it, and the URLs that failed before it with why.
async fn enrol(
    urls: &[String],
    tls: ClientTlsConfig,
    timeouts: RegistryTimeouts,
    request: EnrollRequest,
) -> anyhow::Result<(EnrollResponse, String, Vec<String>)> {
    let mut failed = Vec::new();
    let mut maybe_redeemed = false;
    for url in urls {
        match enrol_at(url, tls.clone(), timeouts, request.clone()).await {
            Ok(response) => return Ok((response, url.clone(), failed)),
            Err(EnrolAttempt::Unreached(why)) => failed.push(format!("{url}: {why}")),
            Err(EnrolAttempt::Unanswered(why)) => {
                maybe_redeemed = true;
                failed.push(format!("{url}: sent, but {why}"));
            }
            Err(EnrolAttempt::Refused(status)) => {
                let mut message = format!(
                    "the registry at {url} refused enrolment: {}",
                    status.message()
                );
                if maybe_redeemed && status.code() == tonic::Code::Unauthenticated {
                    message.push_str(
                        "\n(an earlier replica may have redeemed the token without its answer reaching here: \
                         get a new token with `registry enroll --county C` and run init again; the node's key is kept)",
                    );
                }
                for failure in &failed {
                    message.push_str(&format!("\nbefore that: {failure}"));
                }
                bail!(message);
            }
        }
    }
    bail!(
        "cannot enrol through any registry URL:\n  {}",
        failed.join("\n  ")
    )
}

fn load_or_create_key(paths: &NodePaths) -> anyhow::Result<KeyPair> {
    if paths.key.exists() {
        let pem = std::fs::read_to_string(&paths.key)
            .with_context(|| format!("reading {}", paths.key.display()))?;
        return KeyPair::from_pem(&pem)
            .with_context(|| format!("{} is not a valid key", paths.key.display()));
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    write_private_file(&paths.key, key.serialize_pem().as_bytes())
        .with_context(|| format!("writing {}", paths.key.display()))?;
    Ok(key)
}

fn csr_pem(key: &KeyPair, county: CountyCode) -> anyhow::Result<String> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("MPX county node {county}"));
    Ok(params.serialize_request(key)?.pem()?)
}

/// Checks that a certificate is ours: issued by the CA, for this county, for this key.
fn check_certificate(
    pem: &str,
    ca_pem: &str,
    county: CountyCode,
    key: &KeyPair,
) -> anyhow::Result<()> {
    let der = certificate_der_from_pem(pem)?;
    let ca_der = certificate_der_from_pem(ca_pem)?;
    verify_issued_by(&der, &ca_der).context("the certificate was not issued by this CA")?;
    match PeerIdentity::from_certificate_der(&der)? {
        PeerIdentity::County(code) if code == county => {}
        other => bail!("the certificate names {}, not county {county}", other.uri()),
    }
    let (_, certificate) = X509Certificate::from_der(&der).map_err(|e| anyhow::anyhow!("{e}"))?;
    if certificate.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        bail!(
            "the certificate is for another key than this node's (was the CSR made on another host?)"
        );
    }
    Ok(())
}

/// Runs `init`.
pub async fn init(options: InitOptions) -> anyhow::Result<InitOutcome> {
    let config = &options.config;
    let county = CountyCode::parse(&config.county).context("--county")?;
    let paths = config.paths();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let ca_pem = std::fs::read_to_string(&options.ca_certificate).with_context(|| {
        format!(
            "reading the CA certificate {}",
            options.ca_certificate.display()
        )
    })?;
    certificate_der_from_pem(&ca_pem).context("--ca-cert is not a PEM certificate")?;
    if let Some(parent) = paths.ca_certificate.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&paths.ca_certificate, &ca_pem)?;
    let key = load_or_create_key(&paths)?;

    if let Some(csr_path) = &options.offline_csr {
        std::fs::write(csr_path, csr_pem(&key, county)?)
            .with_context(|| format!("writing {}", csr_path.display()))?;
        return Ok(InitOutcome::CsrWritten(csr_path.clone()));
    }

    let mut enrolled_through = None;
    let mut failed_urls = Vec::new();
    let certificate_pem = if let Some(path) = &options.certificate {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    } else {
        let Some(token) = &options.token else {
            bail!(
                "give --token TOKEN (from `registry enroll --county {county}`), or use --offline-csr / --certificate"
            );
        };
        let urls = config.registry_urls();
        if urls.is_empty() {
            bail!("give --registry https://HOST:PORT (several replicas: comma-separated)");
        }
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca_pem))
            .domain_name(REGISTRY_DNS_NAME);
        let request = EnrollRequest {
            county: county.to_string(),
            token: token.trim().to_string(),
            csr_pem: csr_pem(&key, county)?,
            endpoint: config.peer_advertise.clone().unwrap_or_default(),
            name: config.name.clone(),
        };
        let (response, through, failed) =
            enrol(&urls, tls, RegistryTimeouts::from_config(config), request).await?;
        enrolled_through = Some(through);
        failed_urls = failed;
        if response.ca_certificate_pem.trim() != ca_pem.trim() {
            bail!(
                "the registry's CA differs from --ca-cert; check that you were given the right CA certificate"
            );
        }
        response.certificate_pem
    };
    check_certificate(&certificate_pem, &ca_pem, county, &key)?;
    std::fs::write(&paths.certificate, &certificate_pem)
        .with_context(|| format!("writing {}", paths.certificate.display()))?;

    if !paths.config.exists() {
        let absolute = std::fs::canonicalize(&config.data_dir)?;
        let written = NodeConfig {
            data_dir: absolute,
            ..config.clone()
        };
        std::fs::write(&paths.config, toml::to_string_pretty(&written)?)
            .with_context(|| format!("writing {}", paths.config.display()))?;
    }
    let store = Store::connect(&config.database_url()).await?;
    let created_token = !paths.operator_token.exists();
    if created_token {
        let token = generate_token("mpxop")?;
        store
            .add_operator_token("admin", &hash_token(&token))
            .await?;
        write_private_file(&paths.operator_token, token.as_bytes())?;
    }
    store.close().await;
    Ok(InitOutcome::Ready {
        config_path: paths.config.clone(),
        token_path: paths.operator_token.clone(),
        created_token,
        enrolled_through,
        failed: failed_urls,
    })
}
