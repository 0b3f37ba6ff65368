//! The deadline monitor: on every tick (injected clock, so tests need no sleeps) it raises
//! `DUE_SOON`, `OVERDUE`, `ESCALATED` and `NOT_ACCEPTED` alerts, each once per case and kind (a
//! unique row, so a restart never fires twice), one `UNDELIVERED` alert per peer with a stuck
//! backlog (kept up to date, cleared when it drains), sends the requester's `Reminder` to
//! the recipient on `DUE_SOON` and `OVERDUE`, and clears alerts whose cause is gone. It reads only
//! the cases near their deadlines (indexes on the due dates), not all cases.

use std::time::Duration;

use mpx_proto::division::DivisionTable;
use mpx_proto::time::{date_of_unix_ms, format_due, format_unix_ms};
use mpx_proto::v1::compliance_client::ComplianceClient;
use mpx_proto::v1::{self, Alert, AlertKind, CaseDirection, envelope::Body};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use crate::config::MonitorConfig;
use crate::store::{AlertRecord, direction_label};
use crate::workflow::{Workflow, WorkflowError};

/// Cases looked at per transaction of a tick.
const CHECK_BATCH: usize = 2_000;

/// The alert rules of one tick.
struct Rules<'a> {
    calendar: &'a mpx_proto::calendar::WorkingCalendar,
    /// `DUE_SOON` this many working days before the deadline.
    lead: i64,
    /// `ESCALATED` this many working days after it.
    grace: i64,
}

impl Rules<'_> {
    /// The alerts a case calls for at `now` (kind, the deadline it is about, detail), and the
    /// next instant that can change (`i64::MAX` when nothing can: the case is not open, or all
    /// its alerts are due already).
    fn evaluate(
        &self,
        case: &v1::Case,
        now: i64,
        today: jiff::civil::Date,
    ) -> (Vec<(AlertKind, i64, String)>, i64) {
        let mut alerts = Vec::new();
        let mut next = i64::MAX;
        let open = matches!(
            case.state(),
            v1::CaseState::Queued | v1::CaseState::Delivered | v1::CaseState::Accepted
        );
        if !open {
            return (alerts, next);
        }
        // A granted extension moves the deadline the alerts watch; lateness is still reported
        // against the original due date.
        let due_at = effective_due_at(case);
        if case.due_at_unix_ms > 0
            && let Some(due_day) = date_of_unix_ms(due_at - 1)
        {
            // Working days left after today (negative once past: the days late).
            let remaining = self.calendar.working_days_between(today, due_day).value;
            if now >= due_at {
                alerts.push((
                    AlertKind::Overdue,
                    due_at,
                    format!("已逾期 / overdue since {}", format_due(due_at)),
                ));
                let late_by = -remaining;
                if late_by >= self.grace {
                    alerts.push((
                        AlertKind::Escalated,
                        due_at,
                        format!("逾期 {late_by} 个工作日 / {late_by} working days overdue"),
                    ));
                } else {
                    next = self.escalation_begins(today, late_by);
                }
            } else if remaining <= self.lead {
                alerts.push((
                    AlertKind::DueSoon,
                    due_at,
                    format!(
                        "将于 {} 到期 / due {}",
                        format_due(due_at),
                        format_due(due_at)
                    ),
                ));
                next = due_at;
            } else {
                next = due_at.min(self.lead_begins(today, remaining));
            }
        }
        if case.state() == v1::CaseState::Delivered && case.acceptance_due_at_unix_ms > 0 {
            if now >= case.acceptance_due_at_unix_ms {
                alerts.push((
                    AlertKind::NotAccepted,
                    case.acceptance_due_at_unix_ms,
                    format!(
                        "未在 {} 前受理 / not accepted by {}",
                        format_due(case.acceptance_due_at_unix_ms),
                        format_due(case.acceptance_due_at_unix_ms)
                    ),
                ));
            } else {
                next = next.min(case.acceptance_due_at_unix_ms);
            }
        }
        (alerts, next)
    }

    /// The start of the first day after `today` on which at most `lead` working days remain
    /// before the due day (`remaining` of them remain after today).
    fn lead_begins(&self, today: jiff::civil::Date, mut remaining: i64) -> i64 {
        self.first_day_after(today, |day| {
            if self.calendar.is_working_day(day).value {
                remaining -= 1;
            }
            remaining <= self.lead
        })
    }

    /// The start of the first day after `today` on which the case is `grace` working days late
    /// (`late_by` today).
    fn escalation_begins(&self, today: jiff::civil::Date, mut late_by: i64) -> i64 {
        self.first_day_after(today, |day| {
            if self.calendar.is_working_day(day).value {
                late_by += 1;
            }
            late_by >= self.grace
        })
    }

    /// The start (province midnight) of the first day after `today` for which `holds` (called
    /// once per day, in order) is true, looking a year ahead; past that, the start of the last
    /// day looked at (to look again then).
    fn first_day_after(
        &self,
        today: jiff::civil::Date,
        mut holds: impl FnMut(jiff::civil::Date) -> bool,
    ) -> i64 {
        let mut day = today;
        for _ in 0..366 {
            let Ok(next) = day.tomorrow() else { break };
            day = next;
            if holds(day) {
                break;
            }
        }
        day.yesterday()
            .map(mpx_proto::calendar::end_of_day_unix_ms)
            .unwrap_or(i64::MAX)
    }
}

