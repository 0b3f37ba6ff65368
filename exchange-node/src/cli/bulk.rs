//! Bulk roster work for clerks: `records import` (workbooks as Excel, WPS or LibreOffice save
//! them, CSV in UTF-8 or GB18030, JSON Lines), `records export`, and `reconcile` against another
//! department's extract. All go through the node's operator API, so validation, notices, audit
//! and the outbox are the same as for single calls.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use mpx_proto::reconcile::{Difference, DifferenceWriter, Facts, Reconciler};
use mpx_proto::tabular::ahead::{Parsed, parse_ahead};
use mpx_proto::tabular::{
    Cell, Encoding, Format, Mapping, OutputFormat, RejectWriter, RowReader, TableWriter, output,
};
use mpx_proto::v1::{self, ImportOutcome, PersonStatus};

/// What a file argument group takes.
#[derive(Args, Debug, Clone)]
pub struct FileArgs {
    /// csv, jsonl, xlsx, xlsb, xls or ods (default: workbooks by their content, text by the file
    /// name; .jsonl/.ndjson are JSON Lines).
    #[arg(long)]
    pub format: Option<String>,
    /// The workbook sheet to read, by name or number from 1 (default: the first sheet with a
    /// recognisable header).
    #[arg(long)]
    pub sheet: Option<String>,
    /// utf-8, gb18030 (also GBK/GB2312 files), or auto (sniffed).
    #[arg(long, default_value = "auto")]
    pub encoding: String,
    /// A TOML file mapping fields to the file's column names: `[columns] resident_id = "证件号码"`.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
}

impl FileArgs {
    fn open(&self, path: &Path) -> anyhow::Result<RowReader> {
        let format = match &self.format {
            Some(text) => Format::parse(text).map_err(|e| anyhow::anyhow!("--format {e}"))?,
            None => Format::from_path(path),
        };
        let encoding =
            Encoding::parse(&self.encoding).map_err(|e| anyhow::anyhow!("--encoding {e}"))?;
        let mapping = match &self.mapping {
            Some(path) => Mapping::load(path)?,
            None => Mapping::default(),
        };
        Ok(RowReader::open_sheet(
            path,
            format,
            encoding,
            mapping,
            self.sheet.as_deref(),
        )?)
    }
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The roster file (a workbook: .xlsx, .xls, .xlsb, .ods; CSV or JSON Lines). Columns by name, Chinese or English: 公民身份号码,
    /// 姓名, 性别, 出生日期, 户籍地代码, 现居住地址, 来本地日期, 联系电话, 备注 (see README).
    pub file: PathBuf,
    #[command(flatten)]
    pub input: FileArgs,
    /// Where rejected rows go (default: FILE.rejects.xlsx for a workbook, FILE.rejects.csv
    /// otherwise; a name ending in .xlsx is written as a workbook).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Rows per call to the node (one transaction each).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
}

/// Progress on stderr: a bar on a terminal, a plain line every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
    started: Instant,
}

impl Progress {
    fn new(total_bytes: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total_bytes);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {percent:>3}%  {msg}  ({elapsed}, ~{eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            last_line: Instant::now(),
            started: Instant::now(),
        }
    }

