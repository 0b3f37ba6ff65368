//! The inbox and outbox (收件箱 / 发件箱): filters by state, kind, other county, priority,
//! deadline (due soon, overdue, a range of due dates); three orders; pages with the count in
//! all — each a field of `mpx.v1.Cases/ListCases`, so the database filters, sorts and pages
//! (indexes of migration 0015) and a list costs the same at 100 cases or 100 000; working days left as a number and a colour (and 逾期 in words); and the
//! same list as CSV (UTF-8 with a BOM, so spreadsheets show the Chinese), which asks for a
//! purpose and is audited as an export.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mpx_proto::v1::cases_server::Cases;
use mpx_proto::v1::{self, CaseDirection, CaseOrder, CasePriority, CaseState, ListCasesRequest};
use serde::Deserialize;

use super::auth::Signed;
use super::i18n::{self, Msgs};
use super::pages::{as_operator, days_text, peer_of};
use super::{ConsoleError, ConsoleQuery, ConsoleState};
use crate::monitor::DueBounds;

/// Rows on one page of a list.
const PAGE_ROWS: u32 = 50;

/// Cases read per call of the service for the CSV export.
const EXPORT_PAGE: u32 = 1000;

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
    /// Deadlines from this day (YYYY-MM-DD, as `<input type="date">` sends it).
    due_from: Option<String>,
    /// Deadlines up to this day.
    due_to: Option<String>,
    /// `due` (the default), `newest` or `oldest`.
    sort: Option<String>,
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
    due_from: Option<jiff::civil::Date>,
    due_to: Option<jiff::civil::Date>,
    /// The text of a date field that is not a date, and which field (shown beside it).
    bad_date: Option<(&'static str, String)>,
    sort: String,
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
        let mut bad_date = None;
        let mut date = |field: &'static str, text: String| -> Option<jiff::civil::Date> {
            if text.is_empty() {
                return None;
            }
            let parsed = text.parse::<jiff::civil::Date>().ok();
            if parsed.is_none() && bad_date.is_none() {
                bad_date = Some((field, text));
            }
            parsed
        };
        let due_from = date("due_from", value(&query.due_from));
        let due_to = date("due_to", value(&query.due_to));
        let sort = value(&query.sort);
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
            due_from,
            due_to,
            bad_date,
            sort: if matches!(sort.as_str(), "newest" | "oldest") {
                sort
            } else {
                String::new()
            },
        }
    }

    fn state_label(&self) -> &'static str {
        self.state.map_or("", mpx_proto::case_kind::state_label)
    }

    /// The service's request for these filters, deadlines read against `bounds`; `None` when
    /// the deadline filters leave no day at all (a "from" after the "to").
    fn request(&self, direction: CaseDirection, bounds: &DueBounds) -> Option<ListCasesRequest> {
        let mut request = ListCasesRequest {
            direction: direction as i32,
            state: self.state.map_or(0, |s| s as i32),
            kind: mpx_proto::case_kind::kind_from_label(&self.kind).map_or(0, |k| k as i32),
            priority: match self.priority.as_str() {
                "urgent" => CasePriority::Urgent as i32,
                "normal" => CasePriority::Normal as i32,
                _ => 0,
            },
            peer_county: self.peer.clone(),
            order: match self.sort.as_str() {
                "newest" => CaseOrder::Newest,
                "oldest" => CaseOrder::Oldest,
                _ => CaseOrder::Due,
            } as i32,
            with_total: true,
            ..Default::default()
        };
        // A deadline is an exclusive end instant: the end of its due day.
        let (mut after, mut until) = (0_i64, i64::MAX);
        match self.due.as_str() {
            "overdue" => until = bounds.now_unix_ms,
            "soon" => (after, until) = (bounds.now_unix_ms, bounds.soon_until_unix_ms),
            _ => {}
        }
        request.awaiting_answer = !self.due.is_empty();
        if let Some(day) = self.due_from {
            let start = day
                .yesterday()
                .map_or(0, mpx_proto::calendar::end_of_day_unix_ms);
            after = after.max(start);
        }
        if let Some(day) = self.due_to {
            until = until.min(mpx_proto::calendar::end_of_day_unix_ms(day));
        }
        if until <= after {
            return None;
        }
        request.due_after_unix_ms = after;
        request.due_until_unix_ms = if until == i64::MAX { 0 } else { until };
        if (self.due_from.is_some() || self.due_to.is_some()) && request.due_after_unix_ms == 0 {
            // "Has a deadline at all": the service reads either bound so.
            request.due_after_unix_ms = 1;
        }
        Some(request)
    }

    /// The filters as a query string (known values only: nothing to escape).
    fn query_string(&self) -> String {
        self.kept()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The filters in force as (name, value): hidden fields of the export form, and links.
    fn kept(&self) -> Vec<(&'static str, String)> {
        let day = |d: Option<jiff::civil::Date>| d.map(|d| d.to_string()).unwrap_or_default();
        vec![
            ("state", self.state_label().to_string()),
            ("kind", self.kind.clone()),
            ("peer", self.peer.clone()),
            ("priority", self.priority.clone()),
            ("due", self.due.clone()),
            ("due_from", day(self.due_from)),
            ("due_to", day(self.due_to)),
            ("sort", self.sort.clone()),
        ]
    }
}

