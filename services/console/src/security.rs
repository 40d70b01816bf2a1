//! What every console response carries, and the browser-side rules of the session.
//!
//! - Headers ([`headers`]): a Content-Security-Policy that allows scripts, styles and images from the console's own
//!   origin only (no inline script or style, no `eval`: htmx is configured not to need them; images may also be
//!   `data:` URLs, which the stylesheet uses for its icons and which cannot run script), `frame-ancestors
//!   'none'` (and `X-Frame-Options: DENY` for older browsers), `nosniff`, `Referrer-Policy: same-origin` (page URLs
//!   carry indicator values and case references: they never leave for another site; `no-referrer` would also make
//!   browsers send `Origin: null` with the console's own forms), a Permissions-Policy that turns off what the
//!   console never uses,
//!   and `Cache-Control: no-store` on every page (released data must not stay in a shared or browser cache).
//! - Cookies ([`cookie`]): `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` when the request came over TLS.
//!   Accord's listener speaks plain HTTP; TLS ends at a proxy in front of it, which says so with
//!   `X-Forwarded-Proto: https` (or `Forwarded: proto=https`). [`SecureCookies`] decides whether to trust that, or to
//!   always (never) mark cookies `Secure`.
//! - Origin ([`same_origin`]): a state-changing request whose `Origin` (or `Sec-Fetch-Site`) says it comes from
//!   another site is refused before its CSRF token is even looked at.

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::Response,
};
use serde::{Deserialize, Serialize};

/// The Content-Security-Policy of every console response.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// When session cookies are marked `Secure` (configuration `console.secure_cookies`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookies {
    /// When the request came over TLS, as the proxy in front of Accord says (`X-Forwarded-Proto: https`).
    #[default]
    Auto,
    /// Always (the console is only ever reached over TLS).
    Always,
    /// Never (plain HTTP on a trusted network, or tests).
    Never,
}

/// Adds the security headers (see the module documentation) to a console response.
pub(crate) async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Tells htmx the address of a page it fetched for a boosted link or form (`HX-Push-Url`), so that after a form's
/// redirect the address bar shows the page the browser is on, as it would without JavaScript.
pub(crate) async fn push_url(request: Request, next: Next) -> Response {
    let boosted_get =
        request.method() == axum::http::Method::GET && request.headers().contains_key("hx-boosted");
    let uri = request.uri().to_string();
    let mut response = next.run(request).await;
    if boosted_get
        && !response.headers().contains_key("hx-push-url")
        && let Ok(value) = HeaderValue::from_str(&uri)
    {
        response.headers_mut().insert("hx-push-url", value);
    }
    response
}

/// Returns whether cookies set in answer to a request with `headers` are marked `Secure`.
pub(crate) fn secure(rule: SecureCookies, headers: &HeaderMap) -> bool {
    match rule {
        SecureCookies::Always => true,
        SecureCookies::Never => false,
        SecureCookies::Auto => {
            let forwarded_proto = headers
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
            let forwarded = headers
                .get(header::FORWARDED)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.to_ascii_lowercase().contains("proto=https"));
            forwarded_proto || forwarded
        }
    }
}

/// Returns a `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` when `secure`, and `Max-Age`
/// when given (0 removes the cookie).
pub(crate) fn cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        cookie.push_str("; Secure");
    }
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={max_age}"));
    }
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Returns the value of cookie `name` of a request.
pub(crate) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty() && value.len() <= 128)
}

/// Returns whether a request comes from the console's own pages, as far as the browser says: `Sec-Fetch-Site` is
/// neither `cross-site` nor `same-site`, and an `Origin`, when sent, names the host the request was sent to (`Host`,
/// or `X-Forwarded-Host` when a proxy in front rewrote `Host`).
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return false;
    }
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    else {
        return true;
    };
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    [header::HOST.as_str(), "x-forwarded-host"]
        .iter()
        .any(|name| {
            headers
                .get(*name)
                .and_then(|value| value.to_str().ok())
                .and_then(|hosts| hosts.split(',').next())
                .is_some_and(|host| {
                    !host.trim().is_empty() && origin_host.eq_ignore_ascii_case(host.trim())
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let plain = cookie("s", "v", false, None);
        assert_eq!(plain, "s=v; Path=/; HttpOnly; SameSite=Strict");
        assert_eq!(
            cookie("s", "", true, Some(0)),
            "s=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0"
        );
        let tls = map(&[("x-forwarded-proto", "https")]);
        assert!(secure(SecureCookies::Auto, &tls));
        assert!(!secure(SecureCookies::Auto, &map(&[])));
        assert!(secure(SecureCookies::Always, &map(&[])));
        assert!(!secure(SecureCookies::Never, &tls));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let headers = map(&[("cookie", "a=1; accord_session=abc"), ("cookie", "b=2")]);
        assert_eq!(
            read_cookie(&headers, "accord_session").as_deref(),
            Some("abc")
        );
        assert_eq!(read_cookie(&headers, "b").as_deref(), Some("2"));
        assert_eq!(read_cookie(&headers, "c"), None);
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        assert!(same_origin(&map(&[("host", "accord.example:8080")])));
        assert!(same_origin(&map(&[
            ("host", "accord.example:8080"),
            ("origin", "https://accord.example:8080")
        ])));
        assert!(!same_origin(&map(&[
            ("host", "accord.example:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(same_origin(&map(&[
            ("host", "accord-internal:8080"),
            ("x-forwarded-host", "accord.example"),
            ("origin", "https://accord.example")
        ])));
        assert!(!same_origin(&map(&[("origin", "https://accord.example")])));
        assert!(!same_origin(&map(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&map(&[("sec-fetch-site", "same-origin")])));
    }
}
