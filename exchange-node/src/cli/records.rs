//! `records …`: the roster one person at a time (add, get, list, move, depart); files of people
//! (import, export) are in `bulk`.

use super::*;

#[derive(Subcommand)]
pub(super) enum RecordsCommand {
    /// Register a person living in this county (notifies the hukou county when it is elsewhere).
    Add {
        /// 18-character resident ID (a 15-digit legacy number is upgraded).
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Hukou county code (户籍地).
        #[arg(long)]
        hukou: String,
        /// Address in this county.
        #[arg(long)]
        address: String,
        /// Date the person came to live here (YYYY-MM-DD; default today).
        #[arg(long, default_value = "")]
        arrival: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// Show one person (audited).
    Get {
        id: String,
        /// Why you read this record (recorded in the audit log).
        #[arg(long)]
        purpose: String,
    },
    /// List people (audited).
    List {
        /// Why you read these records (recorded in the audit log).
        #[arg(long)]
        purpose: String,
        /// residing, departed, living_elsewhere or whereabouts_unknown.
        #[arg(long, value_parser = parse_status)]
        status: Option<PersonStatus>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Start after this resident ID (the `next` value printed under a full page).
        #[arg(long, default_value = "")]
        after: String,
    },
    /// Record a move to a new address within this county.
    Move {
        id: String,
        #[arg(long)]
        address: String,
        #[arg(long, default_value = "")]
        date: String,
    },
    /// Load a roster file (CSV in UTF-8 or GB18030, or JSON Lines): good rows are registered
    /// (with residence notices), bad rows go to a reject file with their line and reason.
    Import(bulk::ImportArgs),
    /// Write the roster to CSV or JSON Lines (audited; the file is created 0600).
    Export(bulk::ExportArgs),
    /// Record that a person left this county.
    Depart {
        id: String,
        #[arg(long, default_value = "")]
        date: String,
        /// Destination county, when known.
        #[arg(long, default_value = "")]
        to: String,
    },
}

/// A person's status as the command line takes it (the stored spelling; the hyphenated one of
/// earlier versions is read too).
fn parse_status(text: &str) -> Result<PersonStatus, String> {
    mpx_proto::person::status_from_label(text).ok_or_else(|| {
        "expected residing, departed, living_elsewhere or whereabouts_unknown".to_string()
    })
}

pub(super) async fn records(
    cli: &Cli,
    config: &NodeConfig,
    command: &RecordsCommand,
) -> anyhow::Result<()> {
    let mut client = records_client(cli, config).await?;
    match command {
        RecordsCommand::Import(args) => bulk::import(&mut client, args, cli.json).await?,
        RecordsCommand::Export(args) => bulk::export(&mut client, args).await?,
        RecordsCommand::Add {
            id,
            name,
            hukou,
            address,
            arrival,
            phone,
            notes,
        } => {
            let person = v1::Person {
                resident_id: id.clone(),
                name: name.clone(),
                hukou_county: hukou.clone(),
                residence_address: address.clone(),
                arrival_date: arrival.clone(),
                phone: phone.clone(),
                notes: notes.clone(),
                ..Default::default()
            };
            let response = client
                .create_person(v1::CreatePersonRequest {
                    person: Some(person),
                })
                .await
                .map_err(explain)?
                .into_inner();
            for warning in &response.warnings {
                eprintln!("warning: {warning}");
            }
            let person = response.person.unwrap_or_default();
            if cli.json {
                let mut value = person_json(&person);
                value["notice_case_id"] = json!(response.notice_case_id);
                println!("{value}");
            } else {
                println!(
                    "Registered {} {}.",
                    terminal_safe(&person.name),
                    mpx_proto::resident_id::mask(&person.resident_id)
                );
                if !response.notice_case_id.is_empty() {
                    println!(
                        "Residence notice {} queued for hukou county {}.",
                        response.notice_case_id, person.hukou_county
                    );
                }
            }
        }
        RecordsCommand::Get { id, purpose } => {
            let person = client
                .get_person(v1::GetPersonRequest {
                    resident_id: id.clone(),
                    purpose: purpose.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner()
                .person
                .unwrap_or_default();
            if cli.json {
                println!("{}", person_json(&person));
            } else {
                print_person(&person);
            }
        }
        RecordsCommand::List {
            purpose,
            status,
            limit,
            after,
        } => {
            let response = client
                .list_people(v1::ListPeopleRequest {
                    purpose: purpose.clone(),
                    status: status.unwrap_or(PersonStatus::Unspecified) as i32,
                    page_size: *limit,
                    page_token: after.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            if cli.json {
                for person in &response.people {
                    println!("{}", person_json(person));
                }
            } else {
                let rows = response
                    .people
                    .iter()
                    .map(|p| {
                        vec![
                            p.resident_id.clone(),
                            p.name.clone(),
                            status_label(p.status()).to_string(),
                            p.hukou_county.clone(),
                            p.residence_county.clone(),
                            p.residence_address.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "RESIDENT ID",
                        "NAME",
                        "STATUS",
                        "HUKOU",
                        "RESIDENCE",
                        "ADDRESS",
                    ],
                    rows,
                );
                if !response.next_page_token.is_empty() {
                    println!("(more: --after {})", response.next_page_token);
                }
            }
        }
        RecordsCommand::Move { id, address, date } => {
            let response = client
                .move_person(v1::MovePersonRequest {
                    resident_id: id.clone(),
                    new_residence_address: address.clone(),
                    effective_date: date.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            report_change(
                cli,
                "Move recorded",
                response.person.unwrap_or_default(),
                &response.notice_case_id,
            );
        }
        RecordsCommand::Depart { id, date, to } => {
            let response = client
                .depart_person(v1::DepartPersonRequest {
                    resident_id: id.clone(),
                    departure_date: date.clone(),
                    destination_county: to.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            report_change(
                cli,
                "Departure recorded",
                response.person.unwrap_or_default(),
                &response.notice_case_id,
            );
        }
    }
    Ok(())
}

pub(super) fn report_change(cli: &Cli, what: &str, person: v1::Person, case_id: &str) {
    if cli.json {
        let mut value = person_json(&person);
        value["notice_case_id"] = json!(case_id);
        println!("{value}");
    } else {
        println!(
            "{what} for {} {}.",
            terminal_safe(&person.name),
            mpx_proto::resident_id::mask(&person.resident_id)
        );
        if !case_id.is_empty() {
            println!(
                "Residence notice {case_id} queued for hukou county {}.",
                person.hukou_county
            );
        }
    }
}
