//! Reading back the workbooks the tools write, as a clerk's spreadsheet program would: every
//! sheet by name, every cell as the text it shows (calamine, the reader the products use, but
//! without any of our own code in between), and a second opinion from Python's openpyxl.

use std::path::Path;

use calamine::{Data, Reader};

/// Every sheet of the workbook at `path`, in order: its name and its rows of cell text. Numbers
/// are shown as a spreadsheet shows them (3, not 3.0); date cells as `YYYY-MM-DD`.
pub fn workbook_sheets(path: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let mut workbook = calamine::open_workbook_auto(path)
        .unwrap_or_else(|e| panic!("{} is not a workbook: {e}", path.display()));
    workbook
        .sheet_names()
        .into_iter()
        .map(|name| {
            let range = workbook
                .worksheet_range(&name)
                .unwrap_or_else(|e| panic!("sheet {name}: {e}"));
            let rows = range
                .rows()
                .map(|row| row.iter().map(cell_text).collect())
                .collect();
            (name, rows)
        })
        .collect()
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.clone(),
        Data::Float(value) if value.fract() == 0.0 => format!("{value:.0}"),
        Data::Float(value) => value.to_string(),
        Data::Int(value) => value.to_string(),
        Data::Bool(value) => value.to_string(),
        Data::DateTime(value) => {
            // Days since 1899-12-30 (the 1900 system, as rust_xlsxwriter writes).
            let days = value.as_f64().floor() as i64;
            let date = jiff::civil::date(1899, 12, 30)
                .checked_add(jiff::Span::new().days(days))
                .unwrap_or_else(|e| panic!("date serial {days}: {e}"));
            format!("date:{date}")
        }
        other => format!("{other:?}"),
    }
}

/// Runs a Python script with openpyxl (installed by tests/run.sh) and returns what it printed.
/// Panics with how to get openpyxl when it is missing, so that the test fails rather than skips.
pub fn openpyxl(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e} (tests/run.sh installs what the tests need)"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named 'openpyxl'"),
        "openpyxl is missing: run tests/run.sh, or pip install openpyxl==3.1.5"
    );
    assert!(
        output.status.success(),
        "the openpyxl script failed: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
