//! The canary test through the whole running system: `accord up` in process (embedded bus, tantivy), the canary
//! submissions of [`crate::submissions`] posted over HTTP as native reports, STIX 2.1 bundles and MISP events, and
//! every way an agency reads released data — search (every page), indicator lookups, the batch lookup and the TAXII
//! collection (every page) — plus every log line the process writes at `debug` level while it ingests and answers.
//! Under `pii: redact` no canary's secret may appear in any of them; under `pii: share` the narrative's canaries do
//! arrive (so the test can fail). The seed is printed; `ACCORD_CANARY_SEED` replays it.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use accord::up::{self, UpOptions};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

use crate::submissions::{self, Submission};

const ADMIN: &str = "canary-admin-token";
const PURPOSE: &str = "investigation";
const SUBMISSIONS: u64 = 36;

/// Every log line the process writes, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the capturing subscriber: Accord's own crates at `debug`, the libraries under it at `info`.
fn capture_logs() -> Captured {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(
            "debug,tantivy=info,hyper=info,hyper_util=info,h2=info,reqwest=info,tower=info,redb=info",
        ))
        .with_ansi(false)
        .with_writer(captured.clone())
        .try_init()
        .expect("the pipeline canary test installs the only subscriber of this test binary");
    captured
}

/// An HTTP client of the running instance.
struct Api {
    url: String,
    client: Client,
}

