//! How `registry report` prints a compliance report: a bilingual table, CSV, JSON, or a
//! ready-to-circulate notice (通报) in Markdown, Chinese by default, English on request. None of
//! them holds personal data: cases are named by id, counties by code and name.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

use mpx_proto::v1::{ComplianceReportResponse, CountyCompliance, OverdueCase};

/// Text from the network on one table line: no line breaks, no cell separators.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() || c == '|' { ' ' } else { c })
        .collect()
}

/// A rate as the report prints it: one decimal, in percent; "—" when nothing was due.
pub fn percent(value: f64, denominator: i64) -> String {
    if denominator == 0 {
        "—".into()
    } else {
        format!("{:.1}%", value * 100.0)
    }
}

/// The median working days as the report prints it; "—" when there were no responses.
pub fn median(figures: &CountyCompliance) -> String {
    if figures.median_working_days < 0.0 {
        "—".into()
    } else {
        format!("{:.1}", figures.median_working_days)
    }
}

fn due_day(due_at_unix_ms: i64) -> String {
    crate::compliance::due_date_of(due_at_unix_ms)
}

/// The last day of the period (its end is exclusive).
fn last_day(report: &ComplianceReportResponse) -> String {
    mpx_proto::time::parse_date(&report.period_end)
        .ok()
        .and_then(|d| d.yesterday().ok())
        .map(|d| d.to_string())
        .unwrap_or_else(|| report.period_end.clone())
}

fn kind_zh(kind: i32) -> &'static str {
    mpx_proto::case_kind::spec(kind).map_or("其他", |spec| spec.name_zh)
}

fn kind_en(kind: i32) -> &'static str {
    mpx_proto::case_kind::spec(kind).map_or("other", |spec| spec.name_en)
}

fn county_label(figures: &CountyCompliance) -> String {
    if figures.name.is_empty() {
        figures.county.clone()
    } else {
        format!("{} {}", figures.county, figures.name)
    }
}

/// `text` padded to `width` terminal columns (CJK characters take two).
fn pad(text: &str, width: usize) -> String {
    let used = text.width();
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

/// The terminal table (headers in Chinese and English).
pub fn table(report: &ComplianceReportResponse) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "合规统计 Compliance  {}  ({} – {})  截至 as of {}",
        report.period,
        report.period_start,
        last_day(report),
        mpx_proto::time::format_unix_ms(report.as_of_unix_ms)
    );
    let _ = writeln!(out);
    let name_width = report
        .counties
        .iter()
        .map(|f| f.name.width())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "{:>4}  {:<8}  {}  {:>6}  {:>6}  {:>6}  {:>8}  {:>8}  {:>8}  {:>6}  {:>6}  {:>6}  OLDEST OVERDUE",
        "RANK",
        "COUNTY",
        pad("NAME", name_width),
        "DUE",
        "RESP",
        "TIMELY",
        "TIMELY%",
        "RESP%",
        "ACCEPT%",
        "MEDIAN",
        "DISPUT",
        "OVERDUE"
    );
    for figures in &report.counties {
        let rank = if figures.rank == 0 {
            "-".to_string()
        } else {
            figures.rank.to_string()
        };
        let oldest = if figures.oldest_overdue_case_id.is_empty() {
            String::new()
        } else {
            format!(
                "{} ({} WD)",
                figures.oldest_overdue_case_id, figures.oldest_overdue_working_days
            )
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<8}  {}  {:>6}  {:>6}  {:>6}  {:>8}  {:>8}  {:>8}  {:>6}  {:>6}  {:>6}  {}",
            rank,
            figures.county,
            pad(&figures.name, name_width),
            figures.requests_due,
            figures.responses,
            figures.timely,
            percent(figures.timely_rate, figures.requests_due),
            percent(figures.response_rate, figures.requests_due),
            percent(figures.acceptance_rate, figures.acceptance_due),
            median(figures),
            figures.disputed,
            figures.open_overdue,
            oldest
        );
    }
    if !report.disputed.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "双方记录不一致（不计分） Disputed (not scored):");
        for case in &report.disputed {
            let _ = writeln!(
                out,
                "  {}  {} → {}  {}",
                case.case_id,
                case.requester_county,
                case.recipient_county,
                one_line(&case.reason)
            );
        }
    }
    out
}

