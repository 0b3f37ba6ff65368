//! Workbooks as clerks keep them (.xlsx, .xlsb, .xls, .ods, as saved by Excel, WPS or
//! LibreOffice), read with calamine for `tabular::RowReader`: what a file is, judged by its
//! content (and the one-sentence refusal of what is not a roster: a PDF, an image, a Word file),
//! the sheet and header row (found by the field table's column names below any title rows), and
//! cells as typed (an ID stored as a number is refused, date cells become YYYY-MM-DD).
//!
//! An .xlsx sheet is streamed a row at a time ([`stream`]); the other formats are read whole
//! (that is how calamine reads them). Files above [`MAX_XLSX_BYTES`] and
//! [`MAX_WORKBOOK_BYTES`] are refused before reading.

use calamine::{Data, Range, Reader};

use crate::tabular::{FileError, Format, Mapping, RowError, SourceRow};

mod stream;

/// The largest .xls, .xlsb or .ods read. calamine holds every cell of such a sheet in memory:
/// measured, a 3.9 MB .xlsx of 100 000 rows of eight columns (openpyxl) peaked at 80 MB read
/// whole, about 800 bytes a row. 32 MiB is then roughly 850 000 such rows and 700 MB while it
/// is read (an .xls holds at most 65 536 rows anyway). Larger rosters: save as .xlsx or CSV.
pub const MAX_WORKBOOK_BYTES: u64 = 32 << 20;

/// The largest .xlsx read. It is streamed: the file and its shared strings are in memory, not its
/// cells. Measured (release build, `mpx-datagen roster --rows 1000000 --out r.xlsx`): a
/// 55 MB file of 1 000 000 rows, nine columns, read in 4 s with a 112 MiB peak. 128 MiB covers
/// a full sheet (1 048 576 rows) with room for wider rows, at a few hundred MB.
pub const MAX_XLSX_BYTES: u64 = 128 << 20;

/// The limit for a workbook of this format.
pub fn max_bytes(format: Format) -> u64 {
    if format == Format::Xlsx {
        MAX_XLSX_BYTES
    } else {
        MAX_WORKBOOK_BYTES
    }
}

/// Rows searched for the header, below title rows.
const HEADER_SEARCH_ROWS: usize = 30;

const SAVE_AS: &str = "save the roster as .xlsx or CSV";

/// What the first bytes (or, for ZIP and OLE2 containers, the whole file) say a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Text: CSV or JSON Lines.
    Text,
    /// A ZIP or OLE2 container: read the whole file and [`classify_container`] it.
    Container,
    /// A workbook of this format.
    Workbook(Format),
    /// Not a roster, with the one sentence that says what it looks like.
    Refused(String),
}

fn refused(what: &str, fix: &str) -> Content {
    Content::Refused(format!("this is {what}, not a roster; {fix}"))
}

