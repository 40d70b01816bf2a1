//! The trail's unit tests: the chain, checkpoints, and what a kept checkpoint detects.
use super::*;
use crate::audit::verify::{CheckpointCheck, CheckpointResult, CheckpointSource};

pub(super) const HOUR: Duration = Duration::from_secs(3600);

pub(super) fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed([5; 32])
}

pub(super) fn entry(case: &str) -> AuditEntry {
    AuditEntry {
        at: chrono::Utc::now(),
        token_id: Some("tok-1".into()),
        organization: Some("ncu-de".into()),
        endpoint: "GET /v1/indicators/{value}".into(),
        purpose: Some("investigation".into()),
        case: Some(Case::parse(case).unwrap()),
        query: serde_json::json!({"value": "1.2.3.4"}),
        status: 200,
        results: 1,
        writer: None,
    }
}

async fn log_with(dir: &Path, records: usize) -> AuditLog {
    let log = AuditLog::open(dir, signer(), HOUR).unwrap();
    for index in 0..records {
        log.append(entry(&format!("case-{index}"))).await.unwrap();
    }
    log
}

#[tokio::test]
async fn chain_verifies_survives_reopen_and_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 20).await;
    assert_eq!(
        log.verify(None).unwrap(),
        Verification {
            ok: true,
            records: 20,
            first_bad: None,
            checkpoint: None,
        }
    );
    drop(log);
    let log = AuditLog::open(dir.path(), signer(), HOUR).unwrap();
    assert_eq!(log.append(entry("after-restart")).await.unwrap().seq(), 21);
    assert!(log.verify(None).unwrap().ok);

    let (records, _, _) = log.scan(0, 100, 1000, |_| true).unwrap();
    let newest: Vec<u64> = log
        .scan_back(3, 1000, |record| record.seq % 2 == 1)
        .unwrap()
        .iter()
        .map(|record| record.seq)
        .collect();
    assert_eq!(newest, vec![21, 19, 17], "newest first, filtered");
    assert!(
        log.scan_back(3, 1, |record| record.seq < 5)
            .unwrap()
            .is_empty()
    );
    let mut forged = records[6].clone();
    forged.entry.case = Some(Case::parse("forged").unwrap());
    log.tamper_for_tests(7, &serde_json::to_vec(&forged).unwrap())
        .unwrap();
    let verification = log.verify(None).unwrap();
    assert!(!verification.ok);
    assert_eq!(verification.first_bad, Some(7));
}

#[tokio::test]
async fn concurrent_appends_get_distinct_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), signer(), HOUR).unwrap();
    let mut handles = Vec::new();
    for index in 0..200 {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            log.append(entry(&index.to_string())).await
        }));
    }
    let mut seqs = Vec::new();
    for handle in handles {
        seqs.push(handle.await.unwrap().unwrap().seq());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    assert_eq!(log.verify(None).unwrap().records, 200);
}

fn check(verification: &Verification) -> Option<CheckpointResult> {
    verification.checkpoint.as_ref().map(|check| check.result)
}

#[tokio::test]
async fn a_checkpoint_covers_the_head_and_one_more_is_signed_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 10).await;
    let kept = log.checkpoint().await.unwrap();
    assert_eq!(kept.seq, 10);
    let (records, _, _) = log.scan(9, 1, 10, |_| true).unwrap();
    assert_eq!(kept.hash, records[0].hash);
    assert!(checkpoint::signature_holds(&log.public_key(), &kept));
    log.append(entry("later")).await.unwrap();
    drop(log);
    let log = AuditLog::open(dir.path(), signer(), HOUR).unwrap();
    assert_eq!(log.latest_checkpoint().unwrap().unwrap().seq, 11);
    let verification = log.verify(Some(&kept)).unwrap();
    assert!(verification.ok, "{verification:?}");
    assert_eq!(
        verification.checkpoint,
        Some(CheckpointCheck {
            seq: 10,
            source: CheckpointSource::Given,
            result: CheckpointResult::Holds
        })
    );
    assert_eq!(
        check(&log.verify(None).unwrap()),
        Some(CheckpointResult::Holds)
    );
}

#[tokio::test]
async fn a_kept_checkpoint_detects_a_truncated_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 12).await;
    let kept = log.checkpoint().await.unwrap();
    drop(log);
    tamper::truncate(dir.path(), 7).unwrap();
    let log = AuditLog::open(dir.path(), signer(), HOUR).unwrap();
    // The chain alone looks whole, and the intruder removed the stored checkpoints that contradict it.
    let alone = log.verify(None).unwrap();
    assert!(alone.ok && alone.records == 7, "{alone:?}");
    let verification = log.verify(Some(&kept)).unwrap();
    assert!(!verification.ok);
    assert_eq!(check(&verification), Some(CheckpointResult::Truncated));
    // New records after the cut do not hide it: the record at the kept seq is another one.
    for index in 0..10 {
        log.append(entry(&format!("new-{index}"))).await.unwrap();
    }
    assert_eq!(
        check(&log.verify(Some(&kept)).unwrap()),
        Some(CheckpointResult::Rewritten)
    );
    drop(log);
    // Offline, as `accord audit verify` does it.
    let offline = verify_offline(dir.path(), &kept, &signer().public_key()).unwrap();
    assert!(!offline.ok);
}

