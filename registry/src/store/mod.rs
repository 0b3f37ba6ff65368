//! All SQL of the registry, behind [`Store`]. Portable SQL over `sqlx::Any`, so SQLite and
//! PostgreSQL run the same statements; migrations are kept per backend.

use mpx_proto::runtime::{Database, DatabaseError, open_database};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::compliance::{
    CaseRecord, CountyOverdue, DueGroup, DueTally, OverdueTally, RaisedAlert, Verification,
};

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Open(#[from] DatabaseError),
    #[error("the enrolment token is unknown, used, expired, or for another county")]
    TokenInvalid,
    #[error("county {0} is not in the directory")]
    UnknownCounty(String),
}

/// One node as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub county: String,
    pub certificate_pem: String,
    pub name: String,
    pub endpoint: String,
    pub certificate_sha256: String,
    pub status: String,
    pub enrolled_at_unix_ms: i64,
    pub updated_at_unix_ms: i64,
}

/// A revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    pub certificate_sha256: String,
    pub county: String,
    pub revoked_at_unix_ms: i64,
    pub reason: String,
}

/// Handle to the registry's database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    database: Database,
    pool: AnyPool,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

fn node_from_row(row: &AnyRow) -> Result<NodeRecord, sqlx::Error> {
    Ok(NodeRecord {
        county: row.try_get("county")?,
        certificate_pem: row.try_get("certificate_pem")?,
        name: row.try_get("name")?,
        endpoint: row.try_get("endpoint")?,
        certificate_sha256: row.try_get("certificate_sha256")?,
        status: row.try_get("status")?,
        enrolled_at_unix_ms: row.try_get("enrolled_at_unix_ms")?,
        updated_at_unix_ms: row.try_get("updated_at_unix_ms")?,
    })
}

