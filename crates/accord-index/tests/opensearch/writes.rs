//! Contract tests of writes: the exact bulk NDJSON Accord sends for claims, views and commits, versions, replacement,
//! staleness and batching (failures and retries are in `failures`).

use accord_domain::{ObservableType as T, ReportId};
use accord_index::{ReplaceViews, WriteOutcome, conformance as c};
use serde_json::{Value, json};

use crate::stub::{BulkKind, Reply, Stub, bulk_reply, conflict};

pub(crate) fn replace(report_id: &ReportId, version: u64, names: &[&str]) -> ReplaceViews {
    ReplaceViews {
        report_id: report_id.clone(),
        version,
        views: names.iter().map(|name| c::view(report_id, name)).collect(),
    }
}

pub(crate) fn doc_id(report_id: &ReportId, name: &str) -> String {
    format!("{report_id}:view--{name}")
}

/// The `(name, metadata)` of every action of a bulk request, without sources.
pub(crate) fn metas(request: &crate::stub::Recorded) -> Vec<(String, Value)> {
    request
        .actions()
        .into_iter()
        .map(|(name, meta, _)| (name, meta))
        .collect()
}

/// Answers `_mget` on the markers with one stored marker.
fn marker_answer(
    report_id: &ReportId,
    external: u64,
    views: &[String],
    superseded: &[String],
) -> Reply {
    let state = if external.is_multiple_of(2) {
        "pending"
    } else {
        "committed"
    };
    Reply::new(
        200,
        json!({ "docs": [{
            "_index": "accord-reports", "_id": report_id.as_str(), "_version": external,
            "_seq_no": 3, "_primary_term": 1, "found": true,
            "_source": {
                "report_id": report_id.as_str(), "version": external / 2, "state": state,
                "views": views, "superseded": superseded
            }
        }] }),
    )
}

#[tokio::test]
async fn a_write_claims_what_was_read_writes_views_and_commits_on_its_claim() {
    let stub = Stub::start().await;
    let index = stub.index();
    let report_id = c::report();
    let view = c::with_indicators(
        c::view(&report_id, "a"),
        &[
            (T::DomainName, "evil.example"),
            (T::Ipv4Addr, "10.0.0.0/8"),
            (T::Ipv4Addr, "192.0.2.1"),
        ],
    );
    let batch = vec![ReplaceViews {
        report_id: report_id.clone(),
        version: 7,
        views: vec![view.clone(), c::view(&report_id, "b")],
    }];
    assert_eq!(
        index.write(batch).await.unwrap(),
        vec![WriteOutcome::Written]
    );

    let mget = stub.to("/_mget");
    assert_eq!(mget.len(), 1);
    assert_eq!(mget[0].path, "/accord-reports/_mget");
    assert_eq!(mget[0].json(), json!({ "ids": [report_id.as_str()] }));

    let claims = stub.bulks(BulkKind::Claim);
    assert_eq!(claims.len(), 1);
    let (name, meta, source) = claims[0].actions().remove(0);
    // No marker was read: the claim creates it, and fails if another writer created one meanwhile.
    assert_eq!(
        (name.as_str(), meta),
        (
            "create",
            json!({ "_index": "accord-reports", "_id": report_id.as_str() })
        )
    );
    assert_eq!(
        source,
        Some(json!({
            "report_id": report_id.as_str(), "version": 7, "state": "pending",
            "views": [doc_id(&report_id, "a"), doc_id(&report_id, "b")], "superseded": []
        }))
    );

    let views = stub.bulks(BulkKind::Views);
    assert_eq!(views.len(), 1);
    let actions = views[0].actions();
    assert_eq!(actions.len(), 2);
    let (name, meta, source) = &actions[0];
    assert_eq!(name, "index");
    assert_eq!(
        meta,
        &json!({ "_index": "accord-views", "_id": doc_id(&report_id, "a"), "version": 7, "version_type": "external" })
    );
    let source = source.clone().expect("view source");
    assert_eq!(source["report_id"], json!(report_id.as_str()));
    assert_eq!(source["view_id"], json!("view--a"));
    assert_eq!(source["version"], json!(7));
    assert_eq!(source["grant"], json!(["ncu|investigation"]));
    assert_eq!(
        source["mou"],
        json!(["@versioned", "mou-default", "mou-default@1"])
    );
    assert_eq!(
        source["valid_from"],
        json!("2024-01-01T00:00:00.000000000Z")
    );
    assert_eq!(
        source["valid_until"],
        json!("2026-01-01T00:00:00.000000000Z")
    );
    assert_eq!(
        source["occurred_at"],
        json!("2024-06-01T00:00:00.000000000Z")
    );
    assert_eq!(
        source["indicator"],
        json!([
            "domain-name|evil.example",
            "ipv4-addr|10.0.0.0/8",
            "ipv4-addr|192.0.2.1"
        ])
    );
    assert_eq!(
        source["indicator_value"],
        json!(["evil.example", "10.0.0.0/8", "192.0.2.1"])
    );
    assert_eq!(
        source["indicator_type"],
        json!(["ipv4-addr", "domain-name"])
    );
    assert_eq!(source["cidr_v4"], json!(["10.0.0.0/8"]));
    assert_eq!(source["cidr_v6"], json!([]));
    assert_eq!(source["ip"], json!(["192.0.2.1"]));
    assert_eq!(
        (source["tlp"].clone(), source["sector"].clone()),
        (json!("amber"), json!("finance"))
    );
    assert_eq!(source["partner"], json!("bank-a"));
    let stored: accord_domain::View = serde_json::from_value(source["view"].clone()).unwrap();
    assert_eq!(stored, view);

    let commits = stub.bulks(BulkKind::Commit);
    assert_eq!(commits.len(), 1);
    let (name, meta, source) = commits[0].actions().remove(0);
    // The commit names the claim's own `_seq_no` (the stub answers 0, term 1): it fails if another writer claimed.
    assert_eq!(
        (name.as_str(), meta),
        (
            "index",
            json!({ "_index": "accord-reports", "_id": report_id.as_str(), "if_seq_no": 0, "if_primary_term": 1 })
        )
    );
    assert_eq!(source.expect("marker")["state"], json!("committed"));

    // Visibility comes from the index's refresh interval, never from a refresh per write.
    for request in stub.requests() {
        assert!(
            !request.query.contains("refresh"),
            "{} {}",
            request.path,
            request.query
        );
    }
    let order: Vec<String> = stub
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let writes = &order[order.len() - 4..];
    assert_eq!(
        writes,
        [
            "POST /accord-reports/_mget",
            "POST /_bulk",
            "POST /_bulk",
            "POST /_bulk"
        ]
    );
}

