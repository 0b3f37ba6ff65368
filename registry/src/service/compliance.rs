//! `mpx.v1.Compliance`: county nodes report escalations and case events (peer listener);
//! supervisors read the figures, the alerts and the evidence (operator listener). One service
//! type serves both listeners, and each method checks it is called on the right one.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mpx_proto::calendar::WorkingCalendar;
use mpx_proto::division::CountyCode;
use mpx_proto::identity::certificate_der_from_pem;
use mpx_proto::runtime::operator_of;
use mpx_proto::text::{self, Shape, limits};
use mpx_proto::v1::compliance_server::{Compliance, ComplianceServer};
use mpx_proto::v1::{
    self, CaseDirection, CaseEvidenceRequest, CaseEvidenceResponse, ComplianceReportRequest,
    ComplianceReportResponse, ProvinceAlert, ReportCaseEventsRequest, ReportCaseEventsResponse,
    ReportEscalationsRequest, ReportEscalationsResponse, WatchRequest,
};
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::compliance::{Period, ReportInput, Verification};
use crate::service::directory::DeadlineSettings;
use crate::store::Store;

/// Most reports in one call.
const MAX_REPORTS: usize = 1000;

/// How often `Watch` looks for new alerts (they live in the database, so every replica sees
/// those raised by the others).
const WATCH_POLL: Duration = Duration::from_secs(1);

/// Which listener an instance serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Peer,
    Operator,
}

#[derive(Debug, Clone)]
pub struct ComplianceService {
    store: Store,
    listener: Listener,
    calendar: Arc<WorkingCalendar>,
    deadlines: Arc<DeadlineSettings>,
    /// How long one side may hold evidence the other has not reported before the case is
    /// disputed.
    grace_ms: i64,
    /// How long a response or an assignment may take to reach the other side.
    max_transit_ms: i64,
    shutdown: CancellationToken,
}

/// What the compliance service checks evidence against.
#[derive(Debug, Clone)]
pub struct EvidenceSettings {
    pub calendar: Arc<WorkingCalendar>,
    pub deadlines: Arc<DeadlineSettings>,
    pub grace_ms: i64,
    pub max_transit_ms: i64,
}

impl ComplianceService {
    pub fn new(
        store: Store,
        listener: Listener,
        settings: EvidenceSettings,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            store,
            listener,
            calendar: settings.calendar,
            deadlines: settings.deadlines,
            grace_ms: settings.grace_ms,
            max_transit_ms: settings.max_transit_ms,
            shutdown,
        }
    }

    fn rules(&self) -> crate::compliance::Rules<'_> {
        crate::compliance::Rules {
            calendar: &self.calendar,
            calendar_version: &self.deadlines.calendar_version,
            policies: &self.deadlines.policies,
            policy_version: &self.deadlines.policy_version,
            max_transit_ms: self.max_transit_ms,
        }
    }

    pub fn into_server(self) -> ComplianceServer<Self> {
        ComplianceServer::new(self)
    }

    /// The calling county on the peer listener (certificate not revoked).
    async fn county_caller<T>(&self, request: &Request<T>) -> Result<CountyCode, Status> {
        if self.listener != Listener::Peer {
            return Err(Status::permission_denied(
                "county reports go to the registry's peer listener (mutual TLS)",
            ));
        }
        super::county_caller(&self.store, request).await
    }

    /// The operator on the operator listener.
    fn operator<T>(&self, request: &Request<T>) -> Result<String, Status> {
        if self.listener != Listener::Operator {
            return Err(Status::permission_denied(
                "compliance reports are read on the registry's operator listener",
            ));
        }
        operator_of(request)
    }
}

/// An optional `county` filter: empty for all, else a valid county code.
fn optional_county(text: &str) -> Result<Option<String>, Status> {
    if text.is_empty() {
        return Ok(None);
    }
    CountyCode::parse(text)
        .map(|c| Some(c.to_string()))
        .map_err(|e| Status::invalid_argument(format!("county: {e}")))
}

/// Unix ms from 2000-01-01 to 2200-01-01: any timestamp outside is a bug or a forgery.
const PLAUSIBLE_MS: std::ops::Range<i64> = 946_684_800_000..7_258_118_400_000;

