//! The provincial certificate authority (ECDSA P-256).
//!
//! Files under the registry's data directory:
//! - `ca/ca.crt`, `ca/ca.key` (0600): the provincial root. The key never leaves this host.
//! - `tls/registry.crt`, `tls/registry.key` (0600): the registry's own certificate
//!   (`mpx://registry/62`, DNS `registry.mpx`), used for its listener and to sign the directory.
//!
//! Node certificates carry exactly what the CA decides, whatever the CSR asked for: the URI SAN
//! `mpx://county/CODE`, the DNS name `cCODE.county.mpx`, client and server authentication.

use std::path::{Path, PathBuf};

use mpx_proto::division::{CountyCode, ProvinceCode};
use mpx_proto::identity::{PeerIdentity, REGISTRY_DNS_NAME, county_dns_name};
use mpx_proto::runtime::write_private_file;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
    date_time_ymd,
};

/// A CA operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("a CA already exists in {0}; refusing to overwrite it (move it away to start over)")]
    AlreadyExists(PathBuf),
    #[error("no CA in {0}: run `registry ca init --province CODE` first")]
    Missing(PathBuf),
    #[error("certificate error: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("the CSR is not a valid PKCS#10 request: {0}")]
    InvalidCsr(String),
    #[error("the CSR's key must be ECDSA P-256 (exchange-node init makes one)")]
    UnsupportedKey,
}

/// The loaded CA: its certificate and a signer for new certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    province: ProvinceCode,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertificateAuthority(province {})", self.province)
    }
}

/// Paths of the CA and registry TLS files under a data directory.
#[derive(Debug, Clone)]
pub struct CaPaths {
    pub ca_certificate: PathBuf,
    pub ca_key: PathBuf,
    pub registry_certificate: PathBuf,
    pub registry_key: PathBuf,
}

impl CaPaths {
    /// The standard layout under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            ca_certificate: data_dir.join("ca").join("ca.crt"),
            ca_key: data_dir.join("ca").join("ca.key"),
            registry_certificate: data_dir.join("tls").join("registry.crt"),
            registry_key: data_dir.join("tls").join("registry.key"),
        }
    }
}

fn read(path: &Path) -> Result<String, CaError> {
    std::fs::read_to_string(path).map_err(|error| CaError::Io(path.to_path_buf(), error))
}

fn write_public(path: &Path, contents: &str) -> Result<(), CaError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CaError::Io(parent.to_path_buf(), e))?;
    }
    std::fs::write(path, contents).map_err(|error| CaError::Io(path.to_path_buf(), error))
}

fn random_serial() -> SerialNumber {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes[0] &= 0x7f; // positive
    SerialNumber::from_slice(&bytes)
}

/// Validity from yesterday (tolerates clock skew) for `days` days.
fn set_validity(params: &mut CertificateParams, days: i64) {
    let today = mpx_proto::time::today_in_province();
    let start = today.yesterday().unwrap_or(today);
    let end = today
        .checked_add(jiff::Span::new().days(days))
        .unwrap_or(today);
    params.not_before = date_time_ymd(start.year().into(), start.month() as u8, start.day() as u8);
    params.not_after = date_time_ymd(end.year().into(), end.month() as u8, end.day() as u8);
}

fn leaf_params(
    identity: PeerIdentity,
    dns_name: &str,
    days: i64,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    let common_name = match identity {
        PeerIdentity::County(code) => format!("MPX county node {code}"),
        PeerIdentity::Registry(code) => format!("MPX registry {code}"),
    };
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.subject_alt_names = vec![
        SanType::URI(identity.uri().try_into()?),
        SanType::DnsName(dns_name.try_into()?),
    ];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, days);
    Ok(params)
}

