//! Roster files in the console: import (导入) a clerk's roster, export (导出) the roster, and
//! reconcile (比对) it against another department's extract, the way `records import`,
//! `records export` and `reconcile` do from the command line: the same readers and writers
//! (`mpx_proto::tabular`, `mpx_proto::reconcile`) and the same in-process `mpx.v1.Records`
//! calls (`ImportPeople` in batches, `ExportPeople`), so validation, notices and audit are theirs.
//!
//! An import runs as a job with a page of its own: [`super::import`]. This file holds the
//! forms, the summary page, the files, export and reconcile.
//!
//! Files: an upload is written to a 0600 file under `DATA_DIR/console-files` and deleted when
//! the request (or the import job) ends. A reject or differences file is kept there (0600) for the session that
//! made it (its name starts with a tag drawn from that session's secret) and deleted when
//! downloaded or after an hour.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mpx_proto::reconcile::{DifferenceWriter, Facts, Reconciler, Summary};
use mpx_proto::tabular::{Cell, Format, Mapping, OutputFormat, RowReader, TableWriter, workbook};
use mpx_proto::v1::cases_server::Cases;
use mpx_proto::v1::records_server::Records;
use mpx_proto::v1::{self, ExportPeopleRequest, PersonStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::auth::Signed;
use super::i18n::Msgs;
use super::pages::as_operator;
use super::roster::{query_escape, refusal};
use super::roster_words::RosterMsgs;
use super::{ConsoleError, ConsoleQuery, ConsoleState};

/// The largest CSV or JSON Lines upload (read as a stream, so only the disk limits it).
pub const MAX_TEXT_BYTES: u64 = 256 << 20;
/// Rows per `ImportPeople` call (one transaction each).
pub(super) const IMPORT_BATCH: usize = 1000;
/// How long a reject or differences file waits for its download.
pub(super) const KEEP_FILES: Duration = Duration::from_secs(3600);

pub fn routes() -> Router<ConsoleState> {
    // The body limit leaves room for the form's other fields around the largest file.
    let limit =
        DefaultBodyLimit::max(usize::try_from(MAX_TEXT_BYTES + (1 << 20)).unwrap_or(usize::MAX));
    Router::new()
        .route("/roster/bulk", get(page))
        .route("/roster/import", post(super::import::import).layer(limit))
        .route("/roster/import/{job}", get(super::import::progress))
        .route("/roster/reconcile", post(reconcile).layer(limit))
        .route("/roster/export", get(export))
        .route("/roster/files/{name}", get(download))
}

// ---- the page -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub(super) struct ImportView {
    pub(super) rows: u64,
    pub(super) stored: u64,
    pub(super) unchanged: u64,
    pub(super) rejected: u64,
    pub(super) totals: String,
    pub(super) ignored: String,
    pub(super) sheet: String,
    pub(super) rejects: Option<String>,
}

pub(super) struct ReconcileView {
    source: String,
    summary: Summary,
    differences: Option<String>,
    /// With the option to ask the other counties: cases opened, and differences that could not
    /// become one (the service's reason for the first).
    cases_opened: Option<u64>,
    cases_refused: u64,
    first_refusal: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "roster_bulk.html")]
pub(super) struct BulkPage {
    pub(super) t: &'static Msgs,
    pub(super) r: &'static RosterMsgs,
    pub(super) signed: Option<Signed>,
    pub(super) csrf: String,
    pub(super) may_act: bool,
    /// A refusal: which form ("import", "export", "reconcile") and what it says.
    pub(super) error: Option<(&'static str, String)>,
    pub(super) imported: Option<ImportView>,
    pub(super) reconciled: Option<ReconcileView>,
    /// An import still running: its counts so far and how far along it is.
    pub(super) importing: Option<Running>,
}

/// A running import as its page shows it.
pub(super) struct Running {
    pub(super) rows: u64,
    pub(super) stored: u64,
    pub(super) rejected: u64,
    /// Rows expected in all, when the file's lines could be counted.
    pub(super) expected: Option<u64>,
    /// Percent done, when `expected` is known.
    pub(super) percent: Option<u64>,
}

impl BulkPage {
    fn error_for(&self, form: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(which, _)| *which == form)
            .map(|(_, text)| text.as_str())
    }
}

