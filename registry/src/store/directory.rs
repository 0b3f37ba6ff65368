//! The directory: enrolment tokens, certificates and revocations, endpoints, the signed
//! snapshot's version and settings.

use super::*;

impl Store {
    pub(super) async fn bump_version(
        transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE directory_version SET version = version + 1 WHERE id = 1")
            .execute(&mut **transaction)
            .await?;
        Ok(())
    }

    /// Records a one-time enrolment token for `county` and lists the county as pending.
    pub async fn create_enrollment_token(
        &self,
        county: &str,
        name: &str,
        token_sha256: &str,
        now_unix_ms: i64,
        expires_at_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        sqlx::query(
            "INSERT INTO enrollment_tokens (token_sha256, county, created_at_unix_ms, expires_at_unix_ms)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_sha256)
        .bind(county)
        .bind(now_unix_ms)
        .bind(expires_at_unix_ms)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "INSERT INTO nodes (county, name, status, updated_at_unix_ms) VALUES ($1, $2, 'pending', $3)
             ON CONFLICT (county) DO UPDATE SET name = CASE WHEN $2 = '' THEN nodes.name ELSE $2 END",
        )
        .bind(county)
        .bind(name)
        .bind(now_unix_ms)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// True when the token is valid for `county` now (checked again when it is redeemed).
    pub async fn enrollment_token_is_valid(
        &self,
        county: &str,
        token_sha256: &str,
        now_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT county FROM enrollment_tokens
             WHERE token_sha256 = $1 AND county = $2 AND used_at_unix_ms IS NULL AND expires_at_unix_ms > $3",
        )
        .bind(token_sha256)
        .bind(county)
        .bind(now_unix_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Redeems the token and makes `certificate` the county's current certificate, revoking any
    /// earlier one, all in one transaction. Fails if the token was redeemed meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_enrollment(
        &self,
        county: &str,
        token_sha256: &str,
        name: &str,
        endpoint: &str,
        certificate_pem: &str,
        certificate_sha256: &str,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        let redeemed = sqlx::query(
            "UPDATE enrollment_tokens SET used_at_unix_ms = $1
             WHERE token_sha256 = $2 AND county = $3 AND used_at_unix_ms IS NULL AND expires_at_unix_ms > $1",
        )
        .bind(now_unix_ms)
        .bind(token_sha256)
        .bind(county)
        .execute(&mut *transaction)
        .await?;
        if redeemed.rows_affected() != 1 {
            return Err(StoreError::TokenInvalid);
        }
        Self::install_certificate(
            &mut transaction,
            county,
            name,
            endpoint,
            certificate_pem,
            certificate_sha256,
            now_unix_ms,
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Records a certificate issued offline (`registry ca issue`) as the county's current one.
    pub async fn register_certificate(
        &self,
        county: &str,
        name: &str,
        certificate_pem: &str,
        certificate_sha256: &str,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        Self::install_certificate(
            &mut transaction,
            county,
            name,
            "",
            certificate_pem,
            certificate_sha256,
            now_unix_ms,
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    pub(super) async fn install_certificate(
        transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
        county: &str,
        name: &str,
        endpoint: &str,
        certificate_pem: &str,
        certificate_sha256: &str,
        now_unix_ms: i64,
    ) -> Result<(), sqlx::Error> {
        // A county has one current certificate: an earlier one is revoked as superseded.
        sqlx::query(
            "INSERT INTO revocations (certificate_sha256, county, revoked_at_unix_ms, reason)
             SELECT certificate_sha256, county, $1, 'superseded by re-enrolment' FROM nodes
             WHERE county = $2 AND certificate_sha256 <> '' AND certificate_sha256 <> $3
             ON CONFLICT (certificate_sha256) DO NOTHING",
        )
        .bind(now_unix_ms)
        .bind(county)
        .bind(certificate_sha256)
        .execute(&mut **transaction)
        .await?;
        sqlx::query(
            "INSERT INTO nodes (county, name, endpoint, certificate_sha256, certificate_pem, status,
                                enrolled_at_unix_ms, updated_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $6)
             ON CONFLICT (county) DO UPDATE SET
                name = CASE WHEN $2 = '' THEN nodes.name ELSE $2 END,
                endpoint = CASE WHEN $3 = '' THEN nodes.endpoint ELSE $3 END,
                certificate_sha256 = $4, certificate_pem = $5, status = 'active',
                enrolled_at_unix_ms = $6, updated_at_unix_ms = $6",
        )
        .bind(county)
        .bind(name)
        .bind(endpoint)
        .bind(certificate_sha256)
        .bind(certificate_pem)
        .bind(now_unix_ms)
        .execute(&mut **transaction)
        .await?;
        Self::bump_version(transaction).await
    }

    /// Revokes the county's current certificate. Returns the revoked fingerprint.
    pub async fn revoke_county(
        &self,
        county: &str,
        reason: &str,
        now_unix_ms: i64,
    ) -> Result<String, StoreError> {
        let mut transaction = self.database.begin().await?;
        let row = sqlx::query("SELECT certificate_sha256 FROM nodes WHERE county = $1")
            .bind(county)
            .fetch_optional(&mut *transaction)
            .await?
            .ok_or_else(|| StoreError::UnknownCounty(county.to_string()))?;
        let fingerprint: String = row.try_get("certificate_sha256")?;
        if !fingerprint.is_empty() {
            sqlx::query(
                "INSERT INTO revocations (certificate_sha256, county, revoked_at_unix_ms, reason)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (certificate_sha256) DO NOTHING",
            )
            .bind(&fingerprint)
            .bind(county)
            .bind(now_unix_ms)
            .bind(reason)
            .execute(&mut *transaction)
            .await?;
        }
        sqlx::query(
            "UPDATE nodes SET status = 'revoked', updated_at_unix_ms = $1 WHERE county = $2",
        )
        .bind(now_unix_ms)
        .bind(county)
        .execute(&mut *transaction)
        .await?;
        Self::bump_version(&mut transaction).await?;
        transaction.commit().await?;
        Ok(fingerprint)
    }

    /// Sets the county's published peer endpoint; returns the new directory version.
    pub async fn publish_endpoint(
        &self,
        county: &str,
        endpoint: &str,
        now_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut transaction = self.database.begin().await?;
        let updated = sqlx::query(
            "UPDATE nodes SET endpoint = $1, updated_at_unix_ms = $2 WHERE county = $3 AND endpoint <> $1",
        )
        .bind(endpoint)
        .bind(now_unix_ms)
        .bind(county)
        .execute(&mut *transaction)
        .await?;
        if updated.rows_affected() > 0 {
            Self::bump_version(&mut transaction).await?;
        }
        let version = Self::version_in(&mut transaction).await?;
        transaction.commit().await?;
        Ok(version)
    }

    pub(super) async fn version_in(
        transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<u64, sqlx::Error> {
        let row = sqlx::query("SELECT version FROM directory_version WHERE id = 1")
            .fetch_one(&mut **transaction)
            .await?;
        Ok(row.try_get::<i64, _>("version")?.max(0) as u64)
    }

    /// The directory's version and contents, read in one transaction so they agree.
    pub async fn directory(
        &self,
    ) -> Result<(u64, Vec<NodeRecord>, Vec<RevocationRecord>), StoreError> {
        let mut transaction = self.database.begin().await?;
        let version = Self::version_in(&mut transaction).await?;
        let nodes = sqlx::query(
            "SELECT county, name, endpoint, certificate_sha256, certificate_pem, status, enrolled_at_unix_ms, updated_at_unix_ms
             FROM nodes WHERE status <> 'pending' ORDER BY county",
        )
        .fetch_all(&mut *transaction)
        .await?
        .iter()
        .map(NodeRecord::from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let revocations = sqlx::query(
            "SELECT certificate_sha256, county, revoked_at_unix_ms, reason FROM revocations
             ORDER BY revoked_at_unix_ms, certificate_sha256",
        )
        .fetch_all(&mut *transaction)
        .await?
        .iter()
        .map(|row| {
            Ok(RevocationRecord {
                certificate_sha256: row.try_get("certificate_sha256")?,
                county: row.try_get("county")?,
                revoked_at_unix_ms: row.try_get("revoked_at_unix_ms")?,
                reason: row.try_get("reason")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        transaction.commit().await?;
        Ok((version, nodes, revocations))
    }

    /// Every node, pending ones included, for `registry nodes`.
    pub async fn list_nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT county, name, endpoint, certificate_sha256, certificate_pem, status, enrolled_at_unix_ms, updated_at_unix_ms
             FROM nodes ORDER BY county",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(NodeRecord::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Records the calendar and policy versions being published; when either changed, bumps the
    /// directory version in the same transaction so every node fetches them. Returns whether it
    /// changed.
    pub async fn publish_settings(
        &self,
        calendar_version: &str,
        policy_version: &str,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.database.begin().await?;
        let mut changed = false;
        for (name, value) in [
            ("calendar_version", calendar_version),
            ("policy_version", policy_version),
        ] {
            let current: Option<String> = sqlx::query("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *transaction)
                .await?
                .map(|row| row.try_get("value"))
                .transpose()?;
            if current.as_deref() != Some(value) {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2",
                )
                .bind(name)
                .bind(value)
                .execute(&mut *transaction)
                .await?;
                changed = true;
            }
        }
        if changed {
            Self::bump_version(&mut transaction).await?;
        }
        transaction.commit().await?;
        Ok(changed)
    }

    /// Deletes enrolment tokens that expired before `cutoff_unix_ms` (used or not).
    pub async fn delete_expired_enrollment_tokens(
        &self,
        cutoff_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM enrollment_tokens WHERE expires_at_unix_ms < $1")
            .bind(cutoff_unix_ms)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    /// Records a node's directory refresh: when, the version it held, its outbox and its
    /// recovery from a restore as it said. When it names a backup it was restored from other
    /// than the one it named before, raises a RESTORED province alert in the same transaction:
    /// once per county and backup (the alert's case id names both), however often or
    /// concurrently the node says it. Returns whether this refresh raised it.
    pub async fn record_node_contact(&self, contact: &NodeContact) -> Result<bool, StoreError> {
        let mut transaction = self.database.begin().await?;
        let named_before: Option<i64> =
            sqlx::query("SELECT restored_backup_of_unix_ms FROM node_contacts WHERE county = $1")
                .bind(&contact.county)
                .fetch_optional(&mut *transaction)
                .await?
                .map(|row| row.try_get("restored_backup_of_unix_ms"))
                .transpose()?;
        sqlx::query(
            "INSERT INTO node_contacts (county, seen_at_unix_ms, directory_version, outbox_pending,
               oldest_pending_unix_ms, restored_backup_of_unix_ms, recovery_peers_pending,
               recovery_replayed, recovery_rebuilt, recovery_needs_clerk)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (county) DO UPDATE SET seen_at_unix_ms = $2, directory_version = $3,
               outbox_pending = $4, oldest_pending_unix_ms = $5, restored_backup_of_unix_ms = $6,
               recovery_peers_pending = $7, recovery_replayed = $8, recovery_rebuilt = $9,
               recovery_needs_clerk = $10",
        )
        .bind(&contact.county)
        .bind(contact.seen_at_unix_ms)
        .bind(contact.directory_version)
        .bind(contact.outbox_pending)
        .bind(contact.oldest_pending_unix_ms)
        .bind(contact.restored_backup_of_unix_ms)
        .bind(contact.recovery_peers_pending)
        .bind(contact.recovery_replayed)
        .bind(contact.recovery_rebuilt)
        .bind(contact.recovery_needs_clerk)
        .execute(&mut *transaction)
        .await?;
        let recovery = contact.recovery();
        let mut raised = false;
        if recovery.restored() && named_before != Some(recovery.backup_of_unix_ms) {
            let directory_name: String = sqlx::query("SELECT name FROM nodes WHERE county = $1")
                .bind(&contact.county)
                .fetch_optional(&mut *transaction)
                .await?
                .map(|row| row.try_get("name"))
                .transpose()?
                .unwrap_or_default();
            let alert =
                crate::compliance::restore_alert(&contact.county, &directory_name, &recovery);
            raised = insert_alert(
                &mut transaction,
                &crate::compliance::restore_case_id(&contact.county, recovery.backup_of_unix_ms),
                &alert,
                0,
                contact.seen_at_unix_ms,
            )
            .await?
                > 0;
        }
        transaction.commit().await?;
        Ok(raised)
    }

    /// A node's last directory refresh, if it ever refreshed.
    pub async fn node_contact(&self, county: &str) -> Result<Option<NodeContact>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT county, seen_at_unix_ms, directory_version, outbox_pending,
                    oldest_pending_unix_ms, restored_backup_of_unix_ms, recovery_peers_pending,
                    recovery_replayed, recovery_rebuilt, recovery_needs_clerk
             FROM node_contacts WHERE county = $1",
        )
        .bind(county)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// A node's last directory refresh as the registry saw it (columns by field name).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct NodeContact {
    pub county: String,
    pub seen_at_unix_ms: i64,
    /// The directory version the node held when it asked.
    pub directory_version: i64,
    /// Messages queued in its outbox, as it said.
    pub outbox_pending: i64,
    /// When the oldest of them was queued (0: none).
    pub oldest_pending_unix_ms: i64,
    /// The instant of the newest record in the backup it was restored from (0: never restored,
    /// or an older node that does not say).
    pub restored_backup_of_unix_ms: i64,
    /// Its recovery from its peers since that restore: peers still to answer, messages they
    /// replayed, its own sent messages rebuilt, items a clerk must look at.
    pub recovery_peers_pending: i64,
    pub recovery_replayed: i64,
    pub recovery_rebuilt: i64,
    pub recovery_needs_clerk: i64,
}

impl NodeContact {
    /// Its restore and recovery, as the compliance core takes them.
    pub fn recovery(&self) -> crate::compliance::Recovery {
        crate::compliance::Recovery {
            backup_of_unix_ms: self.restored_backup_of_unix_ms,
            peers_pending: self.recovery_peers_pending,
            replayed: self.recovery_replayed,
            rebuilt: self.recovery_rebuilt,
            needs_clerk: self.recovery_needs_clerk,
        }
    }
}
