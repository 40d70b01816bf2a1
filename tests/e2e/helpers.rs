//! `spawn_app()` and typed request helpers.

use std::{path::PathBuf, time::Duration};

use accord::{
    config::ServicesConfig,
    up::{self, UpOptions},
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Returns every record of `topic` below its end at the call (one partition: the embedded bus), in order, read
/// without a group.
pub async fn read_topic(bus: &accord_bus::BusClient, topic: &str) -> Vec<accord_bus::Record> {
    let end = bus.end_offsets(topic).await.unwrap()[0].offset;
    let options = accord_bus::SubscribeOptions {
        topic: topic.to_owned(),
        group: None,
    };
    let mut subscription = bus.subscribe(options).await.unwrap();
    let mut records = Vec::new();
    let mut next = 0;
    while next < end {
        for delivery in subscription.next_batch(512).await.unwrap() {
            next = delivery.position.offset + 1;
            records.push(delivery.record);
        }
    }
    records
}

/// How long a test waits for the pipeline before it fails: a hang guard, not a performance assertion.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct TestApp {
    pub url: String,
    pub client: Client,
    pub dir: TempDir,
    pub bus: accord_bus::BusClient,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_in(TempDir::new().unwrap()).await
}

pub async fn spawn_app_in(dir: TempDir) -> TestApp {
    spawn_app_with(dir, ServicesConfig::default()).await
}

/// Starts `accord up` in `dir` with `config` instead of the defaults.
pub async fn spawn_app_with(dir: TempDir, config: ServicesConfig) -> TestApp {
    accord_runtime::telemetry::init_for_tests();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let options = UpOptions {
        data_dir: data_dir(&dir),
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        config,
    };
    let running = up::start(options, listener, shutdown.clone())
        .await
        .unwrap();
    TestApp {
        url,
        client: Client::new(),
        dir,
        bus: running.bus,
        shutdown,
        tracker: running.tracker,
    }
}

pub fn data_dir(dir: &TempDir) -> PathBuf {
    dir.path().join("data")
}

pub struct Response {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
}

impl TestApp {
    /// Wraps an instance running in another process (no in-process shutdown).
    pub fn remote(url: String, dir: TempDir, bus: accord_bus::BusClient) -> Self {
        let tracker = TaskTracker::new();
        tracker.close();
        Self {
            url,
            client: Client::new(),
            dir,
            bus,
            shutdown: CancellationToken::new(),
            tracker,
        }
    }

    /// Stops every service and returns the data directory for a restart.
    pub async fn shutdown(self) -> TempDir {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.tracker.wait())
            .await
            .expect("shutdown hangs");
        drop(self.bus);
        self.dir
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body).unwrap());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Response {
            status,
            body,
            content_type,
        }
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    /// The status of `GET /readyz` (no token).
    pub async fn readyz(&self) -> reqwest::StatusCode {
        self.client
            .get(format!("{}/readyz", self.url))
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn create_org(&self, id: &str, kind: &str, country: &str) {
        let response = self
            .post(
                "/v1/organizations",
                ADMIN_TOKEN,
                json!({ "id": id, "name": id.to_uppercase(), "kind": kind, "country": country, "sector": "finance" }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    }

    pub async fn token(&self, org: &str, role: &str) -> String {
        let response = self
            .post(
                "/v1/tokens",
                ADMIN_TOKEN,
                json!({ "organization": org, "role": role, "label": "test" }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        response.body["token"].as_str().unwrap().to_owned()
    }

    pub async fn create_mou(&self, mou: Value) -> Response {
        let response = self.post("/v1/mous", ADMIN_TOKEN, mou).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        response
    }

    /// Posts a report and returns its id.
    pub async fn submit(&self, token: &str, report: Value) -> String {
        let response = self.post("/v1/reports", token, report).await;
        assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
        response.body["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the partner sees the report evaluated by the enforcer (`released` or `normalized` with the
    /// enforcer done) or rejected.
    pub async fn wait_status(&self, token: &str, id: &str, wanted: &[&str]) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let response = self.get(&format!("/v1/reports/{id}"), token).await;
            if response.status == StatusCode::OK
                && wanted.contains(&response.body["status"].as_str().unwrap_or_default())
            {
                return response.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "report {id} never reached {wanted:?}: {}",
                response.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn lookup(&self, token: &str, value: &str, purpose: &str, case: &str) -> Response {
        let value = urlencode(value);
        self.get(
            &format!("/v1/indicators/{value}?purpose={purpose}&case={case}"),
            token,
        )
        .await
    }

    /// Waits until an indicator is found (200).
    pub async fn wait_found(&self, token: &str, value: &str, purpose: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let response = self.lookup(token, value, purpose, "CASE-WAIT").await;
            if response.status == StatusCode::OK {
                return response.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{value} never became searchable: {}",
                response.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `POST /v1/search`.
    pub async fn search(&self, token: &str, body: Value) -> Response {
        self.post("/v1/search", token, body).await
    }

    /// Waits until `check` holds for the search answer of `body`, and returns it.
    pub async fn wait_search(
        &self,
        token: &str,
        body: Value,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let response = self.search(token, body.clone()).await;
            if response.status == StatusCode::OK && check(&response.body) {
                return response.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "search never satisfied the check: {}",
                response.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn urlencode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An MoU between one partner and agencies, releasing everything named and shared unless overridden.
pub fn mou(id: &str, provider: &str, recipients: &[&str], overrides: Value) -> Value {
    let mut mou = json!({
        "id": id,
        "title": format!("MoU {id}"),
        "providers": [provider],
        "recipients": recipients,
        "effective_from": "2026-01-01T00:00:00Z",
        "expires_at": "2030-12-31T23:59:59Z",
        "max_tlp": "amber",
        "content": ["indicators", "narrative", "victim"],
        "categories": ["*"],
        "indicator_types": ["*"],
        "purposes": ["investigation", "prosecution"],
        "pii": "share",
        "attribution": "named",
        "recipient_countries": ["*"],
        "retention_days": 3650
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut mou, overrides) {
        for (key, value) in extra {
            base.insert(key, value);
        }
    }
    mou
}

/// A native report with the given indicators.
pub fn report(title: &str, tlp: &str, indicators: &[&str]) -> Value {
    let indicators: Vec<Value> = indicators
        .iter()
        .map(|value| json!({ "value": value }))
        .collect();
    json!({
        "title": title,
        "description": format!("{title}: phishing kit hosted at hxxps://kit-{}[.]example[.]net/login", title.len()),
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": tlp,
        "classification": "unclassified",
        "categories": ["phishing"],
        "sector": "finance",
        "indicators": indicators,
        "ttps": ["T1566.002"]
    })
}

/// A world with partner `bank-a` (DE), agencies `ncu-de` (DE), `ncu-fr` (FR) and `outsider` (DE), and tokens.
pub struct World {
    pub partner: String,
    pub ncu_de: String,
    pub ncu_fr: String,
    pub outsider: String,
}

pub async fn world(app: &TestApp) -> World {
    app.create_org("bank-a", "partner", "DE").await;
    app.create_org("ncu-de", "agency", "DE").await;
    app.create_org("ncu-fr", "agency", "FR").await;
    app.create_org("outsider", "agency", "DE").await;
    World {
        partner: app.token("bank-a", "partner").await,
        ncu_de: app.token("ncu-de", "investigator").await,
        ncu_fr: app.token("ncu-fr", "investigator").await,
        outsider: app.token("outsider", "investigator").await,
    }
}
