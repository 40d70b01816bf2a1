//! A private tansu broker and every Accord service as its own child process on it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The bootstrap coordinator token of every test cluster.
pub const ADMIN_TOKEN: &str = "kafka-pipeline-admin-token";

/// How long a step may take before the test fails: a hang guard, not a performance assertion.
pub const PATIENCE: Duration = Duration::from_secs(240);

/// Returns `true` when the tests are to run: the Kafka tests are on (`ACCORD_KAFKA_BOOTSTRAP` is set, as
/// `scripts/test.sh` does once tansu is installed; these tests start brokers of their own). Otherwise they print a
/// notice and pass, unless `ACCORD_REQUIRE_KAFKA=1`, when they fail.
pub fn enabled() -> bool {
    let on = std::env::var("ACCORD_KAFKA_BOOTSTRAP").is_ok_and(|value| !value.is_empty());
    let installed = std::process::Command::new("bash")
        .arg(script())
        .arg("which")
        .output()
        .is_ok_and(|output| output.status.success());
    accord_testkit::available(
        accord_testkit::Component::Kafka,
        on && installed,
        "the Kafka tests are off (ACCORD_KAFKA_BOOTSTRAP) or tansu is missing",
        "run scripts/tansu.sh install and set ACCORD_KAFKA_BOOTSTRAP (scripts/test.sh does both)",
    )
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tansu.sh")
}