    fn update(&mut self, bytes: u64, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(bytes);
                bar.set_message(message.to_string());
            }
            None if self.last_line.elapsed() >= Duration::from_secs(2) => {
                eprintln!("{:>6.1}s  {message}", self.started.elapsed().as_secs_f64());
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[derive(Debug, Default, serde::Serialize)]
struct ImportSummary {
    rows: u64,
    stored: u64,
    unchanged: u64,
    rejected: u64,
    notices_queued: u64,
    warnings: u64,
    /// Workbook rows skipped as totals rows (合计/总计 and no ID): their line numbers.
    totals_rows_skipped: Vec<u64>,
    /// The workbook sheet read.
    sheet: Option<String>,
    ignored_columns: Vec<String>,
    rejects_file: Option<String>,
    seconds: f64,
    /// This command's peak resident memory (VmHWM), where the system says.
    peak_rss_bytes: Option<u64>,
}

/// Lazily created reject file (none when every row is good).
struct Rejects {
    path: PathBuf,
    format: OutputFormat,
    header: Vec<String>,
    writer: Option<RejectWriter>,
}

impl Rejects {
    fn write(&mut self, line: u64, reason: &str, raw: &[String]) -> anyhow::Result<()> {
        if self.writer.is_none() {
            self.writer = Some(RejectWriter::create(&self.path, &self.header, self.format)?);
        }
        if let Some(writer) = &mut self.writer {
            writer
                .write(line, reason, raw)
                .with_context(|| format!("writing {}", self.path.display()))?;
        }
        Ok(())
    }
}

/// `records import FILE`.
pub(crate) async fn import(
    client: &mut v1::records_client::RecordsClient<super::Authorized>,
    args: &ImportArgs,
    json: bool,
) -> anyhow::Result<()> {
    if !(1..=5000).contains(&args.batch) {
        bail!("--batch {}: 1 to 5000 rows", args.batch);
    }
    let reader = args.input.open(&args.file)?;
    let total_bytes = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    let mut summary = ImportSummary {
        ignored_columns: reader.ignored_columns.clone(),
        sheet: reader.sheet.clone(),
        ..Default::default()
    };
    // Bad rows come back in the kind of file the clerk gave: a workbook for a workbook.
    let (path, format) = match &args.rejects {
        Some(path) => (path.clone(), OutputFormat::from_path(path)),
        None => {
            let format = OutputFormat::answering(reader.format);
            (output::beside(&args.file, "rejects", format), format)
        }
    };
    let mut rejects = Rejects {
        path,
        format,
        header: reader.header.clone(),
        writer: None,
    };
    if !summary.ignored_columns.is_empty() {
        eprintln!(
            "note: columns not imported (no field of that name): {}",
            summary.ignored_columns.join(", ")
        );
    }
    // Parsing runs on a blocking thread, a batch ahead of the calls to the node.
    let (mut receiver, parser) = parse_ahead(reader, args.batch);
    let started = Instant::now();
    let mut progress = Progress::new(total_bytes);
    let source = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    while let Some((batch, bytes)) = receiver.recv().await {
        let mut rows = Vec::new();
        let mut raws = std::collections::HashMap::new();
        for parsed in batch {
            summary.rows += 1;
            match parsed {
                Parsed::Unreadable(line, reason, raw) => {
                    summary.rejected += 1;
                    rejects.write(line, &reason, &raw)?;
                }
                Parsed::Row(line, person, raw) => {
                    raws.insert(line, raw);
                    rows.push(v1::ImportRow {
                        line,
                        person: Some(*person),
                    });
                }
            }
        }
        if !rows.is_empty() {
            let results = client
                .import_people(v1::ImportPeopleRequest {
                    rows,
                    source: source.clone(),
                })
                .await
                .map_err(super::explain)?
                .into_inner()
                .results;
            for result in results {
                summary.warnings += result.warnings.len() as u64;
                match result.outcome() {
                    ImportOutcome::Stored => {
                        summary.stored += 1;
                        summary.notices_queued += u64::from(!result.notice_case_id.is_empty());
                    }
                    ImportOutcome::Unchanged => summary.unchanged += 1,
                    _ => {
                        summary.rejected += 1;
                        let raw = raws.remove(&result.line).unwrap_or_default();
                        rejects.write(result.line, &result.reason, &raw)?;
                    }
                }
            }
        }
        progress.update(
            bytes,
            &format!(
                "{} rows: {} stored, {} unchanged, {} rejected",
                summary.rows, summary.stored, summary.unchanged, summary.rejected
            ),
        );
    }
    progress.finish();
    summary.totals_rows_skipped = parser.await.context("the file reader stopped")?;
    if let Some(writer) = rejects.writer.take() {
        writer
            .finish()
            .with_context(|| format!("writing {}", rejects.path.display()))?;
        summary.rejects_file = Some(rejects.path.display().to_string());
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.peak_rss_bytes = peak_rss_bytes();
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "导入完成 Imported {}: {} rows — {} stored ({} residence notices queued), {} unchanged, {} rejected, in {:.1} s ({:.0} rows/s).",
            args.file.display(),
            summary.rows,
            summary.stored,
            summary.notices_queued,
            summary.unchanged,
            summary.rejected,
            summary.seconds,
            summary.rows as f64 / summary.seconds.max(1e-9)
        );
        if !summary.totals_rows_skipped.is_empty() {
            println!(
                "Totals rows (合计/总计, no ID) skipped, not people: line {}",
                summary
                    .totals_rows_skipped
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(path) = &summary.rejects_file {
            println!("Rejected rows, each with its line and reason: {path}");
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Why you export these records (recorded in the audit log).
    #[arg(long)]
    pub purpose: String,
    /// csv, xlsx or jsonl (default: xlsx when --out ends in .xlsx, else csv).
    #[arg(long)]
    pub format: Option<String>,
    /// Fields, comma-separated (default: all): resident_id,name,sex,birth_date,hukou_county,
    /// residence_county,residence_address,arrival_date,departure_date,phone,notes,status.
    #[arg(long)]
    pub fields: Option<String>,
    /// Column names: en (field names) or zh (Chinese) (default: zh in a workbook, en in CSV).
    #[arg(long)]
    pub header: Option<String>,
    /// Only people of this status: residing, departed, living_elsewhere, whereabouts_unknown.
    #[arg(long)]
    pub status: Option<String>,
    /// Write here (created 0600); default standard output (not for xlsx).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn status_of(text: &str) -> anyhow::Result<PersonStatus> {
    mpx_proto::person::status_from_label(text).with_context(|| {
        format!("--status {text:?}: residing, departed, living_elsewhere or whereabouts_unknown")
    })
}

/// Every person of the roster (optionally of one status), streamed by the audited
/// `ExportPeople` (one read in the audit log for the whole roster).
async fn each_person(
    client: &mut v1::records_client::RecordsClient<super::Authorized>,
    purpose: &str,
    status: PersonStatus,
    mut visit: impl FnMut(v1::Person) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut pages = client
        .export_people(v1::ExportPeopleRequest {
            purpose: purpose.to_string(),
            status: status as i32,
        })
        .await
        .map_err(super::explain)?
        .into_inner();
    let mut count = 0;
    while let Some(page) = pages.message().await.map_err(super::explain)? {
        for person in page.people {
            count += 1;
            visit(person)?;
        }
    }
    Ok(count)
}

/// `records export`.
pub(crate) async fn export(
    client: &mut v1::records_client::RecordsClient<super::Authorized>,
    args: &ExportArgs,
) -> anyhow::Result<()> {
    let fields: Vec<&'static mpx_proto::person::PersonField> = match &args.fields {
        Some(list) => list
            .split(',')
            .map(|name| {
                let name = name.trim();
                mpx_proto::person::file_fields()
                    .find(|field| field.name == name)
                    .with_context(|| {
                        let all: Vec<&str> = mpx_proto::person::file_fields()
                            .map(|field| field.name)
                            .collect();
                        format!(
                            "--fields: {name:?} is not a field; fields are {}",
                            all.join(",")
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?,
        None => mpx_proto::person::file_fields().collect(),
    };
    // As given, else from the output file's name (.xlsx is a workbook), else CSV; None: JSON Lines.
    let format = match args.format.as_deref() {
        Some("jsonl") => None,
        Some(text) => {
            Some(OutputFormat::parse(text).map_err(|e| anyhow::anyhow!("--format {e}, or jsonl"))?)
        }
        None => Some(
            args.out
                .as_deref()
                .map_or(OutputFormat::Csv, OutputFormat::from_path),
        ),
    };
    // Chinese column names by default in a workbook (what a clerk reads), field names in CSV.
    let chinese = match args.header.as_deref() {
        None => format == Some(OutputFormat::Xlsx),
        Some("en") => false,
        Some("zh") => true,
        Some(other) => bail!("--header {other:?}: en or zh"),
    };
    let status = args
        .status
        .as_deref()
        .map(status_of)
        .transpose()?
        .unwrap_or(PersonStatus::Unspecified);
    let header: Vec<&str> = fields
        .iter()
        .map(|field| if chinese { field.header_zh } else { field.name })
        .collect();
    enum Sink {
        Table(Box<TableWriter>),
        Json(std::io::BufWriter<Box<dyn Write>>),
    }
    let mut sink = match (format, &args.out) {
        (None, Some(path)) => Sink::Json(std::io::BufWriter::new(Box::new(
            output::create_private(path)?,
        ))),
        (None, None) => Sink::Json(std::io::BufWriter::new(Box::new(std::io::stdout().lock()))),
        (Some(format), Some(path)) => Sink::Table(Box::new(TableWriter::create(
            path,
            format,
            "花名册",
            &header,
        )?)),
        (Some(OutputFormat::Xlsx), None) => {
            bail!("--format xlsx writes a file: add --out FILE.xlsx")
        }
        // Standard output feeds scripts: no byte-order mark there.
        (Some(OutputFormat::Csv), None) => Sink::Table(Box::new(TableWriter::csv(
            Box::new(std::io::BufWriter::new(std::io::stdout())),
            "standard output",
            &header,
            false,
        )?)),
    };
    let count = each_person(client, &args.purpose, status, |person| {
        let values: Vec<String> = fields
            .iter()
            .map(|field| field.file_text(&person))
            .collect();
        match &mut sink {
            Sink::Json(out) => {
                let object: serde_json::Map<String, serde_json::Value> = fields
                    .iter()
                    .zip(values)
                    .map(|(field, value)| (field.name.to_string(), value.into()))
                    .collect();
                writeln!(out, "{}", serde_json::Value::Object(object))?;
            }
            Sink::Table(table) => {
                let cells: Vec<Cell<'_>> = fields
                    .iter()
                    .zip(&values)
                    .map(|(field, value)| match field.form {
                        mpx_proto::person::Form::Date => Cell::Date(value),
                        _ => Cell::Text(value),
                    })
                    .collect();
                table.row(&cells)?;
            }
        }
        Ok(())
    })
    .await?;
    match sink {
        Sink::Json(mut out) => out.flush()?,
        Sink::Table(table) => {
            table.finish()?;
        }
    }
    if let Some(path) = &args.out {
        eprintln!("Exported {count} people to {} (audited).", path.display());
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// The other department's extract (a workbook, CSV or JSON Lines; same columns as an import).
    #[arg(long)]
    pub against: PathBuf,
    /// Whose extract it is, for the report: police, education, statistics, …
    #[arg(long)]
    pub source: String,
    /// Why you compare (recorded in the audit log).
    #[arg(long)]
    pub purpose: String,
    #[command(flatten)]
    pub input: FileArgs,
    /// Which of our people to compare: residing (default) or all.
    #[arg(long, default_value = "residing")]
    pub scope: String,
    /// The differences (default: AGAINST.differences.xlsx for a workbook, else
    /// AGAINST.differences.csv; a name ending in .xlsx is written as a workbook).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Open a VERIFICATION case for each mismatch another county must answer (their hukou or
    /// residence county differs from ours).
    #[arg(long)]
    pub open_cases: bool,
}

#[derive(Debug, serde::Serialize)]
struct ReconcileReport<'a> {
    source: &'a str,
    against: String,
    #[serde(flatten)]
    summary: mpx_proto::reconcile::Summary,
    differences_file: String,
    cases_opened: u64,
    seconds: f64,
    /// Bytes of memory the process held at its peak (VmHWM), where the system says.
    peak_rss_bytes: Option<u64>,
}

/// The process's peak resident set (Linux `VmHWM`), for the report.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `reconcile --against FILE --source S`.
pub(crate) async fn reconcile(
    records: &mut v1::records_client::RecordsClient<super::Authorized>,
    cases: &mut v1::cases_client::CasesClient<super::Authorized>,
    this_county: &str,
    args: &ReconcileArgs,
    json: bool,
) -> anyhow::Result<()> {
    let scope = match args.scope.as_str() {
        "residing" => PersonStatus::Residing,
        "all" => PersonStatus::Unspecified,
        other => bail!("--scope {other:?}: residing or all"),
    };
    let started = Instant::now();
    let reader = args.input.open(&args.against)?;
    let against_format = reader.format;
    let (mut reconciler, unreadable) =
        tokio::task::spawn_blocking(move || Reconciler::load(reader))
            .await
            .context("reading the extract")?;
    for error in unreadable.iter().take(5) {
        eprintln!(
            "note: {} line {}: {}",
            args.against.display(),
            error.line,
            error.reason
        );
    }
    let (mut writer, out_path) =
        DifferenceWriter::beside(&args.against, against_format, args.out.as_deref())?;
    let mut write_error: Option<mpx_proto::tabular::FileError> = None;
    let mut to_ask: Vec<Difference> = Vec::new();
    let purpose = format!("{} (reconcile with {})", args.purpose, args.source);
    let open_cases = args.open_cases;
    let mut record = |difference: Difference| {
        if let Err(error) = writer.write(&difference) {
            write_error.get_or_insert(error);
        }
        if open_cases && difference.asks_another_county(this_county) {
            to_ask.push(difference);
        }
    };
    each_person(records, &purpose, scope, |person| {
        let facts = Facts {
            name: person.name.clone(),
            hukou_county: person.hukou_county.clone(),
            residence_county: person.residence_county.clone(),
            birth_date: person.birth_date.clone(),
        };
        reconciler.ours(&person.resident_id, &facts, &mut record);
        Ok(())
    })
    .await?;
    let summary = reconciler.finish(&mut record);
    if let Some(error) = write_error {
        return Err(error).with_context(|| format!("writing {}", out_path.display()));
    }
    writer
        .finish()
        .with_context(|| format!("writing {}", out_path.display()))?;
    let mut cases_opened = 0;
    for difference in &to_ask {
        let questions = difference.verification_questions(&args.source);
        let opened = cases
            .open_case(v1::OpenCaseRequest {
                kind: v1::CaseKind::Verification as i32,
                recipient_county: difference.theirs.clone(),
                priority: v1::CasePriority::Normal as i32,
                resident_id: difference.resident_id.clone(),
                subject_name: String::new(),
                questions,
            })
            .await;
        match opened {
            Ok(_) => cases_opened += 1,
            Err(status) => eprintln!(
                "note: no case for {} to {}: {}",
                mpx_proto::resident_id::mask(&difference.resident_id),
                difference.theirs,
                status.message()
            ),
        }
    }
    let report = ReconcileReport {
        source: &args.source,
        against: args.against.display().to_string(),
        summary,
        differences_file: out_path.display().to_string(),
        cases_opened,
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_bytes: peak_rss_bytes(),
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let s = &report.summary;
    println!(
        "数据比对 Reconciliation with {} ({})",
        args.source, report.against
    );
    println!("  本县名册 ours:          {:>10}", s.ours);
    println!("  对方数据 theirs:        {:>10}", s.theirs);
    println!("  一致 matched:           {:>10}", s.matched);
    println!("  仅本县有 only ours:     {:>10}", s.only_ours);
    println!("  仅对方有 only theirs:   {:>10}", s.only_theirs);
    println!("  信息不一致 mismatched:  {:>10}", s.mismatched_people);
    for (field, count) in &s.mismatches_by_field {
        println!("      {field:<22}{count:>10}");
    }
    if s.unreadable_theirs > 0 || s.duplicate_theirs > 0 {
        println!(
            "  unreadable rows in theirs: {}, duplicate IDs in theirs: {}",
            s.unreadable_theirs, s.duplicate_theirs
        );
    }
    if args.open_cases {
        println!("  verification cases opened: {cases_opened}");
    }
    println!(
        "Differences: {}  ({:.1} s)",
        report.differences_file, report.seconds
    );
    Ok(())
}
