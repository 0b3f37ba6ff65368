//! Roster files: reading CSV (UTF-8 or GB18030, what Chinese spreadsheets export) and JSON Lines
//! with Chinese or English column names, normalising the forms spreadsheets produce (dates like
//! `2026/3/1`, sex as 男/女), and writing reject files. Used by `exchange-node records import`,
//! `reconcile` and `registry reconcile`.
//!
//! Reading streams: one row in memory at a time, whatever the file's size.

pub mod ahead;
pub mod output;
pub mod workbook;

pub use output::{Cell, OutputFormat, TableWriter};

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The Chinese column name written in exports with `--header zh` (the field table's).
pub fn chinese_header(field: &str) -> &'static str {
    crate::person::field(field).map_or("", |field| field.header_zh)
}

/// The names of the fields a roster file may carry, for messages.
fn file_field_names() -> String {
    crate::person::file_fields()
        .map(|field| field.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A problem with a whole file (not one row).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Header(String),
    #[error("mapping file {path}: {reason}")]
    Mapping { path: String, reason: String },
}

/// Text encodings a roster file can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Gb18030,
}

impl Encoding {
    /// `utf-8`, `gb18030` (GBK and GB2312 files are GB18030 too), or `auto`.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(None),
            "utf-8" | "utf8" => Ok(Some(Self::Utf8)),
            "gb18030" | "gbk" | "gb2312" => Ok(Some(Self::Gb18030)),
            other => Err(format!("{other:?}: use utf-8, gb18030 or auto")),
        }
    }

    /// UTF-8 when the sample is valid UTF-8 (a character cut at the end of the sample is fine),
    /// else GB18030.
    pub fn sniff(sample: &[u8]) -> Self {
        match std::str::from_utf8(sample) {
            Ok(_) => Self::Utf8,
            Err(error) if error.error_len().is_none() => Self::Utf8,
            Err(_) => Self::Gb18030,
        }
    }
}

/// File formats. Workbooks are recognised by their content whatever the file is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
    /// Excel 2007 and later, WPS (.xlsx, .xlsm).
    Xlsx,
    /// Excel binary workbook (.xlsb).
    Xlsb,
    /// Excel 97–2003, WPS .et (.xls).
    Xls,
    /// OpenDocument spreadsheet (LibreOffice, .ods).
    Ods,
}

impl Format {
    /// `csv`, `jsonl`, `xlsx`, `xlsb`, `xls` or `ods`; `None` means "from the content, then the
    /// file name".
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "jsonl" | "ndjson" | "json" => Ok(Self::JsonLines),
            "xlsx" | "xlsm" => Ok(Self::Xlsx),
            "xlsb" => Ok(Self::Xlsb),
            "xls" | "et" => Ok(Self::Xls),
            "ods" => Ok(Self::Ods),
            other => Err(format!("{other:?}: use csv, jsonl, xlsx, xlsb, xls or ods")),
        }
    }

    /// The usual file extension, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::JsonLines => "jsonl",
            Self::Xlsx => "xlsx",
            Self::Xlsb => "xlsb",
            Self::Xls => "xls",
            Self::Ods => "ods",
        }
    }

    pub fn is_workbook(self) -> bool {
        matches!(self, Self::Xlsx | Self::Xlsb | Self::Xls | Self::Ods)
    }

    /// `.jsonl`, `.ndjson` and `.json` are JSON Lines; anything else CSV.
    pub fn from_path(path: &Path) -> Self {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson" | "json") => Self::JsonLines,
            _ => Self::Csv,
        }
    }
}

/// Which source column feeds which field, from a mapping file (TOML):
///
/// ```toml
/// [columns]
/// resident_id = "证件号码"
/// residence_address = "详细地址"
/// ```
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// field → column name in the file.
    pub columns: HashMap<String, String>,
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            columns: HashMap<String, String>,
        }
        let file: File = toml::from_str(&text).map_err(|e| FileError::Mapping {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        for field in file.columns.keys() {
            if !crate::person::file_fields().any(|known| known.name == field.as_str()) {
                return Err(FileError::Mapping {
                    path: path.display().to_string(),
                    reason: format!("unknown field {field:?}; fields are {}", file_field_names()),
                });
            }
        }
        Ok(Self {
            columns: file.columns,
        })
    }

    /// The field a column name feeds, if any.
    pub(crate) fn field_of(&self, column: &str) -> Option<&'static str> {
        let column = column.trim().trim_start_matches('\u{feff}');
        if let Some((field, _)) = self.columns.iter().find(|(_, name)| name.trim() == column)
            && let Some(known) =
                crate::person::file_fields().find(|known| known.name == field.as_str())
        {
            return Some(known.name);
        }
        crate::person::file_fields()
            .find(|known| {
                !self.columns.contains_key(known.name)
                    && known.columns.iter().any(|a| a.eq_ignore_ascii_case(column))
            })
            .map(|known| known.name)
    }
}

