//! `mpx.v1.Queries` (operator listener, bearer tokens): province-wide questions. Every query
//! needs a purpose and is written to the hash-chained audit log with the operator's name.

use mpx_proto::resident_id::{CheckDigitMode, ResidentId};
use mpx_proto::runtime::operator_of;
use mpx_proto::v1::queries_server::{Queries, QueriesServer};
use mpx_proto::v1::{self, LocateRequest, LocateResponse, PersonStatus};
use tonic::{Request, Response, Status};

use crate::service::compliance::EvidenceSettings;
use crate::store::{NewAssignment, Store};

#[derive(Debug, Clone)]
pub struct QueriesService {
    store: Store,
    /// The deadline rules, for the due dates of cases the province opens.
    evidence: EvidenceSettings,
}

impl QueriesService {
    pub fn new(store: Store, evidence: EvidenceSettings) -> Self {
        Self { store, evidence }
    }

    pub fn into_server(self) -> QueriesServer<Self> {
        QueriesServer::new(self)
    }
}

fn require_purpose(purpose: &str) -> Result<String, Status> {
    let purpose = purpose.trim();
    if purpose.is_empty() {
        return Err(Status::invalid_argument(
            "purpose: required; say why the person is looked up (it is recorded in the audit log)",
        ));
    }
    // Recorded in the audit log and shown by `audit`: the text rule of every other field.
    mpx_proto::text::check(purpose, 200, mpx_proto::text::Shape::Line, false)
        .map_err(|error| Status::invalid_argument(format!("purpose: {error}")))
}

