//! The README walk-through and the happy paths around it.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, PATIENCE, mou, report, spawn_app, spawn_app_in, world};

#[tokio::test]
async fn walkthrough_partner_reports_agency_finds_outsider_refused_audit_verifies() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "mou-bank-a-ncu",
        "bank-a",
        &["ncu-de"],
        json!({ "pii": "redact", "attribution": "anonymous" }),
    ))
    .await;
    let auditor = app.token("accord-admin", "auditor").await;

    let body = json!({
        "title": "Credential phishing against retail-banking customers",
        "description": "Defanged: hxxps://login-bank-a[.]com/verify and 45.155.205[.]172. Reported by jane.doe@bank-a.example.",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "amber",
        "classification": "unclassified",
        "categories": ["phishing"],
        "sector": "finance",
        "indicators": [ { "type": "domain-name", "value": "login-bank-a.com" }, { "value": "45.155.205.172" } ],
        "ttps": ["T1566.002"],
        "victim": { "name": "Retail customer", "email": "victim@example.org", "country": "DE" }
    });
    let id = app.submit(&w.partner, body).await;
    assert!(id.starts_with("report--"));

    let found = app
        .wait_found(&w.ncu_de, "45.155.205[.]172", "investigation")
        .await;
    assert_eq!(found["type"], "ipv4-addr");
    assert_eq!(found["value"], "45.155.205.172");
    assert!(found["id"].as_str().unwrap().starts_with("ipv4-addr--"));
    assert_eq!(found["reports_total"], 1);
    assert_eq!(found["reports"][0]["id"], id.as_str());
    assert_eq!(found["reports"][0]["partner"], "anonymous");
    assert_eq!(found["reports"][0]["tlp"], "amber");

    // The URL found only in the description is an indicator too, refanged.
    let url = app
        .lookup(
            &w.ncu_de,
            "https://login-bank-a.com/verify",
            "investigation",
            "C-1",
        )
        .await;
    assert_eq!(url.status, StatusCode::OK, "{}", url.body);

    // The outsider agency gets exactly what it gets for a value that does not exist.
    let refused = app
        .lookup(&w.outsider, "45.155.205.172", "investigation", "C-2")
        .await;
    let unknown = app
        .lookup(&w.outsider, "45.155.205.173", "investigation", "C-2")
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(refused.body, unknown.body);
    assert_eq!(refused.content_type, "application/problem+json");

    let status = app.wait_status(&w.partner, &id, &["released"]).await;
    assert_eq!(status["released_to"], json!(["ncu-de"]));
    assert_eq!(
        status["indicators"], 3,
        "declared domain and IP plus the URL found in the description"
    );

    let verify = app.get("/v1/audit/verify", &auditor).await;
    assert_eq!(verify.status, StatusCode::OK);
    assert_eq!(verify.body["ok"], true);
    let audit = app.get("/v1/audit?case=C-2", &auditor).await;
    let records = audit.body["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{}", audit.body);
    assert_eq!(records[0]["organization"], "outsider");
    assert_eq!(records[0]["status"], 404);
    assert_eq!(records[0]["purpose"], "investigation");
    assert_eq!(records[1]["prev_hash"], records[0]["hash"]);
    app.shutdown().await;
}

