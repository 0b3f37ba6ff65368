//! The console's words, one plain table per language ([`ZH`], [`EN`]): templates read
//! `{{ t.inbox }}`, so a string missing from a table fails the build. The language of a request:
//! `?lang=`, then the `mpx_lang` cookie, then `Accept-Language`, default zh-CN. Dates: 2026年12月17日
//! in Chinese, ISO 8601 in English.

use axum::http::HeaderMap;
use console_kit::lang::Lang;
use mpx_proto::v1::{CasePriority, CaseState};

/// Every string the console shows, in one language.
#[derive(Debug)]
pub struct Msgs {
    /// The `lang` attribute and the `?lang=` value of this table.
    pub lang: &'static str,
    pub code: &'static str,
    /// The other language: its `?lang=` value and the link's text (in that language).
    pub other_code: &'static str,
    pub other_name: &'static str,
    pub console: &'static str,
    pub skip_to_content: &'static str,
    pub start: &'static str,
    pub inbox: &'static str,
    pub outbox: &'static str,
    pub new_request: &'static str,
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
    pub role_clerk: &'static str,
    pub role_viewer: &'static str,
    pub role_admin: &'static str,
    pub role_label: &'static str,
    pub operators: &'static str,
    pub failed_sign_ins: &'static str,
    pub locked_until: &'static str,
    pub unlock: &'static str,
    pub add_operator: &'static str,
    pub add_operator_hint: &'static str,
    pub password_again: &'static str,
    pub passwords_differ: &'static str,
    pub expect_name: &'static str,
    pub expect_role: &'static str,
    pub expect_password: &'static str,
    pub awaiting_acceptance: &'static str,
    pub due_soon: &'static str,
    pub overdue: &'static str,
    pub open_alerts: &'static str,
    pub no_alerts: &'static str,
    pub alert_kind: &'static str,
    pub raised: &'static str,
    pub stuck_outbox: &'static str,
    /// A restore from a backup: a title, and lines with `{backup}`, `{progress}`, `{replayed}`,
    /// `{rebuilt}`, `{clerk}`; progress with `{pending}`, `{peers}` or `{at}`.
    pub restored_title: &'static str,
    pub restore_line: &'static str,
    pub restore_recovering: &'static str,
    pub restore_done: &'static str,
    pub answers_since: &'static str,
    pub today_work: &'static str,
    pub filter: &'static str,
    pub any: &'static str,
    pub state: &'static str,
    pub kind: &'static str,
    pub peer_county: &'static str,
    pub priority: &'static str,
    pub due: &'static str,
    pub due_from: &'static str,
    pub due_to: &'static str,
    pub expect_date: &'static str,
    pub sort: &'static str,
    pub sort_due: &'static str,
    pub sort_newest: &'static str,
    pub sort_oldest: &'static str,
    pub cases_total: &'static str,
    pub person: &'static str,
    pub resident_id: &'static str,
    pub subject_name: &'static str,
    pub opened: &'static str,
    pub days_left: &'static str,
    pub days_unit: &'static str,
    pub overdue_by: &'static str,
    pub extended: &'static str,
    pub no_cases: &'static str,
    pub previous_page: &'static str,
    pub next_page: &'static str,
    pub page: &'static str,
    pub case: &'static str,
    pub open_case: &'static str,
    pub requester: &'static str,
    pub recipient: &'static str,
    pub questions: &'static str,
    pub answer: &'static str,
    pub due_date: &'static str,
    pub original_due_date: &'static str,
    pub extended_due_date: &'static str,
    pub acceptance_due_date: &'static str,
    pub provisional: &'static str,
    pub timeline: &'static str,
    pub when: &'static str,
    pub event: &'static str,
    pub actor: &'static str,
    pub detail: &'static str,
    pub evidence: &'static str,
    pub evidence_hint: &'static str,
    pub signer: &'static str,
    pub signed_at: &'static str,
    pub arrived_at: &'static str,
    pub check: &'static str,
    pub check_verified: &'static str,
    pub check_bad_signature: &'static str,
    pub check_no_certificate: &'static str,
    pub check_missing: &'static str,
    pub no_evidence: &'static str,
    pub print_view: &'static str,
    pub printed_copy: &'static str,
    pub printed_by: &'static str,
    pub back_to_case: &'static str,
    pub actions: &'static str,
    pub no_actions: &'static str,
    pub accept: &'static str,
    pub note: &'static str,
    pub respond: &'static str,
    pub verdict: &'static str,
    pub verdict_confirmed: &'static str,
    pub verdict_disputed: &'static str,
    pub withdraw: &'static str,
    pub reason: &'static str,
    pub close: &'static str,
    pub redirect: &'static str,
    pub redirect_to: &'static str,
    pub ask_extension: &'static str,
    pub extension_days: &'static str,
    pub grant_extension: &'static str,
    pub deny_extension: &'static str,
    pub done: &'static str,
    pub submit: &'static str,
    pub choose_county: &'static str,
    pub urgent: &'static str,
    pub normal: &'static str,
    pub new_request_hint: &'static str,
    pub form_has_errors: &'static str,
    pub expect_recipient: &'static str,
    pub expect_resident_id: &'static str,
    pub expect_subject_name: &'static str,
    pub expect_questions: &'static str,
    pub expect_text: &'static str,
    pub expect_purpose: &'static str,
    pub export_csv: &'static str,
    pub purpose: &'static str,
    pub show_full_id: &'static str,
    pub expect_working_days: &'static str,
    pub expect_answer: &'static str,
    pub expect_reason: &'static str,
    pub expect_redirect: &'static str,
    pub state_queued: &'static str,
    pub state_delivered: &'static str,
    pub state_accepted: &'static str,
    pub state_responded: &'static str,
    pub state_closed: &'static str,
    pub state_withdrawn: &'static str,
    pub state_redirected: &'static str,
    pub state_rejected: &'static str,
    // ---- live alerts and the directory page (目录与状态) ----
    pub live_on: &'static str,
    pub live_new_alert: &'static str,
    pub live_stopped: &'static str,
    pub directory_health: &'static str,
    pub node_health: &'static str,
    pub registry: &'static str,
    pub registry_reachable: &'static str,
    pub registry_unreachable: &'static str,
    pub registry_not_called: &'static str,
    pub answered_seconds_ago: &'static str,
    pub down_for_seconds: &'static str,
    pub replica_address: &'static str,
    pub directory_version: &'static str,
    pub directory_issued: &'static str,
    pub directory_not_loaded: &'static str,
    pub certificate_expiry: &'static str,
    pub certificate_days_left: &'static str,
    pub certificate_expired: &'static str,
    pub certificate_renew_soon: &'static str,
    pub certificate_unknown: &'static str,
    pub directory_counties: &'static str,
    pub county_code: &'static str,
    pub county_name: &'static str,
    pub route_state: &'static str,
    pub outbox_depth: &'static str,
    pub oldest_waiting: &'static str,
    pub outbox_stuck: &'static str,
    pub county_self: &'static str,
    pub county_route: &'static str,
    pub county_no_endpoint: &'static str,
    pub county_revoked: &'static str,
    pub county_not_listed: &'static str,
    /// Punctuation around and between the parts of a state (full-width in Chinese).
    pub paren_open: &'static str,
    pub paren_close: &'static str,
    pub comma: &'static str,
}

