//! End-to-end: a node restored from last night's backup gets back, from its peers and with no
//! operator action, everything it had received and sent since: notices and requests with their
//! original due dates, its clerk's own verification and answer, a follow-up; the peers hold no
//! second copy of anything; the registry's figures do not move; and a second restore of the
//! same backup is just as safe.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use mpx_proto::v1::{
    self, CaseDirection, CasePriority, CaseState, CreatePersonRequest, RequestExtensionRequest,
};
use mpx_tests::cases::{
    case_at, cases_at, open_verification, open_verification_from, person, respond,
};
use mpx_tests::{Backend, Province, case_state, resident_id, run_ok, wait_for_state, wait_until};

mod sqlite {
    #[tokio::test]
    async fn a_restored_node_recovers_everything_from_its_peers() {
        super::a_restored_node_recovers_everything_from_its_peers(mpx_tests::Backend::Sqlite).await
    }
}

mod all_on_postgres {
    #[tokio::test]
    async fn a_restored_node_recovers_everything_from_its_peers() {
        super::a_restored_node_recovers_everything_from_its_peers(mpx_tests::Backend::AllOnPostgres)
            .await
    }
}

/// The county that sends notices and requests to the restored one, and answers it.
const PEER: &str = "621202";
/// The county whose database is restored.
const RESTORED: &str = "621221";
/// A second peer: a verification from it, and an extension the restored clerk asked of it.
const THIRD: &str = "621223";
const WAIT: Duration = Duration::from_secs(60);
/// The restored county's console clerk (made before the backup, so the backup holds it).
const CLERK: &str = "clerk1";
const CLERK_PASSWORD: &str = "restore-test-2026";

/// Every case at `county` (both directions), by id.
async fn cases_of(province: &Province, county: &str) -> BTreeMap<String, v1::Case> {
    let mut all = BTreeMap::new();
    for direction in [CaseDirection::Inbound, CaseDirection::Outbound] {
        for case in cases_at(province, county, direction).await {
            all.insert(case.case_id.clone(), case);
        }
    }
    all
}

/// What a case must keep through a restore: where it stands and the instants that decide
/// lateness (not the list's computed fields, such as working days left).
fn essentials(case: &v1::Case) -> String {
    format!(
        "{} {:?} {:?} from {} to {} delivered {} due {} accept-by {} accepted {} responded {} answer {:?} verdict {} extension {:?} {} {} reminded {} calendar {} policy {}",
        case.case_id,
        case.direction(),
        case.state(),
        case.requester_county,
        case.recipient_county,
        case.delivered_at_unix_ms,
        case.due_at_unix_ms,
        case.acceptance_due_at_unix_ms,
        case.accepted_at_unix_ms,
        case.responded_at_unix_ms,
        case.answer,
        case.verdict,
        case.extension_state,
        case.extension_working_days,
        case.extended_due_at_unix_ms,
        case.reminded_at_unix_ms,
        case.calendar_version,
        case.policy_version,
    )
}

fn essentials_of(cases: &BTreeMap<String, v1::Case>) -> BTreeMap<String, String> {
    cases
        .iter()
        .map(|(id, case)| (id.clone(), essentials(case)))
        .collect()
}

/// The node's `status --json`.
fn status(province: &Province, county: &str) -> serde_json::Value {
    let out = run_ok({
        let mut command = province.node(county).cli();
        command.args(["--json", "status"]);
        command
    });
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("status is not JSON ({e}): {out}"))
}

/// The province's figures (every county's row) over the whole span the cases fall due in.
fn figures(province: &Province) -> serde_json::Value {
    let today = mpx_proto::time::date_of_unix_ms(now_unix_ms()).unwrap();
    let period = format!(
        "{}..{}",
        today.checked_sub(jiff::Span::new().days(40)).unwrap(),
        today.checked_add(jiff::Span::new().days(120)).unwrap()
    );
    let mut report = mpx_tests::cases::report_json(province, &period, None);
    // When the report was made is not a figure.
    if let Some(object) = report.as_object_mut() {
        object.retain(|key, _| !key.contains("generated") && !key.contains("as_of"));
    }
    report
}