/// One page of the cases the filters select, through `mpx.v1.Cases/ListCases` as the signed-in
/// operator (audited there), with how many match in all.
async fn page_of(
    state: &ConsoleState,
    signed: &Signed,
    request: Option<ListCasesRequest>,
    offset: u64,
    rows: u32,
) -> Result<(Vec<v1::Case>, u64), ConsoleError> {
    let Some(mut request) = request else {
        return Ok((Vec::new(), 0));
    };
    request.page_size = rows;
    request.page_token = if offset == 0 {
        String::new()
    } else {
        offset.to_string()
    };
    let response = state
        .cases
        .list_cases(as_operator(&signed.operator, request))
        .await
        .map_err(|status| ConsoleError::from_status(status, signed.t))?
        .into_inner();
    Ok((response.cases, response.total_size))
}

/// The counties a list can be narrowed to: the directory's active counties but this one, and
/// the county chosen (which may have left the directory since).
fn peer_choices(state: &ConsoleState, chosen: &str) -> Vec<String> {
    let own = state.county.to_string();
    let mut peers: Vec<String> = state
        .workflow
        .directory()
        .active_counties()
        .into_iter()
        .map(|(code, _)| code)
        .filter(|code| *code != own)
        .collect();
    if !chosen.is_empty() && !peers.iter().any(|code| code == chosen) {
        peers.push(chosen.to_string());
        peers.sort();
    }
    peers
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
    sort: Select,
    due_from: String,
    due_to: String,
    /// The date field that was not a date ("" when none), and what it said.
    bad_date_field: &'static str,
    bad_date_text: String,
    /// The filters in force, as hidden fields of the export form.
    kept: Vec<(&'static str, String)>,
    export_action: &'static str,
    rows: Vec<Row>,
    total: u64,
    page: u64,
    pages: u64,
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
    let bounds = state.due_bounds();
    let request = filters.request(direction, &bounds);
    let wanted = query
        .page
        .as_deref()
        .and_then(|p| p.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    let rows_per_page = u64::from(PAGE_ROWS);
    let (mut cases, mut total) = page_of(
        &state,
        &signed,
        request.clone(),
        (wanted - 1).saturating_mul(rows_per_page),
        PAGE_ROWS,
    )
    .await?;
    let pages = total.div_ceil(rows_per_page).max(1);
    let page = wanted.min(pages);
    if page != wanted {
        // Past the last page (the list shrank, or a typed link): show the last one.
        (cases, total) = page_of(
            &state,
            &signed,
            request,
            (page - 1) * rows_per_page,
            PAGE_ROWS,
        )
        .await?;
    }
    let pages = total.div_ceil(rows_per_page).max(1);
    let rows = cases
        .iter()
        .map(|case| {
            let (days_text, days_class) = days_text(t, case, bounds.of(case));
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
    let href = |page: u64| format!("{base}?{}&page={page}", filters.query_string());
    let peers = peer_choices(&state, &filters.peer);
    let day = |d: Option<jiff::civil::Date>| d.map(|d| d.to_string()).unwrap_or_default();
    Ok(ListPage {
        t,
        title,
        filters: selects(&state, t, &filters, peers),
        sort: Select {
            name: "sort",
            label: t.sort,
            options: [
                ("", t.sort_due),
                ("newest", t.sort_newest),
                ("oldest", t.sort_oldest),
            ]
            .into_iter()
            .map(|(value, label)| Opt {
                selected: value == filters.sort,
                value: value.to_string(),
                label: label.to_string(),
            })
            .collect(),
        },
        due_from: day(filters.due_from),
        due_to: day(filters.due_to),
        bad_date_field: filters.bad_date.as_ref().map_or("", |(field, _)| *field),
        bad_date_text: filters
            .bad_date
            .as_ref()
            .map(|(_, text)| text.clone())
            .unwrap_or_default(),
        kept: filters.kept(),
        export_action,
        rows,
        total,
        page,
        pages,
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
    let bounds = state.due_bounds();
    let request = filters.request(direction, &bounds);
    let mut cases = Vec::new();
    loop {
        let (page, total) = page_of(
            &state,
            &signed,
            request.clone(),
            cases.len() as u64,
            EXPORT_PAGE,
        )
        .await?;
        let last = page.len() < EXPORT_PAGE as usize;
        cases.extend(page);
        if last || cases.len() as u64 >= total {
            break;
        }
    }
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
        let (days, _) = days_text(t, case, bounds.of(case));
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
