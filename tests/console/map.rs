//! The sharing map over a generated partnership of 50 partners, 30 agencies and 200 MoUs: one edge per provider and
//! recipient of each MoU not revoked, every organization named, each edge a link to its MoU, coordinators only.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    client::Browser,
    console_world,
    helpers::{ADMIN_TOKEN, TestApp, mou, spawn_app},
};

/// Generates the partnership; returns the number of edges the map must draw.
async fn partnership(app: &TestApp) -> usize {
    for index in 0..50 {
        app.create_org(&format!("p-{index:02}"), "partner", "DE")
            .await;
    }
    for index in 0..30 {
        app.create_org(&format!("a-{index:02}"), "agency", "DE")
            .await;
    }
    let mut edges = 0;
    for index in 0..200 {
        let provider = format!("p-{:02}", index % 50);
        let recipients = [
            format!("a-{:02}", index % 30),
            format!("a-{:02}", (index * 7 + 3) % 30),
        ];
        let recipients: Vec<&str> = if recipients[0] == recipients[1] {
            vec![recipients[0].as_str()]
        } else {
            recipients.iter().map(String::as_str).collect()
        };
        let overrides = match index % 4 {
            0 => {
                json!({ "expires_at": (chrono::Utc::now() + chrono::Duration::days(10)).format("%Y-%m-%dT%H:%M:%SZ").to_string() })
            }
            1 => json!({ "status": "suspended" }),
            _ => json!({}),
        };
        let answer = app
            .create_mou(mou(
                &format!("m-{index:03}"),
                &provider,
                &recipients,
                overrides,
            ))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        edges += recipients.len();
    }
    let revoked = app
        .post("/v1/mous/m-199/revoke", ADMIN_TOKEN, json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    edges - 2
}

#[tokio::test]
async fn the_sharing_map_draws_a_large_partnership() {
    let app = spawn_app().await;
    let people = console_world(&app).await;
    let edges = partnership(&app).await;
    let mut browser = Browser::new(&app.url);
    browser.sign_in(ADMIN_TOKEN).await;
    let map = browser.get("/map").await;
    assert_eq!(map.status, StatusCode::OK);
    // console_world's two MoUs are drawn too.
    assert_eq!(map.body.matches("<line ").count(), edges + 2);
    for name in [
        "(p-00)", "(p-49)", "(a-00)", "(a-29)", "(bank-a)", "(ncu-de)",
    ] {
        assert!(map.body.contains(name), "{name}");
    }
    assert!(
        map.body.contains("class=\"map-edge mou-expiring\"")
            && map.body.contains("class=\"map-edge mou-suspended\"")
    );
    assert!(
        !map.body.contains("href=\"/mous/m-199\" class=\"map-edge"),
        "revoked MoUs are not drawn"
    );
    assert!(map.body.contains("TLP:AMBER, investigation, prosecution"));
    let mut partner = Browser::new(&app.url);
    partner.sign_in(&people.partner).await;
    assert_eq!(partner.get("/map").await.status, StatusCode::NOT_FOUND);
    if crate::browser::ready_for_tests() {
        let input = json!({ "url": app.url, "tokens": { "coordinator": ADMIN_TOKEN }, "mou": "m-002", "screenshots": crate::browser::screenshot_dir() });
        let seen = crate::browser::run_script("map.py", input).await;
        assert_eq!(
            seen["edges"].as_u64().unwrap() as usize,
            edges + 2,
            "{seen}"
        );
        assert_eq!(seen["names"].as_u64().unwrap(), 84, "{seen}");
    }
}
