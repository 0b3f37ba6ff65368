//! The province console's words, one plain table per language ([`ZH`] in `zh.rs`, [`EN`] in `en.rs`): templates read
//! `{{ t.compliance }}`, so a string missing from a table fails the build. Which table a request
//! gets, and how dates are written, is [`console_kit::lang`]'s rule (shared with the county
//! console).

use axum::http::HeaderMap;
use console_kit::lang::Lang;

/// Every string the province console shows, in one language.
#[derive(Debug)]
pub struct Msgs {
    /// The `lang` attribute of pages in this table's language.
    pub lang: &'static str,
    /// The other language: its `?lang=` value and the link's text (in that language).
    pub other_code: &'static str,
    pub other_name: &'static str,
    pub console: &'static str,
    pub skip_to_content: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub operator_name: &'static str,
    pub password: &'static str,
    pub signed_in_as: &'static str,
    pub bad_sign_in: &'static str,
    pub locked_out: &'static str,
    pub forbidden_csrf: &'static str,
    pub forbidden_role: &'static str,
    pub not_found: &'static str,
    pub bad_form: &'static str,
    pub unavailable: &'static str,
    pub role_supervisor: &'static str,
    pub role_viewer: &'static str,
    pub role_admin: &'static str,
    pub operators: &'static str,
    pub role_label: &'static str,
    pub failed_sign_ins: &'static str,
    pub locked_until: &'static str,
    pub compliance: &'static str,
    pub period: &'static str,
    pub period_hint: &'static str,
    pub date_range: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub as_of: &'static str,
    pub as_of_hint: &'static str,
    pub show: &'static str,
    pub period_shown: &'static str,
    pub figures_as_of: &'static str,
    pub calendar_version: &'static str,
    pub rank: &'static str,
    pub county: &'static str,
    pub requests_due: &'static str,
    pub responses: &'static str,
    pub timely: &'static str,
    pub timely_rate: &'static str,
    pub response_rate: &'static str,
    pub acceptance_rate: &'static str,
    pub median_working_days: &'static str,
    pub disputed: &'static str,
    pub open_overdue: &'static str,
    pub oldest_overdue: &'static str,
    pub working_days_past_due: &'static str,
    pub mark: &'static str,
    pub top_three: &'static str,
    pub bottom_three: &'static str,
    pub not_ranked: &'static str,
    pub no_counties: &'static str,
    pub ranking_caption: &'static str,
    pub same_as_report: &'static str,
    pub expect_as_of: &'static str,
    pub downloads: &'static str,
    pub download_csv: &'static str,
    pub download_json: &'static str,
    pub download_notice: &'static str,
    pub quick_choices: &'static str,
    pub q_today: &'static str,
    pub q_five_days: &'static str,
    pub q_ten_days: &'static str,
    pub q_half_month: &'static str,
    pub q_week: &'static str,
    pub q_month: &'static str,
    pub q_last_month: &'static str,
    pub q_quarter: &'static str,
    pub q_half_year: &'static str,
    pub download_print: &'static str,
    pub print_hint: &'static str,
    pub trend: &'static str,
    pub trend_caption: &'static str,
    pub trend_chart: &'static str,
    pub months: &'static str,
    pub trend_link: &'static str,
    pub back_to_ranking: &'static str,
    pub province_total: &'static str,
    pub counties: &'static str,
    pub directory_caption: &'static str,
    pub status: &'static str,
    pub status_active: &'static str,
    pub status_revoked: &'static str,
    pub status_pending: &'static str,
    pub endpoint: &'static str,
    pub enrolled_at: &'static str,
    pub certificate_sha256: &'static str,
    pub enrol: &'static str,
    pub county_code: &'static str,
    pub county_name: &'static str,
    pub expect_county: &'static str,
    pub token_issued: &'static str,
    pub token_once: &'static str,
    pub hours: &'static str,
    // county page, case evidence (issue 16)
    pub county_page_figures: &'static str,
    pub chart_timely_title: &'static str,
    pub month: &'static str,
    pub monthly_caption: &'static str,
    pub nothing_due: &'static str,
    pub overdue_cases: &'static str,
    pub no_overdue_cases: &'static str,
    pub overdue_listed: &'static str,
    pub overdue_listed_tail: &'static str,
    pub case_id: &'static str,
    pub case_kind: &'static str,
    pub requester: &'static str,
    pub recipient: &'static str,
    pub delivered_at: &'static str,
    pub due_at: &'static str,
    pub past_due: &'static str,
    pub escalated: &'static str,
    pub escalated_yes: &'static str,
    pub disputed_cases: &'static str,
    pub no_disputed_cases: &'static str,
    pub reason: &'static str,
    pub original_text: &'static str,
    pub node_state: &'static str,
    pub prefecture: &'static str,
    pub certificate_full: &'static str,
    pub certificate_expiry: &'static str,
    pub days_left: &'static str,
    pub expires_within_30: &'static str,
    pub certificate_expired: &'static str,
    pub no_certificate: &'static str,
    pub last_case_report: &'static str,
    pub report_seq: &'static str,
    pub never_reported: &'static str,
    pub roster_cursor: &'static str,
    pub roster_time_not_kept: &'static str,
    pub directory_version_held: &'static str,
    pub directory_version_not_reported: &'static str,
    pub backlog: &'static str,
    pub backlog_not_reported: &'static str,
    pub last_contact: &'static str,
    pub version_current: &'static str,
    pub version_behind: &'static str,
    pub messages_queued: &'static str,
    pub oldest_queued: &'static str,
    pub as_reported_at: &'static str,
    pub restore_recovery: &'static str,
    pub not_in_directory: &'static str,
    pub unknown_county: &'static str,
    pub revoked_because: &'static str,
    pub case_evidence: &'static str,
    pub priority: &'static str,
    pub priority_urgent: &'static str,
    pub priority_normal: &'static str,
    pub parent_case: &'static str,
    pub verdict: &'static str,
    pub verdict_on_time: &'static str,
    pub verdict_late: &'static str,
    pub verdict_open_overdue: &'static str,
    pub verdict_open: &'static str,
    pub verdict_withdrawn: &'static str,
    pub verdict_not_delivered: &'static str,
    pub why_signed_at: &'static str,
    pub why_on_or_before: &'static str,
    pub why_after: &'static str,
    pub why_not_answered: &'static str,
    pub why_not_yet_due: &'static str,
    pub why_withdrawn: &'static str,
    pub why_no_receipt: &'static str,
    pub deciding_times: &'static str,
    pub source: &'static str,
    pub source_receipt: &'static str,
    pub source_acceptance: &'static str,
    pub source_response: &'static str,
    pub source_requester: &'static str,
    pub acceptance_due_at: &'static str,
    pub accepted_at: &'static str,
    pub responded_at: &'static str,
    pub extended_due_at: &'static str,
    pub withdrawn_at: &'static str,
    pub closed_at: &'static str,
    pub reports_of: &'static str,
    pub no_reports: &'static str,
    pub event: &'static str,
    pub event_at: &'static str,
    pub registry_received: &'static str,
    pub evidence_column: &'static str,
    pub signature: &'static str,
    pub verified: &'static str,
    pub no_evidence: &'static str,
    pub rejected: &'static str,
    pub repeat_report: &'static str,
    pub event_sent: &'static str,
    pub event_delivered: &'static str,
    pub event_accepted: &'static str,
    pub event_responded: &'static str,
    pub event_redirected: &'static str,
    pub event_reminded: &'static str,
    pub event_escalated: &'static str,
    pub event_extension: &'static str,
    pub event_withdrawn: &'static str,
    pub event_closed: &'static str,
    pub receipt_of_message: &'static str,
    pub signed_at: &'static str,
    pub handled_by: &'static str,
    pub arrived_at: &'static str,
    pub outcome_accepted: &'static str,
    pub outcome_answered: &'static str,
    pub outcome_redirected: &'static str,
    pub dispute: &'static str,
    pub no_dispute: &'static str,
    pub dispute_note: &'static str,
    pub bad_case_id: &'static str,
    pub unknown_case: &'static str,
    pub evidence_print_hint: &'static str,
    pub province_assigned: &'static str,
    pub expiry_caption: &'static str,
    pub no_prefecture: &'static str,
    pub revoke: &'static str,
    pub revoke_hint: &'static str,
    pub revoke_reason: &'static str,
    pub revoke_confirm: &'static str,
    pub revoke_submit: &'static str,
    pub expect_reason: &'static str,
    pub expect_confirm: &'static str,
    pub expect_enrolled_county: &'static str,
    pub revoked_notice: &'static str,
    pub verdict_as_of: &'static str,
    pub overdue_only_oldest: &'static str,
    // queries, alerts (issue 16)
    pub queries: &'static str,
    pub queries_intro: &'static str,
    pub purpose: &'static str,
    pub purpose_hint: &'static str,
    pub query_refused: &'static str,
    pub audited: &'static str,
    pub locate: &'static str,
    pub resident_id: &'static str,
    pub resident_id_hint: &'static str,
    pub hukou_county: &'static str,
    pub residing_in: &'static str,
    pub reporting_county: &'static str,
    pub residence_county: &'static str,
    pub person_name: &'static str,
    pub since: &'static str,
    pub reported_at: &'static str,
    pub locate_no_reports: &'static str,
    pub locate_caption: &'static str,
    pub counts: &'static str,
    pub residing: &'static str,
    pub inflow: &'static str,
    pub outflow: &'static str,
    pub flows: &'static str,
    pub flows_matrix: &'static str,
    pub flows_table: &'static str,
    pub from_county: &'static str,
    pub to_county: &'static str,
    pub people: &'static str,
    pub suppressed_note: &'static str,
    pub no_flows: &'static str,
    pub conflicts: &'static str,
    pub counties_listing: &'static str,
    pub untracked: &'static str,
    pub min_days: &'static str,
    pub gone_out_since: &'static str,
    pub last_known_residence: &'static str,
    pub nothing_found: &'static str,
    pub open_cases_for_these: &'static str,
    pub open_cases_hint: &'static str,
    pub open_cases_role: &'static str,
    pub cases_opened: &'static str,
    pub opened_count: &'static str,
    pub skipped_count: &'static str,
    pub by_county: &'static str,
    pub alerts: &'static str,
    pub alerts_caption: &'static str,
    pub alert_kind: &'static str,
    pub any_kind: &'static str,
    pub any_county: &'static str,
    pub kind_overdue: &'static str,
    pub kind_escalated: &'static str,
    pub kind_disputed: &'static str,
    pub kind_evidence_rejected: &'static str,
    pub kind_restored: &'static str,
    pub counterpart: &'static str,
    pub raised_at: &'static str,
    pub detail: &'static str,
    pub no_alerts: &'static str,
    pub filter: &'static str,
    pub alerts_limit: &'static str,
    pub refresh: &'static str,
    pub live_on: &'static str,
    pub live_stopped: &'static str,
    pub live_new_alert: &'static str,
    pub expect_kind: &'static str,
    pub person_residing: &'static str,
    pub person_departed: &'static str,
    pub person_living_elsewhere: &'static str,
    pub person_whereabouts_unknown: &'static str,
    pub expect_min_days: &'static str,
}

