//! Revocation and narrowing under load: about 50 searches per second run while MoUs are revoked and narrowed, and
//! one expires. Every answer is recorded with the instant it was sent and served; after the change was acknowledged
//! (the coordinator's 200), no hit may be served later than the 2 s bound of policy-model.md, and nothing may be
//! visible at or after `expires_at`.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, SubsecRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, mou, report, spawn_app, world};

const BOUND: Duration = Duration::from_secs(2);
const RATE_PER_SECOND: u64 = 50;
const LOAD: Duration = Duration::from_secs(9);
const REPORTS: usize = 12;

#[derive(Debug, Clone)]
struct Answer {
    agency: &'static str,
    sent: Instant,
    sent_wall: DateTime<Utc>,
    served: Instant,
    status: StatusCode,
    body: Value,
}

fn indicator(n: usize) -> String {
    format!("198.18.7.{}", n + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hit_is_served_later_than_two_seconds_after_a_revocation_or_narrowing_under_load() {
    let app = Arc::new(spawn_app().await);
    let w = world(&app).await;
    // ncu-de under m-revoke, ncu-fr under m-narrow (everything, then indicators only), outsider under m-expire.
    app.create_mou(mou("m-revoke", "bank-a", &["ncu-de"], json!({})))
        .await;
    app.create_mou(mou("m-narrow", "bank-a", &["ncu-fr"], json!({})))
        .await;
    let expires_at = (Utc::now() + chrono::Duration::seconds(6)).trunc_subsecs(0);
    app.create_mou(mou(
        "m-expire",
        "bank-a",
        &["outsider"],
        json!({ "expires_at": expires_at }),
    ))
    .await;
    for n in 0..REPORTS {
        app.submit(
            &w.partner,
            report(&format!("Load {n}"), "amber", &[&indicator(n)]),
        )
        .await;
    }
    for token in [&w.ncu_de, &w.ncu_fr, &w.outsider] {
        app.wait_found(token, &indicator(REPORTS - 1), "investigation")
            .await;
    }

    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / RATE_PER_SECOND));
    let mut n = 0usize;
    let mut revoked_at = None;
    let mut narrowed_at = None;
    while start.elapsed() < LOAD {
        ticker.tick().await;
        let (agency, token) = match n % 3 {
            0 => ("ncu-de", w.ncu_de.clone()),
            1 => ("ncu-fr", w.ncu_fr.clone()),
            _ => ("outsider", w.outsider.clone()),
        };
        let value = indicator(n % REPORTS);
        n += 1;
        let client = Arc::clone(&app);
        let answers = Arc::clone(&answers);
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let sent_wall = Utc::now();
            let response = client
                .lookup(&token, &value, "investigation", "C-LOAD")
                .await;
            answers.lock().unwrap().push(Answer {
                agency,
                sent,
                sent_wall,
                served: Instant::now(),
                status: response.status,
                body: response.body,
            });
        }));
        if revoked_at.is_none() && start.elapsed() >= Duration::from_secs(2) {
            let app = Arc::clone(&app);
            revoked_at = Some(tokio::spawn(async move {
                let response = app
                    .post("/v1/mous/m-revoke/revoke", ADMIN_TOKEN, json!({}))
                    .await;
                assert_eq!(response.status, StatusCode::OK, "{}", response.body);
                Instant::now()
            }));
        }
        if narrowed_at.is_none() && start.elapsed() >= Duration::from_secs(3) {
            let app = Arc::clone(&app);
            narrowed_at = Some(tokio::spawn(async move {
                let narrowed = mou(
                    "m-narrow",
                    "bank-a",
                    &["ncu-fr"],
                    json!({ "content": ["indicators"] }),
                );
                let response = app
                    .request(
                        Method::PUT,
                        "/v1/mous/m-narrow",
                        Some(ADMIN_TOKEN),
                        Some(narrowed),
                    )
                    .await;
                assert_eq!(response.status, StatusCode::OK, "{}", response.body);
                Instant::now()
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let revoked_at = revoked_at.unwrap().await.unwrap();
    let narrowed_at = narrowed_at.unwrap().await.unwrap();
    let answers = answers.lock().unwrap().clone();
    let elapsed = start.elapsed();

    let ok = |answer: &&Answer| answer.status == StatusCode::OK;
    let has_narrative = |answer: &&Answer| {
        answer.body["reports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|summary| !summary["title"].is_null())
    };
    let latest = |answers: &[&Answer], ack: Instant| {
        answers
            .iter()
            .map(|answer| answer.served.saturating_duration_since(ack))
            .max()
            .unwrap_or_default()
    };

    // Revocation: ncu-de's hits.
    let de_hits: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.agency == "ncu-de")
        .filter(ok)
        .collect();
    let de_late: Vec<&Answer> = de_hits
        .iter()
        .copied()
        .filter(|a| a.served > revoked_at)
        .collect();
    let de_sent_after: usize = de_late.iter().filter(|a| a.sent >= revoked_at).count();
    // Narrowing: ncu-fr's hits carrying the narrative.
    let fr_wide: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.agency == "ncu-fr")
        .filter(ok)
        .filter(has_narrative)
        .collect();
    let fr_late: Vec<&Answer> = fr_wide
        .iter()
        .copied()
        .filter(|a| a.served > narrowed_at)
        .collect();
    let fr_sent_after = fr_late.iter().filter(|a| a.sent >= narrowed_at).count();
    let fr_narrow_back = answers
        .iter()
        .filter(|a| a.agency == "ncu-fr" && a.sent >= narrowed_at && a.status == StatusCode::OK)
        .map(|a| a.served.saturating_duration_since(narrowed_at))
        .min();
    // Expiry: the outsider's hits.
    let expired: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.agency == "outsider")
        .filter(ok)
        .filter(|a| a.sent_wall >= expires_at)
        .collect();
    let outsider_before = answers
        .iter()
        .filter(|a| a.agency == "outsider" && a.sent_wall < expires_at)
        .filter(ok)
        .count();

    println!(
        "load: {} searches in {:.1}s ({:.1}/s); revoke: {} hits served after the ack (latest {:?} after, {} sent after), \
         narrow: {} wide hits after the ack (latest {:?} after, {} sent after), narrowed views searchable again {:?} \
         after the ack; expiry: {} hits before expires_at, {} at or after",
        answers.len(),
        elapsed.as_secs_f64(),
        answers.len() as f64 / elapsed.as_secs_f64(),
        de_late.len(),
        latest(&de_late, revoked_at),
        de_sent_after,
        fr_late.len(),
        latest(&fr_late, narrowed_at),
        fr_sent_after,
        fr_narrow_back,
        outsider_before,
        expired.len()
    );
    assert!(
        de_hits.iter().any(|a| a.served < revoked_at),
        "ncu-de never found anything before the revocation"
    );
    assert!(
        de_late.iter().all(|a| a.served <= revoked_at + BOUND),
        "a hit was served more than 2 s after the revocation was acknowledged"
    );
    assert_eq!(
        de_sent_after, 0,
        "a search sent after the revocation's ack found something"
    );
    assert!(
        fr_late.iter().all(|a| a.served <= narrowed_at + BOUND),
        "a narrowed-away field was served more than 2 s after the narrowing was acknowledged"
    );
    assert_eq!(
        fr_sent_after, 0,
        "a search sent after the narrowing's ack got the narrative"
    );
    assert!(
        fr_narrow_back.is_some(),
        "ncu-fr never found the narrowed views again"
    );
    assert!(
        outsider_before > 0,
        "the outsider never found anything before expiry"
    );
    assert!(
        expired.is_empty(),
        "visible at or after expires_at: {:?}",
        expired[0].body
    );
    drop(answers);
    let app = Arc::into_inner(app).expect("every request finished");
    shutdown(app).await;
}

async fn shutdown(app: TestApp) {
    app.shutdown().await;
}
