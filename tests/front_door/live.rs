//! The front door with a real Caddy (Debian's `caddy` package; the official image runs the same Caddyfile):
//!
//! - `caddy adapt`: Caddy's own reading of deploy/Caddyfile — the order of the routes, their matchers, their
//!   upstreams — must be what the static check read ([`crate::caddyfile`]), on each of its two listeners.
//! - `caddy run` on loopback ports, each service's upstream a server answering, on exactly the routes that service
//!   declares, which service it stands for (`x-served-by`): every declared (method, path) must come back from its
//!   service over the internal HTTP listener, and over TLS with the certificate Caddy's local CA issued at start
//!   (checked with `curl --cacert` against that CA's root).
//!
//! The upstreams stand in for the services: what is tested is the proxy's routing, and the services' route tables are
//! the real ones (the ones their routers are built from). Without `caddy` on the PATH these tests print a notice and
//! pass, unless `ACCORD_REQUIRE_CADDY=1` (scripts/test.sh): then they fail.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use accord_testkit::{Component, available};
use axum::{
    Router,
    http::{HeaderName, HeaderValue, Method},
    routing::{MethodFilter, on},
};
use serde_json::Value;

use crate::{
    caddyfile::{self, Action, ProxyRoute},
    check::sample,
};

/// The Caddyfile's path.
fn caddyfile_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/Caddyfile")
}

/// Whether `caddy` runs (a notice, or a failure under `ACCORD_REQUIRE_CADDY=1`, when not).
fn caddy_ready() -> bool {
    let present = Command::new("caddy")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    available(
        Component::Caddy,
        present,
        "caddy is not on the PATH",
        "apt-get install caddy (scripts/test.sh does)",
    )
}

/// A `caddy` command for the Caddyfile with its state (certificates, the local CA) under `home`.
fn caddy(home: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new("caddy");
    command
        .args(args)
        .arg("--config")
        .arg(caddyfile_path())
        .args(["--adapter", "caddyfile"])
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Reads one adapted route (a `handle` of the route block) back into a [`ProxyRoute`] (named as the one it is
/// compared with).
fn adapted_route(route: &Value, name: &str) -> ProxyRoute {
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| item.as_str().expect("a string").to_owned())
            .collect()
    };
    let matcher = route.pointer("/match/0");
    let handler = route
        .pointer("/handle/0/routes/0/handle/0")
        .expect("a handle's one directive");
    let action = match handler["handler"].as_str() {
        Some("reverse_proxy") => {
            let dial = handler["upstreams"][0]["dial"]
                .as_str()
                .expect("an upstream");
            Action::Proxy {
                service: dial.split(':').next().unwrap_or_default().to_owned(),
                upstream: dial.to_owned(),
            }
        }
        Some("static_response") => Action::Respond {
            status: u16::try_from(handler["status_code"].as_u64().expect("a status")).unwrap(),
        },
        other => panic!("unexpected handler {other:?}"),
    };
    ProxyRoute {
        name: name.to_owned(),
        paths: matcher.and_then(|m| m.get("path")).map(strings),
        methods: matcher.and_then(|m| m.get("method")).map(strings),
        action,
    }
}

/// The adapted route block: the list of routes whose first matches the first path of the static reading (how deep
/// Caddy nests it under the site's own subroutes differs between sites and versions).
fn route_block<'a>(door: &caddyfile::FrontDoor, value: &'a Value) -> Option<&'a Vec<Value>> {
    let first = door.routes.first()?.paths.as_ref()?.first()?;
    match value {
        Value::Array(items)
            if items
                .first()
                .and_then(|item| item.pointer("/match/0/path/0"))
                .is_some_and(|path| path == first.as_str()) =>
        {
            Some(items)
        }
        Value::Array(items) => items.iter().find_map(|item| route_block(door, item)),
        Value::Object(fields) => fields.values().find_map(|field| route_block(door, field)),
        _ => None,
    }
}

