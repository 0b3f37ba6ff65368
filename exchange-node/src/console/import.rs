//! A roster import in the console, as a job of the node: the form's file is checked at once
//! (a refusal shows beside the form), then read a batch ahead and imported through
//! `ImportPeople` as the clerk while the browser watches the job's page
//! (`/roster/import/JOB`): a progress bar by rows against the file's counted lines
//! (indeterminate for a workbook), the counts so far, and a `<meta http-equiv="refresh">` each
//! second until the summary (no JavaScript). The page belongs to the session that started the
//! job; finished jobs are forgotten after an hour. The forms, files and summary page are
//! [`super::bulk`]'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::extract::rejection::PathRejection;
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mpx_proto::tabular::ahead::{Parsed, parse_ahead};
use mpx_proto::tabular::{Format, OutputFormat, RejectWriter, RowReader};
use mpx_proto::v1::records_server::Records;
use mpx_proto::v1::{self, ImportOutcome, ImportPeopleRequest};

use super::auth::Signed;
use super::bulk::{
    BulkPage, Choice, IMPORT_BATCH, ImportView, KEEP_FILES, Refusal, Running, bulk_page, files_dir,
    new_name, open_upload, owner_tag, read_posted, sweep,
};
use super::pages::as_operator;
use super::{ConsoleError, ConsoleState};

/// The node's import jobs by id (`TAG-RANDOM`, the tag of the session that started it).
#[derive(Debug, Default)]
pub struct ImportJobs(std::sync::Mutex<HashMap<String, std::sync::Arc<ImportJob>>>);

#[derive(Debug)]
pub struct ImportJob {
    expected: Option<u64>,
    state: std::sync::Mutex<JobState>,
}

#[derive(Debug, Clone, Default)]
struct JobState {
    view: ImportView,
    /// Set when the import ended: `Ok` with the summary in `view`, or the failure's message.
    ended: Option<Result<(), String>>,
    ended_at: Option<std::time::Instant>,
}

impl ImportJob {
    fn update(&self, change: impl FnOnce(&mut JobState)) {
        if let Ok(mut state) = self.state.lock() {
            change(&mut state);
        }
    }

    fn snapshot(&self) -> JobState {
        self.state
            .lock()
            .map(|state| state.clone())
            .unwrap_or_default()
    }
}

impl ImportJobs {
    fn start(&self, id: String, expected: Option<u64>) -> std::sync::Arc<ImportJob> {
        let job = std::sync::Arc::new(ImportJob {
            expected,
            state: std::sync::Mutex::new(JobState::default()),
        });
        if let Ok(mut jobs) = self.0.lock() {
            // Finished jobs are kept an hour for their page, then forgotten.
            jobs.retain(|_, job| {
                job.snapshot()
                    .ended_at
                    .is_none_or(|at| at.elapsed() < KEEP_FILES)
            });
            jobs.insert(id, job.clone());
        }
        job
    }

    fn get(&self, id: &str) -> Option<std::sync::Arc<ImportJob>> {
        self.0.lock().ok()?.get(id).cloned()
    }
}

/// Lines of a text file (its rows, give or take a header and cells spanning lines); `None` for
/// a workbook, whose rows are known only once read.
fn count_lines(path: &Path, format: Format) -> Option<u64> {
    use std::io::Read;
    if !matches!(format, Format::Csv | Format::JsonLines) {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let mut buffer = vec![0u8; 1 << 16];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = file.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        lines += buffer[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buffer[n - 1];
    }
    Some(lines + u64::from(last != b'\n'))
}

/// `POST /roster/import` (multipart: csrf, file).
pub async fn import(
    State(state): State<ConsoleState>,
    signed: Signed,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let r = t.roster();
    let posted = match read_posted(&state, &signed, "import", multipart, true).await? {
        Ok(posted) => posted,
        Err(Refusal(form, text)) => return Ok(bulk_page(signed, Some((form, text)), None, None)),
    };
    let Some((upload, file_name, size)) = posted.upload else {
        return Err(ConsoleError::BadForm(t));
    };
    let choice = Choice::of(&posted.fields);
    let reader = match open_upload(r, "import", &upload.0, &file_name, size, choice).await {
        Ok(reader) => reader,
        Err(Refusal(form, text)) => return Ok(bulk_page(signed, Some((form, text)), None, None)),
    };
    let dir = files_dir(&state).map_err(|_| ConsoleError::Unavailable(t))?;
    let _ = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || sweep(&dir)
    })
    .await;
    let reject_format = OutputFormat::answering(reader.format);
    let reject_name = new_name(&signed, &format!("rejects.{}", reject_format.extension()))?;
    let job_id = new_name(&signed, "import")?;
    let expected = {
        let (path, format) = (upload.0.clone(), reader.format);
        tokio::task::spawn_blocking(move || count_lines(&path, format))
            .await
            .ok()
            .flatten()
            // The header line is no row.
            .map(|lines| lines.saturating_sub(u64::from(format_has_header(reader.format))))
    };
    let job = state.imports.start(job_id.clone(), expected);
    job.update(|job| {
        job.view.ignored = reader.ignored_columns.join("、");
        job.view.sheet = reader.sheet.clone().unwrap_or_default();
    });
    let run = Import {
        state: state.clone(),
        operator: signed.operator.clone(),
        file_name,
        reject_path: dir.join(&reject_name),
        reject_format,
        job: job.clone(),
    };
    tokio::spawn(async move {
        let outcome = run.run(reader).await;
        // The upload stays until the job ends, and is gone when its page says so.
        drop(upload);
        let operator = run.operator.clone();
        job.update(|job| {
            if let Ok(true) = outcome {
                job.view.rejects = Some(reject_name);
            }
            tracing::info!(%operator, rows = job.view.rows, stored = job.view.stored, rejected = job.view.rejected, ok = outcome.is_ok(), "console import");
            job.ended = Some(outcome.map(drop));
            job.ended_at = Some(std::time::Instant::now());
        });
    });
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/roster/import/{job_id}"))],
    )
        .into_response())
}

