//! `registry reconcile`: the command-line side of comparing the provincial index with a provincial
//! extract. The comparison itself is [`crate::reconcile`].

use std::path::PathBuf;

use crate::config::RegistryConfig;
use crate::store::Store;

/// `reconcile`: open the database and compare.
pub(super) async fn reconcile(
    config: &RegistryConfig,
    against: PathBuf,
    source: String,
    purpose: String,
    format: Option<String>,
    encoding: String,
    out: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    let args = crate::reconcile::Args {
        against,
        source,
        purpose,
        format,
        encoding,
        out,
        json,
    };
    crate::reconcile::run(&store, &args).await?;
    Ok(())
}
