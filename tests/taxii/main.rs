//! TAXII 2.1 through `accord up` in process: what agencies read (only what MoUs release, withdrawn at once, audited,
//! refused without a case reference), the status codes the spec requires, and interop with the OASIS `taxii2-client`
//! and `stix2-validator` (tests/interop/taxii_client.py).
#![allow(unreachable_pub)]

mod discovery;
#[allow(dead_code)]
#[path = "../e2e/helpers.rs"]
mod helpers;
mod interop;
mod paging;
mod reads;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::helpers::TestApp;

const TAXII: &str = "application/taxii+json;version=2.1";

/// A TAXII response.
pub struct Taxii {
    pub status: u16,
    pub content_type: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Sends a TAXII request with the token as Bearer, optional case header, and `Accept: TAXII`.
pub async fn taxii_get(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    case: Option<&str>,
) -> Taxii {
    taxii_request(app, reqwest::Method::GET, path, token, case, TAXII, None).await
}

pub async fn taxii_request(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    case: Option<&str>,
    accept: &str,
    body: Option<(&str, String)>,
) -> Taxii {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.url))
        .header("Accept", HeaderValue::from_str(accept).unwrap());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(case) = case {
        request = request.header("X-Accord-Case", case);
    }
    if let Some((content_type, body)) = body {
        request = request.header("Content-Type", content_type).body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Taxii {
        status,
        content_type,
        headers,
        body,
    }
}

/// Returns the agency's collection for a purpose (by title).
pub async fn collection_id(app: &TestApp, token: &str, purpose: &str) -> Option<String> {
    let response = taxii_get(app, "/taxii2/accord/collections/", Some(token), None).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.body["collections"]
        .as_array()?
        .iter()
        .find(|collection| {
            collection["title"]
                .as_str()
                .is_some_and(|title| title.ends_with(&format!("for {purpose}")))
        })
        .and_then(|collection| collection["id"].as_str())
        .map(str::to_owned)
}

/// Returns the ids of every object in a collection (one page, as large as the server serves).
pub async fn object_ids(app: &TestApp, token: &str, collection: &str) -> Vec<String> {
    let response = taxii_get(
        app,
        &format!("/taxii2/accord/collections/{collection}/objects/"),
        Some(token),
        Some("CASE-TAXII"),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.body["objects"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .filter_map(|object| object["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
