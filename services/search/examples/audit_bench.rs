//! Measures the audit trail: group-committed appends from concurrent requests, a signed checkpoint, and a whole-chain
//! verification against it. Run: `cargo run --release -p accord-search --example audit_bench -- [RECORDS]`.

use std::time::{Duration, Instant};

use accord_domain::Case;
use accord_search::audit::{AuditEntry, AuditLog, checkpoint::CheckpointSigner};

fn entry(index: usize) -> AuditEntry {
    AuditEntry {
        at: chrono::Utc::now(),
        token_id: Some("tok-0123456789abcdef".to_owned()),
        organization: Some("ncu-de".to_owned()),
        endpoint: "GET /v1/indicators/{value}".to_owned(),
        purpose: Some("investigation".to_owned()),
        case: Case::parse(&format!("CASE-{}", index % 97)).ok(),
        query: serde_json::json!({ "value": format!("198.51.100.{}", index % 250) }),
        status: 200,
        results: 1,
        writer: None,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let records: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(50_000);
    let dir = tempfile::tempdir()?;
    let log = AuditLog::open(
        dir.path(),
        CheckpointSigner::from_seed([1; 32]),
        Duration::from_secs(3600),
    )?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for index in (worker..records).step_by(64) {
                log.append(entry(index)).await?;
            }
            Ok::<_, accord_search::audit::AuditError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let appended = started.elapsed();
    let started = Instant::now();
    let checkpoint = log.checkpoint().await?;
    let signed = started.elapsed();
    let started = Instant::now();
    let verification = log.verify(Some(&checkpoint))?;
    let verified = started.elapsed();
    assert!(verification.ok);
    println!(
        "{records} records: appended by 64 concurrent requests in {:.2?} ({:.0}/s), checkpoint in {signed:.2?}, \
         whole chain verified against it in {verified:.2?} ({:.0} records/s)",
        appended,
        records as f64 / appended.as_secs_f64(),
        records as f64 / verified.as_secs_f64(),
    );
    Ok(())
}