/// Checks one reported event's fields; `reporter` must be the party of the role it claims.
/// Returns the field and what was expected.
fn check_event(report: &v1::CaseEventReport, reporter: &CountyCode) -> Result<(), String> {
    uuid::Uuid::parse_str(&report.case_id).map_err(|_| "case_id: expected a UUID".to_string())?;
    CountyCode::parse(&report.recipient_county).map_err(|e| format!("recipient_county: {e}"))?;
    // The requester is a county, or the province itself for the cases it assigned (its code
    // padded to six digits, e.g. 620000).
    let provincial = format!("{}0000", reporter.province());
    if report.requester_county != provincial {
        CountyCode::parse(&report.requester_county)
            .map_err(|e| format!("requester_county: {e}"))?;
    }
    if report.requester_county == report.recipient_county {
        return Err("recipient_county: must differ from requester_county".into());
    }
    const EVENTS: &[&str] = &[
        "sent",
        "delivered",
        "accepted",
        "responded",
        "redirected",
        "reminded",
        "escalated",
        "extension_granted",
        "withdrawn",
        "closed",
    ];
    if !EVENTS.contains(&report.event.as_str()) {
        return Err(format!(
            "event: {:?} is not one of {}",
            report.event,
            EVENTS.join(", ")
        ));
    }
    let party = match report.role() {
        CaseDirection::Outbound => &report.requester_county,
        CaseDirection::Inbound => &report.recipient_county,
        CaseDirection::Unspecified => {
            return Err("role: OUTBOUND (requester) or INBOUND (recipient)".into());
        }
    };
    if party != reporter.as_str() {
        return Err(format!(
            "role: county {reporter} reports as {party}, which it is not"
        ));
    }
    if !report.parent_case_id.is_empty() && uuid::Uuid::parse_str(&report.parent_case_id).is_err() {
        return Err("parent_case_id: expected a UUID".into());
    }
    let receipt = report.receipt.as_ref().and_then(|e| e.receipt.as_ref());
    let times = [
        ("at_unix_ms", report.at_unix_ms, false),
        ("arrived_at_unix_ms", report.arrived_at_unix_ms, true),
        (
            "extended_due_at_unix_ms",
            report.extended_due_at_unix_ms,
            true,
        ),
        (
            "receipt.received_at_unix_ms",
            receipt.map_or(0, |r| r.received_at_unix_ms),
            true,
        ),
        (
            "receipt.due_at_unix_ms",
            receipt.map_or(0, |r| r.due_at_unix_ms),
            true,
        ),
        (
            "receipt.acceptance_due_at_unix_ms",
            receipt.map_or(0, |r| r.acceptance_due_at_unix_ms),
            true,
        ),
        (
            "response.responded_at_unix_ms",
            report
                .response
                .as_ref()
                .map_or(0, |r| r.responded_at_unix_ms),
            true,
        ),
    ];
    for (name, value, zero_allowed) in times {
        if !(PLAUSIBLE_MS.contains(&value) || (zero_allowed && value == 0)) {
            return Err(format!(
                "{name}: {value} is not a Unix time in ms between 2000 and 2200"
            ));
        }
    }
    if receipt.is_some_and(|r| r.message_id.len() > 64 || r.case_id.len() > 64)
        || report
            .response
            .as_ref()
            .is_some_and(|r| r.handled_by.chars().count() > 64 || r.outcome_kind.len() > 16)
    {
        return Err("receipt or response: a text field is too long".into());
    }
    Ok(())
}

#[tonic::async_trait]
impl Compliance for ComplianceService {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<ProvinceAlert, Status>> + Send>>;