impl CertificateAuthority {
    /// Makes a new provincial root and the registry's own certificate under `data_dir`.
    pub fn init(data_dir: &Path, province: ProvinceCode) -> Result<Self, CaError> {
        let paths = CaPaths::new(data_dir);
        if paths.ca_key.exists() || paths.ca_certificate.exists() {
            return Err(CaError::AlreadyExists(
                paths.ca_key.parent().unwrap_or(data_dir).to_path_buf(),
            ));
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("MPX provincial CA {province}"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "MPX");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial());
        set_validity(&mut params, 20 * 365);
        let certificate = params.self_signed(&key)?;
        let ca_pem = certificate.pem();
        write_private_file(&paths.ca_key, key.serialize_pem().as_bytes())
            .map_err(|e| CaError::Io(paths.ca_key.clone(), e))?;
        write_public(&paths.ca_certificate, &ca_pem)?;
        let authority = Self {
            issuer: Issuer::new(params, key),
            ca_pem,
            province,
        };
        authority.issue_registry_certificate(&paths)?;
        Ok(authority)
    }

    /// Loads the CA from `data_dir`.
    pub fn load(data_dir: &Path, province: ProvinceCode) -> Result<Self, CaError> {
        let paths = CaPaths::new(data_dir);
        if !paths.ca_key.exists() {
            return Err(CaError::Missing(data_dir.to_path_buf()));
        }
        let ca_pem = read(&paths.ca_certificate)?;
        let key = KeyPair::from_pem(&read(&paths.ca_key)?)?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, key)?;
        Ok(Self {
            issuer,
            ca_pem,
            province,
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// (Re)issues the registry's own TLS and signing certificate.
    pub fn issue_registry_certificate(&self, paths: &CaPaths) -> Result<(), CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = leaf_params(
            PeerIdentity::Registry(self.province),
            REGISTRY_DNS_NAME,
            2 * 365,
        )?;
        params
            .subject_alt_names
            .push(SanType::DnsName("localhost".try_into()?));
        let certificate = params.signed_by(&key, &self.issuer)?;
        write_private_file(&paths.registry_key, key.serialize_pem().as_bytes())
            .map_err(|e| CaError::Io(paths.registry_key.clone(), e))?;
        write_public(&paths.registry_certificate, &certificate.pem())
    }

    /// Signs a county node's CSR. The certificate names `county`, whatever the CSR asked for.
    pub fn issue_for_county(
        &self,
        csr_pem: &str,
        county: CountyCode,
        validity_days: u32,
    ) -> Result<String, CaError> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|error| CaError::InvalidCsr(error.to_string()))?;
        if csr.public_key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(CaError::UnsupportedKey);
        }
        csr.params = leaf_params(
            PeerIdentity::County(county),
            &county_dns_name(&county),
            i64::from(validity_days),
        )?;
        Ok(csr.signed_by(&self.issuer)?.pem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpx_proto::identity::{certificate_der_from_pem, certificate_fingerprint};

    #[test]
    fn issues_county_certificates_that_name_the_county() {
        let dir = tempfile::tempdir().unwrap();
        let province = ProvinceCode::parse("62").unwrap();
        let ca = CertificateAuthority::init(dir.path(), province).unwrap();
        assert!(matches!(
            CertificateAuthority::init(dir.path(), province),
            Err(CaError::AlreadyExists(_))
        ));
        let ca = {
            drop(ca);
            CertificateAuthority::load(dir.path(), province).unwrap()
        };

        // A CSR that asks for another identity still gets the county the CA was told.
        let node_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut asked = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
        asked
            .subject_alt_names
            .push(SanType::URI("mpx://county/110105".try_into().unwrap()));
        let csr = asked.serialize_request(&node_key).unwrap().pem().unwrap();
        let county = CountyCode::parse("621202").unwrap();
        let pem = ca.issue_for_county(&csr, county, 30).unwrap();
        let der = certificate_der_from_pem(&pem).unwrap();
        assert_eq!(
            PeerIdentity::from_certificate_der(&der).unwrap(),
            PeerIdentity::County(county)
        );
        let ca_der = certificate_der_from_pem(ca.ca_pem()).unwrap();
        mpx_proto::evidence::verify_issued_by(&der, &ca_der).unwrap();
        assert_eq!(certificate_fingerprint(&der).len(), 64);

        assert!(matches!(
            ca.issue_for_county("garbage", county, 30),
            Err(CaError::InvalidCsr(_))
        ));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let paths = CaPaths::new(dir.path());
            for key in [&paths.ca_key, &paths.registry_key] {
                let mode = std::fs::metadata(key).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", key.display());
            }
        }
    }
}