/// One row as read: its line number, the values by field, and the original record (for the
/// reject file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceRow {
    pub line: u64,
    pub values: HashMap<&'static str, String>,
    pub raw: Vec<String>,
}

impl SourceRow {
    pub fn get(&self, field: &str) -> &str {
        self.values.get(field).map(String::as_str).unwrap_or("")
    }
}

/// A row that could not be read or normalised, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
    pub raw: Vec<String>,
}

/// Counts the bytes taken from the inner reader (progress by file position).
pub struct Counting<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

enum Inner {
    Csv(csv::StringRecordsIntoIter<Box<dyn Read + Send>>),
    Json(std::io::Lines<BufReader<Box<dyn Read + Send>>>),
    Sheet(Box<workbook::Sheet>),
}

/// Reads a roster file row by row.
pub struct RowReader {
    inner: Inner,
    /// For CSV: the field of each column (None: ignored).
    columns: Vec<Option<&'static str>>,
    /// CSV or workbook header as in the file.
    pub header: Vec<String>,
    /// The workbook sheet read, if the file is a workbook.
    pub sheet: Option<String>,
    /// What the file was read as (a workbook's kind is judged by its content).
    pub format: Format,
    /// Columns present in the file that map to no field.
    pub ignored_columns: Vec<String>,
    pub encoding: Encoding,
    mapping: Mapping,
    line: u64,
    bytes_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RowReader {
    /// Opens `path` (a workbook's first sheet with a header). `encoding: None` sniffs it from the
    /// first 64 KiB.
    pub fn open(
        path: &Path,
        format: Format,
        encoding: Option<Encoding>,
        mapping: Mapping,
    ) -> Result<Self, FileError> {
        Self::open_sheet(path, format, encoding, mapping, None)
    }

    /// Opens `path`, judged by its content: a workbook (whatever `format` says) is read from
    /// `sheet` (a name or a number from 1; default: the first sheet with a header), a PDF, an
    /// image or a Word file is refused in one sentence, and text is read as `format`.
    pub fn open_sheet(
        path: &Path,
        format: Format,
        encoding: Option<Encoding>,
        mapping: Mapping,
        sheet: Option<&str>,
    ) -> Result<Self, FileError> {
        use workbook::Content;
        let name = path.display().to_string();
        let io = |source| FileError::Io {
            path: name.clone(),
            source,
        };
        let refuse = |sentence: String| FileError::Header(format!("{name}: {sentence}"));
        let mut file = BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(io)?);
        let head = file.fill_buf().map_err(io)?;
        let content = match workbook::sniff(head) {
            Content::Container => {
                let size = std::fs::metadata(path).map_err(io)?.len();
                let too_big = |format: Format| {
                    refuse(format!(
                        "the workbook is {} MiB; the limit for .{} is {} MiB: split it into several files or save it as CSV (read as a stream, any size)",
                        size >> 20,
                        format.name(),
                        workbook::max_bytes(format) >> 20
                    ))
                };
                if size > workbook::MAX_XLSX_BYTES {
                    return Err(too_big(Format::Xlsx));
                }
                let mut bytes = Vec::with_capacity(size as usize);
                file.read_to_end(&mut bytes).map_err(io)?;
                match workbook::classify_container(&bytes) {
                    Content::Workbook(kind) if size > workbook::max_bytes(kind) => {
                        return Err(too_big(kind));
                    }
                    Content::Workbook(kind) => {
                        return Self::from_workbook(bytes, kind, mapping, sheet, size);
                    }
                    other => other,
                }
            }
            other => other,
        };
        if let Content::Refused(sentence) = content {
            return Err(refuse(sentence));
        }
        if format.is_workbook() {
            return Err(refuse(format!(
                "--format {} but the file is text, not a workbook; leave out --format, or give csv or jsonl",
                format.name()
            )));
        }
        let encoding = match encoding {
            Some(encoding) => encoding,
            None => Encoding::sniff(file.fill_buf().map_err(io)?),
        };
        Self::from_reader(Box::new(file), format, encoding, mapping)
    }