/// 中文 (the default).
pub static ZH: Msgs = Msgs {
    lang: "zh-CN",
    code: "zh",
    other_code: "en",
    other_name: "English",
    console: "流动人口信息协查 · 县级控制台",
    skip_to_content: "跳到正文",
    start: "工作台",
    inbox: "收件箱",
    outbox: "发件箱",
    new_request: "新建协查",
    sign_in: "登录",
    sign_out: "退出",
    operator_name: "用户名",
    password: "密码",
    signed_in_as: "当前用户",
    bad_sign_in: "用户名或密码错误。",
    locked_out: "连续登录失败次数过多，账户已锁定15分钟；请稍后再试，或请管理员解锁（exchange-node operator unlock）。",
    forbidden_csrf: "请求已被拒绝：表单已过期或来源不明（缺少或错误的防伪令牌）。请返回重新提交。",
    forbidden_role: "您的角色不能办理此操作（只读用户只能查看；操作员管理仅限管理员）。",
    not_found: "未找到该页面或案件。",
    bad_form: "无法读取提交的内容（格式不正确），未作任何更改。请返回页面重新填写。",
    unavailable: "系统暂时无法完成操作，未作任何更改；请稍后重试或联系运维人员。",
    role_clerk: "办事员",
    role_viewer: "只读",
    role_admin: "管理员",
    role_label: "角色",
    operators: "操作员管理",
    failed_sign_ins: "连续登录失败次数",
    locked_until: "锁定至",
    unlock: "解锁",
    add_operator: "新增或重设操作员",
    add_operator_hint: "同名操作员将被重设角色和密码，并结束其已有会话。",
    password_again: "再次输入密码",
    passwords_differ: "两次输入的密码不一致，未作任何更改。",
    expect_name: "用户名应为1到64个字符，不含控制字符，例如 王芳。",
    expect_role: "角色应为办事员、只读或管理员。",
    expect_password: "密码至少10个字符。",
    awaiting_acceptance: "待接收",
    due_soon: "两个工作日内到期",
    overdue: "逾期",
    open_alerts: "未处理提醒",
    no_alerts: "没有未处理的提醒。",
    alert_kind: "提醒类型",
    raised: "提醒时间",
    stuck_outbox: "发件箱滞留消息",
    restored_title: "本节点已从备份恢复",
    restore_line: "备份截至 {backup}；{progress}；已由其他节点重放 {replayed} 条消息，重建本节点发出的 {rebuilt} 条；{clerk} 项需人工处理（exchange-node status）。",
    restore_recovering: "正在向 {peers} 个节点中的 {pending} 个恢复",
    restore_done: "已于 {at} 恢复完成",
    answers_since: "上次登录以来收到的答复",
    today_work: "今日待办",
    filter: "筛选",
    any: "全部",
    state: "状态",
    kind: "类型",
    peer_county: "对方县",
    priority: "优先级",
    due: "期限",
    due_from: "办理期限自",
    due_to: "办理期限至",
    expect_date: "应为日期，格式如 2026-12-17",
    sort: "排序",
    sort_due: "按办理期限（未办结在前）",
    sort_newest: "最新发起在前",
    sort_oldest: "最早发起在前",
    cases_total: "共计件数",
    person: "当事人",
    resident_id: "公民身份号码",
    subject_name: "姓名",
    opened: "发起日期",
    days_left: "剩余工作日",
    days_unit: "个工作日",
    overdue_by: "逾期",
    extended: "已延期",
    no_cases: "没有符合条件的案件。",
    previous_page: "上一页",
    next_page: "下一页",
    page: "页",
    case: "案件",
    open_case: "查看",
    requester: "发起县",
    recipient: "承办县",
    questions: "协查事项",
    answer: "答复",
    due_date: "办理期限",
    original_due_date: "原办理期限",
    extended_due_date: "延期后期限",
    acceptance_due_date: "接收期限",
    provisional: "（暂定：节假日安排未公布）",
    timeline: "办理经过",
    when: "时间",
    event: "事项",
    actor: "办理人",
    detail: "说明",
    evidence: "签名凭证",
    evidence_hint: "接收方签署的回执与答复；每次打开本页时用目录中签署方的证书重新验证。",
    signer: "签署方",
    signed_at: "签署时间",
    arrived_at: "到达本县时间",
    check: "验证结果",
    check_verified: "签名有效",
    check_bad_signature: "签名无法用签署方现有证书验证（可能被改动，或证书已更换）",
    check_no_certificate: "目录中没有签署方的有效证书，无法验证",
    check_missing: "缺少签名凭证",
    no_evidence: "尚无签名凭证。",
    print_view: "打印版",
    printed_copy: "案件打印件",
    printed_by: "打印人及时间",
    back_to_case: "返回案件",
    actions: "可办理操作",
    no_actions: "当前状态下无可办理操作。",
    accept: "接收",
    note: "备注",
    respond: "答复",
    verdict: "核实结论",
    verdict_confirmed: "属实",
    verdict_disputed: "有异议",
    withdraw: "撤回",
    reason: "理由",
    close: "结案",
    redirect: "转办（非本地案件）",
    redirect_to: "转至县（区）",
    ask_extension: "申请延期",
    extension_days: "延期工作日数（1–60）",
    grant_extension: "同意延期",
    deny_extension: "不同意延期",
    done: "已办理。",
    submit: "提交",
    choose_county: "请选择县（区）",
    urgent: "紧急",
    normal: "普通",
    new_request_hint: "向其他县（区）发起协查。带 * 的为必填项。",
    form_has_errors: "表单有误，未保存任何内容。请按提示修改：",
    expect_recipient: "请从列表中选择承办县（区），不能是本县。",
    expect_resident_id: "应为18位公民身份号码：前17位为数字，末位为数字或X，且校验码正确（GB 11643），例如 11010519491231002X。",
    expect_subject_name: "请填写姓名（不超过规定长度，不含控制字符）。",
    expect_questions: "请填写需要核实的事项（不超过规定长度）。",
    expect_text: "内容不符合要求：",
    expect_purpose: "导出须填写用途（不超过200个字符），用途将记入审计日志。",
    export_csv: "导出CSV",
    purpose: "用途",
    show_full_id: "查看完整号码（记入审计）",
    expect_working_days: "延期工作日数应为1到60之间的整数。",
    expect_answer: "请填写答复内容（不超过规定长度）。",
    expect_reason: "理由或备注不符合要求（不超过规定长度，不含控制字符）。",
    expect_redirect: "请从列表中选择转至的县（区），不能是本县或发起县。",
    state_queued: "待发送",
    state_delivered: "已送达",
    state_accepted: "已接收",
    state_responded: "已答复",
    state_closed: "已结案",
    state_withdrawn: "已撤回",
    state_redirected: "已转办",
    state_rejected: "被拒收",
    live_on: "新提醒会自动出现在表格顶部，无需刷新。",
    live_new_alert: "新提醒：",
    live_stopped: "实时更新已停止（会话已结束或节点已停止），请刷新页面。",
    directory_health: "目录与状态",
    node_health: "本节点状态",
    registry: "省级注册中心",
    registry_reachable: "可连接",
    registry_unreachable: "无法连接",
    registry_not_called: "尚未联系",
    answered_seconds_ago: "秒前最近一次应答",
    down_for_seconds: "秒前中断，正在重试",
    replica_address: "地址",
    directory_version: "目录版本",
    directory_issued: "签发时间",
    directory_not_loaded: "尚未载入目录",
    certificate_expiry: "本节点证书到期日",
    certificate_days_left: "天后到期",
    certificate_expired: "已过期",
    certificate_renew_soon: "即将到期，请及时更换证书",
    certificate_unknown: "无法读取",
    directory_counties: "本省目录中的县（区）及待发消息",
    county_code: "代码",
    county_name: "名称",
    route_state: "状态",
    outbox_depth: "待发消息",
    oldest_waiting: "最早一条排队于",
    outbox_stuck: "滞留",
    county_self: "本节点",
    county_route: "已接入，可送达",
    county_no_endpoint: "已接入，尚无地址（暂存）",
    county_revoked: "证书已吊销，无路由（暂存）",
    county_not_listed: "不在本省目录中，无路由（暂存）",
    paren_open: "（",
    paren_close: "）",
    comma: "，",
};

