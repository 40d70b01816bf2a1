//! A policy change over more of a partner's reports than one page of the enforcer's re-evaluation: the reports are
//! walked a page at a time (`enforcer.reevaluation_chunk`, here 2), and a widening and a revocation reach every one
//! of them, in the index and in the partner's withdrawal receipts.

use std::time::{Duration, Instant};

use accord::config::ServicesConfig;
use reqwest::StatusCode;
use serde_json::json;
use tempfile::TempDir;

use crate::helpers::{ADMIN_TOKEN, PATIENCE, mou, report, spawn_app_with, world};

/// Reports of the partner: four pages of two, the last one short.
const REPORTS: usize = 7;

fn indicator(n: usize) -> String {
    format!("198.18.9.{}", n + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_widening_and_a_revocation_reach_every_page_of_a_partners_reports() {
    let mut config = ServicesConfig::default();
    config.enforcer.reevaluation_chunk = 2;
    let app = spawn_app_with(TempDir::new().unwrap(), config).await;
    let w = world(&app).await;
    app.create_mou(mou("m-de", "bank-a", &["ncu-de"], json!({})))
        .await;
    let mut ids = Vec::new();
    for n in 0..REPORTS {
        let body = report(&format!("Paged {n}"), "amber", &[&indicator(n)]);
        ids.push(app.submit(&w.partner, body).await);
    }
    for n in 0..REPORTS {
        app.wait_found(&w.ncu_de, &indicator(n), "investigation")
            .await;
    }

    // Widening: a second MoU releases every stored report to ncu-fr, which only the re-evaluation indexes.
    app.create_mou(mou("m-fr", "bank-a", &["ncu-fr"], json!({})))
        .await;
    for n in 0..REPORTS {
        app.wait_found(&w.ncu_fr, &indicator(n), "investigation")
            .await;
    }

    // Revocation: nothing of m-de is served once acknowledged, and every report shows its withdrawal.
    let revoked = app
        .post("/v1/mous/m-de/revoke", ADMIN_TOKEN, json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let acked = Instant::now();
    for n in 0..REPORTS {
        let found = app
            .lookup(&w.ncu_de, &indicator(n), "investigation", "C-PAGED")
            .await;
        assert_eq!(found.status, StatusCode::NOT_FOUND, "{}", found.body);
    }
    for id in &ids {
        loop {
            let status = app.get(&format!("/v1/reports/{id}"), &w.partner).await.body;
            if status["released_to"] == json!(["ncu-fr"]) {
                assert_eq!(status["withdrawals"][0]["agency"], "ncu-de", "{status}");
                break;
            }
            assert!(
                acked.elapsed() < PATIENCE,
                "{id} never withdrawn from ncu-de: {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for n in 0..REPORTS {
        let found = app
            .lookup(&w.ncu_fr, &indicator(n), "investigation", "C-PAGED")
            .await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    }
}