/// What the registry holds of one case: its dispute and the distinct events both sides
/// reported, with their evidence (a repeat a recovery sends is stored, marked, and not counted).
fn evidence(province: &Province, case_id: &str) -> serde_json::Value {
    evidence_if_any(province, case_id)
        .unwrap_or_else(|| panic!("the registry has no report of case {case_id}"))
}

/// [`evidence`], or None while no county has reported the case.
fn evidence_if_any(province: &Province, case_id: &str) -> Option<serde_json::Value> {
    let mut command = province.registry_cli();
    command.args(["evidence", case_id, "--json"]);
    let output = mpx_tests::run(command);
    if !output.status.success() {
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains("no county has reported"), "{error}");
        return None;
    }
    let out = String::from_utf8_lossy(&output.stdout).to_string();
    let value: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("evidence is not JSON ({e}): {out}"));
    let mut events: Vec<String> = value["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| {
            !event["verification"]
                .as_str()
                .unwrap_or("")
                .starts_with("repeat")
        })
        .map(|event| {
            format!(
                "{} {} {} {} {}",
                event["reporter_county"],
                event["event"],
                event["at_unix_ms"],
                event["verification"],
                event["facts"]
            )
        })
        .collect();
    events.sort();
    events.dedup();
    Some(serde_json::json!({ "dispute": value["dispute"], "events": events }))
}

/// Whether `county` reported `event` for the case, in an evidence view.
fn reported(evidence: &serde_json::Value, county: &str, event: &str) -> bool {
    evidence["events"].as_array().unwrap().iter().any(|line| {
        line.as_str()
            .is_some_and(|line| line.starts_with(&format!("\"{county}\" \"{event}\"")))
    })
}

/// Backs up the node's database as the README says (the node keeps running).
fn back_up(province: &Province, county: &str, to: &Path) {
    let node = province.node(county);
    match node.database_url() {
        None => {
            let db = node.data_dir.join("node.db");
            run_ok({
                let mut command = std::process::Command::new("sqlite3");
                command.arg(&db).arg(format!(".backup '{}'", to.display()));
                command
            });
        }
        Some(url) => {
            run_ok({
                let mut command = std::process::Command::new("pg_dump");
                command
                    .args(["--format=custom", "--file"])
                    .arg(to)
                    .arg(&url);
                command
            });
        }
    }
}

/// The console's start page as the restored county's clerk sees it (signed in over HTTP).
fn console_start_page(province: &Province) -> String {
    use mpx_tests::http::{request, sign_in};
    let console = province.node(RESTORED).console.unwrap();
    let session = sign_in(console, RESTORED, CLERK, CLERK_PASSWORD).unwrap();
    let start = request(console, "GET", "/", &session, "").unwrap();
    assert_eq!(start.status, 200, "{}", start.body);
    start.body
}

/// Restores the backup (the node is stopped): with `exchange-node restore` as the README says,
/// or (`by_hand`) as an operator who skips it would: the file copied into place, or
/// `pg_restore` alone. The node must notice a restore either way.
fn restore(province: &Province, county: &str, from: &Path, by_hand: bool) -> String {
    let node = province.node(county);
    let mut command = node.cli();
    match node.database_url() {
        None if by_hand => {
            let db = node.data_dir.join("node.db");
            std::fs::copy(from, &db).unwrap();
            for side in ["node.db-wal", "node.db-shm"] {
                let _ = std::fs::remove_file(node.data_dir.join(side));
            }
            return "restored by hand".into();
        }
        None => {
            command.arg("restore").arg(from);
        }
        Some(url) => {
            run_ok({
                let mut pg_restore = std::process::Command::new("pg_restore");
                pg_restore
                    .args(["--clean", "--if-exists", "--no-owner", "--dbname"])
                    .arg(&url)
                    .arg(from);
                pg_restore
            });
            if by_hand {
                return "restored by hand".into();
            }
            command.args(["restore", "--already-restored"]);
        }
    }
    run_ok(command)
}

