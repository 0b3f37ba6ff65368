//! The compliance page (合规统计): pick a period (a month by default, or any range of days) and
//! an instant, and see the counties ranked by timely rate — the figures of `registry report`,
//! from the same call ([`crate::service::compliance::ComplianceService`]'s `report`, in process,
//! as the signed-in operator, audited like the command line's). Rates are numbers with a bar
//! beside them (inline SVG: the policy allows no inline style); the top and bottom three are
//! marked in words as well as colour.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use mpx_proto::v1::compliance_server::Compliance;
use mpx_proto::v1::{ComplianceReportRequest, ComplianceReportResponse, CountyCompliance};
use serde::Deserialize;

use super::auth::Signed;
use super::i18n::Msgs;
use super::periods::Quick;
use super::{ConsoleError, ConsoleQuery, ConsoleState};

/// The choice of period and instant, as the form sends it.
#[derive(Debug, Default, Deserialize)]
pub struct Pick {
    /// A period as `registry report --period` takes it (default: this month).
    #[serde(default)]
    pub period: String,
    /// A range of days instead (both or neither), YYYY-MM-DD.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// `--as-of` (empty: now).
    #[serde(default)]
    pub as_of: String,
}

/// How a county stands in the ranking, in words (never colour alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Top,
    Bottom,
    Middle,
    NotRanked,
}

/// Top three: ranks 1–3; bottom three: the last three ranks not already in the top three (so
/// with four ranked counties, only the fourth is bottom); counties with nothing due are not
/// ranked.
pub fn standing(rank: u32, ranked: u32) -> Standing {
    match rank {
        0 => Standing::NotRanked,
        1..=3 => Standing::Top,
        rank if rank + 3 > ranked => Standing::Bottom,
        _ => Standing::Middle,
    }
}

/// One row of the ranked table, as shown.
struct Row {
    rank: String,
    county: String,
    name: String,
    standing: Standing,
    requests_due: i64,
    responses: i64,
    timely: i64,
    timely_rate: String,
    /// The bar's width out of 100 (0 when nothing was due).
    timely_bar: u32,
    response_rate: String,
    response_bar: u32,
    acceptance_rate: String,
    median: String,
    disputed: i64,
    open_overdue: i64,
    oldest_overdue: String,
    /// Its first eight characters (a case id is a UUID: unique enough to read, the link and
    /// its title carry the whole).
    oldest_short: String,
    /// Working days the oldest open overdue case is past due (0: none).
    oldest_days: i64,
}

fn bar(rate: f64, denominator: i64) -> u32 {
    if denominator == 0 || !rate.is_finite() {
        return 0;
    }
    // Rates are fractions in [0, 1]; a bar is out of 100 (the number beside it is exact).
    (rate.clamp(0.0, 1.0) * 100.0).round() as u32
}

/// A case id's first eight characters and an ellipsis, for a narrow column.
fn short_id(id: &str) -> String {
    match id.char_indices().nth(8) {
        Some((cut, _)) => format!("{}…", &id[..cut]),
        None => id.to_string(),
    }
}

fn row(figures: &CountyCompliance, ranked: u32) -> Row {
    Row {
        rank: if figures.rank == 0 {
            "—".into()
        } else {
            figures.rank.to_string()
        },
        county: figures.county.clone(),
        name: figures.name.clone(),
        standing: standing(figures.rank, ranked),
        requests_due: figures.requests_due,
        responses: figures.responses,
        timely: figures.timely,
        timely_rate: crate::render::percent(figures.timely_rate, figures.requests_due),
        timely_bar: bar(figures.timely_rate, figures.requests_due),
        response_rate: crate::render::percent(figures.response_rate, figures.requests_due),
        response_bar: bar(figures.response_rate, figures.requests_due),
        acceptance_rate: crate::render::percent(figures.acceptance_rate, figures.acceptance_due),
        median: crate::render::median(figures),
        disputed: figures.disputed,
        open_overdue: figures.open_overdue,
        oldest_overdue: if figures.oldest_overdue_case_id.is_empty() {
            "—".into()
        } else {
            figures.oldest_overdue_case_id.clone()
        },
        oldest_short: short_id(&figures.oldest_overdue_case_id),
        oldest_days: figures.oldest_overdue_working_days,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "compliance.html")]
struct CompliancePage {
    t: &'static Msgs,
    signed: Option<Signed>,
    pick: Pick,
    /// The choice as a query string, for the download links.
    export_query: String,
    /// What is wrong with the period or the instant, beside its field.
    period_error: Option<String>,
    as_of_error: Option<&'static str>,
    /// The report's own description of what it covers.
    period_label: String,
    first_day: String,
    last_day: String,
    as_of: String,
    calendar_version: String,
    rows: Vec<Row>,
    /// The quick choices of period, as links.
    quick: Vec<QuickLink>,
    /// The instant of the choice, percent-encoded, for the links that keep it.
    as_of_query: String,
}

