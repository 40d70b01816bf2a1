//! No client can hold the HTTP server: connection limits, header-read timeout, rate limits, query limits, media types.

use std::time::{Duration, Instant};

use accord::config::ServicesConfig;
use reqwest::StatusCode;
use serde_json::json;
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{PATIENCE, TestApp, spawn_app, spawn_app_with, world};

/// A server with a small connection limit and a short header timeout, so that the tests overrun them cheaply.
async fn small_server() -> TestApp {
    let mut config = ServicesConfig::default();
    config.http.max_connections = 64;
    config.http.max_connections_per_address = 64;
    config.http.header_read_timeout_ms = 2_000;
    spawn_app_with(TempDir::new().unwrap(), config).await
}

/// `GET /healthz` on a connection of its own.
async fn healthz(app: &TestApp) -> StatusCode {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(PATIENCE)
        .build()
        .unwrap();
    client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("healthz must answer")
        .status()
}

fn address(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_owned()
}

/// Waits until the server closes `stream` (end of stream or reset), reading whatever it sends first.
async fn closed_by_server(mut stream: TcpStream) {
    let mut buffer = [0_u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server never closed a connection"),
        }
    }
}

#[tokio::test]
async fn slow_loris_connections_are_closed_and_healthz_keeps_answering() {
    let app = small_server().await;
    // Three times the connection limit, each sending its headers one byte every 100 ms, never finishing them.
    const SLOW: usize = 192;
    let mut slow = Vec::with_capacity(SLOW);
    for _ in 0..SLOW {
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: accord\r\n")
            .await
            .unwrap();
        slow.push(tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if stream.write_all(b"X").await.is_err() {
                    break;
                }
                if started.elapsed() > PATIENCE {
                    panic!("a slow-loris connection was never closed");
                }
            }
            closed_by_server(stream).await;
        }));
    }
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(healthz(&app).await, StatusCode::OK);
    }
    println!(
        "slow-loris: 20 health checks answered among {SLOW} slow connections in {:?}",
        started.elapsed()
    );
    // Every slow connection is closed: to make room, or at the header-read timeout.
    for task in slow {
        task.await.unwrap();
    }
    assert_eq!(healthz(&app).await, StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn a_connection_flood_leaves_healthz_answering() {
    let app = small_server().await;
    // Eight times the connection limit, connected and silent.
    const FLOOD: usize = 512;
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(TcpStream::connect(address(&app)).await.unwrap());
    }
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(healthz(&app).await, StatusCode::OK);
    }
    println!(
        "connection flood: 20 health checks answered among {FLOOD} idle connections in {:?}",
        started.elapsed()
    );
    // The server holds at most its limit: all the others were closed.
    let mut open = 0;
    for stream in &mut flood {
        let mut byte = [0_u8; 1];
        match tokio::time::timeout(Duration::from_millis(10), stream.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => {}
            _ => open += 1,
        }
    }
    assert!(open <= 64, "{open} flood connections still open");
    app.shutdown().await;
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after_and_others_are_unaffected() {
    let mut config = ServicesConfig::default();
    config.http.rate_limit_per_second = 1;
    config.http.rate_limit_burst = 5;
    config.http.anonymous_rate_limit_per_second = 1;
    config.http.anonymous_rate_limit_burst = 3;
    let app = spawn_app_with(TempDir::new().unwrap(), config).await;
    let mut tokens = Vec::new();
    for org in ["ncu-de", "ncu-fr"] {
        app.create_org(org, "agency", "DE").await;
        tokens.push(app.token(org, "investigator").await);
    }
    let lookup = "/v1/indicators/198.51.100.1?purpose=investigation&case=C-RATE";
    // At one request a second with a burst of five, a client that does not pause gets a 429 long before 100.
    let mut limited = None;
    for _ in 0..100 {
        let response = app
            .client
            .get(format!("{}{lookup}", app.url))
            .bearer_auth(&tokens[0])
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let limited = limited.expect("the rate limit never answered 429");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["type"], "/problems/rate-limited", "{body}");
    // Another token is not affected.
    let other = app.get(lookup, &tokens[1]).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);

    // Without a valid token, the client address is limited (guessing tokens included), TAXII answering in kind.
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let response = app.get("/v1/audit", "not-a-token").await;
        statuses.push(response.status);
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let taxii = app
        .request(reqwest::Method::GET, "/taxii2/", None, None)
        .await;
    assert_eq!(taxii.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        taxii.content_type.starts_with("application/taxii+json"),
        "{}",
        taxii.content_type
    );
    // Health checks are never limited.
    assert_eq!(healthz(&app).await, StatusCode::OK);
    app.shutdown().await;
}

