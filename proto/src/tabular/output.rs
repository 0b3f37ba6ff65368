//! Tables written for people to open: CSV (UTF-8 with a BOM, so Excel and WPS show the Chinese)
//! or an Excel workbook (.xlsx, which WPS and LibreOffice open too). Used for roster exports,
//! reject files, reconciliation differences and the registry's reports.
//!
//! A workbook is written the way a clerk would lay it out by hand: a bold header row that stays
//! in view (frozen) with a filter on it, columns as wide as their content, text columns stored
//! as text — so a resident ID keeps its 18 digits and a clerk who types a new one into the
//! column does not see it turned into 6.21221E+17 — dates as dates and counts as numbers.
//! Rows are flushed to a temporary file beside the output as they come (rust_xlsxwriter's
//! constant-memory mode), so a million rows cost no more memory than ten; a sheet holds at most
//! 1 048 575 rows under its header, so longer tables go on to a second sheet, "名称 (2)".
//!
//! Every file is created 0600 (it holds personal data).

use std::io::Write;
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, FormatAlign, Workbook, XlsxError};

use super::FileError;

/// What a table is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Xlsx,
}

impl OutputFormat {
    /// `csv` or `xlsx`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "xlsx" | "excel" => Ok(Self::Xlsx),
            other => Err(format!("{other:?}: use csv or xlsx")),
        }
    }

    /// `.xlsx` files are workbooks, anything else CSV.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(extension) if extension.eq_ignore_ascii_case("xlsx") => Self::Xlsx,
            _ => Self::Csv,
        }
    }

    /// What answers a file read as `input`: a workbook for a workbook, else CSV — so a clerk
    /// gets back the kind of file they gave.
    pub fn answering(input: super::Format) -> Self {
        if input.is_workbook() {
            Self::Xlsx
        } else {
            Self::Csv
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }
}

/// `FILE.SUFFIX.EXTENSION` beside `file` (the default name of a reject or differences file).
pub fn beside(file: &Path, suffix: &str, format: OutputFormat) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(format!(".{suffix}.{}", format.extension()));
    PathBuf::from(name)
}

/// One cell of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Stored as text whatever it looks like (IDs, codes, names).
    Text(&'a str),
    /// A count or a rate: a number in a workbook, so it sorts and sums.
    Number(f64),
    /// `YYYY-MM-DD` text: a date cell in a workbook when it is one, else text.
    Date(&'a str),
}

impl Cell<'_> {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Text(text) | Self::Date(text) => std::borrow::Cow::Borrowed(text),
            Self::Number(number) => std::borrow::Cow::Owned(number.to_string()),
        }
    }
}

/// The largest number of data rows on one sheet (Excel's 1 048 576 rows, less the header).
pub const ROWS_PER_SHEET: u32 = 1_048_575;

/// Creates `path` for writing, 0600, truncating what was there.
pub fn create_private(path: &Path) -> Result<std::fs::File, FileError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|source| FileError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Writes one table, row by row, as CSV or as a workbook.
pub struct TableWriter {
    path: String,
    inner: Inner,
    rows: u64,
}

enum Inner {
    Csv(Box<csv::Writer<Box<dyn Write + Send>>>),
    Xlsx(Box<XlsxTable>),
}

impl TableWriter {
    /// Creates `path` (0600) as `format`. `sheet` names the workbook's sheet (ignored for CSV).
    pub fn create(
        path: &Path,
        format: OutputFormat,
        sheet: &str,
        header: &[&str],
    ) -> Result<Self, FileError> {
        let file = create_private(path)?;
        let name = path.display().to_string();
        match format {
            OutputFormat::Csv => {
                Self::csv(Box::new(std::io::BufWriter::new(file)), &name, header, true)
            }
            OutputFormat::Xlsx => {
                let directory = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let table = XlsxTable::new(file, directory, sheet, header)
                    .map_err(|error| xlsx_error(&name, error))?;
                Ok(Self {
                    path: name,
                    inner: Inner::Xlsx(Box::new(table)),
                    rows: 0,
                })
            }
        }
    }