    async fn report_case_events(
        &self,
        request: Request<ReportCaseEventsRequest>,
    ) -> Result<Response<ReportCaseEventsResponse>, Status> {
        let reporter = self.county_caller(&request).await?;
        let events = request.into_inner().events;
        if events.len() > MAX_REPORTS {
            return Err(Status::invalid_argument(format!(
                "events: at most {MAX_REPORTS} per call"
            )));
        }
        if events.is_empty() {
            return Ok(Response::new(ReportCaseEventsResponse {
                acknowledged_seq: self.store.case_report_cursor(reporter.as_str()).await?,
                rejected: 0,
                rejections: Vec::new(),
            }));
        }
        if let Some(index) = events.iter().position(|e| e.seq <= 0) {
            return Err(Status::invalid_argument(format!(
                "events[{index}].seq: must be positive"
            )));
        }
        let highest_seq = events.iter().map(|e| e.seq).max().unwrap_or(0);
        // A malformed event is refused on its own (named in the answer), so one bad event never
        // blocks the node's stream.
        let mut rejections = Vec::new();
        let events: Vec<v1::CaseEventReport> = events
            .into_iter()
            .enumerate()
            .filter_map(|(index, event)| match check_event(&event, &reporter) {
                Ok(()) => Some(event),
                Err(reason) => {
                    tracing::warn!(%reporter, seq = event.seq, %reason, "case event refused");
                    rejections.push(v1::EventRejection {
                        seq: event.seq,
                        reason: format!("events[{index}].{reason}"),
                    });
                    None
                }
            })
            .collect();
        let certificates: std::collections::HashMap<String, Vec<u8>> = self
            .store
            .list_nodes()
            .await?
            .into_iter()
            .filter_map(|node| {
                certificate_der_from_pem(&node.certificate_pem)
                    .ok()
                    .map(|der| (node.county, der))
            })
            .collect();
        let rules = self.rules();
        let verified: Vec<(v1::CaseEventReport, Verification)> = events
            .into_iter()
            .map(|event| {
                let verification = crate::compliance::verify(
                    &event,
                    certificates.get(&event.recipient_county).map(Vec::as_slice),
                    &rules,
                );
                if let Verification::Rejected(why) = &verification {
                    tracing::warn!(%reporter, case_id = %event.case_id, event = %event.event, %why, "case event evidence rejected");
                }
                (event, verification)
            })
            .collect();
        let (acknowledged_seq, refusals) = self
            .store
            .record_case_events(
                reporter.as_str(),
                &verified,
                highest_seq,
                &rules,
                mpx_proto::time::now_unix_ms(),
            )
            .await?;
        rejections.extend(refusals);
        Ok(Response::new(ReportCaseEventsResponse {
            acknowledged_seq,
            rejected: u32::try_from(rejections.len()).unwrap_or(u32::MAX),
            rejections,
        }))
    }

