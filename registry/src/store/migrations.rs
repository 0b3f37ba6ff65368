//! The registry's schema migrations: every `migrations/*.sql` of this crate, embedded by the build script
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
            "directory",
            "bd23209de92d916ba78d6259f0de6e68a6068dadbf8f8b8ec02772fdf1670ac681347321400b06a992e0cca64869395a",
        ),
        (
            2,
            "leases",
            "aee009684991426fb7c57078e54d08431b2e96429d2402b483d77328a1b03ee4d07e9cc6b892fc57a231febf2b8eaba1",
        ),
        (
            3,
            "settings",
            "d5fe0beca9ab14a48250d1be95c75fde8e565bb9f402fafa8abe0b17ef5e92f3e2e5122b55030e415c5e6a83008fba03",
        ),
        (
            4,
            "escalations",
            "7b66da3670891ecb707d7c5fab8db3fb12c692d833a1497a1c7d585dc0e04b159a8084fd0143ed43c3f5151a2e1c5195",
        ),
        (
            5,
            "audit",
            "b169e4e81c49f1aeea57c81310b1bf4ed3e33afbf6d98eeb48c209cc48f93dcab5c65e8c3ff12532f05381f393e27550",
        ),
        (
            6,
            "index",
            "554306e5589d92698c7ab90e47504d35322c4aa5c6c9da895cb02e244959e352dcb0ffb5512119df7bc7c76c3ac21efc",
        ),
        (
            7,
            "compliance",
            "02c36d978cb3728480c5be0cf695e22d035ea5a93610e4afd63e00c7000e48551cb49d1a41634ebdd0a0ed24b4ba4857",
        ),
        (
            8,
            "assignments",
            "1e0d094273db36a33b8a915fceef3e79793c074d5c3f9a26501eab22f3493c5699495eb86689fe65b991c0eeb22db918",
        ),
    ];

    /// As [`RELEASED_SQLITE`], from the files of `migrations/postgres/`.
    const RELEASED_POSTGRES: &[(i64, &str, &str)] = &[
        (
            1,
            "directory",
            "bd23209de92d916ba78d6259f0de6e68a6068dadbf8f8b8ec02772fdf1670ac681347321400b06a992e0cca64869395a",
        ),
        (
            2,
            "leases",
            "aee009684991426fb7c57078e54d08431b2e96429d2402b483d77328a1b03ee4d07e9cc6b892fc57a231febf2b8eaba1",
        ),
        (
            3,
            "settings",
            "d5fe0beca9ab14a48250d1be95c75fde8e565bb9f402fafa8abe0b17ef5e92f3e2e5122b55030e415c5e6a83008fba03",
        ),
        (
            4,
            "escalations",
            "7b66da3670891ecb707d7c5fab8db3fb12c692d833a1497a1c7d585dc0e04b159a8084fd0143ed43c3f5151a2e1c5195",
        ),
        (
            5,
            "audit",
            "b169e4e81c49f1aeea57c81310b1bf4ed3e33afbf6d98eeb48c209cc48f93dcab5c65e8c3ff12532f05381f393e27550",
        ),
        (
            6,
            "index",
            "554306e5589d92698c7ab90e47504d35322c4aa5c6c9da895cb02e244959e352dcb0ffb5512119df7bc7c76c3ac21efc",
        ),
        (
            7,
            "compliance",
            "367a01e10161c6058424ffd37213adc46e85866b40df4ba70a5fe3870b282b4e2f2812a764cc573f9a6b505141d4f51f",
        ),
        (
            8,
            "assignments",
            "ea20759b6b2df571602ab44a2093944b1871669de5fba4109ff7cedf41969afab0119fb81844c814f3adb33ad31dda55",
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
