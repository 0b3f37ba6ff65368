//! `mpx.v1.Cases`: verification requests and notices with other counties, for clerks.

use mpx_proto::runtime::operator_of;
use mpx_proto::v1::cases_server::{Cases, CasesServer};
use mpx_proto::v1::{
    self, AcceptCaseRequest, AcceptCaseResponse, CaseDirection, CaseKind, CasePriority, CaseState,
    CloseCaseRequest, CloseCaseResponse, GetCaseRequest, GetCaseResponse, ListCasesRequest,
    ListCasesResponse, NoticeVerdict, OpenCaseRequest, OpenCaseResponse, RedirectCaseRequest,
    RedirectCaseResponse, RespondCaseRequest, RespondCaseResponse, WithdrawCaseRequest,
    WithdrawCaseResponse,
};
use tonic::{Request, Response, Status};

use super::page_size;
use crate::store::{CaseOrder, CaseQuery};
use crate::workflow::{OpenCase, Workflow};

#[derive(Debug, Clone)]
pub struct CasesService {
    workflow: Workflow,
}

impl CasesService {
    pub fn new(workflow: Workflow) -> Self {
        Self { workflow }
    }

    pub fn into_server(self) -> CasesServer<Self> {
        CasesServer::new(self)
    }

    /// Fills the derived fields: `working_days_left` for an unanswered case with a due date,
    /// `answered_late` for an answered one, `no_route` for one held for want of a route.
    fn with_days_left(&self, mut case: v1::Case) -> v1::Case {
        case.answered_late = case.responded_at_unix_ms > 0
            && case.due_at_unix_ms > 0
            && case.responded_at_unix_ms >= case.due_at_unix_ms;
        let unanswered = matches!(
            case.state(),
            CaseState::Queued | CaseState::Delivered | CaseState::Accepted
        );
        let due_at = crate::monitor::effective_due_at(&case);
        if unanswered
            && due_at > 0
            && let Some(due_day) = mpx_proto::time::date_of_unix_ms(due_at - 1)
        {
            let calendar = &self.workflow.directory().deadlines().calendar;
            let today = self.workflow.clock().today();
            let now = self.workflow.clock().now_unix_ms();
            let left = calendar.working_days_between(today, due_day).value;
            // Past the end of the due day: overdue, counted in whole working days (at least 1).
            let left = if now >= due_at { left.min(-1) } else { left };
            case.working_days_left = i32::try_from(left).unwrap_or(0);
        }
        case.no_route = case.state() == CaseState::Queued
            && case.direction() == CaseDirection::Outbound
            && self
                .workflow
                .directory()
                .has_no_route(&case.recipient_county);
        case
    }
}

fn enum_field<T: TryFrom<i32>>(field: &str, value: i32) -> Result<T, Status> {
    T::try_from(value)
        .map_err(|_| Status::invalid_argument(format!("{field}: unknown value {value}")))
}

/// The signed receipts and responses among a case's reports, each checked against the
/// certificate `certificate_of` gives for its signer (the case's recipient), as the province
/// checks them (`mpx_proto::evidence`).
fn signed_evidence(
    reports: &[v1::CaseEventReport],
    certificate_of: impl Fn(&str) -> Option<Vec<u8>>,
) -> Vec<v1::SignedEvidence> {
    use v1::EvidenceCheck;
    reports
        .iter()
        .filter(|report| {
            matches!(
                report.event.as_str(),
                "delivered" | "accepted" | "responded" | "redirected"
            )
        })
        .map(|report| {
            let certificate = certificate_of(&report.recipient_county);
            let (signed_at, verified) = if report.event == "delivered" {
                match report
                    .receipt
                    .as_ref()
                    .and_then(|e| Some((e.receipt.as_ref()?, e)))
                {
                    Some((receipt, evidence)) => (
                        receipt.received_at_unix_ms,
                        certificate.as_ref().map(|der| {
                            mpx_proto::evidence::verify_receipt(
                                der,
                                receipt,
                                &evidence.envelope_sha256,
                            )
                            .is_ok()
                                && receipt.case_id == report.case_id
                        }),
                    ),
                    None => (0, None),
                }
            } else {
                match &report.response {
                    Some(response) => (
                        response.responded_at_unix_ms,
                        certificate.as_ref().map(|der| {
                            mpx_proto::evidence::verify_response_evidence(der, response).is_ok()
                                && response.case_id == report.case_id
                        }),
                    ),
                    None => (0, None),
                }
            };
            let check = if signed_at == 0 {
                EvidenceCheck::Missing
            } else {
                match verified {
                    Some(true) => EvidenceCheck::Verified,
                    Some(false) => EvidenceCheck::BadSignature,
                    None => EvidenceCheck::NoCertificate,
                }
            };
            v1::SignedEvidence {
                event: report.event.clone(),
                signer_county: report.recipient_county.clone(),
                signed_at_unix_ms: signed_at,
                arrived_at_unix_ms: report.arrived_at_unix_ms,
                check: check as i32,
            }
        })
        .collect()
}

