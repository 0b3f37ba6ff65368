//! Who is asking at the province console: registry operators with a password and a role, their
//! sessions, CSRF tokens and the lock-out — [`console_kit`]'s rules (shared with the county
//! console) over this registry's own tables ([`crate::store::Store`]).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use console_kit::password::{
    LOCK_AFTER_FAILURES, LOCK_MINUTES, decoy_hash, hash_password, verify_password_off_runtime,
};
use console_kit::session::{random_hex, same_secret, stored_session_id};
use console_kit::web::cookie;

use super::{ConsoleError, ConsoleState, i18n};
use crate::store::{Store, StoreError};

/// The session cookie: one name for the registry, apart from the county consoles' (cookies are
/// per host, not per port, and a quickstart runs them all on one host).
pub const SESSION_COOKIE: &str = "mpx_session_registry";
/// The sign-in form's CSRF cookie.
pub const SIGN_IN_COOKIE: &str = "mpx_sign_in_registry";

/// What a registry operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads the figures, the evidence and the alerts.
    Viewer,
    /// Reads, and opens cases for counties.
    Supervisor,
    /// A supervisor who also enrols and revokes counties and manages operators.
    Admin,
}

impl Role {
    /// Parses a stored or command-line role.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Self::Viewer),
            "supervisor" => Some(Self::Supervisor),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Supervisor => "supervisor",
            Self::Admin => "admin",
        }
    }

    /// True for roles that open cases for counties.
    pub fn may_open_cases(self) -> bool {
        matches!(self, Self::Supervisor | Self::Admin)
    }

    /// True for the role that enrols and revokes counties and manages operators.
    pub fn may_administer(self) -> bool {
        self == Self::Admin
    }
}

/// Why an operator cannot be stored as given: the field and what it takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorRefusal {
    #[error(
        "name: 1 to {} characters without control characters, e.g. 李督导",
        console_kit::password::MAX_NAME_CHARS
    )]
    Name,
    #[error("role: supervisor, viewer or admin")]
    Role,
    #[error(
        "password: at least {} characters",
        console_kit::password::MIN_PASSWORD_CHARS
    )]
    Password,
    #[error("password: cannot be hashed ({0})")]
    Hash(String),
}

/// A failure to add an operator: a refusal, or the database.
#[derive(Debug, thiserror::Error)]
pub enum PutOperatorError {
    #[error(transparent)]
    Refused(#[from] OperatorRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds a console operator, or replaces the role and password of one (ending its sessions),
/// after checking name, role and password. Returns the name as stored (trimmed) and the role.
pub async fn put_operator(
    store: &Store,
    name: &str,
    role: &str,
    password: &str,
    now_unix_ms: i64,
) -> Result<(String, Role), PutOperatorError> {
    let name = console_kit::password::operator_name(name).ok_or(OperatorRefusal::Name)?;
    let role = Role::parse(role.trim()).ok_or(OperatorRefusal::Role)?;
    if !console_kit::password::password_long_enough(password) {
        return Err(OperatorRefusal::Password.into());
    }
    let hash = hash_password(password).map_err(OperatorRefusal::Hash)?;
    store
        .put_operator_account(name, role.label(), &hash, now_unix_ms)
        .await?;
    Ok((name.to_string(), role))
}

/// The outcome of a sign-in attempt.
#[derive(Debug)]
pub enum SignIn {
    /// The new session's id (for the cookie).
    Session(String),
    WrongNameOrPassword,
    Locked,
    /// The OS gave no randomness for the session id; nobody is signed in.
    Unavailable,
}

impl ConsoleState {
    /// `Set-Cookie` for a new session (or, with `None`, one that removes it).
    pub fn session_cookie(&self, session_id: Option<&str>) -> String {
        console_kit::session::session_cookie(SESSION_COOKIE, session_id, self.https)
    }

    /// Checks a name and password; counts failures and locks the account at the limit.
    /// `from` is the browser's address, for the log.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        from: &str,
    ) -> Result<SignIn, StoreError> {
        let name = name.trim();
        let now = mpx_proto::time::now_unix_ms();
        let Some(account) = self.store.operator_account(name).await? else {
            verify_password_off_runtime(password, decoy_hash()).await;
            return Ok(SignIn::WrongNameOrPassword);
        };
        if account.locked_until_unix_ms > now {
            return Ok(SignIn::Locked);
        }
        if !verify_password_off_runtime(password, &account.password_hash).await {
            let failures = self
                .store
                .record_failed_sign_in(name, LOCK_AFTER_FAILURES, now + LOCK_MINUTES * 60_000)
                .await?;
            if failures >= LOCK_AFTER_FAILURES {
                tracing::warn!(operator = %name, %from, failures, "province console account locked");
                return Ok(SignIn::Locked);
            }
            return Ok(SignIn::WrongNameOrPassword);
        }
        self.store.clear_failed_sign_ins(name).await?;
        // Abandoned sessions (browsers closed without signing out) go when anyone signs in.
        self.store
            .delete_idle_console_sessions(now - self.idle_minutes * 60_000)
            .await?;
        let (Ok(session_id), Ok(csrf)) = (random_hex(), random_hex()) else {
            return Ok(SignIn::Unavailable);
        };
        self.store
            .create_console_session(&stored_session_id(&session_id), name, &csrf, now)
            .await?;
        tracing::info!(operator = %name, %from, "province console sign-in");
        Ok(SignIn::Session(session_id))
    }

    /// Ends the session whose id the request's cookie holds.
    pub async fn sign_out(&self, headers: &HeaderMap) -> Result<(), StoreError> {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            self.store
                .delete_console_session(&stored_session_id(&id))
                .await?;
        }
        Ok(())
    }
}

/// A signed-in operator, taken from the session cookie (a request without a live session is
/// sent to the sign-in page), with the language of the request.
#[derive(Debug, Clone)]
pub struct Signed {
    pub operator: String,
    pub role: Role,
    pub csrf: String,
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

    /// Refuses what only an admin may do (403).
    pub fn check_may_administer(&self) -> Result<(), ConsoleError> {
        if self.role.may_administer() {
            Ok(())
        } else {
            Err(ConsoleError::Role(self.t))
        }
    }
}

/// The language of a request from its parts.
pub fn language(parts: &Parts) -> &'static i18n::Msgs {
    i18n::choose(console_kit::web::lang_of(&parts.uri), &parts.headers)
}

impl OptionalFromRequestParts<ConsoleState> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Option<Self>, Self::Rejection> {
        let t = language(parts);
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let now = mpx_proto::time::now_unix_ms();
        let session = state
            .store
            .touch_console_session(
                &stored_session_id(&id),
                now - state.idle_minutes * 60_000,
                now,
            )
            .await
            .map_err(|error| ConsoleError::from_store(error, t))?;
        Ok(session.map(|session| Signed {
            operator: session.operator,
            role: Role::parse(&session.role).unwrap_or(Role::Viewer),
            csrf: session.csrf_token,
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
    fn roles_parse_and_say_what_they_may_do() {
        assert_eq!(Role::parse("supervisor"), Some(Role::Supervisor));
        assert_eq!(
            Role::parse("clerk"),
            None,
            "a county role, not the registry's"
        );
        assert!(Role::Supervisor.may_open_cases() && !Role::Supervisor.may_administer());
        assert!(!Role::Viewer.may_open_cases() && !Role::Viewer.may_administer());
        assert!(Role::Admin.may_open_cases() && Role::Admin.may_administer());
        for role in [Role::Viewer, Role::Supervisor, Role::Admin] {
            assert_eq!(Role::parse(role.label()), Some(role));
        }
    }
}
