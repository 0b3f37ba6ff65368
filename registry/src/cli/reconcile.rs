//! `registry reconcile`: the command-line side of comparing the provincial index with a provincial
//! extract. The comparison itself is [`crate::reconcile`].

use crate::config::RegistryConfig;
use crate::store::Store;

/// `reconcile`: open the database and compare.
pub(super) async fn reconcile(
    config: &RegistryConfig,
    args: &crate::reconcile::Args,
) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    crate::reconcile::run(&store, args).await?;
    Ok(())
}