    /// Reads a workbook already in memory (`size`: its bytes, for progress).
    pub fn from_workbook(
        bytes: Vec<u8>,
        format: Format,
        mapping: Mapping,
        sheet: Option<&str>,
        size: u64,
    ) -> Result<Self, FileError> {
        let sheet = workbook::open(bytes, format, &mapping, sheet)?;
        let ignored_columns = sheet
            .header
            .iter()
            .zip(&sheet.columns)
            .filter(|(name, field)| field.is_none() && !name.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        Ok(Self {
            header: sheet.header.clone(),
            sheet: Some(sheet.name.clone()),
            format,
            columns: sheet.columns.clone(),
            inner: Inner::Sheet(Box::new(sheet)),
            ignored_columns,
            encoding: Encoding::Utf8,
            mapping,
            line: 0,
            bytes_read: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(size)),
        })
    }

    /// Workbook rows skipped as totals rows (合计/总计 and no ID): their line numbers.
    pub fn totals_rows(&self) -> &[u64] {
        match &self.inner {
            Inner::Sheet(sheet) => &sheet.totals_rows,
            _ => &[],
        }
    }

    /// Reads from any byte source (tests, stdin).
    pub fn from_reader(
        reader: Box<dyn Read + Send>,
        format: Format,
        encoding: Encoding,
        mapping: Mapping,
    ) -> Result<Self, FileError> {
        if format.is_workbook() {
            let mut bytes = Vec::new();
            reader
                .take(workbook::max_bytes(format) + 1)
                .read_to_end(&mut bytes)
                .map_err(|source| FileError::Io {
                    path: "input".into(),
                    source,
                })?;
            if bytes.len() as u64 > workbook::max_bytes(format) {
                return Err(FileError::Header(format!(
                    "the workbook is over {} MiB; split it or save it as CSV",
                    workbook::max_bytes(format) >> 20
                )));
            }
            let size = bytes.len() as u64;
            return Self::from_workbook(bytes, format, mapping, None, size);
        }
        let bytes_read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counting = Counting {
            inner: reader,
            count: bytes_read.clone(),
        };
        let decoded: Box<dyn Read + Send> = match encoding {
            // Strips a UTF-8 BOM; invalid sequences become U+FFFD (the row is then rejected).
            Encoding::Utf8 => Box::new(
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(encoding_rs::UTF_8))
                    .build(counting),
            ),
            Encoding::Gb18030 => Box::new(
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(encoding_rs::GB18030))
                    .build(counting),
            ),
        };
        let mut reader = Self {
            inner: Inner::Json(
                BufReader::new(Box::new(std::io::empty()) as Box<dyn Read + Send>).lines(),
            ),
            columns: Vec::new(),
            header: Vec::new(),
            sheet: None,
            format,
            ignored_columns: Vec::new(),
            encoding,
            mapping,
            line: 0,
            bytes_read,
        };
        match format {
            Format::JsonLines => {
                reader.inner = Inner::Json(BufReader::with_capacity(1 << 16, decoded).lines());
            }
            // Taken above, before any decoding.
            Format::Xlsx | Format::Xlsb | Format::Xls | Format::Ods => {}
            Format::Csv => {
                let mut csv = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .trim(csv::Trim::All)
                    .from_reader(decoded);
                let header = csv
                    .headers()
                    .map_err(|e| FileError::Header(format!("cannot read the header row: {e}")))?
                    .clone();
                reader.header = header.iter().map(str::to_string).collect();
                reader.columns = header
                    .iter()
                    .map(|name| reader.mapping.field_of(name))
                    .collect();
                reader.ignored_columns = header
                    .iter()
                    .zip(&reader.columns)
                    .filter(|(_, field)| field.is_none())
                    .map(|(name, _)| name.to_string())
                    .collect();
                if !reader.columns.contains(&Some("resident_id")) {
                    return Err(FileError::Header(format!(
                        "no resident ID column: the header has {:?}; name it 公民身份号码 or resident_id, or map it in a --mapping file",
                        reader.header
                    )));
                }
                reader.line = 1;
                reader.inner = Inner::Csv(csv.into_records());
            }
        }
        Ok(reader)
    }

    /// Bytes of the file read so far (for progress; a workbook by the rows read).
    pub fn bytes_read(&self) -> u64 {
        let bytes = self.bytes_read.load(std::sync::atomic::Ordering::Relaxed);
        match &self.inner {
            Inner::Sheet(sheet) => {
                let (done, all) = sheet.progress();
                (bytes as f64 * done as f64 / all.max(1) as f64) as u64
            }
            _ => bytes,
        }
    }
}