#[tokio::test]
async fn a_kept_checkpoint_detects_a_chain_rewritten_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 12).await;
    let kept = log.checkpoint().await.unwrap();
    drop(log);
    tamper::rewrite(dir.path(), |entry| {
        entry.case = Some(Case::parse("nothing-to-see").unwrap());
    })
    .unwrap();
    let log = AuditLog::open(dir.path(), signer(), HOUR).unwrap();
    let alone = log.verify(None).unwrap();
    assert!(alone.ok && alone.first_bad.is_none(), "{alone:?}");
    let verification = log.verify(Some(&kept)).unwrap();
    assert!(!verification.ok);
    assert_eq!(check(&verification), Some(CheckpointResult::Rewritten));
    // A checkpoint signed by another key is not evidence of anything.
    let forged = CheckpointSigner::from_seed([6; 32]).sign(kept.seq, &kept.hash);
    assert_eq!(
        check(&log.verify(Some(&forged)).unwrap()),
        Some(CheckpointResult::BadSignature)
    );
}

#[tokio::test]
async fn checkpoints_are_signed_periodically_while_the_chain_grows() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), signer(), Duration::from_millis(20)).unwrap();
    for index in 0..3 {
        log.append(entry(&index.to_string())).await.unwrap();
    }
    // Waits for the condition (a hang guard, not a timing assertion).
    let patience = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let latest = log.latest_checkpoint().unwrap();
        if latest.as_ref().is_some_and(|latest| latest.seq == 3) {
            break;
        }
        assert!(
            std::time::Instant::now() < patience,
            "no checkpoint: {latest:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_tokens_own_records_are_read_through_its_index_and_rebuilt_for_an_older_trail() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), signer(), HOUR).unwrap();
    for index in 0..30 {
        let mut entry = entry(&format!("case-{index}"));
        if index % 3 != 0 {
            entry.token_id = Some("tok-other".into());
        }
        log.append(entry).await.unwrap();
    }
    let seqs = |records: Vec<AuditRecord>| -> Vec<u64> {
        records.iter().map(|record| record.seq).collect()
    };
    assert_eq!(seqs(log.recent_of_token("tok-1", 3).unwrap()), [28, 25, 22]);
    assert_eq!(log.recent_of_token("tok-1", 100).unwrap().len(), 10);
    assert_eq!(log.recent_of_token("tok-other", 2).unwrap().len(), 2);
    assert!(log.recent_of_token("tok-none", 10).unwrap().is_empty());
    assert!(log.recent_of_token("", 10).unwrap().is_empty());
    // The index answers what a scan of the whole trail answers.
    let scanned = log
        .scan_back(100, 1000, |record| {
            record.entry.token_id.as_deref() == Some("tok-1")
        })
        .unwrap();
    assert_eq!(log.recent_of_token("tok-1", 100).unwrap(), scanned);
    drop(log);

    // A trail written before the index existed gets it built when opened.
    let db = redb::Database::open(dir.path().join(STORE_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    txn.delete_table(mine::BY_TOKEN).unwrap();
    txn.commit().unwrap();
    drop(db);
    let log = AuditLog::open(dir.path(), signer(), HOUR).unwrap();
    assert_eq!(log.recent_of_token("tok-1", 100).unwrap(), scanned);
    assert_eq!(log.append(entry("after")).await.unwrap().seq(), 31);
    assert_eq!(seqs(log.recent_of_token("tok-1", 1).unwrap()), [31]);
}

#[tokio::test]
async fn a_brief_record_is_the_record_with_each_list_replaced_by_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), signer(), HOUR).unwrap();
    let mut lookup = entry("case-brief");
    lookup.endpoint = "POST /v1/indicators/lookup".into();
    lookup.query = serde_json::json!({
        "values": (0..1000).map(|n| format!("10.0.{}.{}", n / 256, n % 256)).collect::<Vec<_>>(),
        "filters": { "type": ["url", "file"], "report": "r-1" },
        "q": "beacon", "size": 5, "nothing": null, "flag": true,
    });
    log.append(lookup).await.unwrap();
    let whole = log.recent_of_token("tok-1", 1).unwrap().remove(0);
    let brief = log.recent_of_token_brief("tok-1", 1).unwrap().remove(0);
    let mut expected = serde_json::to_value(&whole).unwrap();
    expected["query"]["values"] = serde_json::json!(1000);
    expected["query"]["filters"]["type"] = serde_json::json!(2);
    assert_eq!(serde_json::to_value(&brief).unwrap(), expected);
    assert!(
        log.recent_of_token_brief("tok-other", 1)
            .unwrap()
            .is_empty()
    );
}