/// The filters of a `ListCases` request, checked (each refusal names its field).
fn case_query(direction: CaseDirection, request: &ListCasesRequest) -> Result<CaseQuery, Status> {
    let unless_unspecified = |value: i32| (value != 0).then_some(value);
    let peer_county = match request.peer_county.trim() {
        "" => None,
        code => Some(
            mpx_proto::division::CountyCode::parse(code)
                .map_err(|error| Status::invalid_argument(format!("peer_county: {error}")))?
                .to_string(),
        ),
    };
    for (field, value) in [
        ("due_after_unix_ms", request.due_after_unix_ms),
        ("due_until_unix_ms", request.due_until_unix_ms),
    ] {
        if value < 0 {
            return Err(Status::invalid_argument(format!(
                "{field}: expected Unix milliseconds (0 for no bound), got {value}"
            )));
        }
    }
    if request.due_after_unix_ms > 0
        && request.due_until_unix_ms > 0
        && request.due_after_unix_ms >= request.due_until_unix_ms
    {
        return Err(Status::invalid_argument(format!(
            "due_until_unix_ms: must be later than due_after_unix_ms ({}), got {}",
            request.due_after_unix_ms, request.due_until_unix_ms
        )));
    }
    Ok(CaseQuery {
        direction,
        state: match enum_field::<CaseState>("state", request.state)? {
            CaseState::Unspecified => None,
            state => Some(state),
        },
        open_only: request.open_only,
        awaiting_answer: request.awaiting_answer,
        kind: unless_unspecified(request.kind)
            .map(|kind| enum_field::<CaseKind>("kind", kind))
            .transpose()?,
        priority: unless_unspecified(request.priority)
            .map(|priority| enum_field::<CasePriority>("priority", priority))
            .transpose()?,
        peer_county,
        due_after_unix_ms: request.due_after_unix_ms,
        due_until_unix_ms: request.due_until_unix_ms,
        order: match enum_field::<v1::CaseOrder>("order", request.order)? {
            v1::CaseOrder::Unspecified | v1::CaseOrder::Due => CaseOrder::Due,
            v1::CaseOrder::Newest => CaseOrder::Newest,
            v1::CaseOrder::Oldest => CaseOrder::Oldest,
        },
    })
}