/// Judges a file by its first bytes (64 KiB is plenty). Never echoes the bytes.
pub fn sniff(head: &[u8]) -> Content {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"PK\x03\x04") || starts(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        return Content::Container;
    }
    if starts(b"%PDF") {
        return refused("a PDF document", SAVE_AS);
    }
    if starts(b"\x89PNG") {
        return refused("a PNG image", SAVE_AS);
    }
    if starts(b"\xFF\xD8\xFF") {
        return refused("a JPEG image (a photo or a scan)", SAVE_AS);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return refused("a GIF image", SAVE_AS);
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return refused("a TIFF image (a scan)", SAVE_AS);
    }
    if starts(b"Rar!") || starts(b"7z\xBC\xAF\x27\x1C") || starts(b"\x1F\x8B") {
        return refused(
            "a compressed archive",
            "unpack it and import the roster inside",
        );
    }
    if starts(b"\xFF\xFE") || starts(b"\xFE\xFF") {
        return refused(
            "UTF-16 text (Excel's \"Unicode text\")",
            "save the roster as .xlsx or as CSV UTF-8",
        );
    }
    if head.contains(&0) {
        return refused("a binary file", SAVE_AS);
    }
    Content::Text
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn utf16(name: &str) -> Vec<u8> {
    name.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// What a ZIP or OLE2 file holds: a workbook of some format, or a refusal naming what it is.
/// Entry and stream names are looked for in the bytes (ZIP names are stored as they are, OLE2
/// directory names as UTF-16), so no archive is unpacked to decide.
pub fn classify_container(bytes: &[u8]) -> Content {
    if bytes.starts_with(b"PK\x03\x04") {
        // An OpenDocument file stores `mimetype` first, uncompressed.
        let head = &bytes[..bytes.len().min(200)];
        if contains(
            head,
            b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet",
        ) {
            return Content::Workbook(Format::Ods);
        }
        if contains(head, b"mimetypeapplication/vnd.oasis.opendocument.text") {
            return refused("an OpenDocument text document (.odt)", SAVE_AS);
        }
        if contains(bytes, b"xl/workbook.bin") {
            return Content::Workbook(Format::Xlsb);
        }
        if contains(bytes, b"xl/workbook.xml") || contains(bytes, b"xl/worksheets/") {
            return Content::Workbook(Format::Xlsx);
        }
        if contains(bytes, b"word/") {
            return refused("a Word document (.docx)", SAVE_AS);
        }
        if contains(bytes, b"ppt/") {
            return refused("a PowerPoint presentation", SAVE_AS);
        }
        return refused(
            "a ZIP archive",
            "unpack it and import the roster inside (.xlsx or CSV)",
        );
    }
    if bytes.starts_with(b"\xD0\xCF\x11\xE0") {
        if contains(bytes, &utf16("EncryptionInfo")) {
            return Content::Refused(
                "this workbook is password-protected; remove the password (File → Info → Protect Workbook) and save it again".into(),
            );
        }
        if contains(bytes, &utf16("Workbook")) || contains(bytes, &utf16("Book")) {
            return Content::Workbook(Format::Xls);
        }
        if contains(bytes, &utf16("WordDocument")) {
            return refused("a Word document (.doc)", SAVE_AS);
        }
        if contains(bytes, &utf16("PowerPoint Document")) {
            return refused("a PowerPoint presentation (.ppt)", SAVE_AS);
        }
        return refused("an old-format Office file without a worksheet", SAVE_AS);
    }
    sniff(bytes)
}

/// A sheet's row: its line number as the spreadsheet shows it (from 1) and its cells from
/// column A, empty cells included.
type Row = (u64, Vec<Data>);

/// A sheet's rows in order; an error ends them (a damaged file), with why.
type Rows = Box<dyn Iterator<Item = Result<Row, String>> + Send>;

/// One sheet of a workbook, read row by row from its header down: from memory for .xls, .xlsb
/// and .ods, streamed for .xlsx.
pub struct Sheet {
    pub name: String,
    rows: Rows,
    /// Field of each column (None: ignored).
    pub columns: Vec<Option<&'static str>>,
    /// The header row's cells as text, trailing empty cells dropped.
    pub header: Vec<String>,
    /// The line last read, and the sheet's last line (for progress).
    line: u64,
    last_line: u64,
    /// Rows skipped because they are a totals row (合计/总计): their line numbers.
    pub totals_rows: Vec<u64>,
}

impl Sheet {
    /// The line last read and the sheet's last line (for progress).
    pub fn progress(&self) -> (u64, u64) {
        (self.line, self.last_line)
    }
}

fn damaged(format: Format, why: impl std::fmt::Display) -> FileError {
    FileError::Header(format!(
        "the {} workbook could not be read ({why}); open it and save it again",
        format.name()
    ))
}

/// Opens the workbook in `bytes` (already classified as `format`) and finds the sheet to read:
/// `sheet` by name or 1-based number, or else the first sheet with a recognisable header.
pub fn open(
    bytes: Vec<u8>,
    format: Format,
    mapping: &Mapping,
    sheet: Option<&str>,
) -> Result<Sheet, FileError> {
    if format == Format::Xlsx {
        return stream::open(bytes, mapping.clone(), sheet.map(str::to_string));
    }
    // calamine is not ours and reads untrusted bytes: a panic in it becomes a refusal.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_sheets(bytes, format, sheet)
    }))
    .map_err(|_| damaged(format, "damaged?"))??;
    let mut search = HeaderSearch::new(sheet.is_some());
    for (name, range) in read {
        let last_line = range.end().map_or(0, |(row, _)| u64::from(row) + 1);
        let mut rows = range_rows(range);
        if let Some((columns, header)) = search
            .find(&name, &mut rows, mapping)
            .map_err(|why| damaged(format, why))?
        {
            return Ok(Sheet {
                name,
                rows,
                columns,
                header,
                line: 0,
                last_line,
                totals_rows: Vec::new(),
            });
        }
    }
    Err(search.failed())
}