/// Sends `GET /v1/audit` with a wrong token and `X-Forwarded-For: forwarded` until a 429 (at most 20 requests);
/// returns how many were answered before it.
async fn until_limited(app: &TestApp, forwarded: &str) -> usize {
    for answered in 0..20 {
        let response = app
            .client
            .get(format!("{}/v1/audit", app.url))
            .bearer_auth("not-a-token")
            .header("x-forwarded-for", forwarded)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            return answered;
        }
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    20
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket_and_no_one_else_chooses_theirs() {
    let config = |trusted: &[&str]| {
        let mut config = ServicesConfig::default();
        config.http.anonymous_rate_limit_per_second = 1;
        config.http.anonymous_rate_limit_burst = 3;
        config.http.trusted_proxies = trusted.iter().map(|net| net.parse().unwrap()).collect();
        config
    };
    // The test client stands for the proxy (127.0.0.1): the clients it names are limited one by one.
    let app = spawn_app_with(TempDir::new().unwrap(), config(&["127.0.0.1/32"])).await;
    assert_eq!(
        until_limited(&app, "203.0.113.1").await,
        3,
        "a client's burst"
    );
    assert_eq!(
        until_limited(&app, "203.0.113.2").await,
        3,
        "another client behind the same proxy is not affected"
    );
    // A client that sends its own header through the proxy is still the address the proxy saw.
    assert_eq!(until_limited(&app, "203.0.113.2, 203.0.113.1").await, 0);
    app.shutdown().await;

    // Not a trusted proxy: the header is ignored, every request counts as the peer's.
    let app = spawn_app_with(TempDir::new().unwrap(), config(&[])).await;
    assert_eq!(until_limited(&app, "203.0.113.1").await, 3);
    assert_eq!(
        until_limited(&app, "203.0.113.2").await,
        0,
        "a client cannot pick another bucket by naming another address"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn oversized_queries_are_400_naming_the_limit_and_json_routes_want_json() {
    let app = spawn_app().await;
    let w = world(&app).await;
    // 600 000 terms, 1.2 MB.
    let q = "a ".repeat(600_000);
    let started = Instant::now();
    let response = app
        .search(
            &w.ncu_de,
            json!({ "q": q, "purpose": "investigation", "case": "C-Q" }),
        )
        .await;
    println!(
        "a 600 000-term query answered {} in {:?}",
        response.status,
        started.elapsed()
    );
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert_eq!(response.body["errors"][0]["pointer"], "/q");
    assert!(
        response.body["detail"]
            .as_str()
            .unwrap()
            .contains("max_query_bytes")
    );
    let wordy = vec!["phishing"; 65].join(" ");
    let response = app
        .search(
            &w.ncu_de,
            json!({ "q": wordy, "purpose": "investigation", "case": "C-Q" }),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert!(
        response.body["detail"]
            .as_str()
            .unwrap()
            .contains("max_query_terms")
    );

    let values = vec!["198.51.100.1"; 10_001];
    let response = app
        .post(
            "/v1/indicators/lookup",
            &w.ncu_de,
            json!({ "values": values, "purpose": "investigation", "case": "C-Q" }),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert_eq!(response.body["errors"][0]["pointer"], "/values");
    let long = format!("https://example.com/{}", "a".repeat(9000));
    let response = app
        .post(
            "/v1/indicators/lookup",
            &w.ncu_de,
            json!({ "values": ["198.51.100.1", long], "purpose": "investigation", "case": "C-Q" }),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert_eq!(response.body["errors"][0]["pointer"], "/values/1");

    for path in ["/v1/search", "/v1/indicators/lookup"] {
        let response = app
            .client
            .post(format!("{}{path}", app.url))
            .bearer_auth(&w.ncu_de)
            .header("content-type", "text/plain")
            .body(r#"{"q":"phishing","values":[],"purpose":"investigation","case":"C-Q"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{path}"
        );
    }
    app.shutdown().await;
}