#[test]
fn caddy_reads_the_front_door_as_the_check_does() {
    if !caddy_ready() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let output = caddy(home.path(), &["adapt"], &[]).output().unwrap();
    assert!(
        output.status.success(),
        "caddy adapt: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let adapted: Value = serde_json::from_slice(&output.stdout).unwrap();
    let door = caddyfile::parse(&crate::caddyfile_text()).unwrap();
    let servers = adapted["apps"]["http"]["servers"]
        .as_object()
        .expect("servers");
    // The public site (HTTPS) and the internal listener.
    assert_eq!(servers.len(), 2, "{servers:?}");
    for (server, config) in servers {
        let block = route_block(&door, config)
            .unwrap_or_else(|| panic!("{server}: no route block in {config}"));
        let read: Vec<ProxyRoute> = block
            .iter()
            .zip(&door.routes)
            .map(|(route, ours)| adapted_route(route, &ours.name))
            .collect();
        assert_eq!(
            read, door.routes,
            "{server}: Caddy's reading differs from the check's"
        );
    }
}

/// A free loopback port (bound, then released for Caddy).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves, on a loopback port, exactly `routes`, each answering `x-served-by: service`.
async fn stand_in(
    service: &'static str,
    routes: &[accord_runtime::http::routes::Route],
) -> SocketAddr {
    let mut router = Router::new();
    for route in routes {
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let filter = MethodFilter::try_from(method).unwrap();
        let handler = move || async move {
            (
                [(
                    HeaderName::from_static("x-served-by"),
                    HeaderValue::from_static(service),
                )],
                service,
            )
        };
        router = router.route(route.path, on(filter, handler));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// Kills the Caddy this test started when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `url` answers 200 (Caddy started), at most 30 s.
async fn wait_for(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Caddy did not answer {url} within 30 s");
}

/// Sends `method` on `path` to the internal listener; returns the status and who served it.
async fn through(client: &reqwest::Client, base: &str, method: &str, path: &str) -> (u16, String) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let response = client
        .request(method, format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    let served_by = response
        .headers()
        .get("x-served-by")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("nobody")
        .to_owned();
    (response.status().as_u16(), served_by)
}

#[tokio::test]
async fn caddy_routes_every_declared_route_to_its_service() {
    if !caddy_ready() {
        return;
    }
    let services = crate::services();
    let mut env = vec![
        ("ACCORD_CADDY_ADMIN", "off".to_owned()),
        ("ACCORD_DOMAIN", "localhost".to_owned()),
    ];
    let (http, https, internal) = (free_port(), free_port(), free_port());
    env.push(("ACCORD_HTTP_PORT", http.to_string()));
    env.push(("ACCORD_HTTPS_PORT", https.to_string()));
    env.push(("ACCORD_INTERNAL_PORT", internal.to_string()));
    let variables = [
        ("admin", "ACCORD_ADMIN_UPSTREAM"),
        ("gateway", "ACCORD_GATEWAY_UPSTREAM"),
        ("search", "ACCORD_SEARCH_UPSTREAM"),
        ("enforcer", "ACCORD_ENFORCER_UPSTREAM"),
        ("console", "ACCORD_CONSOLE_UPSTREAM"),
    ];
    for service in &services {
        let address = stand_in(service.name, &service.routes).await;
        let variable = variables
            .iter()
            .find(|(name, _)| *name == service.name)
            .unwrap()
            .1;
        env.push((variable, address.to_string()));
    }
    let home = tempfile::tempdir().unwrap();
    let child = caddy(home.path(), &["run"], &env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{internal}");
    wait_for(&client, &format!("{base}/healthz")).await;
    let mut wrong = Vec::new();
    for service in &services {
        for route in &service.routes {
            let path = sample(route.path);
            let (status, served_by) = through(&client, &base, route.method, &path).await;
            if status != 200 || served_by != service.name {
                wrong.push(format!(
                    "{} {path}: {status} from {served_by}, not {}",
                    route.method, service.name
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "through Caddy:\n  {}", wrong.join("\n  "));
    assert_eq!(
        through(&client, &base, "GET", "/metrics").await,
        (404, "nobody".to_owned())
    );
    over_tls(home.path(), https).await;
}

/// Over TLS: Caddy's local CA issued a certificate for `localhost` at start; with that CA's root, curl reaches the
/// services through the public listener.
async fn over_tls(home: &Path, port: u16) {
    let root = home.join("data/caddy/pki/authorities/local/root.crt");
    let url = format!("https://localhost:{port}/v1/mous/preview");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        let output = tokio::process::Command::new("curl")
            .args([
                "-sS",
                "-X",
                "POST",
                "-o",
                "/dev/null",
                "-D",
                "-",
                "--cacert",
            ])
            .arg(&root)
            .arg(&url)
            .output()
            .await
            .expect("curl");
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() {
            assert!(
                last.to_lowercase().contains("x-served-by: enforcer"),
                "{last}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no TLS answer from {url} within 30 s: {last}");
}