impl Iterator for RowReader {
    type Item = Result<SourceRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            // A loop, not a recursive call, past blank rows: a file can hold any number of them.
            Inner::Csv(records) => loop {
                let record = records.next()?;
                self.line += 1;
                let record = match record {
                    Ok(record) => record,
                    Err(error) => {
                        if let Some(position) = error.position() {
                            self.line = position.line();
                        }
                        return Some(Err(RowError {
                            line: self.line,
                            reason: format!("unreadable CSV: {error}"),
                            raw: Vec::new(),
                        }));
                    }
                };
                if let Some(position) = record.position() {
                    self.line = position.line();
                }
                let raw: Vec<String> = record.iter().map(str::to_string).collect();
                if raw.iter().all(String::is_empty) {
                    continue;
                }
                let mut values = HashMap::new();
                for (value, field) in record.iter().zip(&self.columns) {
                    if let Some(field) = field {
                        values.insert(*field, value.to_string());
                    }
                }
                return Some(Ok(SourceRow {
                    line: self.line,
                    values,
                    raw,
                }));
            },
            Inner::Sheet(sheet) => sheet.next(),
            Inner::Json(lines) => loop {
                let line = lines.next()?;
                self.line += 1;
                let text = match line {
                    Ok(text) => text,
                    Err(error) => {
                        return Some(Err(RowError {
                            line: self.line,
                            reason: format!("unreadable line: {error}"),
                            raw: Vec::new(),
                        }));
                    }
                };
                if text.trim().is_empty() {
                    continue;
                }
                let raw = vec![text.clone()];
                let object: serde_json::Map<String, serde_json::Value> =
                    match serde_json::from_str(&text) {
                        Ok(object) => object,
                        Err(error) => {
                            return Some(Err(RowError {
                                line: self.line,
                                reason: format!("not a JSON object: {error}"),
                                raw,
                            }));
                        }
                    };
                let mut values = HashMap::new();
                for (key, value) in &object {
                    let Some(field) = self.mapping.field_of(key) else {
                        continue;
                    };
                    let value = match value {
                        serde_json::Value::String(text) => text.trim().to_string(),
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    values.insert(field, value);
                }
                return Some(Ok(SourceRow {
                    line: self.line,
                    values,
                    raw,
                }));
            },
        }
    }
}

/// `2026-03-01`, `2026/3/1`, `2026.3.1`, `20260301` and `2026年3月1日` → `2026-03-01`.
pub fn normalize_date(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(String::new());
    }
    let digits_only = text.chars().all(|c| c.is_ascii_digit());
    let parts: Vec<&str> = if digits_only && text.len() == 8 {
        vec![&text[..4], &text[4..6], &text[6..]]
    } else {
        text.trim_end_matches('日')
            .split(['-', '/', '.', '年', '月'])
            .collect()
    };
    let bad = || format!("{text:?}: expected a date like 2026-03-01 (or 2026/3/1, 20260301)");
    if parts.len() != 3 {
        return Err(bad());
    }
    let year: i16 = parts[0].parse().map_err(|_| bad())?;
    let month: i8 = parts[1].parse().map_err(|_| bad())?;
    let day: i8 = parts[2].parse().map_err(|_| bad())?;
    let date =
        jiff::civil::Date::new(year, month, day).map_err(|_| format!("{text:?}: no such day"))?;
    Ok(date.to_string())
}

/// 男/女, M/F, male/female, 1/2 → `SEX_MALE` / `SEX_FEMALE` as the proto enum; empty → unspecified.
pub fn normalize_sex(text: &str) -> Result<crate::v1::Sex, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" => Ok(crate::v1::Sex::Unspecified),
        "男" | "m" | "male" | "1" | "sex_male" => Ok(crate::v1::Sex::Male),
        "女" | "f" | "female" | "2" | "sex_female" => Ok(crate::v1::Sex::Female),
        other => Err(format!("{other:?}: expected 男 or 女 (or M/F)")),
    }
}

