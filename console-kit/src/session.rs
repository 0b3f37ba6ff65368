//! Sessions and CSRF: ids and tokens of 256 random bits from the OS, kept by the browser in an
//! HttpOnly SameSite=Strict cookie (`Secure` over HTTPS) and by the service only as their SHA-256;
//! secrets compared in constant time; cookies read from a request.

use axum::http::HeaderMap;

/// The OS gave no randomness; nothing can be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoEntropy;

impl std::fmt::Display for NoEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the operating system gave no random bytes")
    }
}

impl std::error::Error for NoEntropy {}

/// 256 random bits from the OS, hex; an error when the OS has no entropy to give.
pub fn random_hex() -> Result<String, NoEntropy> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| NoEntropy)?;
    Ok(mpx_proto::hex(&bytes))
}

/// How a session id is stored: its SHA-256, so a copy of the database signs nobody in.
pub fn stored_session_id(session_id: &str) -> String {
    mpx_proto::sha256_hex(session_id.as_bytes())
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
}

/// `Set-Cookie` for session cookie `name` holding `session_id` (or, with `None`, one that
/// removes it).
pub fn session_cookie(name: &str, session_id: Option<&str>, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    match session_id {
        Some(id) => format!("{name}={id}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// `Set-Cookie` for the sign-in form's CSRF token (there is no session yet: the token is a
/// cookie and a field that must match), scoped to `/sign-in`.
pub fn sign_in_csrf_cookie(name: &str, token: &str, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{name}={token}; Path=/sign-in; HttpOnly; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            "mpx_session_621202=abc; mpx_session_6212=zzz; mpx_lang=en"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            cookie(&headers, "mpx_session_621202").as_deref(),
            Some("abc")
        );
        assert_eq!(cookie(&headers, "mpx_session_621221"), None);
    }

    #[test]
    fn ids_are_random_and_long() {
        let a = random_hex().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_hex().unwrap());
        assert_eq!(stored_session_id(&a).len(), 64);
        assert_ne!(stored_session_id(&a), a);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", ""));
    }

    #[test]
    fn cookies_are_strict_and_secure_over_https() {
        let set = session_cookie("mpx_session_x", Some("id"), true);
        assert_eq!(
            set,
            "mpx_session_x=id; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        let gone = session_cookie("mpx_session_x", None, false);
        assert!(
            gone.contains("Max-Age=0") && !gone.contains("Secure"),
            "{gone}"
        );
    }
}
