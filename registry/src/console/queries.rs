//! 查询 (/queries): the province-wide questions of `registry locate|counts|flows|conflicts|
//! untracked`, each a form with a required purpose (查询事由), answered by the same call as the
//! command line ([`crate::service::queries::QueriesService`], in process, as the signed-in
//! operator). So the answers, the refusal of a query without a purpose (the service's own
//! words, beside the field) and the audit log entry (operator, action, purpose) are the command
//! line's; small flow counts are suppressed by the service's rule, not here. Every role may ask
//! (they are reads, as `registry operator add` describes the viewer); opening cases for the
//! conflicts or untracked people found is [`super::findings`]'s, a supervisor's or an admin's.
//!
//! Locating a person is a POST: the resident ID stays out of addresses, browser history and
//! access logs. The page that answers shows it in full to the operator who asked; this log
//! writes it masked (the audit log keeps it, as for the command line).

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mpx_proto::v1::queries_server::Queries;
use mpx_proto::v1::{self, PersonStatus};
use serde::Deserialize;

use super::auth::Signed;
use super::i18n::Msgs;
use super::names::CountyNames;
use super::{ConsoleError, ConsoleForm, ConsoleQuery, ConsoleState};

/// What a query form sends (each form only some of it).
#[derive(Debug, Default, Deserialize)]
pub struct Ask {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub resident_id: String,
    /// Flows: first and last day, YYYY-MM-DD.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// Untracked: gone out at least this many days ago (empty: 30, as the command line).
    #[serde(default)]
    pub min_days: String,
}

/// One county's report about the person located.
pub struct ReportRow {
    pub reporting: String,
    pub name: String,
    pub hukou: String,
    pub residence: String,
    pub status: &'static str,
    pub since: String,
    pub reported: String,
}

/// The answer to "where is this person?".
pub struct Located {
    pub resident_id: String,
    pub hukou: String,
    pub residing: String,
    pub rows: Vec<ReportRow>,
}

pub struct CountRow {
    pub code: String,
    pub county: String,
    pub residing: i64,
    pub inflow: i64,
    pub outflow: i64,
}

/// One row of the flow matrix: a hukou county and what moved from it to each column's county.
pub struct MatrixRow {
    pub county: String,
    pub cells: Vec<String>,
}

pub struct FlowRow {
    pub from: String,
    pub to: String,
    pub count: String,
}

/// Flows both ways: a matrix (rows from, columns to) and a table, with the same numbers.
pub struct Flows {
    pub threshold: u32,
    pub columns: Vec<String>,
    pub matrix: Vec<MatrixRow>,
    pub rows: Vec<FlowRow>,
}

pub struct ConflictRow {
    pub resident_id: String,
    pub name: String,
    pub counties: String,
}

pub struct UntrackedRow {
    pub resident_id: String,
    pub name: String,
    pub hukou: String,
    pub since: String,
    pub last_known: String,
}

/// Conflicts or untracked people found, and what "open cases for these" posts.
pub struct Findings {
    /// `conflicts` or `untracked`.
    pub finding: &'static str,
    pub min_days: u32,
    pub conflicts: Vec<ConflictRow>,
    pub untracked: Vec<UntrackedRow>,
    /// The resident IDs listed, comma-separated: the people the cases are opened for.
    pub people: String,
}

/// Cases just opened.
pub struct Opened {
    pub opened: usize,
    pub skipped: u32,
    /// County and how many cases it got.
    pub by_county: Vec<(String, usize)>,
    pub cases: Vec<OpenedRow>,
}

pub struct OpenedRow {
    pub case_id: String,
    pub county: String,
    pub resident_id: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "queries.html")]
pub struct QueriesPage {
    pub t: &'static Msgs,
    pub signed: Option<Signed>,
    pub csrf: String,
    pub may_open_cases: bool,
    /// The form sent (`locate`, `counts`, `flows`, `conflicts`, `untracked`, `open-cases`), or
    /// empty.
    pub asked: &'static str,
    pub ask: Ask,
    /// The label of the field to fill in when the service refused the query.
    pub refused: Option<String>,
    /// `form.field` → the service's words.
    pub errors: BTreeMap<String, String>,
    /// The purpose recorded in the audit log, once a query ran.
    pub audited: Option<String>,
    pub located: Option<Located>,
    pub counts: Option<Vec<CountRow>>,
    pub flows: Option<Flows>,
    pub findings: Option<Findings>,
    pub opened: Option<Opened>,
}

impl QueriesPage {
    pub fn new(t: &'static Msgs, signed: Signed, asked: &'static str, ask: Ask) -> Self {
        Self {
            t,
            csrf: signed.csrf.clone(),
            may_open_cases: signed.role.may_open_cases(),
            signed: Some(signed),
            asked,
            ask,
            refused: None,
            errors: BTreeMap::new(),
            audited: None,
            located: None,
            counts: None,
            flows: None,
            findings: None,
            opened: None,
        }
    }