/// English.
pub static EN: Msgs = Msgs {
    lang: "en",
    code: "en",
    other_code: "zh",
    other_name: "中文",
    console: "Migrant population exchange · county console",
    skip_to_content: "Skip to content",
    start: "Start",
    inbox: "Inbox",
    outbox: "Outbox",
    new_request: "New request",
    sign_in: "Sign in",
    sign_out: "Sign out",
    operator_name: "Name",
    password: "Password",
    signed_in_as: "Signed in as",
    bad_sign_in: "Wrong name or password.",
    locked_out: "Too many failed sign-ins: the account is locked for 15 minutes; try later, or ask an admin to unlock it (exchange-node operator unlock).",
    forbidden_csrf: "Refused: the form is stale or did not come from this console (missing or wrong CSRF token). Go back and submit it again.",
    forbidden_role: "Your role does not allow this (viewers only read; only admins manage operators).",
    not_found: "No such page or case.",
    bad_form: "The submitted form could not be read (malformed); nothing was changed. Go back and fill it in again.",
    unavailable: "The node could not do this just now; nothing was changed. Retry, or ask the operator.",
    role_clerk: "clerk",
    role_viewer: "viewer",
    role_admin: "admin",
    role_label: "Role",
    operators: "Operators",
    failed_sign_ins: "Failed sign-ins in a row",
    locked_until: "Locked until",
    unlock: "Unlock",
    add_operator: "Add or reset an operator",
    add_operator_hint: "An operator of the same name gets the new role and password, and their sessions end.",
    password_again: "Password again",
    passwords_differ: "The two passwords differ; nothing was changed.",
    expect_name: "A name of 1 to 64 characters without control characters, e.g. 王芳.",
    expect_role: "The role is clerk, viewer or admin.",
    expect_password: "A password of at least 10 characters.",
    awaiting_acceptance: "Awaiting acceptance",
    due_soon: "Due within two working days",
    overdue: "Overdue",
    open_alerts: "Open alerts",
    no_alerts: "No open alerts.",
    alert_kind: "Alert",
    raised: "Raised",
    stuck_outbox: "Messages stuck in the outbox",
    restored_title: "This node was restored from a backup",
    restore_line: "The backup holds everything up to {backup}; {progress}; {replayed} messages replayed by other nodes, {rebuilt} this node had sent rebuilt; {clerk} items need a clerk (exchange-node status).",
    restore_recovering: "recovering from {pending} of {peers} peers",
    restore_done: "recovered at {at}",
    answers_since: "Answers received since your last visit",
    today_work: "Today's work",
    filter: "Filter",
    any: "Any",
    state: "State",
    kind: "Kind",
    peer_county: "Other county",
    priority: "Priority",
    due: "Due",
    due_from: "Due from",
    due_to: "Due until",
    expect_date: "expected a date such as 2026-12-17",
    sort: "Sort",
    sort_due: "By due date (open first)",
    sort_newest: "Newest first",
    sort_oldest: "Oldest first",
    cases_total: "Cases in all",
    person: "Person",
    resident_id: "Resident ID",
    subject_name: "Name",
    opened: "Opened",
    days_left: "Working days left",
    days_unit: "working days",
    overdue_by: "overdue",
    extended: "extended",
    no_cases: "No cases match.",
    previous_page: "Previous",
    next_page: "Next",
    page: "page",
    case: "Case",
    open_case: "Open",
    requester: "Requester",
    recipient: "Recipient",
    questions: "Questions",
    answer: "Answer",
    due_date: "Due",
    original_due_date: "Original due date",
    extended_due_date: "Extended due date",
    acceptance_due_date: "Accept by",
    provisional: " (provisional: holidays not yet published)",
    timeline: "Timeline",
    when: "When",
    event: "Event",
    actor: "By",
    detail: "Detail",
    evidence: "Signed evidence",
    evidence_hint: "Receipts and answers signed by the recipient; checked against the signer's certificate in the directory each time this page opens.",
    signer: "Signed by",
    signed_at: "Signed at",
    arrived_at: "Reached this county",
    check: "Check",
    check_verified: "Signature valid",
    check_bad_signature: "Does not verify against the signer's current certificate (altered, or the certificate was replaced)",
    check_no_certificate: "No active certificate of the signer in the directory to check against",
    check_missing: "Signed evidence missing",
    no_evidence: "No signed evidence yet.",
    print_view: "Printable view",
    printed_copy: "Case printout",
    printed_by: "Printed by, at",
    back_to_case: "Back to the case",
    actions: "Actions",
    no_actions: "Nothing can be done in this state.",
    accept: "Accept",
    note: "Note",
    respond: "Respond",
    verdict: "Verdict",
    verdict_confirmed: "confirmed",
    verdict_disputed: "disputed",
    withdraw: "Withdraw",
    reason: "Reason",
    close: "Close",
    redirect: "Redirect (not ours)",
    redirect_to: "Redirect to county",
    ask_extension: "Ask for more time",
    extension_days: "Working days more (1–60)",
    grant_extension: "Grant the extension",
    deny_extension: "Deny the extension",
    done: "Done.",
    submit: "Submit",
    choose_county: "Choose a county",
    urgent: "urgent",
    normal: "normal",
    new_request_hint: "Ask another county to verify facts about a person. Fields marked * are required.",
    form_has_errors: "The form has errors; nothing was stored. Please correct:",
    expect_recipient: "Choose the county from the list; not this county.",
    expect_resident_id: "Expected an 18-character resident ID: 17 digits, then a digit or X, with a correct check digit (GB 11643), e.g. 11010519491231002X.",
    expect_subject_name: "Enter the person's name (within the length limit, no control characters).",
    expect_questions: "Enter what is to be verified (within the length limit).",
    expect_text: "Not accepted: ",
    expect_purpose: "An export needs a purpose (at most 200 characters); it is recorded in the audit log.",
    export_csv: "Export CSV",
    purpose: "Purpose",
    show_full_id: "Show the full ID (audited)",
    expect_working_days: "Working days must be a whole number from 1 to 60.",
    expect_answer: "Enter the answer (within the length limit).",
    expect_reason: "The reason or note is not accepted (length limit, no control characters).",
    expect_redirect: "Choose the county from the list; not this county nor the requester.",
    state_queued: "queued",
    state_delivered: "delivered",
    state_accepted: "accepted",
    state_responded: "responded",
    state_closed: "closed",
    state_withdrawn: "withdrawn",
    state_redirected: "redirected",
    state_rejected: "rejected",
    live_on: "New alerts appear at the top of the table without reloading.",
    live_new_alert: "New alert: ",
    live_stopped: "Live updates stopped (the session ended or the node stopped); reload the page.",
    directory_health: "Directory and status",
    node_health: "This node",
    registry: "Provincial registry",
    registry_reachable: "reachable",
    registry_unreachable: "unreachable",
    registry_not_called: "not contacted yet",
    answered_seconds_ago: "s since its last answer",
    down_for_seconds: "s since it failed; retrying",
    replica_address: "Address",
    directory_version: "Directory version",
    directory_issued: "issued",
    directory_not_loaded: "No directory loaded yet",
    certificate_expiry: "Node certificate expires",
    certificate_days_left: "days left",
    certificate_expired: "expired",
    certificate_renew_soon: "expires soon: renew it",
    certificate_unknown: "cannot be read",
    directory_counties: "Counties in the province directory, with queued messages",
    county_code: "Code",
    county_name: "Name",
    route_state: "State",
    outbox_depth: "Queued messages",
    oldest_waiting: "Oldest queued",
    outbox_stuck: "stuck",
    county_self: "this node",
    county_route: "enrolled, endpoint known",
    county_no_endpoint: "enrolled, no endpoint yet (held)",
    county_revoked: "revoked: no route (held)",
    county_not_listed: "not in this province's directory: no route (held)",
    paren_open: " (",
    paren_close: ")",
    comma: ", ",
};