impl Store {
    /// Connects (`sqlite://PATH?mode=rwc` or `postgres://…`) and migrates.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let database = open_database(url, &SQLITE_MIGRATIONS, &POSTGRES_MIGRATIONS).await?;
        Ok(Self {
            pool: database.pool.clone(),
            database,
        })
    }

    /// Takes or renews a lease (see [`Database::try_lease`]).
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

    /// Closes the pool (last step of shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn bump_version(
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

    async fn install_certificate(
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

    async fn version_in(
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
        .map(node_from_row)
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
        Ok(rows.iter().map(node_from_row).collect::<Result<_, _>>()?)
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

    /// Records escalations reported by `reporter` (idempotent per case and reporter). Returns
    /// how many were new.
    pub async fn record_escalations(
        &self,
        reporter: &str,
        reports: &[mpx_proto::v1::EscalationReport],
        now_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut transaction = self.database.begin().await?;
        let mut recorded = 0;
        for report in reports {
            let result = sqlx::query(
                "INSERT INTO escalations (case_id, reporter_county, case_kind, requester_county, recipient_county,
                    delivered_at_unix_ms, due_at_unix_ms, escalated_at_unix_ms, direction, detail, received_at_unix_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (case_id, reporter_county) DO NOTHING",
            )
            .bind(&report.case_id)
            .bind(reporter)
            .bind(&report.case_kind)
            .bind(&report.requester_county)
            .bind(&report.recipient_county)
            .bind(report.delivered_at_unix_ms)
            .bind(report.due_at_unix_ms)
            .bind(report.escalated_at_unix_ms)
            .bind(&report.direction)
            .bind(&report.detail)
            .bind(now_unix_ms)
            .execute(&mut *transaction)
            .await?;
            recorded += result.rows_affected();
            if result.rows_affected() > 0 {
                let alert = RaisedAlert {
                    kind: "ESCALATED",
                    county: report.recipient_county.clone(),
                    counterpart_county: report.requester_county.clone(),
                    detail: format!("escalated by county {reporter}: {}", report.detail),
                };
                insert_alert(
                    &mut transaction,
                    &report.case_id,
                    &alert,
                    report.due_at_unix_ms,
                    now_unix_ms,
                )
                .await?;
            }
        }
        transaction.commit().await?;
        Ok(recorded)
    }

    /// Reported escalations, newest first: (reporter, report).
    pub async fn escalations(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, mpx_proto::v1::EscalationReport)>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, reporter_county, case_kind, requester_county, recipient_county, delivered_at_unix_ms,
                    due_at_unix_ms, escalated_at_unix_ms, direction, detail
             FROM escalations ORDER BY escalated_at_unix_ms DESC, case_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("reporter_county")?,
                    mpx_proto::v1::EscalationReport {
                        case_id: row.try_get("case_id")?,
                        case_kind: row.try_get("case_kind")?,
                        requester_county: row.try_get("requester_county")?,
                        recipient_county: row.try_get("recipient_county")?,
                        delivered_at_unix_ms: row.try_get("delivered_at_unix_ms")?,
                        due_at_unix_ms: row.try_get("due_at_unix_ms")?,
                        escalated_at_unix_ms: row.try_get("escalated_at_unix_ms")?,
                        direction: row.try_get("direction")?,
                        detail: row.try_get("detail")?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Appends an entry to the audit hash chain (who asked what, why, how many rows).
    pub async fn audit(
        &self,
        operator: &str,
        action: &str,
        purpose: &str,
        subject: &str,
        rows: i64,
    ) -> Result<(), StoreError> {
        Ok(self
            .database
            .append_audit(operator, action, purpose, subject, rows)
            .await?)
    }

    /// Recomputes the audit chain: `Ok(n)` when intact, else what is wrong.
    pub async fn verify_audit_chain(&self) -> Result<Result<i64, String>, StoreError> {
        Ok(self.database.verify_audit_chain().await?)
    }

    /// The highest change sequence stored for `county`'s roster stream.
    pub async fn index_cursor(&self, county: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT acknowledged_seq FROM index_cursors WHERE county = $1")
            .bind(county)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| row.try_get("acknowledged_seq"))
            .transpose()?
            .unwrap_or(0))
    }

    /// Stores roster changes reported by `county` (newer sequence numbers win) and advances its
    /// cursor, in one transaction. Returns the new cursor.
    pub async fn record_roster_changes(
        &self,
        county: &str,
        changes: &[mpx_proto::v1::RosterChange],
        now_unix_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut transaction = self.database.begin().await?;
        let highest = changes.iter().map(|c| c.seq).max().unwrap_or(0).max(0);
        // One row per person (the newest change of the call: one statement may not update a
        // row twice), 200 rows a statement; a stored newer change still wins.
        let mut newest: std::collections::HashMap<&str, &mpx_proto::v1::RosterChange> =
            std::collections::HashMap::with_capacity(changes.len());
        for change in changes {
            let entry = newest.entry(change.resident_id.as_str()).or_insert(change);
            if change.seq > entry.seq {
                *entry = change;
            }
        }
        let mut rows: Vec<&mpx_proto::v1::RosterChange> = newest.into_values().collect();
        rows.sort_by_key(|c| c.seq);
        for part in rows.chunks(200) {
            let sql = format!(
                "INSERT INTO index_entries (resident_id, reporter_county, name, hukou_county, residence_county,
                    status, since, change_seq, reported_at_unix_ms)
                 VALUES {}
                 ON CONFLICT (resident_id, reporter_county) DO UPDATE SET
                    name = excluded.name, hukou_county = excluded.hukou_county,
                    residence_county = excluded.residence_county, status = excluded.status,
                    since = excluded.since, change_seq = excluded.change_seq,
                    reported_at_unix_ms = excluded.reported_at_unix_ms
                 WHERE index_entries.change_seq < excluded.change_seq",
                mpx_proto::runtime::value_rows(part.len(), 9, self.database.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for change in part {
                let status = mpx_proto::v1::PersonStatus::try_from(change.status)
                    .map(|s| s.as_str_name())
                    .unwrap_or("PERSON_STATUS_UNSPECIFIED");
                query = query
                    .bind(change.resident_id.clone())
                    .bind(county.to_string())
                    .bind(change.name.clone())
                    .bind(change.hukou_county.clone())
                    .bind(change.residence_county.clone())
                    .bind(status)
                    .bind(change.since.clone())
                    .bind(change.seq)
                    .bind(now_unix_ms);
            }
            query.execute(&mut *transaction).await?;
        }
        let cursor = advance_cursor(&mut transaction, "index_cursors", county, highest).await?;
        transaction.commit().await?;
        Ok(cursor)
    }

    /// Per county (reporter): residing, inflow (residing with hukou elsewhere), outflow (own hukou
    /// people reported living elsewhere or gone out).
    pub async fn county_counts(&self) -> Result<Vec<mpx_proto::v1::CountyCounts>, StoreError> {
        let rows = sqlx::query(
            "SELECT reporter_county,
                SUM(CASE WHEN status = 'PERSON_STATUS_RESIDING' THEN 1 ELSE 0 END) AS residing,
                SUM(CASE WHEN status = 'PERSON_STATUS_RESIDING' AND hukou_county <> reporter_county THEN 1 ELSE 0 END) AS inflow,
                SUM(CASE WHEN hukou_county = reporter_county
                          AND status IN ('PERSON_STATUS_LIVING_ELSEWHERE', 'PERSON_STATUS_WHEREABOUTS_UNKNOWN')
                         THEN 1 ELSE 0 END) AS outflow
             FROM index_entries GROUP BY reporter_county ORDER BY reporter_county",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(mpx_proto::v1::CountyCounts {
                    county: row.try_get("reporter_county")?,
                    residing: row.try_get("residing")?,
                    inflow: row.try_get("inflow")?,
                    outflow: row.try_get("outflow")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// People listed as residing by two or more counties.
    pub async fn conflicts(&self, limit: u32) -> Result<Vec<mpx_proto::v1::Conflict>, StoreError> {
        let rows = sqlx::query(
            "SELECT resident_id, reporter_county, name FROM index_entries
             WHERE status = 'PERSON_STATUS_RESIDING' AND resident_id IN (
                SELECT resident_id FROM index_entries WHERE status = 'PERSON_STATUS_RESIDING'
                GROUP BY resident_id HAVING COUNT(*) > 1 ORDER BY resident_id LIMIT $1)
             ORDER BY resident_id, reporter_county",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut conflicts: Vec<mpx_proto::v1::Conflict> = Vec::new();
        for row in &rows {
            let resident_id: String = row.try_get("resident_id")?;
            let county: String = row.try_get("reporter_county")?;
            match conflicts.last_mut() {
                Some(last) if last.resident_id == resident_id => last.counties.push(county),
                _ => conflicts.push(mpx_proto::v1::Conflict {
                    resident_id,
                    name: row.try_get("name")?,
                    counties: vec![county],
                }),
            }
        }
        Ok(conflicts)
    }

    /// People their hukou county lists as gone out since `cutoff_date` or earlier, whom no county
    /// reports as residing.
    pub async fn untracked(
        &self,
        cutoff_date: &str,
        limit: u32,
    ) -> Result<Vec<mpx_proto::v1::UntrackedPerson>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.resident_id, e.name, e.hukou_county, e.since, e.residence_county FROM index_entries e
             WHERE e.reporter_county = e.hukou_county
               AND e.status IN ('PERSON_STATUS_WHEREABOUTS_UNKNOWN', 'PERSON_STATUS_LIVING_ELSEWHERE')
               AND e.since <> '' AND e.since <= $1
               AND NOT EXISTS (SELECT 1 FROM index_entries r
                               WHERE r.resident_id = e.resident_id AND r.status = 'PERSON_STATUS_RESIDING')
             ORDER BY e.since, e.resident_id LIMIT $2",
        )
        .bind(cutoff_date)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(mpx_proto::v1::UntrackedPerson {
                    resident_id: row.try_get("resident_id")?,
                    name: row.try_get("name")?,
                    hukou_county: row.try_get("hukou_county")?,
                    since: row.try_get("since")?,
                    last_known_residence: row.try_get("residence_county")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Arrivals between two dates (inclusive) by (hukou county, residence county, count).
    pub async fn flows(
        &self,
        from_date: &str,
        to_date: &str,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT hukou_county, reporter_county, COUNT(*) AS n FROM index_entries
             WHERE status = 'PERSON_STATUS_RESIDING' AND hukou_county <> reporter_county
               AND since >= $1 AND since <= $2
             GROUP BY hukou_county, reporter_county ORDER BY hukou_county, reporter_county",
        )
        .bind(from_date)
        .bind(to_date)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("hukou_county")?,
                    row.try_get("reporter_county")?,
                    row.try_get("n")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Every county's report about one person.
    pub async fn locate(
        &self,
        resident_id: &str,
    ) -> Result<Vec<mpx_proto::v1::IndexReport>, StoreError> {
        let rows = sqlx::query(
            "SELECT reporter_county, name, hukou_county, residence_county, status, since, reported_at_unix_ms
             FROM index_entries WHERE resident_id = $1 ORDER BY reporter_county",
        )
        .bind(resident_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                Ok(mpx_proto::v1::IndexReport {
                    reporting_county: row.try_get("reporter_county")?,
                    name: row.try_get("name")?,
                    hukou_county: row.try_get("hukou_county")?,
                    residence_county: row.try_get("residence_county")?,
                    status: mpx_proto::v1::PersonStatus::from_str_name(&status).unwrap_or_default()
                        as i32,
                    since: row.try_get("since")?,
                    reported_at_unix_ms: row.try_get("reported_at_unix_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
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

    /// Adds a named operator token (its hash).
    pub async fn add_operator_token(
        &self,
        name: &str,
        token_sha256: &str,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
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
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT token_sha256, name FROM operator_tokens")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("token_sha256")?, row.try_get("name")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// SQL of the report's rules (`compliance::answered_by`, `counts_in_report`, `dispute_of`,
/// `is_open_overdue`), with `$3` the report's instant and `$4` the latest instant old enough to
/// be disputed (in the open-overdue query the instant is `$1`).
const ANSWERED: &str = "(responded_at_unix_ms > 0 AND responded_at_unix_ms <= $3)";
const COUNTS_IN_REPORT: &str = "(due_at_unix_ms > 0 AND requester_reported_at_unix_ms > 0
    AND (delivered_at_unix_ms > 0 OR (length(requester_county) = 6 AND substr(requester_county, 3) = '0000'))
    AND delivered_at_unix_ms <= $3
    AND NOT (withdrawn_at_unix_ms > 0 AND withdrawn_at_unix_ms <= $3
             AND withdrawn_at_unix_ms < due_at_unix_ms
             AND NOT (responded_at_unix_ms > 0 AND responded_at_unix_ms <= $3
                      AND responded_at_unix_ms <= withdrawn_at_unix_ms))
    AND (due_at_unix_ms <= $3 OR (responded_at_unix_ms > 0 AND responded_at_unix_ms <= $3)))";
const DISPUTED: &str = "(dispute <> ''
    OR (response_by_recipient <> 0 AND response_by_requester = 0
        AND requester_reported_at_unix_ms > 0
        AND NOT (length(requester_county) = 6 AND substr(requester_county, 3) = '0000')
        AND responded_at_unix_ms <= $4)
    OR (receipt_by_recipient <> 0 AND receipt_by_requester = 0
        AND requester_reported_at_unix_ms > 0
        AND NOT (length(requester_county) = 6 AND substr(requester_county, 3) = '0000')
        AND delivered_at_unix_ms <= $4)
    OR ((length(requester_county) = 6 AND substr(requester_county, 3) = '0000')
        AND delivered_at_unix_ms = 0 AND opened_at_unix_ms <= $4))";
const OPEN_OVERDUE: &str = "(requester_reported_at_unix_ms > 0 AND due_at_unix_ms > 0
    AND due_at_unix_ms <= $1
    AND (responded_at_unix_ms <= 0 OR responded_at_unix_ms > $1)
    AND NOT (withdrawn_at_unix_ms > 0 AND withdrawn_at_unix_ms <= $1)
    AND NOT (closed_at_unix_ms > 0 AND closed_at_unix_ms <= $1))";

/// `columns` of the cases open past due as of `$1`, as two index ranges of `compliance_open`
/// (never answered; answered after `$1`) rather than one OR the planner may answer with a scan
/// of every case.
fn open_overdue_rows(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM compliance_cases
         WHERE responded_at_unix_ms <= 0 AND {OPEN_OVERDUE}
         UNION ALL
         SELECT {columns} FROM compliance_cases
         WHERE responded_at_unix_ms > $1 AND {OPEN_OVERDUE}"
    )
}

const COMPLIANCE_COLUMNS: &str =
    "case_id, kind, priority, requester_county, recipient_county, parent_case_id,
    opened_at_unix_ms, delivered_at_unix_ms, due_at_unix_ms, due_date, acceptance_due_at_unix_ms,
    accepted_at_unix_ms, responded_at_unix_ms, response_outcome, response_working_days,
    withdrawn_at_unix_ms, closed_at_unix_ms, extended_due_at_unix_ms, reminders,
    receipt_by_requester, receipt_by_recipient, response_by_requester, response_by_recipient,
    requester_reported_at_unix_ms, recipient_reported_at_unix_ms, dispute";

fn compliance_from_row(row: &AnyRow) -> Result<CaseRecord, sqlx::Error> {
    let flag = |name: &str| row.try_get::<i64, _>(name).map(|v| v != 0);
    Ok(CaseRecord {
        case_id: row.try_get("case_id")?,
        kind: row.try_get("kind")?,
        priority: row.try_get("priority")?,
        requester_county: row.try_get("requester_county")?,
        recipient_county: row.try_get("recipient_county")?,
        parent_case_id: row.try_get("parent_case_id")?,
        opened_at_unix_ms: row.try_get("opened_at_unix_ms")?,
        delivered_at_unix_ms: row.try_get("delivered_at_unix_ms")?,
        due_at_unix_ms: row.try_get("due_at_unix_ms")?,
        due_date: row.try_get("due_date")?,
        acceptance_due_at_unix_ms: row.try_get("acceptance_due_at_unix_ms")?,
        accepted_at_unix_ms: row.try_get("accepted_at_unix_ms")?,
        responded_at_unix_ms: row.try_get("responded_at_unix_ms")?,
        response_outcome: row.try_get("response_outcome")?,
        response_working_days: row.try_get("response_working_days")?,
        withdrawn_at_unix_ms: row.try_get("withdrawn_at_unix_ms")?,
        closed_at_unix_ms: row.try_get("closed_at_unix_ms")?,
        extended_due_at_unix_ms: row.try_get("extended_due_at_unix_ms")?,
        reminders: row.try_get("reminders")?,
        receipt_by_requester: flag("receipt_by_requester")?,
        receipt_by_recipient: flag("receipt_by_recipient")?,
        response_by_requester: flag("response_by_requester")?,
        response_by_recipient: flag("response_by_recipient")?,
        requester_reported_at_unix_ms: row.try_get("requester_reported_at_unix_ms")?,
        recipient_reported_at_unix_ms: row.try_get("recipient_reported_at_unix_ms")?,
        dispute: row.try_get("dispute")?,
    })
}

fn alert_from_row(row: &AnyRow) -> Result<mpx_proto::v1::ProvinceAlert, sqlx::Error> {
    Ok(mpx_proto::v1::ProvinceAlert {
        alert_id: row.try_get("alert_id")?,
        kind: row.try_get("kind")?,
        case_id: row.try_get("case_id")?,
        county: row.try_get("county")?,
        counterpart_county: row.try_get("counterpart_county")?,
        raised_at_unix_ms: row.try_get("raised_at_unix_ms")?,
        due_at_unix_ms: row.try_get("due_at_unix_ms")?,
        detail: row.try_get("detail")?,
    })
}

async fn insert_alert(
    executor: &mut sqlx::AnyConnection,
    case_id: &str,
    alert: &RaisedAlert,
    due_at_unix_ms: i64,
    now_unix_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO province_alerts (kind, case_id, county, counterpart_county, raised_at_unix_ms,
            due_at_unix_ms, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id, kind) DO NOTHING",
    )
    .bind(alert.kind)
    .bind(case_id)
    .bind(&alert.county)
    .bind(&alert.counterpart_county)
    .bind(now_unix_ms)
    .bind(due_at_unix_ms)
    .bind(&alert.detail)
    .execute(executor)
    .await?;
    Ok(())
}

/// Moves `county`'s cursor in `table` (`index_cursors` or `case_report_cursors`) up to
/// `highest` (never down) and returns where it stands.
async fn advance_cursor(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &'static str,
    county: &str,
    highest: i64,
) -> Result<i64, sqlx::Error> {
    let upsert = format!(
        "INSERT INTO {table} (county, acknowledged_seq) VALUES ($1, $2)
         ON CONFLICT (county) DO UPDATE SET acknowledged_seq = $2 WHERE {table}.acknowledged_seq < $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(upsert))
        .bind(county)
        .bind(highest)
        .execute(&mut **transaction)
        .await?;
    let select = format!("SELECT acknowledged_seq FROM {table} WHERE county = $1");
    sqlx::query(sqlx::AssertSqlSafe(select))
        .bind(county)
        .fetch_one(&mut **transaction)
        .await?
        .try_get("acknowledged_seq")
}

/// Compliance: case events in, figures and alerts out.
impl Store {
    /// The highest case-event sequence stored for `county`.
    pub async fn case_report_cursor(&self, county: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT acknowledged_seq FROM case_report_cursors WHERE county = $1")
            .bind(county)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| row.try_get("acknowledged_seq"))
            .transpose()?
            .unwrap_or(0))
    }

    /// Stores case events reported by `reporter` (each with the verdict on its evidence), folds
    /// the new ones into their cases, raises the alerts that causes, and advances the cursor, in
    /// one transaction. A report already stored (same reporter and sequence) is skipped, so a
    /// resend changes nothing. Returns the new cursor.
    pub async fn record_case_events(
        &self,
        reporter: &str,
        reports: &[(mpx_proto::v1::CaseEventReport, Verification)],
        highest_seq: i64,
        rules: &crate::compliance::Rules<'_>,
        now_unix_ms: i64,
    ) -> Result<(i64, Vec<mpx_proto::v1::EventRejection>), StoreError> {
        use prost::Message;
        let mut transaction = self.database.begin().await?;
        let select =
            format!("SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases WHERE case_id = $1");
        let highest = reports
            .iter()
            .map(|(r, _)| r.seq)
            .max()
            .unwrap_or(0)
            .max(highest_seq);
        // Cases in one order in every transaction (no deadlock between the two sides' batches),
        // each case's events in the reporter's order.
        let mut ordered: Vec<&(mpx_proto::v1::CaseEventReport, Verification)> =
            reports.iter().collect();
        ordered.sort_by(|a, b| (&a.0.case_id, a.0.seq).cmp(&(&b.0.case_id, b.0.seq)));
        let mut refusals = Vec::new();
        for (report, verification) in ordered {
            let inserted = sqlx::query(
                "INSERT INTO case_reports (reporter_county, seq, case_id, event, report, verification,
                    received_at_unix_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (reporter_county, seq) DO NOTHING",
            )
            .bind(reporter)
            .bind(report.seq)
            .bind(&report.case_id)
            .bind(&report.event)
            .bind(report.encode_to_vec())
            .bind(verification.label())
            .bind(now_unix_ms)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if inserted == 0 {
                continue;
            }
            // SQLite serialises writers (BEGIN IMMEDIATE); on PostgreSQL both sides' first
            // reports of a case may race before its row exists, so merges of one case take a
            // transaction-scoped lock on its id.
            if !self.database.is_sqlite {
                sqlx::query(
                    "SELECT CAST(1 AS BIGINT) AS locked FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS l",
                )
                .bind(&report.case_id)
                .fetch_one(&mut *transaction)
                .await?;
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(&report.case_id)
                .fetch_optional(&mut *transaction)
                .await?;
            let mut record = row
                .as_ref()
                .map(compliance_from_row)
                .transpose()?
                .unwrap_or_default();
            let merged =
                crate::compliance::merge(&mut record, reporter, report, verification, rules);
            match &merged.refused {
                Some(why) => {
                    if !matches!(verification, Verification::Rejected(_)) {
                        sqlx::query(
                        "UPDATE case_reports SET verification = $1 WHERE reporter_county = $2 AND seq = $3",
                    )
                        .bind(format!("refused: {why}"))
                        .bind(reporter)
                        .bind(report.seq)
                        .execute(&mut *transaction)
                        .await?;
                    }
                    refusals.push(mpx_proto::v1::EventRejection {
                        seq: report.seq,
                        reason: why.clone(),
                    });
                }
                None => {
                    self.save_compliance_case(&mut transaction, &record, now_unix_ms)
                        .await?
                }
            }
            for alert in &merged.alerts {
                insert_alert(
                    &mut transaction,
                    &report.case_id,
                    alert,
                    record.due_at_unix_ms,
                    now_unix_ms,
                )
                .await?;
            }
        }
        let cursor =
            advance_cursor(&mut transaction, "case_report_cursors", reporter, highest).await?;
        transaction.commit().await?;
        Ok((cursor, refusals))
    }

    /// Writes provincial case rows as given (replacing any with the same id), in one
    /// transaction: for restoring from another registry's export and for tests of the report.
    pub async fn put_compliance_cases(
        &self,
        records: &[CaseRecord],
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.database.begin().await?;
        for record in records {
            sqlx::query("DELETE FROM compliance_cases WHERE case_id = $1")
                .bind(&record.case_id)
                .execute(&mut *transaction)
                .await?;
            self.save_compliance_case(&mut transaction, record, now_unix_ms)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn save_compliance_case(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
        record: &CaseRecord,
        now_unix_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO compliance_cases (case_id, kind, priority, requester_county, recipient_county,
                parent_case_id, opened_at_unix_ms, delivered_at_unix_ms, due_at_unix_ms, due_date,
                acceptance_due_at_unix_ms, accepted_at_unix_ms, responded_at_unix_ms, response_outcome,
                response_working_days, withdrawn_at_unix_ms, closed_at_unix_ms, extended_due_at_unix_ms,
                reminders, receipt_by_requester, receipt_by_recipient, response_by_requester,
                response_by_recipient, requester_reported_at_unix_ms, recipient_reported_at_unix_ms,
                dispute, updated_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                     $19, $20, $21, $22, $23, $24, $25, $26, $27)
             ON CONFLICT (case_id) DO UPDATE SET
                opened_at_unix_ms = $7, delivered_at_unix_ms = $8, due_at_unix_ms = $9, due_date = $10,
                acceptance_due_at_unix_ms = $11, accepted_at_unix_ms = $12, responded_at_unix_ms = $13,
                response_outcome = $14, response_working_days = $15, withdrawn_at_unix_ms = $16,
                closed_at_unix_ms = $17, extended_due_at_unix_ms = $18, reminders = $19,
                receipt_by_requester = $20, receipt_by_recipient = $21, response_by_requester = $22,
                response_by_recipient = $23, requester_reported_at_unix_ms = $24,
                recipient_reported_at_unix_ms = $25, dispute = $26, updated_at_unix_ms = $27",
        )
        .bind(&record.case_id)
        .bind(&record.kind)
        .bind(&record.priority)
        .bind(&record.requester_county)
        .bind(&record.recipient_county)
        .bind(&record.parent_case_id)
        .bind(record.opened_at_unix_ms)
        .bind(record.delivered_at_unix_ms)
        .bind(record.due_at_unix_ms)
        .bind(&record.due_date)
        .bind(record.acceptance_due_at_unix_ms)
        .bind(record.accepted_at_unix_ms)
        .bind(record.responded_at_unix_ms)
        .bind(&record.response_outcome)
        .bind(record.response_working_days)
        .bind(record.withdrawn_at_unix_ms)
        .bind(record.closed_at_unix_ms)
        .bind(record.extended_due_at_unix_ms)
        .bind(record.reminders)
        .bind(i64::from(record.receipt_by_requester))
        .bind(i64::from(record.receipt_by_recipient))
        .bind(i64::from(record.response_by_requester))
        .bind(i64::from(record.response_by_recipient))
        .bind(record.requester_reported_at_unix_ms)
        .bind(record.recipient_reported_at_unix_ms)
        .bind(&record.dispute)
        .bind(now_unix_ms)
        .execute(&mut **transaction)
        .await?;
        Ok(())
    }

    /// The report's tally of the cases due in `[start, end)` (YYYY-MM-DD) as of `as_of`: one
    /// `GROUP BY` over the period for the undisputed cases, and the disputed ones row by row.
    /// The predicates are those of `compliance::tally_due` (the reference it is tested against
    /// on both backends): a change to one is a change to both.
    pub async fn compliance_due_tally(
        &self,
        start: &str,
        end: &str,
        as_of_unix_ms: i64,
        grace_ms: i64,
    ) -> Result<DueTally, StoreError> {
        // $1 start, $2 end, $3 as of, $4 the latest instant old enough to be disputed.
        let older = as_of_unix_ms.saturating_sub(grace_ms.max(0));
        let groups_sql = format!(
            "SELECT recipient_county,
                CASE WHEN {ANSWERED} AND response_working_days >= 0 THEN response_working_days
                     ELSE -1 END AS days,
                COUNT(*) AS requests_due,
                SUM(CASE WHEN {ANSWERED} THEN 1 ELSE 0 END) AS responses,
                SUM(CASE WHEN {ANSWERED} AND responded_at_unix_ms < due_at_unix_ms
                    THEN 1 ELSE 0 END) AS timely,
                SUM(CASE WHEN acceptance_due_at_unix_ms > 0 THEN 1 ELSE 0 END) AS acceptance_due,
                SUM(CASE WHEN acceptance_due_at_unix_ms > 0 AND (
                        (accepted_at_unix_ms > 0 AND accepted_at_unix_ms <= $3
                         AND accepted_at_unix_ms < acceptance_due_at_unix_ms)
                     OR (responded_at_unix_ms > 0 AND responded_at_unix_ms <= $3
                         AND responded_at_unix_ms < acceptance_due_at_unix_ms))
                    THEN 1 ELSE 0 END) AS accepted_within_sla,
                SUM(CASE WHEN extended_due_at_unix_ms > 0 THEN 1 ELSE 0 END) AS extended,
                CASE WHEN {DISPUTED} THEN 1 ELSE 0 END AS disputed
             FROM compliance_cases
             WHERE due_date >= $1 AND due_date < $2 AND {COUNTS_IN_REPORT}
             GROUP BY 1, 2, 9
             ORDER BY 1, 2"
        );
        // Both queries take the same four parameters.
        let over_period = |sql: String| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(start)
                .bind(end)
                .bind(as_of_unix_ms)
                .bind(older)
        };
        let rows = over_period(groups_sql).fetch_all(&self.pool).await?;
        // Disputed cases are counted here only to know whether there are any: they are listed
        // one by one below.
        let mut any_disputed = false;
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<i64, _>(8)? != 0 {
                any_disputed = true;
                continue;
            }
            groups.push(DueGroup {
                county: row.try_get(0)?,
                response_working_days: row.try_get(1)?,
                requests_due: row.try_get(2)?,
                responses: row.try_get(3)?,
                timely: row.try_get(4)?,
                acceptance_due: row.try_get(5)?,
                accepted_within_sla: row.try_get(6)?,
                extended: row.try_get(7)?,
            });
        }
        if !any_disputed {
            return Ok(DueTally {
                groups,
                disputed: Vec::new(),
            });
        }
        let disputed_sql = format!(
            "SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases
             WHERE due_date >= $1 AND due_date < $2 AND {COUNTS_IN_REPORT} AND {DISPUTED}"
        );
        let rows = over_period(disputed_sql).fetch_all(&self.pool).await?;
        let mut disputed = rows
            .iter()
            .map(compliance_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        disputed.sort_by(|a, b| a.case_id.cmp(&b.case_id));
        Ok(DueTally { groups, disputed })
    }

    /// The report's tally of the cases open past their due date as of `as_of`: per responding
    /// county how many and the oldest, and the oldest `limit` (of `county` when given). The
    /// predicate is that of `compliance::is_open_overdue`.
    pub async fn compliance_overdue_tally(
        &self,
        as_of_unix_ms: i64,
        county: Option<&str>,
        limit: usize,
    ) -> Result<OverdueTally, StoreError> {
        // Per county: how many and the earliest due instant (the day too, for the index on
        // county and due day: the day follows the instant), and of the cases due at that
        // instant the least case id (case ids have one shape, so every collation orders them
        // bytewise); then those cases.
        let per_county_sql = format!(
            "SELECT per_county.county, per_county.open_count, MIN(case_id) AS oldest_id
             FROM compliance_cases
             JOIN (SELECT recipient_county AS county, MIN(due_at_unix_ms) AS oldest_due,
                          MIN(due_date) AS oldest_date, COUNT(*) AS open_count
                   FROM ({open_rows}) AS open_cases
                   GROUP BY recipient_county) AS per_county
               ON recipient_county = per_county.county AND due_date = per_county.oldest_date
                  AND due_at_unix_ms = per_county.oldest_due
             WHERE {OPEN_OVERDUE}
             GROUP BY per_county.county, per_county.open_count",
            open_rows = open_overdue_rows("recipient_county, due_at_unix_ms, due_date")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(per_county_sql))
            .bind(as_of_unix_ms)
            .fetch_all(&self.pool)
            .await?;
        // The oldest cases themselves, in one read (a county each).
        let mut oldest: std::collections::HashMap<String, CaseRecord> = Default::default();
        for part in rows.chunks(500) {
            let sql = format!(
                "SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases WHERE case_id IN {}",
                mpx_proto::runtime::value_rows(1, part.len(), self.database.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in part {
                query = query.bind(row.try_get::<String, _>("oldest_id")?);
            }
            for case in query.fetch_all(&self.pool).await? {
                let record = compliance_from_row(&case)?;
                oldest.insert(record.case_id.clone(), record);
            }
        }
        let mut per_county = Vec::with_capacity(rows.len());
        for row in &rows {
            let oldest_id: String = row.try_get("oldest_id")?;
            if let Some(record) = oldest.remove(&oldest_id) {
                per_county.push(CountyOverdue {
                    county: row.try_get("county")?,
                    open: row.try_get("open_count")?,
                    oldest: record,
                });
            }
        }
        per_county.sort_by(|a, b| a.county.cmp(&b.county));
        let listed_sql = format!(
            "SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases
             WHERE {OPEN_OVERDUE} AND ($2 = '' OR recipient_county = $2)
             ORDER BY due_at_unix_ms, case_id
             LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(listed_sql))
            .bind(as_of_unix_ms)
            .bind(county.unwrap_or(""))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let mut listed = rows
            .iter()
            .map(compliance_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // The database's collation may order case ids otherwise; the report's order is bytewise.
        listed.sort_by(|a, b| {
            a.due_at_unix_ms
                .cmp(&b.due_at_unix_ms)
                .then_with(|| a.case_id.cmp(&b.case_id))
        });
        Ok(OverdueTally { per_county, listed })
    }

    /// Ids of cases some county escalated.
    pub async fn escalated_case_ids(
        &self,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT case_id FROM escalations")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("case_id"))
            .collect::<Result<_, _>>()?)
    }

    /// Raises OVERDUE alerts for cases past due and unanswered, and DISPUTED alerts for
    /// one-sided evidence older than `grace_ms`. Each fires once per case. Returns how many.
    pub async fn scan_compliance_alerts(
        &self,
        now_unix_ms: i64,
        grace_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut transaction = self.database.begin().await?;
        let overdue = sqlx::query(
            "INSERT INTO province_alerts (kind, case_id, county, counterpart_county, raised_at_unix_ms,
                due_at_unix_ms, detail)
             SELECT 'OVERDUE', case_id, recipient_county, requester_county, $1, due_at_unix_ms,
                    'unanswered past its due date'
             FROM compliance_cases
             WHERE due_at_unix_ms > 0 AND due_at_unix_ms <= $1 AND responded_at_unix_ms = 0
               AND withdrawn_at_unix_ms = 0 AND closed_at_unix_ms = 0 AND dispute = ''
             ON CONFLICT (case_id, kind) DO NOTHING",
        )
        .bind(now_unix_ms)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        let sql = format!(
            "SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases
             WHERE dispute = '' AND requester_reported_at_unix_ms > 0
               AND ((response_by_recipient = 1 AND response_by_requester = 0
                     AND responded_at_unix_ms <= $1)
                 OR (receipt_by_recipient = 1 AND receipt_by_requester = 0
                     AND delivered_at_unix_ms <= $1))
               AND case_id NOT IN (SELECT case_id FROM province_alerts WHERE kind = 'DISPUTED')"
        );
        let candidates = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_unix_ms - grace_ms)
            .fetch_all(&mut *transaction)
            .await?;
        let mut disputed = 0;
        for row in &candidates {
            let record = compliance_from_row(row)?;
            if let Some(detail) = crate::compliance::dispute_of(&record, now_unix_ms, grace_ms) {
                let alert = RaisedAlert {
                    kind: "DISPUTED",
                    county: record.recipient_county.clone(),
                    counterpart_county: record.requester_county.clone(),
                    detail,
                };
                insert_alert(
                    &mut transaction,
                    &record.case_id,
                    &alert,
                    record.due_at_unix_ms,
                    now_unix_ms,
                )
                .await?;
                disputed += 1;
            }
        }
        transaction.commit().await?;
        Ok(overdue + disputed)
    }

    /// Province alerts after `after_id`, oldest first, optionally about one county.
    pub async fn province_alerts_after(
        &self,
        after_id: i64,
        county: Option<&str>,
        limit: u32,
    ) -> Result<Vec<mpx_proto::v1::ProvinceAlert>, StoreError> {
        let rows = sqlx::query(
            "SELECT alert_id, kind, case_id, county, counterpart_county, raised_at_unix_ms,
                    due_at_unix_ms, detail
             FROM province_alerts
             WHERE alert_id > $1 AND ($2 = '' OR county = $2 OR counterpart_county = $2)
             ORDER BY alert_id LIMIT $3",
        )
        .bind(after_id)
        .bind(county.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(alert_from_row).collect::<Result<_, _>>()?)
    }

    /// Everything reported about one case, oldest first, and the case's stored dispute.
    pub async fn case_evidence(
        &self,
        case_id: &str,
    ) -> Result<(Vec<mpx_proto::v1::StoredCaseEvent>, Option<CaseRecord>), StoreError> {
        use prost::Message;
        let rows = sqlx::query(
            "SELECT reporter_county, report, verification, received_at_unix_ms FROM case_reports
             WHERE case_id = $1 ORDER BY received_at_unix_ms, reporter_county, seq",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let bytes: Vec<u8> = row.try_get("report")?;
            events.push(mpx_proto::v1::StoredCaseEvent {
                reporter_county: row.try_get("reporter_county")?,
                received_at_unix_ms: row.try_get("received_at_unix_ms")?,
                report: mpx_proto::v1::CaseEventReport::decode(bytes.as_slice()).ok(),
                verification: row.try_get("verification")?,
            });
        }
        let sql = format!("SELECT {COMPLIANCE_COLUMNS} FROM compliance_cases WHERE case_id = $1");
        let record = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(case_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(compliance_from_row)
            .transpose()?;
        Ok((events, record))
    }
}

/// A case the province opens for one county.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    pub county: String,
    /// `conflict` or `untracked`.
    pub finding: &'static str,
    pub resident_id: String,
    pub subject_name: String,
    pub questions: String,
    /// `normal` or `urgent`.
    pub priority: &'static str,
}

/// Assignments: cases the province opens for counties.
impl Store {
    /// Stores the assignments whose county has no unanswered one about the same person and
    /// finding, in one transaction. Returns the opened ones and how many were skipped.
    pub async fn open_assignments(
        &self,
        assignments: &[NewAssignment],
        deadlines: &mpx_proto::policy::CaseDeadlines,
        operator: &str,
        purpose: &str,
        now_unix_ms: i64,
    ) -> Result<(Vec<mpx_proto::v1::OpenedCase>, u32), StoreError> {
        let mut transaction = self.database.begin().await?;
        let mut opened = Vec::new();
        let mut skipped = 0u32;
        for assignment in assignments {
            let open = sqlx::query(
                "SELECT a.case_id FROM assignments a
                 LEFT JOIN compliance_cases c ON c.case_id = a.case_id
                 WHERE a.county = $1 AND a.resident_id = $2 AND a.finding = $3
                   AND (c.case_id IS NULL OR (c.responded_at_unix_ms = 0 AND c.withdrawn_at_unix_ms = 0))
                 LIMIT 1",
            )
            .bind(&assignment.county)
            .bind(&assignment.resident_id)
            .bind(assignment.finding)
            .fetch_optional(&mut *transaction)
            .await?;
            if open.is_some() {
                skipped += 1;
                continue;
            }
            let case_id = uuid::Uuid::now_v7().to_string();
            sqlx::query(
                "INSERT INTO assignments (case_id, county, finding, resident_id, subject_name, questions,
                    priority, opened_by, purpose, opened_at_unix_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&case_id)
            .bind(&assignment.county)
            .bind(assignment.finding)
            .bind(&assignment.resident_id)
            .bind(&assignment.subject_name)
            .bind(&assignment.questions)
            .bind(assignment.priority)
            .bind(operator)
            .bind(purpose)
            .bind(now_unix_ms)
            .execute(&mut *transaction)
            .await?;
            // The province is the requester: its case is on record (and scored, overdue if the
            // county never takes it in) from now, with the province's deadlines until the
            // county's signed receipt replaces them.
            let record = CaseRecord {
                case_id: case_id.clone(),
                kind: "verification".into(),
                priority: assignment.priority.into(),
                requester_county: format!("{}0000", assignment.county.get(..2).unwrap_or("00")),
                recipient_county: assignment.county.clone(),
                opened_at_unix_ms: now_unix_ms,
                due_at_unix_ms: deadlines.due_at_unix_ms,
                due_date: crate::compliance::due_date_of(deadlines.due_at_unix_ms),
                acceptance_due_at_unix_ms: deadlines.acceptance_due_at_unix_ms,
                response_working_days: -1,
                requester_reported_at_unix_ms: now_unix_ms,
                ..Default::default()
            };
            self.save_compliance_case(&mut transaction, &record, now_unix_ms)
                .await?;
            opened.push(mpx_proto::v1::OpenedCase {
                case_id,
                county: assignment.county.clone(),
                resident_id: assignment.resident_id.clone(),
            });
        }
        transaction.commit().await?;
        Ok((opened, skipped))
    }

    /// `county`'s assignments after `after_seq`, oldest first.
    pub async fn assignments_after(
        &self,
        county: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<mpx_proto::v1::Assignment>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, case_id, resident_id, subject_name, questions, priority, opened_at_unix_ms
             FROM assignments WHERE county = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(county)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let requester = format!("{}0000", county.get(..2).unwrap_or("00"));
        rows.iter()
            .map(|row| {
                let priority: String = row.try_get("priority")?;
                Ok(mpx_proto::v1::Assignment {
                    seq: row.try_get("seq")?,
                    case_id: row.try_get("case_id")?,
                    requester: requester.clone(),
                    kind: mpx_proto::v1::CaseKind::Verification as i32,
                    priority: if priority == "urgent" {
                        mpx_proto::v1::CasePriority::Urgent as i32
                    } else {
                        mpx_proto::v1::CasePriority::Normal as i32
                    },
                    resident_id: row.try_get("resident_id")?,
                    subject_name: row.try_get("subject_name")?,
                    questions: row.try_get("questions")?,
                    opened_at_unix_ms: row.try_get("opened_at_unix_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// Streaming reads of the index.
impl Store {
    /// Calls `visit(resident_id, name, hukou, residence county)` for each person some county
    /// lists as residing, once per person (the first county by code when two claim them), in
    /// resident-ID order, without holding the index in memory. Returns how many.
    pub async fn each_residing_index_entry(
        &self,
        mut visit: impl FnMut(&str, &str, &str, &str),
    ) -> Result<u64, StoreError> {
        use tokio_stream::StreamExt;
        let mut rows = sqlx::query(
            "SELECT resident_id, name, hukou_county, reporter_county FROM index_entries
             WHERE status = 'PERSON_STATUS_RESIDING' ORDER BY resident_id, reporter_county",
        )
        .fetch(&self.pool);
        let mut last = String::new();
        let mut count = 0;
        while let Some(row) = rows.next().await {
            let row = row?;
            let id: String = row.try_get("resident_id")?;
            if id == last {
                continue;
            }
            let name: String = row.try_get("name")?;
            let hukou: String = row.try_get("hukou_county")?;
            let residence: String = row.try_get("reporter_county")?;
            visit(&id, &name, &hukou, &residence);
            count += 1;
            last = id;
        }
        Ok(count)
    }
}
