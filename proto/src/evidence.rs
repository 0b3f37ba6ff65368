//! Signatures that make timestamps evidence: ECDSA P-256 with SHA-256 (ASN.1 DER signatures) by
//! the key of a certificate issued by the provincial CA. Used for directory snapshots now, and for
//! receipts and responses.

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a signature could not be made or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("the private key is not a PKCS#8 ECDSA P-256 key")]
    Key,
    #[error("the certificate could not be parsed: {0}")]
    Certificate(String),
    #[error("the signature does not match")]
    BadSignature,
    #[error("signing failed")]
    Sign,
}

/// Signs with a node's or the registry's private key.
pub struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// Loads a PKCS#8 DER key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, EvidenceError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
            .map_err(|_| EvidenceError::Key)?;
        Ok(Self { key, rng })
    }

    /// Loads a PEM `PRIVATE KEY` (PKCS#8).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, EvidenceError> {
        let der = crate::identity::pem_blocks(pem, "PRIVATE KEY")
            .into_iter()
            .next()
            .ok_or(EvidenceError::Key)?;
        Self::from_pkcs8_der(&der)
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, EvidenceError> {
        self.key
            .sign(&self.rng, message)
            .map(|signature| signature.as_ref().to_vec())
            .map_err(|_| EvidenceError::Sign)
    }

    /// The uncompressed public point, for comparison with a certificate's key.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }
}

/// The exact bytes a receipt's signature covers: the message id, the digest of the envelope as
/// delivered, the status and error, and every timestamp that decides lateness (received, due,
/// acceptance due) with the calendar and policy versions behind them. Version-tagged, one field
/// per line, so no two receipts share signing bytes.
pub fn receipt_signing_bytes(receipt: &crate::v1::Receipt, envelope_sha256: &str) -> Vec<u8> {
    format!(
        "mpx-receipt-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        receipt.message_id,
        envelope_sha256,
        receipt.status,
        receipt.error,
        receipt.received_at_unix_ms,
        receipt.due_at_unix_ms,
        receipt.acceptance_due_at_unix_ms,
        receipt.due_provisional,
        receipt.calendar_version,
        receipt.policy_version,
        receipt.case_id,
    )
    .into_bytes()
}

/// Signs a receipt in place (its `signature` field).
pub fn sign_receipt(
    signer: &Signer,
    receipt: &mut crate::v1::Receipt,
    envelope_sha256: &str,
) -> Result<(), EvidenceError> {
    receipt.signature = signer.sign(&receipt_signing_bytes(receipt, envelope_sha256))?;
    Ok(())
}

/// Checks a receipt's signature against the receiver's certificate (DER).
pub fn verify_receipt(
    certificate_der: &[u8],
    receipt: &crate::v1::Receipt,
    envelope_sha256: &str,
) -> Result<(), EvidenceError> {
    verify_with_certificate(
        certificate_der,
        &receipt_signing_bytes(receipt, envelope_sha256),
        &receipt.signature,
    )
}

/// A response reduced to what its signature covers: the case id, time, responder, the outcome's
/// kind and a digest of the outcome's content. The province verifies this form, so the answer
/// text (which may hold personal data) never has to leave the two counties.
pub fn response_evidence(response: &crate::v1::Response) -> crate::v1::ResponseEvidence {
    use crate::v1::response::Outcome;
    let (kind, content, redirect_to) = match &response.outcome {
        Some(Outcome::Accepted(acceptance)) => ("accepted", acceptance.note.clone(), ""),
        Some(Outcome::Answered(answer)) => (
            "answered",
            format!("{}\n{}", answer.verdict, answer.text),
            "",
        ),
        Some(Outcome::Redirected(redirection)) => (
            "redirected",
            format!("{}\n{}", redirection.redirect_to_county, redirection.reason),
            redirection.redirect_to_county.as_str(),
        ),
        None => ("none", String::new(), ""),
    };
    crate::v1::ResponseEvidence {
        case_id: response.case_id.clone(),
        responded_at_unix_ms: response.responded_at_unix_ms,
        handled_by: response.handled_by.clone(),
        outcome_kind: kind.to_string(),
        outcome_sha256: crate::sha256_hex(content.as_bytes()),
        signature: response.signature.clone(),
        redirect_to_county: redirect_to.to_string(),
    }
}