#[tonic::async_trait]
impl Cases for CasesService {
    async fn open_case(
        &self,
        request: Request<OpenCaseRequest>,
    ) -> Result<Response<OpenCaseResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let input = OpenCase {
            kind: enum_field::<CaseKind>("kind", request.kind)?,
            recipient_county: request.recipient_county,
            priority: enum_field::<CasePriority>("priority", request.priority)?,
            resident_id: request.resident_id,
            subject_name: request.subject_name,
            questions: request.questions,
        };
        let case = self.workflow.open_case(&operator, &input).await?;
        Ok(Response::new(OpenCaseResponse { case: Some(case) }))
    }

    async fn list_cases(
        &self,
        request: Request<ListCasesRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let direction = match enum_field::<CaseDirection>("direction", request.direction)? {
            CaseDirection::Unspecified => {
                return Err(Status::invalid_argument(
                    "direction: INBOUND (the inbox) or OUTBOUND",
                ));
            }
            direction => direction,
        };
        let query = case_query(direction, &request)?;
        let offset: u64 = if request.page_token.is_empty() {
            0
        } else {
            request.page_token.parse().map_err(|_| {
                Status::invalid_argument(
                    "page_token: use the next_page_token of a previous response",
                )
            })?
        };
        let limit = page_size(request.page_size);
        let store = self.workflow.store();
        let cases = store.list_cases(&query, offset, limit).await?;
        let total_size = if request.with_total {
            store.count_cases(&query).await?
        } else {
            0
        };
        let cases: Vec<_> = cases
            .into_iter()
            .map(|case| self.with_days_left(case))
            .collect();
        let next_page_token = if cases.len() == limit as usize {
            (offset + u64::from(limit)).to_string()
        } else {
            String::new()
        };
        self.workflow
            .store()
            .audit(&operator, "cases.list", "case handling", "", cases.len())
            .await?;
        Ok(Response::new(ListCasesResponse {
            cases,
            next_page_token,
            total_size,
        }))
    }

    async fn get_case(
        &self,
        request: Request<GetCaseRequest>,
    ) -> Result<Response<GetCaseResponse>, Status> {
        let operator = operator_of(&request)?;
        let case_id = request.into_inner().case_id;
        let case_id = uuid::Uuid::parse_str(case_id.trim())
            .map_err(|_| {
                Status::invalid_argument(format!("case_id: expected a UUID, got {case_id:?}"))
            })?
            .to_string();
        let store = self.workflow.store();
        let case = store
            .get_case(&case_id)
            .await?
            .ok_or_else(|| Status::not_found(format!("case_id: no case {case_id} at this node")))?;
        let events = store.case_events(&case_id).await?;
        store
            .audit(
                &operator,
                "cases.get",
                "case handling",
                &case.resident_id,
                1,
            )
            .await?;
        let reports = self.workflow.store().case_reports_of(&case.case_id).await?;
        let evidence = signed_evidence(&reports, |county| {
            self.workflow.directory().certificate_of(county)
        });
        Ok(Response::new(GetCaseResponse {
            case: Some(self.with_days_left(case)),
            events,
            evidence,
        }))
    }

    async fn accept_case(
        &self,
        request: Request<AcceptCaseRequest>,
    ) -> Result<Response<AcceptCaseResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let case = self
            .workflow
            .accept(&operator, request.case_id.trim(), &request.note)
            .await?;
        Ok(Response::new(AcceptCaseResponse { case: Some(case) }))
    }

    async fn respond_case(
        &self,
        request: Request<RespondCaseRequest>,
    ) -> Result<Response<RespondCaseResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let verdict = enum_field::<NoticeVerdict>("verdict", request.verdict)?;
        let case = self
            .workflow
            .respond(&operator, request.case_id.trim(), &request.answer, verdict)
            .await?;
        Ok(Response::new(RespondCaseResponse { case: Some(case) }))
    }

    async fn redirect_case(
        &self,
        request: Request<RedirectCaseRequest>,
    ) -> Result<Response<RedirectCaseResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let case = self
            .workflow
            .redirect(
                &operator,
                request.case_id.trim(),
                &request.redirect_to_county,
                &request.reason,
            )
            .await?;
        Ok(Response::new(RedirectCaseResponse { case: Some(case) }))
    }

    async fn withdraw_case(
        &self,
        request: Request<WithdrawCaseRequest>,
    ) -> Result<Response<WithdrawCaseResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let case = self
            .workflow
            .withdraw(&operator, request.case_id.trim(), &request.reason)
            .await?;
        Ok(Response::new(WithdrawCaseResponse { case: Some(case) }))
    }

    async fn request_extension(
        &self,
        request: Request<v1::RequestExtensionRequest>,
    ) -> Result<Response<v1::RequestExtensionResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let case = self
            .workflow
            .request_extension(
                &operator,
                request.case_id.trim(),
                request.working_days,
                &request.reason,
            )
            .await?;
        Ok(Response::new(v1::RequestExtensionResponse {
            case: Some(case),
        }))
    }

    async fn decide_extension(
        &self,
        request: Request<v1::DecideExtensionRequest>,
    ) -> Result<Response<v1::DecideExtensionResponse>, Status> {
        let operator = operator_of(&request)?;
        let request = request.into_inner();
        let case = self
            .workflow
            .decide_extension(
                &operator,
                request.case_id.trim(),
                request.grant,
                &request.note,
            )
            .await?;
        Ok(Response::new(v1::DecideExtensionResponse {
            case: Some(case),
        }))
    }

    async fn close_case(
        &self,
        request: Request<CloseCaseRequest>,
    ) -> Result<Response<CloseCaseResponse>, Status> {
        let operator = operator_of(&request)?;
        let case = self
            .workflow
            .close(&operator, request.into_inner().case_id.trim())
            .await?;
        Ok(Response::new(CloseCaseResponse { case: Some(case) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(request: ListCasesRequest) -> String {
        case_query(CaseDirection::Inbound, &request)
            .unwrap_err()
            .message()
            .to_string()
    }

    /// A receipt signed by a fresh key, and that key's certificate (DER).
    fn signed_receipt(case_id: &str) -> (v1::CaseEventReport, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let certificate = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let signer = mpx_proto::evidence::Signer::from_pkcs8_pem(&key.serialize_pem()).unwrap();
        let mut receipt = v1::Receipt {
            message_id: "m1".into(),
            received_at_unix_ms: 1_700_000_000_000,
            status: v1::ReceiptStatus::Stored as i32,
            case_id: case_id.into(),
            ..Default::default()
        };
        mpx_proto::evidence::sign_receipt(&signer, &mut receipt, "abc").unwrap();
        let report = v1::CaseEventReport {
            case_id: case_id.into(),
            event: "delivered".into(),
            recipient_county: "621221".into(),
            receipt: Some(v1::ReceiptEvidence {
                receipt: Some(receipt),
                envelope_sha256: "abc".into(),
            }),
            ..Default::default()
        };
        (report, certificate.der().to_vec())
    }

    #[test]
    fn evidence_is_verified_and_an_altered_or_uncheckable_one_says_why() {
        let (report, certificate) = signed_receipt("c1");
        let check = |reports: &[v1::CaseEventReport], der: Option<&Vec<u8>>| {
            signed_evidence(reports, |county| {
                assert_eq!(county, "621221", "checked against the recipient");
                der.cloned()
            })
            .iter()
            .map(|e| e.check())
            .collect::<Vec<_>>()
        };
        let sent = v1::CaseEventReport {
            event: "sent".into(),
            ..report.clone()
        };
        assert_eq!(
            check(&[sent, report.clone()], Some(&certificate)),
            [v1::EvidenceCheck::Verified],
            "only signed events are evidence"
        );
        assert_eq!(
            check(std::slice::from_ref(&report), None),
            [v1::EvidenceCheck::NoCertificate]
        );
        let (_, other_certificate) = signed_receipt("c1");
        assert_eq!(
            check(std::slice::from_ref(&report), Some(&other_certificate)),
            [v1::EvidenceCheck::BadSignature]
        );
        let mut altered = report.clone();
        if let Some(receipt) = altered.receipt.as_mut().and_then(|e| e.receipt.as_mut()) {
            receipt.received_at_unix_ms += 86_400_000;
        }
        assert_eq!(
            check(&[altered], Some(&certificate)),
            [v1::EvidenceCheck::BadSignature]
        );
        let bare = v1::CaseEventReport {
            receipt: None,
            ..report
        };
        assert_eq!(
            check(&[bare], Some(&certificate)),
            [v1::EvidenceCheck::Missing]
        );
    }

    #[test]
    fn list_filters_are_checked_and_each_refusal_names_its_field() {
        assert!(
            refused(ListCasesRequest {
                peer_county: "62122x".into(),
                ..Default::default()
            })
            .starts_with("peer_county: expected a 6-digit")
        );
        assert!(
            refused(ListCasesRequest {
                peer_county: "620100".into(),
                ..Default::default()
            })
            .starts_with("peer_county:")
        );
        assert!(
            refused(ListCasesRequest {
                kind: 99,
                ..Default::default()
            })
            .starts_with("kind: unknown value 99")
        );
        assert!(
            refused(ListCasesRequest {
                order: -1,
                ..Default::default()
            })
            .starts_with("order:")
        );
        assert!(
            refused(ListCasesRequest {
                due_after_unix_ms: -5,
                ..Default::default()
            })
            .starts_with("due_after_unix_ms: expected Unix milliseconds")
        );
        assert!(
            refused(ListCasesRequest {
                due_after_unix_ms: 10,
                due_until_unix_ms: 10,
                ..Default::default()
            })
            .starts_with("due_until_unix_ms: must be later than due_after_unix_ms")
        );
        let query = case_query(
            CaseDirection::Outbound,
            &ListCasesRequest {
                peer_county: " 621221 ".into(),
                priority: CasePriority::Urgent as i32,
                order: v1::CaseOrder::Newest as i32,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(query.peer_county.as_deref(), Some("621221"));
        assert_eq!(query.priority, Some(CasePriority::Urgent));
        assert_eq!(query.order, CaseOrder::Newest);
        assert_eq!(query.kind, None);
    }
}