mod en;
mod zh;

pub use en::EN;
pub use zh::ZH;

/// The table of a language.
pub fn table(lang: Lang) -> &'static Msgs {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

/// The language of a request ([`Lang::choose`]) as its table.
pub fn choose(query_lang: Option<&str>, headers: &HeaderMap) -> &'static Msgs {
    table(Lang::choose(query_lang, headers))
}

impl Msgs {
    /// The language of this table.
    pub fn language(&self) -> Lang {
        if self.lang == "en" {
            Lang::En
        } else {
            Lang::Zh
        }
    }

    /// A day as this language writes it (2026年12月17日 / 2026-12-17).
    pub fn date(&self, unix_ms: i64) -> String {
        self.language().date(unix_ms)
    }

    /// An instant to the minute in the province's time zone.
    pub fn instant(&self, unix_ms: i64) -> String {
        self.language().instant(unix_ms)
    }

    /// A quick choice of period in this language.
    pub fn quick(&self, quick: super::periods::Quick) -> &'static str {
        use super::periods::Quick;
        match quick {
            Quick::Today => self.q_today,
            Quick::LastFiveDays => self.q_five_days,
            Quick::LastTenDays => self.q_ten_days,
            Quick::HalfMonth => self.q_half_month,
            Quick::ThisWeek => self.q_week,
            Quick::ThisMonth => self.q_month,
            Quick::LastMonth => self.q_last_month,
            Quick::ThisQuarter => self.q_quarter,
            Quick::ThisHalfYear => self.q_half_year,
        }
    }

    /// A role's name in this language.
    pub fn role(&self, role: &str) -> &'static str {
        match role {
            "admin" => self.role_admin,
            "supervisor" => self.role_supervisor,
            _ => self.role_viewer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_first_english_on_request() {
        let headers = HeaderMap::new();
        assert_eq!(choose(None, &headers).lang, "zh-CN");
        assert_eq!(choose(Some("en"), &headers).lang, "en");
        assert_eq!(ZH.language(), Lang::Zh);
        assert_eq!(EN.language(), Lang::En);
    }
}
