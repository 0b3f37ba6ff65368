//! What the two web consoles share — the county console (`exchange-node`) and the province
//! console (`registry`) — so a rule about passwords, sessions, language or HTTPS is written once
//! and both consoles keep to it.
//!
//! A crate of its own rather than a module of `mpx-proto`: `mpx-proto` is the contract both
//! services and the fuzz targets compile (messages, division codes, the shared gRPC and database
//! plumbing); the web stack (axum's HTTP serving, argon2, a TLS acceptor for browsers) is only
//! the consoles' business and stays out of it. What is stored stays per service: each service
//! keeps its operator accounts and sessions in its own database (its own migrations, tables of
//! the same shape); this crate holds the statements over them and decides what is stored (a
//! password's argon2id PHC string, a session id's SHA-256) and how it is checked.
//!
//! # Layout
//!
//! - [`accounts`]: operator accounts and sessions in a service's database, and the sign-in
//!   (failures, lock-out, a new session) over them; each console brings its roles.
//! - [`password`]: argon2id hashing and checking (off the async runtime), the lock-out rule,
//!   what a name and a password must be, reading a password on the command line.
//! - [`session`]: random ids and CSRF tokens from the OS, comparing secrets, cookies read from
//!   a request, the session and sign-in cookies.
//! - [`lang`]: the language of a request (`?lang=`, the `mpx_lang` cookie, `Accept-Language`,
//!   default Chinese) and dates as each language writes them (2026年12月17日 / 2026-12-17).
//! - [`web`]: the security headers of every response (CSP `default-src 'self'`), the shared
//!   stylesheet, the live-alerts script (`console.js`), the `lang` parameter.
//! - [`tls`]: HTTPS for a console (acceptor, a listener that completes handshakes, the peer's
//!   address) and the rule that plain HTTP is for loopback only.
//!
//! Each console keeps its own words (one `Msgs` table per language, so a missing string fails
//! its build), its own roles, pages and templates.

pub mod accounts;
pub mod lang;
pub mod password;
pub mod session;
pub mod tls;
pub mod web;
