//! Operator accounts and console sessions, written once for both consoles: the statements over
//! the tables `operator_accounts` and `console_sessions` that each service keeps in its own
//! database (the county node's migration 0012 and the registry's 0009/0010 make them the same
//! shape), and the sign-in built on them — a password checked off the runtime, failures counted,
//! the lock-out, abandoned sessions swept, a new session stored by the SHA-256 of its id.
//!
//! Each service brings its own roles (a [`ConsoleRole`]) and what it does besides (the county
//! node records a lock as a security event; both log).

use axum::http::HeaderMap;
use mpx_proto::database::Database;

use crate::password::{
    LOCK_AFTER_FAILURES, LOCK_MINUTES, MAX_NAME_CHARS, MIN_PASSWORD_CHARS, decoy_hash,
    hash_password, operator_name, password_long_enough, verify_password_off_runtime,
};
use crate::session::{cookie, random_hex, stored_session_id};

/// An operator who can sign in to a console (columns by field name).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OperatorAccount {
    pub name: String,
    /// A [`ConsoleRole`]'s label.
    pub role: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub failed_sign_ins: i64,
    /// Sign-in is refused until this instant (0: not locked).
    pub locked_until_unix_ms: i64,
}

/// A console session as stored: whose it is, with the operator's current role, its CSRF token,
/// when it was last used.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConsoleSession {
    pub operator: String,
    pub role: String,
    pub csrf_token: String,
    pub last_seen_unix_ms: i64,
    /// The operator's sign-in before the one that opened this session (0: none), for "since
    /// your last visit".
    pub previous_sign_in_unix_ms: i64,
}

/// A console's roles, as stored and typed on the command line.
pub trait ConsoleRole: Sized + Copy {
    /// The labels a role may be, for a refusal: e.g. "clerk, viewer or admin".
    const CHOICES: &'static str;
    fn parse(text: &str) -> Option<Self>;
    fn label(self) -> &'static str;
}

/// Why an operator cannot be stored as given: the field and what it takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorRefusal {
    #[error("name: 1 to {MAX_NAME_CHARS} characters without control characters, e.g. 王芳")]
    Name,
    /// The console's role labels.
    #[error("role: {0}")]
    Role(&'static str),
    #[error("password: at least {MIN_PASSWORD_CHARS} characters")]
    Password,
    #[error("password: cannot be hashed ({0})")]
    Hash(String),
}

impl OperatorRefusal {
    /// The form field it is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Role(_) => "role",
            Self::Password | Self::Hash(_) => "password",
        }
    }
}

/// A failure to add an operator: a refusal, or the database.
#[derive(Debug, thiserror::Error)]
pub enum PutOperatorError {
    #[error(transparent)]
    Refused(#[from] OperatorRefusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The outcome of a sign-in attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum SignIn {
    /// The new session's id (for the cookie).
    Session(String),
    WrongNameOrPassword,
    /// The account is locked (from before this attempt).
    Locked,
    /// This failure reached the limit and locked the account (once; later attempts are
    /// [`SignIn::Locked`]), after `failures` in a row.
    LockedNow {
        failures: i64,
    },
    /// The OS gave no randomness for the session id; nobody is signed in.
    Unavailable,
}

/// The accounts and sessions of one service's database.
#[derive(Debug, Clone, Copy)]
pub struct Accounts<'a> {
    database: &'a Database,
}

impl<'a> Accounts<'a> {
    pub fn new(database: &'a Database) -> Self {
        Self { database }
    }

    /// Adds a console operator, or replaces the role and password of one (ending its sessions),
    /// after checking name, role and password — the rules of the command line and of the
    /// admin's page alike. Returns the name as stored (trimmed) and the role.
    pub async fn put_operator<R: ConsoleRole>(
        &self,
        name: &str,
        role: &str,
        password: &str,
        now_unix_ms: i64,
    ) -> Result<(String, R), PutOperatorError> {
        let name = operator_name(name).ok_or(OperatorRefusal::Name)?;
        let role = R::parse(role.trim()).ok_or(OperatorRefusal::Role(R::CHOICES))?;
        if !password_long_enough(password) {
            return Err(OperatorRefusal::Password.into());
        }
        let hash = hash_password(password).map_err(OperatorRefusal::Hash)?;
        self.put_account(name, role.label(), &hash, now_unix_ms)
            .await?;
        Ok((name.to_string(), role))
    }