/// The deadline in force: the extended one when an extension was granted.
pub fn effective_due_at(case: &v1::Case) -> i64 {
    if case.extension_state == "granted" && case.extended_due_at_unix_ms > 0 {
        case.extended_due_at_unix_ms
    } else {
        case.due_at_unix_ms
    }
}

/// Where the deadline in force of an unanswered case stands at `now`, as two instants, so a
/// list or a count can select by deadline in SQL: overdue when the deadline is at or before
/// `now_unix_ms`; due soon when it is later, but at or before `soon_until_unix_ms`, i.e. no more
/// than the `DUE_SOON` lead of working days left after today, exactly as the monitor raises
/// `DUE_SOON`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueBounds {
    pub now_unix_ms: i64,
    pub soon_until_unix_ms: i64,
}

/// A lead longer than this many working days is read as this (ten years).
const MAX_LEAD_WORKING_DAYS: i64 = 2_500;

impl DueBounds {
    pub fn at(
        calendar: &mpx_proto::calendar::WorkingCalendar,
        now_unix_ms: i64,
        today: jiff::civil::Date,
        lead_working_days: i64,
    ) -> Self {
        // Due soon while `working_days_between(today, due day) <= lead`: every due day before
        // the (lead + 1)th working day after today. A deadline is the end of its due day, so the
        // bound is the end of the day before that working day.
        let soon_until_unix_ms = if lead_working_days < 0 {
            now_unix_ms
        } else {
            let steps =
                u32::try_from(lead_working_days.min(MAX_LEAD_WORKING_DAYS) + 1).unwrap_or(u32::MAX);
            let first_not_soon = calendar.add_working_days(today, steps).value;
            first_not_soon
                .yesterday()
                .map_or(now_unix_ms, mpx_proto::calendar::end_of_day_unix_ms)
        };
        Self {
            now_unix_ms,
            soon_until_unix_ms: soon_until_unix_ms.max(now_unix_ms),
        }
    }

    /// The class of a case: `None` when it is answered or finished, or has no deadline.
    pub fn of(&self, case: &v1::Case) -> Option<DueClass> {
        let unanswered = matches!(
            case.state(),
            v1::CaseState::Queued | v1::CaseState::Delivered | v1::CaseState::Accepted
        );
        let due_at = effective_due_at(case);
        if !unanswered || case.due_at_unix_ms <= 0 || due_at <= 0 {
            return None;
        }
        Some(if due_at <= self.now_unix_ms {
            DueClass::Overdue
        } else if due_at <= self.soon_until_unix_ms {
            DueClass::Soon
        } else {
            DueClass::Later
        })
    }
}

/// How near an unanswered case's deadline is ([`DueBounds::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueClass {
    Later,
    Soon,
    Overdue,
}

/// Every alert kind, once: its stored label (also its metric label and JSON value) and how
/// screens name it, Chinese first.
pub const ALERT_KINDS: [(AlertKind, &str, &str); 6] = [
    (AlertKind::DueSoon, "due_soon", "即将到期 due soon"),
    (AlertKind::Overdue, "overdue", "已逾期 overdue"),
    (AlertKind::Escalated, "escalated", "已上报 escalated"),
    (
        AlertKind::NotAccepted,
        "not_accepted",
        "未受理 not accepted",
    ),
    (AlertKind::Undelivered, "undelivered", "未送达 undelivered"),
    (AlertKind::NoRoute, "no_route", "无路由暂存 held: no route"),
];