pub(super) fn bulk_page(
    signed: Signed,
    error: Option<(&'static str, String)>,
    imported: Option<ImportView>,
    reconciled: Option<ReconcileView>,
) -> Response {
    let t = signed.t;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = BulkPage {
        t,
        r: t.roster(),
        csrf: signed.csrf.clone(),
        may_act: signed.role.may_act(),
        error,
        imported,
        reconciled,
        importing: None,
        signed: Some(signed),
    };
    (status, page).into_response()
}

pub async fn page(signed: Signed) -> Response {
    bulk_page(signed, None, None, None)
}

// ---- files under the data directory ----------------------------------------------------------

/// Where the console keeps uploads and files to download (created 0700).
pub(super) fn files_dir(state: &ConsoleState) -> std::io::Result<PathBuf> {
    let dir = state.data_dir.join("console-files");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir)?;
    Ok(dir)
}

/// The tag that starts the names of a session's files.
pub(super) fn owner_tag(signed: &Signed) -> String {
    mpx_proto::sha256_hex(format!("mpx console files {}", signed.csrf).as_bytes())[..16].to_string()
}

/// Removes files older than [`KEEP_FILES`] (downloads never fetched, uploads of a crash).
pub(super) fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > KEEP_FILES);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A file deleted when dropped (an upload, or an export on its way out).
pub(super) struct TempFile(pub(super) PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A new file name for this session: `TAG-RANDOM.SUFFIX`.
pub(super) fn new_name(signed: &Signed, suffix: &str) -> Result<String, ConsoleError> {
    Ok(format!(
        "{}-{}.{suffix}",
        owner_tag(signed),
        &super::auth::random_hex()?[..32]
    ))
}

/// Why a posted file was not taken: which form, and the message for the clerk.
pub(super) struct Refusal(pub(super) &'static str, pub(super) String);

/// A multipart form: its text fields and the uploaded file (on disk, deleted when dropped).
pub(super) struct Posted {
    pub(super) fields: HashMap<String, String>,
    pub(super) upload: Option<(TempFile, String, u64)>,
}

/// Reads a posted form, checking its CSRF token (and the role, when `act`) before the file
/// is taken: the form sends the token first.
pub(super) async fn read_posted(
    state: &ConsoleState,
    signed: &Signed,
    form: &'static str,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    act: bool,
) -> Result<Result<Posted, Refusal>, ConsoleError> {
    let t = signed.t;
    let r = t.roster();
    let broken = || Ok(Err(Refusal(form, r.upload_broken.to_string())));
    let Ok(mut multipart) = multipart else {
        return Err(ConsoleError::BadForm(t));
    };
    let dir = files_dir(state).map_err(|error| {
        tracing::error!(%error, "console: cannot create the files directory");
        ConsoleError::Unavailable(t)
    })?;
    let mut posted = Posted {
        fields: HashMap::new(),
        upload: None,
    };
    let mut checked = false;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) if checked => return broken(),
            Err(_) => return Err(ConsoleError::BadForm(t)),
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if !checked {
                return Err(ConsoleError::Csrf(t));
            }
            let file_name: String = field
                .file_name()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect();
            let path = dir.join(new_name(signed, "upload")?);
            let temp = TempFile(path.clone());
            let file = mpx_proto::tabular::output::create_private(&path).map_err(|error| {
                tracing::error!(%error, "console: cannot create an upload file");
                ConsoleError::Unavailable(t)
            })?;
            let mut file = tokio::fs::File::from_std(file);
            let mut size = 0u64;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        size += chunk.len() as u64;
                        if size > MAX_TEXT_BYTES {
                            return Ok(Err(Refusal(form, too_big(r, MAX_TEXT_BYTES))));
                        }
                        if file.write_all(&chunk).await.is_err() {
                            return Err(ConsoleError::Unavailable(t));
                        }
                    }
                    Ok(None) => break,
                    Err(_) => return broken(),
                }
            }
            if file.flush().await.is_err() {
                return Err(ConsoleError::Unavailable(t));
            }
            if !file_name.is_empty() || size > 0 {
                posted.upload = Some((temp, file_name, size));
            }
            continue;
        }
        let Ok(value) = field.text().await else {
            // Before the token is checked, nothing but "unreadable" is said.
            return if checked {
                broken()
            } else {
                Err(ConsoleError::BadForm(t))
            };
        };
        if name == "csrf" {
            signed.check_csrf(&value)?;
            if act {
                signed.check_may_act()?;
            }
            checked = true;
        }
        posted.fields.insert(name, value);
    }
    if !checked {
        return Err(ConsoleError::Csrf(t));
    }
    if posted.upload.is_none() {
        return Ok(Err(Refusal(form, r.no_file.to_string())));
    }
    Ok(Ok(posted))
}

fn too_big(r: &RosterMsgs, limit: u64) -> String {
    format!("{}{} MiB", r.too_big, limit >> 20)
}

