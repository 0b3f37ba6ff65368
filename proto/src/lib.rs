//! The MPX contract and the primitives both services must agree on exactly.
//!
//! # Layout
//!
//! - [`v1`]: code generated from `proto/mpx/v1/*.proto` (messages, tonic clients and servers).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for gRPC server reflection.
//! - [`operator_client`]: what both command lines share when calling their own server: finding
//!   its operator API, the bearer token, failed calls explained, aligned tables.
//! - [`person`]: a person's record field by field: names, file columns, labels, how each is
//!   stored, checked, compared and merged (the one table every layer reads).
//! - [`case_kind`]: the kinds of case, each described once (labels, names, who may open it,
//!   verdicts, redirects, default deadlines), and the labels of the other case enums.
//! - [`policy`]: feedback deadlines per case kind and priority; due dates.
//! - [`resident_id`]: GB 11643 citizen ID numbers (check digit, birth date, sex, 15→18 upgrade, masking).
//! - [`calendar`]: the working-day calendar (holidays, make-up days) and deadline arithmetic.
//! - [`database`]: the database both services share the plumbing of: open and migrate, leases,
//!   the hash-chained audit log, operator tokens, multi-row statements.
//! - [`division`]: GB/T 2260 division codes: counties and provinces.
//! - [`identity`]: who a peer is, read from its certificate's URI SAN (`mpx://county/621202`).
//! - [`evidence`]: ECDSA P-256 signatures by a certificate's key (directory snapshots, receipts).
//! - [`migrations`]: each crate's one tree of schema migrations, expanded per backend (SQLite, PostgreSQL).
//! - [`runtime`]: shared service plumbing: logging, shutdown, layered config, TLS, caller identity.
//! - [`text`]: what free text may contain (no control, bidi or invisible characters), length limits, terminal escaping.
//! - [`time`]: instants as Unix milliseconds and calendar dates in the province's time zone.

pub mod calendar;
pub mod case_kind;
pub mod database;
pub mod division;
pub mod evidence;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod migrations;
pub mod operator_client;
pub mod person;
pub mod policy;
pub mod reconcile;
pub mod resident_id;
pub mod runtime;
pub mod synth;
pub mod tabular;
pub mod text;
pub mod time;

pub use prost;
pub use tonic;

/// Generated code for package `mpx.v1`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("mpx.v1");
}

/// Encoded `FileDescriptorSet` of every `mpx.v1` file, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("mpx_descriptor");

/// Lowercase hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}