    /// The purpose to show in a form: what was sent with it, else nothing.
    fn purpose_for(&self, form: &str) -> &str {
        if self.asked == form {
            &self.ask.purpose
        } else {
            ""
        }
    }

    fn error_of(&self, form: &str, field: &str) -> Option<&str> {
        self.errors
            .get(&format!("{form}.{field}"))
            .map(String::as_str)
    }

    /// The flows form's days: as sent, else this year so far.
    fn flows_from(&self) -> String {
        match self.ask.from.trim() {
            "" => format!("{:04}-01-01", mpx_proto::time::today_in_province().year()),
            from => from.to_string(),
        }
    }

    fn flows_to(&self) -> String {
        match self.ask.to.trim() {
            "" => mpx_proto::time::today_in_province().to_string(),
            to => to.to_string(),
        }
    }

    fn min_days(&self) -> &str {
        match self.ask.min_days.trim() {
            "" => "30",
            days => days,
        }
    }

    /// Records the service's refusal: beside its field when the form has it (the label at
    /// the top says what to fill in), else at the top alone.
    pub fn refuse(&mut self, form: &str, message: &str) {
        let field = message
            .split_once(':')
            .map_or("", |(field, _)| field.trim());
        let field = match field {
            "from_date" => "from",
            "to_date" => "to",
            field if field.starts_with("resident_ids") => "people",
            field => field,
        };
        let t = self.t;
        let label = match field {
            "purpose" => t.purpose,
            "resident_id" | "people" => t.resident_id,
            "from" => t.from,
            "to" => t.to,
            "min_days" => t.min_days,
            _ => "",
        };
        self.errors
            .insert(format!("{form}.{field}"), message.to_string());
        self.refused = Some(if label.is_empty() {
            message.to_string()
        } else {
            label.to_string()
        });
    }

    /// The page, 422 when the query was refused.
    pub fn respond(self) -> Response {
        let status = if self.refused.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        (status, self).into_response()
    }
}

/// A service answer, or its refusal of the request (`INVALID_ARGUMENT`, in its words); any
/// other failure is the registry's and becomes the unavailable page.
pub fn answered<T>(
    result: Result<tonic::Response<T>, tonic::Status>,
    t: &'static Msgs,
) -> Result<Result<T, String>, ConsoleError> {
    match result {
        Ok(response) => Ok(Ok(response.into_inner())),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            Ok(Err(status.message().to_string()))
        }
        Err(status) => {
            tracing::error!(%status, "province console: a query failed");
            Err(ConsoleError::Unavailable(t))
        }
    }
}

/// `GET /queries`: the forms.
pub async fn page(signed: Signed) -> Response {
    QueriesPage::new(signed.t, signed, "", Ask::default()).respond()
}

fn status_words(t: &'static Msgs, status: i32) -> &'static str {
    match PersonStatus::try_from(status) {
        Ok(PersonStatus::Residing) => t.person_residing,
        Ok(PersonStatus::Departed) => t.person_departed,
        Ok(PersonStatus::LivingElsewhere) => t.person_living_elsewhere,
        Ok(PersonStatus::WhereaboutsUnknown) => t.person_whereabouts_unknown,
        _ => "—",
    }
}

async fn names(state: &ConsoleState, t: &'static Msgs) -> Result<CountyNames, ConsoleError> {
    CountyNames::load(&state.store)
        .await
        .map_err(|error| ConsoleError::from_store(error, t))
}

/// `POST /queries/locate`: where a person is registered and living.
pub async fn locate(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleForm(ask): ConsoleForm<Ask>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&ask.csrf)?;
    let t = signed.t;
    tracing::info!(
        operator = %signed.operator,
        resident = %mpx_proto::resident_id::mask(ask.resident_id.trim()),
        "province console: locate"
    );
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        v1::LocateRequest {
            resident_id: ask.resident_id.trim().to_string(),
            purpose: ask.purpose.clone(),
        },
    );
    let answer = answered(state.queries.locate(request).await, t)?;
    let mut page = QueriesPage::new(t, signed, "locate", ask);
    let response = match answer {
        Ok(response) => response,
        Err(message) => {
            page.refuse("locate", &message);
            return Ok(page.respond());
        }
    };
    let names = names(&state, t).await?;
    let residing = if response.residing_in.is_empty() {
        "—".to_string()
    } else {
        let labels: Vec<String> = response
            .residing_in
            .iter()
            .map(|c| names.label(c))
            .collect();
        labels.join("、")
    };
    page.located = Some(Located {
        resident_id: page.ask.resident_id.trim().to_string(),
        hukou: names.label(&response.hukou_county),
        residing,
        rows: response
            .reports
            .iter()
            .map(|report| ReportRow {
                reporting: names.label(&report.reporting_county),
                name: report.name.clone(),
                hukou: names.label(&report.hukou_county),
                residence: names.label(&report.residence_county),
                status: status_words(t, report.status),
                since: report.since.clone(),
                reported: t.instant(report.reported_at_unix_ms),
            })
            .collect(),
    });
    page.audited = Some(page.ask.purpose.trim().to_string());
    Ok(page.respond())
}

