//! The province console's tables: operator accounts (password hash, role, failed sign-ins,
//! lock-out) and sessions (by the SHA-256 of their id). The same statements as the county node's
//! console store, over this registry's own tables; checking a password and choosing ids is
//! `crate::console::auth`'s (with [`console_kit`]'s rules).

use super::*;

/// An operator who can sign in to the console (columns by field name).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OperatorAccount {
    pub name: String,
    /// `supervisor`, `viewer` or `admin`.
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
}

impl Store {
    /// Adds an operator account, or replaces the role and password of an existing one (and
    /// unlocks it); the account's sessions end either way.
    pub async fn put_operator_account(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
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
        tx.commit().await?;
        Ok(())
    }

    /// The account of `name`, if there is one.
    pub async fn operator_account(
        &self,
        name: &str,
    ) -> Result<Option<OperatorAccount>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT name, role, password_hash, failed_sign_ins, locked_until_unix_ms
             FROM operator_accounts WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every account, by name.
    pub async fn operator_accounts(&self) -> Result<Vec<OperatorAccount>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT name, role, password_hash, failed_sign_ins, locked_until_unix_ms
             FROM operator_accounts ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Counts a failed sign-in; at `lock_after` failures in a row the account is locked until
    /// `locked_until_unix_ms`. Returns the failures so far (0 when there is no such account).
    pub async fn record_failed_sign_in(
        &self,
        name: &str,
        lock_after: i64,
        locked_until_unix_ms: i64,
    ) -> Result<i64, StoreError> {
        sqlx::query(
            "UPDATE operator_accounts SET failed_sign_ins = failed_sign_ins + 1,
               locked_until_unix_ms = CASE WHEN failed_sign_ins + 1 >= $2 THEN $3
                                           ELSE locked_until_unix_ms END
             WHERE name = $1",
        )
        .bind(name)
        .bind(lock_after)
        .bind(locked_until_unix_ms)
        .execute(&self.pool)
        .await?;
        Ok(self
            .operator_account(name)
            .await?
            .map_or(0, |account| account.failed_sign_ins))
    }

    /// Clears the failure count and any lock (after a good sign-in, or `operator unlock`).
    /// Returns whether there is such an account.
    pub async fn clear_failed_sign_ins(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE operator_accounts SET failed_sign_ins = 0, locked_until_unix_ms = 0 WHERE name = $1",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a new session by the hash of its id, and the sign-in on the account.
    pub async fn create_console_session(
        &self,
        session_sha256: &str,
        operator: &str,
        csrf_token: &str,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.database.begin().await?;
        sqlx::query("UPDATE operator_accounts SET last_sign_in_unix_ms = $2 WHERE name = $1")
            .bind(operator)
            .bind(now_unix_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (session_sha256, operator, csrf_token,
               created_at_unix_ms, last_seen_unix_ms)
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(session_sha256)
        .bind(operator)
        .bind(csrf_token)
        .bind(now_unix_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session with this id hash, with its operator's current role; `None` when there is no
    /// such session, its operator has no account any more, or it was idle since before
    /// `idle_since_unix_ms` (then it is deleted). A live session's last use becomes `now`.
    pub async fn touch_console_session(
        &self,
        session_sha256: &str,
        idle_since_unix_ms: i64,
        now_unix_ms: i64,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let session: Option<ConsoleSession> = sqlx::query_as(
            "SELECT s.operator, a.role, s.csrf_token, s.last_seen_unix_ms
             FROM console_sessions s JOIN operator_accounts a ON a.name = s.operator
             WHERE s.session_sha256 = $1",
        )
        .bind(session_sha256)
        .fetch_optional(&self.pool)
        .await?;
        let Some(session) = session else {
            return Ok(None);
        };
        if session.last_seen_unix_ms < idle_since_unix_ms {
            self.delete_console_session(session_sha256).await?;
            return Ok(None);
        }
        sqlx::query("UPDATE console_sessions SET last_seen_unix_ms = $2 WHERE session_sha256 = $1")
            .bind(session_sha256)
            .bind(now_unix_ms)
            .execute(&self.pool)
            .await?;
        Ok(Some(session))
    }

    /// Deletes every session unused since before `idle_since_unix_ms` (browsers closed without
    /// signing out). Returns how many.
    pub async fn delete_idle_console_sessions(
        &self,
        idle_since_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE last_seen_unix_ms < $1")
            .bind(idle_since_unix_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Ends a session (sign-out).
    pub async fn delete_console_session(&self, session_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE session_sha256 = $1")
            .bind(session_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
