//! Writes synthetic rosters for demos, tests and benchmarks (never real personal data):
//!
//! ```text
//! mpx-datagen roster  --rows 100000 --county 621202 --hukou 621202,621221,620102 \
//!     [--defect-rate 0.02] [--seed 1] [--encoding utf-8|gb18030] --out roster.csv
//! mpx-datagen extract --rows 100000 --county 621202 --hukou … --every 50 --out police.csv
//! ```
//!
//! `--out NAME.xlsx` writes a workbook as Excel saves one (title row, shared strings, date
//! cells) instead of CSV.
//!
//! `extract` writes another department's version of the same (defect-free) roster with a
//! difference planted every `--every` rows, and prints what it planted as JSON.

use std::process::ExitCode;

use mpx_proto::synth::{
    GeneratedRow, RosterSpec, department_extract, roster, write_csv, write_xlsx,
};
use mpx_proto::tabular::Encoding;

fn usage() -> ExitCode {
    eprintln!(
        "usage: mpx-datagen roster|extract --rows N --county CODE --hukou CODE[,CODE…] \
         [--defect-rate P] [--every N] [--seed S] [--encoding utf-8|gb18030] --out FILE"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = args.first().cloned() else {
        return usage();
    };
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(rows), Some(county), Some(hukou), Some(out)) = (
        value("--rows").and_then(|v| v.parse::<u64>().ok()),
        value("--county"),
        value("--hukou"),
        value("--out"),
    ) else {
        return usage();
    };
    let hukou: Vec<&str> = hukou.split(',').collect();
    let mut spec = RosterSpec::new(rows, &county, &hukou);
    spec.defect_rate = value("--defect-rate")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    spec.seed = value("--seed").and_then(|v| v.parse().ok()).unwrap_or(1);
    let encoding = match value("--encoding").as_deref() {
        None | Some("utf-8") => Encoding::Utf8,
        Some("gb18030") => Encoding::Gb18030,
        Some(other) => {
            eprintln!("--encoding {other:?}: utf-8 or gb18030");
            return ExitCode::from(2);
        }
    };
    let workbook = out.to_ascii_lowercase().ends_with(".xlsx");
    let write = |rows: &mut dyn Iterator<Item = GeneratedRow>| -> std::io::Result<u64> {
        if workbook {
            return write_xlsx(rows, std::path::Path::new(&out)).map_err(std::io::Error::other);
        }
        write_csv(rows, std::fs::File::create(&out)?, encoding)
    };
    let result = match mode.as_str() {
        "roster" => write(&mut roster(&spec)).map(|n| {
            eprintln!("wrote {n} rows to {out}");
        }),
        "extract" => {
            let every = value("--every").and_then(|v| v.parse().ok()).unwrap_or(50);
            let (extract, planted) = department_extract(&spec, every);
            write(&mut extract.into_iter()).map(|n| {
                eprintln!("wrote {n} rows to {out}");
                println!(
                    "{}",
                    serde_json::json!({
                        "only_ours": planted.only_ours.len(),
                        "only_theirs": planted.only_theirs.len(),
                        "mismatches": planted.mismatches.len(),
                    })
                );
            })
        }
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{out}: {error}");
            ExitCode::FAILURE
        }
    }
}