/// Timeline events in Chinese, by the label the workflow stores.
static EVENTS_ZH: &[(&str, &str)] = &[
    ("opened", "发起"),
    ("sent", "已发送"),
    ("delivered", "已送达"),
    ("notice delivered", "通报已送达"),
    ("request delivered", "协查请求已送达"),
    ("response delivered", "答复已送达"),
    ("reminder delivered", "催办已送达"),
    ("withdrawal delivered", "撤回通知已送达"),
    ("record_share delivered", "档案已送达"),
    ("extension_request delivered", "延期申请已送达"),
    ("extension_decision delivered", "延期决定已送达"),
    ("received", "收到"),
    ("request received", "收到协查请求"),
    ("residence notice received", "收到居住通报"),
    ("accepted", "已接收"),
    ("responded", "已答复"),
    ("redirected", "已转办"),
    ("linked", "关联案件"),
    ("withdrawn", "已撤回"),
    ("closed", "已结案"),
    ("reminded", "收到催办"),
    ("reminder sent", "已催办"),
    ("extension requested", "申请延期"),
    ("extension_granted", "同意延期"),
    ("extension_denied", "不同意延期"),
    ("roster", "花名册更新"),
    ("due date recomputed", "办理期限重算"),
];

/// The table of a language.
pub fn table(lang: Lang) -> &'static Msgs {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

