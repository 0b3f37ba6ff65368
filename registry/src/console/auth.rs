//! Who is asking at the province console: registry operators with a password and a role, their
//! sessions, CSRF tokens and the lock-out — [`console_kit`]'s rules (shared with the county
//! console) over this registry's own tables ([`crate::store::Store`]).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use console_kit::accounts::{Accounts, ConsoleRole};
pub use console_kit::accounts::{OperatorRefusal, PutOperatorError, SignIn};
use console_kit::session::same_secret;

use super::{ConsoleError, ConsoleState, i18n};
use crate::store::StoreError;

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

impl ConsoleRole for Role {
    const CHOICES: &'static str = "supervisor, viewer or admin";

    fn parse(text: &str) -> Option<Self> {
        Role::parse(text)
    }

    fn label(self) -> &'static str {
        Role::label(self)
    }
}

impl ConsoleState {
    /// `Set-Cookie` for a new session (or, with `None`, one that removes it).
    pub fn session_cookie(&self, session_id: Option<&str>) -> String {
        console_kit::session::session_cookie(SESSION_COOKIE, session_id, self.https)
    }

    /// This registry's accounts and sessions.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts::new(self.store.database())
    }

    /// Checks a name and password ([`Accounts::sign_in`]); `from` is the browser's address,
    /// for the log.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        from: &str,
    ) -> Result<SignIn, StoreError> {
        let name = name.trim();
        let outcome = self
            .accounts()
            .sign_in(
                name,
                password,
                mpx_proto::time::now_unix_ms(),
                self.idle_minutes * 60_000,
            )
            .await?;
        match &outcome {
            SignIn::LockedNow { failures } => {
                tracing::warn!(operator = %name, %from, failures, "province console account locked");
            }
            SignIn::Session(_) => {
                tracing::info!(operator = %name, %from, "province console sign-in")
            }
            _ => {}
        }
        Ok(outcome)
    }

    /// Ends the session whose id the request's cookie holds.
    pub async fn sign_out(&self, headers: &HeaderMap) -> Result<(), StoreError> {
        Ok(self.accounts().sign_out(headers, SESSION_COOKIE).await?)
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
        let session = state
            .accounts()
            .signed_session(
                &parts.headers,
                SESSION_COOKIE,
                mpx_proto::time::now_unix_ms(),
                state.idle_minutes * 60_000,
            )
            .await
            .map_err(|error| ConsoleError::from_store(error.into(), t))?;
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