/// Posts `body` as `token` with `Idempotency-Key: batch-42`; returns the status and the answer.
async fn send_keyed(
    app: &crate::helpers::TestApp,
    token: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let response = app
        .client
        .post(format!("{}/v1/reports", app.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("idempotency-key", "batch-42")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// The first answer to a key, and a 422 for another body under it — also once the gateway's status store, where
/// the body's digest is kept, was damaged and refilled from the bus (the digest travels with the raw record).
#[tokio::test]
async fn idempotency_key_returns_the_first_answer_and_refuses_a_different_body() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let one = || report("one", "green", &["198.51.100.7"]);
    let two = || report("two", "green", &["198.51.100.8"]);
    let (status, first) = send_keyed(&app, &w.partner, one()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, again) = send_keyed(&app, &w.partner, one()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(first["id"], again["id"]);
    let (status, _) = send_keyed(&app, &w.partner, two()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.wait_status(
        &w.partner,
        first["id"].as_str().unwrap(),
        &["normalized", "released"],
    )
    .await;

    // The status store damaged beyond repair: set aside at start and refilled from the bus.
    let dir = app.shutdown().await;
    let store = crate::helpers::data_dir(&dir).join("gateway/status.redb");
    let length = std::fs::metadata(&store).unwrap().len() as usize;
    std::fs::write(&store, vec![0x5a_u8; length]).unwrap();
    let app = spawn_app_in(dir).await;
    let ready = tokio::time::Instant::now() + PATIENCE;
    while app.readyz().await != StatusCode::OK {
        assert!(
            tokio::time::Instant::now() < ready,
            "not ready after the refill"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, again) = send_keyed(&app, &w.partner, one()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(first["id"], again["id"]);
    let (status, other) = send_keyed(&app, &w.partner, two()).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "after the refill: {other}"
    );
    // Only one raw record reached the bus.
    let ends = app
        .bus
        .end_offsets(accord_domain::topics::REPORTS_RAW)
        .await
        .unwrap();
    assert_eq!(ends[0].offset, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn cidr_indicators_match_contained_ips_and_batch_lookup_and_search_work() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    app.submit(
        &w.partner,
        report(
            "Botnet range",
            "green",
            &["203.0.113.0/24", "evil-botnet.example.com"],
        ),
    )
    .await;
    app.submit(
        &w.partner,
        report(
            "Ransomware drop",
            "amber",
            &["2001:db8:0:0::1", "CVE-2024-3400"],
        ),
    )
    .await;

    let found = app
        .wait_found(&w.ncu_de, "203.0.113.77", "investigation")
        .await;
    assert_eq!(found["value"], "203.0.113.77");
    assert_eq!(found["reports"][0]["title"], "Botnet range");
    app.wait_found(&w.ncu_de, "2001:db8::1", "investigation")
        .await;
    let outside = app
        .lookup(&w.ncu_de, "203.0.114.1", "investigation", "C")
        .await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);

    let lookup = app
        .post(
            "/v1/indicators/lookup",
            &w.ncu_de,
            json!({ "values": ["evil-botnet[.]example[.]com", "nothing.example", "cve-2024-3400"], "purpose": "investigation", "case": "C-9" }),
        )
        .await;
    assert_eq!(lookup.status, StatusCode::OK, "{}", lookup.body);
    let results = lookup.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["match"]["value"], "evil-botnet.example.com");
    assert!(results[1]["match"].is_null());
    assert_eq!(results[2]["match"]["type"], "vulnerability");

    let text = app
        .search(
            &w.ncu_de,
            json!({ "q": "Ransomware", "purpose": "investigation", "case": "C-9" }),
        )
        .await;
    assert_eq!(text.status, StatusCode::OK, "{}", text.body);
    assert_eq!(text.body["total"], 1);
    assert_eq!(text.body["hits"][0]["title"], "Ransomware drop");
    let filtered = app
        .search(
            &w.ncu_de,
            json!({ "filters": { "tlp": "green" }, "purpose": "investigation", "case": "C-9" }),
        )
        .await;
    assert_eq!(filtered.body["total"], 1);
    assert_eq!(filtered.body["hits"][0]["title"], "Botnet range");
    let paged = app
        .search(
            &w.ncu_de,
            json!({ "size": 1, "purpose": "investigation", "case": "C-9" }),
        )
        .await;
    assert_eq!(paged.body["total"], 2);
    let next = paged.body["next"].as_str().unwrap().to_owned();
    let second = app
        .search(
            &w.ncu_de,
            json!({ "size": 1, "cursor": next, "purpose": "investigation", "case": "C-9" }),
        )
        .await;
    assert_eq!(second.body["hits"].as_array().unwrap().len(), 1);
    assert_ne!(second.body["hits"][0]["id"], paged.body["hits"][0]["id"]);
    assert!(second.body["next"].is_null());
    app.shutdown().await;
}

#[tokio::test]
async fn mou_versions_suspend_revoke_take_effect_on_the_next_query_and_revoked_tokens_fail() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    app.submit(
        &w.partner,
        report("Also suspendable", "green", &["198.51.100.98"]),
    )
    .await;
    app.submit(
        &w.partner,
        report("Suspendable", "green", &["198.51.100.99"]),
    )
    .await;
    app.wait_found(&w.ncu_de, "198.51.100.98", "investigation")
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.99", "investigation")
        .await;

    let suspended = app
        .post("/v1/mous/m1/suspend", ADMIN_TOKEN, json!({}))
        .await;
    assert_eq!(suspended.status, StatusCode::OK);
    assert_eq!(suspended.body["version"], 2);
    assert_eq!(
        app.lookup(&w.ncu_de, "198.51.100.99", "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Totals too: the suspended MoU's views are out of the index's answer, not only out of the page.
    let all = json!({ "purpose": "investigation", "case": "C", "size": 1 });
    let suspended_search = app.search(&w.ncu_de, all.clone()).await;
    assert_eq!(
        suspended_search.body["total"], 0,
        "{}",
        suspended_search.body
    );

    let mut reactivated = mou("m1", "bank-a", &["ncu-de"], json!({}));
    reactivated["status"] = json!("active");
    let put = app
        .request(
            reqwest::Method::PUT,
            "/v1/mous/m1",
            Some(ADMIN_TOKEN),
            Some(reactivated),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["version"], 3);
    // Reactivating widens: it takes effect once the enforcer has released the reports again and the indexer has
    // written them, unlike a suspension or a revocation, which the release filter applies on the very next query.
    // Until then a lookup may still find the views written before the suspension, and then briefly nothing.
    app.wait_search(&w.ncu_de, all.clone(), |body| body["total"] == 2)
        .await;
    app.wait_found(&w.ncu_de, "198.51.100.99", "investigation")
        .await;

    assert_eq!(
        app.post("/v1/mous/m1/revoke", ADMIN_TOKEN, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.lookup(&w.ncu_de, "198.51.100.99", "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let history = app.get("/v1/mous/m1/history", ADMIN_TOKEN).await;
    let versions = history.body["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 4);
    assert_eq!(versions[3]["status"], "revoked");
    assert_eq!(versions[3]["changed_by"], "bootstrap-admin");
    assert_eq!(
        app.post("/v1/mous/m1/suspend", ADMIN_TOKEN, json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );

    // Token revocation works for the very next request.
    let tokens = app
        .post(
            "/v1/tokens",
            ADMIN_TOKEN,
            json!({ "organization": "ncu-de", "role": "investigator" }),
        )
        .await;
    let (token_id, secret) = (
        tokens.body["id"].as_str().unwrap(),
        tokens.body["token"].as_str().unwrap(),
    );
    assert_eq!(
        app.lookup(secret, "198.51.100.99", "investigation", "C")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let revoked = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/tokens/{token_id}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.lookup(secret, "198.51.100.99", "investigation", "C")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    app.shutdown().await;
}

/// The conservation law on the bus: every accepted report ends released, withheld (no MoU covers it) or rejected.
#[tokio::test]
async fn every_accepted_report_is_released_withheld_or_rejected() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_org("bank-b", "partner", "DE").await;
    let other_partner = app.token("bank-b", "partner").await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    for n in 0..3 {
        app.submit(
            &w.partner,
            report(
                &format!("Released {n}"),
                "green",
                &[&format!("10{n}.cons.example")],
            ),
        )
        .await;
    }
    let withheld = app
        .submit(
            &other_partner,
            report("No MoU", "green", &["nomou.cons.example"]),
        )
        .await;
    app.wait_status(
        &other_partner,
        &withheld,
        &["withheld", "normalized", "released"],
    )
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let counts = loop {
        let counts = accord::check::conservation(&app.bus).await.unwrap();
        if counts.holds() || tokio::time::Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(counts.holds(), "{counts:?}");
    assert_eq!(
        (
            counts.accepted,
            counts.released,
            counts.withheld,
            counts.rejected
        ),
        (4, 3, 1, 0),
        "{counts:?}"
    );
    app.shutdown().await;
}

/// Poison records: an undecodable record on the enforcer's or the indexer's input is dead-lettered (a rejection
/// naming the stage), blocks nothing behind it, and — on the indexer's input, where it may have been a withdrawal —
/// removes the report's views (fail closed). Conservation then counts the report as rejected.
#[tokio::test]
async fn undecodable_records_are_dead_lettered_without_blocking_their_partition() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let released = app
        .submit(
            &w.partner,
            report("Before", "green", &["before.poison.example"]),
        )
        .await;
    app.wait_found(&w.ncu_de, "before.poison.example", "investigation")
        .await;

    // An undecodable release set for a released report: dead-lettered by the indexer (its views go), then
    // re-derived by the enforcer from its store.
    let garbage = accord_bus::Record::new(released.clone(), b"{not json".to_vec());
    app.bus
        .publish(accord_domain::topics::REPORTS_RELEASABLE, vec![garbage])
        .await
        .unwrap();
    // An undecodable normalized report for a report that was accepted: dead-lettered by the enforcer.
    let accepted = app
        .submit(
            &w.partner,
            report("Poisoned", "green", &["poisoned.poison.example"]),
        )
        .await;
    app.wait_found(&w.ncu_de, "poisoned.poison.example", "investigation")
        .await;
    let garbage = accord_bus::Record::new(accepted.clone(), b"[1,".to_vec());
    app.bus
        .publish(accord_domain::topics::REPORTS_NORMALIZED, vec![garbage])
        .await
        .unwrap();

    // Both partitions keep flowing behind the poison.
    app.submit(
        &w.partner,
        report("After", "green", &["after.poison.example"]),
    )
    .await;
    app.wait_found(&w.ncu_de, "after.poison.example", "investigation")
        .await;

    let deadline = tokio::time::Instant::now() + PATIENCE;
    let stages = loop {
        let rejected = rejections(&app).await;
        let stages: Vec<(String, String)> = rejected
            .iter()
            .filter(|(id, _, reason)| {
                reason == "undecodable" && (*id == released || *id == accepted)
            })
            .map(|(id, stage, _)| (id.clone(), stage.clone()))
            .collect();
        if stages.len() >= 2 || tokio::time::Instant::now() > deadline {
            break stages;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        stages.contains(&(released.clone(), "indexer".to_owned())),
        "{stages:?}"
    );
    assert!(
        stages.contains(&(accepted.clone(), "enforcer".to_owned())),
        "{stages:?}"
    );
    // The enforcer publishes a new release set of the report whose release set could not be read; the report is
    // served, and its partner sees it released with the dead letter listed.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !rederived(&app, &released).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the enforcer never re-derived the damaged release set"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.wait_found(&w.ncu_de, "before.poison.example", "investigation")
        .await;
    let status = app
        .get(&format!("/v1/reports/{released}"), &w.partner)
        .await
        .body;
    assert_eq!(status["status"], "released", "{status}");
    assert!(status.to_string().contains("undecodable"), "{status}");
    app.shutdown().await;
}

/// Every record of `topic` (read from the start, with no consumer group).
async fn all_records(app: &crate::helpers::TestApp, topic: &str) -> Vec<accord_bus::Delivery> {
    let mut subscription = app
        .bus
        .subscribe(accord_bus::SubscribeOptions {
            topic: topic.to_owned(),
            group: None,
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Ok(Ok(batch)) = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        subscription.next_batch(1024),
    )
    .await
    {
        if batch.is_empty() {
            break;
        }
        out.extend(batch);
    }
    out
}

/// Every rejection on the dead-letter topic: (report id, stage, reason).
async fn rejections(app: &crate::helpers::TestApp) -> Vec<(String, String, String)> {
    all_records(app, accord_domain::topics::REPORTS_REJECTED)
        .await
        .into_iter()
        .map(|delivery| {
            let rejection: accord_domain::Rejection =
                serde_json::from_slice(&delivery.record.payload).unwrap();
            (
                rejection.report_id.to_string(),
                rejection.stage,
                rejection.reason,
            )
        })
        .collect()
}

/// Whether `reports.releasable` holds a release set of `report` the enforcer re-derived.
async fn rederived(app: &crate::helpers::TestApp, report: &str) -> bool {
    all_records(app, accord_domain::topics::REPORTS_RELEASABLE)
        .await
        .iter()
        .any(|delivery| {
            delivery.record.key.as_deref() == Some(report)
                && serde_json::from_slice::<accord_domain::ReleaseSet>(&delivery.record.payload)
                    .is_ok_and(|release| {
                        release.trigger.as_deref() == Some(accord_domain::view::TRIGGER_REDERIVED)
                    })
        })
}