/// Stored label of an alert kind.
pub fn alert_kind_label(kind: AlertKind) -> &'static str {
    ALERT_KINDS
        .iter()
        .find(|(known, _, _)| *known == kind)
        .map_or("unspecified", |(_, label, _)| label)
}

/// How screens name an alert kind ("已逾期 overdue").
pub fn alert_kind_text(kind: AlertKind) -> &'static str {
    ALERT_KINDS
        .iter()
        .find(|(known, _, _)| *known == kind)
        .map_or("-", |(_, _, text)| text)
}

fn alert_kind_from_label(label: &str) -> AlertKind {
    ALERT_KINDS
        .iter()
        .find(|(_, known, _)| *known == label)
        .map_or(AlertKind::Unspecified, |(kind, _, _)| *kind)
}

/// The API form of a stored alert.
pub fn alert_to_proto(record: &AlertRecord) -> Alert {
    Alert {
        alert_id: record.alert_id.clone(),
        kind: alert_kind_from_label(&record.kind) as i32,
        // A peer's UNDELIVERED alert is about no case.
        case_id: if record.case_id.starts_with("peer/") {
            String::new()
        } else {
            record.case_id.clone()
        },
        direction: record.direction.clone(),
        counterpart_county: record.counterpart_county.clone(),
        raised_at_unix_ms: record.raised_at_unix_ms,
        due_at_unix_ms: record.due_at_unix_ms,
        cleared_at_unix_ms: record.cleared_at_unix_ms,
        detail: record.detail.clone(),
    }
}

/// Runs the deadline checks; cheap to clone.
#[derive(Debug, Clone)]
pub struct DeadlineMonitor {
    workflow: Workflow,
    config: MonitorConfig,
    /// New alerts as they fire (`subscribe`); crate-visible for the watch path's tests.
    pub(crate) fired: broadcast::Sender<Alert>,
    /// Where escalations are reported (the registry), when connected.
    province: Option<crate::registry_client::RegistryClient>,
    /// The calendar version and settings the stored check instants were computed under.
    schedule: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl DeadlineMonitor {
    pub fn new(workflow: Workflow, config: MonitorConfig) -> Self {
        let (fired, _) = broadcast::channel(1024);
        Self {
            workflow,
            config,
            fired,
            province: None,
            schedule: Default::default(),
        }
    }

    /// Reports escalations to the province through `registry` after each tick.
    pub fn reporting_to(mut self, registry: crate::registry_client::RegistryClient) -> Self {
        self.province = Some(registry);
        self
    }

    /// Sends escalations not yet reported to the province; they are marked only once the
    /// registry has recorded them, so a failure is retried at the next tick. Returns how many.
    pub async fn report_escalations(&self) -> Result<usize, String> {
        let Some(registry) = &self.province else {
            return Ok(0);
        };
        let store = self.workflow.store();
        let pending = store
            .unreported_escalations(500)
            .await
            .map_err(|e| e.to_string())?;
        if pending.is_empty() {
            return Ok(0);
        }
        let mut reports = Vec::with_capacity(pending.len());
        for alert in &pending {
            let Some(case) = store
                .get_case(&alert.case_id)
                .await
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            reports.push(v1::EscalationReport {
                case_id: case.case_id.clone(),
                case_kind: crate::store::kind_label(case.kind()).into(),
                requester_county: case.requester_county.clone(),
                recipient_county: case.recipient_county.clone(),
                delivered_at_unix_ms: case.delivered_at_unix_ms,
                due_at_unix_ms: case.due_at_unix_ms,
                escalated_at_unix_ms: alert.raised_at_unix_ms,
                direction: alert.direction.clone(),
                detail: alert.detail.clone(),
            });
        }
        // Stored once per (case, county): safe to send again to another replica.
        let request = v1::ReportEscalationsRequest {
            escalations: reports,
        };
        registry
            .call(|channel| {
                let request = request.clone();
                async move {
                    ComplianceClient::new(channel)
                        .report_escalations(request)
                        .await
                }
            })
            .await
            .map_err(|error| error.to_string())?;
        let ids: Vec<String> = pending.iter().map(|a| a.alert_id.clone()).collect();
        store
            .mark_reported(&ids, self.workflow.clock().now_unix_ms())
            .await
            .map_err(|e| e.to_string())?;
        Ok(ids.len())
    }

    /// New alerts as they fire (for `Alerts.WatchAlerts` and the console's live alerts page,
    /// both through [`crate::service::alerts::AlertsService::watch`]). Raised alerts only: clears
    /// are not broadcast (`clear_*_alerts` write the store in bulk), so a watcher sees a clear only
    /// by listing again.
    pub fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.fired.subscribe()
    }

