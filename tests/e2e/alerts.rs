//! Watchlists and alerts (issue 16): matches raised from releases, withdrawn with them, delivered paged and as
//! Server-Sent Events resumable after a disconnect and a restart, audited, and never to an agency outside the MoU.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, PATIENCE, TestApp, mou, report, spawn_app, spawn_app_in, world};

/// Creates a watchlist and returns its id.
async fn watch(app: &TestApp, token: &str, case: &str, entries: Value) -> String {
    let body = json!({ "name": "Kit infrastructure", "purpose": "investigation", "case": case, "entries": entries });
    let created = app.post("/v1/watchlists", token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

/// Polls `GET /v1/alerts` until `count` alerts after `after` are there, and returns them.
async fn wait_alerts(app: &TestApp, token: &str, after: &str, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let page = app.get(&format!("/v1/alerts?after={after}"), token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let alerts = page.body["alerts"].as_array().unwrap().clone();
        if alerts.len() >= count {
            return alerts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} alerts: {}",
            alerts.len(),
            page.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn summary(alerts: &[Value]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = alerts
        .iter()
        .map(|alert| {
            (
                alert["kind"].as_str().unwrap().to_owned(),
                alert["entry"].as_str().unwrap().to_owned(),
                alert["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_release_raises_alerts_for_the_agency_in_the_mou_and_a_revocation_withdraws_them() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let entries = json!([
        { "value": "evil[.]example", "include_subdomains": true },
        { "value": "10.0.0.0/8" },
        { "value": "203.0.113.9" },
    ]);
    let list = watch(&app, &w.ncu_de, "CASE-ALERT", entries.clone()).await;
    // The same values watched by an agency outside the MoU.
    watch(&app, &w.outsider, "CASE-OUT", entries).await;
    let id = app
        .submit(
            &w.partner,
            report(
                "Kit report",
                "green",
                &[
                    "login.evil.example",
                    "10.1.2.3",
                    "203.0.113.0/24",
                    "198.51.100.7",
                ],
            ),
        )
        .await;

    let alerts = wait_alerts(&app, &w.ncu_de, "", 3).await;
    assert_eq!(
        summary(&alerts),
        [
            (
                "match".to_owned(),
                "10.0.0.0/8".to_owned(),
                "10.1.2.3".to_owned()
            ),
            (
                "match".to_owned(),
                "203.0.113.9".to_owned(),
                "203.0.113.0/24".to_owned()
            ),
            (
                "match".to_owned(),
                "evil.example".to_owned(),
                "login.evil.example".to_owned()
            ),
        ]
    );
    let first = &alerts[0];
    assert_eq!(first["watchlist"], list);
    assert_eq!(first["report"]["id"], id);
    assert_eq!(first["report"]["title"], "Kit report");
    assert!(first["report"].get("description").is_none(), "{first}");
    // Only the matched indicator is listed, never the report's others.
    let listed = first["report"]["indicators"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{first}");
    assert_eq!(listed[0]["value"], first["value"]);

    // Delivered alerts are audited with the watchlist's purpose and case.
    let mine = app.get("/v1/audit/mine?limit=100", &w.ncu_de).await.body;
    let records = mine["records"].as_array().unwrap();
    let record = records
        .iter()
        .find(|record| record["endpoint"] == "GET /v1/alerts")
        .unwrap_or_else(|| panic!("no audit record of the delivery: {mine}"));
    assert_eq!(record["case"], "CASE-ALERT");
    assert_eq!(record["query"]["watchlist"], list);

    // The agency outside the MoU got nothing.
    let outside = app.get("/v1/alerts", &w.outsider).await;
    assert_eq!(outside.body["alerts"], json!([]), "{}", outside.body);

    // Revocation withdraws the release, and with it each match.
    let last = alerts.last().unwrap()["id"].as_str().unwrap().to_owned();
    let revoke = app.post("/v1/mous/m1/revoke", ADMIN_TOKEN, json!({})).await;
    assert_eq!(revoke.status, StatusCode::OK, "{}", revoke.body);
    let withdrawn = wait_alerts(&app, &w.ncu_de, &last, 3).await;
    assert!(
        withdrawn.iter().all(|alert| alert["kind"] == "withdrawn"),
        "{withdrawn:?}"
    );
    assert!(withdrawn.iter().all(|alert| alert["report"]["id"] == id));
    app.shutdown().await;
}

#[tokio::test]
async fn an_mou_widening_raises_alerts_for_an_earlier_report() {
    let app = spawn_app().await;
    let w = world(&app).await;
    watch(
        &app,
        &w.ncu_fr,
        "CASE-WIDE",
        json!([{ "value": "phish.example" }]),
    )
    .await;
    let id = app
        .submit(&w.partner, report("Earlier", "green", &["phish.example"]))
        .await;
    app.wait_status(&w.partner, &id, &["normalized", "released"])
        .await;
    let page = app.get("/v1/alerts", &w.ncu_fr).await;
    assert_eq!(
        page.body["alerts"],
        json!([]),
        "nothing is released yet: {}",
        page.body
    );

    app.create_mou(mou("m2", "bank-a", &["ncu-fr"], json!({})))
        .await;
    let alerts = wait_alerts(&app, &w.ncu_fr, "", 1).await;
    assert_eq!(alerts[0]["kind"], "match");
    assert_eq!(alerts[0]["report"]["id"], id);
    app.shutdown().await;
}

#[tokio::test]
async fn a_report_hidden_from_the_agency_raises_nothing() {
    let app = spawn_app().await;
    let w = world(&app).await;
    // The MoU releases green only: an amber report with the watched value is hidden from ncu-de.
    app.create_mou(mou(
        "m1",
        "bank-a",
        &["ncu-de"],
        json!({ "max_tlp": "green" }),
    ))
    .await;
    watch(
        &app,
        &w.ncu_de,
        "CASE-HIDDEN",
        json!([{ "value": "hidden.example" }, { "value": "shown.example" }]),
    )
    .await;
    let hidden = app
        .submit(&w.partner, report("Amber", "amber", &["hidden.example"]))
        .await;
    app.wait_status(&w.partner, &hidden, &["normalized", "released"])
        .await;
    // A later visible report proves the matcher has gone past the hidden one.
    app.submit(&w.partner, report("Green", "green", &["shown.example"]))
        .await;
    let alerts = wait_alerts(&app, &w.ncu_de, "", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alerts_after = app.get("/v1/alerts", &w.ncu_de).await.body["alerts"].clone();
    assert_eq!(alerts_after.as_array().unwrap().len(), 1, "{alerts_after}");
    assert_eq!(alerts[0]["value"], "shown.example");
    app.shutdown().await;
}

#[tokio::test]
async fn watchlists_are_the_agencys_own_and_their_input_is_checked() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let list = watch(
        &app,
        &w.ncu_de,
        "CASE-OWN",
        json!([{ "value": "a.example" }]),
    )
    .await;

    // Bad values are named.
    let bad = json!({ "name": "x", "purpose": "investigation", "case": "C",
        "entries": [{ "value": "a.example" }, { "value": "not a value" }, { "value": "10.0.0.1", "include_subdomains": true }] });
    let refused = app.post("/v1/watchlists", &w.ncu_de, bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let text = refused.body.to_string();
    assert!(
        text.contains("/entries/1/value") && text.contains("/entries/2/include_subdomains"),
        "{text}"
    );
    let no_case = json!({ "name": "x", "purpose": "investigation", "entries": [] });
    let refused = app.post("/v1/watchlists", &w.ncu_de, no_case).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.to_string().contains("/case"),
        "{}",
        refused.body
    );

    // Another agency's watchlist does not exist for it; a partner keeps none.
    assert_eq!(
        app.get(&format!("/v1/watchlists/{list}"), &w.ncu_fr)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let deleted = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/watchlists/{list}"),
            Some(&w.ncu_fr),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/watchlists", &w.partner).await.status,
        StatusCode::FORBIDDEN
    );

    // Entries are added (canonicalized), listed and removed.
    let added = app
        .post(
            &format!("/v1/watchlists/{list}/entries"),
            &w.ncu_de,
            json!({ "entries": [{ "value": "hxxp://b[.]example/x" }] }),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body["entry_count"], 2);
    let one = app
        .get(&format!("/v1/watchlists/{list}"), &w.ncu_de)
        .await
        .body;
    let values: Vec<&str> = one["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["a.example", "http://b.example/x"], "{one}");
    let removed = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/watchlists/{list}/entries"),
            Some(&w.ncu_de),
            Some(json!({ "values": ["A.EXAMPLE"] })),
        )
        .await;
    assert_eq!(removed.body["entry_count"], 1, "{}", removed.body);
    let lists = app.get("/v1/watchlists", &w.ncu_de).await.body;
    assert_eq!(lists["watchlists"][0]["id"], list, "{lists}");
    let deleted = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/watchlists/{list}"),
            Some(&w.ncu_de),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/watchlists", &w.ncu_de).await.body["watchlists"],
        json!([])
    );
    app.shutdown().await;
}

/// Reads Server-Sent Events from `response` until `count` events arrived; returns (id, data) of each.
async fn read_events(response: &mut reqwest::Response, count: usize) -> Vec<(String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while events.len() < count {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("no event in time")
            .unwrap()
            .expect("the stream ended");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("id:") {
                    id = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data = Some(serde_json::from_str(value.trim()).unwrap());
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                events.push((id, data));
            }
        }
    }
    events
}

async fn open_stream(app: &TestApp, token: &str, last_event: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(format!("{}/v1/alerts/stream", app.url))
        .bearer_auth(token);
    if let Some(id) = last_event {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    response
}

#[tokio::test]
async fn the_stream_resumes_after_a_disconnect_and_a_restart_without_loss_or_repeat() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    watch(&app, &w.ncu_de, "CASE-SSE", json!([{ "value": "one.example" }, { "value": "two.example" }, { "value": "three.example" }])).await;

    let mut stream = open_stream(&app, &w.ncu_de, None).await;
    app.submit(&w.partner, report("One", "green", &["one.example"]))
        .await;
    let first = read_events(&mut stream, 1).await;
    assert_eq!(first[0].1["value"], "one.example");
    drop(stream);

    // Raised while nobody listens: delivered on reconnection, the first one not again.
    app.submit(&w.partner, report("Two", "green", &["two.example"]))
        .await;
    wait_alerts(&app, &w.ncu_de, &first[0].0, 1).await;
    let mut stream = open_stream(&app, &w.ncu_de, Some(&first[0].0)).await;
    let second = read_events(&mut stream, 1).await;
    assert_eq!(second[0].1["value"], "two.example");
    drop(stream);

    // Raised, then Accord restarts: the stream resumes from the last id it saw.
    app.submit(&w.partner, report("Three", "green", &["three.example"]))
        .await;
    wait_alerts(&app, &w.ncu_de, &second[0].0, 1).await;
    let dir = app.shutdown().await;
    let app = spawn_app_in(dir).await;
    let mut stream = open_stream(&app, &w.ncu_de, Some(&second[0].0)).await;
    let third = read_events(&mut stream, 1).await;
    assert_eq!(third[0].1["value"], "three.example");
    let ids: Vec<u64> = [&first[0], &second[0], &third[0]]
        .iter()
        .map(|(id, _)| id.parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    drop(stream);
    app.shutdown().await;
}

#[tokio::test]
async fn kill_dash_nine_while_alerts_are_raised_loses_none_and_repeats_none() {
    use crate::restart::{free_port, start_child};
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let (mut child, app, w) = crate::restart::child_world(dir.path(), &data_dir, port, &[]).await;
    watch(
        &app,
        &w.ncu_de,
        "CASE-KILL",
        json!([{ "value": "100.0.0.0/8" }]),
    )
    .await;
    let mut stream = open_stream(&app, &w.ncu_de, None).await;

    const BURST: usize = 200;
    let mut tasks = Vec::new();
    for index in 0..BURST {
        let client = app.client.clone();
        let url = format!("{}/v1/reports", app.url);
        let token = w.partner.clone();
        let body = report(
            &format!("Burst {index}"),
            "green",
            &[&format!("100.0.{}.{}", index / 250, index % 250 + 1)],
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|response| response.status())
        }));
    }
    for task in tasks {
        assert!(matches!(task.await, Ok(Ok(StatusCode::ACCEPTED))));
    }
    // A few alerts seen live, then the process is killed in the middle of raising the rest.
    let live = read_events(&mut stream, 1).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    drop(stream);

    let _child = start_child(&data_dir, port).await;
    let mut stream = open_stream(&app, &w.ncu_de, Some(&live.last().unwrap().0)).await;
    let rest = read_events(&mut stream, BURST - live.len()).await;
    let mut ids: Vec<u64> = live
        .iter()
        .chain(&rest)
        .map(|(id, _)| id.parse().unwrap())
        .collect();
    let mut values: Vec<String> = live
        .iter()
        .chain(&rest)
        .map(|(_, alert)| alert["value"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids in order, none twice: {ids:?}"
    );
    values.sort();
    values.dedup();
    assert_eq!(
        values.len(),
        BURST,
        "one alert per report, none lost, none twice"
    );
    // Nothing more comes: no duplicate raised by a replayed batch.
    let page = app
        .get(
            &format!("/v1/alerts?after={}", ids.pop().unwrap()),
            &w.ncu_de,
        )
        .await;
    assert_eq!(page.body["alerts"], json!([]), "{}", page.body);
}

#[tokio::test]
async fn a_retracted_report_and_a_retracted_value_raise_withdrawn_alerts() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    watch(
        &app,
        &w.ncu_de,
        "CASE-RETRACT",
        json!([{ "value": "gone.example" }, { "value": "fp.example" }]),
    )
    .await;
    let id = app
        .submit(&w.partner, report("To retract", "green", &["gone.example"]))
        .await;
    app.submit(
        &w.partner,
        report("Keeps its report", "green", &["fp.example", "kept.example"]),
    )
    .await;
    let matched = wait_alerts(&app, &w.ncu_de, "", 2).await;
    let last = matched.last().unwrap()["id"].as_str().unwrap().to_owned();

    let retract = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/reports/{id}"),
            Some(&w.partner),
            Some(json!({ "reason": "sent-in-error" })),
        )
        .await;
    assert_eq!(retract.status, StatusCode::ACCEPTED, "{}", retract.body);
    let values = app
        .post(
            "/v1/indicators/retract",
            &w.partner,
            json!({ "values": ["fp.example"], "reason": "false-positive" }),
        )
        .await;
    assert_eq!(values.status, StatusCode::ACCEPTED, "{}", values.body);
    let withdrawn = wait_alerts(&app, &w.ncu_de, &last, 2).await;
    assert_eq!(
        summary(&withdrawn),
        [
            (
                "withdrawn".to_owned(),
                "fp.example".to_owned(),
                "fp.example".to_owned()
            ),
            (
                "withdrawn".to_owned(),
                "gone.example".to_owned(),
                "gone.example".to_owned()
            ),
        ]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_stream_ends_when_its_token_is_revoked_and_delivers_nothing_more() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.create_mou(mou("m1", "bank-a", &["ncu-de"], json!({})))
        .await;
    let issued = app
        .post(
            "/v1/tokens",
            ADMIN_TOKEN,
            json!({ "organization": "ncu-de", "role": "investigator", "label": "leaver" }),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let (token, token_id) = (
        issued.body["token"].as_str().unwrap(),
        issued.body["id"].as_str().unwrap(),
    );
    watch(
        &app,
        token,
        "CASE-LEAVER",
        json!([{ "value": "first.example" }, { "value": "after-revoke.example" }]),
    )
    .await;
    let mut stream = open_stream(&app, token, None).await;
    app.submit(&w.partner, report("First", "green", &["first.example"]))
        .await;
    assert_eq!(
        read_events(&mut stream, 1).await[0].1["value"],
        "first.example"
    );

    let revoked = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/tokens/{token_id}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    app.submit(
        &w.partner,
        report("After", "green", &["after-revoke.example"]),
    )
    .await;
    // The alert is raised (the agency reads it with a valid token), but the revoked token's stream ends instead.
    let other = app.token("ncu-de", "investigator").await;
    wait_alerts(&app, &other, "", 2).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.chunk())
        .await
        .expect("the stream did not end")
    {
        assert!(
            !String::from_utf8_lossy(&chunk).contains("after-revoke.example"),
            "an alert reached a revoked token"
        );
    }
    app.shutdown().await;
}
