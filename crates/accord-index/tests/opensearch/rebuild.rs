//! Contract tests of the index rebuilt behind an alias (decision 0066), on the model: a rebuild fills generation
//! n+1 while searches read n, the switch is one `POST _aliases` with remove + add, then searches read n+1 and n is
//! gone; a deployment from before generations keeps working and its first rebuild migrates it; a missing index at
//! start is created, reported empty, and a replay finds every report again. [`scenario`] also runs on a real cluster
//! (`live`).

use std::sync::{Arc, Mutex};

use accord_domain::ReportId;
use accord_index::{
    IndexClient, ReplaceViews, SearchIndex, WriteOutcome, conformance as c,
    opensearch_index::{Generations, OpenSearchIndex},
};
use serde_json::json;

use crate::{
    model::{Cluster, Index},
    stub::{Recorded, Stub},
    writes::replace,
};

/// Starts a stub serving `cluster`.
async fn serve(cluster: Cluster) -> (Stub, Arc<Mutex<Cluster>>) {
    let cluster = Arc::new(Mutex::new(cluster));
    let shared = Arc::clone(&cluster);
    let stub =
        Stub::scripted(move |request, _| Some(shared.lock().expect("model").handle(request))).await;
    (stub, cluster)
}

/// Writes `batch` through `index` and refreshes; returns the outcomes.
async fn write(index: &OpenSearchIndex, batch: Vec<ReplaceViews>) -> Vec<WriteOutcome> {
    c::write(&IndexClient::new(index.clone()), batch).await
}

/// Returns the sorted ids of every view `index` finds under the default release filter.
async fn found(index: &OpenSearchIndex) -> Vec<String> {
    c::sorted(c::ids(&IndexClient::new(index.clone()), c::query()).await.1)
}

/// The release sets of the scenario, in bus order (version = bus offset): three reports, one withdrawn later.
fn history(reports: &[ReportId; 3]) -> Vec<ReplaceViews> {
    let [a, b, gone] = reports;
    vec![
        replace(a, 1, &["a1"]),
        replace(gone, 2, &["gone"]),
        replace(b, 3, &["b1"]),
        replace(a, 4, &["a2"]),
        replace(gone, 5, &[]),
    ]
}

/// The rebuild as the indexer runs it, against any cluster: `live` has indexed the whole history in its current
/// generation; a rebuild is asked for; `live` writes a new release set while the rebuilder replays the history into
/// the new generation; searches keep reading the old one until the switch, then the new one. Returns the generations
/// (before, after).
pub(crate) async fn scenario(live: &OpenSearchIndex) -> (u64, u64) {
    let reports = [c::report(), c::report(), c::report()];
    let history = history(&reports);
    for release_set in history.clone() {
        assert_eq!(
            write(live, vec![release_set]).await,
            [WriteOutcome::Written]
        );
    }
    let before = live.generations().await.unwrap();
    let old = before.current.expect("a current generation");
    assert_eq!(before.pending, None);
    assert_eq!(found(live).await, c::sorted_ids(&["a2", "b1"]));

    let next = live.request_rebuild().await.unwrap();
    assert!(next > old);
    assert_eq!(
        live.request_rebuild().await.unwrap(),
        next,
        "a pending rebuild is found again, not started twice"
    );
    let during = live.generations().await.unwrap();
    assert_eq!((during.current, during.pending), (Some(old), Some(next)));
    live.write_also_to(next).await.unwrap();
    let rebuilder = live.generation(next);
    // The live writer indexes a new release set into both generations; the rebuilder replays part of the history.
    let fresh = c::report();
    assert_eq!(
        write(live, vec![replace(&fresh, 6, &["new"])]).await,
        [WriteOutcome::Written]
    );
    assert_eq!(
        write(&rebuilder, history[..2].to_vec()).await,
        [WriteOutcome::Written, WriteOutcome::Written]
    );
    assert_eq!(
        found(live).await,
        c::sorted_ids(&["a2", "b1", "new"]),
        "searches read the old generation during the rebuild"
    );
    assert_eq!(
        found(&rebuilder).await,
        c::sorted_ids(&["a1", "gone", "new"])
    );

    let rest = write(&rebuilder, history[2..].to_vec()).await;
    assert_eq!(
        rest,
        [
            WriteOutcome::Written,
            WriteOutcome::Written,
            WriteOutcome::Written
        ]
    );
    assert_eq!(
        write(&rebuilder, vec![replace(&fresh, 6, &["new"])]).await,
        [WriteOutcome::Stale],
        "what the live writer already wrote there is stale for the rebuilder"
    );
    live.switch_to(next).await.unwrap();
    live.refresh().await.unwrap();
    let after = live.generations().await.unwrap();
    assert_eq!(
        after,
        Generations {
            current: Some(next),
            pending: None,
            highest: Some(next)
        },
        "the old generation is deleted"
    );
    assert_eq!(found(live).await, c::sorted_ids(&["a2", "b1", "new"]));
    // After the switch the live writer writes the new generation only.
    assert_eq!(
        write(live, vec![replace(&fresh, 7, &["newer"])]).await,
        [WriteOutcome::Written]
    );
    assert_eq!(found(live).await, c::sorted_ids(&["a2", "b1", "newer"]));
    assert_eq!(
        live.generations().await.unwrap(),
        after,
        "no old index written back"
    );
    (old, next)
}

