//! Schema migrations, one tree per crate: each `migrations/NNNN_name.sql` is a template whose few
//! SQLite/PostgreSQL differences are placeholders (`${serial_key}`, `${blob}`; see
//! [`PLACEHOLDERS`]). A crate's build script embeds its files as [`MigrationFiles`]; [`migrator`]
//! expands them for one backend into the `sqlx` [`Migrator`] that
//! [`open_database`](crate::database::open_database) runs, named exactly as `sqlx::migrate!` names
//! a file. The expanded text of a released migration must never change: sqlx keeps the SHA-384 of
//! each migration it applied and refuses to start when the text differs (each crate pins them in a
//! test, see [`released_mismatches`]).

use std::borrow::Cow;
use std::collections::BTreeSet;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

/// A crate's migration files as its build script embeds them: (file name, template text), every
/// `*.sql` file of its `migrations/` folder.
pub type MigrationFiles = &'static [(&'static str, &'static str)];

/// The database backend a template is expanded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Every placeholder: (name, SQLite text, PostgreSQL text). `${name}` in a template becomes the
/// backend's text; any other `${` is an error. `$` followed by `{` is no token in either dialect
/// (parameters are `$1`, `$name`; dollar quotes `$tag$`), unlike bare braces, which PostgreSQL
/// array and JSON literals use.
pub const PLACEHOLDERS: &[(&str, &str, &str)] = &[
    (
        "serial_key",
        "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BIGSERIAL PRIMARY KEY",
    ),
    ("blob", "BLOB", "BYTEA"),
];

/// A migration file that cannot be expanded; the build's own files are checked by each crate's
/// tests, so this means a file added since.
#[derive(Debug, thiserror::Error)]
#[error("migration file {file:?}: {reason}")]
pub struct MigrationFileError {
    pub file: String,
    pub reason: String,
}

/// `template` with every `${name}` replaced by `backend`'s text for it.
pub fn expand(template: &str, backend: Backend) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated placeholder at {:?}", head(&rest[start..])))?;
        let name = &after[..end];
        let &(_, sqlite, postgres) = PLACEHOLDERS
            .iter()
            .find(|(known, _, _)| *known == name)
            .ok_or_else(|| format!("unknown placeholder ${{{name}}}"))?;
        out.push_str(match backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        });
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn head(text: &str) -> &str {
    text.char_indices()
        .nth(24)
        .map_or(text, |(index, _)| &text[..index])
}

/// The migrations of `files` for `backend`. Version, description, type and `-- no-transaction`
/// are read as `sqlx::migrate!` reads them (`0001_node.sql` → version 1, "node"; `_` in the
/// description becomes a space; `.up.sql`/`.down.sql` are reversible halves), and the checksum is
/// the SHA-384 of the expanded text, so a database migrated by either opens with the other. Unlike
/// sqlx, a `.sql` file that is not `VERSION_DESCRIPTION.sql` is an error rather than skipped, and
/// so is a version used twice.
pub fn migrator(files: MigrationFiles, backend: Backend) -> Result<Migrator, MigrationFileError> {
    let mut migrations = Vec::with_capacity(files.len());
    let mut seen = BTreeSet::new();
    for &(file, template) in files {
        let error = |reason: String| MigrationFileError {
            file: file.to_string(),
            reason,
        };
        let Some((version, rest)) = file
            .split_once('_')
            .filter(|(_, rest)| rest.ends_with(".sql"))
        else {
            return Err(error("not named VERSION_DESCRIPTION.sql".into()));
        };
        let version: i64 = version
            .parse()
            .map_err(|_| error("the version before `_` is not an integer".into()))?;
        let migration_type = MigrationType::from_filename(rest);
        if !seen.insert((version, migration_type)) {
            return Err(error(format!("version {version} is used twice")));
        }
        let description = rest
            .trim_end_matches(migration_type.suffix())
            .replace('_', " ");
        let sql = expand(template, backend).map_err(error)?;
        let no_tx = sql.starts_with("-- no-transaction");
        migrations.push(Migration::new(
            version,
            Cow::Owned(description),
            migration_type,
            AssertSqlSafe(sql).into_sql_str(),
            no_tx,
        ));
    }
    Ok(Migrator::with_migrations(migrations))
}