    /// Checks a name and password; counts failures and locks the account at the limit. Sessions
    /// idle for `idle_ms` are swept on a good sign-in (browsers closed without signing out).
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        now_unix_ms: i64,
        idle_ms: i64,
    ) -> Result<SignIn, sqlx::Error> {
        let name = name.trim();
        let Some(account) = self.account(name).await? else {
            verify_password_off_runtime(password, decoy_hash()).await;
            return Ok(SignIn::WrongNameOrPassword);
        };
        if account.locked_until_unix_ms > now_unix_ms {
            return Ok(SignIn::Locked);
        }
        if !verify_password_off_runtime(password, &account.password_hash).await {
            let failures = self
                .record_failed_sign_in(
                    name,
                    LOCK_AFTER_FAILURES,
                    now_unix_ms + LOCK_MINUTES * 60_000,
                )
                .await?;
            return Ok(if failures >= LOCK_AFTER_FAILURES {
                SignIn::LockedNow { failures }
            } else {
                SignIn::WrongNameOrPassword
            });
        }
        self.clear_failed_sign_ins(name).await?;
        self.delete_idle_sessions(now_unix_ms - idle_ms).await?;
        let (Ok(session_id), Ok(csrf)) = (random_hex(), random_hex()) else {
            return Ok(SignIn::Unavailable);
        };
        self.create_session(&stored_session_id(&session_id), name, &csrf, now_unix_ms)
            .await?;
        Ok(SignIn::Session(session_id))
    }

    /// The live session whose id the request's cookie `cookie_name` holds, counted as a use
    /// (see [`Accounts::touch_session`]).
    pub async fn signed_session(
        &self,
        headers: &HeaderMap,
        cookie_name: &str,
        now_unix_ms: i64,
        idle_ms: i64,
    ) -> Result<Option<ConsoleSession>, sqlx::Error> {
        let Some(id) = cookie(headers, cookie_name) else {
            return Ok(None);
        };
        self.touch_session(&stored_session_id(&id), now_unix_ms - idle_ms, now_unix_ms)
            .await
    }

    /// Ends the session whose id the request's cookie `cookie_name` holds.
    pub async fn sign_out(
        &self,
        headers: &HeaderMap,
        cookie_name: &str,
    ) -> Result<(), sqlx::Error> {
        if let Some(id) = cookie(headers, cookie_name) {
            self.delete_session(&stored_session_id(&id)).await?;
        }
        Ok(())
    }

    /// Adds an operator account, or replaces the role and password of an existing one (and
    /// unlocks it); the account's sessions end either way.
    pub async fn put_account(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        now_unix_ms: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.database.begin().await?;
        sqlx::query("DELETE FROM operator_accounts WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO operator_accounts (name, role, password_hash, failed_sign_ins,
               locked_until_unix_ms, created_at_unix_ms) VALUES ($1, $2, $3, 0, 0, $4)",
        )
        .bind(name)
        .bind(role)
        .bind(password_hash)
        .bind(now_unix_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM console_sessions WHERE operator = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// The account of `name`, if there is one.
    pub async fn account(&self, name: &str) -> Result<Option<OperatorAccount>, sqlx::Error> {
        sqlx::query_as(
            "SELECT name, role, password_hash, failed_sign_ins, locked_until_unix_ms
             FROM operator_accounts WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.database.pool)
        .await
    }

    /// Every account, by name.
    pub async fn list(&self) -> Result<Vec<OperatorAccount>, sqlx::Error> {
        sqlx::query_as(
            "SELECT name, role, password_hash, failed_sign_ins, locked_until_unix_ms
             FROM operator_accounts ORDER BY name",
        )
        .fetch_all(&self.database.pool)
        .await
    }

    /// Counts a failed sign-in; at `lock_after` failures in a row the account is locked until
    /// `locked_until_unix_ms`. Returns the failures so far (0 when there is no such account).
    pub async fn record_failed_sign_in(
        &self,
        name: &str,
        lock_after: i64,
        locked_until_unix_ms: i64,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query(
            "UPDATE operator_accounts SET failed_sign_ins = failed_sign_ins + 1,
               locked_until_unix_ms = CASE WHEN failed_sign_ins + 1 >= $2 THEN $3
                                           ELSE locked_until_unix_ms END
             WHERE name = $1",
        )
        .bind(name)
        .bind(lock_after)
        .bind(locked_until_unix_ms)
        .execute(&self.database.pool)
        .await?;
        Ok(self
            .account(name)
            .await?
            .map_or(0, |account| account.failed_sign_ins))
    }

    /// Clears the failure count and any lock (after a good sign-in, or `operator unlock`).
    /// Returns whether there is such an account.
    pub async fn clear_failed_sign_ins(&self, name: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE operator_accounts SET failed_sign_ins = 0, locked_until_unix_ms = 0 WHERE name = $1",
        )
        .bind(name)
        .execute(&self.database.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a new session by the hash of its id, and the sign-in on the account (the
    /// session keeps the one before, for "since your last visit").
    pub async fn create_session(
        &self,
        session_sha256: &str,
        operator: &str,
        csrf_token: &str,
        now_unix_ms: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.database.begin().await?;
        let previous: Option<i64> = sqlx::query_scalar(
            "SELECT last_sign_in_unix_ms FROM operator_accounts WHERE name = $1",
        )
        .bind(operator)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("UPDATE operator_accounts SET last_sign_in_unix_ms = $2 WHERE name = $1")
            .bind(operator)
            .bind(now_unix_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (session_sha256, operator, csrf_token,
               previous_sign_in_unix_ms, created_at_unix_ms, last_seen_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(session_sha256)
        .bind(operator)
        .bind(csrf_token)
        .bind(previous.unwrap_or(0))
        .bind(now_unix_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// The session with this id hash, with its operator's current role; `None` when there is no
    /// such session, its operator has no account any more, or it was idle since before
    /// `idle_since_unix_ms` (then it is deleted). A live session's last use becomes `now`.
    pub async fn touch_session(
        &self,
        session_sha256: &str,
        idle_since_unix_ms: i64,
        now_unix_ms: i64,
    ) -> Result<Option<ConsoleSession>, sqlx::Error> {
        let session: Option<ConsoleSession> = sqlx::query_as(
            "SELECT s.operator, a.role, s.csrf_token, s.last_seen_unix_ms,
                    s.previous_sign_in_unix_ms
             FROM console_sessions s JOIN operator_accounts a ON a.name = s.operator
             WHERE s.session_sha256 = $1",
        )
        .bind(session_sha256)
        .fetch_optional(&self.database.pool)
        .await?;
        let Some(session) = session else {
            return Ok(None);
        };
        if session.last_seen_unix_ms < idle_since_unix_ms {
            self.delete_session(session_sha256).await?;
            return Ok(None);
        }
        sqlx::query("UPDATE console_sessions SET last_seen_unix_ms = $2 WHERE session_sha256 = $1")
            .bind(session_sha256)
            .bind(now_unix_ms)
            .execute(&self.database.pool)
            .await?;
        Ok(Some(session))
    }

    /// True while the session with this id hash lives (its operator still has an account and it
    /// was used since `idle_since_unix_ms`), without counting this as a use: a page left open on
    /// a live stream must not keep its session alive.
    pub async fn session_is_live(
        &self,
        session_sha256: &str,
        idle_since_unix_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let live: Option<i64> = sqlx::query_scalar(
            "SELECT s.last_seen_unix_ms
             FROM console_sessions s JOIN operator_accounts a ON a.name = s.operator
             WHERE s.session_sha256 = $1 AND s.last_seen_unix_ms >= $2",
        )
        .bind(session_sha256)
        .bind(idle_since_unix_ms)
        .fetch_optional(&self.database.pool)
        .await?;
        Ok(live.is_some())
    }

    /// For a live page's stream, looked at now and then: false once the session is gone or was
    /// last used `idle_ms` ago or more. A database failure is not taken for an ended session
    /// (logged; the stream goes on and looks again later).
    pub async fn session_lives(
        &self,
        session_sha256: &str,
        now_unix_ms: i64,
        idle_ms: i64,
    ) -> bool {
        match self
            .session_is_live(session_sha256, now_unix_ms - idle_ms)
            .await
        {
            Ok(live) => live,
            Err(error) => {
                tracing::warn!(%error, "console: cannot look at a live page's session");
                true
            }
        }
    }

    /// Deletes every session unused since before `idle_since_unix_ms` (abandoned ones: a
    /// browser closed without signing out). Returns how many.
    pub async fn delete_idle_sessions(&self, idle_since_unix_ms: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE last_seen_unix_ms < $1")
            .bind(idle_since_unix_ms)
            .execute(&self.database.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Ends a session (sign-out).
    pub async fn delete_session(&self, session_sha256: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM console_sessions WHERE session_sha256 = $1")
            .bind(session_sha256)
            .execute(&self.database.pool)
            .await?;
        Ok(())
    }
}