    async fn report(
        &self,
        request: Request<ComplianceReportRequest>,
    ) -> Result<Response<ComplianceReportResponse>, Status> {
        let operator = self.operator(&request)?;
        let request = request.into_inner();
        let period = Period::parse(&request.period)
            .map_err(|e| Status::invalid_argument(format!("period: {e}")))?;
        let county = optional_county(&request.county)?;
        if request.as_of_unix_ms < 0 {
            return Err(Status::invalid_argument(
                "as_of_unix_ms: 0 (now) or a Unix time in ms",
            ));
        }
        let as_of = if request.as_of_unix_ms == 0 {
            mpx_proto::time::now_unix_ms()
        } else {
            request.as_of_unix_ms
        };
        let nodes = self.store.list_nodes().await?;
        let counties = nodes
            .into_iter()
            .map(|node| (node.county, node.name))
            .collect();
        // The ranking is province-wide even when one county is shown.
        let overdue_limit = match request.overdue_limit {
            0 => 100,
            n => n.min(10_000) as usize,
        };
        let due = self
            .store
            .compliance_due_tally(
                &period.start.to_string(),
                &period.end.to_string(),
                as_of,
                self.grace_ms,
            )
            .await?;
        let overdue = self
            .store
            .compliance_overdue_tally(as_of, county.as_deref(), overdue_limit)
            .await?;
        let escalated = self.store.escalated_case_ids().await?;
        let report = crate::compliance::report(ReportInput {
            period: &period,
            as_of_unix_ms: as_of,
            grace_ms: self.grace_ms,
            counties,
            due,
            overdue,
            escalated,
            calendar: &self.calendar,
            only_county: county.clone(),
        });
        self.store
            .audit(
                &operator,
                "compliance report",
                "",
                &format!(
                    "period {} county {}",
                    period.label,
                    county.as_deref().unwrap_or("all")
                ),
                report.counties.len(),
            )
            .await?;
        Ok(Response::new(report))
    }

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let operator = self.operator(&request)?;
        let request = request.into_inner();
        let county = optional_county(&request.county)?;
        if request.after_alert_id < 0 {
            return Err(Status::invalid_argument(
                "after_alert_id: 0 or the last id seen",
            ));
        }
        tracing::info!(%operator, after = request.after_alert_id, "compliance watch opened");
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        let store = self.store.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut cursor = request.after_alert_id;
            loop {
                match store
                    .province_alerts_after(cursor, county.as_deref(), 500)
                    .await
                {
                    Ok(alerts) => {
                        let more = alerts.len() == 500;
                        for alert in alerts {
                            cursor = alert.alert_id;
                            if sender.send(Ok(alert)).await.is_err() {
                                return;
                            }
                        }
                        if more {
                            continue;
                        }
                    }
                    Err(error) => {
                        let _ = sender.send(Err(Status::from(error))).await;
                        return;
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = sender.closed() => return,
                    _ = tokio::time::sleep(WATCH_POLL) => {}
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn case_evidence(
        &self,
        request: Request<CaseEvidenceRequest>,
    ) -> Result<Response<CaseEvidenceResponse>, Status> {
        let operator = self.operator(&request)?;
        let case_id = request.into_inner().case_id;
        let case_id = uuid::Uuid::parse_str(case_id.trim())
            .map_err(|_| Status::invalid_argument("case_id: expected a UUID"))?
            .to_string();
        let (mut events, record) = self.store.case_evidence(&case_id).await?;
        // In the order things happened, by the reporters' own times.
        events.sort_by_key(|e| {
            (
                e.report.as_ref().map_or(0, |r| r.at_unix_ms),
                e.received_at_unix_ms,
            )
        });
        let Some(record) = record else {
            return Err(Status::not_found(format!(
                "case_id: no county has reported case {case_id}"
            )));
        };
        self.store
            .audit(&operator, "case evidence", "", &case_id, events.len())
            .await?;
        let dispute =
            crate::compliance::dispute_of(&record, mpx_proto::time::now_unix_ms(), self.grace_ms)
                .unwrap_or_default();
        Ok(Response::new(CaseEvidenceResponse {
            case_id,
            events,
            dispute,
        }))
    }

    async fn report_escalations(
        &self,
        request: Request<ReportEscalationsRequest>,
    ) -> Result<Response<ReportEscalationsResponse>, Status> {
        let reporter = self.county_caller(&request).await?;
        let reports = request.into_inner().escalations;
        if reports.len() > MAX_REPORTS {
            return Err(Status::invalid_argument(format!(
                "escalations: at most {MAX_REPORTS} per call"
            )));
        }
        for (index, report) in reports.iter().enumerate() {
            let field = |name: &str| format!("escalations[{index}].{name}");
            uuid::Uuid::parse_str(&report.case_id).map_err(|_| {
                Status::invalid_argument(format!("{}: expected a UUID", field("case_id")))
            })?;
            for (name, value) in [
                ("requester_county", &report.requester_county),
                ("recipient_county", &report.recipient_county),
            ] {
                CountyCode::parse(value)
                    .map_err(|e| Status::invalid_argument(format!("{}: {e}", field(name))))?;
            }
            // A county reports only cases it is party to.
            if report.requester_county != reporter.as_str()
                && report.recipient_county != reporter.as_str()
            {
                return Err(Status::permission_denied(format!(
                    "{}: county {reporter} is neither the requester nor the recipient",
                    field("case_id")
                )));
            }
            text::check(&report.detail, limits::REASON, Shape::Multiline, true)
                .map_err(|e| Status::invalid_argument(format!("{}: {e}", field("detail"))))?;
            if report.case_kind.len() > 32 || report.direction.len() > 16 {
                return Err(Status::invalid_argument(format!(
                    "escalations[{index}]: case_kind or direction too long"
                )));
            }
        }
        let recorded = self
            .store
            .record_escalations(reporter.as_str(), &reports, mpx_proto::time::now_unix_ms())
            .await?;
        if recorded > 0 {
            tracing::info!(%reporter, recorded, "escalations reported");
        }
        Ok(Response::new(ReportEscalationsResponse {
            recorded: u32::try_from(recorded).unwrap_or(u32::MAX),
        }))
    }
}
