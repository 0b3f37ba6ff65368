//! Benchmarks of the real processes, with generated data:
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release -p mpx-tests --bin mpx-bench -- [--quick] [--runs 3] [SCENARIO …]
//! ```
//!
//! Scenarios (default: all): `idle`, `latency` (one notice on an idle province), `import`,
//! `reconcile`, `report`, `monitor` (deadline tick over 1 M open cases), `locate` (10 M index
//! rows, PostgreSQL), `exchange` (100 k notices, SQLite), `console` (the county console's inbox
//! and start page over 100 k cases) and `exchange-pg` (PostgreSQL;
//! `MPX_BENCH_NOTICES` sets the count of both). Each prints one JSON line per figure (median,
//! min and max of the runs) and, where it has one, the raw limit measured in the same run on
//! this machine (the same work without MPX around it) and the ratio. The table, the machine and
//! the command are written between the markers of `BENCHMARKS.md` (or `MPX_BENCH_OUT`), the
//! commentary around them kept. Nothing here fails on a slow figure; `--quick` uses tiny sizes
//! (a smoke run) and writes nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mpx_proto::synth::{RosterSpec, department_extract, roster, write_csv};
use mpx_proto::tabular::Encoding;
use mpx_tests::{Province, memory_of, wait_until};

const WUDU: &str = "621202";
const SCENARIOS: &[&str] = &[
    "idle",
    "latency",
    "import",
    "reconcile",
    "report",
    "monitor",
    "locate",
    "exchange",
    "exchange-pg",
    "overload",
    "restore",
    "console",
];
const LINXIA: &str = "621221";

#[derive(Debug, Clone, serde::Serialize)]
struct Figure {
    scenario: &'static str,
    figure: String,
    unit: &'static str,
    median: f64,
    min: f64,
    max: f64,
    runs: usize,
    target: &'static str,
    raw_limit: Option<f64>,
    ratio_to_raw: Option<f64>,
    note: String,
}

fn stats(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = if sorted.is_empty() {
        f64::NAN
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    (
        median,
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
    )
}

struct Bench {
    runs: usize,
    quick: bool,
    figures: Vec<Figure>,
}

impl Bench {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        scenario: &'static str,
        figure: &str,
        unit: &'static str,
        values: &[f64],
        target: &'static str,
        raw: Option<&[f64]>,
        note: &str,
    ) {
        let (median, min, max) = stats(values);
        let raw_limit = raw.map(|r| stats(r).0);
        let figure = Figure {
            scenario,
            figure: figure.to_string(),
            unit,
            median,
            min,
            max,
            runs: values.len(),
            target,
            raw_limit,
            ratio_to_raw: raw_limit.map(|r| median / r),
            note: note.to_string(),
        };
        println!("{}", serde_json::to_string(&figure).unwrap_or_default());
        self.figures.push(figure);
    }
}

/// A plain SQLite pool (WAL, a busy timeout so it can share the file with a running server).
async fn sqlite(path: &Path) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .expect("sqlite")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn write_roster(path: &Path, rows: u64, hukou: &[&str], encoding: Encoding) {
    let spec = RosterSpec::new(rows, WUDU, hukou);
    let file = std::fs::File::create(path).expect("roster file");
    write_csv(roster(&spec), file, encoding).expect("roster written");
}

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or(serde_json::Value::Null)
}

fn import_file(province: &Province, file: &Path) -> serde_json::Value {
    let mut command = province.node(WUDU).cli();
    command
        .args(["--json", "records", "import", "--batch", "2000"])
        .arg(file);
    json_of(&mpx_tests::run_ok(command))
}

fn node_pid(province: &Province, county: &str) -> u32 {
    province
        .node(county)
        .process
        .as_ref()
        .map(|p| p.pid())
        .unwrap_or(0)
}