/// For each crate's test that pins released migrations: how `files` expanded for `backend`
/// differs from `released`, a list of (version, description, SHA-384 in lowercase hex) recorded
/// when they shipped. Empty when every released migration is there, unchanged; migrations not in
/// `released` (newer ones) are not checked.
pub fn released_mismatches(
    files: MigrationFiles,
    backend: Backend,
    released: &[(i64, &str, &str)],
) -> Vec<String> {
    let migrator = match migrator(files, backend) {
        Ok(migrator) => migrator,
        Err(error) => return vec![error.to_string()],
    };
    let mut mismatches = Vec::new();
    for &(version, description, checksum) in released {
        let Some(migration) = migrator
            .iter()
            .find(|m| m.version == version && m.migration_type.is_up_migration())
        else {
            mismatches.push(format!("{backend:?} migration {version} is missing"));
            continue;
        };
        let actual = crate::hex(&migration.checksum);
        if migration.description != description
            || migration.migration_type != MigrationType::Simple
            || migration.no_tx
            || actual != checksum
        {
            mismatches.push(format!(
                "{backend:?} migration {version}: released {description:?} {checksum}, now \
                 {:?} {:?} no_tx={} {actual}",
                migration.description, migration.migration_type, migration.no_tx
            ));
        }
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service's migrations folder as the build script embeds it (read at test time).
    fn folder(crate_dir: &str) -> (MigrationFiles, String) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(crate_dir)
            .join("migrations");
        let mut files: Vec<(&'static str, &'static str)> = std::fs::read_dir(&dir)
            .expect("the migrations folder")
            .map(|entry| entry.expect("an entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .map(|path| {
                let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
                let text = std::fs::read_to_string(&path).expect("a readable file");
                (&*String::leak(name.to_string()), &*String::leak(text))
            })
            .collect();
        files.sort_unstable();
        let released = std::fs::read_to_string(dir.join("released.tsv")).expect("released.tsv");
        (Vec::leak(files), released)
    }

    /// Databases migrated before keep opening: sqlx refuses to start when an applied migration's
    /// checksum changed. Each service's `migrations/released.tsv` lists what has shipped.
    #[test]
    fn released_migrations_of_both_services_keep_their_checksums() {
        for crate_dir in ["exchange-node", "registry"] {
            let (files, released) = folder(crate_dir);
            let mut checked = 0;
            for backend in [Backend::Sqlite, Backend::Postgres] {
                let name = format!("{backend:?}").to_lowercase();
                let rows: Vec<(i64, &str, &str)> = released
                    .lines()
                    .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
                    .filter_map(|line| {
                        let fields: Vec<&str> = line.split('\t').collect();
                        (fields.get(1) == Some(&name.as_str()))
                            .then(|| (fields[0].parse().expect("a version"), fields[3], fields[2]))
                    })
                    .collect();
                checked += rows.len();
                assert_eq!(
                    released_mismatches(files, backend, &rows),
                    Vec::<String>::new(),
                    "{crate_dir}"
                );
            }
            assert!(
                checked >= 2 * 8,
                "{crate_dir}: released.tsv lists {checked} rows"
            );
        }
    }

    #[test]
    fn placeholders_expand_per_backend() {
        let template = "a ${serial_key}, b ${blob} NOT NULL, c ${blob}\n";
        assert_eq!(
            expand(template, Backend::Sqlite).unwrap(),
            "a INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB NOT NULL, c BLOB\n"
        );
        assert_eq!(
            expand(template, Backend::Postgres).unwrap(),
            "a BIGSERIAL PRIMARY KEY, b BYTEA NOT NULL, c BYTEA\n"
        );
        let plain = "SELECT '{1,2}', $1, $tag$ x $tag$; -- {blob} $blob\n";
        assert_eq!(expand(plain, Backend::Postgres).unwrap(), plain);
    }

    #[test]
    fn unknown_or_unterminated_placeholders_are_errors() {
        assert!(
            expand("x ${bytes} y", Backend::Sqlite)
                .unwrap_err()
                .contains("unknown placeholder ${bytes}")
        );
        assert!(
            expand("x ${blob y", Backend::Sqlite)
                .unwrap_err()
                .contains("unterminated")
        );
    }

    #[test]
    fn file_names_that_are_not_migrations_are_errors() {
        for files in [
            &[("notes.sql", "")][..],
            &[("0001_a.txt", "")][..],
            &[("x1_a.sql", "")][..],
            &[("0001_a.sql", ""), ("1_b.sql", "")][..],
        ] {
            let leaked: MigrationFiles = Vec::leak(files.to_vec());
            assert!(migrator(leaked, Backend::Sqlite).is_err(), "{files:?}");
        }
    }

    /// The same files read by sqlx's own resolver (the one `sqlx::migrate!` runs at compile time)
    /// and by [`migrator`] give the same migrations, field for field.
    #[tokio::test]
    async fn migrations_are_named_and_hashed_as_sqlx_names_and_hashes_them() {
        let files: MigrationFiles = &[
            ("0001_node.sql", "CREATE TABLE a (x INTEGER);\n"),
            (
                "0002_two_words_here.sql",
                "-- comment\r\nCREATE TABLE b (y TEXT);",
            ),
            ("0003_reversible.up.sql", "CREATE TABLE c (z TEXT);\n"),
            ("0003_reversible.down.sql", "DROP TABLE c;\n"),
            ("0004_outside.sql", "-- no-transaction\nVACUUM;\n"),
            ("20240101120000_dated.sql", "\u{FEFF}SELECT 'é';\n"),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let by_sqlx = Migrator::new(dir.path().to_path_buf()).await.unwrap();
        let ours = migrator(files, Backend::Sqlite).unwrap();
        let fields = |migrator: &Migrator| {
            migrator
                .iter()
                .map(|m| {
                    (
                        m.version,
                        m.description.to_string(),
                        m.migration_type,
                        m.sql.as_str().to_string(),
                        m.checksum.to_vec(),
                        m.no_tx,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(&ours), fields(&by_sqlx));
        assert_eq!(fields(&ours).len(), files.len());
        assert_eq!(ours.table_name, by_sqlx.table_name);
        assert_eq!(ours.locking, by_sqlx.locking);
        assert_eq!(ours.no_tx, by_sqlx.no_tx);
        assert_eq!(ours.ignore_missing, by_sqlx.ignore_missing);
    }
}
