//! Faults that end: a full disk (a real tmpfs that fills up and is then enlarged) and a peer
//! that hangs (SIGSTOP) and wakes. After the fault ends, writes and delivery work again within
//! seconds, without a restart. Mounting needs root (CI and tests/run.sh run as root); elsewhere
//! the disk test says it was skipped.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use exchange_node::store::Store;
use mpx_proto::v1;
use mpx_tests::{Province, resident_id};

/// A tmpfs mounted for the test, unmounted when dropped (pass or fail).
struct SmallFilesystem {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mpx-fs-")
            .tempdir()
            .unwrap();
        let path = dir.path().to_path_buf();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .is_ok_and(|output| output.status.success());
        if !mounted {
            eprintln!("skipped: mounting a tmpfs needs root (tests/run.sh runs as root)");
            return None;
        }
        Some(Self { path, _dir: dir })
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success(), "remount {size}");
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn person(seq: u32) -> v1::Person {
    v1::Person {
        resident_id: resident_id("621221", seq),
        name: "测试人员".repeat(8),
        hukou_county: "621221".into(),
        residence_county: "621202".into(),
        residence_address: "城关镇人民路12号".repeat(10),
        arrival_date: "2026-03-01".into(),
        status: v1::PersonStatus::Residing as i32,
        ..Default::default()
    }
}

/// One write transaction of `count` people starting at `first`.
async fn write(store: &Store, first: u32, count: u32) -> Result<(), String> {
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    for seq in first..first + count {
        tx.upsert_person(&person(seq), 1)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}

/// Seen: after SQLITE_FULL, SQLite had rolled the transaction back but the pooled connection
/// still believed it open, so 8 of 10 later writes failed with "attempted to call begin_with at
/// non-zero transaction depth" until a restart.
#[tokio::test]
async fn writes_work_again_as_soon_as_a_full_disk_has_room() {
    let Some(filesystem) = SmallFilesystem::mount("1m") else {
        return;
    };
    let url = format!(
        "sqlite://{}?mode=rwc",
        filesystem.path().join("node.db").display()
    );
    let store = Store::connect(&url).await.unwrap();
    let mut next = 1;
    let mut failures = Vec::new();
    // Fill the disk: keep writing until several writes in a row fail.
    for _ in 0..400 {
        match write(&store, next, 50).await {
            Ok(()) => next += 50,
            Err(error) => {
                failures.push(error);
                if failures.len() >= 5 {
                    break;
                }
            }
        }
    }
    assert!(
        failures.len() >= 5,
        "the filesystem never filled (wrote {next} people)"
    );
    assert!(
        failures.iter().any(|e| e.contains("full")),
        "the failures name the full disk: {failures:?}"
    );

    filesystem.resize("64m");
    let mut after = Vec::new();
    for round in 0..20 {
        if let Err(error) = write(&store, 1_000_000 + round * 10, 10).await {
            after.push(error);
        }
    }
    assert!(
        after.is_empty(),
        "{} of 20 writes failed after the disk had room again: {:?}",
        after.len(),
        after.first()
    );
    store.close().await;
}

/// Seen: a peer that hung (SIGSTOP) got one "no receipts within 30000 ms" and then no further
/// attempt until it woke: connecting and the TLS handshake had no deadline of their own.
#[tokio::test]
async fn a_hung_peer_is_retried_with_deadlines_and_delivery_resumes_when_it_wakes() {
    let province = Province::start(&["621202", "621221"]).await;
    let linxia = province.node("621221").process.as_ref().unwrap();
    linxia.signal_group("-STOP");
    let mut records = province.node("621202").records().await;
    let mut registered = person(7);
    registered.residence_county = String::new();
    registered.status = 0;
    records
        .create_person(v1::CreatePersonRequest {
            person: Some(registered),
        })
        .await
        .unwrap();
    let log = province.node("621202").data_dir.join("node.log");
    mpx_tests::wait_until(
        std::time::Duration::from_secs(40),
        "an attempt cut off by the connect deadline",
        || async {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("did not complete the connection")
        },
    )
    .await;
    linxia.signal_group("-CONT");
    let woke = std::time::Instant::now();
    mpx_tests::wait_until(
        std::time::Duration::from_secs(30),
        "the notice delivered after the peer woke",
        || async {
            let cases = province
                .node("621221")
                .cases()
                .await
                .list_cases(v1::ListCasesRequest {
                    direction: v1::CaseDirection::Inbound as i32,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .cases;
            cases.len() == 1
        },
    )
    .await;
    eprintln!("delivered {:?} after the peer woke", woke.elapsed());
}

/// Overload: a receiver that stores one batch at a time and lets a batch wait only a moment
/// pushes the rest back (UNAVAILABLE with a retry-after); the senders come back and every
/// notice arrives exactly once.
#[tokio::test]
async fn an_overloaded_receiver_pushes_back_and_loses_nothing() {
    let mut province = Province::start(&["621202", "620102"]).await;
    province.enroll("621221");
    let config = province.node("621221").data_dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("concurrent_batches = 2", "concurrent_batches = 1")
            .replace("intake_wait_ms = 5000", "intake_wait_ms = 1"),
    )
    .unwrap();
    province.start_node("621221").await;
    // Two senders, 1 500 notices each, imported at once: their batches of 500 overlap.
    let mut imports = Vec::new();
    for (sender, first) in [("621202", 0u32), ("620102", 2_000)] {
        let mut records = province.node(sender).records().await;
        imports.push(tokio::spawn(async move {
            for chunk in 0..3 {
                let start = first + chunk * 500;
                let rows: Vec<_> = (start..start + 500)
                    .map(|seq| v1::ImportRow {
                        line: u64::from(seq),
                        person: Some(v1::Person {
                            resident_id: resident_id("621221", seq),
                            name: "测试人员".into(),
                            hukou_county: "621221".into(),
                            residence_address: "城关镇人民路12号".into(),
                            arrival_date: "2026-03-01".into(),
                            ..Default::default()
                        }),
                    })
                    .collect();
                records
                    .import_people(v1::ImportPeopleRequest {
                        rows,
                        source: "overload".into(),
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for import in imports {
        import.await.unwrap();
    }
    mpx_tests::wait_until(mpx_tests::WAIT, "3 000 notices at 621221", || async {
        inbound_count(&province, "621221").await >= 3000
    })
    .await;
    assert_eq!(
        inbound_count(&province, "621221").await,
        3000,
        "each notice exactly once"
    );
    let metrics = province.node("621221").scrape_metrics();
    let pushbacks: f64 = metrics
        .lines()
        .find(|line| line.starts_with("mpx_intake_pushbacks_total"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0);
    assert!(pushbacks >= 1.0, "the receiver pushed back: {metrics}");
}

/// Inbound cases at `county`, all pages.
async fn inbound_count(province: &Province, county: &str) -> usize {
    let mut cases = province.node(county).cases().await;
    let (mut count, mut token) = (0, String::new());
    loop {
        let page = cases
            .list_cases(v1::ListCasesRequest {
                direction: v1::CaseDirection::Inbound as i32,
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        count += page.cases.len();
        if page.next_page_token.is_empty() {
            return count;
        }
        token = page.next_page_token;
    }
}
