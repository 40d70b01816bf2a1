//! Two writers of one report racing on the model, their requests interleaved by seeded random delays, with delete
//! tombstones that expire at once (`gc_deletes` 0: the older writer behaves like a consumer that lost its partition
//! and writes more than `index.gc_deletes` late). Whatever the interleaving, the index ends up holding exactly the
//! newest version's views, and the report marker lists them: no orphan, no resurrected view.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use accord_index::{WriteOutcome, conformance as c};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::{
    model::Cluster,
    stub::Stub,
    writes::{doc_id, replace},
};

/// Runs one race with `seed`: version 1 committed, then versions 2 and 3 written at once by two clients.
async fn race(seed: u64) {
    let mut model = Cluster::default();
    model.gc_deletes_ms = 0;
    let cluster = Arc::new(Mutex::new(model));
    let shared = Arc::clone(&cluster);
    let rng = Mutex::new(StdRng::seed_from_u64(seed));
    let stub = Stub::scripted(move |request, _| {
        let delay = Duration::from_micros(rng.lock().expect("rng").random_range(0..1_500));
        Some(shared.lock().expect("model").handle(request).delayed(delay))
    })
    .await;
    let report_id = c::report();
    let first = stub.index();
    assert_eq!(
        first
            .write(vec![replace(&report_id, 1, &["x", "shared"])])
            .await
            .unwrap(),
        vec![WriteOutcome::Written]
    );
    let (older, newer) = (stub.index(), stub.index());
    let (older_batch, newer_batch) = (
        vec![replace(&report_id, 2, &["a2", "shared"])],
        vec![replace(&report_id, 3, &["b3", "shared"])],
    );
    let older = tokio::spawn(async move { older.write(older_batch).await });
    let newer = tokio::spawn(async move { newer.write(newer_batch).await });
    let (older, newer) = (older.await.unwrap().unwrap(), newer.await.unwrap().unwrap());
    assert_eq!(newer, vec![WriteOutcome::Written], "seed {seed}");
    assert!(
        matches!(older[0], WriteOutcome::Written | WriteOutcome::Stale),
        "seed {seed}: {older:?}"
    );

    let model = cluster.lock().expect("model");
    let (views_index, reports_index) = (
        model.resolve("accord-views"),
        model.resolve("accord-reports"),
    );
    assert_eq!(
        (views_index.as_str(), reports_index.as_str()),
        ("accord-views-1", "accord-reports-1"),
        "a new deployment starts at generation 1 behind the aliases"
    );
    let views: BTreeSet<String> = model.indices[&views_index].docs.keys().cloned().collect();
    let expected: BTreeSet<String> = ["b3", "shared"]
        .iter()
        .map(|name| doc_id(&report_id, name))
        .collect();
    assert_eq!(
        views, expected,
        "seed {seed}: only version 3's views remain"
    );
    assert_eq!(
        model.indices[&views_index].docs[&doc_id(&report_id, "shared")].version,
        3
    );
    let marker = &model.indices[&reports_index].docs[report_id.as_str()].source;
    assert_eq!(
        (marker["version"].clone(), marker["state"].clone()),
        (serde_json::json!(3), serde_json::json!("committed")),
        "seed {seed}"
    );
    let listed: BTreeSet<String> = serde_json::from_value(marker["views"].clone()).unwrap();
    assert_eq!(listed, expected, "seed {seed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_of_one_report_leave_exactly_the_newest_views() {
    for seed in 0..60 {
        race(seed).await;
    }
}