#[tonic::async_trait]
impl Queries for QueriesService {
    async fn locate(
        &self,
        request: Request<LocateRequest>,
    ) -> Result<Response<LocateResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let id = ResidentId::parse_with(&request.resident_id, CheckDigitMode::Warn)
            .map_err(|e| Status::invalid_argument(format!("resident_id: {e}")))?
            .id;
        let reports = self.store.locate(id.as_str()).await?;
        self.store
            .audit(&operator, "locate", &purpose, id.as_str(), reports.len())
            .await?;
        // The hukou county's own report says best where the hukou is.
        let hukou_county = reports
            .iter()
            .find(|r| r.reporting_county == r.hukou_county)
            .or_else(|| reports.first())
            .map(|r| r.hukou_county.clone())
            .unwrap_or_default();
        let residing_in = reports
            .iter()
            .filter(|r| r.status() == PersonStatus::Residing)
            .map(|r| r.reporting_county.clone())
            .collect();
        Ok(Response::new(LocateResponse {
            hukou_county,
            residing_in,
            reports,
        }))
    }
    async fn counts(
        &self,
        request: Request<v1::CountsRequest>,
    ) -> Result<Response<v1::CountsResponse>, Status> {
        let operator = operator_of(&request)?;
        let purpose = require_purpose(&request.get_ref().purpose)?;
        let counties = self.store.county_counts().await?;
        self.store
            .audit(&operator, "counts", &purpose, "", counties.len())
            .await?;
        Ok(Response::new(v1::CountsResponse { counties }))
    }

    async fn conflicts(
        &self,
        request: Request<v1::ConflictsRequest>,
    ) -> Result<Response<v1::ConflictsResponse>, Status> {
        let operator = operator_of(&request)?;
        let purpose = require_purpose(&request.get_ref().purpose)?;
        let limit = limit_of(request.get_ref().limit);
        let conflicts = self.store.conflicts(limit).await?;
        self.store
            .audit(&operator, "conflicts", &purpose, "", conflicts.len())
            .await?;
        Ok(Response::new(v1::ConflictsResponse { conflicts }))
    }

    async fn untracked(
        &self,
        request: Request<v1::UntrackedRequest>,
    ) -> Result<Response<v1::UntrackedResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let today = mpx_proto::time::today_in_province();
        let cutoff = today
            .checked_sub(min_days_span(request.min_days)?)
            .map_err(|_| Status::invalid_argument("min_days: too large"))?;
        let people = self
            .store
            .untracked(&cutoff.to_string(), limit_of(request.limit))
            .await?;
        self.store
            .audit(
                &operator,
                "untracked",
                &purpose,
                &format!("min_days={}", request.min_days),
                people.len(),
            )
            .await?;
        Ok(Response::new(v1::UntrackedResponse { people }))
    }

    async fn flows(
        &self,
        request: Request<v1::FlowsRequest>,
    ) -> Result<Response<v1::FlowsResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let from = mpx_proto::time::parse_date(&request.from_date)
            .map_err(|e| Status::invalid_argument(format!("from_date: {e}")))?;
        let to = mpx_proto::time::parse_date(&request.to_date)
            .map_err(|e| Status::invalid_argument(format!("to_date: {e}")))?;
        if to < from {
            return Err(Status::invalid_argument(
                "to_date: must not be before from_date",
            ));
        }
        let threshold = if request.suppress_below == 0 {
            5
        } else {
            request.suppress_below
        };
        let flows = self
            .store
            .flows(&from.to_string(), &to.to_string())
            .await?
            .into_iter()
            .map(|(from_county, to_county, count)| {
                let suppressed = count < i64::from(threshold);
                v1::Flow {
                    from_county,
                    to_county,
                    count: if suppressed { 0 } else { count },
                    suppressed,
                }
            })
            .collect::<Vec<_>>();
        self.store
            .audit(
                &operator,
                "flows",
                &purpose,
                &format!("{from}..{to}"),
                flows.len(),
            )
            .await?;
        Ok(Response::new(v1::FlowsResponse {
            flows,
            suppress_below: threshold,
        }))
    }

    async fn open_cases(
        &self,
        request: Request<v1::OpenCasesRequest>,
    ) -> Result<Response<v1::OpenCasesResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let purpose = require_purpose(&request.purpose)?;
        let only: Vec<String> = request
            .resident_ids
            .iter()
            .enumerate()
            .map(|(index, id)| {
                ResidentId::parse_with(id, CheckDigitMode::Warn)
                    .map(|parsed| parsed.id.as_str().to_string())
                    .map_err(|e| Status::invalid_argument(format!("resident_ids[{index}]: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let wanted = |id: &str| only.is_empty() || only.iter().any(|o| o == id);
        let priority = match v1::CasePriority::try_from(request.priority) {
            Ok(v1::CasePriority::Urgent) => "urgent",
            _ => "normal",
        };
        let limit = limit_of(request.limit);
        let (finding, assignments) = match v1::Finding::try_from(request.finding) {
            Ok(v1::Finding::Conflict) => {
                let conflicts = self.store.conflicts(limit).await?;
                let assignments = conflicts
                    .iter()
                    .filter(|c| wanted(&c.resident_id))
                    .flat_map(|conflict| {
                        let all = conflict.counties.join("、");
                        conflict.counties.iter().map(move |county| NewAssignment {
                            county: county.clone(),
                            finding: "conflict",
                            resident_id: conflict.resident_id.clone(),
                            subject_name: conflict.name.clone(),
                            questions: format!(
                                "省级比对发现：该人员同时被 {all} 登记为现居住。请核实其是否仍在本县（市、区）居住，并在答复中说明。\n\
                                 Provincial check: the person is listed as residing in {all}. Please verify whether they still live in your county."
                            ),
                            priority,
                        })
                    })
                    .collect::<Vec<_>>();
                ("conflicts", assignments)
            }
            Ok(v1::Finding::Untracked) => {
                let cutoff = mpx_proto::time::today_in_province()
                    .checked_sub(min_days_span(request.min_days)?)
                    .map_err(|_| Status::invalid_argument("min_days: too large"))?;
                let people = self.store.untracked(&cutoff.to_string(), limit).await?;
                let mut assignments = Vec::new();
                for person in people.iter().filter(|p| wanted(&p.resident_id)) {
                    assignments.push(NewAssignment {
                        county: person.hukou_county.clone(),
                        finding: "untracked",
                        resident_id: person.resident_id.clone(),
                        subject_name: person.name.clone(),
                        questions: format!(
                            "省级比对发现：本县（市、区）登记该户籍人员自 {} 起外出，但没有任何县报告其现居住。请核实其去向，并在答复中说明。\n\
                             Provincial check: your county lists this person as gone out since {}, and no county reports them as residing. Please establish where they are.",
                            person.since, person.since
                        ),
                        priority,
                    });
                    if !person.last_known_residence.is_empty()
                        && person.last_known_residence != person.hukou_county
                    {
                        assignments.push(NewAssignment {
                            county: person.last_known_residence.clone(),
                            finding: "untracked",
                            resident_id: person.resident_id.clone(),
                            subject_name: person.name.clone(),
                            questions: format!(
                                "省级比对发现：户籍地 {} 记录该人员最后居住在本县（市、区），现无任何县报告其现居住。请核实其是否仍在本县或去向。\n\
                                 Provincial check: hukou county {} last knew this person living in your county, and no county reports them as residing now. Please verify.",
                                person.hukou_county, person.hukou_county
                            ),
                            priority,
                        });
                    }
                }
                ("untracked", assignments)
            }
            _ => {
                return Err(Status::invalid_argument(
                    "finding: FINDING_CONFLICT or FINDING_UNTRACKED",
                ));
            }
        };
        let now = mpx_proto::time::now_unix_ms();
        // The province's own deadlines for what it asks; the county's signed receipt replaces
        // them when it takes the case in.
        let deadlines = mpx_proto::policy::case_deadlines(
            &self.evidence.calendar,
            &self.evidence.deadlines.calendar_version,
            &self.evidence.deadlines.policies,
            &self.evidence.deadlines.policy_version,
            v1::CaseKind::Verification,
            if priority == "urgent" {
                v1::CasePriority::Urgent
            } else {
                v1::CasePriority::Normal
            },
            now,
        );
        let (opened, already_open) = self
            .store
            .open_assignments(&assignments, &deadlines, &operator, &purpose, now)
            .await?;
        self.store
            .audit(
                &operator,
                &format!("open cases for {finding}"),
                &purpose,
                &format!("{} opened, {already_open} already open", opened.len()),
                opened.len(),
            )
            .await?;
        tracing::info!(%operator, finding, opened = opened.len(), already_open, "provincial cases opened");
        Ok(Response::new(v1::OpenCasesResponse {
            opened,
            already_open,
        }))
    }
}

/// `min_days` as a span; at most 100 years (a larger span would not fit a date).
fn min_days_span(min_days: u32) -> Result<jiff::Span, Status> {
    if min_days > 36_600 {
        return Err(Status::invalid_argument(
            "min_days: at most 36600 (100 years)",
        ));
    }
    Ok(jiff::Span::new().days(i64::from(min_days)))
}

fn limit_of(requested: u32) -> u32 {
    match requested {
        0 => 1000,
        n => n.min(10_000),
    }
}