impl Api {
    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, String) {
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let request = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body);
        let (status, text) = self.send(request).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str, case: Option<&str>) -> (StatusCode, String) {
        let mut request = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(case) = case {
            request = request.header("X-Accord-Case", case);
        }
        self.send(request).await
    }

    async fn created(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, ADMIN, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {answer}");
        answer
    }

    async fn token(&self, org: &str, role: &str) -> String {
        let answer = self
            .created(
                "/v1/tokens",
                json!({ "organization": org, "role": role, "label": "canary" }),
            )
            .await;
        answer["token"].as_str().unwrap().to_owned()
    }

    /// Posts a submission in its own media type; returns the report id when it was accepted.
    async fn submit(&self, token: &str, submission: &Submission) -> Option<String> {
        let media = match submission.format {
            accord_domain::ReportFormat::Native => "application/json",
            accord_domain::ReportFormat::Stix => "application/stix+json;version=2.1",
            accord_domain::ReportFormat::Misp => "application/vnd.misp+json",
        };
        let request = self
            .client
            .post(format!("{}/v1/reports", self.url))
            .bearer_auth(token)
            .header("content-type", media)
            .body(serde_json::to_vec(&submission.payload).unwrap());
        let (status, text) = self.send(request).await;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            StatusCode::ACCEPTED => Some(answer["id"].as_str().unwrap().to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY => None,
            other => panic!("submission answered {other}: {text}"),
        }
    }

    /// Waits until the enforcer has evaluated a report.
    async fn wait_evaluated(&self, token: &str, id: &str) {
        for _ in 0..1500 {
            let (status, text) = self.get(&format!("/v1/reports/{id}"), token, None).await;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status == StatusCode::OK
                && matches!(body["status"].as_str(), Some("released" | "rejected"))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("report {id} was never evaluated");
    }

    /// Waits until an agency's search finds `count` reports.
    async fn wait_searchable(&self, token: &str, count: usize) {
        let body = json!({ "q": "", "purpose": PURPOSE, "case": "CANARY-WAIT", "size": 1 });
        let mut answer = Value::Null;
        for _ in 0..1500 {
            let status;
            (status, answer) = self.post("/v1/search", token, &body).await;
            if status == StatusCode::OK && answer["total"].as_u64() == Some(count as u64) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the agency never found the {count} reports released to it: {answer}");
    }
}

/// Everything an agency can read of what was released to it, as one text.
async fn agency_reads(api: &Api, token: &str, hosts: &[String]) -> String {
    let mut text = String::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut body = json!({ "q": "", "purpose": PURPOSE, "case": "CANARY-1", "size": 10 });
        if let Some(cursor) = &cursor {
            body["cursor"] = json!(cursor);
        }
        let (status, answer) = api.post("/v1/search", token, &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        text.push_str(&answer.to_string());
        match answer["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    for value in hosts.iter().map(String::as_str).chain(["45.155.205.172"]) {
        let path = format!("/v1/indicators/{value}?purpose={PURPOSE}&case=CANARY-2");
        text.push_str(&api.get(&path, token, None).await.1);
    }
    let lookup = json!({ "values": hosts, "purpose": PURPOSE, "case": "CANARY-3" });
    let (status, answer) = api.post("/v1/indicators/lookup", token, &lookup).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    text.push_str(&answer.to_string());
    text.push_str(&taxii_objects(api, token).await);
    text
}

/// Every page of the agency's TAXII collection for the purpose.
async fn taxii_objects(api: &Api, token: &str) -> String {
    let (status, collections) = api.get("/taxii2/accord/collections/", token, None).await;
    assert_eq!(status, StatusCode::OK, "{collections}");
    let collections: Value = serde_json::from_str(&collections).unwrap();
    let collection = collections["collections"]
        .as_array()
        .and_then(|all| {
            all.iter().find(|collection| {
                collection["title"]
                    .as_str()
                    .is_some_and(|title| title.ends_with(PURPOSE))
            })
        })
        .and_then(|collection| collection["id"].as_str())
        .expect("the agency has a collection for the purpose")
        .to_owned();
    let mut text = String::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = format!("/taxii2/accord/collections/{collection}/objects/?limit=50");
        if let Some(next) = &next {
            path.push_str(&format!("&next={next}"));
        }
        let (status, page) = api.get(&path, token, Some("CANARY-4")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        text.push_str(&page);
        let page: Value = serde_json::from_str(&page).unwrap();
        match page["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_owned()),
            None => break,
        }
    }
    text
}

/// A canary submission, made acceptable where the gateway refuses free text: a native report's categories and sector
/// come from a fixed vocabulary (a canary there is refused with 422, which [`refused_vocabulary`] checks).
fn acceptable(mut submission: Submission) -> Submission {
    if submission.format == accord_domain::ReportFormat::Native {
        submission.payload["categories"] = json!(["phishing"]);
        submission.payload["sector"] = json!("finance");
        submission
            .placed
            .retain(|(field, _)| !matches!(*field, "categories" | "sector"));
    }
    submission
}

async fn setup(api: &Api) -> (String, String, String) {
    api.created(
        "/v1/organizations",
        json!({ "id": "bank-a", "name": "Bank A", "kind": "partner", "country": "DE", "sector": "finance", "default_tlp": "amber" }),
    )
    .await;
    for (agency, country) in [("ncu-de", "DE"), ("police-fr", "FR")] {
        api.created(
            "/v1/organizations",
            json!({ "id": agency, "name": agency, "kind": "agency", "country": country }),
        )
        .await;
    }
    for (id, agency, pii) in [
        ("mou-redact", "ncu-de", "redact"),
        ("mou-share", "police-fr", "share"),
    ] {
        api.created("/v1/mous", json!({
            "id": id, "title": id, "providers": ["bank-a"], "recipients": [agency],
            "effective_from": "2026-01-01T00:00:00Z", "expires_at": "2030-12-31T23:59:59Z", "max_tlp": "amber",
            "content": ["indicators", "narrative", "victim"], "categories": ["*"], "indicator_types": ["*"],
            "purposes": [PURPOSE], "pii": pii, "attribution": "named", "recipient_countries": ["*"],
            "retention_days": 3650
        }))
        .await;
    }
    (
        api.token("bank-a", "partner").await,
        api.token("ncu-de", "investigator").await,
        api.token("police-fr", "investigator").await,
    )
}

/// A canary in a native report's categories or sector is refused at the door, so it cannot reach anyone.
async fn refused_vocabulary(api: &Api, partner: &str, rng: &mut StdRng) {
    let submission = submissions::native(rng);
    assert_eq!(
        api.submit(partner, &submission).await,
        None,
        "a canary in categories and sector must be refused: {}",
        submission.payload
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_canary_reaches_an_agency_or_a_log_line_through_the_running_system() {
    let logs = capture_logs();
    accord_runtime::telemetry::init_for_tests();
    let seed: u64 = std::env::var("ACCORD_CANARY_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("pipeline canary test: seed {seed} (ACCORD_CANARY_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);

    let dir = tempfile::TempDir::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = Api {
        url: format!("http://{}", listener.local_addr().unwrap()),
        client: Client::new(),
    };
    let shutdown = CancellationToken::new();
    let options = UpOptions {
        data_dir: dir.path().join("data"),
        admin_token: Some(ADMIN.to_owned()),
        config: Default::default(),
    };
    let running = up::start(options, listener, shutdown.clone())
        .await
        .unwrap();
    let (partner, redacted, shared) = setup(&api).await;
    refused_vocabulary(&api, &partner, &mut rng).await;

    let mut accepted = Vec::new();
    for number in 0..SUBMISSIONS {
        let submission = acceptable(match number % 3 {
            0 => submissions::native(&mut rng),
            1 => submissions::stix(&mut rng),
            _ => submissions::misp(&mut rng),
        });
        if let Some(id) = api.submit(&partner, &submission).await {
            accepted.push((id, submission));
        }
    }
    assert!(
        accepted.len() as u64 >= SUBMISSIONS * 9 / 10,
        "seed {seed}: only {} of {SUBMISSIONS} canary submissions were accepted",
        accepted.len()
    );
    for (id, _) in &accepted {
        api.wait_evaluated(&partner, id).await;
    }
    for agency in [&redacted, &shared] {
        api.wait_searchable(agency, accepted.len()).await;
    }
    let hosts: Vec<String> = accepted
        .iter()
        .flat_map(|(_, submission)| {
            submission
                .placed
                .iter()
                .map(|(_, canary)| canary.host.clone())
        })
        .collect();
    let redacted_text = agency_reads(&api, &redacted, &hosts).await;
    let shared_text = agency_reads(&api, &shared, &hosts).await;

    shutdown.cancel();
    running.tracker.wait().await;
    let log_text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let problems = leaks(&accepted, &redacted_text, &shared_text, &log_text);
    assert!(problems.is_empty(), "seed {seed}:\n{}", problems.join("\n"));
    assert!(
        log_text.lines().count() > 50,
        "the test must see the process's log lines"
    );
}

/// What went wrong: a secret in a redacted agency's reads or in a log line, or a narrative canary that did not
/// arrive under `pii: share`.
fn leaks(
    accepted: &[(String, Submission)],
    redacted_text: &str,
    shared_text: &str,
    log_text: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, submission) in accepted {
        for (field, canary) in &submission.placed {
            for secret in &canary.secrets {
                if redacted_text.contains(secret.as_str()) {
                    problems.push(format!(
                        "report {id}: {:?} in {field} reached the agency under pii: redact: `{secret}`",
                        canary.kind
                    ));
                }
                if let Some(line) = log_text.lines().find(|line| line.contains(secret.as_str())) {
                    problems.push(format!(
                        "report {id}: {:?} in {field} reached a log line: {line}",
                        canary.kind
                    ));
                }
            }
            let in_narrative = matches!(
                *field,
                "title" | "description" | "info" | "report.name" | "report.description"
            );
            if in_narrative
                && !canary
                    .secrets
                    .iter()
                    .any(|secret| shared_text.contains(secret.as_str()))
            {
                problems.push(format!(
                    "report {id}: {:?} in {field} did not arrive under pii: share",
                    canary.kind
                ));
            }
        }
    }
    problems
}
