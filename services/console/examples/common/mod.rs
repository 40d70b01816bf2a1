//! What the console's benchmarks share: requests through the router as a browser sends them, signing in, quantiles.
//! Each benchmark uses part of it.
#![allow(dead_code)]

use std::time::Duration;

use axum::{Router, body::Body, http::Request};
use tower::ServiceExt as _;

/// Sends one request through the router; returns the status, the `Set-Cookie` values and the body.
pub(crate) async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    cookie: &str,
    form: Option<String>,
) -> (u16, Vec<String>, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "bench");
    if !cookie.is_empty() {
        request = request.header("cookie", cookie);
    }
    let body = match form {
        Some(form) => {
            request = request.header("content-type", "application/x-www-form-urlencoded");
            Body::from(form)
        }
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(request.body(body).expect("request"))
        .await
        .expect("answer");
    let status = response.status().as_u16();
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().to_owned())
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        cookies,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The value of the hidden form field `name` in a page.
pub(crate) fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).expect("field") + marker.len();
    body[start..start + body[start..].find('"').expect("quote")].to_owned()
}

/// Percent-encodes a form value.
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs `token` in; returns the session cookie and the session's CSRF token.
pub(crate) async fn sign_in(router: &Router, token: &str) -> (String, String) {
    let (_, cookies, body) = send(router, "GET", "/sign-in", "", None).await;
    let form = format!("csrf={}&token={token}", hidden(&body, "csrf"));
    let (status, cookies, _) =
        send(router, "POST", "/sign-in", &cookies.join("; "), Some(form)).await;
    assert_eq!(status, 303, "sign-in");
    let cookie = cookies
        .into_iter()
        .find(|cookie| cookie.starts_with("accord_session="))
        .expect("session");
    let (_, _, page) = send(router, "GET", "/dashboard", &cookie, None).await;
    (cookie.clone(), hidden(&page, "csrf"))
}

/// The `p` quantile of sorted durations.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}