/// The raw limit for storing rows: the same rows (15 columns) in 500-row multi-row INSERTs,
/// one transaction per 2000 rows, into a bare SQLite file in WAL mode — what sqlx and SQLite
/// alone do with no validation, no audit, no gRPC.
async fn raw_sqlite_insert(dir: &Path, rows: u64) -> f64 {
    let path = dir.join("raw.db");
    let _ = std::fs::remove_file(&path);
    let database = sqlite(&path).await;
    sqlx::query(
        "CREATE TABLE people (resident_id TEXT PRIMARY KEY, name TEXT, sex TEXT, birth_date TEXT,
         hukou_county TEXT, residence_county TEXT, residence_address TEXT, arrival_date TEXT,
         departure_date TEXT, phone TEXT, notes TEXT, status TEXT, flagged BIGINT,
         created BIGINT, updated BIGINT)",
    )
    .execute(&database)
    .await
    .expect("raw table");
    let spec = RosterSpec::new(rows, WUDU, &[WUDU]);
    let people: Vec<_> = roster(&spec).map(|r| r.person).collect();
    let started = Instant::now();
    for chunk in people.chunks(2000) {
        let mut tx = database.begin().await.expect("tx");
        for part in chunk.chunks(500) {
            let mut builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO people ");
            builder.push_values(part, |mut b, p| {
                b.push_bind(p.resident_id.clone())
                    .push_bind(p.name.clone())
                    .push_bind("male")
                    .push_bind(p.birth_date.clone())
                    .push_bind(p.hukou_county.clone())
                    .push_bind(p.residence_county.clone())
                    .push_bind(p.residence_address.clone())
                    .push_bind(p.arrival_date.clone())
                    .push_bind("")
                    .push_bind(p.phone.clone())
                    .push_bind("")
                    .push_bind("residing")
                    .push_bind(0i64)
                    .push_bind(0i64)
                    .push_bind(0i64);
            });
            builder.build().execute(&mut *tx).await.expect("raw insert");
        }
        tx.commit().await.expect("commit");
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

async fn bench_import(bench: &mut Bench, dir: &Path) {
    let rows = if bench.quick { 5_000 } else { 1_000_000 };
    let file = dir.join("import.csv");
    write_roster(&file, rows, &[WUDU], Encoding::Gb18030);
    let (mut rates, mut node_peaks, mut cli_peaks, mut raw) = (vec![], vec![], vec![], vec![]);
    for _ in 0..bench.runs {
        let province = Province::start(&[WUDU]).await;
        let summary = import_file(&province, &file);
        let seconds = summary["seconds"].as_f64().unwrap_or(f64::NAN);
        rates.push(rows as f64 / seconds);
        if let Some((_, peak)) = memory_of(node_pid(&province, WUDU)) {
            node_peaks.push(mib(peak));
        }
        if let Some(peak) = summary["peak_rss_bytes"].as_u64() {
            cli_peaks.push(mib(peak));
        }
        drop(province);
        raw.push(raw_sqlite_insert(dir, rows).await);
    }
    let note =
        format!("{rows} generated rows (GB18030 CSV, local hukou: no notices), batches of 2000");
    bench.record(
        "import",
        "rows per second",
        "rows/s",
        &rates,
        ">= 100 k rows/s",
        Some(&raw),
        &note,
    );
    bench.record(
        "import",
        "node peak RSS",
        "MiB",
        &node_peaks,
        "<= 150 MB",
        None,
        &note,
    );
    bench.record(
        "import",
        "import command peak RSS",
        "MiB",
        &cli_peaks,
        "<= 150 MB",
        None,
        &note,
    );

    // The same rows as a clerk's .xlsx (title row, shared strings, date cells: as Excel saves
    // one), streamed by the import command.
    let workbook = dir.join("import.xlsx");
    mpx_proto::synth::write_xlsx(roster(&RosterSpec::new(rows, WUDU, &[WUDU])), &workbook)
        .expect("workbook written");
    let size = std::fs::metadata(&workbook).map_or(0, |m| m.len());
    let (mut rates, mut cli_peaks) = (vec![], vec![]);
    for _ in 0..bench.runs {
        let province = Province::start(&[WUDU]).await;
        let summary = import_file(&province, &workbook);
        assert_eq!(
            summary["stored"].as_u64(),
            Some(rows),
            "every workbook row stored: {summary}"
        );
        let seconds = summary["seconds"].as_f64().unwrap_or(f64::NAN);
        rates.push(rows as f64 / seconds);
        if let Some(peak) = summary["peak_rss_bytes"].as_u64() {
            cli_peaks.push(mib(peak));
        }
    }
    let note = format!(
        "{rows} generated rows as one .xlsx sheet ({:.1} MB, shared strings, date cells), batches of 2000; raw = the same bare INSERTs as for CSV",
        size as f64 / 1e6
    );
    bench.record(
        "import",
        "rows per second, .xlsx",
        "rows/s",
        &rates,
        "as CSV",
        Some(&raw),
        &note,
    );
    bench.record(
        "import",
        "import command peak RSS, .xlsx",
        "MiB",
        &cli_peaks,
        "<= 300 MB",
        None,
        &note,
    );
}

async fn bench_reconcile(bench: &mut Bench, dir: &Path) {
    let rows = if bench.quick { 5_000 } else { 1_000_000 };
    let ours = dir.join("ours.csv");
    write_roster(&ours, rows, &[WUDU], Encoding::Utf8);
    let spec = RosterSpec::new(rows, WUDU, &[WUDU]);
    let (extract, _) = department_extract(&spec, 50);
    let theirs = dir.join("theirs.csv");
    write_csv(
        extract.into_iter(),
        std::fs::File::create(&theirs).expect("extract"),
        Encoding::Utf8,
    )
    .expect("extract written");
    let province = Province::start(&[WUDU]).await;
    import_file(&province, &ours);
    let (mut seconds, mut peaks, mut raw) = (vec![], vec![], vec![]);
    for _ in 0..bench.runs {
        let mut command = province.node(WUDU).cli();
        command
            .args([
                "--json",
                "reconcile",
                "--source",
                "bench",
                "--purpose",
                "benchmark",
                "--against",
            ])
            .arg(&theirs)
            .arg("--out")
            .arg(dir.join("differences.csv"));
        let report = json_of(&mpx_tests::run_ok(command));
        seconds.push(report["seconds"].as_f64().unwrap_or(f64::NAN));
        if let Some(peak) = report["peak_rss_bytes"].as_u64() {
            peaks.push(mib(peak));
        }
        // Raw limit: reading and parsing the extract alone.
        let started = Instant::now();
        let reader = mpx_proto::tabular::RowReader::open(
            &theirs,
            mpx_proto::tabular::Format::Csv,
            Some(Encoding::Utf8),
            Default::default(),
        )
        .expect("extract");
        let parsed = reader.count();
        assert!(parsed > 0);
        raw.push(started.elapsed().as_secs_f64());
    }
    let note =
        format!("{rows} × {rows} rows, a difference every 50; ours streamed through ExportPeople");
    bench.record(
        "reconcile",
        "seconds",
        "s",
        &seconds,
        "<= 15 s",
        Some(&raw),
        &note,
    );
    bench.record(
        "reconcile",
        "reconcile command peak RSS",
        "MiB",
        &peaks,
        "<= 300 MB",
        None,
        &note,
    );
}

/// Notices from one node to another: rows imported at 621202 whose hukou is 621221 become
/// residence notices, delivered over mTLS with signed receipts. Measured from the start of the
/// import to the last receipt stored at 621202 (outbox empty).
async fn bench_exchange(bench: &mut Bench, dir: &Path) {
    bench_exchange_on(bench, dir, mpx_tests::Backend::Sqlite).await;
}

async fn bench_exchange_on(bench: &mut Bench, dir: &Path, backend: mpx_tests::Backend) {
    let rows = std::env::var("MPX_BENCH_NOTICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench.quick { 2_000 } else { 100_000 });
    let file = dir.join("notices.csv");
    write_roster(&file, rows, &[LINXIA], Encoding::Utf8);
    let (mut rates, mut raw) = (vec![], vec![]);
    for _ in 0..bench.runs {
        let Some(mut province) = Province::start_on(backend, &[WUDU, LINXIA]).await else {
            eprintln!("exchange: no PostgreSQL here; skipped");
            return;
        };
        undelivered_after_an_hour(&mut province, &[WUDU, LINXIA]).await;
        let started = Instant::now();
        import_file(&province, &file);
        // Watched in the sender's database (an index range), every 100 ms: scraping the
        // metrics endpoint this often would itself load the node (it counts every case).
        let outbox = outbox_of(&province, WUDU).await;
        loop {
            let pending = outbox_pending(&outbox).await;
            if pending == 0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(3600),
                "outbox still holds {pending} after an hour"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rates.push(rows as f64 / started.elapsed().as_secs_f64());
        // The raw limit, with the envelopes this run sent.
        let envelopes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT envelope FROM outbox")
            .fetch_all(&outbox)
            .await
            .expect("envelopes");
        let (inbox_url, outbox_url) = match backend {
            mpx_tests::Backend::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.join(format!("raw-inbox-{}.db", raw.len())).display()
                ),
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.join(format!("raw-outbox-{}.db", raw.len())).display()
                ),
            ),
            _ => (
                mpx_tests::postgres::database(&format!("raw_inbox_{}", raw.len()))
                    .await
                    .expect("PostgreSQL"),
                mpx_tests::postgres::database(&format!("raw_outbox_{}", raw.len()))
                    .await
                    .expect("PostgreSQL"),
            ),
        };
        raw.push(
            raw_exchange::run(
                &inbox_url,
                &outbox_url,
                &envelopes,
                &province.node(WUDU).tls(),
                &province.node(LINXIA).tls(),
                LINXIA,
            )
            .await,
        );
    }
    let (scenario, figure, target) = match backend {
        mpx_tests::Backend::Sqlite => (
            "exchange",
            "notices per second, SQLite both sides (import → last receipt stored)",
            ">= 50 k msg/s",
        ),
        _ => (
            "exchange-pg",
            "notices per second, PostgreSQL for both nodes and the registry",
            "reported",
        ),
    };
    bench.record(
        scenario,
        figure,
        "msg/s",
        &rates,
        target,
        Some(&raw),
        &format!(
            "{rows} notices; includes the import that creates them; raw = the same envelopes over one bare mTLS stream into bare multi-row INSERTs, unsigned receipts, one UPDATE per batch at the sender"
        ),
    );
}

/// Restarts `counties` with the production UNDELIVERED threshold (an hour): the test harness
/// raises it after 2 s, and a backlog of a benchmark's size would then raise one alert per
/// waiting notice.
async fn undelivered_after_an_hour(province: &mut Province, counties: &[&str]) {
    for county in counties {
        province.stop_node(county);
        let path = province.node(county).data_dir.join("node.toml");
        let config = std::fs::read_to_string(&path).expect("node.toml");
        std::fs::write(
            &path,
            config.replace(
                "undelivered_after_seconds = 2",
                "undelivered_after_seconds = 3600",
            ),
        )
        .expect("node.toml");
        province.start_node(county).await;
    }
}

