//! The inbox and outbox (收件箱 / 发件箱): filters by state, kind, other county, priority and
//! deadline; pages; working days left as a number and a colour (and 逾期 in words); and the
//! same list as CSV (UTF-8 with a BOM, so spreadsheets show the Chinese), which asks for a
//! purpose and is audited as an export.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mpx_proto::v1::{self, CaseDirection, CasePriority, CaseState};
use serde::Deserialize;

use super::auth::Signed;
use super::i18n::{self, Msgs};
use super::pages::{Due, all_cases, days_text, due_of, peer_of};
use super::{ConsoleError, ConsoleQuery, ConsoleState};

/// Rows on one page of a list.
const PAGE_ROWS: usize = 50;

/// The states a list can be filtered by, in lifecycle order.
const STATES: [CaseState; 8] = [
    CaseState::Queued,
    CaseState::Delivered,
    CaseState::Accepted,
    CaseState::Responded,
    CaseState::Closed,
    CaseState::Withdrawn,
    CaseState::Redirected,
    CaseState::Rejected,
];

/// The list filters, as the query string carries them.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    kind: Option<String>,
    peer: Option<String>,
    priority: Option<String>,
    due: Option<String>,
    page: Option<String>,
    /// For the CSV export: why the list is taken out (audited).
    purpose: Option<String>,
}

/// The filters in force: only values the console knows survive (anything else is "any"), so
/// they can go back into links as they are.
#[derive(Debug, Default)]
struct Filters {
    state: Option<CaseState>,
    kind: String,
    peer: String,
    priority: String,
    due: String,
}

impl Filters {
    fn of(query: &ListQuery) -> Self {
        let value = |v: &Option<String>| v.as_deref().unwrap_or_default().trim().to_string();
        let (kind, peer, priority, due) = (
            value(&query.kind),
            value(&query.peer),
            value(&query.priority),
            value(&query.due),
        );
        Self {
            state: match mpx_proto::case_kind::state_from_label(&value(&query.state)) {
                CaseState::Unspecified => None,
                known => Some(known),
            },
            kind: if mpx_proto::case_kind::kind_from_label(&kind).is_some() {
                kind
            } else {
                String::new()
            },
            peer: if peer.len() == 6 && peer.chars().all(|c| c.is_ascii_digit()) {
                peer
            } else {
                String::new()
            },
            priority: if matches!(priority.as_str(), "urgent" | "normal") {
                priority
            } else {
                String::new()
            },
            due: if matches!(due.as_str(), "overdue" | "soon") {
                due
            } else {
                String::new()
            },
        }
    }

    fn state_label(&self) -> &'static str {
        self.state.map_or("", mpx_proto::case_kind::state_label)
    }

    fn matches(&self, case: &v1::Case, due_soon_working_days: i32) -> bool {
        (self.kind.is_empty() || mpx_proto::case_kind::kind_label(case.kind) == self.kind)
            && (self.peer.is_empty() || peer_of(case) == self.peer)
            && (self.priority.is_empty()
                || mpx_proto::case_kind::priority_label(case.priority()) == self.priority)
            && match self.due.as_str() {
                "overdue" => due_of(case, due_soon_working_days) == Due::Overdue,
                "soon" => due_of(case, due_soon_working_days) == Due::Soon,
                _ => true,
            }
    }

    /// The filters as a query string (known values only: nothing to escape).
    fn query_string(&self) -> String {
        format!(
            "state={}&kind={}&peer={}&priority={}&due={}",
            self.state_label(),
            self.kind,
            self.peer,
            self.priority,
            self.due
        )
    }
}

/// The cases of a list that pass its filters, as the operator service lists them.
async fn matching(
    state: &ConsoleState,
    signed: &Signed,
    filters: &Filters,
    direction: CaseDirection,
) -> Result<(Vec<v1::Case>, Vec<String>, bool), ConsoleError> {
    let list = all_cases(state, signed, direction, filters.state, false).await?;
    let (cases, truncated) = (list.cases, list.truncated);
    let mut peers: Vec<String> = cases.iter().map(|c| peer_of(c).to_string()).collect();
    peers.sort();
    peers.dedup();
    let soon = state.due_soon_working_days;
    let cases = cases
        .into_iter()
        .filter(|case| filters.matches(case, soon))
        .collect();
    Ok((cases, peers, truncated))
}