/// The table for a `?lang=` or cookie value, if it names one.
pub fn by_code(code: &str) -> Option<&'static Msgs> {
    Lang::by_code(code).map(table)
}

/// The language of a request: `?lang=`, then the `mpx_lang` cookie, then the first of
/// `Accept-Language` that is Chinese or English, else Chinese ([`Lang::choose`]).
pub fn choose(query_lang: Option<&str>, headers: &HeaderMap) -> &'static Msgs {
    table(Lang::choose(query_lang, headers))
}

impl Msgs {
    /// The language of this table.
    pub fn language(&self) -> Lang {
        if self.code == "zh" {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    /// The roster pages' words in this language.
    pub fn roster(&self) -> &'static super::roster_words::RosterMsgs {
        if self.code == "zh" {
            &super::roster_words::ZH
        } else {
            &super::roster_words::EN
        }
    }

    /// A day as this language writes it: 2026年12月17日, or 2026-12-17.
    pub fn date(&self, unix_ms: i64) -> String {
        self.language().date(unix_ms)
    }

    /// A due date: the end of its due day, so the day shown is that of the last millisecond.
    pub fn due_date(&self, due_at_unix_ms: i64) -> String {
        if due_at_unix_ms <= 0 {
            return "—".into();
        }
        self.date(due_at_unix_ms - 1)
    }

    /// An instant to the minute (timelines), in the province's time zone.
    pub fn instant(&self, unix_ms: i64) -> String {
        self.language().instant(unix_ms)
    }

    pub fn state(&self, state: CaseState) -> &'static str {
        match state {
            CaseState::Queued => self.state_queued,
            CaseState::Delivered => self.state_delivered,
            CaseState::Accepted => self.state_accepted,
            CaseState::Responded => self.state_responded,
            CaseState::Closed => self.state_closed,
            CaseState::Withdrawn => self.state_withdrawn,
            CaseState::Redirected => self.state_redirected,
            CaseState::Rejected => self.state_rejected,
            CaseState::Unspecified => "—",
        }
    }

