//! Contract tests of what Accord makes of OpenSearch's failures: item and request rejections (429), server errors,
//! bad documents, timeouts after the write was applied, and an unavailable cluster.

use std::time::Duration;

use accord_index::{IndexError, WriteOutcome, conformance as c};
use serde_json::{Value, json};

use crate::{
    stub::{BulkKind, Reply, Stub, bulk_reply, conflict, failure},
    writes::{doc_id, metas, replace},
};

#[tokio::test]
async fn rejected_and_failed_items_are_retried_alone_until_written() {
    let stub = Stub::scripted(|request, nth| {
        (request.bulk_kind() == Some(BulkKind::Views) && nth == 0).then(|| {
            bulk_reply(request, |position, action| match position {
                0 => Some(failure(
                    action,
                    429,
                    "es_rejected_execution_exception",
                    "rejected execution of coordinating operation",
                )),
                2 => Some(failure(action, 500, "exception", "internal failure")),
                _ => None,
            })
        })
    })
    .await;
    let report_id = c::report();
    let outcomes = stub
        .index()
        .write(vec![replace(&report_id, 1, &["a", "b", "c"])])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Written]);
    let views = stub.bulks(BulkKind::Views);
    assert_eq!(views.len(), 2);
    let resent: Vec<Value> = metas(&views[1])
        .into_iter()
        .map(|(_, meta)| meta["_id"].clone())
        .collect();
    assert_eq!(
        resent,
        vec![
            json!(doc_id(&report_id, "a")),
            json!(doc_id(&report_id, "c"))
        ],
        "only failed items are resent"
    );
    assert_eq!(
        views[0].actions()[0].2,
        views[1].actions()[0].2,
        "the same document is resent"
    );
    assert_eq!(stub.bulks(BulkKind::Commit).len(), 1);
}

#[tokio::test]
async fn persistent_item_failures_are_reported_failed_not_dropped() {
    let (failing, fine) = (c::report(), c::report());
    let doomed = failing.clone();
    let stub = Stub::scripted(move |request, _| {
        (request.bulk_kind() == Some(BulkKind::Views)).then(|| {
            bulk_reply(request, |_, action| {
                action.1["_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(doomed.as_str()))
                    .then(|| {
                        failure(
                            action,
                            503,
                            "unavailable_shards_exception",
                            "primary shard is not active",
                        )
                    })
            })
        })
    })
    .await;
    let config = stub.config();
    let attempts = usize::try_from(config.retry.max_attempts).unwrap();
    let outcomes = stub
        .index_with(config)
        .write(vec![
            replace(&failing, 3, &["x"]),
            replace(&fine, 3, &["y"]),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], WriteOutcome::Failed(reason) if reason.contains("unavailable_shards_exception") && reason.contains("attempts")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], WriteOutcome::Written);
    assert_eq!(
        stub.bulks(BulkKind::Views).len(),
        attempts,
        "bounded retries"
    );
    let committed: Vec<Value> = metas(&stub.bulks(BulkKind::Commit)[0])
        .into_iter()
        .map(|(_, meta)| meta["_id"].clone())
        .collect();
    assert_eq!(
        committed,
        vec![json!(fine.as_str())],
        "a failed report is not committed"
    );
}

#[tokio::test]
async fn bad_documents_are_refused_at_once() {
    let stub = Stub::scripted(|request, _| {
        (request.bulk_kind() == Some(BulkKind::Views)).then(|| {
            bulk_reply(request, |_, action| {
                Some(failure(
                    action,
                    400,
                    "mapper_parsing_exception",
                    "failed to parse field [cidr] of type [ip_range]",
                ))
            })
        })
    })
    .await;
    let outcomes = stub
        .index()
        .write(vec![replace(&c::report(), 1, &["a"])])
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], WriteOutcome::Refused(reason) if reason.contains("mapper_parsing_exception")),
        "{outcomes:?}"
    );
    assert_eq!(stub.bulks(BulkKind::Views).len(), 1, "not retried");
    assert!(stub.bulks(BulkKind::Commit).is_empty());
}

#[tokio::test]
async fn a_rejected_request_is_sent_again() {
    let stub = Stub::scripted(|request, nth| {
        (request.bulk_kind() == Some(BulkKind::Views) && nth == 0).then(|| {
            Reply::new(429, json!({
                "error": {
                    "root_cause": [{ "type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=61790813, max_coordinating_and_primary_bytes=53687091]" }],
                    "type": "es_rejected_execution_exception",
                    "reason": "rejected execution of coordinating operation"
                },
                "status": 429
            }))
        })
    })
    .await;
    let outcomes = stub
        .index()
        .write(vec![replace(&c::report(), 1, &["a", "b"])])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Written]);
    let views = stub.bulks(BulkKind::Views);
    assert_eq!(views.len(), 2);
    assert_eq!(
        views[0].body, views[1].body,
        "the whole request is sent again"
    );
}

#[tokio::test]
async fn a_timeout_after_the_write_was_applied_is_not_a_duplicate() {
    // The first views request is applied but its answer comes too late; the retry meets the applied versions.
    let stub = Stub::scripted(|request, nth| match (request.bulk_kind(), nth) {
        (Some(BulkKind::Views), 0) => {
            Some(bulk_reply(request, |_, _| None).delayed(Duration::from_secs(3)))
        }
        (Some(BulkKind::Views), _) => Some(bulk_reply(request, |_, action| Some(conflict(action)))),
        _ => None,
    })
    .await;
    let mut config = stub.config();
    config.request_timeout = Duration::from_millis(300);
    let report_id = c::report();
    let outcomes = stub
        .index_with(config)
        .write(vec![replace(&report_id, 9, &["a", "b"])])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Written]);
    let views = stub.bulks(BulkKind::Views);
    assert_eq!(views.len(), 2);
    assert_eq!(
        views[0].body, views[1].body,
        "same ids, same external versions"
    );
    assert_eq!(metas(&views[1])[0].1["version"], json!(9));
    assert_eq!(stub.bulks(BulkKind::Commit).len(), 1);
}

#[tokio::test]
async fn an_unavailable_cluster_is_an_error() {
    let stub = Stub::scripted(|request, _| {
        request.is_bulk().then(|| {
            Reply::new(503, json!({ "error": { "type": "cluster_block_exception", "reason": "blocked by: [SERVICE_UNAVAILABLE/2/no master];" }, "status": 503 }))
        })
    })
    .await;
    let result = stub
        .index()
        .write(vec![replace(&c::report(), 1, &["a"])])
        .await;
    assert!(
        matches!(&result, Err(IndexError::Unavailable { context, .. }) if context.contains("cluster_block_exception")),
        "{result:?}"
    );
    assert_eq!(
        stub.bulks(BulkKind::Claim).len(),
        4,
        "retried up to max_attempts"
    );

    // Nobody listening at all.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut config = accord_index::opensearch_index::OpenSearchConfig::from_url(&format!(
        "opensearch://{closed}"
    ))
    .unwrap();
    config.retry = stub.config().retry;
    let nowhere = stub.index_with(config);
    assert!(matches!(
        nowhere.health().await,
        Err(IndexError::Unavailable { .. })
    ));
}
