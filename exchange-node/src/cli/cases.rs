//! `cases …`: notices and verification requests — send, list, show, and each action a case's
//! state allows.

use super::*;

/// A kind a clerk may open, as the command line takes it: the case-kind table's label
/// (`record_transfer`; the hyphenated `record-transfer` of earlier versions is read too).
fn parse_clerk_kind(text: &str) -> Result<CaseKind, String> {
    mpx_proto::case_kind::kind_from_label(text)
        .filter(|kind| mpx_proto::case_kind::clerk_may_open(*kind as i32))
        .ok_or_else(|| format!("expected {}", mpx_proto::case_kind::clerk_kind_labels()))
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum PriorityArg {
    Normal,
    Urgent,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum VerdictArg {
    Confirmed,
    Disputed,
}

#[derive(Subcommand)]
pub(super) enum CasesCommand {
    /// Send a verification request (协查) to another county.
    Send {
        /// Recipient county code.
        #[arg(long)]
        to: String,
        /// Resident ID of the person concerned.
        #[arg(long)]
        id: String,
        /// What to verify.
        #[arg(long)]
        questions: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, value_enum, default_value = "normal")]
        priority: PriorityArg,
        /// verification or record_transfer.
        #[arg(long, value_parser = parse_clerk_kind, default_value = "verification")]
        kind: CaseKind,
    },
    /// Cases other counties sent here, open ones first by due date.
    Inbox {
        /// Include closed, withdrawn and redirected cases.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Cases this county sent, open ones first.
    Outbox {
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One case with its history.
    Show { case_id: String },
    /// Take up an inbound case.
    Accept {
        case_id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Answer an inbound case.
    Respond {
        case_id: String,
        #[arg(long, default_value = "")]
        answer: String,
        /// For residence notices: confirmed or disputed.
        #[arg(long, value_enum)]
        verdict: Option<VerdictArg>,
    },
    /// Say an inbound case belongs to another county.
    Redirect {
        case_id: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
    },
    /// Withdraw a case this county sent.
    Withdraw {
        case_id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Close an answered case this county sent.
    Close { case_id: String },
    /// Ask the requesting county for more working days (the original due date stays on record).
    Extend {
        case_id: String,
        #[arg(long)]
        days: u32,
        #[arg(long)]
        reason: String,
    },
    /// Grant (or, with --deny, refuse) an extension the recipient asked for.
    DecideExtension {
        case_id: String,
        #[arg(long)]
        deny: bool,
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub(super) async fn cases(
    cli: &Cli,
    config: &NodeConfig,
    command: &CasesCommand,
) -> anyhow::Result<()> {
    let mut client = cases_client(cli, config).await?;
    let case = match command {
        CasesCommand::Send {
            to,
            id,
            questions,
            name,
            priority,
            kind,
        } => {
            client
                .open_case(v1::OpenCaseRequest {
                    kind: *kind as i32,
                    recipient_county: to.clone(),
                    priority: match priority {
                        PriorityArg::Normal => CasePriority::Normal,
                        PriorityArg::Urgent => CasePriority::Urgent,
                    } as i32,
                    resident_id: id.clone(),
                    subject_name: name.clone(),
                    questions: questions.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Inbox { all, limit } | CasesCommand::Outbox { all, limit } => {
            let direction = if matches!(command, CasesCommand::Inbox { .. }) {
                CaseDirection::Inbound
            } else {
                CaseDirection::Outbound
            };
            let response = client
                .list_cases(v1::ListCasesRequest {
                    direction: direction as i32,
                    state: 0,
                    open_only: !all,
                    page_size: *limit,
                    ..Default::default()
                })
                .await
                .map_err(explain)?
                .into_inner();
            if cli.json {
                for case in &response.cases {
                    println!("{}", case_json(case));
                }
            } else {
                let counterpart = if direction == CaseDirection::Inbound {
                    "FROM"
                } else {
                    "TO"
                };
                let rows = response
                    .cases
                    .iter()
                    .map(|c| {
                        let other = if direction == CaseDirection::Inbound {
                            &c.requester_county
                        } else {
                            &c.recipient_county
                        };
                        vec![
                            c.case_id.clone(),
                            kind_label(c.kind()).to_string(),
                            other.clone(),
                            case_state_text(c),
                            priority_label(c.priority()).to_string(),
                            mpx_proto::time::format_due(crate::monitor::effective_due_at(c)),
                            days_left_text(c),
                            c.subject_name.clone(),
                            mpx_proto::resident_id::mask(&c.resident_id),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "CASE",
                        "KIND",
                        counterpart,
                        "STATE",
                        "PRIORITY",
                        "DUE",
                        "LEFT",
                        "NAME",
                        "RESIDENT ID",
                    ],
                    rows,
                );
            }
            return Ok(());
        }
        CasesCommand::Show { case_id } => {
            let response = client
                .get_case(v1::GetCaseRequest {
                    case_id: case_id.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            let case = response.case.unwrap_or_default();
            if cli.json {
                let mut value = case_json(&case);
                value["events"] = response
                    .events
                    .iter()
                    .map(|e| json!({"at_unix_ms": e.at_unix_ms, "event": e.event, "actor": e.actor, "detail": e.detail}))
                    .collect();
                value["evidence"] = response
                    .evidence
                    .iter()
                    .map(|e| json!({"event": e.event, "signer_county": e.signer_county, "signed_at_unix_ms": e.signed_at_unix_ms, "arrived_at_unix_ms": e.arrived_at_unix_ms, "check": evidence_check(e.check())}))
                    .collect();
                println!("{value}");
            } else {
                print_case(&case);
                println!();
                let rows = response
                    .events
                    .iter()
                    .map(|e| {
                        vec![
                            format_unix_ms(e.at_unix_ms),
                            e.event.clone(),
                            e.actor.clone(),
                            e.detail.clone(),
                        ]
                    })
                    .collect();
                print_table(&["WHEN", "EVENT", "BY", "DETAIL"], rows);
                if !response.evidence.is_empty() {
                    println!();
                    let rows = response
                        .evidence
                        .iter()
                        .map(|e| {
                            vec![
                                e.event.clone(),
                                e.signer_county.clone(),
                                format_unix_ms(e.signed_at_unix_ms),
                                if e.arrived_at_unix_ms > 0 {
                                    format_unix_ms(e.arrived_at_unix_ms)
                                } else {
                                    "-".into()
                                },
                                evidence_check(e.check()).to_string(),
                            ]
                        })
                        .collect();
                    print_table(
                        &["EVIDENCE", "SIGNED BY", "SIGNED AT", "ARRIVED", "CHECK"],
                        rows,
                    );
                }
            }
            return Ok(());
        }
        CasesCommand::Accept { case_id, note } => {
            client
                .accept_case(v1::AcceptCaseRequest {
                    case_id: case_id.clone(),
                    note: note.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Respond {
            case_id,
            answer,
            verdict,
        } => {
            client
                .respond_case(v1::RespondCaseRequest {
                    case_id: case_id.clone(),
                    answer: answer.clone(),
                    verdict: match verdict {
                        Some(VerdictArg::Confirmed) => NoticeVerdict::Confirmed,
                        Some(VerdictArg::Disputed) => NoticeVerdict::Disputed,
                        None => NoticeVerdict::Unspecified,
                    } as i32,
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Redirect {
            case_id,
            to,
            reason,
        } => {
            client
                .redirect_case(v1::RedirectCaseRequest {
                    case_id: case_id.clone(),
                    redirect_to_county: to.clone(),
                    reason: reason.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Withdraw { case_id, reason } => {
            client
                .withdraw_case(v1::WithdrawCaseRequest {
                    case_id: case_id.clone(),
                    reason: reason.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Extend {
            case_id,
            days,
            reason,
        } => {
            client
                .request_extension(v1::RequestExtensionRequest {
                    case_id: case_id.clone(),
                    working_days: *days,
                    reason: reason.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::DecideExtension {
            case_id,
            deny,
            note,
        } => {
            client
                .decide_extension(v1::DecideExtensionRequest {
                    case_id: case_id.clone(),
                    grant: !deny,
                    note: note.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
        CasesCommand::Close { case_id } => {
            client
                .close_case(v1::CloseCaseRequest {
                    case_id: case_id.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .case
        }
    };
    let case = case.unwrap_or_default();
    if cli.json {
        println!("{}", case_json(&case));
    } else {
        println!(
            "Case {} is now {}.",
            case.case_id,
            state_label(case.state())
        );
    }
    Ok(())
}

pub(super) fn days_left_text(case: &v1::Case) -> String {
    match case.working_days_left {
        0 if case.due_at_unix_ms == 0 => "-".into(),
        left if left < 0 => format!("逾期{} overdue {}wd", -left, -left),
        left => format!("{left}wd"),
    }
}

/// A signature check's outcome in words (the `check` of `cases show`; the JSON value too).
fn evidence_check(check: v1::EvidenceCheck) -> &'static str {
    match check {
        v1::EvidenceCheck::Verified => "verified",
        v1::EvidenceCheck::BadSignature => {
            "does not verify against the signer's current certificate"
        }
        v1::EvidenceCheck::NoCertificate => "no certificate of the signer in the directory",
        v1::EvidenceCheck::Missing | v1::EvidenceCheck::Unspecified => "missing",
    }
}
