//! Who a peer is, taken from its certificate, never from a message field.
//!
//! The provincial CA writes one URI SAN into every certificate it issues:
//! `mpx://county/621202` for a county node, `mpx://registry/62` for the province's registry.
//! Node certificates also carry the DNS name [`county_dns_name`] so that a client connecting to a
//! county checks, through ordinary TLS name verification, that it reached that county.

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::division::{CountyCode, ProvinceCode};

/// The identity a certificate names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerIdentity {
    County(CountyCode),
    Registry(ProvinceCode),
}

/// Why no identity could be read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the certificate could not be parsed: {0}")]
    Parse(String),
    #[error("the certificate has no mpx:// URI SAN")]
    Missing,
    #[error("the certificate names {0:?}, which is not mpx://county/CODE or mpx://registry/CODE")]
    Malformed(String),
    #[error("the certificate names more than one mpx:// identity")]
    Ambiguous,
}

impl PeerIdentity {
    /// The URI SAN for this identity.
    pub fn uri(&self) -> String {
        match self {
            PeerIdentity::County(code) => format!("mpx://county/{code}"),
            PeerIdentity::Registry(code) => format!("mpx://registry/{code}"),
        }
    }

    /// Parses `mpx://county/621202` or `mpx://registry/62`.
    pub fn parse_uri(uri: &str) -> Result<Self, IdentityError> {
        let malformed = || IdentityError::Malformed(uri.to_string());
        if let Some(code) = uri.strip_prefix("mpx://county/") {
            return CountyCode::parse(code)
                .map(PeerIdentity::County)
                .map_err(|_| malformed());
        }
        if let Some(code) = uri.strip_prefix("mpx://registry/") {
            return ProvinceCode::parse(code)
                .map(PeerIdentity::Registry)
                .map_err(|_| malformed());
        }
        Err(malformed())
    }

    /// Reads the identity from a DER certificate.
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, IdentityError> {
        let (_, certificate) =
            X509Certificate::from_der(der).map_err(|e| IdentityError::Parse(e.to_string()))?;
        let mut found = None;
        if let Ok(Some(san)) = certificate.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::URI(uri) = name
                    && uri.starts_with("mpx://")
                {
                    if found.is_some() {
                        return Err(IdentityError::Ambiguous);
                    }
                    found = Some(Self::parse_uri(uri)?);
                }
            }
        }
        found.ok_or(IdentityError::Missing)
    }

    /// The county, if this is a county node.
    pub fn county(&self) -> Option<CountyCode> {
        match self {
            PeerIdentity::County(code) => Some(*code),
            PeerIdentity::Registry(_) => None,
        }
    }
}

/// The TLS server name of a county node's peer listener: `c621202.county.mpx`.
pub fn county_dns_name(county: &CountyCode) -> String {
    format!("c{county}.county.mpx")
}

/// The TLS server name of the registry: `registry.mpx`.
pub const REGISTRY_DNS_NAME: &str = "registry.mpx";

/// SHA-256 fingerprint (lowercase hex) of a DER certificate, as published in the directory.
pub fn certificate_fingerprint(der: &[u8]) -> String {
    crate::sha256_hex(der)
}

/// The DER bytes of the first certificate in a PEM text.
pub fn certificate_der_from_pem(pem: &str) -> Result<Vec<u8>, IdentityError> {
    pem_blocks(pem, "CERTIFICATE")
        .into_iter()
        .next()
        .ok_or_else(|| IdentityError::Parse("no CERTIFICATE block in the PEM text".into()))
}

/// When a certificate (DER) stops being valid (its `notAfter`), in Unix milliseconds; `None`
/// for bytes that are no certificate.
pub fn certificate_not_after_unix_ms(certificate_der: &[u8]) -> Option<i64> {
    let (_, certificate) = X509Certificate::from_der(certificate_der).ok()?;
    certificate
        .validity()
        .not_after
        .timestamp()
        .checked_mul(1000)
}

/// The contents of every PEM block with the given label (e.g. `CERTIFICATE`, `PRIVATE KEY`).
pub fn pem_blocks(pem: &str, label: &str) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .filter_map(Result::ok)
        .filter(|block| block.label == label)
        .map(|block| block.contents)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_identity_uris() {
        let county = PeerIdentity::parse_uri("mpx://county/621202").unwrap();
        assert_eq!(county.county().unwrap().as_str(), "621202");
        assert_eq!(county.uri(), "mpx://county/621202");
        let registry = PeerIdentity::parse_uri("mpx://registry/62").unwrap();
        assert_eq!(registry.uri(), "mpx://registry/62");
        assert!(registry.county().is_none());
        for bad in [
            "mpx://county/62120",
            "mpx://county/",
            "https://county/621202",
            "mpx://x/1",
        ] {
            assert!(PeerIdentity::parse_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn garbage_certificates_are_errors_not_panics() {
        assert!(matches!(
            PeerIdentity::from_certificate_der(b"nope"),
            Err(IdentityError::Parse(_))
        ));
        assert!(certificate_der_from_pem("not pem").is_err());
    }
}