/// `GET /queries/counts`: residing, inflow and outflow per county.
pub async fn counts(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(ask): ConsoleQuery<Ask>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        v1::CountsRequest {
            purpose: ask.purpose.clone(),
        },
    );
    let answer = answered(state.queries.counts(request).await, t)?;
    let mut page = QueriesPage::new(t, signed, "counts", ask);
    let response = match answer {
        Ok(response) => response,
        Err(message) => {
            page.refuse("counts", &message);
            return Ok(page.respond());
        }
    };
    let names = names(&state, t).await?;
    page.counts = Some(
        response
            .counties
            .iter()
            .map(|c| CountRow {
                code: c.county.clone(),
                county: names.label(&c.county),
                residing: c.residing,
                inflow: c.inflow,
                outflow: c.outflow,
            })
            .collect(),
    );
    page.audited = Some(page.ask.purpose.trim().to_string());
    Ok(page.respond())
}

/// The flows as a matrix and a table: every county that sends or receives is a row and a
/// column; a pair with nothing is "—", a suppressed one "<N" as the command line writes it.
pub fn flows_view(response: &v1::FlowsResponse, names: &CountyNames) -> Flows {
    let shown = |flow: &v1::Flow| {
        if flow.suppressed {
            format!("<{}", response.suppress_below)
        } else {
            flow.count.to_string()
        }
    };
    let counties: BTreeSet<&str> = response
        .flows
        .iter()
        .flat_map(|f| [f.from_county.as_str(), f.to_county.as_str()])
        .collect();
    let cell: BTreeMap<(&str, &str), String> = response
        .flows
        .iter()
        .map(|f| ((f.from_county.as_str(), f.to_county.as_str()), shown(f)))
        .collect();
    Flows {
        threshold: response.suppress_below,
        columns: counties.iter().map(|c| names.label(c)).collect(),
        matrix: counties
            .iter()
            .map(|from| MatrixRow {
                county: names.label(from),
                cells: counties
                    .iter()
                    .map(|to| cell.get(&(*from, *to)).cloned().unwrap_or("—".into()))
                    .collect(),
            })
            .collect(),
        rows: response
            .flows
            .iter()
            .map(|f| FlowRow {
                from: names.label(&f.from_county),
                to: names.label(&f.to_county),
                count: shown(f),
            })
            .collect(),
    }
}

/// `GET /queries/flows`: county-to-county arrivals in a period, small counts suppressed by
/// the service (its default threshold, as `registry flows` without `--suppress-below`).
pub async fn flows(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(ask): ConsoleQuery<Ask>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        v1::FlowsRequest {
            purpose: ask.purpose.clone(),
            from_date: ask.from.trim().to_string(),
            to_date: ask.to.trim().to_string(),
            suppress_below: 0,
        },
    );
    let answer = answered(state.queries.flows(request).await, t)?;
    let mut page = QueriesPage::new(t, signed, "flows", ask);
    let response = match answer {
        Ok(response) => response,
        Err(message) => {
            page.refuse("flows", &message);
            return Ok(page.respond());
        }
    };
    let names = names(&state, t).await?;
    page.flows = Some(flows_view(&response, &names));
    page.audited = Some(page.ask.purpose.trim().to_string());
    Ok(page.respond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_and_the_table_show_the_same_suppressed_counts() {
        let response = v1::FlowsResponse {
            flows: vec![
                v1::Flow {
                    from_county: "621221".into(),
                    to_county: "621202".into(),
                    count: 12,
                    suppressed: false,
                },
                v1::Flow {
                    from_county: "621221".into(),
                    to_county: "620102".into(),
                    count: 0,
                    suppressed: true,
                },
            ],
            suppress_below: 5,
        };
        let view = flows_view(&response, &CountyNames::default());
        assert_eq!(view.columns.len(), 3, "every county that sends or receives");
        let linxia = view
            .matrix
            .iter()
            .find(|row| row.county.contains("621221"))
            .unwrap();
        // Columns in code order: 620102, 621202, 621221.
        assert_eq!(linxia.cells, ["<5", "12", "—"]);
        let counts: Vec<&str> = view.rows.iter().map(|r| r.count.as_str()).collect();
        assert_eq!(counts, ["12", "<5"]);
    }
}
