//! Each county's timely rate month by month (按期答复率走势): one `registry report` per month,
//! the same call as the compliance page's (so each month's figure is that month's ranking
//! figure), as a table — counties down, months across — with a line of the same numbers drawn
//! beside each row (inline SVG by our own code; the numbers are always there without it). The
//! province's row sums the counties' requests, as the 通报's overview does.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::Signed;
use super::compliance::{Fetched, Pick, encode, fetch};
use super::i18n::Msgs;
use super::periods::months_up_to;
use super::{ConsoleError, ConsoleQuery, ConsoleState};

/// How many months a trend shows at most (each is one report).
pub const MAX_MONTHS: usize = 12;
const DEFAULT_MONTHS: usize = 6;

#[derive(Debug, Default, Deserialize)]
pub struct TrendPick {
    /// How many months, up to and including the month of `as_of` (default 6, 2 to 12).
    #[serde(default)]
    months: String,
    /// As `registry report --as-of` (empty: now).
    #[serde(default)]
    as_of: String,
}

/// One month of one county (or the province): timely of due, or nothing due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    pub due: i64,
    pub timely: i64,
}

impl Cell {
    fn rate(self) -> Option<f64> {
        (self.due > 0).then(|| self.timely as f64 / self.due as f64)
    }

    fn text(self) -> String {
        crate::render::percent(self.rate().unwrap_or(0.0), self.due)
    }
}

struct TrendRow {
    county: String,
    name: String,
    cells: Vec<String>,
    /// The line's SVG path (`M x y L x y …`, a new `M` after a month with nothing due).
    path: String,
    /// The months with a figure, as points.
    points: Vec<(u32, u32)>,
}

/// Width and height of a row's line; months are spaced evenly, 0 % at the bottom.
const WIDTH: u32 = 160;
const HEIGHT: u32 = 32;

/// The line of a row: x by month, y by rate; a month with nothing due breaks it.
pub fn line(cells: &[Cell]) -> (String, Vec<(u32, u32)>) {
    let step = if cells.len() > 1 {
        (WIDTH - 8) / (cells.len() as u32 - 1)
    } else {
        0
    };
    let mut path = String::new();
    let mut points = Vec::new();
    let mut joined = false;
    for (index, cell) in cells.iter().enumerate() {
        let Some(rate) = cell.rate() else {
            joined = false;
            continue;
        };
        let x = 4 + step * index as u32;
        let y = 4 + ((1.0 - rate.clamp(0.0, 1.0)) * f64::from(HEIGHT - 8)).round() as u32;
        path.push_str(&format!("{}{x} {y} ", if joined { "L" } else { "M" }));
        points.push((x, y));
        joined = true;
    }
    (path.trim_end().to_string(), points)
}

#[derive(Template, WebTemplate)]
#[template(path = "trend.html")]
struct TrendPage {
    t: &'static Msgs,
    signed: Option<Signed>,
    months: Vec<String>,
    month_count: usize,
    as_of: String,
    as_of_query: String,
    error: Option<String>,
    province: Option<TrendRow>,
    rows: Vec<TrendRow>,
    width: u32,
    height: u32,
}

fn trend_row(county: String, name: String, cells: &[Cell]) -> TrendRow {
    let (path, points) = line(cells);
    TrendRow {
        county,
        name,
        cells: cells.iter().map(|cell| cell.text()).collect(),
        path,
        points,
    }
}

pub async fn page(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(pick): ConsoleQuery<TrendPick>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let month_count = match pick.months.trim() {
        "" => DEFAULT_MONTHS,
        text => text
            .parse::<usize>()
            .ok()
            .filter(|n| (2..=MAX_MONTHS).contains(n))
            .ok_or(ConsoleError::BadForm(t))?,
    };
    let as_of = pick.as_of.trim().to_string();
    let last_day = match as_of.as_str() {
        "" => mpx_proto::time::today_in_province(),
        text => match crate::compliance::parse_as_of(text)
            .ok()
            .and_then(mpx_proto::time::date_of_unix_ms)
        {
            Some(day) => day,
            None => return Err(ConsoleError::BadForm(t)),
        },
    };
    let months = months_up_to(last_day, month_count);
    // County → its cells; a county missing from a month's report had nothing there.
    let mut counties: BTreeMap<String, (String, Vec<Cell>)> = BTreeMap::new();
    let mut province = vec![Cell::default(); months.len()];
    let mut error = None;
    for (index, month) in months.iter().enumerate() {
        let mut one = Pick {
            period: month.clone(),
            as_of: as_of.clone(),
            ..Pick::default()
        };
        let report = match fetch(&state, &signed, &mut one).await? {
            Fetched::Report(report) => report,
            Fetched::BadAsOf => return Err(ConsoleError::BadForm(t)),
            Fetched::BadPeriod(message) => {
                error = Some(message);
                break;
            }
        };
        for figures in &report.counties {
            let entry = counties
                .entry(figures.county.clone())
                .or_insert_with(|| (figures.name.clone(), vec![Cell::default(); months.len()]));
            entry.1[index] = Cell {
                due: figures.requests_due,
                timely: figures.timely,
            };
            province[index].due += figures.requests_due;
            province[index].timely += figures.timely;
        }
    }
    let rows = counties
        .into_iter()
        .map(|(county, (name, cells))| trend_row(county, name, &cells))
        .collect();
    let page = TrendPage {
        t,
        months,
        month_count,
        as_of_query: encode(&as_of),
        as_of: if as_of.is_empty() {
            t.instant(mpx_proto::time::now_unix_ms())
        } else {
            as_of
        },
        error,
        province: Some(trend_row(String::new(), t.province_total.into(), &province)),
        rows,
        width: WIDTH,
        height: HEIGHT,
        signed: Some(signed),
    };
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_with_nothing_due_breaks_the_line() {
        let cells = [
            Cell { due: 4, timely: 4 },
            Cell { due: 4, timely: 2 },
            Cell { due: 0, timely: 0 },
            Cell { due: 2, timely: 0 },
        ];
        let (path, points) = line(&cells);
        // x: 4 + 50·month; y: 4 (100 %) … 28 (0 %).
        assert_eq!(path, "M4 4 L54 16 M154 28");
        assert_eq!(points, [(4, 4), (54, 16), (154, 28)]);
        assert_eq!(line(&[Cell::default(); 3]).0, "");
        assert_eq!(
            Cell { due: 8, timely: 7 }.text(),
            crate::render::percent(0.875, 8)
        );
    }
}