const CSV_HEADER: &str = "period,county,name,rank,requests_due,responses,timely,response_rate,timely_rate,acceptance_due,accepted_within_sla,acceptance_rate,median_working_days,extended,disputed,open_overdue,oldest_overdue_case_id,oldest_overdue_working_days";

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One row per county, rates as fractions with four decimals (empty when nothing was due).
pub fn csv(report: &ComplianceReportResponse) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    let fraction = |value: f64, denominator: i64| {
        if denominator == 0 {
            String::new()
        } else {
            format!("{value:.4}")
        }
    };
    for f in &report.counties {
        let median = if f.median_working_days < 0.0 {
            String::new()
        } else {
            format!("{:.1}", f.median_working_days)
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&report.period),
            f.county,
            csv_field(&f.name),
            f.rank,
            f.requests_due,
            f.responses,
            f.timely,
            fraction(f.response_rate, f.requests_due),
            fraction(f.timely_rate, f.requests_due),
            f.acceptance_due,
            f.accepted_within_sla,
            fraction(f.acceptance_rate, f.acceptance_due),
            median,
            f.extended,
            f.disputed,
            f.open_overdue,
            f.oldest_overdue_case_id,
            f.oldest_overdue_working_days
        );
    }
    out
}

/// The report as a workbook for the office: the ranking (rates in percent, as numbers that sort),
/// the open overdue cases, and the disputed cases, each on a sheet of its own with Chinese
/// headers. Created 0600 like every file we write.
pub fn workbook(
    report: &ComplianceReportResponse,
    path: &std::path::Path,
) -> Result<u64, mpx_proto::tabular::FileError> {
    use mpx_proto::tabular::{Cell, OutputFormat, TableWriter};
    let rate = |value: f64, denominator: i64| {
        if denominator == 0 {
            Cell::Text("")
        } else {
            Cell::Number((value * 1000.0).round() / 10.0)
        }
    };
    let count = |value: i64| Cell::Number(value as f64);
    let mut table = TableWriter::create(
        path,
        OutputFormat::Xlsx,
        "合规排名",
        &[
            "统计期",
            "排名",
            "县（市、区）代码",
            "县（市、区）",
            "到期",
            "已反馈",
            "按期反馈",
            "按期反馈率（%）",
            "反馈率（%）",
            "应受理",
            "按时受理",
            "及时受理率（%）",
            "反馈用时中位数（工作日）",
            "延期",
            "双方不一致",
            "逾期未反馈",
            "最久逾期案件",
            "最久逾期（工作日）",
        ],
    )?;
    for f in &report.counties {
        let rank = if f.rank == 0 {
            Cell::Text("—")
        } else {
            Cell::Number(f64::from(f.rank))
        };
        let median = if f.median_working_days < 0.0 {
            Cell::Text("")
        } else {
            Cell::Number((f.median_working_days * 10.0).round() / 10.0)
        };
        table.row(&[
            Cell::Text(&report.period),
            rank,
            Cell::Text(&f.county),
            Cell::Text(&f.name),
            count(f.requests_due),
            count(f.responses),
            count(f.timely),
            rate(f.timely_rate, f.requests_due),
            rate(f.response_rate, f.requests_due),
            count(f.acceptance_due),
            count(f.accepted_within_sla),
            rate(f.acceptance_rate, f.acceptance_due),
            median,
            count(f.extended),
            count(f.disputed),
            count(f.open_overdue),
            Cell::Text(&f.oldest_overdue_case_id),
            if f.oldest_overdue_case_id.is_empty() {
                Cell::Text("")
            } else {
                count(f.oldest_overdue_working_days)
            },
        ])?;
    }
    table.next_table(
        "逾期未反馈",
        &[
            "案件编号",
            "类型",
            "请求县",
            "承办县",
            "送达时间",
            "应反馈日期",
            "逾期（工作日）",
            "已督办",
        ],
    )?;
    for case in &report.overdue {
        let delivered = mpx_proto::time::format_unix_ms(case.delivered_at_unix_ms);
        let due = due_day(case.due_at_unix_ms);
        table.row(&[
            Cell::Text(&case.case_id),
            Cell::Text(kind_zh(case.kind)),
            Cell::Text(&case.requester_county),
            Cell::Text(&case.recipient_county),
            Cell::Text(&delivered),
            Cell::Date(&due),
            count(case.working_days_overdue),
            Cell::Text(if case.escalated { "是" } else { "否" }),
        ])?;
    }
    table.next_table("双方不一致", &["案件编号", "请求县", "承办县", "原因"])?;
    for case in &report.disputed {
        table.row(&[
            Cell::Text(&case.case_id),
            Cell::Text(&case.requester_county),
            Cell::Text(&case.recipient_county),
            Cell::Text(&case.reason),
        ])?;
    }
    table.finish()
}

