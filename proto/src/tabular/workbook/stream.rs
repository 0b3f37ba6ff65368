//! .xlsx sheets streamed a row at a time, so a roster of a million rows is read in about the
//! memory of its shared strings rather than of every cell (measured with 1 000 000 generated
//! rows, a 55 MB file: 112 MiB streamed against 783 MiB read whole).
//!
//! calamine's cell reader borrows the workbook, so a thread of its own owns both: it finds the
//! header (the same [`HeaderSearch`] as for the formats read whole) and sends the rows after it
//! through a bounded channel. The reader ends with an explicit end mark: rows that stop without
//! one (calamine panicked on a damaged file) are reported as an error, never as the end.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{Data, Reader};

use super::{HeaderSearch, Row, Sheet, choose_sheets, damaged};
use crate::tabular::{FileError, Format, Mapping};

/// Rows in flight between the reading thread and the importer.
const ROWS_IN_FLIGHT: usize = 512;

/// What the reading thread found: the sheet and its header, and the sheet's last line.
struct Found {
    name: String,
    columns: Vec<Option<&'static str>>,
    header: Vec<String>,
    last_line: u64,
}

enum Streamed {
    Row(Row),
    Failed(String),
    End,
}

/// Opens the .xlsx in `bytes` and starts streaming the sheet with the header.
pub(super) fn open(
    bytes: Vec<u8>,
    mapping: Mapping,
    sheet: Option<String>,
) -> Result<Sheet, FileError> {
    let (found_sender, found) = sync_channel::<Result<Found, FileError>>(1);
    let (row_sender, rows) = sync_channel::<Streamed>(ROWS_IN_FLIGHT);
    std::thread::Builder::new()
        .name("xlsx-reader".into())
        .spawn(move || {
            // calamine is not ours and reads untrusted bytes: a panic ends the thread, and the
            // receiving side turns the missing end mark into an error.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read(
                    bytes,
                    &mapping,
                    sheet.as_deref(),
                    &found_sender,
                    &row_sender,
                )
            }));
        })
        .map_err(|error| FileError::Header(format!("could not start reading: {error}")))?;
    let found = found
        .recv()
        .map_err(|_| damaged(Format::Xlsx, "damaged?"))??;
    Ok(Sheet {
        name: found.name,
        rows: Box::new(Received { rows, ended: false }),
        columns: found.columns,
        header: found.header,
        line: 0,
        last_line: found.last_line,
        totals_rows: Vec::new(),
    })
}

/// The reading thread: find the sheet with the header, say so, then send its rows.
fn read(
    bytes: Vec<u8>,
    mapping: &Mapping,
    sheet: Option<&str>,
    found: &SyncSender<Result<Found, FileError>>,
    rows: &SyncSender<Streamed>,
) {
    let mut book = match calamine::Xlsx::new(std::io::Cursor::new(bytes)) {
        Ok(book) => book,
        Err(error) => {
            let _ = found.send(Err(damaged(Format::Xlsx, error)));
            return;
        }
    };
    let names = match choose_sheets(book.sheet_names(), sheet) {
        Ok(names) => names,
        Err(error) => {
            let _ = found.send(Err(error));
            return;
        }
    };
    let mut search = HeaderSearch::new(sheet.is_some());
    for name in names {
        let cells = match book.worksheet_cells_reader(&name) {
            Ok(cells) => cells,
            Err(error) => {
                let _ = found.send(Err(damaged(Format::Xlsx, error)));
                return;
            }
        };
        let last_line = u64::from(cells.dimensions().end.0) + 1;
        let mut sheet_rows = CellRows {
            cells,
            pending: None,
            finished: false,
        };
        match search.find(&name, &mut sheet_rows, mapping) {
            Err(why) => {
                let _ = found.send(Err(damaged(Format::Xlsx, why)));
                return;
            }
            Ok(None) => continue,
            Ok(Some((columns, header))) => {
                let announced = found.send(Ok(Found {
                    name,
                    columns,
                    header,
                    last_line,
                }));
                if announced.is_err() {
                    return;
                }
                for row in sheet_rows {
                    let message = match row {
                        Ok(row) => Streamed::Row(row),
                        Err(why) => Streamed::Failed(why),
                    };
                    let failed = matches!(message, Streamed::Failed(_));
                    // The importer stopped (an error of its own, or it was dropped): so do we.
                    if rows.send(message).is_err() || failed {
                        return;
                    }
                }
                let _ = rows.send(Streamed::End);
                return;
            }
        }
    }
    let _ = found.send(Err(search.failed()));
}

/// An .xlsx sheet's cells, grouped into rows.
struct CellRows<'a, R: std::io::Read + std::io::Seek> {
    cells: calamine::XlsxCellReader<'a, R>,
    /// The first cell of the next row, already read.
    pending: Option<((u32, u32), Data)>,
    /// The reader said there are no more cells (asked again, it reports a truncated file).
    finished: bool,
}

impl<R: std::io::Read + std::io::Seek> Iterator for CellRows<'_, R> {
    type Item = Result<Row, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let cells = &mut self.cells;
        let finished = &mut self.finished;
        let mut next_cell = |pending: &mut Option<((u32, u32), Data)>| {
            if let Some(cell) = pending.take() {
                return Ok(Some(cell));
            }
            if *finished {
                return Ok(None);
            }
            let cell = cells.next_cell().map_err(|error| error.to_string())?;
            *finished = cell.is_none();
            Ok(cell.map(|cell| (cell.get_position(), Data::from(cell.get_value().clone()))))
        };
        let ((row, column), value) = match next_cell(&mut self.pending) {
            Ok(Some(cell)) => cell,
            Ok(None) => return None,
            Err(why) => return Some(Err(why)),
        };
        let mut cells = Vec::new();
        let mut place = |column: u32, value: Data| {
            let column = column as usize;
            // A sheet is at most 16 384 columns wide; a file that says otherwise is not a roster.
            if column < 16_384 {
                if cells.len() <= column {
                    cells.resize(column + 1, Data::Empty);
                }
                cells[column] = value;
            }
        };
        place(column, value);
        loop {
            match next_cell(&mut self.pending) {
                Ok(Some(((next_row, column), value))) if next_row == row => place(column, value),
                Ok(Some(cell)) => {
                    self.pending = Some(cell);
                    break;
                }
                Ok(None) => break,
                Err(why) => {
                    // The row being read may be cut short: it is not given as a row, the
                    // error is reported at its line and nothing after it is read.
                    self.finished = true;
                    return Some(Err(why));
                }
            }
        }
        Some(Ok((u64::from(row) + 1, cells)))
    }
}

/// The importer's side of the channel.
struct Received {
    rows: Receiver<Streamed>,
    ended: bool,
}

impl Iterator for Received {
    type Item = Result<Row, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        match self.rows.recv() {
            Ok(Streamed::Row(row)) => Some(Ok(row)),
            Ok(Streamed::End) => {
                self.ended = true;
                None
            }
            Ok(Streamed::Failed(why)) => {
                self.ended = true;
                Some(Err(why))
            }
            Err(_) => {
                self.ended = true;
                Some(Err("the reader stopped (damaged?)".into()))
            }
        }
    }
}