    /// CSV to any writer, such as standard output; `bom`: begin with a byte-order mark (so
    /// Excel and WPS read UTF-8; leave it out for scripts). `name` is for messages.
    pub fn csv(
        mut out: Box<dyn Write + Send>,
        name: &str,
        header: &[&str],
        bom: bool,
    ) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: name.to_string(),
            source,
        };
        if bom {
            out.write_all("\u{feff}".as_bytes()).map_err(io)?;
        }
        let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(out);
        writer
            .write_record(header)
            .map_err(|error| io(std::io::Error::other(error)))?;
        Ok(Self {
            path: name.to_string(),
            inner: Inner::Csv(Box::new(writer)),
            rows: 0,
        })
    }

    /// Appends a row. Rows may be shorter or longer than the header.
    pub fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), FileError> {
        match &mut self.inner {
            Inner::Csv(writer) => writer
                .write_record(cells.iter().map(|cell| cell.text().into_owned()))
                .map_err(|error| FileError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(error),
                })?,
            Inner::Xlsx(table) => table
                .row(cells)
                .map_err(|error| xlsx_error(&self.path, error))?,
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends a row of text cells.
    pub fn text_row<S: AsRef<str>>(&mut self, cells: &[S]) -> Result<(), FileError> {
        let cells: Vec<Cell<'_>> = cells.iter().map(|c| Cell::Text(c.as_ref())).collect();
        self.row(&cells)
    }

    /// Starts another table: in a workbook, on a sheet of its own named `sheet`; in CSV, after
    /// a blank line. Rows written next belong to it.
    pub fn next_table(&mut self, sheet: &str, header: &[&str]) -> Result<(), FileError> {
        match &mut self.inner {
            Inner::Csv(writer) => {
                let blank: [&str; 0] = [];
                writer
                    .write_record(blank)
                    .and_then(|()| writer.write_record(header))
                    .map_err(|error| FileError::Io {
                        path: self.path.clone(),
                        source: std::io::Error::other(error),
                    })
            }
            Inner::Xlsx(table) => table
                .next_table(sheet, header)
                .map_err(|error| xlsx_error(&self.path, error)),
        }
    }

    /// Rows written so far (not counting the header).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes out what is buffered; returns the number of rows.
    pub fn finish(self) -> Result<u64, FileError> {
        let path = self.path;
        match self.inner {
            Inner::Csv(mut writer) => writer.flush().map_err(|source| FileError::Io {
                path: path.clone(),
                source,
            })?,
            Inner::Xlsx(table) => table.finish().map_err(|error| xlsx_error(&path, error))?,
        }
        Ok(self.rows)
    }
}

fn xlsx_error(path: &str, error: XlsxError) -> FileError {
    let source = match error {
        XlsxError::IoError(error) => error,
        other => std::io::Error::other(format!("writing the workbook: {other}")),
    };
    FileError::Io {
        path: path.to_string(),
        source,
    }
}

/// A workbook being written in constant memory.
struct XlsxTable {
    workbook: Workbook,
    file: std::fs::File,
    sheet_name: String,
    header: Vec<String>,
    /// Sheets so far; the last one is being written.
    sheets: usize,
    /// Sheets so far of the current table (a long table goes on to "名称 (2)").
    continued: usize,
    /// The next row on the current sheet.
    row: u32,
    /// Data rows a sheet takes before the next one starts ([`ROWS_PER_SHEET`]; less in tests).
    rows_per_sheet: u32,
    /// Widest content of each column, in display columns (a Chinese character counts two).
    widths: Vec<usize>,
    header_format: CellFormat,
    text_format: CellFormat,
    date_format: CellFormat,
}

impl XlsxTable {
    fn new(
        file: std::fs::File,
        temporary: &Path,
        sheet: &str,
        header: &[&str],
    ) -> Result<Self, XlsxError> {
        let mut workbook = Workbook::new();
        // Rows flushed from memory hold personal data: keep them on the output's disk, in a
        // private temporary file, not in a shared /tmp.
        workbook.set_tempdir(temporary)?;
        let mut table = Self {
            workbook,
            file,
            sheet_name: sheet_name(sheet),
            header: header.iter().map(|h| h.to_string()).collect(),
            sheets: 0,
            continued: 0,
            row: 0,
            rows_per_sheet: ROWS_PER_SHEET,
            widths: header.iter().map(|h| display_width(h)).collect(),
            header_format: CellFormat::new()
                .set_bold()
                .set_background_color("#DDEBF7")
                .set_align(FormatAlign::Center)
                .set_num_format("@"),
            text_format: CellFormat::new().set_num_format("@"),
            date_format: CellFormat::new().set_num_format("yyyy-mm-dd"),
        };
        table.new_sheet()?;
        Ok(table)
    }

    fn next_table(&mut self, sheet: &str, header: &[&str]) -> Result<(), XlsxError> {
        self.finish_sheet()?;
        self.sheet_name = sheet_name(sheet);
        self.header = header.iter().map(|h| h.to_string()).collect();
        self.continued = 0;
        self.new_sheet()
    }