/// The rows of a sheet read whole.
fn range_rows(range: Range<Data>) -> Rows {
    let first = range.start().map_or(0, |(row, _)| u64::from(row));
    let column_offset = range.start().map_or(0, |(_, column)| column as usize);
    Box::new((0..range.height()).map(move |index| {
        let mut cells = vec![Data::Empty; column_offset];
        cells.extend(
            (0..range.width())
                .map(|column| range.get((index, column)).cloned().unwrap_or(Data::Empty)),
        );
        Ok((first + index as u64 + 1, cells))
    }))
}

/// The sheets to read, in order: the one chosen by name or number, or all of them.
fn choose_sheets(names: Vec<String>, sheet: Option<&str>) -> Result<Vec<String>, FileError> {
    let Some(choice) = sheet else {
        return Ok(names);
    };
    let choice = choice.trim();
    let by_name = names.iter().find(|n| n.trim() == choice);
    let by_number = choice
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|n| names.get(n));
    match by_name.or(by_number) {
        Some(name) => Ok(vec![name.clone()]),
        None => Err(FileError::Header(format!(
            "--sheet {choice:?}: the workbook's sheets are {} (give a name or a number from 1)",
            names.join(", ")
        ))),
    }
}

/// The sheets to search, in order, as (name, cells), read whole.
fn read_sheets(
    bytes: Vec<u8>,
    format: Format,
    sheet: Option<&str>,
) -> Result<Vec<(String, Range<Data>)>, FileError> {
    let cursor = std::io::Cursor::new(bytes);
    let mut book: calamine::Sheets<_> = match format {
        Format::Xlsx => {
            calamine::Sheets::Xlsx(calamine::Xlsx::new(cursor).map_err(|e| damaged(format, e))?)
        }
        Format::Xlsb => {
            calamine::Sheets::Xlsb(calamine::Xlsb::new(cursor).map_err(|e| damaged(format, e))?)
        }
        Format::Xls => {
            calamine::Sheets::Xls(calamine::Xls::new(cursor).map_err(|e| damaged(format, e))?)
        }
        Format::Ods => {
            calamine::Sheets::Ods(calamine::Ods::new(cursor).map_err(|e| damaged(format, e))?)
        }
        Format::Csv | Format::JsonLines => {
            return Err(FileError::Header("not a workbook format".into()));
        }
    };
    let mut sheets = Vec::new();
    for name in choose_sheets(book.sheet_names(), sheet)? {
        let range = book
            .worksheet_range(&name)
            .map_err(|e| damaged(format, e))?;
        sheets.push((name, range));
    }
    Ok(sheets)
}