/// The whole report as one JSON document.
pub fn json(report: &ComplianceReportResponse) -> serde_json::Value {
    let counties: Vec<_> = report
        .counties
        .iter()
        .map(|f| {
            serde_json::json!({
                "county": f.county, "name": f.name, "rank": f.rank,
                "requests_due": f.requests_due, "responses": f.responses, "timely": f.timely,
                "response_rate": f.response_rate, "timely_rate": f.timely_rate,
                "acceptance_due": f.acceptance_due, "accepted_within_sla": f.accepted_within_sla,
                "acceptance_rate": f.acceptance_rate, "median_working_days": f.median_working_days,
                "extended": f.extended, "disputed": f.disputed, "open_overdue": f.open_overdue,
                "oldest_overdue_case_id": f.oldest_overdue_case_id,
                "oldest_overdue_working_days": f.oldest_overdue_working_days,
            })
        })
        .collect();
    let overdue: Vec<_> = report
        .overdue
        .iter()
        .map(|c| {
            serde_json::json!({
                "case_id": c.case_id, "kind": kind_en(c.kind), "requester_county": c.requester_county,
                "recipient_county": c.recipient_county, "delivered_at_unix_ms": c.delivered_at_unix_ms,
                "due_at_unix_ms": c.due_at_unix_ms, "due_date": due_day(c.due_at_unix_ms),
                "working_days_overdue": c.working_days_overdue, "escalated": c.escalated,
            })
        })
        .collect();
    let disputed: Vec<_> = report
        .disputed
        .iter()
        .map(|c| {
            serde_json::json!({
                "case_id": c.case_id, "requester_county": c.requester_county,
                "recipient_county": c.recipient_county, "reason": c.reason,
            })
        })
        .collect();
    serde_json::json!({
        "period": report.period, "period_start": report.period_start, "period_end": report.period_end,
        "as_of_unix_ms": report.as_of_unix_ms, "calendar_version": report.calendar_version,
        "counties": counties, "overdue": overdue, "disputed": disputed,
    })
}

/// The period as a Chinese heading says it: 2026年11月, 2026年第4季度, ….
fn period_zh(label: &str) -> String {
    let Some((year, rest)) = label.split_once('-') else {
        return label.to_string();
    };
    if let Some(week) = rest.strip_prefix('W') {
        format!("{year}年第{}周", week.trim_start_matches('0'))
    } else if let Some(quarter) = rest.strip_prefix('Q') {
        format!("{year}年第{quarter}季度")
    } else if rest == "H1" {
        format!("{year}年上半年")
    } else if rest == "H2" {
        format!("{year}年下半年")
    } else if let Some((month, day)) = rest.split_once('-') {
        format!(
            "{year}年{}月{}日",
            month.trim_start_matches('0'),
            day.trim_start_matches('0')
        )
    } else {
        format!("{year}年{}月", rest.trim_start_matches('0'))
    }
}

