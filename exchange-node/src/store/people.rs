//! The roster: people read and written, one at a time or many rows a statement. Not here: the
//! roster changes shipped to the province (`reports`).

use super::*;

impl Store {
    pub async fn get_person(&self, resident_id: &str) -> Result<Option<v1::Person>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE resident_id = $1");
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
            "SELECT {PERSON_COLUMNS} FROM people
             WHERE resident_id > $1 AND ($2 = '' OR status = $2)
             ORDER BY resident_id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after_resident_id)
            .bind(status.map(status_label).unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(person_from_row).collect::<Result<_, _>>()?)
    }
}

impl StoreTx {
    pub async fn get_person(
        &mut self,
        resident_id: &str,
    ) -> Result<Option<v1::Person>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE resident_id = $1");
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
            let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE resident_id IN ({list})");
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
        for part in people.chunks(500) {
            let sql = format!(
                "INSERT INTO people (resident_id, name, sex, birth_date, hukou_county, residence_county,
                    residence_address, arrival_date, departure_date, phone, notes, status,
                    resident_id_flagged, created_at_unix_ms, updated_at_unix_ms)
                 VALUES {}
                 ON CONFLICT (resident_id) DO UPDATE SET
                    name = excluded.name, sex = excluded.sex, birth_date = excluded.birth_date,
                    hukou_county = excluded.hukou_county, residence_county = excluded.residence_county,
                    residence_address = excluded.residence_address, arrival_date = excluded.arrival_date,
                    departure_date = excluded.departure_date, phone = excluded.phone,
                    notes = excluded.notes, status = excluded.status,
                    resident_id_flagged = excluded.resident_id_flagged,
                    updated_at_unix_ms = excluded.updated_at_unix_ms",
                value_rows(part.len(), 15, self.is_sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for person in part {
                let status =
                    PersonStatus::try_from(person.status).unwrap_or(PersonStatus::Unspecified);
                query = query
                    .bind(person.resident_id.clone())
                    .bind(person.name.clone())
                    .bind(sex_label(person.sex))
                    .bind(person.birth_date.clone())
                    .bind(person.hukou_county.clone())
                    .bind(person.residence_county.clone())
                    .bind(person.residence_address.clone())
                    .bind(person.arrival_date.clone())
                    .bind(person.departure_date.clone())
                    .bind(person.phone.clone())
                    .bind(person.notes.clone())
                    .bind(status_label(status))
                    .bind(i64::from(person.resident_id_flagged))
                    .bind(now_unix_ms)
                    .bind(now_unix_ms);
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

    /// Inserts or replaces a person's record.
    pub async fn upsert_person(
        &mut self,
        person: &v1::Person,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO people (resident_id, name, sex, birth_date, hukou_county, residence_county,
                residence_address, arrival_date, departure_date, phone, notes, status,
                resident_id_flagged, created_at_unix_ms, updated_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
             ON CONFLICT (resident_id) DO UPDATE SET
                name = $2, sex = $3, birth_date = $4, hukou_county = $5, residence_county = $6,
                residence_address = $7, arrival_date = $8, departure_date = $9, phone = $10,
                notes = $11, status = $12, resident_id_flagged = $13, updated_at_unix_ms = $14",
        )
        .bind(&person.resident_id)
        .bind(&person.name)
        .bind(sex_label(person.sex))
        .bind(&person.birth_date)
        .bind(&person.hukou_county)
        .bind(&person.residence_county)
        .bind(&person.residence_address)
        .bind(&person.arrival_date)
        .bind(&person.departure_date)
        .bind(&person.phone)
        .bind(&person.notes)
        .bind(status_label(PersonStatus::try_from(person.status).unwrap_or(PersonStatus::Unspecified)))
        .bind(i64::from(person.resident_id_flagged))
        .bind(now_unix_ms)
        .execute(&mut *self.transaction)
        .await?;
        // The same change, for the provincial index.
        let status = PersonStatus::try_from(person.status).unwrap_or(PersonStatus::Unspecified);
        let since = match status {
            PersonStatus::Departed | PersonStatus::WhereaboutsUnknown => &person.departure_date,
            _ => &person.arrival_date,
        };
        sqlx::query(
            "INSERT INTO roster_changes (resident_id, name, hukou_county, residence_county, status, since,
                                         changed_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&person.resident_id)
        .bind(&person.name)
        .bind(&person.hukou_county)
        .bind(&person.residence_county)
        .bind(status_label(status))
        .bind(since)
        .bind(now_unix_ms)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }
}