/// What the clerk chose of how a file is read (each `None`: judged from the file).
#[derive(Debug, Default)]
pub(super) struct Choice {
    /// A workbook's sheet: its name or its number from 1 (default: the first with a header).
    sheet: Option<String>,
    /// A text file's encoding (default: UTF-8 unless it does not decode, then GB18030).
    encoding: Option<mpx_proto::tabular::Encoding>,
}

impl Choice {
    pub(super) fn of(fields: &HashMap<String, String>) -> Self {
        Self {
            sheet: fields
                .get("sheet")
                .map(|sheet| sheet.trim().chars().take(100).collect::<String>())
                .filter(|sheet| !sheet.is_empty()),
            encoding: match fields.get("encoding").map(|e| e.trim()) {
                Some("utf-8") => Some(mpx_proto::tabular::Encoding::Utf8),
                Some("gb18030") => Some(mpx_proto::tabular::Encoding::Gb18030),
                _ => None,
            },
        }
    }
}

/// Opens an upload as a roster file, refusing one over its format's limit or unreadable, in
/// the clerk's language (a reader's message names the temporary file: it is replaced by the
/// name the clerk gave).
pub(super) async fn open_upload(
    r: &'static RosterMsgs,
    form: &'static str,
    path: &Path,
    file_name: &str,
    size: u64,
    choice: Choice,
) -> Result<RowReader, Refusal> {
    let path = path.to_path_buf();
    let file_name = file_name.to_string();
    let opened = tokio::task::spawn_blocking(move || {
        // Workbooks are read whole: refuse one over its kind's limit before reading it.
        if size > workbook::MAX_WORKBOOK_BYTES {
            let mut head = vec![0u8; 8];
            if let Ok(mut file) = std::fs::File::open(&path) {
                let _ = std::io::Read::read(&mut file, &mut head);
            }
            if let workbook::Content::Container = workbook::sniff(&head) {
                if size > workbook::MAX_XLSX_BYTES {
                    return Err(Refusal(form, too_big(r, workbook::MAX_XLSX_BYTES)));
                }
                let bytes = std::fs::read(&path).unwrap_or_default();
                if let workbook::Content::Workbook(kind) = workbook::classify_container(&bytes)
                    && size > workbook::max_bytes(kind)
                {
                    return Err(Refusal(form, too_big(r, workbook::max_bytes(kind))));
                }
            }
        }
        let format = Format::from_path(Path::new(&file_name));
        RowReader::open_sheet(
            &path,
            format,
            choice.encoding,
            Mapping::default(),
            choice.sheet.as_deref(),
        )
        .map_err(|error| {
            let detail = error
                .to_string()
                .replace(&path.display().to_string(), &file_name);
            Refusal(form, format!("{}{detail}", r.unreadable_file))
        })
    })
    .await;
    opened.unwrap_or_else(|_| Err(Refusal(form, r.unreadable_file.to_string())))
}

// ---- download -----------------------------------------------------------------------------------

/// A file as a download, streamed; unlinked as soon as it is open.
async fn stream_file(path: &Path) -> std::io::Result<Body> {
    let mut file = tokio::fs::File::open(path).await?;
    tokio::fs::remove_file(path).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let chunk = match file.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => Ok(Bytes::copy_from_slice(&buffer[..n])),
                Err(error) => Err(error),
            };
            let failed = chunk.is_err();
            if sender.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    Ok(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(receiver),
    ))
}

/// The response headers of a file download named `name` (Chinese names as RFC 5987).
fn attachment(format: OutputFormat, name: &str) -> [(header::HeaderName, String); 2] {
    let content_type = match format {
        OutputFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        OutputFormat::Csv => "text/csv; charset=utf-8",
    };
    let ascii = if format == OutputFormat::Xlsx {
        "roster.xlsx"
    } else {
        "roster.csv"
    };
    [
        (header::CONTENT_TYPE, content_type.to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
                query_escape(name)
            ),
        ),
    ]
}

