//! The node's schema migrations: every `migrations/*.sql` of this crate, embedded by the build script
//! and expanded per backend by [`mpx_proto::migrations`]; and the test that pins the released ones.

use mpx_proto::migrations::MigrationFiles;

/// (file name, template text) of every migration, by file name.
pub(super) const MIGRATIONS: MigrationFiles = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

#[cfg(test)]
mod tests {
    use mpx_proto::migrations::{Backend, released_mismatches};

    use super::MIGRATIONS;

    /// (version, description, SHA-384) of each released migration as sqlx records it in
    /// `_sqlx_migrations`, computed from the files of `migrations/sqlite/` before the two trees
    /// became one (commit bf597e7). Append a migration here once it has shipped.
    const RELEASED_SQLITE: &[(i64, &str, &str)] = &[
        (
            1,
            "node",
            "4dc45921e36dcfce3e724fe87f75ec2421d63eefa3862a65408b6da9c7527efca47d1640e99808e48344b5662e82504e",
        ),
        (
            2,
            "leases",
            "aee009684991426fb7c57078e54d08431b2e96429d2402b483d77328a1b03ee4d07e9cc6b892fc57a231febf2b8eaba1",
        ),
        (
            3,
            "deadlines",
            "350e410d9afbad21149a35f1d0253667ff21cc91a403fd1a21d607ce426c2e7b52a41ccbfe3ca4b1902319d6f74f89c7",
        ),
        (
            4,
            "alerts",
            "8aeb6c2bdf19e2401b0d2ede4ed6cca27941c91a52a272a0904ad49bfb2a12c2430fe728bb68f0ec865f7fc440cde50e",
        ),
        (
            5,
            "extensions",
            "91d11978b34f408c559bc4e4c151f1bcfe86555333eb421705ca502bc80de1ea5e5a7116b65f664a48ed56fa4f0cc840",
        ),
        (
            6,
            "escalation reports",
            "13081dcf00e943e6f9a56421db9d5b2b64d87ac5f10e0b8fd296ffb3da4a31128b11701f474c026cbee66411b52670fb",
        ),
        (
            7,
            "audit chain",
            "48000330a5bb2789ea820b11a55bd0bb2c7522b46e12ad7ab217dc61971323df26fcf6113d2389ee41dc59c8fe8a847b",
        ),
        (
            8,
            "roster changes",
            "b7eecc696179a8c33a719c17872187ee3caba3ee46e29369fa263906bb037ca91ae328bc2eedb37032cee2cbe27e3214",
        ),
        (
            9,
            "case reports",
            "c9686ce58e0cf8dd483bd68acf7e24c726b5391caa15f3c7e0f606e338b4b5207ac8e00c2e0ff91614a908c2c61753c5",
        ),
        (
            10,
            "assignments",
            "556c6099df1e7af8aec35ab21e2bb3d2651c12eb3ab69f1913c093614af4c61a5923ef65cc59b5b852360ae79898b3d0",
        ),
        (
            11,
            "monitor schedule",
            "9e049cf6220b4af99e511464d7d0fcd9b31dcf54f425df249590c49958b224ffc4ba7609753fa82fc8f9991d1bda1df1",
        ),
    ];

    /// As [`RELEASED_SQLITE`], from the files of `migrations/postgres/`.
    const RELEASED_POSTGRES: &[(i64, &str, &str)] = &[
        (
            1,
            "node",
            "45a909dcb921143d9f086d3d1b08168718ae3a4ba36c5e808c27ede37843bfb839df4479df1f9cdb773435bd2258f3e6",
        ),
        (
            2,
            "leases",
            "aee009684991426fb7c57078e54d08431b2e96429d2402b483d77328a1b03ee4d07e9cc6b892fc57a231febf2b8eaba1",
        ),
        (
            3,
            "deadlines",
            "350e410d9afbad21149a35f1d0253667ff21cc91a403fd1a21d607ce426c2e7b52a41ccbfe3ca4b1902319d6f74f89c7",
        ),
        (
            4,
            "alerts",
            "8aeb6c2bdf19e2401b0d2ede4ed6cca27941c91a52a272a0904ad49bfb2a12c2430fe728bb68f0ec865f7fc440cde50e",
        ),
        (
            5,
            "extensions",
            "91d11978b34f408c559bc4e4c151f1bcfe86555333eb421705ca502bc80de1ea5e5a7116b65f664a48ed56fa4f0cc840",
        ),
        (
            6,
            "escalation reports",
            "13081dcf00e943e6f9a56421db9d5b2b64d87ac5f10e0b8fd296ffb3da4a31128b11701f474c026cbee66411b52670fb",
        ),
        (
            7,
            "audit chain",
            "48000330a5bb2789ea820b11a55bd0bb2c7522b46e12ad7ab217dc61971323df26fcf6113d2389ee41dc59c8fe8a847b",
        ),
        (
            8,
            "roster changes",
            "3a0b1b3812fc3fd6ae7435019d76e8a27bde4b912978685826d7459718cb15784294b238be646547da0207c89c9f3a62",
        ),
        (
            9,
            "case reports",
            "96a5402d353a5cef88e55e664d2f90f083c20b0a3262f59b19da048c1c19a53662161956bad80d170006fc4851cd8c6f",
        ),
        (
            10,
            "assignments",
            "556c6099df1e7af8aec35ab21e2bb3d2651c12eb3ab69f1913c093614af4c61a5923ef65cc59b5b852360ae79898b3d0",
        ),
        (
            11,
            "monitor schedule",
            "9e049cf6220b4af99e511464d7d0fcd9b31dcf54f425df249590c49958b224ffc4ba7609753fa82fc8f9991d1bda1df1",
        ),
    ];

    /// A database migrated before keeps opening: sqlx refuses to start when an applied
    /// migration's checksum changed.
    #[test]
    fn released_sqlite_migrations_keep_their_checksums() {
        assert_eq!(
            released_mismatches(MIGRATIONS, Backend::Sqlite, RELEASED_SQLITE),
            Vec::<String>::new()
        );
    }

    #[test]
    fn released_postgres_migrations_keep_their_checksums() {
        assert_eq!(
            released_mismatches(MIGRATIONS, Backend::Postgres, RELEASED_POSTGRES),
            Vec::<String>::new()
        );
    }
}
