//! The registry's schema migrations: every `migrations/*.sql` of this crate, embedded by the build script
//! and expanded per backend by [`mpx_proto::migrations`]; `migrations/released.tsv`
//! lists the released ones, which a test of `mpx_proto::migrations` pins.

use mpx_proto::migrations::MigrationFiles;

/// (file name, template text) of every migration, by file name.
pub(super) const MIGRATIONS: MigrationFiles = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
