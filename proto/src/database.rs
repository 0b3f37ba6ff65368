//! The database both services keep their state in, behind [`Database`]: opening a pool for a
//! `sqlite://` or `postgres://` URL and migrating it, leases between processes sharing it, the
//! hash-chained audit log, operator tokens, and multi-row statements. Each service's `store`
//! module holds its own tables' SQL; this holds what their stores share.

use sqlx::Row;

use crate::migrations::{Backend, MigrationFileError, MigrationFiles};

/// Sets an existing SQLite database and its WAL and shared-memory files to 0600: databases
/// created by earlier versions under a permissive umask are made private at the next start.
fn make_sqlite_files_private(url: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        if let Ok(metadata) = std::fs::metadata(&file)
            && metadata.permissions().mode() & 0o077 != 0
            && let Err(error) =
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(%file, %error, "cannot make the database file private (0600)");
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn audit_hash(
    prev_hash: &str,
    chain_index: i64,
    entry_id: &str,
    at_unix_ms: i64,
    operator: &str,
    action: &str,
    purpose: &str,
    subject: &str,
    rows: i64,
) -> String {
    crate::evidence::audit_entry_hash(
        prev_hash,
        chain_index,
        &[
            entry_id,
            &at_unix_ms.to_string(),
            operator,
            action,
            purpose,
            subject,
            &rows.to_string(),
        ],
    )
}

fn uuid_v7() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("cannot open the database: {0}")]
    Connect(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot read the migrations: {0}")]
    MigrationFile(#[from] MigrationFileError),
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH?mode=rwc or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),
}

/// Whether a pooled connection may be handed out: not while it believes a transaction is open.
/// After an error such as SQLITE_FULL, SQLite rolls the transaction back itself; the ROLLBACK
/// queued when the transaction was dropped then fails, and sqlx keeps counting the transaction
/// as open, so every later `begin` on that connection failed ("attempted to call begin_with at
/// non-zero transaction depth") until a restart. Such a connection is closed and replaced.
async fn discard_if_in_transaction(
    connection: &mut sqlx::AnyConnection,
) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !connection.is_in_transaction() {
        return Ok(true);
    }
    // A rollback queued when its transaction was dropped may not have run yet: let it.
    connection.ping().await?;
    if connection.is_in_transaction() {
        tracing::warn!(
            "closing a database connection whose transaction state is unknown after an error"
        );
        return Ok(false);
    }
    Ok(true)
}

