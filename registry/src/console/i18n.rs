//! The province console's words, one plain table per language ([`ZH`], [`EN`]): templates read
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
}

/// 简体中文 (the default).
pub static ZH: Msgs = Msgs {
    lang: "zh-CN",
    other_code: "en",
    other_name: "English",
    console: "省级监管平台",
    skip_to_content: "跳到正文",
    sign_in: "登录",
    sign_out: "退出登录",
    operator_name: "用户名",
    password: "密码",
    signed_in_as: "当前用户",
    bad_sign_in: "用户名或密码不正确。",
    locked_out: "登录失败次数过多，账户已锁定 15 分钟。",
    forbidden_csrf: "表单已过期或来源不明，请返回重新提交。",
    forbidden_role: "您的角色无权执行此操作。",
    not_found: "未找到该页面。",
    bad_form: "表单内容无法识别。",
    unavailable: "服务暂时不可用，未作任何更改，请稍后再试。",
    role_supervisor: "督导员",
    role_viewer: "查看员",
    role_admin: "管理员",
    operators: "用户管理",
    role_label: "角色",
    failed_sign_ins: "连续登录失败次数",
    locked_until: "锁定至",
    compliance: "合规统计",
    period: "统计期",
    period_hint: "如 2026-11（月）、2026-Q4、2026-H2、2026-W48、2026-11-30",
    date_range: "或任意日期范围",
    from: "起始日",
    to: "截止日（含）",
    as_of: "截至日期",
    as_of_hint: "留空为当前时刻；日期指当日结束时",
    show: "查询",
    period_shown: "统计期",
    figures_as_of: "数据截至",
    calendar_version: "工作日历版本",
    rank: "排名",
    county: "县（区）",
    requests_due: "应办件数",
    responses: "已答复",
    timely: "按期答复",
    timely_rate: "按期答复率",
    response_rate: "答复率",
    acceptance_rate: "按期受理率",
    median_working_days: "办理用时中位数（工作日）",
    disputed: "双方记录不一致",
    open_overdue: "逾期未办结",
    oldest_overdue: "最久逾期",
    working_days_past_due: "个工作日",
    mark: "标记",
    top_three: "前三名",
    bottom_three: "后三名",
    not_ranked: "本期无应办件，不参与排名",
    no_counties: "目录中还没有县（区）。",
    ranking_caption: "各县（区）按期答复率排名",
    same_as_report: "本表与命令 registry report 的结果一致（同一计算）。",
    expect_as_of: "截至日期应为 YYYY-MM-DD，如 2026-11-30",
    downloads: "下载",
    download_csv: "排名表（CSV）",
    download_json: "数据（JSON）",
    download_notice: "通报（Markdown）",
    quick_choices: "常用统计期",
    q_today: "今日",
    q_five_days: "近五日（五天一评比）",
    q_ten_days: "近十日（十天一通报）",
    q_half_month: "本半月（半月一总结）",
    q_week: "本周",
    q_month: "本月",
    q_last_month: "上月",
    q_quarter: "本季度",
    q_half_year: "本半年",
    download_print: "通报（打印版）",
    print_hint: "用浏览器的“打印”即可打印或另存为 PDF。",
    trend: "按期答复率走势",
    trend_caption: "各县（区）逐月按期答复率（本月无应办件记为“—”）",
    trend_chart: "走势",
    months: "月数",
    trend_link: "逐月走势",
    back_to_ranking: "返回排名",
    province_total: "全省",
    counties: "县区管理",
    directory_caption: "目录中的县（区）节点",
    status: "状态",
    status_active: "在用",
    status_revoked: "已吊销",
    status_pending: "待接入",
    endpoint: "节点地址",
    enrolled_at: "接入日期",
    certificate_sha256: "证书指纹（SHA-256 前 16 位）",
    enrol: "接入新县（区）",
    county_code: "县（区）代码（6 位）",
    county_name: "县（区）名称",
    expect_county: "应为本省的 6 位县级代码，如 621202",
    token_issued: "一次性接入令牌已生成：",
    token_once: "令牌只显示这一次，已加密保存；请交给该县（区）节点管理员，在节点上运行 exchange-node init --token。",
    hours: "小时内有效",
};