struct Totals {
    due: i64,
    responses: i64,
    timely: i64,
    overdue: i64,
}

fn totals(report: &ComplianceReportResponse) -> Totals {
    Totals {
        due: report.counties.iter().map(|f| f.requests_due).sum(),
        responses: report.counties.iter().map(|f| f.responses).sum(),
        timely: report.counties.iter().map(|f| f.timely).sum(),
        overdue: report.overdue_total.max(report.overdue.len() as i64),
    }
}

fn ratio(numerator: i64, denominator: i64) -> String {
    if denominator == 0 {
        "—".into()
    } else {
        format!("{:.1}%", numerator as f64 * 100.0 / denominator as f64)
    }
}

fn overdue_rows(out: &mut String, overdue: &[OverdueCase], zh: bool) {
    for case in overdue {
        let escalated = match (case.escalated, zh) {
            (true, true) => "是",
            (false, true) => "否",
            (true, false) => "yes",
            (false, false) => "no",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            case.case_id,
            if zh {
                kind_zh(case.kind)
            } else {
                kind_en(case.kind)
            },
            case.requester_county,
            case.recipient_county,
            due_day(case.due_at_unix_ms),
            case.working_days_overdue,
            escalated
        );
    }
}

/// The notice (通报) for circulation, in Markdown. `english` gives the same content in English.
pub fn notice(report: &ComplianceReportResponse, english: bool) -> String {
    let zh = !english;
    let mut out = String::new();
    let t = totals(report);
    let as_of = mpx_proto::time::format_unix_ms(report.as_of_unix_ms);
    let ranked: Vec<&CountyCompliance> = report.counties.iter().filter(|f| f.rank > 0).collect();
    let idle: Vec<String> = report
        .counties
        .iter()
        .filter(|f| f.rank == 0)
        .map(county_label)
        .collect();
    if zh {
        let period = period_zh(&report.period);
        let _ = writeln!(out, "# 关于{period}流动人口信息协查反馈情况的通报\n");
        let _ = writeln!(
            out,
            "统计期间：{} 至 {}（以反馈期限届满日计）；统计时点：{as_of}；工作日历版本：{}。\n",
            report.period_start,
            last_day(report),
            report.calendar_version
        );
        let _ = writeln!(out, "各县（市、区）：\n");
        let _ = writeln!(
            out,
            "现将{period}反馈期限届满的流动人口居住通报、协查和档案转递请求的办理情况通报如下。\n"
        );
        let _ = writeln!(out, "## 一、总体情况\n");
        let _ = writeln!(
            out,
            "本期到期请求 {} 件，已反馈 {} 件，反馈率 {}；按期反馈 {} 件，按期反馈率 {}。截至统计时点，全省逾期未反馈 {} 件。\n",
            t.due,
            t.responses,
            ratio(t.responses, t.due),
            t.timely,
            ratio(t.timely, t.due),
            t.overdue
        );
        let _ = writeln!(out, "## 二、各县（市、区）按期反馈率排名\n");
        let _ = writeln!(
            out,
            "| 排名 | 县（市、区） | 到期 | 已反馈 | 按期反馈 | 按期反馈率 | 反馈率 | 及时受理率 | 反馈用时中位数（工作日） | 逾期未反馈 |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    } else {
        let _ = writeln!(
            out,
            "# Notice on the handling of migrant-population requests due in {}\n",
            report.period
        );
        let _ = writeln!(
            out,
            "Period: {} to {} (by the day each request fell due); figures as of {as_of}; working-day calendar {}.\n",
            report.period_start,
            last_day(report),
            report.calendar_version
        );
        let _ = writeln!(out, "## 1. Overview\n");
        let _ = writeln!(
            out,
            "{} requests fell due; {} were answered (response rate {}), {} on time (timely rate {}). As of the figures, {} cases are overdue and unanswered province-wide.\n",
            t.due,
            t.responses,
            ratio(t.responses, t.due),
            t.timely,
            ratio(t.timely, t.due),
            t.overdue
        );
        let _ = writeln!(out, "## 2. Counties ranked by timely rate\n");
        let _ = writeln!(
            out,
            "| Rank | County | Due | Answered | On time | Timely rate | Response rate | Accepted within SLA | Median working days | Overdue open |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    }
    for f in &ranked {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f.rank,
            county_label(f),
            f.requests_due,
            f.responses,
            f.timely,
            percent(f.timely_rate, f.requests_due),
            percent(f.response_rate, f.requests_due),
            percent(f.acceptance_rate, f.acceptance_due),
            median(f),
            f.open_overdue
        );
    }
    if !idle.is_empty() {
        if zh {
            let _ = writeln!(out, "\n本期无到期请求、未参与排名：{}。", idle.join("、"));
        } else {
            let _ = writeln!(out, "\nNothing fell due (not ranked): {}.", idle.join(", "));
        }
    }
    if zh {
        let _ = writeln!(out, "\n## 三、逾期未反馈案件\n");
    } else {
        let _ = writeln!(out, "\n## 3. Overdue unanswered cases\n");
    }
    if report.overdue.is_empty() {
        let _ = writeln!(out, "{}", if zh { "无。" } else { "None." });
    } else {
        if zh {
            let _ = writeln!(
                out,
                "| 案件编号 | 类型 | 请求方 | 承办方 | 反馈期限 | 逾期（工作日） | 已上报督办 |"
            );
        } else {
            let _ = writeln!(
                out,
                "| Case | Kind | Requester | Responsible | Due | Working days overdue | Escalated |"
            );
        }
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        overdue_rows(&mut out, &report.overdue, zh);
        if report.overdue_total > report.overdue.len() as i64 {
            if zh {
                let _ = writeln!(
                    out,
                    "\n（共 {} 件，以上为逾期最久的 {} 件。）",
                    report.overdue_total,
                    report.overdue.len()
                );
            } else {
                let _ = writeln!(
                    out,
                    "\n({} in all; the {} oldest are listed.)",
                    report.overdue_total,
                    report.overdue.len()
                );
            }
        }
    }
    if !report.disputed.is_empty() {
        if zh {
            let _ = writeln!(out, "\n## 四、双方记录不一致、暂不计分的案件\n");
            let _ = writeln!(out, "| 案件编号 | 请求方 | 承办方 | 不一致情况 |");
        } else {
            let _ = writeln!(
                out,
                "\n## 4. Cases the two sides' records disagree on (not scored)\n"
            );
            let _ = writeln!(out, "| Case | Requester | Responsible | Disagreement |");
        }
        let _ = writeln!(out, "|---|---|---|---|");
        for case in &report.disputed {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                case.case_id,
                case.requester_county,
                case.recipient_county,
                one_line(&case.reason)
            );
        }
    }
    if zh {
        let _ = writeln!(
            out,
            "\n请逾期未反馈的县（市、区）尽快办结上述案件；对记录不一致的案件，请双方核对记录并将核对结果报省级登记中心。\n"
        );
        let _ = writeln!(
            out,
            "数据来源：MPX 省级登记中心，依据各县节点签名回执与签名答复计算，口径见系统说明（README「Compliance figures」）。本通报不含个人信息。"
        );
    } else {
        let _ = writeln!(
            out,
            "\nCounties with overdue cases are asked to answer them promptly; for disputed cases both sides should check their records and report the outcome to the provincial registry.\n"
        );
        let _ = writeln!(
            out,
            "Source: the MPX provincial registry, computed from the counties' signed receipts and signed responses (definitions: README, \"Compliance figures\"). This notice holds no personal data."
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_names_in_chinese() {
        assert_eq!(period_zh("2026-11"), "2026年11月");
        assert_eq!(period_zh("2026-Q4"), "2026年第4季度");
        assert_eq!(period_zh("2026-H1"), "2026年上半年");
        assert_eq!(period_zh("2026-W09"), "2026年第9周");
        assert_eq!(period_zh("2026-11-05"), "2026年11月5日");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("武都区"), "武都区");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