    /// One pass over the cases whose alerts can change now (each case records when that is
    /// next: `cases.next_check_at_unix_ms`), in batches. Returns the alerts that fired now.
    pub async fn tick(&self) -> Result<Vec<Alert>, WorkflowError> {
        let store = self.workflow.store();
        let now = self.workflow.clock().now_unix_ms();
        let today = self.workflow.clock().today();
        let calendar = self.workflow.directory().deadlines().calendar.clone();
        let rules = Rules {
            calendar: &calendar,
            lead: i64::from(self.config.due_soon_working_days),
            grace: i64::from(self.config.escalation_grace_working_days),
        };
        // The instants stored were computed under some calendar and settings: when either
        // changed (checked against the database once per new combination), every open case is
        // looked at again.
        let schedule = format!("{}/{}/{}", calendar.version(), rules.lead, rules.grace);
        let known = self
            .schedule
            .lock()
            .map(|current| current.as_deref() == Some(schedule.as_str()))
            .unwrap_or(false);
        if !known {
            if let Some(rescheduled) = store.reschedule_checks_unless(&schedule).await? {
                tracing::info!(
                    rescheduled,
                    "deadline checks rescheduled for the calendar and alert settings in force"
                );
            }
            if let Ok(mut current) = self.schedule.lock() {
                *current = Some(schedule);
            }
        }

        let mut fired = Vec::new();
        let mut reminded = Vec::new();
        loop {
            let batch = store.cases_to_check(now, CHECK_BATCH).await?;
            let more = batch.len() == CHECK_BATCH;
            let mut raised: Vec<(AlertRecord, Option<v1::Case>)> = Vec::new();
            let mut checks = Vec::with_capacity(batch.len());
            for (case, read_at) in batch {
                let (alerts, next) = rules.evaluate(&case, now, today);
                checks.push((case.case_id.clone(), read_at, next.max(now + 1)));
                for (kind, due_at, detail) in alerts {
                    let reminds = matches!(kind, AlertKind::DueSoon | AlertKind::Overdue);
                    raised.push((
                        self.record(&case, kind, due_at, detail, now),
                        reminds.then(|| case.clone()),
                    ));
                }
            }
            self.commit(raised, &mut checks, now, &mut fired, &mut reminded)
                .await?;
            if !more {
                break;
            }
        }

        // UNDELIVERED: one alert per peer with a stuck backlog (not one per message: a day-long
        // outage during an import would raise tens of thousands), kept up to date while open
        // and cleared when the backlog drains.
        let cutoff = now
            - i64::try_from(self.config.undelivered_after_seconds).unwrap_or(i64::MAX / 2) * 1000;
        let mut raised = Vec::new();
        let directory = self.workflow.directory();
        // One read of the backlog per peer serves both UNDELIVERED and NO_ROUTE.
        let backlog = store.outbox_stats().await?;
        for (peer, pending, oldest) in backlog.iter().filter(|(_, _, oldest)| *oldest <= cutoff) {
            let (peer, pending, oldest) = (peer.clone(), *pending, *oldest);
            if directory.has_no_route(&peer) {
                continue; // held for want of a route: NO_ROUTE says so
            }
            let detail = format!(
                "{pending} 条消息未能送达 {peer}，最早一条自 {} 起等待 / {pending} messages undelivered to {peer}, the oldest queued {} ({} min ago)",
                format_unix_ms(oldest),
                format_unix_ms(oldest),
                (now - oldest) / 60_000
            );
            if let Some(alert) = self
                .peer_alert(AlertKind::Undelivered, &peer, detail, now)
                .await?
            {
                raised.push((alert, None));
            }
        }
        // NO_ROUTE: one alert per destination whose messages are held for want of a route.
        let mut routed = Vec::new();
        for (peer, pending, oldest) in backlog {
            if !directory.has_no_route(&peer) {
                routed.push(peer);
                continue;
            }
            let name = DivisionTable::shipped().county_name(&peer).unwrap_or("?");
            let detail = format!(
                "{pending} 条消息暂存待发：{peer} {name} 不在本省目录中（尚未接入，或属外省，跨省交换另行开通）；接入后自动发送 / {pending} messages held for {peer} ({name}), oldest queued {}: not in this province's directory (not enrolled yet, or another province; federation comes later); they are delivered when it is",
                format_unix_ms(oldest)
            );
            if let Some(alert) = self
                .peer_alert(AlertKind::NoRoute, &peer, detail, now)
                .await?
            {
                raised.push((alert, None));
            }
        }
        self.commit(raised, &mut Vec::new(), now, &mut fired, &mut reminded)
            .await?;
        store.clear_no_route_alerts(now, &routed).await?;
        store.clear_resolved_alerts(now, cutoff).await?;
        reminded.sort();
        reminded.dedup();
        for recipient in &reminded {
            self.workflow.wake_delivery(recipient);
        }
        for alert in &fired {
            tracing::info!(kind = alert_kind_label(alert.kind()), case_id = %alert.case_id, counterpart = %alert.counterpart_county, "alert");
            metrics::counter!("mpx_alerts_fired_total", "kind" => alert_kind_label(alert.kind()))
                .increment(1);
            let _ = self.fired.send(alert.clone());
        }
        Ok(fired)
    }

