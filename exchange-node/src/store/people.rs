//! The roster: people read and written, one at a time or many rows a statement. Not here: the
//! roster changes shipped to the province (`reports`).

use super::*;

impl Store {
    pub async fn get_person(&self, resident_id: &str) -> Result<Option<v1::Person>, StoreError> {
        let sql = format!(
            "SELECT {} FROM people WHERE resident_id = $1",
            *PERSON_COLUMNS
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(resident_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(person_from_row).transpose()?)
    }

    /// People after `after_resident_id`, by resident ID, optionally of one status.
    pub async fn list_people(
        &self,
        status: Option<PersonStatus>,
        after_resident_id: &str,
        limit: u32,
    ) -> Result<Vec<v1::Person>, StoreError> {
        let sql = format!(
            "SELECT {} FROM people
             WHERE resident_id > $1 AND ($2 = '' OR status = $2)
             ORDER BY resident_id LIMIT $3",
            *PERSON_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after_resident_id)
            .bind(status.map(status_label).unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(person_from_row).collect::<Result<_, _>>()?)
    }

    /// People whose name is exactly `name`, by resident ID, at most `limit` (the console's
    /// search by name).
    pub async fn people_named(
        &self,
        name: &str,
        limit: u32,
    ) -> Result<Vec<v1::Person>, StoreError> {
        let sql = format!(
            "SELECT {} FROM people WHERE name = $1 ORDER BY resident_id LIMIT $2",
            *PERSON_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(person_from_row).collect::<Result<_, _>>()?)
    }

    /// A person's roster changes, newest first, at most `limit`: (status, since, residence
    /// county, hukou county, changed at).
    pub async fn roster_changes_of(
        &self,
        resident_id: &str,
        limit: u32,
    ) -> Result<Vec<(String, String, String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT status, since, residence_county, hukou_county, changed_at_unix_ms
             FROM roster_changes WHERE resident_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(resident_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// The cases about a person, newest first, at most `limit`: (case id, kind, direction,
    /// state, other county, opened at).
    pub async fn cases_about(
        &self,
        resident_id: &str,
        limit: u32,
    ) -> Result<Vec<(String, String, String, String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT case_id, kind, direction, state,
                    CASE WHEN direction = 'inbound' THEN requester_county ELSE recipient_county END,
                    opened_at_unix_ms
             FROM cases WHERE resident_id = $1 ORDER BY opened_at_unix_ms DESC LIMIT $2",
        )
        .bind(resident_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}

impl StoreTx {
    pub async fn get_person(
        &mut self,
        resident_id: &str,
    ) -> Result<Option<v1::Person>, StoreError> {
        let sql = format!(
            "SELECT {} FROM people WHERE resident_id = $1",
            *PERSON_COLUMNS
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(resident_id)
            .fetch_optional(&mut *self.transaction)
            .await?;
        Ok(row.as_ref().map(person_from_row).transpose()?)
    }

    /// The stored records of these people (those that exist), in one statement per 500 IDs.
    pub async fn get_people(
        &mut self,
        resident_ids: &[&str],
    ) -> Result<HashMap<String, v1::Person>, StoreError> {
        let mut found = HashMap::with_capacity(resident_ids.len());
        for part in resident_ids.chunks(500) {
            let list = (1..=part.len())
                .map(|n| {
                    if self.is_sqlite {
                        "?".to_string()
                    } else {
                        format!("${n}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {} FROM people WHERE resident_id IN ({list})",
                *PERSON_COLUMNS
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in part {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&mut *self.transaction).await? {
                let person = person_from_row(&row)?;
                found.insert(person.resident_id.clone(), person);
            }
        }
        Ok(found)
    }

    /// [`StoreTx::upsert_person`] for many people: multi-row statements (500 rows each) for the
    /// records and their roster changes, the same effect with a few statements per batch.
    pub async fn upsert_people(
        &mut self,
        people: &[v1::Person],
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        // Every field of the table is a column; the update time is the write's, not the input's.
        let updates = person::FIELDS
            .iter()
            .filter(|field| field.form != person::Form::ResidentId)
            .map(|field| format!("{0} = excluded.{0}", field.name))
            .collect::<Vec<_>>()
            .join(", ");
        for part in people.chunks(500) {
            let sql = format!(
                "INSERT INTO people ({}, created_at_unix_ms) VALUES {}
                 ON CONFLICT (resident_id) DO UPDATE SET {updates}",
                *PERSON_COLUMNS,
                value_rows(part.len(), person::FIELDS.len() + 1, self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for record in part {
                for field in person::FIELDS {
                    let value = if field.form == person::Form::Instant {
                        Stored::Integer(now_unix_ms)
                    } else {
                        field.get(record)
                    };
                    query = bind_stored(query, value);
                }
                query = query.bind(now_unix_ms);
            }
            query.execute(&mut *self.transaction).await?;
            let sql = format!(
                "INSERT INTO roster_changes (resident_id, name, hukou_county, residence_county, status,
                    since, changed_at_unix_ms) VALUES {}",
                value_rows(part.len(), 7, self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for person in part {
                let status =
                    PersonStatus::try_from(person.status).unwrap_or(PersonStatus::Unspecified);
                let since = match status {
                    PersonStatus::Departed | PersonStatus::WhereaboutsUnknown => {
                        person.departure_date.clone()
                    }
                    _ => person.arrival_date.clone(),
                };
                query = query
                    .bind(person.resident_id.clone())
                    .bind(person.name.clone())
                    .bind(person.hukou_county.clone())
                    .bind(person.residence_county.clone())
                    .bind(status_label(status))
                    .bind(since)
                    .bind(now_unix_ms);
            }
            query.execute(&mut *self.transaction).await?;
        }
        Ok(())
    }

    /// Inserts or replaces a person's record (and its roster change for the province).
    pub async fn upsert_person(
        &mut self,
        person: &v1::Person,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        self.upsert_people(std::slice::from_ref(person), now_unix_ms)
            .await
    }
}
