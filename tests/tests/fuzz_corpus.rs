//! The fuzz corpora as regression tests (no fuzzing here): every input kept in
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` runs through the same function the
//! fuzz target calls (`mpx_proto::fuzzing`, `exchange_node::fuzzing`), on the stable toolchain.
//! A missing or empty corpus fails, so this cannot silently check nothing. `fuzz/run.sh` grows
//! and minimises the corpora.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .filter(|path| !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

/// Runs every corpus and regression input of `target` through `body`; each input runs in
/// isolation so a failure names its file.
fn replay(target: &str, body: fn(&[u8])) {
    let corpus = fuzz_dir().join("corpus").join(target);
    let inputs = files(&corpus);
    assert!(
        !inputs.is_empty(),
        "{}: no corpus (missing or empty); run fuzz/run.sh or restore it",
        corpus.display()
    );
    let regressions = files(&fuzz_dir().join("regressions").join(target));
    let (corpus_count, regression_count) = (inputs.len(), regressions.len());
    for path in inputs.into_iter().chain(regressions) {
        let data = std::fs::read(&path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| body(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("{target}: {} fails: {message}", path.display());
        }
    }
    println!("{target}: ran {corpus_count} corpus inputs and {regression_count} regressions");
}

#[test]
fn envelope() {
    replay("envelope", exchange_node::fuzzing::envelope);
}

#[test]
fn tabular() {
    replay("tabular", mpx_proto::fuzzing::tabular_reader);
}

#[test]
fn resident_id() {
    replay("resident_id", mpx_proto::fuzzing::resident_id);
}

#[test]
fn county_code() {
    replay("county_code", mpx_proto::fuzzing::county_code);
}

#[test]
fn calendar() {
    replay("calendar", mpx_proto::fuzzing::calendar_file);
}
