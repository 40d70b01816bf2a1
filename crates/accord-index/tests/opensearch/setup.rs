//! Contract tests of start-up: index templates, index creation, health, and `from_url`.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use accord_index::{IndexClient, IndexError, opensearch_index::OpenSearchConfig};
use serde_json::json;

use crate::stub::{Reply, Stub};

#[tokio::test]
async fn first_use_installs_templates_then_creates_indices_once() {
    // An empty cluster: no index matches `accord-views*`.
    let stub = Stub::scripted(|request, _| {
        request
            .path
            .ends_with("/_alias")
            .then(|| Reply::new(200, json!({})))
    })
    .await;
    let mut config = stub.config();
    config.shards = 3;
    config.replicas = 0;
    let index = stub.index_with(config);
    index.health().await.unwrap();
    index.health().await.unwrap();

    let order: Vec<String> = stub
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        order,
        [
            "PUT /_index_template/accord-views",
            "PUT /_index_template/accord-reports",
            "GET /accord-views*/_alias",
            "GET /accord-views*/_alias",
            "GET /accord-reports*/_alias",
            "PUT /accord-reports-1",
            "PUT /accord-views-1",
            "GET /_cluster/health/accord-views,accord-reports",
            "GET /_cluster/health/accord-views,accord-reports",
        ]
    );
    let requests = stub.requests();
    let views = requests[0].json();
    assert_eq!(
        views["index_patterns"],
        json!(["accord-views", "accord-views-*"]),
        "the alias name (generation 0) and the generations"
    );
    assert_eq!(
        views["template"]["settings"]["index"],
        json!({ "number_of_shards": 3, "number_of_replicas": 0, "refresh_interval": "1s", "max_result_window": 10_000 })
    );
    let mappings = &views["template"]["mappings"];
    assert_eq!(mappings["dynamic"], json!("strict"));
    let field = |name: &str| mappings["properties"][name]["type"].clone();
    for keyword in [
        "report_id",
        "view_id",
        "grant",
        "mou",
        "indicator",
        "indicator_value",
        "indicator_type",
        "tlp",
        "sector",
        "partner",
    ] {
        assert_eq!(field(keyword), json!("keyword"), "{keyword}");
    }
    for date in ["valid_from", "valid_until", "occurred_at"] {
        assert_eq!(field(date), json!("date_nanos"), "{date}");
    }
    assert_eq!(field("cidr_v4"), json!("ip_range"));
    assert_eq!(field("cidr_v6"), json!("ip_range"));
    assert_eq!(
        mappings["properties"]["title"]["analyzer"],
        json!("accord_text")
    );
    assert_eq!(field("ip"), json!("ip"));
    assert_eq!(
        (field("title"), field("description")),
        (json!("text"), json!("text"))
    );
    assert_eq!(field("version"), json!("long"));
    assert_eq!(
        mappings["properties"]["view"],
        json!({ "type": "object", "enabled": false })
    );

    let reports = requests[1].json();
    assert_eq!(
        reports["index_patterns"],
        json!(["accord-reports", "accord-reports-*"])
    );
    assert_eq!(
        reports["template"]["settings"]["index"]["number_of_replicas"],
        json!(0)
    );
    assert_eq!(
        reports["template"]["mappings"]["properties"]["report_id"]["type"],
        json!("keyword")
    );
    for (request, alias) in [
        (&requests[5], "accord-reports"),
        (&requests[6], "accord-views"),
    ] {
        assert_eq!(
            request.json(),
            json!({ "aliases": { alias: {} } }),
            "settings and mappings come from the template; the first generation is created with its alias"
        );
    }
}

#[tokio::test]
async fn existing_indices_are_fine_and_failed_installs_are_tried_again() {
    let broken = Arc::new(AtomicBool::new(true));
    let still_broken = Arc::clone(&broken);
    let stub = Stub::scripted(move |request, _| {
        if request.path.starts_with("/_index_template/") && still_broken.load(Ordering::SeqCst) {
            return Some(Reply::new(500, json!({ "error": { "type": "exception", "reason": "boom" }, "status": 500 })));
        }
        (request.method == "PUT" && !request.path.starts_with("/_")).then(|| {
            Reply::new(400, json!({
                "error": {
                    "root_cause": [{ "type": "resource_already_exists_exception", "reason": "index [accord-views/abc] already exists", "index": "accord-views" }],
                    "type": "resource_already_exists_exception", "reason": "index [accord-views/abc] already exists", "index": "accord-views"
                },
                "status": 400
            }))
        })
    })
    .await;
    let index = stub.index();
    assert!(matches!(
        index.health().await,
        Err(IndexError::Unavailable { .. })
    ));
    assert!(matches!(
        index.search(accord_index::conformance::query()).await,
        Err(IndexError::Unavailable { .. })
    ));
    broken.store(false, Ordering::SeqCst);
    index.health().await.unwrap();
    assert!(
        stub.to("/_search").is_empty(),
        "nothing is searched before the templates are in place"
    );
}

#[tokio::test]
async fn a_red_cluster_is_unhealthy() {
    let stub = Stub::scripted(|request, _| {
        request.path.starts_with("/_cluster/health").then(|| {
            Reply::new(200, json!({ "cluster_name": "stub", "status": "red", "timed_out": false, "number_of_nodes": 1 }))
        })
    })
    .await;
    assert!(matches!(
        stub.index().health().await,
        Err(IndexError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn from_url_opens_opensearch_without_sending_anything() {
    let stub = Stub::start().await;
    let address = stub.url.trim_start_matches("http://");
    let index =
        IndexClient::from_url(&format!("opensearch://{address}?prefix=accord-prod")).unwrap();
    assert!(stub.requests().is_empty());
    index.refresh().await.unwrap();
    assert_eq!(
        stub.requests()[0].path,
        "/_index_template/accord-prod-views"
    );
    assert!(IndexClient::from_url("opensearch+https://user:pw@search.example:9200").is_ok());
    assert!(matches!(
        IndexClient::from_url("opensearch://host:9200?prefix=UP"),
        Err(IndexError::InvalidUrl(_))
    ));
    let config =
        OpenSearchConfig::from_url("opensearch+https://search.example:9200?replicas=0").unwrap();
    assert_eq!((config.url.scheme(), config.replicas), ("https", 0));
}

#[tokio::test]
async fn read_only_processes_install_nothing_and_only_read() {
    let stub = Stub::start().await;
    let address = stub.url.trim_start_matches("http://").to_owned();
    let reader =
        IndexClient::from_url_read_only(&format!("opensearch://{address}?prefix=accord")).unwrap();
    reader.health().await.unwrap();
    reader
        .search(accord_index::conformance::query())
        .await
        .unwrap();
    let order: Vec<String> = stub
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        order,
        [
            "GET /_cluster/health/accord-views,accord-reports",
            "POST /accord-views/_search"
        ],
        "no template, no index creation: read rights suffice"
    );
    let managed = stub.config();
    assert!(
        managed.manage_indices,
        "writers manage the indices by default"
    );
}

#[test]
fn credentials_over_plain_http_are_a_configuration_error() {
    let refused = IndexClient::from_url("opensearch://accord:hunter2@search.example:9200");
    let Err(IndexError::InvalidUrl(shown)) = refused else {
        panic!("credentials accepted over plain http")
    };
    assert!(shown.contains("opensearch+https://"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(IndexClient::from_url_read_only("opensearch://u:p@search.example:9200").is_err());
}
