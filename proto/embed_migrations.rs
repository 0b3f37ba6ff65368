//! The build script of the exchange node and the registry (each `Cargo.toml` names this file as
//! its `build`): writes `$OUT_DIR/migrations.rs`, the list of (file name, text) of every
//! `migrations/*.sql` of the crate being built, which its `store::migrations` includes and
//! `mpx_proto::migrations` expands per backend. Adding a migration is adding a file there; this
//! reruns when the folder changes.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let folder = manifest_dir.join("migrations");
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", folder.display()))
        .map(|entry| entry.expect("a readable migrations folder").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "sql"))
        .map(|path| {
            let name = path.file_name().and_then(|name| name.to_str());
            let name = name.unwrap_or_else(|| panic!("{}: not a UTF-8 name", path.display()));
            (name.to_string(), path.clone())
        })
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for (name, path) in &files {
        let path = path.to_str().expect("a UTF-8 path");
        writeln!(out, "    ({name:?}, include_str!({path:?})),").expect("writing to a String");
    }
    out.push_str("]\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out_dir.join("migrations.rs"), out).expect("cannot write migrations.rs");
}