/// Recovery after a restore: 621221 is backed up empty, then receives the notices of a day of
/// traffic at the exchange scenario's volume (100 000, far above a county's real day), is
/// stopped, restored from the backup with `exchange-node restore`, and started: the figure is
/// the time from that start until `exchange-node status` says every peer has answered, and the
/// rate of messages replayed. Each run checks that every notice is back.
async fn bench_restore(bench: &mut Bench, dir: &Path) {
    let rows: u64 = std::env::var("MPX_BENCH_NOTICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench.quick { 2_000 } else { 100_000 });
    let file = dir.join("restore-notices.csv");
    write_roster(&file, rows, &[LINXIA], Encoding::Utf8);
    let (mut seconds, mut rates, mut delivery) = (vec![], vec![], vec![]);
    for run in 0..bench.runs {
        let mut province = Province::start(&[WUDU, LINXIA]).await;
        undelivered_after_an_hour(&mut province, &[WUDU, LINXIA]).await;
        let backup = dir.join(format!("restore-backup-{run}.db"));
        let mut back_up = std::process::Command::new("sqlite3");
        back_up
            .arg(province.node(LINXIA).data_dir.join("node.db"))
            .arg(format!(".backup '{}'", backup.display()));
        mpx_tests::run_ok(back_up);
        let started = Instant::now();
        import_file(&province, &file);
        let outbox = outbox_of(&province, WUDU).await;
        while outbox_pending(&outbox).await != 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        delivery.push(rows as f64 / started.elapsed().as_secs_f64());
        province.stop_node(LINXIA);
        let mut restore = province.node(LINXIA).cli();
        restore.arg("restore").arg(&backup);
        mpx_tests::run_ok(restore);
        let started = Instant::now();
        province.start_node(LINXIA).await;
        let status = loop {
            let mut command = province.node(LINXIA).cli();
            command.args(["--json", "status"]);
            let status = json_of(&mpx_tests::run_ok(command));
            if status["restore"]["finished_at_unix_ms"]
                .as_i64()
                .is_some_and(|at| at > 0)
            {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(3600),
                "not recovered after an hour: {status}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let took = started.elapsed().as_secs_f64();
        let replayed = status["recovery"]["replayed"].as_i64().unwrap_or(0);
        assert_eq!(replayed as u64, rows, "every notice came back: {status}");
        seconds.push(took);
        rates.push(replayed as f64 / took);
    }
    let note = format!(
        "{rows} notices received after the backup (the exchange scenario's volume; a county's real day is a few thousand); from the restored node's start until every peer has answered, SQLite both sides"
    );
    bench.record(
        "restore",
        "recovery time",
        "s",
        &seconds,
        "reported",
        None,
        &note,
    );
    bench.record(
        "restore",
        "messages replayed per second",
        "msg/s",
        &rates,
        "reported",
        Some(&delivery),
        &format!(
            "{note}; raw = the same notices' first delivery in the same run (import → last receipt)"
        ),
    );
}

/// Overload: one receiving node (621221) offered 1× what it can take (one sender with a backlog:
/// the receiver is the bound of the exchange) and 2× (two senders with a backlog each, at once).
/// Figures: notices stored per second and the receiver's peak RSS at each load, and how many
/// batches it pushed back; every run checks that each notice arrived exactly once.
async fn bench_overload(bench: &mut Bench, dir: &Path) {
    const CHENGGUAN: &str = "620102";
    let rows: u64 = std::env::var("MPX_BENCH_NOTICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench.quick { 500 } else { 20_000 });
    let senders = [WUDU, CHENGGUAN];
    for load in [1usize, 2] {
        let (mut rates, mut peaks, mut pushbacks) = (vec![], vec![], vec![]);
        for run in 0..bench.runs {
            let mut counties = vec![LINXIA];
            counties.extend(&senders[..load]);
            let mut province = Province::start(&counties).await;
            undelivered_after_an_hour(&mut province, &counties).await;
            // Each sender's roster: its own residents (distinct IDs), all with hukou 621221.
            let files: Vec<_> = senders[..load]
                .iter()
                .enumerate()
                .map(|(index, sender)| {
                    let mut spec = RosterSpec::new(rows, sender, &[LINXIA]);
                    spec.seed = 1_000 + (run * 10 + index) as u64;
                    let path = dir.join(format!("overload-{sender}.csv"));
                    let file = std::fs::File::create(&path).expect("roster file");
                    write_csv(roster(&spec), file, Encoding::Utf8).expect("roster written");
                    (sender.to_string(), path)
                })
                .collect();
            let receiver = outbox_of(&province, LINXIA).await;
            let pid = node_pid(&province, LINXIA);
            let started = Instant::now();
            let imports: Vec<_> = files
                .iter()
                .map(|(sender, path)| {
                    let mut command = province.node(sender).cli();
                    command
                        .args(["--json", "records", "import", "--batch", "2000"])
                        .arg(path);
                    std::thread::spawn(move || mpx_tests::run_ok(command))
                })
                .collect();
            let expected = rows as i64 * load as i64;
            let mut peak = 0;
            loop {
                if let Some((_, high_water)) = memory_of(pid) {
                    peak = peak.max(high_water);
                }
                let stored = sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM cases WHERE direction = 'inbound'",
                )
                .fetch_one(&receiver)
                .await
                .unwrap_or(0);
                if stored >= expected {
                    assert_eq!(stored, expected, "each notice exactly once");
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(3600),
                    "{stored} of {expected} after an hour"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            rates.push(expected as f64 / started.elapsed().as_secs_f64());
            for import in imports {
                let _ = import.join();
            }
            let messages = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM inbox")
                .fetch_one(&receiver)
                .await
                .unwrap_or(-1);
            assert_eq!(messages, expected, "one inbox entry per notice");
            peaks.push(mib(peak));
            let metrics = province.node(LINXIA).scrape_metrics();
            pushbacks.push(
                metrics
                    .lines()
                    .find(|line| line.starts_with("mpx_intake_pushbacks_total"))
                    .and_then(|line| line.split_whitespace().last())
                    .and_then(|value| value.parse::<f64>().ok())
                    .unwrap_or(0.0),
            );
        }
        let label = if load == 1 { "1×" } else { "2×" };
        bench.record(
            "overload",
            &format!("{label} load: notices stored per second at the receiver"),
            "msg/s",
            &rates,
            "reported",
            None,
            &format!("{load} sender(s) × {rows} notices, all at once, to one SQLite node"),
        );
        bench.record(
            "overload",
            &format!("{label} load: receiver peak RSS"),
            "MiB",
            &peaks,
            "bounded",
            None,
            "VmHWM of the receiving node",
        );
        bench.record(
            "overload",
            &format!("{label} load: batches pushed back as busy"),
            "batches",
            &pushbacks,
            "reported",
            None,
            "UNAVAILABLE with grpc-retry-pushback-ms; the senders retried them",
        );
    }
}

/// The raw limit of the exchange: the bare path the notices take, without MPX's rules.
/// Receiver: a bare `mpx.v1.Exchange` server (mTLS with the receiving county's certificate)
/// that stores each batch's envelopes with multi-row INSERTs into a bare SQLite table in one
/// transaction and answers with unsigned receipts. Sender: the same envelopes (taken from the
/// real run's outbox, so the same sizes) in batches of 500 over one stream, stop-and-wait like
/// the node, each batch marked delivered in a bare SQLite table with one UPDATE.
mod raw_exchange {
    use std::time::{Duration, Instant};

    use mpx_proto::v1::exchange_client::ExchangeClient;
    use mpx_proto::v1::exchange_server::{Exchange, ExchangeServer};
    use mpx_proto::v1::{DeliverRequest, DeliverResponse, Receipt, ReceiptStatus};
    use prost::Message;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;
    use tonic::{Request, Response, Status, Streaming};

    struct BareReceiver {
        database: sqlx::AnyPool,
        sqlite: bool,
    }

    #[tonic::async_trait]
    impl Exchange for BareReceiver {
        type DeliverStream = ReceiverStream<Result<DeliverResponse, Status>>;

        /// The raw-limit receiver keeps no outbox to replay from.
        async fn recover(
            &self,
            _request: Request<mpx_proto::v1::RecoverRequest>,
        ) -> Result<Response<mpx_proto::v1::RecoverResponse>, Status> {
            Err(Status::unimplemented(
                "the bench's bare receiver keeps no history",
            ))
        }

        async fn deliver(
            &self,
            request: Request<Streaming<DeliverRequest>>,
        ) -> Result<Response<Self::DeliverStream>, Status> {
            let mut inbound = request.into_inner();
            let database = self.database.clone();
            let sqlite = self.sqlite;
            let (sender, receiver) = mpsc::channel(4);
            tokio::spawn(async move {
                while let Ok(Some(batch)) = inbound.message().await {
                    let mut tx = database.begin().await.expect("tx");
                    for part in batch.envelopes.chunks(100) {
                        let sql = format!(
                            "INSERT INTO inbox VALUES {}",
                            mpx_proto::database::value_rows(part.len(), 2, sqlite)
                        );
                        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for envelope in part {
                            query = query
                                .bind(envelope.message_id.clone())
                                .bind(envelope.encode_to_vec());
                        }
                        query.execute(&mut *tx).await.expect("insert");
                    }
                    tx.commit().await.expect("commit");
                    let receipts = batch
                        .envelopes
                        .iter()
                        .map(|envelope| Receipt {
                            message_id: envelope.message_id.clone(),
                            status: ReceiptStatus::Stored as i32,
                            ..Default::default()
                        })
                        .collect();
                    if sender.send(Ok(DeliverResponse { receipts })).await.is_err() {
                        return;
                    }
                }
            });
            Ok(Response::new(ReceiverStream::new(receiver)))
        }
    }

    /// Messages per second over the bare path, for `envelopes` (encoded) from `sender_tls` to
    /// a bare receiver holding `receiver_tls`, the county `receiver`; both sides' tables in
    /// fresh databases at `inbox_url` and `outbox_url`.
    pub async fn run(
        inbox_url: &str,
        outbox_url: &str,
        envelopes: &[Vec<u8>],
        sender_tls: &mpx_proto::runtime::TlsMaterial,
        receiver_tls: &mpx_proto::runtime::TlsMaterial,
        receiver: &str,
    ) -> f64 {
        let (rate, _) = run_batches(
            inbox_url,
            outbox_url,
            envelopes,
            (sender_tls, receiver_tls),
            receiver,
            500,
        )
        .await;
        rate
    }

    /// The same path in batches of `batch`: messages per second, and each batch's time from
    /// reading it from the outbox to its settling (ms).
    pub async fn run_batches(
        inbox_url: &str,
        outbox_url: &str,
        envelopes: &[Vec<u8>],
        (sender_tls, receiver_tls): (
            &mpx_proto::runtime::TlsMaterial,
            &mpx_proto::runtime::TlsMaterial,
        ),
        receiver: &str,
        batch: usize,
    ) -> (f64, Vec<f64>) {
        sqlx::any::install_default_drivers();
        let sqlite = inbox_url.starts_with("sqlite:");
        let connect = |url: &str| {
            let url = url.to_string();
            async move {
                let database = sqlx::any::AnyPoolOptions::new()
                    .max_connections(2)
                    .connect(&url)
                    .await
                    .expect("raw database");
                if url.starts_with("sqlite:") {
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&database)
                        .await
                        .expect("WAL");
                }
                database
            }
        };
        let (inbox, outbox) = (connect(inbox_url).await, connect(outbox_url).await);
        let blob = if sqlite { "BLOB" } else { "BYTEA" };
        for (database, sql) in [
            (
                &inbox,
                format!(
                    "CREATE TABLE inbox (message_id TEXT PRIMARY KEY, envelope {blob} NOT NULL)"
                ),
            ),
            (
                &outbox,
                format!(
                    "CREATE TABLE outbox (message_id TEXT PRIMARY KEY, envelope {blob} NOT NULL, state TEXT NOT NULL)"
                ),
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(database)
                .await
                .expect("raw table");
        }
        let decoded: Vec<mpx_proto::v1::Envelope> = envelopes
            .iter()
            .filter_map(|bytes| mpx_proto::v1::Envelope::decode(bytes.as_slice()).ok())
            .collect();
        for chunk in decoded.chunks(300) {
            let sql = format!(
                "INSERT INTO outbox VALUES {}",
                mpx_proto::database::value_rows(chunk.len(), 3, sqlite)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for envelope in chunk {
                query = query
                    .bind(envelope.message_id.clone())
                    .bind(envelope.encode_to_vec())
                    .bind("pending");
            }
            query.execute(&outbox).await.expect("outbox rows");
        }
        let incoming =
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().expect("address"))
                .expect("bind");
        let address = incoming.local_addr().expect("address");
        let server = tonic::transport::Server::builder()
            .tls_config(receiver_tls.server_config(true))
            .expect("server TLS")
            .add_service(
                ExchangeServer::new(BareReceiver {
                    database: inbox,
                    sqlite,
                })
                .max_decoding_message_size(64 << 20),
            )
            .serve_with_incoming(incoming);
        let server = tokio::spawn(server);
        let county = mpx_proto::division::CountyCode::parse(receiver).expect("county");
        let channel = tonic::transport::Endpoint::from_shared(format!("https://{address}"))
            .expect("endpoint")
            .tls_config(sender_tls.client_config(&mpx_proto::identity::county_dns_name(&county)))
            .expect("client TLS")
            .connect()
            .await
            .expect("connect");
        let mut client = ExchangeClient::new(channel).max_encoding_message_size(64 << 20);
        let (requests, stream) = mpsc::channel(1);
        let started = Instant::now();
        let mut responses = client
            .deliver(ReceiverStream::new(stream))
            .await
            .expect("deliver")
            .into_inner();
        let mut latencies = Vec::new();
        for chunk in decoded.chunks(batch.max(1)) {
            let batch_started = Instant::now();
            // Read back from the outbox as the node does, send, wait for the receipts, settle.
            let list = mpx_proto::database::value_rows(1, chunk.len(), sqlite);
            let sql = format!("SELECT envelope FROM outbox WHERE message_id IN {list}");
            let mut select = sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql));
            for envelope in chunk {
                select = select.bind(envelope.message_id.clone());
            }
            let rows = select.fetch_all(&outbox).await.expect("outbox read");
            let batch = DeliverRequest {
                envelopes: rows
                    .iter()
                    .filter_map(|bytes| mpx_proto::v1::Envelope::decode(bytes.as_slice()).ok())
                    .collect(),
            };
            requests.send(batch).await.expect("send");
            let reply = tokio::time::timeout(Duration::from_secs(60), responses.message())
                .await
                .expect("receipts in time")
                .expect("stream")
                .expect("a reply");
            assert_eq!(reply.receipts.len(), chunk.len());
            let list = mpx_proto::database::value_rows(1, reply.receipts.len(), sqlite);
            let sql = format!("UPDATE outbox SET state = 'delivered' WHERE message_id IN {list}");
            let mut settle = sqlx::query(sqlx::AssertSqlSafe(sql));
            for receipt in &reply.receipts {
                settle = settle.bind(receipt.message_id.clone());
            }
            settle.execute(&outbox).await.expect("settle");
            latencies.push(batch_started.elapsed().as_secs_f64() * 1000.0);
        }
        let rate = decoded.len() as f64 / started.elapsed().as_secs_f64();
        drop(requests);
        server.abort();
        (rate, latencies)
    }
}

/// The sender's database (SQLite file or PostgreSQL).
async fn outbox_of(province: &Province, county: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = province.node(county).database_url().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            province.node(county).data_dir.join("node.db").display()
        )
    });
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("sender database")
}

