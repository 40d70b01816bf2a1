//! `accord bus verify`: checks the embedded bus of a stopped Accord — the file's own checksums (repaired from the
//! last durable commit where redb can) and every record's CRC32C — and prints what it found, per topic. A damaged
//! record is what a running Accord delivers as corrupt and dead-letters with its position (docs/runbook.md); this
//! finds them all at once. Exits non-zero when anything is damaged.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

/// `accord bus verify`.
#[derive(Debug, Clone, Args)]
pub struct BusVerifyArgs {
    /// The data directory of the stopped Accord (its bus is DATA_DIR/bus).
    #[arg(long, env = "ACCORD_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Verifies and prints; an error when something is damaged.
///
/// # Errors
/// When the log is held by a running Accord, missing, damaged beyond repair, or holds damaged records.
pub fn verify(args: BusVerifyArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.join("bus");
    let verification = accord_bus::embedded::verify::verify(&dir).with_context(|| {
        format!(
            "cannot verify the bus in {} (stop Accord first)",
            dir.display()
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verification)?);
    } else {
        println!(
            "file: {}",
            if verification.file_intact {
                "intact"
            } else {
                "damaged, repaired to its last durable commit"
            }
        );
        for topic in &verification.topics {
            println!(
                "{}: {} records, {} damaged",
                topic.topic, topic.records, topic.damaged
            );
            for (offset, why) in &topic.listed {
                println!("  offset {offset}: {why}");
            }
            if let Some(why) = &topic.unreadable {
                println!("  unreadable: {why}");
            }
        }
    }
    if !verification.file_intact || !verification.records_intact() {
        anyhow::bail!(
            "the bus is damaged: each damaged record is dead-lettered when read (docs/runbook.md)"
        );
    }
    Ok(())
}
