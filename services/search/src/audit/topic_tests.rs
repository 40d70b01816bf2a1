//! The deployment's trail ([`super::topic`]) on a real embedded bus: several logs (replicas) on one bus hold one
//! chain, a duplicate publish and a redelivery are chained once, a restart continues the chain, an upgraded store
//! continues after its local records, and a failed publish refuses the request.
use std::{collections::BTreeSet, path::Path, time::Duration};

use accord_bus::{BusClient, SubscribeOptions};
use accord_domain::topics;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{
    AuditLog, AuditRecord, GENESIS_HASH, chain_hash,
    tests::{HOUR, entry, signer},
};

/// A log on the bus with its trail running.
struct Replica {
    log: AuditLog,
    group: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    async fn start(dir: &Path, bus: &BusClient) -> Self {
        let local = AuditLog::open(dir, signer(), HOUR).unwrap();
        let (log, trail) = local.on_bus(bus.clone()).unwrap();
        let group = trail.group();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(trail.run(shutdown.clone()));
        Self {
            log,
            group,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        drop(self.log);
    }

    fn records(&self) -> Vec<AuditRecord> {
        self.log
            .scan(0, usize::MAX, usize::MAX, |_| true)
            .unwrap()
            .0
    }

    /// Waits (hang guard: a minute) until the chain holds `count` records, and returns them.
    async fn wait_for(&self, count: usize) -> Vec<AuditRecord> {
        for _ in 0..3000 {
            let records = self.records();
            if records.len() >= count {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the chain never held {count} records: {}",
            self.records().len()
        );
    }
}

fn cases(records: &[AuditRecord]) -> Vec<String> {
    records
        .iter()
        .map(|record| record.entry.case.as_ref().unwrap().to_string())
        .collect()
}

async fn bus(dir: &Path) -> BusClient {
    BusClient::from_url(dir.to_str().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_hold_one_chain_with_every_record_once_and_a_new_one_rebuilds_it() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let bus = bus(dirs[0].path()).await;
    let a = Replica::start(dirs[1].path(), &bus).await;
    let b = Replica::start(dirs[2].path(), &bus).await;
    let mut appends = Vec::new();
    for index in 0..40 {
        let log = if index % 2 == 0 { &a.log } else { &b.log }.clone();
        appends.push(tokio::spawn(async move {
            let case = format!("case-{index}");
            let receipt = log.append(entry(&case)).await.unwrap();
            // Read your writes: the receipt's record is in the appending replica's own chain at once.
            let (records, _, _) = log.scan(receipt.seq() - 1, 1, 1, |_| true).unwrap();
            assert_eq!(cases(&records), [case]);
            assert!(records[0].entry.writer.is_some());
        }));
    }
    for append in appends {
        append.await.unwrap();
    }
    let (chain_a, chain_b) = (a.wait_for(40).await, b.wait_for(40).await);
    assert_eq!(chain_a, chain_b, "the same chain, record for record");
    let distinct: BTreeSet<String> = cases(&chain_a).into_iter().collect();
    assert_eq!((chain_a.len(), distinct.len()), (40, 40), "each once");
    let writers: BTreeSet<_> = chain_a.iter().map(|r| r.entry.writer.clone()).collect();
    assert_eq!(writers.len(), 2);
    for replica in [&a, &b] {
        let verification = replica.log.verify(None).unwrap();
        assert!(
            verification.ok && verification.records == 40,
            "{verification:?}"
        );
    }

    let c = Replica::start(dirs[3].path(), &bus).await;
    assert_eq!(
        c.wait_for(40).await,
        chain_a,
        "a new replica rebuilds the same chain"
    );
    let mut forged = chain_a[4].clone();
    forged.entry.results = 1000;
    c.log
        .tamper_for_tests(5, &serde_json::to_vec(&forged).unwrap())
        .unwrap();
    let verification = c.log.verify(None).unwrap();
    assert!(!verification.ok);
    assert_eq!(verification.first_bad, Some(5));
    for replica in [a, b, c] {
        replica.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_publish_is_chained_once() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let bus = bus(dirs[0].path()).await;
    let a = Replica::start(dirs[1].path(), &bus).await;
    for index in 0..3 {
        a.log.append(entry(&format!("case-{index}"))).await.unwrap();
    }
    // A producer retry: the first record published again, as it was.
    let mut reader = bus
        .subscribe(SubscribeOptions {
            topic: topics::AUDIT_RECORDS.to_owned(),
            group: None,
        })
        .await
        .unwrap();
    let first = reader.next_batch(1).await.unwrap().remove(0);
    bus.publish(topics::AUDIT_RECORDS, vec![first.record])
        .await
        .unwrap();
    a.log.append(entry("case-3")).await.unwrap();
    let expected = ["case-0", "case-1", "case-2", "case-3"];
    assert_eq!(cases(&a.wait_for(4).await), expected);
    let b = Replica::start(dirs[2].path(), &bus).await;
    assert_eq!(cases(&b.wait_for(4).await), expected);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.records().len(), 4, "the duplicate was not chained");
    assert!(b.log.verify(None).unwrap().ok);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_continues_the_chain_and_chains_a_redelivery_once() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let bus = bus(dirs[0].path()).await;
    let a = Replica::start(dirs[1].path(), &bus).await;
    for index in 0..5 {
        a.log.append(entry(&format!("case-{index}"))).await.unwrap();
    }
    let group = a.group.clone();
    a.stop().await;
    // As if the process had crashed after storing the records and before committing their offsets.
    let rewound = bus
        .rewind_group(&group, topics::AUDIT_RECORDS)
        .await
        .unwrap();
    assert!(rewound > 0);
    let a = Replica::start(dirs[1].path(), &bus).await;
    assert_eq!(a.group, group, "the same writer id, the same group");
    let receipt = a.log.append(entry("case-5")).await.unwrap();
    assert_eq!(
        receipt.seq(),
        6,
        "the chain continues; nothing was chained twice"
    );
    let records = a.wait_for(6).await;
    assert_eq!(records.len(), 6);
    assert!(a.log.verify(None).unwrap().ok);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_restored_from_a_backup_chains_what_it_missed() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let bus = bus(dirs[0].path()).await;
    let a = Replica::start(dirs[1].path(), &bus).await;
    for index in 0..3 {
        a.log.append(entry(&format!("case-{index}"))).await.unwrap();
    }
    a.stop().await;
    let store = dirs[1].path().join(super::STORE_FILE);
    let backup = dirs[2].path().join("backup.redb");
    std::fs::copy(&store, &backup).unwrap();
    let a = Replica::start(dirs[1].path(), &bus).await;
    for index in 3..6 {
        a.log.append(entry(&format!("case-{index}"))).await.unwrap();
    }
    let before = a.wait_for(6).await;
    a.stop().await;
    std::fs::copy(&backup, &store).unwrap();
    let a = Replica::start(dirs[1].path(), &bus).await;
    assert_eq!(
        a.wait_for(6).await,
        before,
        "the records after the backup chained again"
    );
    assert_eq!(a.log.append(entry("case-6")).await.unwrap().seq(), 7);
    assert!(a.log.verify(None).unwrap().ok);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_store_continues_after_its_local_records() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let local = AuditLog::open(dirs[1].path(), signer(), HOUR).unwrap();
    for index in 0..3 {
        local
            .append(entry(&format!("local-{index}")))
            .await
            .unwrap();
    }
    drop(local);
    let bus = bus(dirs[0].path()).await;
    let a = Replica::start(dirs[1].path(), &bus).await;
    assert_eq!(a.log.append(entry("topic-0")).await.unwrap().seq(), 4);
    let records = a.wait_for(4).await;
    assert_eq!(
        cases(&records),
        ["local-0", "local-1", "local-2", "topic-0"]
    );
    assert!(a.log.verify(None).unwrap().ok);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_bus_refuses_fails_the_request_and_chains_nothing() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let bus = bus(dirs[0].path()).await;
    let a = Replica::start(dirs[1].path(), &bus).await;
    let mut huge = entry("huge");
    huge.query = serde_json::json!({ "value": "x".repeat(bus.max_record_bytes() + 1) });
    assert!(
        a.log.append(huge).await.is_err(),
        "refused, so nothing is released"
    );
    assert_eq!(a.log.append(entry("after")).await.unwrap().seq(), 1);
    assert_eq!(cases(&a.records()), ["after"]);
    a.stop().await;
}

#[test]
fn a_record_without_a_writer_keeps_the_hash_it_was_written_with() {
    // The canonical form as records were hashed before the writer field existed, written out by hand.
    let canonical = format!(
        "{{\"seq\":1,\"entry\":{{\"at\":\"2026-12-01T10:00:00Z\",\"token_id\":\"tok-1\",\"organization\":\"ncu-de\",\
         \"endpoint\":\"POST /v1/search\",\"purpose\":\"investigation\",\"case\":\"CASE-1\",\"query\":{{\"q\":\"x\"}},\
         \"status\":200,\"results\":2}},\"prev_hash\":\"{GENESIS_HASH}\"}}"
    );
    let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
    let stored = format!(
        "{{\"seq\":1,\"at\":\"2026-12-01T10:00:00Z\",\"token_id\":\"tok-1\",\"organization\":\"ncu-de\",\
         \"endpoint\":\"POST /v1/search\",\"purpose\":\"investigation\",\"case\":\"CASE-1\",\"query\":{{\"q\":\"x\"}},\
         \"status\":200,\"results\":2,\"prev_hash\":\"{GENESIS_HASH}\",\"hash\":\"{hash}\"}}"
    );
    let record: AuditRecord = serde_json::from_str(&stored).unwrap();
    assert_eq!(record.entry.writer, None);
    assert_eq!(chain_hash(1, &record.entry, GENESIS_HASH), hash);
    let mut written = record.entry.clone();
    written.writer = Some("w".into());
    assert_ne!(
        chain_hash(1, &written, GENESIS_HASH),
        hash,
        "the writer is hashed"
    );
}
