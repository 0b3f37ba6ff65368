//! Cases the province assigned to counties, and what each node has fetched.

use super::*;

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