/// Returns the `_aliases` requests `stub` received.
fn alias_switches(stub: &Stub) -> Vec<Recorded> {
    stub.requests()
        .into_iter()
        .filter(|request| request.method == "POST" && request.path == "/_aliases")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_fills_the_next_generation_and_one_alias_call_switches_to_it() {
    let (stub, cluster) = serve(Cluster::default()).await;
    let live = OpenSearchIndex::new(stub.config()).unwrap();
    let (old, next) = scenario(&live).await;
    assert_eq!((old, next), (1, 2));

    let switches = alias_switches(&stub);
    assert_eq!(switches.len(), 1, "one atomic call");
    assert_eq!(
        switches[0].json(),
        json!({ "actions": [
            { "remove": { "index": "accord-views-1", "alias": "accord-views" } },
            { "add": { "index": "accord-views-2", "alias": "accord-views" } },
            { "remove": { "index": "accord-reports-1", "alias": "accord-reports" } },
            { "add": { "index": "accord-reports-2", "alias": "accord-reports" } },
        ]})
    );
    let deletions: Vec<String> = stub
        .requests()
        .into_iter()
        .filter(|request| request.method == "DELETE")
        .map(|request| request.path)
        .collect();
    assert_eq!(
        deletions,
        ["/accord-views-1", "/accord-reports-1"],
        "after the switch"
    );
    let model = cluster.lock().unwrap();
    assert_eq!(
        model.indices.keys().collect::<Vec<_>>(),
        ["accord-reports-2", "accord-views-2"]
    );
    assert_eq!(model.resolve("accord-views"), "accord-views-2");
    assert_eq!(model.resolve("accord-reports"), "accord-reports-2");
    // Searches never named a generation: they read the alias.
    assert!(
        stub.requests()
            .iter()
            .filter(|request| request.path.ends_with("/_search"))
            .all(|request| request.path == "/accord-views/_search"
                || request.path == "/accord-views-2/_search"),
        "the live handle searches the alias, the rebuilder its generation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_process_follows_the_alias_across_the_switch() {
    let (stub, _cluster) = serve(Cluster::default()).await;
    let live = OpenSearchIndex::new(stub.config()).unwrap();
    let mut config = stub.config();
    config.manage_indices = false;
    let reader = OpenSearchIndex::new(config).unwrap();
    let report = c::report();
    write(&live, vec![replace(&report, 1, &["kept"])]).await;
    assert_eq!(found(&reader).await, c::sorted_ids(&["kept"]));
    let next = live.request_rebuild().await.unwrap();
    write(&live.generation(next), vec![replace(&report, 1, &["kept"])]).await;
    live.switch_to(next).await.unwrap();
    assert_eq!(found(&reader).await, c::sorted_ids(&["kept"]));
    assert!(reader.generations().await.unwrap().current == Some(next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_from_before_generations_keeps_working_and_its_first_rebuild_migrates_it() {
    let mut cluster = Cluster::default();
    for legacy in ["accord-views", "accord-reports"] {
        cluster.indices.insert(legacy.to_owned(), Index::new(None));
    }
    let (stub, cluster) = serve(cluster).await;
    let live = OpenSearchIndex::new(stub.config()).unwrap();
    let report = c::report();
    write(&live, vec![replace(&report, 1, &["old"])]).await;
    assert!(
        !live.is_empty().await.unwrap(),
        "an existing index is not a lost one"
    );
    assert_eq!(live.generations().await.unwrap().current, Some(0));
    assert_eq!(found(&live).await, c::sorted_ids(&["old"]));
    assert!(
        cluster.lock().unwrap().indices["accord-views"].docs.len() == 1,
        "generation 0 is the concrete index, written as before"
    );
    assert!(
        !stub
            .requests()
            .iter()
            .any(|request| request.method == "PUT" && request.path.starts_with("/accord-views")),
        "no views index created (the markers index is created if missing, as before)"
    );

    let next = live.request_rebuild().await.unwrap();
    assert_eq!(next, 1);
    live.write_also_to(next).await.unwrap();
    write(&live.generation(next), vec![replace(&report, 1, &["old"])]).await;
    assert_eq!(found(&live).await, c::sorted_ids(&["old"]));
    live.switch_to(next).await.unwrap();
    let switches = alias_switches(&stub);
    assert_eq!(switches.len(), 1);
    assert_eq!(
        switches[0].json(),
        json!({ "actions": [
            { "remove_index": { "index": "accord-views" } },
            { "add": { "index": "accord-views-1", "alias": "accord-views" } },
            { "remove_index": { "index": "accord-reports" } },
            { "add": { "index": "accord-reports-1", "alias": "accord-reports" } },
        ]})
    );
    assert_eq!(found(&live).await, c::sorted_ids(&["old"]));
    let model = cluster.lock().unwrap();
    assert_eq!(
        model.indices.keys().collect::<Vec<_>>(),
        ["accord-reports-1", "accord-views-1"]
    );
    assert_eq!(model.resolve("accord-views"), "accord-views-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_index_at_start_is_created_reported_empty_and_a_replay_finds_every_report() {
    let (stub, cluster) = serve(Cluster::default()).await;
    let first = OpenSearchIndex::new(stub.config()).unwrap();
    assert!(
        first.is_empty().await.unwrap(),
        "a new deployment's index is created empty"
    );
    let reports = [c::report(), c::report(), c::report()];
    for release_set in history(&reports) {
        write(&first, vec![release_set]).await;
    }
    let restarted = OpenSearchIndex::new(stub.config()).unwrap();
    assert!(
        !restarted.is_empty().await.unwrap(),
        "an index that is there"
    );
    drop((first, restarted));

    // The index is lost: both indices of the generation are deleted, the aliases with them.
    {
        let mut model = cluster.lock().unwrap();
        model.indices.clear();
        model.aliases.clear();
    }
    let after_loss = OpenSearchIndex::new(stub.config()).unwrap();
    assert!(
        after_loss.is_empty().await.unwrap(),
        "the loss is seen at start"
    );
    assert_eq!(after_loss.generations().await.unwrap().current, Some(1));
    assert!(found(&after_loss).await.is_empty());
    // The indexer replays the topic from the start (versions are the bus offsets): every report is found again,
    // the withdrawn one stays withdrawn.
    let outcomes = write(&after_loss, history(&reports)).await;
    assert!(
        outcomes
            .iter()
            .all(|outcome| matches!(outcome, WriteOutcome::Written | WriteOutcome::Stale))
    );
    assert_eq!(found(&after_loss).await, c::sorted_ids(&["a2", "b1"]));
}

#[tokio::test]
async fn a_rebuild_needs_an_index_to_rebuild() {
    let stub = Stub::scripted(|request, _| {
        request
            .path
            .ends_with("/_alias")
            .then(|| crate::stub::Reply::new(200, json!({})))
    })
    .await;
    let mut config = stub.config();
    config.manage_indices = false;
    let reader = OpenSearchIndex::new(config).unwrap();
    assert!(reader.request_rebuild().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_does_not_manage_the_indices_writes_both_generations_during_a_rebuild() {
    let (stub, cluster) = serve(Cluster::default()).await;
    let live = OpenSearchIndex::new(stub.config()).unwrap();
    live.health().await.unwrap();
    let mut config = stub.config();
    config.manage_indices = false;
    let unmanaged = OpenSearchIndex::new(config).unwrap();
    let next = unmanaged.request_rebuild().await.unwrap();
    assert_eq!(next, 2);
    unmanaged.write_also_to(next).await.unwrap();
    let report = c::report();
    write(&unmanaged, vec![replace(&report, 1, &["both"])]).await;
    let model = cluster.lock().unwrap();
    for index in ["accord-views-1", "accord-views-2"] {
        assert_eq!(model.indices[index].docs.len(), 1, "{index}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_lost_index_left_is_deleted_before_the_next_generation_takes_the_aliases() {
    // A deployment from before generations lost its views index; its markers remain and hold the alias's name.
    let mut cluster = Cluster::default();
    cluster
        .indices
        .insert("accord-reports".to_owned(), Index::new(None));
    cluster
        .indices
        .insert("accord-reports-7".to_owned(), Index::new(None));
    cluster
        .indices
        .insert("accord-reports-x".to_owned(), Index::new(None));
    let (stub, cluster) = serve(cluster).await;
    let index = OpenSearchIndex::new(stub.config()).unwrap();
    assert!(index.is_empty().await.unwrap());
    let model = cluster.lock().unwrap();
    assert_eq!(
        model.indices.keys().collect::<Vec<_>>(),
        ["accord-reports-1", "accord-reports-x", "accord-views-1"],
        "`accord-reports-x` is no generation of this prefix: left alone"
    );
    assert_eq!(model.resolve("accord-reports"), "accord-reports-1");
}
