//! Reading a roster file a batch ahead of the import: rows are read and turned into people on a
//! blocking thread while the previous batch is being stored. Used by `records import` (through
//! the operator API) and by the console's import (in process), so both read files the same way.

use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

use super::RowReader;
use crate::v1::Person;

/// One row as the import sends it: a person to store, or why the row gives none.
#[derive(Debug)]
pub enum Parsed {
    /// The row's line, the person, and the row's original cells (for the reject file).
    Row(u64, Box<Person>, Vec<String>),
    /// The row's line, the reason, and the row's original cells.
    Unreadable(u64, String, Vec<String>),
}

/// A batch of parsed rows, with the file's bytes read when it was complete.
pub type Batch = (Vec<Parsed>, u64);

/// Batches of `batch_size` rows with the file's bytes read so far (for progress), two in
/// flight; and, when the file is read, the workbook lines skipped as totals rows. Dropping the
/// receiver stops the reading.
pub fn parse_ahead(
    reader: RowReader,
    batch_size: usize,
) -> (Receiver<Batch>, JoinHandle<Vec<u64>>) {
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let parser = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut batch = Vec::with_capacity(batch_size);
        while let Some(row) = reader.next() {
            batch.push(match row {
                Err(error) => Parsed::Unreadable(error.line, error.reason, error.raw),
                Ok(row) => match super::person_from_row(&row) {
                    Ok(person) => Parsed::Row(row.line, Box::new(person), row.raw),
                    Err(reason) => Parsed::Unreadable(row.line, reason, row.raw),
                },
            });
            if batch.len() == batch_size {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                if sender.blocking_send((full, reader.bytes_read())).is_err() {
                    return Vec::new();
                }
            }
        }
        if !batch.is_empty() {
            let _ = sender.blocking_send((batch, reader.bytes_read()));
        }
        reader.totals_rows().to_vec()
    });
    (receiver, parser)
}
