//! `registry audit verify`: recompute the hash chain of the audit log of province-wide queries.
//! Writing the log is the store's ([`crate::store`]).

use anyhow::bail;
use clap::Subcommand;

use crate::config::RegistryConfig;
use crate::store::Store;

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Recompute the hash chain; fails if an entry was changed or removed.
    Verify,
}

/// `audit verify`: fails if an entry was changed or removed.
pub(super) async fn verify(config: &RegistryConfig) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url()).await?;
    match store.verify_audit_chain().await? {
        Ok(entries) => {
            println!("审计日志完整 audit log intact: {entries} entries, hash chain verified")
        }
        Err(problem) => bail!("审计日志被篡改 the audit log fails verification: {problem}"),
    }
    Ok(())
}