/// A quick choice of period as a link: its words, the period, whether it is the one shown.
struct QuickLink {
    label: &'static str,
    period: String,
    current: bool,
}

fn quick_links(t: &'static Msgs, pick: &Pick) -> Vec<QuickLink> {
    let today = mpx_proto::time::today_in_province();
    let ranged = !(pick.from.trim().is_empty() && pick.to.trim().is_empty());
    Quick::ALL
        .into_iter()
        .map(|quick| {
            let period = quick.period(today);
            QuickLink {
                label: t.quick(quick),
                current: !ranged && period == pick.period,
                period,
            }
        })
        .collect()
}

impl CompliancePage {
    fn standing_text(&self, standing: &Standing) -> &'static str {
        match standing {
            Standing::Top => self.t.top_three,
            Standing::Bottom => self.t.bottom_three,
            Standing::Middle => "",
            Standing::NotRanked => self.t.not_ranked,
        }
    }

    fn standing_class(&self, standing: &Standing) -> &'static str {
        match standing {
            Standing::Top => "rank-top",
            Standing::Bottom => "rank-bottom",
            Standing::Middle => "rank-middle",
            Standing::NotRanked => "rank-none",
        }
    }
}

/// This month in the province, as `registry report --period` writes it.
fn this_month() -> String {
    super::periods::month(mpx_proto::time::today_in_province())
}

/// What the form asked for, or why it cannot be asked: a bad instant (beside its field) or the
/// service's refusal of the period (its own words).
pub(super) enum Fetched {
    Report(ComplianceReportResponse),
    BadAsOf,
    BadPeriod(String),
}

/// Fills in the default period (this month) and fetches the report as `registry report`
/// does: the same service call, as the signed-in operator (audited alike).
pub(super) async fn fetch(
    state: &ConsoleState,
    signed: &Signed,
    pick: &mut Pick,
) -> Result<Fetched, ConsoleError> {
    pick.period = pick.period.trim().to_string();
    if pick.period.is_empty() {
        pick.period = this_month();
    }
    let (from, to) = (pick.from.trim(), pick.to.trim());
    let period = if from.is_empty() && to.is_empty() {
        pick.period.clone()
    } else {
        format!("{from}..{to}")
    };
    let as_of_unix_ms = match pick.as_of.trim() {
        "" => 0,
        text => match crate::compliance::parse_as_of(text) {
            Ok(instant) => instant,
            Err(_) => return Ok(Fetched::BadAsOf),
        },
    };
    let request = mpx_proto::runtime::as_operator(
        &signed.operator,
        ComplianceReportRequest {
            period,
            as_of_unix_ms,
            county: String::new(),
            overdue_limit: 0,
        },
    );
    match state.compliance.report(request).await {
        Ok(response) => Ok(Fetched::Report(response.into_inner())),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            Ok(Fetched::BadPeriod(status.message().to_string()))
        }
        Err(status) => {
            tracing::error!(%status, "province console: the compliance report failed");
            Err(ConsoleError::Unavailable(signed.t))
        }
    }
}

/// A query-string value, percent-encoded (all but the unreserved characters).
pub(super) fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The query string of a choice, for the export links (each value percent-encoded).
pub(super) fn query_of(pick: &Pick) -> String {
    format!(
        "period={}&from={}&to={}&as_of={}",
        encode(&pick.period),
        encode(pick.from.trim()),
        encode(pick.to.trim()),
        encode(pick.as_of.trim())
    )
}

pub async fn page(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(mut pick): ConsoleQuery<Pick>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let fetched = fetch(&state, &signed, &mut pick).await?;
    let mut page = CompliancePage {
        t,
        signed: Some(signed),
        pick: Pick::default(),
        export_query: query_of(&pick),
        period_error: None,
        as_of_error: None,
        period_label: String::new(),
        first_day: String::new(),
        last_day: String::new(),
        as_of: String::new(),
        calendar_version: String::new(),
        rows: Vec::new(),
        quick: quick_links(t, &pick),
        as_of_query: encode(pick.as_of.trim()),
    };
    let report = match fetched {
        Fetched::Report(report) => report,
        Fetched::BadAsOf => {
            page.as_of_error = Some(t.expect_as_of);
            page.pick = pick;
            return Ok(page.into_response());
        }
        Fetched::BadPeriod(message) => {
            page.period_error = Some(message);
            page.pick = pick;
            return Ok(page.into_response());
        }
    };
    let ranked =
        u32::try_from(report.counties.iter().filter(|f| f.rank > 0).count()).unwrap_or(u32::MAX);
    page.rows = report.counties.iter().map(|f| row(f, ranked)).collect();
    page.period_label = report.period.clone();
    page.first_day = mpx_proto::time::parse_date(&report.period_start)
        .map(|day| t.language().calendar_date(day))
        .unwrap_or_default();
    page.last_day = mpx_proto::time::parse_date(&report.period_end)
        .ok()
        .and_then(|end| end.yesterday().ok())
        .map(|day| t.language().calendar_date(day))
        .unwrap_or_default();
    page.as_of = t.instant(report.as_of_unix_ms);
    page.calendar_version = report.calendar_version;
    page.pick = pick;
    Ok(page.into_response())
}

