//! The findings of the province-wide queries — conflicts (two or more counties list a person
//! as residing) and untracked people (gone out of their hukou county, reported residing
//! nowhere) — and "open cases for these" (为这些人发起协查): the `OpenCases` call of
//! `registry conflicts|untracked --open-cases`, for the people the page listed, posted with
//! the session's CSRF token by a supervisor or an admin (a viewer is refused, 403). The page
//! says how many cases were opened and for which counties, and how many were skipped because
//! the county already has an unanswered one about the person.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use mpx_proto::v1::queries_server::Queries;
use mpx_proto::v1::{self, CasePriority, Finding};
use serde::Deserialize;

use super::auth::Signed;
use super::names::CountyNames;
use super::queries::{
    Ask, ConflictRow, Findings, Opened, OpenedRow, QueriesPage, UntrackedRow, answered,
};
use super::{ConsoleError, ConsoleForm, ConsoleQuery, ConsoleState};

/// At most this many people in one "open cases for these" (the service lists at most this
/// many findings).
const MAX_PEOPLE: usize = 10_000;

async fn names(state: &ConsoleState, signed: &Signed) -> Result<CountyNames, ConsoleError> {
    CountyNames::load(&state.store)
        .await
        .map_err(|error| ConsoleError::from_store(error, signed.t))
}

/// `GET /queries/conflicts`: people whom two or more counties list as residing.
pub async fn conflicts(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(ask): ConsoleQuery<Ask>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        v1::ConflictsRequest {
            purpose: ask.purpose.clone(),
            limit: 0,
        },
    );
    let answer = answered(state.queries.conflicts(request).await, t)?;
    let names = names(&state, &signed).await?;
    let mut page = QueriesPage::new(t, signed, "conflicts", ask);
    let response = match answer {
        Ok(response) => response,
        Err(message) => {
            page.refuse("conflicts", &message);
            return Ok(page.respond());
        }
    };
    let people: Vec<&str> = response
        .conflicts
        .iter()
        .map(|c| c.resident_id.as_str())
        .collect();
    page.findings = Some(Findings {
        finding: "conflicts",
        min_days: 0,
        people: people.join(","),
        conflicts: response
            .conflicts
            .iter()
            .map(|c| ConflictRow {
                resident_id: c.resident_id.clone(),
                name: c.name.clone(),
                counties: c
                    .counties
                    .iter()
                    .map(|county| names.label(county))
                    .collect::<Vec<_>>()
                    .join("、"),
            })
            .collect(),
        untracked: Vec::new(),
    });
    page.audited = Some(page.ask.purpose.trim().to_string());
    Ok(page.respond())
}

/// The untracked form's days: empty is 30 (the command line's default); else a whole number.
fn min_days_of(text: &str) -> Option<u32> {
    match text.trim() {
        "" => Some(30),
        days => days.parse().ok(),
    }
}

/// `GET /queries/untracked`: people gone out at least `min_days` ago whom no county reports.
pub async fn untracked(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(ask): ConsoleQuery<Ask>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let Some(min_days) = min_days_of(&ask.min_days) else {
        let mut page = QueriesPage::new(t, signed, "untracked", ask);
        page.refuse("untracked", &format!("min_days: {}", t.expect_min_days));
        return Ok(page.respond());
    };
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        v1::UntrackedRequest {
            purpose: ask.purpose.clone(),
            min_days,
            limit: 0,
        },
    );
    let answer = answered(state.queries.untracked(request).await, t)?;
    let names = names(&state, &signed).await?;
    let mut page = QueriesPage::new(t, signed, "untracked", ask);
    let response = match answer {
        Ok(response) => response,
        Err(message) => {
            page.refuse("untracked", &message);
            return Ok(page.respond());
        }
    };
    let people: Vec<&str> = response
        .people
        .iter()
        .map(|p| p.resident_id.as_str())
        .collect();
    page.findings = Some(Findings {
        finding: "untracked",
        min_days,
        people: people.join(","),
        conflicts: Vec::new(),
        untracked: response
            .people
            .iter()
            .map(|p| UntrackedRow {
                resident_id: p.resident_id.clone(),
                name: p.name.clone(),
                hukou: names.label(&p.hukou_county),
                since: p.since.clone(),
                last_known: names.label(&p.last_known_residence),
            })
            .collect(),
    });
    page.audited = Some(page.ask.purpose.trim().to_string());
    Ok(page.respond())
}

/// What "open cases for these" posts.
#[derive(Debug, Default, Deserialize)]
pub struct OpenCasesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    purpose: String,
    /// `conflicts` or `untracked`.
    #[serde(default)]
    finding: String,
    #[serde(default)]
    min_days: String,
    /// The resident IDs the page listed, comma-separated.
    #[serde(default)]
    people: String,
    /// `normal` (default) or `urgent`.
    #[serde(default)]
    priority: String,
}

/// `POST /queries/open-cases`: verification cases for the people listed, for the counties
/// concerned (supervisors and admins).
pub async fn open_cases(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(form): ConsoleForm<OpenCasesForm>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    let t = signed.t;
    if !signed.role.may_open_cases() {
        return Err(ConsoleError::Role(t));
    }
    let finding = match form.finding.as_str() {
        "conflicts" => Finding::Conflict,
        "untracked" => Finding::Untracked,
        _ => return Err(ConsoleError::BadForm(t)),
    };
    let priority = match form.priority.as_str() {
        "" | "normal" => CasePriority::Normal,
        "urgent" => CasePriority::Urgent,
        _ => return Err(ConsoleError::BadForm(t)),
    };
    let Some(min_days) = min_days_of(&form.min_days) else {
        return Err(ConsoleError::BadForm(t));
    };
    let people: Vec<String> = form
        .people
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    // "For these": never the service's "every current finding" that an empty list means.
    if people.is_empty() || people.len() > MAX_PEOPLE {
        return Err(ConsoleError::BadForm(t));
    }
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        v1::OpenCasesRequest {
            purpose: form.purpose.clone(),
            finding: finding as i32,
            min_days,
            resident_ids: people,
            priority: priority as i32,
            limit: 0,
        },
    );
    let answer = answered(state.queries.open_cases(request).await, t)?;
    let names = names(&state, &signed).await?;
    let operator = signed.operator.clone();
    let ask = Ask {
        purpose: form.purpose.clone(),
        ..Ask::default()
    };
    let mut page = QueriesPage::new(t, signed, "open-cases", ask);
    let response = match answer {
        Ok(response) => response,
        Err(message) => {
            page.refuse("open-cases", &message);
            return Ok(page.respond());
        }
    };
    let mut by_county: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &response.opened {
        *by_county.entry(case.county.as_str()).or_default() += 1;
    }
    tracing::info!(%operator, finding = %form.finding, opened = response.opened.len(), "province console: cases opened");
    page.opened = Some(Opened {
        opened: response.opened.len(),
        skipped: response.already_open,
        by_county: by_county
            .into_iter()
            .map(|(county, cases)| (names.label(county), cases))
            .collect(),
        cases: response
            .opened
            .iter()
            .map(|case| OpenedRow {
                case_id: case.case_id.clone(),
                county: names.label(&case.county),
                resident_id: case.resident_id.clone(),
            })
            .collect(),
    });
    page.audited = Some(form.purpose.trim().to_string());
    Ok(page.respond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_untracked_days_default_to_thirty_and_must_be_a_number() {
        assert_eq!(min_days_of(""), Some(30));
        assert_eq!(min_days_of(" 90 "), Some(90));
        assert_eq!(min_days_of("-1"), None);
        assert_eq!(min_days_of("三十"), None);
    }
}