/// A header row: the field of each column, and the header's texts.
type Header = (Vec<Option<&'static str>>, Vec<String>);

/// Looks for the header row sheet after sheet, remembering what each sheet began with for the
/// message when none has one.
struct HeaderSearch {
    chosen: bool,
    names: Vec<String>,
    first_texts: Option<(String, Vec<String>)>,
}

impl HeaderSearch {
    fn new(chosen: bool) -> Self {
        Self {
            chosen,
            names: Vec::new(),
            first_texts: None,
        }
    }

    /// Reads `rows` up to and including the header (the first of the first
    /// [`HEADER_SEARCH_ROWS`] rows that hold anything to name a resident ID column): the field
    /// of each column and the header's texts. `None` when the sheet has no header there.
    fn find(
        &mut self,
        name: &str,
        rows: &mut dyn Iterator<Item = Result<Row, String>>,
        mapping: &Mapping,
    ) -> Result<Option<Header>, String> {
        self.names.push(name.to_string());
        let mut searched = 0;
        while searched < HEADER_SEARCH_ROWS {
            let Some(row) = rows.next() else { break };
            let (_, cells) = row?;
            let texts = trim_trailing(cells.iter().map(cell_text).collect());
            if texts.is_empty() {
                continue;
            }
            searched += 1;
            let columns: Vec<Option<&'static str>> = texts
                .iter()
                .map(|t| (!t.is_empty()).then(|| mapping.field_of(t)).flatten())
                .collect();
            if columns.contains(&Some("resident_id")) {
                return Ok(Some((columns, texts)));
            }
            self.first_texts
                .get_or_insert_with(|| (name.to_string(), texts));
        }
        Ok(None)
    }

    fn failed(self) -> FileError {
        FileError::Header(match (self.chosen, self.first_texts) {
            (true, Some((name, texts))) => format!(
                "sheet {name:?} has no resident ID column in its first {HEADER_SEARCH_ROWS} rows (its first row has {texts:?}); name the column 公民身份号码 or resident_id, or map it in a --mapping file"
            ),
            _ => format!(
                "no sheet has a resident ID column in its first {HEADER_SEARCH_ROWS} rows (sheets: {}); name the column 公民身份号码 or resident_id, map it in a --mapping file, or choose the sheet with --sheet",
                self.names.join(", ")
            ),
        })
    }
}

fn trim_trailing(mut texts: Vec<String>) -> Vec<String> {
    while texts.last().is_some_and(String::is_empty) {
        texts.pop();
    }
    texts
}

/// A cell as the text a clerk sees (dates as YYYY-MM-DD, whole numbers without `.0`).
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.trim().to_string(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(when) if when.is_datetime() => {
            let (year, month, day, ..) = when.to_ymd_hms_milli();
            format!("{year:04}-{month:02}-{day:02}")
        }
        Data::DateTime(when) => when.as_f64().to_string(),
        // ODS keeps dates as ISO text: `2026-03-01` or `2026-03-01T00:00:00`.
        Data::DateTimeIso(text) => text.split('T').next().unwrap_or_default().to_string(),
        Data::DurationIso(text) => text.clone(),
        Data::Error(error) => error.to_string(),
    }
}

/// How to fix an ID a spreadsheet keeps as a number.
fn numeric_id_reason(cell: &Data) -> String {
    format!(
        "resident_id: the cell holds the number {}, not text: a spreadsheet keeps only 15 digits of a number, so an 18-digit ID has lost its last digits; format the column as text (设置单元格格式 → 文本) and re-enter the IDs",
        cell_text(cell)
    )
}

/// Whether a row with no ID is a totals row (合计/总计 in a cell).
fn is_totals(texts: &[String]) -> bool {
    texts.iter().any(|t| {
        let squeezed: String = t.chars().filter(|c| !c.is_whitespace()).collect();
        squeezed.contains("合计") || squeezed.contains("总计")
    })
}