    fn new_sheet(&mut self) -> Result<(), XlsxError> {
        self.sheets += 1;
        self.continued += 1;
        self.widths = self.header.iter().map(|h| display_width(h)).collect();
        let name = if self.continued == 1 {
            self.sheet_name.clone()
        } else {
            format!("{} ({})", self.sheet_name, self.continued)
        };
        let sheet = self.workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(name)?;
        for (column, title) in self.header.iter().enumerate() {
            let column = column_number(column)?;
            // Text is the column's format, so what a clerk types there later stays text too.
            sheet.set_column_format(column, &self.text_format)?;
            sheet.write_string_with_format(0, column, title, &self.header_format)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        self.row = 1;
        Ok(())
    }

    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), XlsxError> {
        if self.row > self.rows_per_sheet {
            self.finish_sheet()?;
            self.new_sheet()?;
        }
        let row = self.row;
        let sheet = self.workbook.worksheet_from_index(self.sheets - 1)?;
        for (column, cell) in cells.iter().enumerate() {
            if self.widths.len() <= column {
                self.widths.resize(column + 1, 0);
            }
            let number = column_number(column)?;
            let width = match *cell {
                Cell::Text(text) => {
                    if !text.is_empty() {
                        sheet.write_string_with_format(row, number, text, &self.text_format)?;
                    }
                    display_width(text)
                }
                Cell::Number(value) => {
                    sheet.write_number(row, number, value)?;
                    value.to_string().len()
                }
                Cell::Date(text) => {
                    match date_of(text) {
                        Some(date) => {
                            sheet.write_datetime_with_format(
                                row,
                                number,
                                &date,
                                &self.date_format,
                            )?;
                        }
                        None if text.is_empty() => {}
                        None => {
                            sheet.write_string_with_format(row, number, text, &self.text_format)?;
                        }
                    }
                    display_width(text).max(10)
                }
            };
            self.widths[column] = self.widths[column].max(width);
        }
        self.row += 1;
        Ok(())
    }