async fn outbox_pending(database: &sqlx::AnyPool) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(database)
        .await
        .unwrap_or(-1)
}

/// The compliance report for one month, on the registry's SQLite database holding 1 M cases:
/// spread over the twelve months of 2026 (a year of a province's traffic), and, the worst case,
/// all due in the month reported. Each case is due at the end of a day, between 60 counties;
/// 80 % answered (after 0–29 days), 20 % never.
async fn bench_report(bench: &mut Bench, _dir: &Path) {
    let cases: u64 = if bench.quick { 10_000 } else { 1_000_000 };
    for (months, figure, target) in [
        (
            12u64,
            "one month of a year's 1 M cases",
            "<= 1 s over 1 M cases",
        ),
        (1, "one month holding all 1 M cases", "—"),
    ] {
        let mut province = Province::start(&[WUDU, LINXIA]).await;
        let database = sqlite(&province.registry_dir.join("registry.db")).await;
        let started_insert = Instant::now();
        insert_compliance_cases(&database, cases, months).await;
        eprintln!(
            "report: {cases} cases over {months} month(s) inserted in {:.1} s",
            started_insert.elapsed().as_secs_f64()
        );
        let as_of =
            mpx_proto::calendar::end_of_day_unix_ms(jiff::civil::Date::constant(2027, 1, 10));
        let mut client = province.registry_compliance().await;
        let (mut seconds, mut raw) = (vec![], vec![]);
        // The compliance page for the same month and instant, as a supervisor opens it: p50 and
        // p95 of each run, beside that run's bare report call (one year's data only).
        let page_samples = if bench.quick { 5 } else { 20 };
        let (mut page_p50, mut page_p95) = (vec![], vec![]);
        let console = (months == 12).then(|| {
            province.add_registry_console_operator("基准督导", "supervisor", "基准测试口令-2026");
            let console = province
                .registry_console
                .expect("the registry serves its console");
            let session =
                mpx_tests::http::sign_in(console, "registry", "基准督导", "基准测试口令-2026")
                    .expect("sign in to the province console");
            (console, session)
        });
        for _ in 0..bench.runs {
            let started = Instant::now();
            let report = client
                .report(mpx_proto::v1::ComplianceReportRequest {
                    period: "2026-11".into(),
                    as_of_unix_ms: as_of,
                    county: String::new(),
                    overdue_limit: 0,
                })
                .await
                .expect("report")
                .into_inner();
            seconds.push(started.elapsed().as_secs_f64());
            assert!(report.counties.iter().any(|c| c.requests_due > 0));
            // Raw limit: the least SQL that reads every case of the month, counting per county.
            let started = Instant::now();
            let rows = sqlx::query(
                "SELECT recipient_county, COUNT(*),
                     SUM(CASE WHEN responded_at_unix_ms > 0 THEN 1 ELSE 0 END)
                 FROM compliance_cases WHERE due_date >= '2026-11-01' AND due_date < '2026-12-01'
                 GROUP BY recipient_county",
            )
            .fetch_all(&database)
            .await
            .expect("raw select");
            assert!(!rows.is_empty());
            raw.push(started.elapsed().as_secs_f64());
            if let Some((console, session)) = &console {
                let target = "/compliance?period=2026-11&as_of=2027-01-10";
                let times: Vec<f64> = (0..page_samples + 1)
                    .map(|_| {
                        let started = Instant::now();
                        let reply = mpx_tests::http::request(*console, "GET", target, session, "")
                            .expect("console reply");
                        assert_eq!(reply.status, 200, "{target}: {}", reply.body);
                        assert!(reply.body.contains("id=\"ranking\""), "the ranked table");
                        started.elapsed().as_secs_f64() * 1000.0
                    })
                    .skip(1) // the first request warms caches
                    .collect();
                page_p50.push(percentile(&times, 50.0));
                page_p95.push(percentile(&times, 95.0));
            }
        }
        province.kill_registry();
        if console.is_some() {
            let report_ms: Vec<f64> = seconds.iter().map(|s| s * 1000.0).collect();
            let note = format!(
                "{cases} cases over {months} month(s), 60 counties (SQLite registry); {page_samples} requests a run after one warm-up, over HTTP/1.1 on loopback, signed in as a supervisor; raw = the bare Report call for the same month and instant"
            );
            bench.record(
                "report",
                "compliance page for a month, p50",
                "ms",
                &page_p50,
                "reported",
                Some(&report_ms),
                &note,
            );
            bench.record(
                "report",
                "compliance page for a month, p95",
                "ms",
                &page_p95,
                "<= 500 ms over 1 M cases",
                Some(&report_ms),
                &note,
            );
        }
        bench.record(
            "report",
            figure,
            "s",
            &seconds,
            target,
            Some(&raw),
            &format!(
                "{cases} cases over {months} month(s), 60 counties, 20 % never answered (SQLite registry); raw = a bare GROUP BY county over the month's cases"
            ),
        );
    }
}