fn run_script(command: &str, dir: &Path) -> String {
    let output = std::process::Command::new("bash")
        .arg(script())
        .arg(command)
        .arg(dir)
        .output()
        .unwrap_or_else(|error| panic!("failed to run scripts/tansu.sh {command}: {error}"));
    assert!(
        output.status.success(),
        "scripts/tansu.sh {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A tansu broker in a temporary directory, stopped when dropped.
pub struct Broker {
    dir: tempfile::TempDir,
    pub bootstrap: String,
}

impl Broker {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bootstrap = Self::start_in(dir.path());
        Self { dir, bootstrap }
    }

    fn start_in(dir: &Path) -> String {
        let stdout = run_script("start", dir);
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("KAFKA_BOOTSTRAP="))
            .unwrap_or_else(|| panic!("scripts/tansu.sh start printed no address: {stdout}"))
            .to_owned()
    }

    /// Kills it with SIGKILL (a crash) and waits until it is gone.
    ///
    /// SIGKILL rather than SIGTERM: on SIGTERM tansu 0.6 first stops its storage task and then answers the requests
    /// still arriving with errors (`UnknownServerError` to a Produce). librdkafka's idempotent producer takes that
    /// as a failed batch and bumps its producer epoch locally, which Apache Kafka accepts but tansu does not: the
    /// first Produce with the new epoch after the restart panics in tansu's storage task (`more or less than one
    /// row`, tansu-storage 0.6.0 src/lite.rs:503, from `idempotent_message_check`), and the broker answers every
    /// request with an error from then on. After a SIGKILL the producers see their connections drop and retry
    /// with the same epoch and sequence numbers, as they do when any broker crashes, provided the broker is back
    /// within their delivery timeout (messages timing out bump the epoch too).
    pub fn kill(&self) {
        run_script("kill", self.dir.path());
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&self) {
        assert_eq!(
            Self::start_in(self.dir.path()),
            self.bootstrap,
            "the broker must come back on its port"
        );
    }

    /// The last `lines` lines of its log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// The consumer group session timeout of the services.
///
/// tansu 0.6 expires a silent member only when another request reaches its group: a member that joins while a
/// killed one's session is still running can be left with no partitions for good (the dead member keeps them).
/// Apache Kafka expires members on its own timer. So a process restarted after a crash joins its groups only once
/// this timeout is over (`accord_bus::kafka::MemberIdentity`, decision 0078): a killed stage is restarted at once.
pub const SESSION_TIMEOUT: Duration = Duration::from_millis(3_000);

/// The session timeout of a cluster whose groups keep several live members through rebalances (the production
/// default). tansu 0.6 holds the JoinGroup of a member that is not the group's leader for 3 s (`PAUSE_MS` in its
/// `coordinator/group/administrator.rs`), and the member sends no heartbeat while it waits: under a 3 s session the
/// coordinator expels it, it joins again, and the group rebalances every few seconds for good.
pub const STABLE_SESSION_TIMEOUT: Duration = Duration::from_millis(10_000);

/// The services, each its own process.
pub const SERVICES: [&str; 6] = [
    "admin",
    "gateway",
    "normalizer",
    "enforcer",
    "indexer",
    "search",
];

/// Every service as a child process on one broker and one data directory (each service keeps its own
/// subdirectory; the indexer writes the tantivy index, search reads it).
pub struct Cluster {
    pub broker: Broker,
    pub bus_url: String,
    pub data: tempfile::TempDir,
    ports: BTreeMap<String, u16>,
    children: BTreeMap<String, Child>,
    pub client: reqwest::Client,
    /// Environment variables of the processes spawned from now on (configuration, `ACCORD_<SECTION>__<KEY>`).
    pub env: Vec<(String, String)>,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Cluster {
    /// Every service once, on a broker with three partitions per topic.
    pub async fn start() -> Self {
        Self::start_with_partitions(3).await
    }

    /// Every service once, on a broker with `partitions` partitions per topic.
    pub async fn start_with_partitions(partitions: usize) -> Self {
        // A short session so that a killed member's partitions move on quickly.
        Self::start_with(partitions, SESSION_TIMEOUT).await
    }

    /// Every service once, on a broker with `partitions` partitions per topic (ordering and commits are per
    /// partition) and the groups' session timeout `session`.
    pub async fn start_with(partitions: usize, session: Duration) -> Self {
        let broker = Broker::start();
        let bus_url = format!(
            "kafka://{}?partitions={partitions}&session_timeout_ms={}",
            broker.bootstrap,
            session.as_millis()
        );
        let mut cluster = Self {
            broker,
            bus_url,
            data: tempfile::tempdir().unwrap(),
            ports: SERVICES
                .iter()
                .map(|name| (name.to_string(), free_port()))
                .collect(),
            children: BTreeMap::new(),
            client: reqwest::Client::new(),
            env: Vec::new(),
        };
        for service in SERVICES {
            cluster.spawn(service).await;
        }
        cluster
    }

    /// `accord up --bus kafka://…` (the default membership and session timeout): every service in one process,
    /// `up`, reached under every service's name.
    pub async fn start_up() -> Self {
        let broker = Broker::start();
        let bus_url = format!("kafka://{}?partitions=3", broker.bootstrap);
        let port = free_port();
        let mut cluster = Self {
            broker,
            bus_url,
            data: tempfile::tempdir().unwrap(),
            ports: SERVICES
                .iter()
                .chain(&["up"])
                .map(|name| (name.to_string(), port))
                .collect(),
            children: BTreeMap::new(),
            client: reqwest::Client::new(),
            env: Vec::new(),
        };
        cluster.spawn("up").await;
        cluster
    }

    pub fn url(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[service])
    }

    /// Starts `service` and waits until it is ready.
    pub async fn spawn(&mut self, service: &'static str) {
        let data_dir = self.data.path().join("data");
        self.spawn_process(service, service, &data_dir, &[]).await;
    }

    /// Starts a further replica of `service` named `name` (its log `<name>.log`, its URL `url(name)`) with a data
    /// directory of its own (`<name>/`, given admin's public key and the report id key of the first processes) and the
    /// index of the other services (`tantivy://…/data/index`), and waits until it is ready. Spawned again under the same name after a kill, it finds its data directory as it was.
    pub async fn spawn_replica(&mut self, name: &str, service: &'static str) {
        if !self.ports.contains_key(name) {
            self.ports.insert(name.to_owned(), free_port());
        }
        let data_dir = self.data.path().join(name);
        // What every process of a deployment shares, as an operator provisions it: admin's public key (to verify the
        // directory) and the gateways' report id key.
        let shared = self.data.path().join("data");
        for file in ["directory/admin.pub", "gateway/report-id.key"] {
            let (from, to) = (shared.join(file), data_dir.join(file));
            if from.exists() && !to.exists() {
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(from, to).unwrap();
            }
        }
        let index = format!(
            "tantivy://{}",
            self.data.path().join("data").join("index").display()
        );
        self.spawn_process(name, service, &data_dir, &["--index", &index])
            .await;
    }

    async fn spawn_process(&mut self, name: &str, service: &str, data_dir: &Path, args: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.path().join(format!("{name}.log")))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_accord"))
            .arg(service)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--bus", &self.bus_url])
            .args(["--listen", &format!("127.0.0.1:{}", self.ports[name])])
            .args(args)
            .env("ACCORD_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "info,librdkafka=warn")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.children.insert(name.to_owned(), child);
        self.wait_ready(name).await;
    }

    async fn wait_ready(&self, service: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let ready = self
                .client
                .get(format!("{}/readyz", self.url(service)))
                .send()
                .await;
            if ready.is_ok_and(|response| response.status() == StatusCode::OK) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{service} never became ready; its log:\n{}",
                self.log(service)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The service's log so far.
    pub fn log(&self, service: &str) -> String {
        std::fs::read_to_string(self.data.path().join(format!("{service}.log"))).unwrap_or_default()
    }

    /// The last lines of every service's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut names: Vec<&str> = self.ports.keys().map(String::as_str).collect();
        names.push("up");
        names.dedup();
        for service in names {
            let log = self.log(service);
            let lines: Vec<&str> = log.lines().collect();
            out.push_str(&format!(
                "--- {service} (last 15 of {} lines)\n",
                lines.len()
            ));
            for line in &lines[lines.len().saturating_sub(15)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// The services whose process has exited, with how it exited.
    pub fn exited(&mut self) -> Vec<(String, std::process::ExitStatus)> {
        self.children
            .iter_mut()
            .filter_map(|(service, child)| {
                child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map(|status| (service.clone(), status))
            })
            .collect()
    }

    /// The records `stage` of process `name` has received, from its `/metrics` (0 when it does not answer).
    pub async fn received(&self, name: &str, stage: &str) -> f64 {
        let Ok(response) = self
            .client
            .get(format!("{}/metrics", self.url(name)))
            .send()
            .await
        else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        let prefix = format!("accord_stage_received_total{{stage=\"{stage}\"");
        text.lines()
            .filter(|line| line.starts_with(&prefix))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Kills `service` with SIGKILL (a crash) and waits until it is gone.
    pub async fn kill(&mut self, service: &str) {
        if let Some(mut child) = self.children.remove(service) {
            child.kill().await.unwrap();
        }
    }

    /// Stops every service with SIGTERM and waits for them.
    pub async fn stop_all(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.children) {
            if let Some(pid) = child.id() {
                // SAFETY-free: `kill` the command, not libc.
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
            let _ = tokio::time::timeout(Duration::from_secs(40), child.wait()).await;
        }
    }

    /// Sends a request to `service`.
    pub async fn call(
        &self,
        service: &str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url(service)))
            .bearer_auth(token)
            .timeout(Duration::from_secs(60));
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let body = response.json().await.unwrap_or(Value::Null);
                (status, body)
            }
            Err(error) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": error.to_string() }),
            ),
        }
    }

    /// Creates a token of `organization` with `role` (as the coordinator); returns it.
    pub async fn token(&self, organization: &str, role: &str, label: &str) -> String {
        let (status, body) = self
            .call(
                "admin",
                reqwest::Method::POST,
                "/v1/tokens",
                ADMIN_TOKEN,
                Some(json!({ "organization": organization, "role": role, "label": label })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates partner `bank-a` and agency `ncu-de` with a MoU between them; returns their tokens.
    pub async fn world(&self) -> (String, String) {
        for (id, kind) in [("bank-a", "partner"), ("ncu-de", "agency")] {
            let (status, body) = self
                .call(
                    "admin",
                    reqwest::Method::POST,
                    "/v1/organizations",
                    ADMIN_TOKEN,
                    Some(json!({ "id": id, "name": id.to_uppercase(), "kind": kind, "country": "DE", "sector": "finance" })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let mut tokens = Vec::new();
        for (org, role) in [("bank-a", "partner"), ("ncu-de", "investigator")] {
            tokens.push(self.token(org, role, "fault test").await);
        }
        let (status, body) = self
            .call(
                "admin",
                reqwest::Method::POST,
                "/v1/mous",
                ADMIN_TOKEN,
                Some(json!({
                    "id": "m-fault",
                    "title": "Fault test",
                    "providers": ["bank-a"],
                    "recipients": ["ncu-de"],
                    "effective_from": "2026-01-01T00:00:00Z",
                    "expires_at": "2030-12-31T23:59:59Z",
                    "max_tlp": "amber",
                    "content": ["indicators", "narrative", "victim"],
                    "categories": ["*"],
                    "indicator_types": ["*"],
                    "purposes": ["investigation"],
                    "pii": "share",
                    "attribution": "named",
                    "recipient_countries": ["*"],
                    "retention_days": 3650
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let agency = tokens.pop().unwrap();
        let partner = tokens.pop().unwrap();
        (partner, agency)
    }
}

/// The report numbered `n`, carrying the one indicator [`indicator`]`(n)`.
pub fn report(n: usize) -> Value {
    json!({
        "title": format!("Fault run report {n}"),
        "description": "Credential phishing wave against online banking customers.",
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["phishing"],
        "sector": "finance",
        "indicators": [{ "value": indicator(n) }],
    })
}

/// A domain unique to report `n`.
pub fn indicator(n: usize) -> String {
    format!("r{n}.fault-run.example")
}

impl Drop for Cluster {
    /// With `ACCORD_TEST_KEEP_LOGS=DIR`, copies every service's log and the broker's into a new directory under
    /// `DIR` before the temporary directories go (for reading a failure at leisure).
    fn drop(&mut self) {
        let Some(keep) = std::env::var_os("ACCORD_TEST_KEEP_LOGS") else {
            return;
        };
        let to = std::path::Path::new(&keep).join(format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_millis())
                .unwrap_or_default()
        ));
        if std::fs::create_dir_all(&to).is_err() {
            return;
        }
        let broker_log = self.broker.dir.path().join("tansu.log");
        let logs = std::fs::read_dir(self.data.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
            .chain([broker_log]);
        for log in logs {
            if let Some(name) = log.file_name() {
                let _ = std::fs::copy(&log, to.join(name));
            }
        }
        eprintln!("logs kept in {}", to.display());
    }
}
