//! Several MoUs between the same partner and agency (issue 21), through the whole pipeline: the agency gets the
//! best single-MoU view, an indicator any MoU grants is found, withheld indicators leave no trace in the text, and
//! an empty field never passes a restriction (issue 15).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, mou, report, spawn_app, spawn_app_with, world};

const HASH: &str = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";

/// A report whose description carries an e-mail address (PII), a defanged IP address and an upper-case SHA-256;
/// declared indicators: the IP and the hash.
fn overlap_report(title: &str) -> Value {
    json!({
        "title": title,
        "description": format!(
            "Contact jane.doe@bank-a.example. C2 203.0.113[.]77, dropper {HASH}, kit at hxxps://kit[.]evil[.]example/x"
        ),
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["phishing"],
        "sector": "finance",
        "indicators": [ { "value": "203.0.113.77" }, { "value": HASH.to_ascii_lowercase() } ]
    })
}

async fn explain(app: &TestApp, report: &str, agency: &str) -> Value {
    let response = app
        .get(
            &format!("/v1/explain?report={report}&agency={agency}"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body
}

/// Waits until the enforcer's explanation satisfies `check` (it reads the MoUs the enforcer has applied).
async fn wait_explained(
    app: &TestApp,
    report: &str,
    agency: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let body = explain(app, report, agency).await;
        if check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "explain never satisfied the check: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn search_body(q: &str) -> Value {
    json!({ "q": q, "purpose": "investigation", "case": "C-21", "size": 100 })
}

#[tokio::test]
async fn adding_a_stricter_mou_never_takes_away_what_a_wider_one_grants() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-share",
        "bank-a",
        &["ncu-de"],
        json!({ "content": ["indicators", "narrative"] }),
    ))
    .await;
    let id = app.submit(&w.partner, overlap_report("Shared first")).await;
    app.wait_found(&w.ncu_de, "203.0.113.77", "investigation")
        .await;
    let before = app
        .search(&w.ncu_de, search_body("indicator:203.0.113.77"))
        .await
        .body;
    assert!(
        before["hits"][0]["description"]
            .as_str()
            .unwrap()
            .contains("jane.doe@bank-a.example"),
        "{before}"
    );

    // Issue 21: an MoU listing `victim` under `pii: redact` releases no victim data; counting content parts made it
    // win, and the agency saw `[redacted:email]` where it saw the address.
    app.create_mou(mou(
        "m-more-parts",
        "bank-a",
        &["ncu-de"],
        json!({ "content": ["indicators", "narrative", "victim"], "pii": "redact", "attribution": "anonymous" }),
    ))
    .await;
    let explained = wait_explained(&app, &id, "ncu-de", |body| {
        body["reasons"].to_string().contains("m-more-parts")
    })
    .await;
    assert_eq!(explained["mou"], "m-share", "{explained}");
    assert!(
        explained["reasons"].to_string().contains(
            "m-more-parts v1 not shown for investigation: its view is strictly contained"
        ),
        "{explained}"
    );
    // A report submitted after the change is found: the pipeline has moved past it.
    app.submit(&w.partner, report("Probe", "green", &["203.0.113.99"]))
        .await;
    app.wait_found(&w.ncu_de, "203.0.113.99", "investigation")
        .await;
    let after = app
        .search(&w.ncu_de, search_body("indicator:203.0.113.77"))
        .await
        .body;
    assert_eq!(after["total"], 1, "{after}");
    assert_eq!(
        after["hits"][0], before["hits"][0],
        "the stricter MoU changed what the agency gets"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_url_only_mou_next_to_a_wide_one_keeps_every_granted_indicator_reachable() {
    let app = spawn_app().await;
    let w = world(&app).await;
    // The "larger" MoU (more parts) releases only URLs; the other one grants the IP address, the third the hash.
    app.create_mou(mou(
        "m-urls",
        "bank-a",
        &["ncu-de"],
        json!({ "indicator_types": ["url"] }),
    ))
    .await;
    app.create_mou(mou(
        "m-ips",
        "bank-a",
        &["ncu-de"],
        json!({ "content": ["indicators"], "indicator_types": ["ipv4-addr"] }),
    ))
    .await;
    app.create_mou(mou(
        "m-files",
        "bank-a",
        &["ncu-de"],
        json!({ "content": ["indicators"], "indicator_types": ["file"], "attribution": "anonymous" }),
    ))
    .await;
    let id = app.submit(&w.partner, overlap_report("Three MoUs")).await;

    // The IP lookup answered 404 before: it finds the report through the view that releases it.
    let found = app
        .wait_found(&w.ncu_de, "203.0.113[.]77", "investigation")
        .await;
    assert_eq!(found["reports_total"], 1, "{found}");
    assert!(
        found["reports"][0]["title"].is_null(),
        "the IP's view has no narrative: {found}"
    );
    let hash = app.lookup(&w.ncu_de, HASH, "investigation", "C-21").await;
    assert_eq!(hash.status, StatusCode::OK, "{}", hash.body);
    assert_eq!(hash.body["reports"][0]["partner"], "anonymous");

    // Listings show one view per report: the one with the narrative and the URL, without the IP or the hash.
    let listed = app
        .wait_search(&w.ncu_de, search_body("dropper"), |body| body["total"] == 1)
        .await;
    let hit = &listed["hits"][0];
    assert_eq!(hit["indicators"].as_array().unwrap().len(), 1, "{hit}");
    assert_eq!(hit["indicators"][0]["type"], "url");
    let description = hit["description"].as_str().unwrap();
    assert!(!description.contains("203.0.113"), "{description}");
    assert!(
        !description
            .to_ascii_lowercase()
            .contains(&HASH.to_ascii_lowercase()),
        "{description}"
    );
    assert!(
        description.contains("[withheld:indicator]"),
        "{description}"
    );
    // An indicator search shows the view that releases it, once.
    let by_ip = app
        .search(&w.ncu_de, search_body("indicator:203.0.113.77"))
        .await
        .body;
    assert_eq!(by_ip["total"], 1, "{by_ip}");
    assert_eq!(by_ip["hits"][0]["indicators"][0]["value"], "203.0.113.77");
    assert!(by_ip["hits"][0].get("description").is_none(), "{by_ip}");

    let explained = explain(&app, &id, "ncu-de").await;
    assert_eq!(explained["mou"], "m-urls", "{explained}");
    let reasons = explained["reasons"].to_string();
    assert!(
        reasons.contains("m-ips v1 not shown for investigation: incomparable"),
        "{reasons}"
    );
    assert!(reasons.contains("kept as alternate view"), "{reasons}");
    assert!(reasons.contains("m-files v1 not shown"), "{reasons}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_hash_withheld_by_type_is_in_no_released_text() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-net",
        "bank-a",
        &["ncu-de"],
        json!({ "indicator_types": ["ipv4-addr", "domain-name"] }),
    ))
    .await;
    // Issue 21: the report's only indicator is a SHA-256, which the description also carries (upper case).
    let report = json!({
        "title": format!("Dropper {HASH}"),
        "description": format!("The loader fetched {HASH} twice; hash {} in lower case.", HASH.to_ascii_lowercase()),
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["malware"],
        "sector": "finance",
        "indicators": [ { "type": "file", "value": HASH } ]
    });
    app.submit(&w.partner, report).await;
    let listed = app
        .wait_search(&w.ncu_de, search_body("loader"), |body| body["total"] == 1)
        .await;
    let text = listed.to_string().to_ascii_lowercase();
    assert!(!text.contains(&HASH.to_ascii_lowercase()), "{listed}");
    assert_eq!(
        listed["hits"][0]["description"],
        "The loader fetched [withheld:indicator] twice; hash [withheld:indicator] in lower case."
    );
    assert_eq!(listed["hits"][0]["title"], "Dropper [withheld:indicator]");
    assert_eq!(listed["hits"][0]["indicators"], json!([]));
    assert_eq!(
        app.lookup(&w.ncu_de, HASH, "investigation", "C-21")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_report_without_categories_is_outside_a_restricted_scope() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou(
        "m-ransom",
        "bank-a",
        &["ncu-de"],
        json!({ "categories": ["ransomware"] }),
    ))
    .await;
    app.create_mou(mou("m-any", "bank-a", &["ncu-fr"], json!({})))
        .await;
    let mut uncategorized = report("Uncategorized", "green", &["198.51.100.61"]);
    uncategorized["categories"] = json!([]);
    let id = app.submit(&w.partner, uncategorized).await;
    app.wait_found(&w.ncu_fr, "198.51.100.61", "investigation")
        .await;
    assert_eq!(
        app.lookup(&w.ncu_de, "198.51.100.61", "investigation", "C-15")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let explained = explain(&app, &id, "ncu-de").await;
    assert!(
        explained["reasons"]
            .to_string()
            .contains("report has no category (categories restricted)"),
        "{explained}"
    );
    app.shutdown().await;
}

/// One answer seen while the MoU narrowed: `(total, hits, next is null)` of a search, or `(reports_total, reports)` of a
/// lookup.
#[derive(Debug, Clone, Copy)]
struct Seen {
    total: u64,
    items: u64,
    no_next: bool,
}

async fn observe(app: &TestApp, token: &str) -> (Seen, Seen) {
    let listed = app
        .search(
            token,
            json!({ "filters": {}, "purpose": "investigation", "case": "C-21", "size": 100 }),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let search = Seen {
        total: listed.body["total"].as_u64().unwrap(),
        items: listed.body["hits"].as_array().unwrap().len() as u64,
        no_next: listed.body["next"].is_null(),
    };
    let found = app
        .lookup(token, "192.0.2.200", "investigation", "C-21")
        .await;
    let lookup = match found.status {
        StatusCode::NOT_FOUND => Seen {
            total: 0,
            items: 0,
            no_next: true,
        },
        status => {
            assert_eq!(status, StatusCode::OK, "{}", found.body);
            Seen {
                total: found.body["reports_total"].as_u64().unwrap(),
                items: found.body["reports"].as_array().unwrap().len() as u64,
                no_next: true,
            }
        }
    };
    (search, lookup)
}

#[tokio::test]
async fn totals_count_only_what_is_visible_while_an_mou_narrows() {
    // The searcher below runs without pause, faster than the default rate limit of a token allows.
    let mut config = accord::config::ServicesConfig::default();
    config.http.rate_limit_per_second = 100_000;
    config.http.rate_limit_burst = 100_000;
    let app = std::sync::Arc::new(spawn_app_with(tempfile::TempDir::new().unwrap(), config).await);
    let w = world(&app).await;
    app.create_mou(mou("m-totals", "bank-a", &["ncu-de"], json!({})))
        .await;
    for n in 0..20 {
        let mut submitted = report(
            &format!("Report {n}"),
            "green",
            &[&format!("198.51.100.{}", 100 + n), "192.0.2.200"],
        );
        submitted["categories"] = json!([if n % 2 == 0 { "phishing" } else { "fraud" }]);
        app.submit(&w.partner, submitted).await;
    }
    app.wait_search(
        &w.ncu_de,
        json!({ "filters": {}, "purpose": "investigation", "case": "C-21", "size": 100 }),
        |body| body["total"] == 20,
    )
    .await;

    // Searches run without pause while the MoU narrows to phishing and the enforcer re-releases the reports.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let searcher = {
        let (app, token, stop) = (app.clone(), w.ncu_de.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                seen.push(observe(&app, &token).await);
            }
            seen
        })
    };
    let narrowed = mou(
        "m-totals",
        "bank-a",
        &["ncu-de"],
        json!({ "categories": ["phishing"] }),
    );
    let put = app
        .request(
            reqwest::Method::PUT,
            "/v1/mous/m-totals",
            Some(ADMIN_TOKEN),
            Some(narrowed),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    // From the acknowledgement on, nothing of the fraud reports is counted, re-released or not.
    let (search, lookup) = observe(&app, &w.ncu_de).await;
    assert_eq!((search.total, search.items), (10, 10), "{search:?}");
    assert_eq!((lookup.total, lookup.items), (10, 10), "{lookup:?}");
    app.wait_search(
        &w.ncu_de,
        json!({ "filters": {}, "purpose": "investigation", "case": "C-21", "size": 100 }),
        |body| body["total"] == 10,
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = searcher.await.unwrap();
    assert!(seen.len() >= 2, "the searcher ran: {seen:?}");
    for (search, lookup) in &seen {
        assert_eq!(
            search.total, search.items,
            "a total counted hidden reports: {seen:?}"
        );
        assert!(search.no_next, "{seen:?}");
        assert!(matches!(search.total, 10 | 20), "{seen:?}");
        assert_eq!(
            lookup.total, lookup.items,
            "reports_total counted hidden reports: {seen:?}"
        );
    }
    let app = std::sync::Arc::into_inner(app).expect("the searcher is done");
    app.shutdown().await;
}