struct Opt {
    value: String,
    label: String,
    selected: bool,
}

struct Select {
    name: &'static str,
    label: &'static str,
    options: Vec<Opt>,
}

struct Row {
    case_id: String,
    kind: &'static str,
    peer: String,
    name: String,
    masked_id: String,
    priority: &'static str,
    urgent: bool,
    state: &'static str,
    opened: String,
    due: String,
    days_text: String,
    days_class: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "list.html")]
struct ListPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    title: &'static str,
    filters: Vec<Select>,
    /// The filters in force, as hidden fields of the export form.
    kept: Vec<(&'static str, String)>,
    export_action: &'static str,
    /// More cases than the console reads: narrow the filters.
    truncated: bool,
    rows: Vec<Row>,
    page: usize,
    previous: Option<String>,
    next: Option<String>,
}

pub async fn inbox(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(query): ConsoleQuery<ListQuery>,
) -> Result<Response, ConsoleError> {
    list(state, signed, query, CaseDirection::Inbound).await
}

pub async fn outbox(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(query): ConsoleQuery<ListQuery>,
) -> Result<Response, ConsoleError> {
    list(state, signed, query, CaseDirection::Outbound).await
}

fn options(chosen: &str, t: &Msgs, values: Vec<(String, String)>) -> Vec<Opt> {
    std::iter::once((String::new(), t.any.to_string()))
        .chain(values)
        .map(|(value, label)| Opt {
            selected: value == chosen,
            value,
            label,
        })
        .collect()
}

fn selects(state: &ConsoleState, t: &Msgs, f: &Filters, peers: Vec<String>) -> Vec<Select> {
    let labelled = |values: &[(&str, &str)]| -> Vec<(String, String)> {
        values
            .iter()
            .map(|(value, label)| ((*value).to_string(), (*label).to_string()))
            .collect()
    };
    vec![
        Select {
            name: "state",
            label: t.state,
            options: options(
                f.state_label(),
                t,
                STATES
                    .iter()
                    .map(|s| {
                        (
                            mpx_proto::case_kind::state_label(*s).into(),
                            t.state(*s).into(),
                        )
                    })
                    .collect(),
            ),
        },
        Select {
            name: "kind",
            label: t.kind,
            options: options(
                &f.kind,
                t,
                mpx_proto::case_kind::KINDS
                    .iter()
                    .map(|k| (k.label.into(), t.kind(k.kind as i32).into()))
                    .collect(),
            ),
        },
        Select {
            name: "peer",
            label: t.peer_county,
            options: options(
                &f.peer,
                t,
                peers
                    .into_iter()
                    .map(|code| (code.clone(), state.county_text(&code)))
                    .collect(),
            ),
        },
        Select {
            name: "priority",
            label: t.priority,
            options: options(
                &f.priority,
                t,
                labelled(&[("normal", t.normal), ("urgent", t.urgent)]),
            ),
        },
        Select {
            name: "due",
            label: t.due,
            options: options(
                &f.due,
                t,
                labelled(&[("soon", t.due_soon), ("overdue", t.overdue)]),
            ),
        },
    ]
}