/// `GET /roster/files/{name}`: a reject or differences file of this session, once.
pub async fn download(
    State(state): State<ConsoleState>,
    signed: Signed,
    name: Result<axum::extract::Path<String>, PathRejection>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let gone = || ConsoleError::Refused(t, t.roster().file_gone.to_string());
    let Ok(axum::extract::Path(name)) = name else {
        return Err(ConsoleError::NotFound(t));
    };
    let well_formed = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.contains("..");
    let (kind, format) = if name.ends_with(".rejects.xlsx") {
        ("未导入的行", OutputFormat::Xlsx)
    } else if name.ends_with(".rejects.csv") {
        ("未导入的行", OutputFormat::Csv)
    } else if name.ends_with(".differences.xlsx") {
        ("比对差异", OutputFormat::Xlsx)
    } else if name.ends_with(".differences.csv") {
        ("比对差异", OutputFormat::Csv)
    } else {
        return Err(ConsoleError::NotFound(t));
    };
    if !well_formed || !name.starts_with(&format!("{}-", owner_tag(&signed))) {
        return Err(ConsoleError::NotFound(t));
    }
    let dir = files_dir(&state).map_err(|_| ConsoleError::Unavailable(t))?;
    sweep(&dir);
    let path = dir.join(&name);
    let body = stream_file(&path).await.map_err(|_| gone())?;
    let file_name = format!("{kind}.{}", format.extension());
    Ok((attachment(format, &file_name), body).into_response())
}

// ---- export -----------------------------------------------------------------------------------

#[derive(Debug, Default, serde::Deserialize)]
pub struct ExportQuery {
    purpose: Option<String>,
    format: Option<String>,
}