#[tokio::test]
async fn a_replacement_deletes_the_views_the_marker_lists() {
    let report_id = c::report();
    let listed = vec![doc_id(&report_id, "old"), doc_id(&report_id, "kept")];
    let scripted = report_id.clone();
    let stub = Stub::scripted(move |request, _| {
        (request.path == "/accord-reports/_mget").then(|| marker_answer(&scripted, 7, &listed, &[]))
    })
    .await;
    let outcomes = stub
        .index()
        .write(vec![replace(&report_id, 4, &["kept", "new"])])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Written]);

    let claim = stub.bulks(BulkKind::Claim).remove(0).actions().remove(0);
    assert_eq!(
        (
            claim.1["if_seq_no"].clone(),
            claim.1["if_primary_term"].clone()
        ),
        (json!(3), json!(1)),
        "the claim is conditional on the marker read"
    );
    assert_eq!(
        claim.2.expect("marker")["superseded"],
        json!([doc_id(&report_id, "old")])
    );
    let views = metas(&stub.bulks(BulkKind::Views)[0]);
    assert_eq!(
        views,
        vec![
            (
                "index".to_owned(),
                json!({ "_index": "accord-views", "_id": doc_id(&report_id, "kept"), "version": 4, "version_type": "external" })
            ),
            (
                "index".to_owned(),
                json!({ "_index": "accord-views", "_id": doc_id(&report_id, "new"), "version": 4, "version_type": "external" })
            ),
            (
                "delete".to_owned(),
                json!({ "_index": "accord-views", "_id": doc_id(&report_id, "old"), "version": 4, "version_type": "external" })
            ),
        ]
    );
}

#[tokio::test]
async fn committed_and_newer_versions_are_stale_without_writing() {
    let report_id = c::report();
    let scripted = report_id.clone();
    let stub = Stub::scripted(move |request, _| {
        (request.path == "/accord-reports/_mget")
            .then(|| marker_answer(&scripted, 2 * 5 + 1, &[], &[]))
    })
    .await;
    let outcomes = stub
        .index()
        .write(vec![
            replace(&report_id, 5, &["replay"]),
            replace(&report_id, 3, &["older"]),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Stale, WriteOutcome::Stale]);
    assert!(stub.to("/_bulk").is_empty(), "a stale batch writes nothing");
}

#[tokio::test]
async fn a_pending_marker_of_the_same_version_is_resumed() {
    let report_id = c::report();
    let (half, gone) = (doc_id(&report_id, "half"), doc_id(&report_id, "gone"));
    let scripted = report_id.clone();
    let stub = Stub::scripted(move |request, _| {
        (request.path == "/accord-reports/_mget").then(|| {
            marker_answer(
                &scripted,
                2 * 5,
                std::slice::from_ref(&half),
                std::slice::from_ref(&gone),
            )
        })
    })
    .await;
    let outcomes = stub
        .index()
        .write(vec![replace(&report_id, 5, &["whole"])])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Written]);
    let claim = stub.bulks(BulkKind::Claim).remove(0).actions().remove(0);
    assert_eq!(
        (claim.0.as_str(), claim.1["if_seq_no"].clone()),
        ("index", json!(3))
    );
    assert_eq!(claim.2.expect("marker")["version"], json!(5));
    let deleted: Vec<Value> = metas(&stub.bulks(BulkKind::Views)[0])
        .into_iter()
        .filter(|(name, _)| name == "delete")
        .map(|(_, meta)| meta["_id"].clone())
        .collect();
    assert_eq!(
        deleted,
        vec![
            json!(doc_id(&report_id, "gone")),
            json!(doc_id(&report_id, "half"))
        ]
    );
}

