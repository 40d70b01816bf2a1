//! `accord loadgen` (being written).

use clap::Args;

/// `accord loadgen` flags.
#[derive(Debug, Clone, Args)]
pub struct LoadgenArgs {}

/// Runs the load generator.
///
/// # Errors
/// Always, until written.
pub async fn main(_args: LoadgenArgs) -> anyhow::Result<()> {
    anyhow::bail!("loadgen is not written yet")
}
