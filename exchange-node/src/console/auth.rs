//! Who is asking: passwords (argon2id), sessions (a random id from the OS RNG in an HttpOnly
//! SameSite=Strict cookie named after this county, stored only as its SHA-256), CSRF tokens on
//! every form, idle expiry, lock-out after repeated failures, and roles. The rules themselves
//! (hashing, lock-out, ids, cookies) are [`console_kit`]'s, shared with the province console;
//! here they meet this node's store and roles.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
pub use console_kit::accounts::SignIn;
use console_kit::accounts::{Accounts, ConsoleRole};
pub use console_kit::password::{LOCK_MINUTES, hash_password, verify_password};
pub use console_kit::session::same_secret;
pub use console_kit::web::cookie;

use super::{ConsoleError, ConsoleState, i18n};
use crate::store::StoreError;

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads cases and people.
    Viewer,
    /// Acts on cases and people.
    Clerk,
    /// A clerk who also manages operators.
    Admin,
}

impl Role {
    /// Parses a stored or command-line role.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Self::Viewer),
            "clerk" => Some(Self::Clerk),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Clerk => "clerk",
            Self::Admin => "admin",
        }
    }

    /// True for roles that act on cases and people.
    pub fn may_act(self) -> bool {
        matches!(self, Self::Clerk | Self::Admin)
    }
}

/// 256 random bits from the OS, hex; an error when the OS has no entropy to give.
pub fn random_hex() -> Result<String, ConsoleError> {
    console_kit::session::random_hex().map_err(|_| ConsoleError::Unavailable(&i18n::ZH))
}

impl ConsoleRole for Role {
    const CHOICES: &'static str = "clerk, viewer or admin";

    fn parse(text: &str) -> Option<Self> {
        Role::parse(text)
    }

    fn label(self) -> &'static str {
        Role::label(self)
    }
}

impl ConsoleState {
    /// The session cookie's name: one per county, so consoles of several nodes on one host keep
    /// their own sessions, and a session id is only ever looked up in its own node's database.
    pub fn session_cookie_name(&self) -> String {
        format!("mpx_session_{}", self.county)
    }

    /// `Set-Cookie` for a new session (or, with `None`, one that removes it).
    pub fn session_cookie(&self, session_id: Option<&str>) -> String {
        console_kit::session::session_cookie(&self.session_cookie_name(), session_id, self.https)
    }

    /// This node's console accounts and sessions.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts::new(self.store().database())
    }

    /// Checks a name and password ([`Accounts::sign_in`]); a lock it starts is recorded as a
    /// security event. `from` is the browser's address, for that record.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        from: &str,
    ) -> Result<SignIn, StoreError> {
        let name = name.trim();
        let now = self.workflow.clock().now_unix_ms();
        let outcome = self
            .accounts()
            .sign_in(name, password, now, self.idle_minutes * 60_000)
            .await?;
        match &outcome {
            SignIn::LockedNow { failures } => {
                // Recorded once, when the lock starts; later attempts meet the lock.
                self.store()
                    .record_security_event(
                        &format!("console {from}"),
                        "console_sign_in_locked",
                        &format!(
                            "operator {name:?} locked for {LOCK_MINUTES} minutes after {failures} failed sign-ins"
                        ),
                    )
                    .await?;
                tracing::warn!(operator = %name, %from, failures, "console account locked");
            }
            SignIn::Session(_) => tracing::info!(operator = %name, %from, "console sign-in"),
            _ => {}
        }
        Ok(outcome)
    }

    /// Ends the session whose id the request's cookie holds.
    pub async fn sign_out(&self, headers: &HeaderMap) -> Result<(), StoreError> {
        Ok(self
            .accounts()
            .sign_out(headers, &self.session_cookie_name())
            .await?)
    }
}

/// A signed-in operator, taken from the session cookie (a request without a live session is
/// sent to the sign-in page), with the language of the request.
#[derive(Debug, Clone)]
pub struct Signed {
    pub operator: String,
    pub role: Role,
    pub csrf: String,
    /// The operator's sign-in before this session's (0: this is the first).
    pub previous_sign_in_unix_ms: i64,
    /// Open alerts of the node as the request came in, for the nav (one indexed count).
    pub open_alerts: i64,
    pub t: &'static i18n::Msgs,
}

impl Signed {
    /// Refuses a form whose CSRF token is missing or not this session's (403).
    pub fn check_csrf(&self, token: &str) -> Result<(), ConsoleError> {
        if same_secret(token, &self.csrf) {
            Ok(())
        } else {
            Err(ConsoleError::Csrf(self.t))
        }
    }

    /// Refuses an action to a viewer (403).
    pub fn check_may_act(&self) -> Result<(), ConsoleError> {
        if self.role.may_act() {
            Ok(())
        } else {
            Err(ConsoleError::Role(self.t))
        }
    }
}

/// The language of a request from its parts.
pub fn language(parts: &Parts) -> &'static i18n::Msgs {
    i18n::choose(super::lang_of(&parts.uri), &parts.headers)
}

impl OptionalFromRequestParts<ConsoleState> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Option<Self>, Self::Rejection> {
        let t = language(parts);
        let session = state
            .accounts()
            .signed_session(
                &parts.headers,
                &state.session_cookie_name(),
                state.workflow.clock().now_unix_ms(),
                state.idle_minutes * 60_000,
            )
            .await
            .map_err(|error| ConsoleError::from_store(error.into(), t))?;
        let Some(session) = session else {
            return Ok(None);
        };
        let open_alerts = state
            .store()
            .open_alert_count()
            .await
            .map_err(|error| ConsoleError::from_store(error, t))?;
        Ok(Some(Signed {
            operator: session.operator,
            role: Role::parse(&session.role).unwrap_or(Role::Viewer),
            csrf: session.csrf_token,
            previous_sign_in_unix_ms: session.previous_sign_in_unix_ms,
            open_alerts,
            t,
        }))
    }
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let t = language(parts);
        <Self as OptionalFromRequestParts<ConsoleState>>::from_request_parts(parts, state)
            .await?
            .ok_or(ConsoleError::SignInFirst(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_as_argon2id_and_verify() {
        let hash = hash_password("正确的马电池钉").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("正确的马电池钉", &hash));
        assert!(!verify_password("正确的马电池", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

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
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", ""));
        assert!(!same_secret("", "abc"));
    }

    #[test]
    fn session_ids_are_random_and_long() {
        let a = random_hex().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_hex().unwrap());
    }
}