#[tokio::test]
async fn a_claim_conflict_reads_the_marker_again_and_a_newer_version_wins() {
    let (lost, won) = (c::report(), c::report());
    let (loser, newer) = (lost.clone(), lost.clone());
    let stub = Stub::scripted(move |request, nth| {
        if request.path == "/accord-reports/_mget" && nth > 0 {
            // Another writer committed version 3 after the first read.
            return Some(marker_answer(&newer, 2 * 3 + 1, &[], &[]));
        }
        (request.bulk_kind() == Some(BulkKind::Claim)).then(|| {
            bulk_reply(request, |_, action| {
                (action.1["_id"] == json!(loser.as_str())).then(|| conflict(action))
            })
        })
    })
    .await;
    let outcomes = stub
        .index()
        .write(vec![replace(&lost, 2, &["l"]), replace(&won, 2, &["w"])])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Stale, WriteOutcome::Written]);
    let reads = stub.to("/accord-reports/_mget");
    assert_eq!(reads.len(), 2, "the contended report is read again");
    assert_eq!(reads[1].json(), json!({ "ids": [lost.as_str()] }));
    assert_eq!(
        stub.bulks(BulkKind::Claim).len(),
        1,
        "a stale report is not claimed again"
    );
    let written: Vec<Value> = metas(&stub.bulks(BulkKind::Views)[0])
        .into_iter()
        .map(|(_, meta)| meta["_id"].clone())
        .collect();
    assert_eq!(
        written,
        vec![json!(doc_id(&won, "w"))],
        "nothing of the stale item is written"
    );
    assert_eq!(stub.bulks(BulkKind::Commit)[0].actions().len(), 1);
}

#[tokio::test]
async fn a_writer_whose_claim_was_taken_over_is_fenced_off() {
    let report_id = c::report();
    let (scripted, kept) = (report_id.clone(), doc_id(&report_id, "a"));
    let stub = Stub::scripted(move |request, nth| {
        if request.path == "/accord-reports/_mget" && nth > 0 {
            // A newer writer (version 9) claimed the report between this writer's claim and its commit.
            return Some(marker_answer(
                &scripted,
                2 * 9,
                std::slice::from_ref(&kept),
                &[],
            ));
        }
        (request.bulk_kind() == Some(BulkKind::Commit))
            .then(|| bulk_reply(request, |_, action| Some(conflict(action))))
    })
    .await;
    let outcomes = stub
        .index()
        .write(vec![replace(&report_id, 4, &["a", "b"])])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Stale]);
    let cleanup = stub.bulks(BulkKind::Views).pop().expect("cleanup");
    assert_eq!(
        metas(&cleanup),
        vec![(
            "delete".to_owned(),
            json!({ "_index": "accord-views", "_id": doc_id(&report_id, "b"), "version": 4, "version_type": "external_gte" })
        )],
        "only its own views the newer marker does not list, never a newer document"
    );
}

#[tokio::test]
async fn batch_items_keep_their_order_and_collapse_per_report() {
    let stub = Stub::start().await;
    let (a, b) = (c::report(), c::report());
    let outcomes = stub
        .index()
        .write(vec![
            replace(&a, 1, &["a1"]),
            replace(&b, 1, &["b1"]),
            replace(&a, 2, &["a2"]),
            replace(&a, 2, &["again"]),
        ])
        .await
        .unwrap();
    use WriteOutcome::{Stale, Written};
    assert_eq!(outcomes, vec![Written, Written, Written, Stale]);
    let claims: Vec<(String, Value, Value)> = stub.bulks(BulkKind::Claim)[0]
        .actions()
        .into_iter()
        .map(|(name, meta, source)| {
            (
                name,
                meta["_id"].clone(),
                source.expect("marker")["version"].clone(),
            )
        })
        .collect();
    assert_eq!(
        claims,
        vec![
            ("create".to_owned(), json!(a.as_str()), json!(2)),
            ("create".to_owned(), json!(b.as_str()), json!(1))
        ]
    );
    let written: Vec<Value> = metas(&stub.bulks(BulkKind::Views)[0])
        .into_iter()
        .map(|(_, meta)| meta["_id"].clone())
        .collect();
    assert_eq!(
        written,
        vec![json!(doc_id(&a, "a2")), json!(doc_id(&b, "b1"))],
        "a1 is replaced within the batch"
    );
}

#[tokio::test]
async fn large_batches_are_split_by_bytes() {
    let stub = Stub::start().await;
    let mut config = stub.config();
    config.bulk_max_bytes = 8 * 1024;
    let report_id = c::report();
    let names: Vec<String> = (0..20).map(|n| format!("v{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let outcomes = stub
        .index_with(config)
        .write(vec![replace(&report_id, 1, &names)])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Written]);
    let views = stub.bulks(BulkKind::Views);
    assert!(views.len() > 1, "split into {} requests", views.len());
    assert!(views.iter().all(|request| request.body.len() <= 8 * 1024));
    assert_eq!(
        views
            .iter()
            .map(|request| request.actions().len())
            .sum::<usize>(),
        20
    );
}