/// True for formats whose first line names the columns.
fn format_has_header(format: Format) -> bool {
    matches!(format, Format::Csv)
}

/// One import's work, off the request that started it.
struct Import {
    state: ConsoleState,
    operator: String,
    file_name: String,
    reject_path: PathBuf,
    reject_format: OutputFormat,
    job: std::sync::Arc<ImportJob>,
}

impl Import {
    /// Reads the file a batch ahead, imports each batch through `ImportPeople` as the operator,
    /// writes rejected rows to their file, and keeps the job's counts current. Returns whether
    /// a reject file was written; an error is the message for the clerk.
    async fn run(&self, reader: RowReader) -> Result<bool, String> {
        let header = reader.header.clone();
        let (reject_path, reject_format) = (self.reject_path.clone(), self.reject_format);
        // Parsing runs on a blocking thread, a batch ahead of the calls to the store.
        let (mut receiver, parser) = parse_ahead(reader, IMPORT_BATCH);
        // Rejected rows go to their file on a blocking thread too (the writers are not `Send`).
        let (reject_sender, mut reject_receiver) =
            tokio::sync::mpsc::channel::<(u64, String, Vec<String>)>(256);
        let reject_writer = tokio::task::spawn_blocking(move || {
            let mut writer: Option<RejectWriter> = None;
            while let Some((line, reason, raw)) = reject_receiver.blocking_recv() {
                if writer.is_none() {
                    writer = Some(RejectWriter::create(&reject_path, &header, reject_format)?);
                }
                if let Some(writer) = &mut writer {
                    writer.write(line, &reason, &raw)?;
                }
            }
            writer.map(RejectWriter::finish).transpose()
        });
        let unavailable = || "the node could not finish the import".to_string();
        let reject = |line: u64, reason: String, raw: Vec<String>| {
            let sender = reject_sender.clone();
            async move {
                sender
                    .send((line, reason, raw))
                    .await
                    .map_err(|_| unavailable())
            }
        };
        while let Some((batch, _)) = receiver.recv().await {
            let mut rows = Vec::new();
            let mut raws = HashMap::new();
            let (mut read, mut rejected, mut stored, mut unchanged) = (0, 0, 0, 0);
            for parsed in batch {
                read += 1;
                match parsed {
                    Parsed::Unreadable(line, reason, raw) => {
                        rejected += 1;
                        reject(line, reason, raw).await?;
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
                let request = ImportPeopleRequest {
                    rows,
                    source: format!("{} (console)", self.file_name),
                };
                let results = self
                    .state
                    .records
                    .import_people(as_operator(&self.operator, request))
                    .await
                    .map_err(|status| status.message().to_string())?
                    .into_inner()
                    .results;
                for result in results {
                    match result.outcome() {
                        ImportOutcome::Stored => stored += 1,
                        ImportOutcome::Unchanged => unchanged += 1,
                        _ => {
                            rejected += 1;
                            let raw = raws.remove(&result.line).unwrap_or_default();
                            reject(result.line, result.reason, raw).await?;
                        }
                    }
                }
            }
            self.job.update(|job| {
                job.view.rows += read;
                job.view.stored += stored;
                job.view.unchanged += unchanged;
                job.view.rejected += rejected;
            });
        }
        let totals = parser.await.map_err(|_| unavailable())?;
        self.job.update(|job| {
            job.view.totals = totals
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("、");
        });
        drop(reject_sender);
        match reject_writer.await {
            Ok(Ok(written)) => Ok(written.is_some()),
            _ => Err(unavailable()),
        }
    }
}

/// `GET /roster/import/{job}`: a running import's progress (reloading itself every second),
/// then its summary. Only the session that started it sees it.
pub async fn progress(
    State(state): State<ConsoleState>,
    signed: Signed,
    job: Result<axum::extract::Path<String>, PathRejection>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let Ok(axum::extract::Path(id)) = job else {
        return Err(ConsoleError::NotFound(t));
    };
    if !id.starts_with(&format!("{}-", owner_tag(&signed))) {
        return Err(ConsoleError::NotFound(t));
    }
    let Some(job) = state.imports.get(&id) else {
        return Err(ConsoleError::NotFound(t));
    };
    let snapshot = job.snapshot();
    match snapshot.ended {
        Some(Ok(())) => Ok(bulk_page(signed, None, Some(snapshot.view), None)),
        Some(Err(message)) => Ok(bulk_page(
            signed,
            Some(("import", format!("{}{message}", t.roster().import_failed))),
            Some(snapshot.view),
            None,
        )),
        None => {
            let view = snapshot.view;
            let percent = job
                .expected
                .filter(|&expected| expected > 0)
                .map(|expected| (view.rows.saturating_mul(100) / expected).min(99));
            let page = BulkPage {
                t,
                r: t.roster(),
                csrf: signed.csrf.clone(),
                may_act: signed.role.may_act(),
                error: None,
                imported: None,
                reconciled: None,
                importing: Some(Running {
                    rows: view.rows,
                    stored: view.stored,
                    rejected: view.rejected,
                    expected: job.expected,
                    percent,
                }),
                signed: Some(signed),
            };
            Ok(page.into_response())
        }
    }
}