    /// The alert of `kind` about `peer`: the open one is updated with `detail` (and `None`
    /// returned), else a new one to raise.
    async fn peer_alert(
        &self,
        kind: AlertKind,
        peer: &str,
        detail: String,
        now: i64,
    ) -> Result<Option<AlertRecord>, WorkflowError> {
        let store = self.workflow.store();
        let label = alert_kind_label(kind);
        if let Some(alert_id) = store.open_peer_alert(label, peer).await? {
            store.update_alert_detail(&alert_id, &detail).await?;
            return Ok(None);
        }
        Ok(Some(AlertRecord {
            alert_id: uuid::Uuid::now_v7().to_string(),
            case_id: format!("peer/{peer}/{now}"),
            kind: label.into(),
            direction: direction_label(CaseDirection::Outbound).into(),
            counterpart_county: peer.to_string(),
            raised_at_unix_ms: now,
            due_at_unix_ms: 0,
            cleared_at_unix_ms: 0,
            detail,
        }))
    }

    /// Stores raised alerts (each once per case and kind) with the requester's reminders (each
    /// kind's once: see [`reminded_already`]), and
    /// the next check of each case looked at, in one transaction.
    async fn commit(
        &self,
        raised: Vec<(AlertRecord, Option<v1::Case>)>,
        checks: &mut [(String, i64, i64)],
        now: i64,
        fired: &mut Vec<Alert>,
        reminded: &mut Vec<String>,
    ) -> Result<(), WorkflowError> {
        if raised.is_empty() && checks.is_empty() {
            return Ok(());
        }
        let mut tx = self.workflow.store().begin().await?;
        for (record, case) in raised {
            if !tx.raise_alert(&record).await? {
                continue;
            }
            if let Some(mut case) = case
                && case.direction() == CaseDirection::Outbound
                && !reminded_already(&case, &record)
            {
                let reminder = v1::Reminder {
                    case_id: case.case_id.clone(),
                    text: record.detail.clone(),
                };
                self.workflow
                    .enqueue(
                        &mut tx,
                        &case.recipient_county,
                        Body::Reminder(reminder),
                        now,
                    )
                    .await?;
                case.reminded_at_unix_ms = now;
                tx.save_case(&case, now).await?;
                tx.add_case_event(&case.case_id, now, "reminder sent", "node", &record.detail)
                    .await?;
                tx.queue_case_report(&crate::workflow::case_event_report(&case, "reminded", now))
                    .await?;
                // Saved just now: its next check is computed against this save.
                for check in checks.iter_mut().filter(|c| c.0 == case.case_id) {
                    check.1 = now;
                }
                reminded.push(case.recipient_county.clone());
            }
            fired.push(alert_to_proto(&record));
        }
        tx.schedule_checks(checks).await?;
        tx.commit().await?;
        Ok(())
    }

