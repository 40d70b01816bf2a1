//! `accord audit verify`: the audit trail checked offline against a checkpoint an auditor kept; `accord audit
//! verify-export`: an export of a range of it checked without Accord (`accord_search::audit::export`).
//!
//! It reads the store of a stopped search (or a copy of its data directory) read-only, checks every link of the
//! chain, then the checkpoint: its signature under the deployment's public key (`--public-key`, else the one of the
//! key file in the data directory), and that the chain still reaches its `seq` with its `hash`. It prints the
//! verification as JSON (the same document as `POST /v1/audit/verify`) and fails when the trail does not hold.

use accord_search::audit::{self, checkpoint};
use anyhow::Context as _;

use crate::cli::{AuditVerifyArgs, AuditVerifyExportArgs};

/// Runs `accord audit verify`.
///
/// # Errors
/// When the checkpoint or the store cannot be read, or the trail does not verify.
pub fn verify(args: AuditVerifyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.checkpoint).with_context(|| {
        format!(
            "failed to read the checkpoint {}",
            args.checkpoint.display()
        )
    })?;
    let kept: checkpoint::Checkpoint = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a checkpoint (the JSON of GET /v1/audit/checkpoint)",
            args.checkpoint.display()
        )
    })?;
    let dir = args.data_dir.join("search");
    let public_key = match &args.public_key {
        Some(key) => checkpoint::decode_public_key(key)?,
        None => {
            let path = checkpoint::key_path(&dir);
            let seed = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "failed to read the signing key {} (give --public-key when the key is configured)",
                    path.display()
                )
            })?;
            let seed = accord_runtime::secret::decode_key(&seed, &path.display().to_string())?;
            checkpoint::CheckpointSigner::from_seed(seed).public_key()
        }
    };
    let verification = audit::verify_offline(&dir, &kept, &public_key)?;
    println!("{}", serde_json::to_string_pretty(&verification)?);
    if !verification.ok {
        anyhow::bail!(
            "the audit trail does not verify against the checkpoint of seq {}",
            kept.seq
        );
    }
    Ok(())
}

/// Runs `accord audit verify-export FILE`: prints the verification as JSON.
///
/// # Errors
/// When the file cannot be read, the key is malformed, or the export does not verify.
pub fn verify_export(args: AuditVerifyExportArgs) -> anyhow::Result<()> {
    let key = args
        .public_key
        .as_deref()
        .map(checkpoint::decode_public_key)
        .transpose()?;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("failed to open the export {}", args.file.display()))?;
    let verification = audit::export::verify_export(std::io::BufReader::new(file), key.as_ref())
        .with_context(|| format!("failed to read the export {}", args.file.display()))?;
    println!("{}", serde_json::to_string_pretty(&verification)?);
    if !verification.ok {
        anyhow::bail!(
            "the export does not verify: {}",
            verification.problem.as_deref().unwrap_or("unknown problem")
        );
    }
    if verification.key_from_file {
        eprintln!(
            "note: checked under the public key the export names; give --public-key (GET /v1/audit/public-key) to \
             check that it is the deployment's"
        );
    }
    Ok(())
}
