//! Retention: a report past every retention that could apply leaves the index (physically, not only filtered out)
//! and the enforcer's store, and its partner gets a withdrawal receipt.

use std::time::Duration;

use accord_bus::Record;
use accord_domain::{
    Indicator, IndicatorSource, MouId, NormalizedReport, ObservableType, OrgId, Purpose, ReportId,
    Tlp, topics,
};
use accord_index::{IndexClient, IndicatorKey, IndicatorMatch, ReleaseFilter};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PATIENCE, data_dir, mou, spawn_app, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_past_its_retention_is_removed_from_the_index_and_the_store() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-short",
        "bank-a",
        &["ncu-de"],
        json!({ "retention_days": 1 }),
    ))
    .await;
    // Received (by the gateway) almost a day ago: one day of retention ends a few seconds from now.
    let received_at = chrono::Utc::now() - chrono::Duration::days(1) + chrono::Duration::seconds(4);
    let retention_end = received_at + chrono::Duration::days(1);
    let id = ReportId::random();
    let value = "198.18.9.9";
    let report = NormalizedReport {
        revision: None,
        id: id.clone(),
        partner: OrgId::parse("bank-a").unwrap(),
        received_at,
        occurred_at: received_at,
        tlp: Tlp::Green,
        title: "Short-lived".to_owned(),
        description: "retained for one day".to_owned(),
        categories: vec!["phishing".to_owned()],
        sector: Some("finance".to_owned()),
        ttps: Vec::new(),
        victim: None,
        indicators: vec![Indicator {
            id: "ipv4-addr--retention".to_owned(),
            kind: ObservableType::Ipv4Addr,
            value: value.to_owned(),
            source: IndicatorSource::Declared,
        }],
        pii: Vec::new(),
        indicator_spans: None,
        indicator_pii: Vec::new(),
    };
    let payload = serde_json::to_vec(&report).unwrap();
    app.bus
        .publish(
            topics::REPORTS_NORMALIZED,
            vec![Record::new(id.to_string(), payload)],
        )
        .await
        .unwrap();
    app.wait_found(&w.ncu_de, value, "investigation").await;
    assert!(
        chrono::Utc::now() < retention_end,
        "the pipeline took longer than the retention left"
    );

    // The index as another process sees it, asked at an instant inside the view's window: a view that is only
    // filtered out by time would still match.
    let index = IndexClient::from_url_read_only(data_dir(&app.dir).join("index").to_str().unwrap())
        .unwrap();
    let release = ReleaseFilter {
        agency: OrgId::parse("ncu-de").unwrap(),
        purpose: Purpose::Investigation,
        at: received_at + chrono::Duration::seconds(1),
        mous: vec![(MouId::parse("m-short").unwrap(), 1)],
        views: accord_index::Views::WithAlternates,
        stale_only: false,
    };
    let key = IndicatorMatch {
        key: IndicatorKey {
            kind: ObservableType::Ipv4Addr,
            value: value.to_owned(),
        },
        ip: Some(value.parse().unwrap()),
    };
    let indexed = |index: IndexClient| {
        let release = release.clone();
        let key = key.clone();
        async move { index.lookup(release, vec![key], 10).await.unwrap()[0].total }
    };
    assert_eq!(
        indexed(index.clone()).await,
        1,
        "the view is not in the index before retention ends"
    );

    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = app.get(&format!("/v1/reports/{id}"), &w.partner).await.body;
        let receipts = status["withdrawals"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if indexed(index.clone()).await == 0 && !receipts.is_empty() {
            assert!(
                chrono::Utc::now() >= retention_end,
                "removed before retention ended"
            );
            assert_eq!(receipts[0]["agency"], "ncu-de", "{status}");
            assert_eq!(receipts[0]["reason"], "retention ended", "{status}");
            println!(
                "retention: removed from the index {:?} after retention ended",
                (chrono::Utc::now() - retention_end)
                    .to_std()
                    .unwrap_or_default()
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never removed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.lookup(&w.ncu_de, value, "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let dir = app.shutdown().await;
    let store =
        accord_enforcer::store::ReportStore::open(&data_dir(&dir).join("enforcer")).unwrap();
    assert!(
        store.get(&id).unwrap().is_none(),
        "still in the enforcer's store"
    );
    assert!(
        store
            .by_partner(&OrgId::parse("bank-a").unwrap())
            .unwrap()
            .is_empty(),
        "still in the enforcer's partner index"
    );
}