    fn record(
        &self,
        case: &v1::Case,
        kind: AlertKind,
        due_at: i64,
        detail: String,
        now: i64,
    ) -> AlertRecord {
        let counterpart = if case.direction() == CaseDirection::Inbound {
            &case.requester_county
        } else {
            &case.recipient_county
        };
        AlertRecord {
            alert_id: uuid::Uuid::now_v7().to_string(),
            case_id: case.case_id.clone(),
            kind: alert_kind_label(kind).into(),
            direction: direction_label(case.direction()).into(),
            counterpart_county: counterpart.clone(),
            raised_at_unix_ms: now,
            due_at_unix_ms: due_at,
            cleared_at_unix_ms: 0,
            detail,
        }
    }

    /// Ticks every `interval_seconds` until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        let interval = Duration::from_secs(self.config.interval_seconds.max(1));
        loop {
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, "deadline check failed; retrying at the next tick");
            }
            match self.report_escalations().await {
                Ok(0) => {}
                Ok(reported) => tracing::info!(reported, "escalations reported to the province"),
                Err(error) => {
                    tracing::warn!(%error, "cannot report escalations; retrying at the next tick")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// Whether the reminder an alert would send went out already: the case was reminded before its
/// deadline (the due-soon one) or after it (the overdue one). The alert row is the usual guard;
/// this one holds when the row is gone but the reminder is not — a database restored from a
/// backup, whose reminders came back from the peer's inbox.
fn reminded_already(case: &v1::Case, record: &AlertRecord) -> bool {
    let reminded = case.reminded_at_unix_ms;
    match record.kind.as_str() {
        "due_soon" => reminded > 0 && reminded < record.due_at_unix_ms,
        "overdue" => record.due_at_unix_ms > 0 && reminded >= record.due_at_unix_ms,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use mpx_proto::calendar::{WorkingCalendar, end_of_day_unix_ms};

    fn shipped_calendar() -> WorkingCalendar {
        WorkingCalendar::load_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/calendars"),
        )
        .unwrap()
    }

    /// The bounds class every due day as the monitor's rule does (working days left after
    /// today at most the lead), across the 2026 National Day week and its make-up days.
    #[test]
    fn due_bounds_agree_with_the_working_days_rule() {
        let calendar = shipped_calendar();
        let first = jiff::civil::date(2026, 9, 20);
        for offset in 0..30 {
            let today = first.checked_add(jiff::Span::new().days(offset)).unwrap();
            // Noon in the province on `today`.
            let now = end_of_day_unix_ms(today.yesterday().unwrap()) + 12 * 3_600_000;
            for lead in 0..=4 {
                let bounds = DueBounds::at(&calendar, now, today, lead);
                for ahead in 0..25 {
                    let due_day = today.checked_add(jiff::Span::new().days(ahead)).unwrap();
                    let due_at = end_of_day_unix_ms(due_day);
                    let left = calendar.working_days_between(today, due_day).value;
                    assert_eq!(
                        due_at <= bounds.soon_until_unix_ms,
                        left <= lead,
                        "today {today}, lead {lead}, due {due_day} ({left} working days left)"
                    );
                }
            }
        }
    }

    #[test]
    fn a_past_deadline_is_overdue_and_a_negative_lead_has_no_due_soon() {
        let calendar = shipped_calendar();
        let today = jiff::civil::date(2026, 12, 3);
        let now = end_of_day_unix_ms(today) - 1;
        let bounds = DueBounds::at(&calendar, now, today, -1);
        assert_eq!(bounds.soon_until_unix_ms, now);
        let mut case = v1::Case {
            state: v1::CaseState::Delivered as i32,
            due_at_unix_ms: now,
            ..Default::default()
        };
        assert_eq!(bounds.of(&case), Some(DueClass::Overdue));
        case.due_at_unix_ms = now + 1;
        assert_eq!(bounds.of(&case), Some(DueClass::Later));
        case.state = v1::CaseState::Responded as i32;
        assert_eq!(bounds.of(&case), None);
    }
}
