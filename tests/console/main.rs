//! The web console through `accord up` in process: over plain HTTP (sessions, CSRF, headers, roles, audit, the
//! remote mode), and in a real browser (Debian's chromium driven by Playwright for Python: tests/browser/*.py).
//!
//! The browser tests need `/usr/bin/chromium` and `python3` with `playwright` (scripts/test.sh installs both; no
//! browser download). Without them they print a notice and pass, unless `ACCORD_REQUIRE_BROWSER=1` (scripts/test.sh,
//! CI): then they fail.
#![allow(unreachable_pub)]

mod alerts;
mod audit;
mod browser;
mod client;
mod coordinator;
mod explain;
mod health;
#[allow(dead_code)]
#[path = "../e2e/helpers.rs"]
mod helpers;
mod http;
mod map;
mod mous;
mod oversight;
mod remote;

use serde_json::json;

use crate::helpers::{TestApp, mou};

/// The tokens of the console's test world.
pub struct People {
    pub partner: String,
    pub investigator: String,
    pub outsider: String,
    pub auditor: String,
}

/// Partner `bank-a` shares with agency `ncu-de` (PII redacted, anonymously); agency `outsider` has an MoU of its own
/// with `bank-b` only, so it may search, and finds nothing of `bank-a`'s.
pub async fn console_world(app: &TestApp) -> People {
    app.create_org("bank-a", "partner", "DE").await;
    app.create_org("bank-b", "partner", "DE").await;
    app.create_org("ncu-de", "agency", "DE").await;
    app.create_org("outsider", "agency", "DE").await;
    app.create_mou(mou(
        "mou-bank-a-ncu",
        "bank-a",
        &["ncu-de"],
        json!({ "pii": "redact", "attribution": "anonymous", "content": ["indicators", "narrative"] }),
    ))
    .await;
    app.create_mou(mou(
        "mou-bank-b-outsider",
        "bank-b",
        &["outsider"],
        json!({}),
    ))
    .await;
    People {
        partner: app.token("bank-a", "partner").await,
        investigator: app.token("ncu-de", "investigator").await,
        outsider: app.token("outsider", "investigator").await,
        auditor: app.token("accord-admin", "auditor").await,
    }
}