/// A resident ID cell: spaces and a leading apostrophe (typed to keep a spreadsheet from
/// turning it into a number) removed, `x` upper-cased; a number that a spreadsheet turned into
/// scientific notation is refused with how to fix it.
pub fn normalize_resident_id(text: &str) -> Result<String, String> {
    let id: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .trim_start_matches(['\'', '‘', '’', '`'])
        .to_uppercase();
    if id.contains('E') && id.contains('.') || id.contains("E+") {
        return Err(format!(
            "{text:?} looks like a number the spreadsheet rounded (scientific notation); format the ID column as text and export again"
        ));
    }
    Ok(id)
}

/// Builds the person a row describes (values normalised; the full validation is the node's).
/// What the record says about itself (status, flag, update time) is never read from a file.
pub fn person_from_row(row: &SourceRow) -> Result<crate::v1::Person, String> {
    use crate::person::{Form, Stored};
    let resident_id =
        normalize_resident_id(row.get("resident_id")).map_err(|e| format!("resident_id: {e}"))?;
    if resident_id.is_empty() {
        return Err("resident_id: required".into());
    }
    for (name, value) in &row.values {
        if value.contains('\u{fffd}') {
            return Err(format!(
                "{name}: not valid text in the file's encoding (is it GB18030? pass --encoding gb18030)"
            ));
        }
    }
    let mut person = crate::v1::Person::default();
    for field in crate::person::file_fields() {
        let raw = row.get(field.name);
        let value = match field.form {
            Form::ResidentId => resident_id.clone(),
            Form::Text => raw.to_string(),
            Form::Date => normalize_date(raw).map_err(|e| format!("{}: {e}", field.name))?,
            Form::Sex => {
                person.sex = normalize_sex(raw).map_err(|e| format!("sex: {e}"))? as i32;
                continue;
            }
            Form::Status | Form::Flag | Form::Instant => continue,
        };
        field.set(&mut person, Stored::Text(value));
    }
    Ok(person)
}

/// Writes rejected rows (created 0600: rows hold personal data).
pub struct RejectWriter {
    table: TableWriter,
    pub count: u64,
}

impl RejectWriter {
    /// The rows a file could not give, with the file's own columns after the line and reason:
    /// CSV (`line`, `reason`, …) or, for a workbook, a workbook (`行号`, `原因`, …) that the clerk
    /// can correct and import again (those two columns are not roster columns, so they are
    /// ignored then).
    pub fn create(
        path: &Path,
        source_header: &[String],
        format: OutputFormat,
    ) -> Result<Self, FileError> {
        let (line, reason) = match format {
            OutputFormat::Csv => ("line", "reason"),
            OutputFormat::Xlsx => ("行号", "原因"),
        };
        let mut header = vec![line, reason];
        if source_header.is_empty() {
            header.push("record");
        } else {
            header.extend(source_header.iter().map(String::as_str));
        }
        let table = TableWriter::create(path, format, "未导入的行", &header)?;
        Ok(Self { table, count: 0 })
    }

    pub fn write(&mut self, line: u64, reason: &str, raw: &[String]) -> Result<(), FileError> {
        let line = line.to_string();
        let mut record = vec![Cell::Text(&line), Cell::Text(reason)];
        record.extend(raw.iter().map(|value| Cell::Text(value)));
        self.table.row(&record)?;
        self.count += 1;
        Ok(())
    }