/// Generated provincial cases, due at the ends of days spread over 2026 (`months` = 12) or
/// over November 2026.
async fn insert_compliance_cases(database: &sqlx::SqlitePool, cases: u64, months: u64) {
    let day = 86_400_000i64;
    let (last, span_days) = if months == 1 {
        (jiff::civil::Date::constant(2026, 11, 30), 30)
    } else {
        (jiff::civil::Date::constant(2026, 12, 31), 365)
    };
    let last = mpx_proto::calendar::end_of_day_unix_ms(last);
    let counties: Vec<String> = (0..60).map(|i| format!("62{:04}", 1201 + i)).collect();
    let ids: Vec<u64> = (0..cases).collect();
    for chunk in ids.chunks(5000) {
        let mut tx = database.begin().await.expect("tx");
        for part in chunk.chunks(500) {
            let mut builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO compliance_cases (case_id, kind, priority, requester_county, recipient_county,
                 parent_case_id, opened_at_unix_ms, delivered_at_unix_ms, due_at_unix_ms, due_date,
                 acceptance_due_at_unix_ms, accepted_at_unix_ms, responded_at_unix_ms, response_outcome,
                 response_working_days, withdrawn_at_unix_ms, closed_at_unix_ms, extended_due_at_unix_ms,
                 reminders, receipt_by_requester, receipt_by_recipient, response_by_requester,
                 response_by_recipient, requester_reported_at_unix_ms, recipient_reported_at_unix_ms,
                 dispute, updated_at_unix_ms) ",
            );
            builder.push_values(part, |mut b, i| {
                let i = *i as i64;
                // Cases arrive in due order, as they would.
                let due = last - (span_days - 1 - i * span_days / cases as i64) * day;
                let delivered = due - 28 * day + (i * 7_919) % day;
                let responded = if i % 5 == 0 {
                    0
                } else {
                    delivered + (i % 30) * day
                };
                let requester = &counties[(i % 60) as usize];
                let recipient = &counties[((i / 60 + i + 1) % 60) as usize];
                b.push_bind(format!("00000000-0000-7000-8000-{i:012}"))
                    .push_bind("verification")
                    .push_bind("normal")
                    .push_bind(requester.clone())
                    .push_bind(recipient.clone())
                    .push_bind("")
                    .push_bind(delivered)
                    .push_bind(delivered)
                    .push_bind(due)
                    .push_bind(registry::compliance::due_date_of(due))
                    .push_bind(delivered + 2 * day)
                    .push_bind(responded)
                    .push_bind(responded)
                    .push_bind(if responded > 0 { "answered" } else { "" })
                    .push_bind(if responded > 0 { i % 30 } else { -1 })
                    .push_bind(0i64)
                    .push_bind(0i64)
                    .push_bind(0i64)
                    .push_bind(0i64)
                    .push_bind(1i64)
                    .push_bind(1i64)
                    .push_bind(i64::from(responded > 0))
                    .push_bind(i64::from(responded > 0))
                    .push_bind(delivered)
                    .push_bind(delivered)
                    .push_bind("")
                    .push_bind(delivered);
            });
            builder
                .build()
                .execute(&mut *tx)
                .await
                .expect("insert cases");
        }
        tx.commit().await.expect("commit");
    }
}