/// Opens a pool for `url` (the backend is chosen by the scheme) and applies `migrations`, expanded
/// for that backend (see [`crate::migrations`]). SQLite runs in WAL mode with foreign keys on and
/// a 5 s busy timeout.
pub async fn open_database(
    url: &str,
    migrations: MigrationFiles,
) -> Result<Database, DatabaseError> {
    sqlx::any::install_default_drivers();
    let is_sqlite = url.starts_with("sqlite:");
    let is_postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
    if !is_sqlite && !is_postgres {
        return Err(DatabaseError::UnsupportedUrl(url.to_string()));
    }
    let migrator = crate::migrations::migrator(
        migrations,
        if is_sqlite {
            Backend::Sqlite
        } else {
            Backend::Postgres
        },
    )?;
    let mut options = sqlx::any::AnyPoolOptions::new()
        .max_connections(if is_sqlite { 4 } else { 8 })
        .before_acquire(|connection, _meta| Box::pin(discard_if_in_transaction(connection)));
    if is_sqlite {
        options = options.after_connect(|connection, _meta| {
            Box::pin(async move {
                use sqlx::Executor;
                connection.execute("PRAGMA busy_timeout = 5000").await?;
                connection.execute("PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        });
    }
    let pool = options.connect(url).await?;
    if is_sqlite {
        make_sqlite_files_private(url);
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
    }
    migrator.run(&pool).await?;
    Ok(Database { pool, is_sqlite })
}

/// A pool and its backend.
#[derive(Debug, Clone)]
pub struct Database {
    pub pool: sqlx::AnyPool,
    pub is_sqlite: bool,
}

impl Database {
    /// Takes or renews the lease `name` for `holder` until `now + ttl`. True when `holder` holds
    /// it afterwards: it was free, expired, or already `holder`'s. Every process sharing the
    /// database must use a distinct `holder`. Needs the `leases` table (each crate's migrations).
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_unix_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at_unix_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at_unix_ms = $3
             WHERE leases.expires_at_unix_ms <= $4 OR leases.holder = $2",
        )
        .bind(name)
        .bind(holder)
        .bind(now_unix_ms + ttl_ms)
        .bind(now_unix_ms)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Appends an entry to the audit hash chain (tables `audit_log` and `audit_head`, in each
    /// crate's migrations). Writers are serialised on the head row, so the chain never forks.
    pub async fn append_audit(
        &self,
        operator: &str,
        action: &str,
        purpose: &str,
        subject: &str,
        rows: i64,
    ) -> Result<(), sqlx::Error> {
        let mut transaction = self.begin().await?;
        let head_sql = if self.is_sqlite {
            "SELECT entries, last_hash FROM audit_head WHERE id = 1"
        } else {
            "SELECT entries, last_hash FROM audit_head WHERE id = 1 FOR UPDATE"
        };
        let head = sqlx::query(head_sql).fetch_one(&mut *transaction).await?;
        let entries: i64 = head.try_get("entries")?;
        let prev_hash: String = head.try_get("last_hash")?;
        let chain_index = entries + 1;
        let at = crate::time::now_unix_ms();
        let entry_id = uuid_v7();
        let hash = audit_hash(
            &prev_hash,
            chain_index,
            &entry_id,
            at,
            operator,
            action,
            purpose,
            subject,
            rows,
        );
        sqlx::query(
            "INSERT INTO audit_log (entry_id, at_unix_ms, operator, action, purpose, subject, rows_returned,
                                    chain_index, prev_hash, entry_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&entry_id)
        .bind(at)
        .bind(operator)
        .bind(action)
        .bind(purpose)
        .bind(subject)
        .bind(rows)
        .bind(chain_index)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *transaction)
        .await?;
        sqlx::query("UPDATE audit_head SET entries = $1, last_hash = $2 WHERE id = 1")
            .bind(chain_index)
            .bind(&hash)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Recomputes the audit chain. `Ok(n)`: all `n` entries are intact; `Err(why)` names the
    /// first entry that was changed, removed or added out of chain, or a truncated tail.
    pub async fn verify_audit_chain(&self) -> Result<Result<i64, String>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT entry_id, at_unix_ms, operator, action, purpose, subject, rows_returned, chain_index,
                    prev_hash, entry_hash
             FROM audit_log WHERE chain_index > 0 ORDER BY chain_index",
        )
        .fetch_all(&self.pool)
        .await?;
        let head = sqlx::query("SELECT entries, last_hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let (head_entries, head_hash): (i64, String) =
            (head.try_get("entries")?, head.try_get("last_hash")?);
        let mut expected_prev = String::new();
        let mut expected_index = 1;
        for row in &rows {
            let chain_index: i64 = row.try_get("chain_index")?;
            let entry_id: String = row.try_get("entry_id")?;
            if chain_index != expected_index {
                return Ok(Err(format!(
                    "entry {expected_index} is missing (found {chain_index} next)"
                )));
            }
            let prev_hash: String = row.try_get("prev_hash")?;
            let stored: String = row.try_get("entry_hash")?;
            let computed = audit_hash(
                &prev_hash,
                chain_index,
                &entry_id,
                row.try_get("at_unix_ms")?,
                &row.try_get::<String, _>("operator")?,
                &row.try_get::<String, _>("action")?,
                &row.try_get::<String, _>("purpose")?,
                &row.try_get::<String, _>("subject")?,
                row.try_get("rows_returned")?,
            );
            if prev_hash != expected_prev || computed != stored {
                return Ok(Err(format!("entry {chain_index} ({entry_id}) was altered")));
            }
            expected_prev = stored;
            expected_index += 1;
        }
        let count = expected_index - 1;
        if count != head_entries || expected_prev != head_hash {
            return Ok(Err(format!(
                "the log ends at entry {count}, but {head_entries} were written"
            )));
        }
        Ok(Ok(count))
    }

    /// Adds a named operator token, by its hash (the `operator_tokens` table of each crate's
    /// migrations). A hash already there is an error.
    pub async fn add_operator_token(
        &self,
        name: &str,
        token_sha256: &str,
        now_unix_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO operator_tokens (token_sha256, name, created_at_unix_ms) VALUES ($1, $2, $3)",
        )
        .bind(token_sha256)
        .bind(name)
        .bind(now_unix_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// All operator tokens: hash → name.
    pub async fn operator_tokens(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, sqlx::Error> {
        let rows = sqlx::query("SELECT token_sha256, name FROM operator_tokens")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("token_sha256")?, row.try_get("name")?)))
            .collect()
    }

    /// Gives a lease up early (e.g. at shutdown), if `holder` holds it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so a transaction that reads first never fails with "database is
    /// locked" when it upgrades; the busy timeout then queues writers instead.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        if self.is_sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        }
    }
}

/// `($1, …, $cols), ($cols+1, …)` for a multi-row INSERT, or the same with anonymous `?` on
/// SQLite (sqlx-sqlite looks every `$N` name up linearly, which makes a statement of thousands of
/// parameters quadratic); binds go in order either way.
pub fn value_rows(rows: usize, cols: usize, sqlite: bool) -> String {
    (0..rows)
        .map(|r| {
            let row = (1..=cols)
                .map(|c| {
                    if sqlite {
                        "?".to_string()
                    } else {
                        format!("${}", r * cols + c)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("({row})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A service's `Store`: the handle over its [`Database`] (cheap to clone) with the methods every
/// service's store has the same way — connect and migrate, leases, the audit chain, operator
/// tokens, close — returning that service's own `StoreError` (which converts from `sqlx::Error`
/// and [`DatabaseError`]). Each service adds its own tables' methods in `impl Store` blocks.
#[macro_export]
macro_rules! store_handle {
    ($(#[$meta:meta])* pub struct $name:ident; migrations = $migrations:expr;) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            database: $crate::database::Database,
            pool: sqlx::AnyPool,
        }

        impl $name {
            /// Connects (`sqlite://PATH?mode=rwc` or `postgres://…`) and migrates.
            pub async fn connect(url: &str) -> Result<Self, StoreError> {
                let database = $crate::database::open_database(url, $migrations).await?;
                Ok(Self {
                    pool: database.pool.clone(),
                    database,
                })
            }

            /// Takes or renews a lease (see [`Database::try_lease`]($crate::database::Database::try_lease)).
            pub async fn try_lease(
                &self,
                name: &str,
                holder: &str,
                now_unix_ms: i64,
                ttl_ms: i64,
            ) -> Result<bool, StoreError> {
                Ok(self
                    .database
                    .try_lease(name, holder, now_unix_ms, ttl_ms)
                    .await?)
            }

            /// Gives a lease up early.
            pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
                Ok(self.database.release_lease(name, holder).await?)
            }

            /// Appends an entry to the audit hash chain: who read what, why, how many rows.
            pub async fn audit(
                &self,
                operator: &str,
                action: &str,
                purpose: &str,
                subject: &str,
                rows: usize,
            ) -> Result<(), StoreError> {
                let rows = i64::try_from(rows).unwrap_or(i64::MAX);
                Ok(self
                    .database
                    .append_audit(operator, action, purpose, subject, rows)
                    .await?)
            }

            /// Recomputes the audit chain: `Ok(n)` when intact, else what is wrong.
            pub async fn verify_audit_chain(&self) -> Result<Result<i64, String>, StoreError> {
                Ok(self.database.verify_audit_chain().await?)
            }

            /// All operator tokens: hash → name.
            pub async fn operator_tokens(
                &self,
            ) -> Result<std::collections::HashMap<String, String>, StoreError> {
                Ok(self.database.operator_tokens().await?)
            }

            /// The database under this store, for what is written once for every service's
            /// tables of the same shape (the consoles' accounts and sessions, in `console-kit`).
            pub fn database(&self) -> &$crate::database::Database {
                &self.database
            }

            /// Closes the pool (last step of shutdown).
            pub async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}