    /// The current sheet's filter over its rows, and its column widths.
    fn finish_sheet(&mut self) -> Result<(), XlsxError> {
        let last_row = self.row.saturating_sub(1);
        let columns = self.header.len();
        let sheet = self.workbook.worksheet_from_index(self.sheets - 1)?;
        if columns > 0 {
            sheet.autofilter(0, 0, last_row, column_number(columns - 1)?)?;
        }
        for (column, width) in self.widths.iter().enumerate() {
            // Room for the filter's arrow; a ceiling so that a long note does not push the rest
            // of the table off the screen.
            let width = (*width + 3).clamp(6, 60);
            sheet.set_column_width(column_number(column)?, width as f64)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), XlsxError> {
        self.finish_sheet()?;
        let mut file = std::io::BufWriter::new(self.file);
        self.workbook.save_to_writer(&mut file)?;
        file.flush()?;
        Ok(())
    }
}

/// Excel allows 16 384 columns.
fn column_number(column: usize) -> Result<u16, XlsxError> {
    u16::try_from(column)
        .ok()
        .filter(|column| *column < 16_384)
        .ok_or(XlsxError::RowColumnLimitError)
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(24)
        .collect();
    let cleaned = cleaned.trim_matches('\'').trim().to_string();
    if cleaned.is_empty() {
        "Sheet1".to_string()
    } else {
        cleaned
    }
}

fn date_of(text: &str) -> Option<ExcelDateTime> {
    let date: jiff::civil::Date = text.parse().ok()?;
    ExcelDateTime::from_ymd(
        u16::try_from(date.year()).ok()?,
        u8::try_from(date.month()).ok()?,
        u8::try_from(date.day()).ok()?,
    )
    .ok()
}

fn display_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader};

    fn read_back(path: &Path) -> Vec<(String, Vec<Vec<Data>>)> {
        let mut workbook = calamine::open_workbook_auto(path).unwrap();
        let names = workbook.sheet_names();
        names
            .into_iter()
            .map(|name| {
                let range = workbook.worksheet_range(&name).unwrap();
                let rows = range.rows().map(|row| row.to_vec()).collect();
                (name, rows)
            })
            .collect()
    }

    #[test]
    fn a_workbook_reads_back_with_ids_as_text_dates_as_dates_and_numbers_as_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.xlsx");
        let mut writer = TableWriter::create(
            &path,
            OutputFormat::Xlsx,
            "花名册",
            &["公民身份号码", "姓名", "来本地日期", "人数"],
        )
        .unwrap();
        writer
            .row(&[
                Cell::Text("621221199001010011"),
                Cell::Text("张三"),
                Cell::Date("2026-03-01"),
                Cell::Number(3.0),
            ])
            .unwrap();
        writer
            .row(&[
                Cell::Text("62122119900101002X"),
                Cell::Text(""),
                Cell::Date("not a date"),
                Cell::Number(0.5),
            ])
            .unwrap();
        assert_eq!(writer.finish().unwrap(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sheets = read_back(&path);
        assert_eq!(sheets.len(), 1);
        let (name, rows) = &sheets[0];
        assert_eq!(name, "花名册");
        assert_eq!(rows[0][0], Data::String("公民身份号码".into()));
        assert_eq!(rows[1][0], Data::String("621221199001010011".into()));
        assert_eq!(rows[2][0], Data::String("62122119900101002X".into()));
        assert!(
            matches!(rows[1][2], Data::DateTime(_)),
            "a date cell: {:?}",
            rows[1][2]
        );
        assert_eq!(rows[2][2], Data::String("not a date".into()));
        assert_eq!(rows[1][3], Data::Float(3.0));
        assert_eq!(rows[2][1], Data::Empty);
        // No temporary file left beside the output.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn a_long_table_goes_on_to_a_second_sheet_with_the_header_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.xlsx");
        let mut writer =
            TableWriter::create(&path, OutputFormat::Xlsx, "差异", &["号码", "值"]).unwrap();
        match &mut writer.inner {
            Inner::Xlsx(table) => table.rows_per_sheet = 3,
            Inner::Csv(_) => unreachable!(),
        }
        for n in 0..7 {
            writer
                .text_row(&[format!("{n:018}"), n.to_string()])
                .unwrap();
        }
        writer.finish().unwrap();
        let sheets = read_back(&path);
        let names: Vec<&str> = sheets.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["差异", "差异 (2)", "差异 (3)"]);
        let counts: Vec<usize> = sheets.iter().map(|(_, rows)| rows.len()).collect();
        assert_eq!(
            counts,
            [4, 4, 2],
            "each sheet has the header and up to 3 rows"
        );
        for (_, rows) in &sheets {
            assert_eq!(rows[0][0], Data::String("号码".into()));
        }
        assert_eq!(sheets[2].1[1][0], Data::String(format!("{:018}", 6)));
    }

    #[test]
    fn next_table_starts_a_sheet_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.xlsx");
        let mut writer =
            TableWriter::create(&path, OutputFormat::Xlsx, "排名", &["县", "按期反馈率"]).unwrap();
        writer
            .row(&[Cell::Text("621202"), Cell::Number(0.75)])
            .unwrap();
        writer.next_table("逾期", &["案件"]).unwrap();
        writer.text_row(&["c-1"]).unwrap();
        writer.finish().unwrap();
        let sheets = read_back(&path);
        assert_eq!(sheets[0].0, "排名");
        assert_eq!(sheets[0].1[1][1], Data::Float(0.75));
        assert_eq!(sheets[1].0, "逾期");
        assert_eq!(
            sheets[1].1,
            vec![
                vec![Data::String("案件".into())],
                vec![Data::String("c-1".into())]
            ]
        );
    }

    #[test]
    fn csv_starts_with_a_bom_and_keeps_rows_of_any_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut writer =
            TableWriter::create(&path, OutputFormat::Csv, "ignored", &["a", "b"]).unwrap();
        writer.text_row(&["1", "2", "3"]).unwrap();
        writer.row(&[Cell::Number(2.5)]).unwrap();
        writer.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "\u{feff}a,b\n1,2,3\n2.5\n");
    }

    #[test]
    fn sheet_names_are_what_excel_accepts() {
        assert_eq!(sheet_name("a/b:c"), "a_b_c");
        assert_eq!(sheet_name(""), "Sheet1");
        assert_eq!(sheet_name(&"长".repeat(40)).chars().count(), 24);
    }

    #[test]
    fn formats_and_default_names() {
        assert_eq!(OutputFormat::parse("XLSX"), Ok(OutputFormat::Xlsx));
        assert!(OutputFormat::parse("xls").is_err());
        assert_eq!(
            OutputFormat::from_path(Path::new("a.XLSX")),
            OutputFormat::Xlsx
        );
        assert_eq!(
            beside(Path::new("/d/r.xls"), "rejects", OutputFormat::Xlsx),
            PathBuf::from("/d/r.xls.rejects.xlsx")
        );
    }
}
