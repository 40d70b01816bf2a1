//! An export of a real trail verifies, and fails once tampered with in any way.
use std::{path::Path, time::Duration};

use accord_domain::Case;

use super::*;
use crate::audit::{AuditEntry, AuditLog, checkpoint::CheckpointSigner};

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed([5; 32])
}

fn entry(organization: &str, index: usize) -> AuditEntry {
    AuditEntry {
        at: chrono::Utc::now(),
        token_id: Some(format!("tok-{organization}")),
        organization: Some(organization.to_owned()),
        endpoint: "POST /v1/search".into(),
        purpose: Some("investigation".into()),
        case: Some(Case::parse(&format!("case-{index}")).unwrap()),
        query: serde_json::json!({"q": "phishing", "size": 20, "ratio": 0.5, "values": [index]}),
        status: if index.is_multiple_of(5) { 403 } else { 200 },
        results: index as u64,
        writer: None,
    }
}

/// A trail of 30 records, alternately of `ncu-de` and `ncu-fr`.
async fn trail(dir: &Path) -> AuditLog {
    let log = AuditLog::open(dir, signer(), Duration::from_secs(3600)).unwrap();
    for index in 0..30 {
        let org = if index % 2 == 0 { "ncu-de" } else { "ncu-fr" };
        log.append(entry(org, index)).await.unwrap();
    }
    log
}

/// Exports what `keep` admits after `after`, as the API does.
async fn export(log: &AuditLog, after: u64, keep: impl Fn(&AuditRecord) -> bool) -> Vec<String> {
    let range = log.export_range(after, 1000, 1000, keep).unwrap();
    let checkpoint = match &range.last {
        Some((seq, _)) => log.sign_record(*seq).await.unwrap(),
        None => None,
    };
    let bytes = range.write(
        serde_json::json!({"organization": "ncu-de"}),
        &log.public_key(),
        None,
        checkpoint,
    );
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn verify(lines: &[String], key: Option<&VerifyingKey>) -> ExportVerification {
    verify_export(lines.join("\n").as_bytes(), key).unwrap()
}

fn de(record: &AuditRecord) -> bool {
    record.entry.organization.as_deref() == Some("ncu-de")
}

#[tokio::test]
async fn an_export_of_one_organization_verifies_with_links_for_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let log = trail(dir.path()).await;
    let lines = export(&log, 0, de).await;
    let key = log.public_key();
    let verdict = verify(&lines, Some(&key));
    assert!(verdict.ok, "{verdict:?}");
    // Records 1, 3, …, 29 of ncu-de, and ncu-fr's 2, 4, …, 28 between them as links; none after the last.
    assert_eq!((verdict.records, verdict.links), (15, 14));
    assert_eq!((verdict.first_seq, verdict.last_seq), (Some(1), Some(29)));
    assert!(!verdict.key_from_file && verdict.complete);
    assert!(verify(&lines, None).ok, "with the header's own key");
    for line in &lines {
        let parsed: Line = serde_json::from_str(line).unwrap();
        if let Line::Link(link) = &parsed {
            assert!(link.seq % 2 == 0);
            assert!(
                !line.contains("ncu-fr"),
                "a link carries no content: {line}"
            );
        }
    }
    // A range starting later: its header's prev_hash is the hash of the record before it.
    let later = export(&log, 20, de).await;
    let verdict = verify(&later, Some(&key));
    assert!(verdict.ok, "{verdict:?}");
    assert_eq!((verdict.first_seq, verdict.records), (Some(21), 5));
    // Nothing admitted: an empty range that verifies, with no checkpoint.
    let none = export(&log, 0, |_| false).await;
    assert_eq!(none.len(), 2);
    let verdict = verify(&none, Some(&key));
    assert!(verdict.ok && verdict.records == 0, "{verdict:?}");
}

/// Returns `lines` with line `index` changed by `change` (a JSON value).
fn edited(lines: &[String], index: usize, change: impl Fn(&mut serde_json::Value)) -> Vec<String> {
    let mut lines = lines.to_vec();
    let mut value: serde_json::Value = serde_json::from_str(&lines[index]).unwrap();
    change(&mut value);
    lines[index] = value.to_string();
    lines
}

#[tokio::test]
async fn a_tampered_export_fails_at_the_line_tampered_with() {
    let dir = tempfile::tempdir().unwrap();
    let log = trail(dir.path()).await;
    let lines = export(&log, 0, de).await;
    let key = log.public_key();
    // Line 1 is the header; line 4 (index 3) is record 3, of ncu-de.
    let cases = [
        (
            "a record's case changed",
            edited(&lines, 3, |v| v["record"]["case"] = "other-case".into()),
        ),
        (
            "a record's result count changed",
            edited(&lines, 3, |v| v["record"]["results"] = 0.into()),
        ),
        (
            "a record changed and its hash recomputed",
            edited(&lines, 3, |v| {
                v["record"]["status"] = 500.into();
                let record: AuditRecord = serde_json::from_value(v["record"].clone()).unwrap();
                v["record"]["hash"] =
                    chain_hash(record.seq, &record.entry, &record.prev_hash).into();
            }),
        ),
        (
            "a link's hash changed",
            edited(&lines, 2, |v| v["hash"] = "ab".repeat(32).into()),
        ),
        (
            "the anchor changed",
            edited(&lines, 0, |v| v["prev_hash"] = "cd".repeat(32).into()),
        ),
        (
            "the checkpoint changed",
            edited(&lines, lines.len() - 1, |v| {
                v["checkpoint"]["seq"] = 27.into()
            }),
        ),
    ];
    for (what, tampered) in cases {
        let verdict = verify(&tampered, Some(&key));
        assert!(!verdict.ok, "{what}: {verdict:?}");
        assert!(
            verdict.problem.is_some() && verdict.first_bad_line.is_some(),
            "{what}"
        );
    }
    let mut dropped = lines.clone();
    dropped.remove(5);
    let verdict = verify(&dropped, Some(&key));
    assert_eq!(
        verdict.first_bad_line,
        Some(6),
        "a dropped record: {verdict:?}"
    );
    let mut swapped = lines.clone();
    swapped.swap(3, 5);
    assert!(!verify(&swapped, Some(&key)).ok, "reordered records");
    let mut cut = lines.clone();
    cut.remove(lines.len() - 2);
    assert!(!verify(&cut, Some(&key)).ok, "the last record cut off");
    let mut truncated = lines.clone();
    truncated.pop();
    assert!(!verify(&truncated, Some(&key)).ok, "no end line");
    // Re-signed with another key: fails under the deployment's key, and says so when the file's own key is used.
    let forger = CheckpointSigner::from_seed([6; 32]);
    let forged = edited(&lines, lines.len() - 1, |v| {
        let checkpoint: Checkpoint = serde_json::from_value(v["checkpoint"].clone()).unwrap();
        v["checkpoint"] =
            serde_json::to_value(forger.sign(checkpoint.seq, &checkpoint.hash)).unwrap();
    });
    assert!(!verify(&forged, Some(&key)).ok, "another key's signature");
    let verdict = verify(&forged, None);
    assert!(
        !verdict.ok && verdict.key_from_file,
        "the header still names the deployment's key"
    );
    assert!(!verify(&["not json".to_owned()], Some(&key)).ok);
}