impl Iterator for Sheet {
    type Item = Result<SourceRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (line, row) = match self.rows.next()? {
                Ok(row) => row,
                Err(why) => {
                    // A file damaged part-way: say where, and read no further.
                    self.rows = Box::new(std::iter::empty());
                    return Some(Err(RowError {
                        line: self.line + 1,
                        reason: format!(
                            "the workbook could not be read from here on ({why}); open it, save it again and import it again (rows already stored stay unchanged)"
                        ),
                        raw: Vec::new(),
                    }));
                }
            };
            self.line = line;
            let raw = trim_trailing(row.iter().map(cell_text).collect());
            if raw.is_empty() {
                continue;
            }
            let mut values = std::collections::HashMap::new();
            let mut numeric_id = None;
            for ((cell, text), field) in row.iter().zip(&raw).zip(&self.columns) {
                let Some(field) = field else { continue };
                if *field == "resident_id"
                    && matches!(cell, Data::Int(_) | Data::Float(_) | Data::DateTime(_))
                {
                    numeric_id = Some(numeric_id_reason(cell));
                }
                values.insert(*field, text.clone());
            }
            if let Some(reason) = numeric_id {
                return Some(Err(RowError { line, reason, raw }));
            }
            let id_empty = values.get("resident_id").is_none_or(|id| id.is_empty());
            if id_empty && is_totals(&raw) {
                self.totals_rows.push(line);
                continue;
            }
            return Some(Ok(SourceRow { line, values, raw }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tabular::{Encoding, RowReader};

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/sheets")
            .join(name)
    }

    fn read(name: &str, sheet: Option<&str>) -> (RowReader, Vec<Result<SourceRow, RowError>>) {
        // The format given is CSV, as a .xlsx called .csv would be: the content decides.
        let mut reader =
            RowReader::open_sheet(&fixture(name), Format::Csv, None, Mapping::default(), sheet)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        let rows: Vec<_> = reader.by_ref().collect();
        (reader, rows)
    }

    fn refusal(name: &str) -> String {
        RowReader::open(&fixture(name), Format::Csv, None, Mapping::default())
            .err()
            .unwrap_or_else(|| panic!("{name} was read"))
            .to_string()
    }

    fn ok(row: &Result<SourceRow, RowError>) -> &SourceRow {
        row.as_ref().unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn an_xlsx_named_csv_is_read_below_its_title_rows_with_spreadsheet_line_numbers() {
        let (reader, rows) = read("roster.xlsx", None);
        assert_eq!(reader.sheet.as_deref(), Some("花名册"));
        assert_eq!(reader.header[3], "公民身份号码");
        assert_eq!(reader.ignored_columns, ["序号"]);
        let lines: Vec<u64> = rows
            .iter()
            .map(|r| match r {
                Ok(row) => row.line,
                Err(e) => e.line,
            })
            .collect();
        assert_eq!(
            lines,
            [4, 5, 6, 7, 9],
            "blank line 8 and the totals row skipped"
        );
        assert_eq!(reader.totals_rows(), [10]);
        let first = ok(&rows[0]);
        assert_eq!(first.get("arrival_date"), "2026-03-01", "a date cell");
        assert_eq!(first.get("hukou_county"), "621221");
        assert_eq!(first.raw[6], "2026-03-01", "the reject file gets text");
        // The stray apostrophe and spaces are cleaned as in CSV.
        let person = crate::tabular::person_from_row(ok(&rows[1])).unwrap();
        assert_eq!(person.resident_id, "621202198805122248");
        assert_eq!(person.arrival_date, "2025-11-20");
        let numeric = rows[2].as_ref().unwrap_err();
        assert!(numeric.reason.starts_with("resident_id: "), "{numeric:?}");
        assert!(numeric.reason.contains("format the column as text"));
        assert_eq!(numeric.raw[1], "王强", "the original cells are kept");
        let text_date = crate::tabular::person_from_row(ok(&rows[3])).unwrap();
        assert_eq!(text_date.arrival_date, "2024-02-29");
    }

    #[test]
    fn an_xlsx_cut_off_in_transfer_gives_the_rows_before_then_says_where_it_stops() {
        let (_, rows) = read("roster-cut.xlsx", None);
        let lines: Vec<u64> = rows
            .iter()
            .map(|r| match r {
                Ok(row) => row.line,
                Err(e) => e.line,
            })
            .collect();
        // Row 6 may be cut short for all the reader knows: the error is reported at its line,
        // and the rows before it are read.
        assert_eq!(
            lines,
            [4, 5, 6],
            "rows 4 and 5, then the error where the file stops"
        );
        assert!(rows[..2].iter().all(Result::is_ok), "{rows:?}");
        let Err(error) = &rows[2] else {
            panic!("the cut is an error, not the end: {:?}", rows[2])
        };
        assert!(
            error.reason.contains("could not be read from here on")
                && error.reason.contains("save it again"),
            "{}",
            error.reason
        );
    }

    #[test]
    fn dates_in_the_1904_system_are_the_same_days() {
        let (_, rows) = read("roster-1904.xlsx", None);
        assert_eq!(ok(&rows[0]).get("arrival_date"), "2026-03-01");
        assert_eq!(ok(&rows[1]).get("arrival_date"), "2025-11-20");
        assert_eq!(ok(&rows[0]).line, 2);
    }

    #[test]
    fn an_xls_roster_on_its_second_sheet_is_found_or_chosen() {
        let (reader, rows) = read("roster.xls", None);
        assert_eq!(
            reader.sheet.as_deref(),
            Some("花名册"),
            "the notes sheet has no header"
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(ok(&rows[0]).line, 3);
        assert_eq!(
            ok(&rows[0]).get("phone"),
            "13800138001",
            "a number without .0"
        );
        assert_eq!(ok(&rows[1]).get("arrival_date"), "2025-11-20");
        assert!(rows[2].as_ref().unwrap_err().reason.contains("as text"));
        let (by_number, _) = read("roster.xls", Some("2"));
        assert_eq!(by_number.sheet.as_deref(), Some("花名册"));
        let notes = RowReader::open_sheet(
            &fixture("roster.xls"),
            Format::Csv,
            None,
            Mapping::default(),
            Some("填表说明"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(notes.contains("no resident ID column"), "{notes}");
        let missing = RowReader::open_sheet(
            &fixture("roster.xls"),
            Format::Xls,
            None,
            Mapping::default(),
            Some("3"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(missing.contains("填表说明, 花名册"), "{missing}");
    }

    #[test]
    fn an_ods_roster_is_read_with_its_dates() {
        let (_, rows) = read("roster.ods", None);
        assert_eq!(rows.len(), 3);
        assert_eq!(ok(&rows[0]).line, 3);
        assert_eq!(ok(&rows[0]).get("arrival_date"), "2026-03-01");
        assert_eq!(ok(&rows[1]).get("resident_id"), "621202198805122248");
        assert!(rows[2].as_ref().unwrap_err().reason.contains("as text"));
    }

    #[test]
    fn what_is_not_a_roster_is_named_in_one_sentence_never_shown() {
        for (name, what) in [
            ("not-a-roster.pdf", "this is a PDF document, not a roster"),
            ("not-a-roster.png", "this is a PNG image, not a roster"),
            (
                "not-a-roster.docx",
                "this is a Word document (.docx), not a roster",
            ),
        ] {
            let error = refusal(name);
            assert!(error.contains(what), "{error}");
            assert!(
                error.ends_with("save the roster as .xlsx or CSV"),
                "{error}"
            );
            assert!(!error.contains("PK") && !error.contains("%PDF") && !error.contains("PNG\\"));
        }
        let mut doc = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
        doc.extend(utf16("WordDocument"));
        assert_eq!(
            classify_container(&doc),
            Content::Refused(
                "this is a Word document (.doc), not a roster; save the roster as .xlsx or CSV"
                    .into()
            )
        );
        let mut xls = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
        xls.extend(utf16("Workbook"));
        assert_eq!(classify_container(&xls), Content::Workbook(Format::Xls));
        assert!(matches!(sniff(b"\xFF\xD8\xFF\xE0"), Content::Refused(s) if s.contains("JPEG")));
        assert!(matches!(sniff(b"GIF89a"), Content::Refused(s) if s.contains("GIF")));
        assert!(matches!(sniff(b"a,b\0c"), Content::Refused(s) if s.contains("binary")));
        assert_eq!(sniff("公民身份号码,姓名\n".as_bytes()), Content::Text);
        // A damaged workbook is refused, not a panic.
        let mut broken = b"PK\x03\x04".to_vec();
        broken.extend(b"xl/workbook.xml garbage");
        let error = RowReader::from_workbook(broken, Format::Xlsx, Mapping::default(), None, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("could not be read"), "{error}");
    }

    #[test]
    fn format_names_and_a_text_file_given_as_a_workbook() {
        assert_eq!(Format::parse("XLSX"), Ok(Format::Xlsx));
        assert_eq!(Format::parse("ods"), Ok(Format::Ods));
        assert_eq!(Format::parse("et"), Ok(Format::Xls));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.xlsx");
        std::fs::write(&path, "公民身份号码\n621221199003071235\n").unwrap();
        let error = RowReader::open(
            &path,
            Format::Xlsx,
            Some(Encoding::Utf8),
            Mapping::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("the file is text, not a workbook"),
            "{error}"
        );
    }
}