/// Waits until the registry has acknowledged every roster change and case event of `county`.
async fn province_has_everything(province: &Province, county: &str) {
    wait_until(
        WAIT,
        "the province to take every report of the node",
        || async {
            let backlog = &status(province, county)["province_backlog"];
            backlog["roster_changes"] == 0 && backlog["case_events"] == 0
        },
    )
    .await;
}

/// Waits until the node has noticed a restore (after `since`, Unix ms) and recovered from it.
async fn wait_recovered(province: &Province, county: &str, since: i64) -> serde_json::Value {
    wait_until(
        WAIT,
        "the restored node to recover from every peer",
        || async {
            let status = status(province, county);
            let restore = &status["restore"];
            restore["noticed_at_unix_ms"]
                .as_i64()
                .is_some_and(|at| at >= since)
                && restore["finished_at_unix_ms"]
                    .as_i64()
                    .is_some_and(|at| at > 0)
        },
    )
    .await;
    status(province, county)
}

async fn a_restored_node_recovers_everything_from_its_peers(backend: Backend) {
    let Some(mut province) = Province::start_on(backend, &[PEER, RESTORED, THIRD]).await else {
        return;
    };
    province
        .node(RESTORED)
        .add_console_operator(CLERK, "clerk", CLERK_PASSWORD);
    // Its requests are "due soon" at once, so the monitor sends a reminder for each (a
    // follow-up the restore must not send twice).
    province.stop_node(RESTORED);
    let config_path = province.node(RESTORED).data_dir.join("node.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    assert!(config.contains("due_soon_working_days = 2"), "{config}");
    std::fs::write(
        &config_path,
        config.replace("due_soon_working_days = 2", "due_soon_working_days = 25"),
    )
    .unwrap();
    province.start_node(RESTORED).await;
    assert!(
        !console_start_page(&province).contains("restore-notice"),
        "no restore to mention before one"
    );
    // Before the backup: a verification the restored county answered.
    let answered_before = open_verification(&province, RESTORED, 1).await;
    wait_for_state(
        &province,
        RESTORED,
        &answered_before.case_id,
        CaseState::Delivered,
    )
    .await;
    respond(&province, RESTORED, &answered_before.case_id).await;
    wait_for_state(
        &province,
        PEER,
        &answered_before.case_id,
        CaseState::Responded,
    )
    .await;

    // The backup is taken while notices flow in.
    let backup = province.dir.join("node-backup.db");
    let records = province.node(PEER).records().await;
    let sending = tokio::spawn(async move {
        for seq in 0..20 {
            records
                .clone()
                .create_person(CreatePersonRequest {
                    person: Some(person(&resident_id(RESTORED, 100 + seq), RESTORED)),
                })
                .await
                .unwrap();
        }
    });
    wait_until(WAIT, "the first notices to arrive", || async {
        cases_at(&province, RESTORED, CaseDirection::Inbound)
            .await
            .len()
            >= 5
    })
    .await;
    back_up(&province, RESTORED, &backup);
    sending.await.unwrap();

    // After the backup, everything the restore will take away:
    // notices in,
    for seq in 20..60 {
        province
            .node(PEER)
            .records()
            .await
            .create_person(CreatePersonRequest {
                person: Some(person(&resident_id(RESTORED, 100 + seq), RESTORED)),
            })
            .await
            .unwrap();
    }
    // a request from each peer,
    let answered_after = open_verification(&province, RESTORED, 2).await;
    let from_third =
        open_verification_from(&province, THIRD, RESTORED, 3, CasePriority::Urgent).await;
    // the restored county's clerk opens a verification, which the peer answers,
    let own = open_verification_from(&province, RESTORED, PEER, 4, CasePriority::Normal).await;
    wait_for_state(&province, PEER, &own.case_id, CaseState::Delivered).await;
    wait_until(WAIT, "the monitor's reminder to reach 621202", || async {
        case_at(&province, PEER, &own.case_id)
            .await
            .reminded_at_unix_ms
            > 0
    })
    .await;
    respond(&province, PEER, &own.case_id).await;
    // and one to the third county, which stays open: after the restore the monitor must not
    // remind it again;
    let own_open =
        open_verification_from(&province, RESTORED, THIRD, 6, CasePriority::Normal).await;
    wait_until(WAIT, "the monitor's reminder to reach 621223", || async {
        case_state(&province, THIRD, &own_open.case_id)
            .await
            .is_some()
            && case_at(&province, THIRD, &own_open.case_id)
                .await
                .reminded_at_unix_ms
                > 0
    })
    .await;
    // answers one request, and asks the other's sender for more time.
    wait_for_state(
        &province,
        RESTORED,
        &answered_after.case_id,
        CaseState::Delivered,
    )
    .await;
    respond(&province, RESTORED, &answered_after.case_id).await;
    wait_for_state(
        &province,
        RESTORED,
        &from_third.case_id,
        CaseState::Delivered,
    )
    .await;
    province
        .node(RESTORED)
        .cases()
        .await
        .request_extension(RequestExtensionRequest {
            case_id: from_third.case_id.clone(),
            working_days: 5,
            reason: "需要走访核实".into(),
        })
        .await
        .unwrap();

    // Everything has reached where it goes: the peers, and the province.
    wait_for_state(
        &province,
        PEER,
        &answered_after.case_id,
        CaseState::Responded,
    )
    .await;
    wait_for_state(&province, RESTORED, &own.case_id, CaseState::Responded).await;
    wait_until(WAIT, "the monitor's reminder to reach 621202", || async {
        case_at(&province, PEER, &own.case_id)
            .await
            .reminded_at_unix_ms
            > 0
    })
    .await;
    wait_until(WAIT, "the extension request to reach 621223", || async {
        case_at(&province, THIRD, &from_third.case_id)
            .await
            .extension_state
            == "requested"
    })
    .await;
    let affected = [
        answered_before.case_id.clone(),
        answered_after.case_id.clone(),
        from_third.case_id.clone(),
        own.case_id.clone(),
    ];
    wait_until(WAIT, "the province to hold both sides' reports", || async {
        let delivered = affected.iter().all(|case_id| {
            let Some(evidence) = evidence_if_any(&province, case_id) else {
                return false;
            };
            let case = [&answered_before, &answered_after, &from_third, &own]
                .into_iter()
                .find(|case| &case.case_id == case_id)
                .unwrap();
            reported(&evidence, &case.requester_county, "delivered")
                && reported(&evidence, &case.recipient_county, "delivered")
        });
        if !delivered {
            return false;
        }
        let own_answer = evidence(&province, &own.case_id);
        let restored_answer = evidence(&province, &answered_after.case_id);
        delivered
            && reported(&own_answer, PEER, "responded")
            && reported(&own_answer, RESTORED, "responded")
            && reported(&restored_answer, RESTORED, "responded")
            && reported(&restored_answer, PEER, "responded")
    })
    .await;
    // Every node's reports are in, then the province's view is taken.
    for county in [PEER, RESTORED, THIRD] {
        province_has_everything(&province, county).await;
    }
    let figures_before = figures(&province);
    let evidence_before: Vec<serde_json::Value> =
        affected.iter().map(|id| evidence(&province, id)).collect();
    let restored_before = essentials_of(&cases_of(&province, RESTORED).await);
    let peer_before = essentials_of(&cases_of(&province, PEER).await);
    let third_before = essentials_of(&cases_of(&province, THIRD).await);
    assert!(
        restored_before.len() >= 64,
        "the scenario made its cases: {}",
        restored_before.len()
    );

    // The first restore as the README says; the second of the same backup by hand.
    for round in 1..=2 {
        province.stop_node(RESTORED);
        let since = now_unix_ms();
        let said = restore(&province, RESTORED, &backup, round == 2);
        assert!(said.contains("restored"), "{said}");
        let lost = cases_of_offline(&province, RESTORED);
        assert!(
            lost < restored_before.len(),
            "round {round}: the backup lacks what came after it ({lost} cases in it)"
        );
        let started = std::time::Instant::now();
        province.start_node(RESTORED).await;
        let status = wait_recovered(&province, RESTORED, since).await;
        let took = started.elapsed();
        eprintln!(
            "round {round}: recovered in {:.1} s from start: {}",
            took.as_secs_f64(),
            status["summary"]
        );
        let recovery = &status["recovery"];
        assert_eq!(recovery["needs_clerk"], 0, "round {round}: {status}");
        assert!(
            recovery["replayed"].as_i64().unwrap() >= 40,
            "round {round}: the notices and requests came back: {status}"
        );
        assert!(
            recovery["rebuilt"].as_i64().unwrap() >= 6,
            "round {round}: the clerk's two verifications, answer, extension request and reminders came back: {status}"
        );
        let summary = status["summary"].as_str().unwrap();
        assert!(
            summary.contains("restored from a backup of") && summary.contains("recovered"),
            "{summary}"
        );
        let noticed_by = if round == 1 { "command" } else { "detected" };
        assert_eq!(status["restore"]["noticed_by"], noticed_by, "{status}");
        // The clerk sees it on the console's start page.
        let page = console_start_page(&province);
        assert!(
            page.contains("本节点已从备份恢复") && page.contains("恢复完成"),
            "{page}"
        );

        // Every case is back as it was, with its original due dates.
        let restored_after = essentials_of(&cases_of(&province, RESTORED).await);
        for (id, before) in &restored_before {
            assert_eq!(
                restored_after.get(id),
                Some(before),
                "round {round}: case {id} at the restored node"
            );
        }
        assert_eq!(
            restored_after.len(),
            restored_before.len(),
            "round {round}: nothing extra at the restored node"
        );
        // The peers hold no second copy of anything.
        assert_eq!(
            essentials_of(&cases_of(&province, PEER).await),
            peer_before,
            "round {round}: the peer's cases"
        );
        assert_eq!(
            essentials_of(&cases_of(&province, THIRD).await),
            third_before,
            "round {round}: the third county's cases"
        );
        // The province's figures do not move once the node's reports are in again.
        province_has_everything(&province, RESTORED).await;
        assert_eq!(figures(&province), figures_before, "round {round}: figures");
        for (id, before) in affected.iter().zip(&evidence_before) {
            assert_eq!(&evidence(&province, id), before, "round {round}: case {id}");
        }
    }

    // New traffic flows both ways, and the restored node's new reports reach the province.
    let fresh = resident_id(RESTORED, 900);
    let created = province
        .node(PEER)
        .records()
        .await
        .create_person(CreatePersonRequest {
            person: Some(person(&fresh, RESTORED)),
        })
        .await
        .unwrap()
        .into_inner();
    wait_for_state(
        &province,
        PEER,
        &created.notice_case_id,
        CaseState::Delivered,
    )
    .await;
    let local = resident_id(PEER, 901);
    province
        .node(RESTORED)
        .records()
        .await
        .create_person(CreatePersonRequest {
            person: Some(person(&local, PEER)),
        })
        .await
        .unwrap();
    wait_until(
        WAIT,
        "the restored node's new roster change to reach the index",
        || async {
            let mut command = province.registry_cli();
            command.args(["locate", &local, "--json", "--purpose", "e2e 恢复核查"]);
            String::from_utf8_lossy(&mpx_tests::run(command).stdout)
                .contains("\"reporting_county\":\"621221\"")
        },
    )
    .await;
}

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// How many cases the stopped node's database holds (read with the CLI, not the API).
fn cases_of_offline(province: &Province, county: &str) -> usize {
    let status = status(province, county);
    (status["open_inbound"].as_i64().unwrap() + status["open_outbound"].as_i64().unwrap()) as usize
}