async fn list(
    state: ConsoleState,
    signed: Signed,
    query: ListQuery,
    direction: CaseDirection,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let filters = Filters::of(&query);
    let (cases, peers, truncated) = matching(&state, &signed, &filters, direction).await?;
    let pages = cases.len().div_ceil(PAGE_ROWS).max(1);
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let soon = state.due_soon_working_days;
    let rows = cases
        .iter()
        .skip((page - 1) * PAGE_ROWS)
        .take(PAGE_ROWS)
        .map(|case| {
            let (days_text, days_class) = days_text(t, case, due_of(case, soon));
            Row {
                case_id: case.case_id.clone(),
                kind: t.kind(case.kind),
                peer: state.county_text(peer_of(case)),
                name: case.subject_name.clone(),
                masked_id: mpx_proto::resident_id::mask(&case.resident_id),
                priority: t.priority(case.priority()),
                urgent: case.priority() == CasePriority::Urgent,
                state: t.state(case.state()),
                opened: t.date(case.opened_at_unix_ms),
                due: t.due_date(crate::monitor::effective_due_at(case)),
                days_text,
                days_class,
            }
        })
        .collect();
    let (base, title, export_action) = if direction == CaseDirection::Inbound {
        ("/inbox", t.inbox, "/inbox.csv")
    } else {
        ("/outbox", t.outbox, "/outbox.csv")
    };
    let href = |page: usize| format!("{base}?{}&page={page}", filters.query_string());
    let kept = vec![
        ("state", filters.state_label().to_string()),
        ("kind", filters.kind.clone()),
        ("peer", filters.peer.clone()),
        ("priority", filters.priority.clone()),
        ("due", filters.due.clone()),
    ];
    Ok(ListPage {
        t,
        title,
        filters: selects(&state, t, &filters, peers),
        kept,
        export_action,
        truncated,
        rows,
        page,
        previous: (page > 1).then(|| href(page - 1)),
        next: (page < pages).then(|| href(page + 1)),
        signed: Some(signed),
    }
    .into_response())
}

// ---- CSV export -------------------------------------------------------------------------------

pub async fn inbox_csv(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(query): ConsoleQuery<ListQuery>,
) -> Result<Response, ConsoleError> {
    export(state, signed, query, CaseDirection::Inbound).await
}

pub async fn outbox_csv(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(query): ConsoleQuery<ListQuery>,
) -> Result<Response, ConsoleError> {
    export(state, signed, query, CaseDirection::Outbound).await
}

/// The filtered list as CSV: every matching case, resident IDs masked, dates in ISO form;
/// audited as `cases.export` with the purpose given.
async fn export(
    state: ConsoleState,
    signed: Signed,
    query: ListQuery,
    direction: CaseDirection,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let purpose = crate::service::require_purpose(query.purpose.as_deref().unwrap_or_default())
        .map_err(|status| ConsoleError::Refused(t, t.refusal("purpose", status.message())))?;
    let filters = Filters::of(&query);
    let (cases, _, _) = matching(&state, &signed, &filters, direction).await?;
    let soon = state.due_soon_working_days;
    let iso = &i18n::EN;
    let mut csv = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let header = [
        t.case,
        t.kind,
        t.peer_county,
        t.subject_name,
        t.resident_id,
        t.priority,
        t.state,
        t.opened,
        t.due_date,
        t.days_left,
    ];
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for case in &cases {
        let (days, _) = days_text(t, case, due_of(case, soon));
        rows.push(vec![
            case.case_id.clone(),
            t.kind(case.kind).to_string(),
            peer_of(case).to_string(),
            case.subject_name.clone(),
            mpx_proto::resident_id::mask(&case.resident_id),
            t.priority(case.priority()).to_string(),
            t.state(case.state()).to_string(),
            iso.date(case.opened_at_unix_ms),
            iso.due_date(crate::monitor::effective_due_at(case)),
            days,
        ]);
    }
    for row in &rows {
        csv.write_record(row)
            .map_err(|_| ConsoleError::Unavailable(t))?;
    }
    let bytes = csv.into_inner().map_err(|_| ConsoleError::Unavailable(t))?;
    state
        .store()
        .audit(&signed.operator, "cases.export", &purpose, "", cases.len())
        .await
        .map_err(|error| ConsoleError::from_store(error, t))?;
    let name = if direction == CaseDirection::Inbound {
        "attachment; filename=\"inbox.csv\""
    } else {
        "attachment; filename=\"outbox.csv\""
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, name),
        ],
        bytes,
    )
        .into_response())
}