    pub fn finish(self) -> Result<u64, FileError> {
        self.table.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(bytes: &[u8], format: Format, mapping: Mapping) -> Vec<Result<SourceRow, RowError>> {
        let encoding = Encoding::sniff(bytes);
        RowReader::from_reader(
            Box::new(std::io::Cursor::new(bytes.to_vec())),
            format,
            encoding,
            mapping,
        )
        .unwrap()
        .collect()
    }

    /// Found with the tabular fuzz target (fuzz/regressions/tabular/blank-rows): each blank CSV row was skipped by a
    /// recursive call, so a file with many of them overflowed the stack.
    #[test]
    fn many_blank_rows_do_not_overflow_the_stack() {
        let mut file = b"resident_id,name\n".to_vec();
        for _ in 0..200_000 {
            file.extend_from_slice(b",\n");
        }
        file.extend_from_slice(b"11010519491231002X,x\n");
        let read = rows(&file, Format::Csv, Mapping::default());
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].as_ref().unwrap().line, 200_002);
    }

    #[test]
    fn chinese_headers_in_gb18030_are_read_like_utf8() {
        let text = "公民身份号码,姓名,性别,户籍地代码,现居住地址,来本地日期,其他\n621221199003071235,张三,男,621221,城关镇,2026/3/1,x\n";
        let (gb, _, _) = encoding_rs::GB18030.encode(text);
        assert_eq!(Encoding::sniff(&gb), Encoding::Gb18030);
        assert_eq!(Encoding::sniff(text.as_bytes()), Encoding::Utf8);
        for bytes in [gb.to_vec(), text.as_bytes().to_vec()] {
            let read = rows(&bytes, Format::Csv, Mapping::default());
            let row = read[0].as_ref().unwrap();
            assert_eq!(row.line, 2);
            assert_eq!(row.get("name"), "张三");
            let person = person_from_row(row).unwrap();
            assert_eq!(person.arrival_date, "2026-03-01");
            assert_eq!(person.sex, crate::v1::Sex::Male as i32);
            assert_eq!(person.residence_address, "城关镇");
        }
    }

    #[test]
    fn a_mapping_file_renames_columns_and_unknown_columns_are_listed() {
        let mut mapping = Mapping::default();
        mapping.columns.insert("resident_id".into(), "证件".into());
        let text = "证件,姓名,杂项\n621221199003071235,李四,1\n";
        let reader = RowReader::from_reader(
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            Format::Csv,
            Encoding::Utf8,
            mapping,
        )
        .unwrap();
        assert_eq!(reader.ignored_columns, ["杂项"]);
        let read: Vec<_> = reader.collect();
        assert_eq!(
            read[0].as_ref().unwrap().get("resident_id"),
            "621221199003071235"
        );
    }

    #[test]
    fn a_file_without_an_id_column_is_refused_with_the_fix() {
        let error = RowReader::from_reader(
            Box::new(std::io::Cursor::new(b"name\nx\n".to_vec())),
            Format::Csv,
            Encoding::Utf8,
            Mapping::default(),
        )
        .err()
        .unwrap();
        assert!(error.to_string().contains("公民身份号码"), "{error}");
    }

    #[test]
    fn json_lines_rows_and_bad_lines() {
        let text = "{\"resident_id\":\"621221199003071235\",\"姓名\":\"王五\"}\n\nnot json\n";
        let read = rows(text.as_bytes(), Format::JsonLines, Mapping::default());
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].as_ref().unwrap().get("name"), "王五");
        let error = read[1].as_ref().unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.reason.contains("not a JSON object"));
    }

    #[test]
    fn spreadsheet_forms_are_normalised_or_refused_with_a_reason() {
        assert_eq!(normalize_date("2026/3/1").unwrap(), "2026-03-01");
        assert_eq!(normalize_date("20260301").unwrap(), "2026-03-01");
        assert_eq!(normalize_date("2026年3月1日").unwrap(), "2026-03-01");
        assert!(
            normalize_date("2026-02-30")
                .unwrap_err()
                .contains("no such day")
        );
        assert!(normalize_date("March").is_err());
        assert!(
            normalize_resident_id("6.21221E+17")
                .unwrap_err()
                .contains("as text")
        );
        assert_eq!(
            normalize_resident_id(" 62122119900307123x ").unwrap(),
            "62122119900307123X"
        );
        assert!(normalize_sex("未知").is_err());
    }

    #[test]
    fn invalid_utf8_is_refused_in_the_row_not_silently_replaced() {
        let mut bytes = b"resident_id,name\n621221199003071235,".to_vec();
        bytes.extend([0xff, 0xfe]);
        bytes.push(b'\n');
        let read = RowReader::from_reader(
            Box::new(std::io::Cursor::new(bytes)),
            Format::Csv,
            Encoding::Utf8,
            Mapping::default(),
        )
        .unwrap()
        .collect::<Vec<_>>();
        let error = person_from_row(read[0].as_ref().unwrap()).unwrap_err();
        assert!(error.contains("--encoding gb18030"), "{error}");
    }
}