/// The exact bytes a response's signature covers (see [`response_evidence`]). Version-tagged,
/// one field per line.
pub fn response_evidence_signing_bytes(evidence: &crate::v1::ResponseEvidence) -> Vec<u8> {
    format!(
        "mpx-response-v1\n{}\n{}\n{}\n{}\n{}\n{}",
        evidence.case_id,
        evidence.responded_at_unix_ms,
        evidence.handled_by,
        evidence.outcome_kind,
        evidence.outcome_sha256,
        evidence.redirect_to_county,
    )
    .into_bytes()
}

/// The exact bytes a response's signature covers.
pub fn response_signing_bytes(response: &crate::v1::Response) -> Vec<u8> {
    response_evidence_signing_bytes(&response_evidence(response))
}

/// Checks response evidence (as the province holds it) against the responder's certificate.
pub fn verify_response_evidence(
    certificate_der: &[u8],
    evidence: &crate::v1::ResponseEvidence,
) -> Result<(), EvidenceError> {
    verify_with_certificate(
        certificate_der,
        &response_evidence_signing_bytes(evidence),
        &evidence.signature,
    )
}

/// Signs a response in place.
pub fn sign_response(
    signer: &Signer,
    response: &mut crate::v1::Response,
) -> Result<(), EvidenceError> {
    response.signature = signer.sign(&response_signing_bytes(response))?;
    Ok(())
}

/// Checks a response's signature against the responder's certificate (DER).
pub fn verify_response(
    certificate_der: &[u8],
    response: &crate::v1::Response,
) -> Result<(), EvidenceError> {
    verify_with_certificate(
        certificate_der,
        &response_signing_bytes(response),
        &response.signature,
    )
}

/// The hash of one audit entry in a chain: SHA-256 over the previous entry's hash and the
/// entry's fields, one per line (lowercase hex).
pub fn audit_entry_hash(prev_hash: &str, chain_index: i64, fields: &[&str]) -> String {
    let mut text = format!("mpx-audit-v1\n{prev_hash}\n{chain_index}");
    for field in fields {
        text.push('\n');
        text.push_str(&field.replace('\\', "\\\\").replace('\n', "\\n"));
    }
    crate::sha256_hex(text.as_bytes())
}

/// Checks `signature` over `message` against the public key of a DER certificate.
pub fn verify_with_certificate(
    certificate_der: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), EvidenceError> {
    let (_, certificate) = X509Certificate::from_der(certificate_der)
        .map_err(|e| EvidenceError::Certificate(e.to_string()))?;
    let public_key = &certificate.public_key().subject_public_key.data;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key)
        .verify(message, signature)
        .map_err(|_| EvidenceError::BadSignature)
}

/// Checks that `certificate_der` was issued by `issuer_der` (signature and validity period).
pub fn verify_issued_by(certificate_der: &[u8], issuer_der: &[u8]) -> Result<(), EvidenceError> {
    let parse = |der| {
        X509Certificate::from_der(der)
            .map(|(_, certificate)| certificate)
            .map_err(|e| EvidenceError::Certificate(e.to_string()))
    };
    let certificate = parse(certificate_der)?;
    let issuer = parse(issuer_der)?;
    if !certificate.validity().is_valid() {
        return Err(EvidenceError::Certificate(
            "outside its validity period".into(),
        ));
    }
    let issuer_key = &issuer.public_key().subject_public_key.data;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, issuer_key)
        .verify(
            certificate.tbs_certificate.as_ref(),
            &certificate.signature_value.data,
        )
        .map_err(|_| EvidenceError::BadSignature)
}