/// English.
pub static EN: Msgs = Msgs {
    lang: "en",
    other_code: "zh",
    other_name: "中文",
    console: "Province console",
    skip_to_content: "Skip to content",
    sign_in: "Sign in",
    sign_out: "Sign out",
    operator_name: "Name",
    password: "Password",
    signed_in_as: "Signed in as",
    bad_sign_in: "Wrong name or password.",
    locked_out: "Too many failed sign-ins: the account is locked for 15 minutes.",
    forbidden_csrf: "This form has expired or did not come from this console; go back and send it again.",
    forbidden_role: "Your role may not do this.",
    not_found: "There is no such page.",
    bad_form: "The form could not be read.",
    unavailable: "The service is unavailable; nothing was changed. Try again shortly.",
    role_supervisor: "supervisor",
    role_viewer: "viewer",
    role_admin: "admin",
    operators: "Operators",
    role_label: "Role",
    failed_sign_ins: "Failed sign-ins in a row",
    locked_until: "Locked until",
    compliance: "Compliance",
    period: "Period",
    period_hint: "e.g. 2026-11 (month), 2026-Q4, 2026-H2, 2026-W48, 2026-11-30",
    date_range: "or any range of days",
    from: "First day",
    to: "Last day (included)",
    as_of: "As of",
    as_of_hint: "empty: now; a date means the end of that day",
    show: "Show",
    period_shown: "Period",
    figures_as_of: "Figures as of",
    calendar_version: "Working-day calendar",
    rank: "Rank",
    county: "County",
    requests_due: "Requests due",
    responses: "Responses",
    timely: "Timely",
    timely_rate: "Timely rate",
    response_rate: "Response rate",
    acceptance_rate: "Accepted within SLA",
    median_working_days: "Median working days",
    disputed: "Disputed",
    open_overdue: "Open overdue",
    oldest_overdue: "Oldest overdue",
    working_days_past_due: "working days",
    mark: "Mark",
    top_three: "top three",
    bottom_three: "bottom three",
    not_ranked: "nothing due in this period: not ranked",
    no_counties: "No county is in the directory yet.",
    ranking_caption: "Counties ranked by timely rate",
    same_as_report: "The same figures as `registry report` (one computation).",
    expect_as_of: "As of: YYYY-MM-DD, e.g. 2026-11-30",
    downloads: "Download",
    download_csv: "ranking (CSV)",
    download_json: "figures (JSON)",
    download_notice: "notice (Markdown)",
    quick_choices: "Quick choices",
    q_today: "today",
    q_five_days: "last 5 days (five-day round)",
    q_ten_days: "last 10 days (ten-day notice)",
    q_half_month: "this half-month (half-month summary)",
    q_week: "this week",
    q_month: "this month",
    q_last_month: "last month",
    q_quarter: "this quarter",
    q_half_year: "this half-year",
    download_print: "notice (printable)",
    print_hint: "Print it, or save it as PDF, from the browser's print dialog.",
    trend: "Timely rate over time",
    trend_caption: "Each county's timely rate by month (— where nothing fell due)",
    trend_chart: "Trend",
    months: "Months",
    trend_link: "by month",
    back_to_ranking: "Back to the ranking",
    province_total: "Province",
    counties: "Counties",
    directory_caption: "County nodes in the directory",
    status: "Status",
    status_active: "active",
    status_revoked: "revoked",
    status_pending: "pending",
    endpoint: "Endpoint",
    enrolled_at: "Enrolled",
    certificate_sha256: "Certificate SHA-256 (first 16)",
    enrol: "Enrol a county",
    county_code: "County code (6 digits)",
    county_name: "County name",
    expect_county: "a 6-digit county code of this province, e.g. 621202",
    token_issued: "One-time enrolment token issued for",
    token_once: "Shown this once and stored hashed: give it to the county node's operator for exchange-node init --token.",
    hours: "hours valid",
};

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
