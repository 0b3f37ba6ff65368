//! What every console response shares: the security headers (a content security policy of
//! `default-src 'self'`: nothing is fetched from elsewhere, no inline script or style), the
//! `?lang=` choice remembered in a cookie, the stylesheet and the live-alerts script both
//! consoles link, and the `lang` parameter read from a request.

use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::IntoResponse;

use crate::lang::{LANG_COOKIE, Lang};

/// The consoles' stylesheet (layout, tables, forms, bars, print), embedded; served at
/// `/console.css` by each console.
pub const STYLESHEET: &str = include_str!("console.css");

/// The stylesheet as a response.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
}

/// The consoles' one script (live rows on an alerts page; see its head for the markup it
/// expects), embedded; served at `/console.js` by each console. Pages work without it.
pub const SCRIPT: &str = include_str!("console.js");

/// The script as a response.
pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

pub use crate::session::cookie;

/// The `lang` parameter of a query string, if any.
pub fn lang_of(uri: &Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "lang")
        .map(|(_, value)| value)
}

/// Adds the security headers to a response: CSP `default-src 'self'` (forms post only here, no
/// framing), no MIME sniffing, no referrer outside, no caching of pages with personal data, and
/// HSTS over HTTPS.
pub fn add_security_headers(headers: &mut HeaderMap, https: bool) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; form-action 'self'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if https {
        // A browser that once reached the console over TLS never falls back to plain HTTP.
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

/// The language a request's `?lang=` chose, to remember with [`remember_language`].
pub fn chosen_language(uri: &Uri) -> Option<Lang> {
    lang_of(uri).and_then(Lang::by_code)
}

/// Remembers a `?lang=` choice for a year (`Set-Cookie`, appended to the response's).
pub fn remember_language(headers: &mut HeaderMap, lang: Lang) {
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000",
        lang.code()
    )) {
        headers.append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_this_origin() {
        let mut headers = HeaderMap::new();
        add_security_headers(&mut headers, false);
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with("default-src 'self'"), "{policy}");
        assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
        add_security_headers(&mut headers, true);
        assert!(headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
    }

    #[test]
    fn the_lang_parameter_is_read_from_the_query() {
        let uri: Uri = "/inbox?page=2&lang=en".parse().unwrap();
        assert_eq!(lang_of(&uri), Some("en"));
        assert_eq!(chosen_language(&uri), Some(Lang::En));
        let none: Uri = "/inbox".parse().unwrap();
        assert_eq!(lang_of(&none), None);
    }
}