    pub fn priority(&self, priority: CasePriority) -> &'static str {
        match priority {
            CasePriority::Urgent => self.urgent,
            _ => self.normal,
        }
    }

    /// A case kind's name (from the case-kind table).
    pub fn kind(&self, kind: i32) -> &'static str {
        match mpx_proto::case_kind::spec(kind) {
            Some(spec) if self.code == "zh" => spec.name_zh,
            Some(spec) => spec.name_en,
            None => "—",
        }
    }

    /// An alert kind's name in this language (the monitor's table holds "已逾期 overdue").
    pub fn alert_kind(&self, kind: mpx_proto::v1::AlertKind) -> String {
        let text = crate::monitor::alert_kind_text(kind);
        let (zh, en) = text.split_once(' ').unwrap_or((text, text));
        if self.code == "zh" { zh } else { en }.to_string()
    }

    /// A timeline event's name (the workflow's labels); an unknown one as it is stored.
    pub fn event(&self, label: &str) -> String {
        if self.code != "zh" {
            return label.replace('_', " ");
        }
        EVENTS_ZH
            .iter()
            .find(|(known, _)| *known == label)
            .map_or_else(|| label.to_string(), |(_, name)| (*name).to_string())
    }

    pub fn role(&self, role: &str) -> &'static str {
        match role {
            "admin" => self.role_admin,
            "viewer" => self.role_viewer,
            _ => self.role_clerk,
        }
    }

    /// What is expected of a form field, in this language, if the console knows the field.
    pub fn expected(&self, field: &str) -> Option<&'static str> {
        Some(match field {
            "recipient_county" => self.expect_recipient,
            "resident_id" => self.expect_resident_id,
            "subject_name" => self.expect_subject_name,
            "questions" => self.expect_questions,
            "working_days" => self.expect_working_days,
            "answer" => self.expect_answer,
            "reason" | "note" => self.expect_reason,
            "redirect_to_county" => self.expect_redirect,
            "name" => self.expect_name,
            "purpose" => self.expect_purpose,
            "role" => self.expect_role,
            "password" => self.expect_password,
            _ => return None,
        })
    }

    /// A refusal of the operator service for a clerk: what is expected first, in this
    /// language, then the service's own message (field and detail, as the API gives it).
    pub fn refusal(&self, field: &str, message: &str) -> String {
        match self.expected(field) {
            Some(expected) => format!("{expected}（{message}）"),
            None => format!("{}{message}", self.expect_text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn query_then_cookie_then_accept_language_then_chinese() {
        let mut headers = HeaderMap::new();
        assert_eq!(choose(None, &headers).code, "zh");
        headers.insert(
            "accept-language",
            HeaderValue::from_static("en-US,en;q=0.9"),
        );
        assert_eq!(choose(None, &headers).code, "en");
        headers.insert("cookie", HeaderValue::from_static("a=b; mpx_lang=zh"));
        assert_eq!(choose(None, &headers).code, "zh");
        assert_eq!(choose(Some("en"), &headers).code, "en");
        assert_eq!(choose(Some("fr"), &headers).code, "zh");
    }

    #[test]
    fn dates_in_chinese_and_iso() {
        // 2026-12-17 10:00 in Asia/Shanghai.
        let ms = 1_797_472_800_000;
        assert_eq!(ZH.date(ms), "2026年12月17日");
        assert_eq!(EN.date(ms), "2026-12-17");
        assert_eq!(ZH.date(0), "—");
    }
}