/// The county console with 100 000 cases at the node: the inbox's first page and the start page,
/// fetched over HTTP by a signed-in clerk (p50 and p95 over the samples of each run); raw =
/// the store query of the inbox's first page (50 rows) on the node's own database, without
/// the service, the rendering or HTTP.
async fn bench_console(bench: &mut Bench, dir: &Path) {
    let rows = if bench.quick { 300 } else { 100_000 };
    let samples = if bench.quick { 5 } else { 40 };
    let file = dir.join("console-cases.csv");
    write_roster(&file, rows, &[LINXIA], Encoding::Utf8);
    let password = "基准测试口令-2026";
    let (mut inbox_p50, mut inbox_p95, mut start_p50, mut start_p95, mut raw) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..bench.runs {
        let province = Province::start(&[WUDU, LINXIA]).await;
        // Notices from 621202 become open cases at 621221.
        import_file(&province, &file);
        let outbox = outbox_of(&province, WUDU).await;
        let started = Instant::now();
        while outbox_pending(&outbox).await != 0 {
            assert!(
                started.elapsed() < Duration::from_secs(3600),
                "notices still queued after an hour"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let node = province.node(LINXIA);
        node.add_console_operator("基准", "clerk", password);
        let console = node.console.expect("the console listens");
        let session = mpx_tests::http::sign_in(console, LINXIA, "基准", password).expect("sign in");
        let timed = |target: &str| -> Vec<f64> {
            (0..samples + 1)
                .map(|_| {
                    let started = Instant::now();
                    let reply = mpx_tests::http::request(console, "GET", target, &session, "")
                        .expect("console reply");
                    assert_eq!(reply.status, 200, "{target}: {}", reply.body);
                    started.elapsed().as_secs_f64() * 1000.0
                })
                .skip(1) // the first request warms caches
                .collect()
        };
        let inbox = timed("/inbox");
        let start = timed("/");
        inbox_p50.push(percentile(&inbox, 50.0));
        inbox_p95.push(percentile(&inbox, 95.0));
        start_p50.push(percentile(&start, 50.0));
        start_p95.push(percentile(&start, 95.0));
        let url = format!("sqlite://{}", node.data_dir.join("node.db").display());
        let store = exchange_node::store::Store::connect(&url)
            .await
            .expect("node store");
        let mut times = Vec::new();
        for _ in 0..samples {
            let started = Instant::now();
            let page = store
                .list_cases(
                    &exchange_node::store::CaseQuery {
                        direction: mpx_proto::v1::CaseDirection::Inbound,
                        ..Default::default()
                    },
                    0,
                    50,
                )
                .await
                .expect("the inbox query");
            assert_eq!(page.len(), 50.min(rows as usize));
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        raw.push(percentile(&times, 95.0));
    }
    let note = format!(
        "{rows} open cases (residence notices) at 621221; {samples} requests each after one warm-up, over HTTP/1.1 on loopback, signed in as a clerk"
    );
    bench.record(
        "console",
        "inbox first page, p50",
        "ms",
        &inbox_p50,
        "reported",
        Some(&raw),
        &note,
    );
    bench.record(
        "console",
        "inbox first page, p95",
        "ms",
        &inbox_p95,
        "<= 50 ms",
        Some(&raw),
        &note,
    );
    bench.record(
        "console",
        "start page, p50",
        "ms",
        &start_p50,
        "reported",
        Some(&raw),
        &note,
    );
    bench.record(
        "console",
        "start page, p95",
        "ms",
        &start_p95,
        "<= 50 ms",
        Some(&raw),
        &note,
    );
}

/// Percentile `p` (0–100) of `values`, nearest rank.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One residence notice on an idle province: a clerk's `CreatePerson` at 621202 of a person
/// whose hukou is 621221 → the notice over mTLS → 621221's signed receipt stored at 621202
/// (its outbox row settled with the receipt, read from 621202's database).
async fn bench_latency(bench: &mut Bench, dir: &Path) {
    let samples = if bench.quick { 20 } else { 300 };
    let province = Province::start(&[WUDU, LINXIA]).await;
    let database = sqlite(&province.node(WUDU).data_dir.join("node.db")).await;
    let settled = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM outbox WHERE state = 'delivered' AND receipt IS NOT NULL",
        )
        .fetch_one(&database)
        .await
        .unwrap_or(-1)
    };
    let mut records = province.node(WUDU).records().await;
    let (mut p50s, mut p99s) = (vec![], vec![]);
    let mut seq = 0;
    for _ in 0..bench.runs {
        let mut latencies = vec![];
        // The first few warm the connection between the nodes.
        for i in 0..samples + 5 {
            seq += 1;
            let before = settled().await;
            let started = Instant::now();
            records
                .create_person(mpx_proto::v1::CreatePersonRequest {
                    person: Some(mpx_proto::v1::Person {
                        resident_id: mpx_tests::resident_id(LINXIA, seq),
                        name: "测试人员".into(),
                        hukou_county: LINXIA.into(),
                        residence_address: "城关镇人民路12号".into(),
                        arrival_date: "2026-11-01".into(),
                        ..Default::default()
                    }),
                })
                .await
                .expect("create person");
            while settled().await <= before {
                if started.elapsed() > Duration::from_secs(30) {
                    panic!("no receipt within 30 s");
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            if i >= 5 {
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            // Idle: let the province's own reporting run between notices.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        p50s.push(percentile(&latencies, 50.0));
        p99s.push(percentile(&latencies, 99.0));
    }
    // Raw limit: the same envelopes one at a time over the bare path (one mTLS stream, one
    // committed INSERT at the receiver, one committed UPDATE at the sender per message).
    let envelopes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT envelope FROM outbox ORDER BY seq")
        .fetch_all(&database)
        .await
        .expect("envelopes");
    let (mut raw50, mut raw99) = (vec![], vec![]);
    for run in 0..bench.runs {
        let url = |side: &str| {
            format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("raw-latency-{side}-{run}.db")).display()
            )
        };
        let (_, latencies) = raw_exchange::run_batches(
            &url("inbox"),
            &url("outbox"),
            &envelopes,
            (&province.node(WUDU).tls(), &province.node(LINXIA).tls()),
            LINXIA,
            1,
        )
        .await;
        raw50.push(percentile(&latencies, 50.0));
        raw99.push(percentile(&latencies, 99.0));
    }
    let note = format!(
        "{samples} notices one at a time, SQLite both sides; receipt seen in 621202's database (polled every 0.2 ms); raw = the same envelopes one at a time over the bare path (a committed INSERT and a committed UPDATE each)"
    );
    bench.record(
        "latency",
        "one notice, p50",
        "ms",
        &p50s,
        "<= 10 ms",
        Some(&raw50),
        &note,
    );
    bench.record(
        "latency",
        "one notice, p99",
        "ms",
        &p99s,
        "<= 25 ms",
        Some(&raw99),
        &note,
    );
}

/// `Queries.Locate` on a registry on PostgreSQL whose index holds 10 M rows: filler rows
/// written by `generate_series`, and the people looked up reported by a county the usual way.
async fn bench_locate(bench: &mut Bench, dir: &Path) {
    let filler: i64 = if bench.quick { 100_000 } else { 10_000_000 };
    let lookups = if bench.quick { 200 } else { 2_000 };
    let Some(mut province) =
        Province::start_on(mpx_tests::Backend::RegistryOnPostgres, &[WUDU]).await
    else {
        eprintln!("locate: no PostgreSQL here; skipped");
        return;
    };
    let url = province
        .registry_database_url()
        .expect("registry on PostgreSQL");
    let database = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("registry database");
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO index_entries (resident_id, reporter_county, name, hukou_county, residence_county,
            status, since, change_seq, reported_at_unix_ms)
         SELECT lpad(i::text, 17, '0') || 'F', '62' || lpad((1201 + i % 80)::text, 4, '0'), '测试',
                '62' || lpad((1201 + i % 97)::text, 4, '0'), '62' || lpad((1201 + i % 80)::text, 4, '0'),
                'residing', '2026-01-01', i, 0
         FROM generate_series(1, $1::bigint) AS i",
    )
    .bind(filler)
    .execute(&database)
    .await
    .expect("filler rows");
    sqlx::query("ANALYZE index_entries")
        .execute(&database)
        .await
        .expect("analyze");
    eprintln!(
        "locate: {filler} index rows written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // People the county reports: 1000 roster rows imported at 621202 and shipped to the index.
    let people = 1_000u32;
    let file = dir.join("locate.csv");
    write_roster(&file, u64::from(people), &[WUDU], Encoding::Utf8);
    import_file(&province, &file);
    let ids: Vec<String> = roster(&RosterSpec::new(u64::from(people), WUDU, &[WUDU]))
        .map(|row| row.person.resident_id)
        .collect();
    wait_until(Duration::from_secs(300), "the index to hold the county's people", || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM index_entries WHERE reporter_county = $1 AND resident_id NOT LIKE '%F'")
            .bind(WUDU)
            .fetch_one(&database)
            .await
            .unwrap_or(0)
            >= i64::from(people)
    })
    .await;
    let mut queries = province.registry_queries().await;
    let (mut p50s, mut p99s, mut raw) = (vec![], vec![], vec![]);
    for run in 0..bench.runs {
        let mut latencies = vec![];
        for i in 0..lookups {
            let id = &ids[(i * 7 + run * 13) % ids.len()];
            let started = Instant::now();
            let answer = queries
                .locate(mpx_proto::v1::LocateRequest {
                    resident_id: id.clone(),
                    purpose: "基准测试 benchmark".into(),
                })
                .await
                .expect("locate")
                .into_inner();
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(!answer.reports.is_empty());
        }
        p50s.push(percentile(&latencies, 50.0));
        p99s.push(percentile(&latencies, 99.0));
        // Raw limit: the same lookups as bare primary-key SELECTs through sqlx.
        let mut bare = vec![];
        for i in 0..lookups {
            let id = &ids[(i * 7 + run * 13) % ids.len()];
            let started = Instant::now();
            let rows = sqlx::query("SELECT * FROM index_entries WHERE resident_id = $1")
                .bind(id)
                .fetch_all(&database)
                .await
                .expect("bare select");
            bare.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(!rows.is_empty());
        }
        raw.push(percentile(&bare, 99.0));
    }
    province.kill_registry();
    let note = format!(
        "{} index rows (PostgreSQL; the test server runs with fsync off), {lookups} sequential lookups per run, each audited; raw = bare primary-key SELECT p99",
        filler + i64::from(people)
    );
    bench.record("locate", "locate p50", "ms", &p50s, "—", None, &note);
    bench.record(
        "locate",
        "locate p99",
        "ms",
        &p99s,
        "<= 2 ms",
        Some(&raw),
        &note,
    );
}

/// The deadline monitor's tick over a node database holding many open cases (in process, on
/// SQLite): due dates spread over the next 60 days, 2 % already overdue, 5 % delivered and
/// awaiting acceptance.
async fn bench_monitor(bench: &mut Bench, dir: &Path) {
    use exchange_node::monitor::{DeadlineMonitor, MonitorConfig};
    use mpx_proto::v1::{Case, CaseDirection, CaseKind, CasePriority, CaseState};
    let cases: u64 = if bench.quick { 10_000 } else { 1_000_000 };
    let path = dir.join("monitor.db");
    let _ = std::fs::remove_file(&path);
    let store =
        exchange_node::store::Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("node store");
    // Monday 2 November 2026, 09:00 in the province.
    let now = 1_793_581_200_000i64;
    let day = 86_400_000i64;
    let clock = exchange_node::clock::Clock::manual(now);
    let (notifier, _wakeups) = exchange_node::outbox::DeliveryNotifier::channel();
    let workflow = exchange_node::workflow::Workflow::new(
        store.clone(),
        mpx_proto::division::CountyCode::parse(LINXIA).expect("county"),
        mpx_proto::resident_id::CheckDigitMode::Strict,
        exchange_node::directory::DirectoryHandle::default(),
        notifier,
        clock.clone(),
    );
    let started = Instant::now();
    let mut rng = mpx_proto::synth::Rng::new(11);
    for chunk in (0..cases).collect::<Vec<_>>().chunks(5_000) {
        let mut tx = store.begin().await.expect("tx");
        for &i in chunk {
            let delivered = now - rng.below(20) as i64 * day;
            let due = if rng.chance(0.02) {
                now - 1 - rng.below(10 * day as u64) as i64
            } else {
                now + rng.below(60 * day as u64) as i64
            };
            let awaiting = rng.chance(0.05);
            let case = Case {
                case_id: format!("00000000-0000-7000-8000-{i:012}"),
                kind: CaseKind::Verification as i32,
                direction: CaseDirection::Inbound as i32,
                requester_county: WUDU.into(),
                recipient_county: LINXIA.into(),
                state: if awaiting {
                    CaseState::Delivered
                } else {
                    CaseState::Accepted
                } as i32,
                priority: CasePriority::Normal as i32,
                resident_id: mpx_tests::resident_id(LINXIA, (i % 900_000) as u32 + 1),
                questions: "核实现居住地 / confirm the residence".into(),
                opened_at_unix_ms: delivered,
                delivered_at_unix_ms: delivered,
                accepted_at_unix_ms: if awaiting { 0 } else { delivered + 3_600_000 },
                due_at_unix_ms: due,
                acceptance_due_at_unix_ms: if awaiting {
                    now - day + rng.below(3 * day as u64) as i64
                } else {
                    delivered + day
                },
                ..Default::default()
            };
            tx.save_case(&case, delivered).await.expect("case");
        }
        tx.commit().await.expect("commit");
    }
    eprintln!(
        "monitor: {cases} open cases written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let monitor = DeadlineMonitor::new(workflow, MonitorConfig::default());
    let started = Instant::now();
    let first_alerts = monitor.tick().await.expect("first tick").len();
    let first = started.elapsed().as_secs_f64() * 1000.0;
    eprintln!("monitor: first tick {first:.0} ms, {first_alerts} alerts");
    let mut ticks = vec![];
    for _ in 0..bench.runs.max(3) * 3 {
        clock.advance_ms(60_000);
        let started = Instant::now();
        monitor.tick().await.expect("tick");
        ticks.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    // The next midnight: the day's cases come within the due-soon lead.
    clock.advance_ms(15 * 3_600_000);
    let started = Instant::now();
    let midnight_alerts = monitor.tick().await.expect("midnight tick").len();
    let midnight = started.elapsed().as_secs_f64() * 1000.0;
    let note = format!(
        "{cases} open cases (SQLite node, in process); the first tick raised {first_alerts} alerts, the one after the next midnight {midnight_alerts}"
    );
    // Raw limit: the one index probe a tick cannot do without, on the same database.
    let bare = sqlite(&path).await;
    let mut raw = vec![];
    for _ in 0..ticks.len() {
        let started = Instant::now();
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT case_id FROM cases WHERE next_check_at_unix_ms <= ?
             ORDER BY next_check_at_unix_ms LIMIT 2000",
        )
        .bind(clock.now_unix_ms())
        .fetch_all(&bare)
        .await
        .expect("bare probe");
        raw.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(due.len() < 2000);
    }
    bench.record(
        "monitor",
        "steady tick (a minute after the last)",
        "ms",
        &ticks,
        "<= 20 ms",
        Some(&raw),
        &format!("{note}; raw = the bare index probe for the cases due a check"),
    );
    bench.record(
        "monitor",
        "first tick (after start)",
        "ms",
        &[first],
        "—",
        None,
        &note,
    );
    bench.record(
        "monitor",
        "tick after midnight",
        "ms",
        &[midnight],
        "—",
        None,
        &note,
    );
}

/// A node's start (spawn → listening, ready file written) and its memory idle.
async fn bench_idle(bench: &mut Bench, _dir: &Path) {
    let mut province = Province::start(&[WUDU]).await;
    let (mut starts, mut rss) = (vec![], vec![]);
    for _ in 0..bench.runs {
        province.stop_node(WUDU);
        let node = province.node(WUDU);
        let ready = node.data_dir.join("bench-ready.json");
        let _ = std::fs::remove_file(&ready);
        let mut command = node.cli();
        command
            .arg("serve")
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--console-listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let started = Instant::now();
        let mut child = command.spawn().expect("serve");
        while !ready.exists() && started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        starts.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_secs(if bench.quick { 1 } else { 5 })).await;
        if let Some((current, _)) = memory_of(child.id()) {
            rss.push(mib(current));
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    bench.record(
        "idle",
        "node start to serving",
        "ms",
        &starts,
        "<= 300 ms",
        None,
        "spawn → ready file (listeners bound)",
    );
    bench.record(
        "idle",
        "node idle RSS",
        "MiB",
        &rss,
        "<= 30 MB",
        None,
        "a few seconds after start, empty roster",
    );
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0.0, |kb| kb as f64 / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {memory:.0} GiB RAM")
}

const BEGIN: &str = "<!-- mpx-bench:begin (generated; the text outside these markers is kept) -->";
const END: &str = "<!-- mpx-bench:end -->";

fn figure_text(value: f64, unit: &str) -> String {
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else if value >= 1.0 {
        2
    } else {
        3
    };
    format!("{value:.digits$} {unit}").trim_end().to_string()
}

/// Writes the table between the markers of `path` (creating the file, or adding the markers,
/// when they are missing), so the commentary around it survives a new run.
fn write_markdown(bench: &Bench, command: &str, path: &Path) {
    let mut table = format!(
        "Measured on {} at {}, release build, with `{command}`. Median of the runs \
         ([min–max]); the raw limit is the same work without MPX, measured in the same run; \
         ratio = figure ÷ raw limit.\n\n",
        machine(),
        mpx_proto::time::format_unix_ms(mpx_proto::time::now_unix_ms()),
    );
    table.push_str(
        "| scenario | figure | median [min–max] | runs | target | raw limit | ratio | what it is |\n|---|---|---|---|---|---|---|---|\n",
    );
    // Rows of scenarios this run did not measure are kept from the table as it was, in the
    // order of SCENARIOS, so running one scenario no longer drops the others' figures.
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let measured: Vec<&str> = bench.figures.iter().map(|f| f.scenario).collect();
    let kept: Vec<(usize, String)> = match (existing.find(BEGIN), existing.find(END)) {
        (Some(begin), Some(end)) if begin < end => existing[begin..end]
            .lines()
            .filter_map(|line| {
                let scenario = line.strip_prefix("| ")?.split(" | ").next()?;
                let order = SCENARIOS.iter().position(|s| *s == scenario)?;
                (!measured.contains(&scenario)).then(|| (order, format!("{line}\n")))
            })
            .collect(),
        _ => Vec::new(),
    };
    if !kept.is_empty() {
        table = table.replacen(
            "ratio = figure ÷ raw limit.",
            "ratio = figure ÷ raw limit. Rows of scenarios this run did not measure are kept from earlier runs.",
            1,
        );
    }
    let mut rows: Vec<(usize, String)> = kept;
    for f in &bench.figures {
        let raw = f
            .raw_limit
            .map_or("—".to_string(), |r| figure_text(r, f.unit));
        let ratio = f
            .ratio_to_raw
            .map_or("—".to_string(), |r| format!("{r:.2}"));
        let order = SCENARIOS
            .iter()
            .position(|s| *s == f.scenario)
            .unwrap_or(usize::MAX);
        rows.push((
            order,
            format!(
                "| {} | {} | {} [{}–{}] | {} | {} | {} | {} | {} |\n",
                f.scenario,
                f.figure,
                figure_text(f.median, f.unit),
                figure_text(f.min, ""),
                figure_text(f.max, ""),
                f.runs,
                f.target,
                raw,
                ratio,
                f.note
            ),
        ));
    }
    // A stable sort: each scenario's rows keep their order.
    rows.sort_by_key(|(order, _)| *order);
    for (_, row) in rows {
        table.push_str(&row);
    }
    let generated = format!("{BEGIN}\n{table}{END}");
    let out = match (existing.find(BEGIN), existing.find(END)) {
        (Some(begin), Some(end)) if begin < end => format!(
            "{}{generated}{}",
            &existing[..begin],
            &existing[end + END.len()..]
        ),
        _ if existing.is_empty() => format!("# Benchmarks\n\n{generated}\n"),
        _ => format!("{existing}\n{generated}\n"),
    };
    if let Err(error) = std::fs::write(path, out) {
        eprintln!("cannot write {}: {error}", path.display());
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let usage = format!(
        "usage: mpx-bench [--quick] [--runs N] [SCENARIO …]; scenarios: {}",
        SCENARIOS.join(", ")
    );
    let mut runs = 3;
    let mut chosen: Vec<&str> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => {}
            "--runs" => match rest.next().and_then(|v| v.parse::<usize>().ok()) {
                Some(n) if n > 0 => runs = n,
                _ => {
                    eprintln!("--runs: expected a number of runs (1 or more)\n{usage}");
                    std::process::exit(2);
                }
            },
            "-h" | "--help" => {
                println!("{usage}");
                return;
            }
            scenario if SCENARIOS.contains(&scenario) => chosen.push(scenario),
            other => {
                eprintln!("{other:?} is not a scenario or option\n{usage}");
                std::process::exit(2);
            }
        }
    }
    if chosen.is_empty() {
        chosen = SCENARIOS.to_vec();
    }
    let dir = tempfile::Builder::new()
        .prefix("mpx-bench-")
        .tempdir()
        .expect("temp dir");
    let mut bench = Bench {
        runs,
        quick,
        figures: Vec::new(),
    };
    for scenario in &chosen {
        eprintln!("== {scenario}");
        match *scenario {
            "import" => bench_import(&mut bench, dir.path()).await,
            "reconcile" => bench_reconcile(&mut bench, dir.path()).await,
            "exchange" => bench_exchange(&mut bench, dir.path()).await,
            "overload" => bench_overload(&mut bench, dir.path()).await,
            "restore" => bench_restore(&mut bench, dir.path()).await,
            "console" => bench_console(&mut bench, dir.path()).await,
            "report" => bench_report(&mut bench, dir.path()).await,
            "latency" => bench_latency(&mut bench, dir.path()).await,
            "locate" => bench_locate(&mut bench, dir.path()).await,
            "monitor" => bench_monitor(&mut bench, dir.path()).await,
            "exchange-pg" => {
                bench_exchange_on(&mut bench, dir.path(), mpx_tests::Backend::AllOnPostgres).await
            }
            _ => bench_idle(&mut bench, dir.path()).await,
        }
    }
    let command = format!(
        "cargo run --release -p mpx-tests --bin mpx-bench -- {}",
        args.join(" ")
    );
    let out: PathBuf = std::env::var("MPX_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("BENCHMARKS.md"));
    if !quick {
        write_markdown(&bench, command.trim(), &out);
    }
}