/// Which file a download is.
#[derive(Debug, Clone, Copy)]
enum Export {
    Csv,
    Json,
    Notice,
    /// The 通报 as a page to print (or save as PDF from the browser).
    Print,
}

/// The 通报 as a page to print: the very Markdown of the download (and of `registry report
/// --format md`), as HTML. Raw HTML in it — a county's name is an admin's free text — is shown
/// as text, never passed through.
#[derive(Template, WebTemplate)]
#[template(path = "notice_print.html")]
struct NoticePrint {
    t: &'static Msgs,
    signed: Option<Signed>,
    back_query: String,
    notice_html: String,
}

/// CommonMark with tables to HTML, every HTML fragment of the source escaped as text.
pub fn markdown_html(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 2);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// The report of the page's choice as a file, written by [`crate::render`] exactly as
/// `registry report --format csv|json|md` writes it (the CSV with a byte-order mark, so a
/// spreadsheet opens the Chinese names as UTF-8; the 通报 in the page's language).
async fn export(
    state: ConsoleState,
    signed: Signed,
    mut pick: Pick,
    format: Export,
) -> Result<Response, ConsoleError> {
    let report = match fetch(&state, &signed, &mut pick).await? {
        Fetched::Report(report) => report,
        Fetched::BadAsOf | Fetched::BadPeriod(_) => return Err(ConsoleError::BadForm(signed.t)),
    };
    let english = signed.t.language() == console_kit::lang::Lang::En;
    if let Export::Print = format {
        let page = NoticePrint {
            t: signed.t,
            back_query: query_of(&pick),
            notice_html: markdown_html(&crate::render::notice(&report, english)),
            signed: Some(signed),
        };
        return Ok(page.into_response());
    }
    let (body, content_type, extension) = match format {
        Export::Csv => (
            format!("\u{feff}{}", crate::render::csv(&report)),
            "text/csv; charset=utf-8",
            "csv",
        ),
        Export::Json => (
            format!("{}\n", crate::render::json(&report)),
            "application/json",
            "json",
        ),
        Export::Notice | Export::Print => (
            crate::render::notice(&report, english),
            "text/markdown; charset=utf-8",
            "md",
        ),
    };
    // The period label holds only digits, letters, '-' and '.' (Period::parse made it).
    let file: String = report
        .period
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .collect();
    let disposition = format!("attachment; filename=\"compliance-{file}.{extension}\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_string()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

pub async fn export_csv(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(pick): ConsoleQuery<Pick>,
) -> Result<Response, ConsoleError> {
    export(state, signed, pick, Export::Csv).await
}

pub async fn export_json(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(pick): ConsoleQuery<Pick>,
) -> Result<Response, ConsoleError> {
    export(state, signed, pick, Export::Json).await
}

pub async fn export_notice(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(pick): ConsoleQuery<Pick>,
) -> Result<Response, ConsoleError> {
    export(state, signed, pick, Export::Notice).await
}

pub async fn print_notice(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(pick): ConsoleQuery<Pick>,
) -> Result<Response, ConsoleError> {
    export(state, signed, pick, Export::Print).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printable_notice_shows_html_in_names_as_text() {
        let html = markdown_html(
            "# 通报\n\n| 排名 | 县 |\n|---|---|\n| 1 | <script>x()</script>武都区 |\n\n<b>raw</b>\n",
        );
        assert!(html.contains("<h1>通报</h1>"), "{html}");
        assert!(
            html.contains("<table>") && html.contains("<td>1</td>"),
            "{html}"
        );
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn top_and_bottom_three_never_overlap() {
        let of = |ranked| {
            (1..=ranked)
                .map(|rank| standing(rank, ranked))
                .collect::<Vec<_>>()
        };
        use Standing::*;
        assert_eq!(of(7), [Top, Top, Top, Middle, Bottom, Bottom, Bottom]);
        assert_eq!(of(6), [Top, Top, Top, Bottom, Bottom, Bottom]);
        assert_eq!(of(4), [Top, Top, Top, Bottom]);
        assert_eq!(of(2), [Top, Top]);
        assert_eq!(standing(0, 5), NotRanked);
    }

    #[test]
    fn bars_are_out_of_a_hundred_and_empty_when_nothing_was_due() {
        assert_eq!(bar(0.875, 8), 88);
        assert_eq!(bar(1.0, 1), 100);
        assert_eq!(bar(0.5, 0), 0);
        assert_eq!(bar(f64::NAN, 3), 0);
    }
}