/// `GET /roster/export?purpose=…&format=xlsx|csv`: the whole roster through `ExportPeople`
/// (audited as `records.export`), Chinese headers, dates as date cells in a workbook.
pub async fn export(
    State(state): State<ConsoleState>,
    signed: Signed,
    ConsoleQuery(query): ConsoleQuery<ExportQuery>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let purpose = query.purpose.unwrap_or_default();
    if let Err(status) = crate::service::require_purpose(&purpose) {
        let text = refusal(t, "purpose", status.message());
        return Ok(bulk_page(signed, Some(("export", text)), None, None));
    }
    let format = match query.format.as_deref() {
        Some("csv") => OutputFormat::Csv,
        _ => OutputFormat::Xlsx,
    };
    let dir = files_dir(&state).map_err(|_| ConsoleError::Unavailable(t))?;
    sweep(&dir);
    let path = dir.join(new_name(
        &signed,
        &format!("export.{}", format.extension()),
    )?);
    let temp = TempFile(path.clone());
    let request = ExportPeopleRequest {
        purpose,
        status: PersonStatus::Unspecified as i32,
    };
    let mut pages = state
        .records
        .export_people(as_operator(&signed.operator, request))
        .await
        .map_err(|status| ConsoleError::from_status(status, t))?
        .into_inner();
    // The workbook is written on a blocking thread as the pages arrive.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<v1::Person>>(2);
    let writer = tokio::task::spawn_blocking(move || {
        let fields: Vec<_> = mpx_proto::person::file_fields().collect();
        let header: Vec<&str> = fields.iter().map(|field| field.header_zh).collect();
        let mut table = TableWriter::create(&path, format, "花名册", &header)?;
        while let Some(people) = receiver.blocking_recv() {
            for person in people {
                let values: Vec<String> = fields.iter().map(|f| f.file_text(&person)).collect();
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
        table.finish()
    });
    while let Some(page) = tokio_stream::StreamExt::next(&mut pages).await {
        let page = page.map_err(|status| ConsoleError::from_status(status, t))?;
        if sender.send(page.people).await.is_err() {
            break;
        }
    }
    drop(sender);
    match writer.await {
        Ok(Ok(_)) => {}
        _ => return Err(ConsoleError::Unavailable(t)),
    }
    let body = stream_file(&temp.0)
        .await
        .map_err(|_| ConsoleError::Unavailable(t))?;
    Ok((
        attachment(format, &format!("花名册.{}", format.extension())),
        body,
    )
        .into_response())
}

// ---- reconcile --------------------------------------------------------------------------------

/// `POST /roster/reconcile` (multipart: csrf, source, purpose, file): the residing people of
/// the roster, read through `ExportPeople` with the purpose (audited), against the extract.
pub async fn reconcile(
    State(state): State<ConsoleState>,
    signed: Signed,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ConsoleError> {
    let t = signed.t;
    let r = t.roster();
    let posted = match read_posted(&state, &signed, "reconcile", multipart, false).await? {
        Ok(posted) => posted,
        Err(Refusal(form, text)) => return Ok(bulk_page(signed, Some((form, text)), None, None)),
    };
    let field = |name: &str| posted.fields.get(name).map_or("", |v| v.trim()).to_string();
    let (source, purpose) = (field("source"), field("purpose"));
    if source.is_empty() || source.chars().count() > 100 || source.chars().any(char::is_control) {
        let text = refusal(t, "source", "source: 1 to 100 characters");
        return Ok(bulk_page(signed, Some(("reconcile", text)), None, None));
    }
    if let Err(status) = crate::service::require_purpose(&purpose) {
        let text = refusal(t, "purpose", status.message());
        return Ok(bulk_page(signed, Some(("reconcile", text)), None, None));
    }
    // Opening verification cases is acting: a viewer may compare, not ask.
    let open_cases = field("open_cases") == "1";
    if open_cases {
        signed.check_may_act()?;
    }
    let Some((upload, file_name, size)) = posted.upload else {
        return Err(ConsoleError::BadForm(t));
    };
    let choice = Choice::of(&posted.fields);
    let reader = match open_upload(r, "reconcile", &upload.0, &file_name, size, choice).await {
        Ok(reader) => reader,
        Err(Refusal(form, text)) => return Ok(bulk_page(signed, Some((form, text)), None, None)),
    };
    let out_format = OutputFormat::answering(reader.format);
    drop(upload);
    let dir = files_dir(&state).map_err(|_| ConsoleError::Unavailable(t))?;
    sweep(&dir);
    let name = new_name(&signed, &format!("differences.{}", out_format.extension()))?;
    let path = dir.join(&name);
    // The comparison runs on a blocking thread (the extract is loaded there, the writer is not
    // `Send`); our people reach it page by page from the audited export.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<v1::Person>>(2);
    let this_county = state.county.to_string();
    let comparison = tokio::task::spawn_blocking(move || {
        let (mut reconciler, _unreadable) = Reconciler::load(reader);
        let mut writer = DifferenceWriter::create(&path, out_format)?;
        let mut written = 0u64;
        let mut failed = None;
        let mut to_ask = Vec::new();
        let mut record = |difference: mpx_proto::reconcile::Difference| {
            if let Err(error) = writer.write(&difference) {
                failed.get_or_insert(error);
            }
            written += 1;
            if open_cases && difference.asks_another_county(&this_county) {
                to_ask.push(difference);
            }
        };
        while let Some(people) = receiver.blocking_recv() {
            for person in people {
                let facts = Facts {
                    name: person.name.clone(),
                    hukou_county: person.hukou_county.clone(),
                    residence_county: person.residence_county.clone(),
                    birth_date: person.birth_date.clone(),
                };
                reconciler.ours(&person.resident_id, &facts, &mut record);
            }
        }
        let summary = reconciler.finish(&mut record);
        if let Some(error) = failed {
            return Err(error);
        }
        writer.finish()?;
        Ok((summary, written, to_ask))
    });
    let request = ExportPeopleRequest {
        purpose: format!("{purpose} (reconcile with {source})"),
        status: PersonStatus::Residing as i32,
    };
    let mut pages = state
        .records
        .export_people(as_operator(&signed.operator, request))
        .await
        .map_err(|status| ConsoleError::from_status(status, t))?
        .into_inner();
    while let Some(page) = tokio_stream::StreamExt::next(&mut pages).await {
        let page = page.map_err(|status| ConsoleError::from_status(status, t))?;
        if sender.send(page.people).await.is_err() {
            break;
        }
    }
    drop(sender);
    let Ok(Ok((summary, written, to_ask))) = comparison.await else {
        let _ = std::fs::remove_file(dir.join(&name));
        return Err(ConsoleError::Unavailable(t));
    };
    let differences = if written > 0 {
        Some(name)
    } else {
        let _ = std::fs::remove_file(dir.join(&name));
        None
    };
    // A verification case to each county the extract names for a person where our roster
    // has another (as `reconcile --open-cases`), through `OpenCase` as the clerk.
    let (mut opened, mut refused, mut first_refusal) = (0u64, 0u64, String::new());
    for difference in &to_ask {
        let request = v1::OpenCaseRequest {
            kind: v1::CaseKind::Verification as i32,
            recipient_county: difference.theirs.clone(),
            priority: v1::CasePriority::Normal as i32,
            resident_id: difference.resident_id.clone(),
            subject_name: String::new(),
            questions: difference.verification_questions(&source),
        };
        match state
            .cases
            .open_case(as_operator(&signed.operator, request))
            .await
        {
            Ok(_) => opened += 1,
            Err(status) => {
                refused += 1;
                if first_refusal.is_empty() {
                    first_refusal = status.message().to_string();
                }
            }
        }
    }
    let view = ReconcileView {
        source,
        summary,
        differences,
        cases_opened: open_cases.then_some(opened),
        cases_refused: refused,
        first_refusal,
    };
    Ok(bulk_page(signed, None, None, Some(view)))
}
