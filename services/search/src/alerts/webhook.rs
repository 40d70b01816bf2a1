//! Webhooks: a watchlist's alerts POSTed to the agency's own endpoint, signed, retried, dead-lettered.
//!
//! A watchlist created with `"webhook": { "url", "secret" }` gets its alerts (re-checked and audited like every
//! delivery, the audit record naming the token that created the watchlist and endpoint `webhook`) as
//! `POST <url>` with the JSON body `{ "alerts": [ … ] }` (at most 100 alerts, in order) and the header
//! `X-Accord-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 with the secret over "<t>.<body>">`; a receiver
//! recomputes it, compares in constant time and refuses a `t` too far from its clock (docs/api.md has an example).
//! A 2xx answer delivers the batch. Anything else (or no answer within `search.webhook_timeout_ms`) is retried with
//! exponential backoff (1 s doubling to 15 min) for `search.webhook_retry_secs` (24 h) after the first failure; then
//! the batch is dead-lettered: its alert ids are listed as `failed` on the watchlist (`GET /v1/watchlists/{id}`),
//! the agency still reads them in `GET /v1/alerts`, and delivery goes on with the next alerts.
//!
//! The URL must be `https` to a public address; `search.webhook_allow_insecure` allows `http` and loopback or
//! private addresses (a lab, the tests). Only the URL's literal host is checked: a name that resolves to a private
//! address is the deployment's egress firewall's to stop. The secret is kept in the alerts store (in the data
//! directory) and never returned. One task delivers for every watchlist, at most 16 receivers at a time, so one slow
//! receiver delays nobody else's.

use std::{net::IpAddr, sync::Arc, time::Duration};

use accord_domain::{Role, Timestamp};
use accord_runtime::{ApiError, Principal};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinSet;

use super::{
    delivery::{Reader, release},
    store::Watchlist,
};
use crate::AppState;

/// Alerts per POST.
const BATCH: usize = 100;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Receivers served at once.
const CONCURRENCY: usize = 16;
/// Dead-lettered alert ids kept per watchlist (the most recent).
const KEPT_FAILED: usize = 1000;

/// Where a watchlist's alerts go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) secret: String,
}

/// Delivery state of one watchlist's webhook.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    /// The last alert sequence number dealt with (delivered, dead-lettered or not this watchlist's).
    pub(crate) cursor: u64,
    /// Failed attempts of the current batch.
    pub(crate) attempts: u32,
    pub(crate) failing_since: Option<Timestamp>,
    pub(crate) next_attempt: Option<Timestamp>,
    pub(crate) last_error: Option<String>,
    /// Dead-lettered alert ids (the most recent [`KEPT_FAILED`]).
    pub(crate) failed: Vec<String>,
    pub(crate) delivered: u64,
}

impl State {
    /// `ok`, `retrying` or `failed` (the last batch was dead-lettered and nothing was delivered since).
    pub(crate) fn status(&self) -> &'static str {
        match (self.failing_since, self.last_error.is_some()) {
            (Some(_), _) => "retrying",
            (None, true) => "failed",
            (None, false) => "ok",
        }
    }
}

/// Checks a webhook given at creation, naming `/webhook/...`.
pub(crate) fn check(value: &serde_json::Value, allow_insecure: bool) -> Result<Target, ApiError> {
    let target: Target = serde_json::from_value(value.clone()).map_err(|error| {
        ApiError::bad_field(
            "/webhook",
            format!("{{ \"url\", \"secret\" }} expected: {error}"),
        )
    })?;
    let secret_len = target.secret.len();
    if !(16..=256).contains(&secret_len) {
        return Err(ApiError::bad_field("/webhook/secret", "16 to 256 bytes"));
    }
    let url = url::Url::parse(&target.url)
        .map_err(|error| ApiError::bad_field("/webhook/url", error.to_string()))?;
    if target.url.len() > 2048 || !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::bad_field(
            "/webhook/url",
            "at most 2048 bytes, no credentials in it",
        ));
    }
    let secure = url.scheme() == "https" && url.host().is_some_and(|host| public(&host));
    let insecure_allowed = allow_insecure && matches!(url.scheme(), "http" | "https");
    if !secure && !insecure_allowed {
        return Err(ApiError::bad_field(
            "/webhook/url",
            "an https URL to a public address",
        ));
    }
    Ok(target)
}

/// Whether a URL host is public: not localhost, not a loopback, private, link-local or unspecified address.
fn public(host: &url::Host<&str>) -> bool {
    let ip: IpAddr = match host {
        url::Host::Domain(name) => {
            return !name.eq_ignore_ascii_case("localhost") && !name.ends_with(".localhost");
        }
        url::Host::Ipv4(v4) => IpAddr::V4(*v4),
        url::Host::Ipv6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(*v6), IpAddr::V4),
    };
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified())
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// Returns the signature header's value for `body` at `t`.
pub(crate) fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers webhooks until shutdown.
///
/// # Errors
/// When the HTTP client cannot be built.
pub(crate) async fn run(state: AppState) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(state.config.webhook_timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let client = Arc::new(client);
    let mut raised = state.alerts.subscribe();
    loop {
        raised.borrow_and_update();
        let wake = pass(&state, &client).await;
        tokio::select! {
            changed = raised.changed() => if changed.is_err() { return Ok(()) },
            () = tokio::time::sleep(wake) => {}
            () = state.shutdown.cancelled() => return Ok(()),
        }
    }
}

/// Delivers what is due for every watchlist with a webhook; returns how long until the next retry is due.
async fn pass(state: &AppState, client: &Arc<reqwest::Client>) -> Duration {
    let lists: Vec<Watchlist> = state
        .alerts
        .memory()
        .lists
        .values()
        .filter(|list| list.webhook.is_some())
        .cloned()
        .collect();
    let mut wake = Duration::from_secs(60);
    let mut tasks = JoinSet::new();
    for list in lists {
        while tasks.len() >= CONCURRENCY {
            if let Some(Ok(next)) = tasks.join_next().await {
                wake = wake.min(next);
            }
        }
        let (state, client) = (state.clone(), client.clone());
        tasks.spawn(async move { serve(&state, &client, &list).await });
    }
    while let Some(next) = tasks.join_next().await {
        if let Ok(next) = next {
            wake = wake.min(next);
        }
    }
    wake
}

/// Delivers one watchlist's due alerts, batch after batch; returns how long until it is due again.
async fn serve(state: &AppState, client: &reqwest::Client, list: &Watchlist) -> Duration {
    loop {
        let mut hook = match state.alerts.webhook_state(&list.id) {
            Ok(hook) => hook,
            Err(error) => {
                tracing::warn!(%error, watchlist = %list.id, "cannot read webhook state");
                return Duration::from_secs(5);
            }
        };
        let now = chrono::Utc::now();
        if let Some(due) = hook.next_attempt.filter(|due| *due > now) {
            return (due - now).to_std().unwrap_or_default();
        }
        let outcome = attempt(state, client, list, &mut hook).await;
        if let Err(error) = state.alerts.put_webhook_state(&list.id, &hook) {
            tracing::warn!(%error, watchlist = %list.id, "cannot store webhook state");
            return Duration::from_secs(5);
        }
        match outcome {
            Attempt::Idle => return Duration::from_secs(60),
            Attempt::Progress => {}
            Attempt::Failed => {
                return hook.next_attempt.map_or(Duration::from_secs(1), |due| {
                    (due - now).to_std().unwrap_or_default()
                });
            }
        }
    }
}

enum Attempt {
    /// Nothing left to deliver.
    Idle,
    /// A batch was dealt with; there may be more.
    Progress,
    /// The batch failed; retry when due.
    Failed,
}

/// Tries the next batch of `list`, updating `hook`.
async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    list: &Watchlist,
    hook: &mut State,
) -> Attempt {
    let Some(target) = &list.webhook else {
        return Attempt::Idle;
    };
    let scanned = match state.alerts.page(&list.agency, hook.cursor, BATCH * 10) {
        Ok(scanned) => scanned,
        Err(error) => {
            tracing::warn!(%error, "cannot read alerts for a webhook");
            return Attempt::Idle;
        }
    };
    let Some(last_scanned) = scanned.last().map(|alert| alert.seq) else {
        return Attempt::Idle;
    };
    let mine: Vec<_> = scanned
        .into_iter()
        .filter(|alert| alert.watchlist == list.id)
        .take(BATCH)
        .collect();
    let through = if mine.len() == BATCH {
        mine[BATCH - 1].seq
    } else {
        last_scanned
    };
    if mine.is_empty() {
        hook.cursor = through;
        return Attempt::Progress;
    }
    let ids: Vec<String> = mine.iter().map(|alert| alert.seq.to_string()).collect();
    let reader = Reader {
        principal: Principal {
            token_id: list.created_by.clone(),
            organization: list.agency.clone(),
            role: Role::Investigator,
            binding: None,
        },
    };
    let sent = match release(state, &reader, "webhook", mine).await {
        Ok(released) if released.is_empty() => Ok(()),
        Ok(released) => {
            post(
                client,
                target,
                released.into_iter().map(|(_, alert)| alert).collect(),
            )
            .await
        }
        Err(error) => Err(format!("not sent: {error}")),
    };
    settle(state, hook, through, ids, sent)
}

/// Records the outcome of an attempt.
fn settle(
    state: &AppState,
    hook: &mut State,
    through: u64,
    ids: Vec<String>,
    sent: Result<(), String>,
) -> Attempt {
    let now = chrono::Utc::now();
    match sent {
        Ok(()) => {
            metrics::counter!(crate::metrics::ALERTS_DELIVERED, "via" => "webhook")
                .increment(ids.len() as u64);
            *hook = State {
                cursor: through,
                delivered: hook.delivered + ids.len() as u64,
                failed: std::mem::take(&mut hook.failed),
                ..State::default()
            };
            Attempt::Progress
        }
        Err(error) => {
            let since = *hook.failing_since.get_or_insert(now);
            hook.attempts += 1;
            hook.last_error = Some(error);
            let window = chrono::Duration::seconds(
                i64::try_from(state.config.webhook_retry_secs).unwrap_or(i64::MAX),
            );
            if now - since >= window {
                tracing::warn!(
                    alerts = ids.len(),
                    "webhook batch dead-lettered after its retry window"
                );
                hook.failed.extend(ids);
                let excess = hook.failed.len().saturating_sub(KEPT_FAILED);
                hook.failed.drain(..excess);
                hook.cursor = through;
                hook.attempts = 0;
                hook.failing_since = None;
                hook.next_attempt = None;
                return Attempt::Progress;
            }
            let backoff = Duration::from_secs(1u64 << hook.attempts.min(20).saturating_sub(1))
                .min(MAX_BACKOFF);
            hook.next_attempt = Some(now + chrono::Duration::from_std(backoff).unwrap_or_default());
            Attempt::Failed
        }
    }
}

/// POSTs a signed batch; `Err` says why it did not land.
async fn post(
    client: &reqwest::Client,
    target: &Target,
    alerts: Vec<serde_json::Value>,
) -> Result<(), String> {
    let body =
        serde_json::to_vec(&json!({ "alerts": alerts })).map_err(|error| error.to_string())?;
    let t = chrono::Utc::now().timestamp();
    let response = client
        .post(&target.url)
        .header("content-type", "application/json")
        .header("x-accord-signature", signature(&target.secret, t, &body))
        .body(body)
        .send()
        .await
        .map_err(|error| format!("no answer: {error}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_t_dot_body() {
        // Computed independently: printf '1700000000.{"alerts":[]}' | openssl dgst -sha256 -hmac 0123456789abcdef
        assert_eq!(
            signature("0123456789abcdef", 1_700_000_000, br#"{"alerts":[]}"#),
            "t=1700000000,v1=4d0a5d6b6395cc2307a5061c6c2e1ebf1a36804ec9cd95540dd690853f199922"
        );
        assert_ne!(
            signature("0123456789abcdef", 1, b"a"),
            signature("0123456789abcdeg", 1, b"a")
        );
        assert_ne!(
            signature("0123456789abcdef", 1, b"a"),
            signature("0123456789abcdef", 2, b"a")
        );
    }

    #[test]
    fn only_https_to_public_addresses_unless_allowed() {
        let hook = |url: &str| json!({ "url": url, "secret": "0123456789abcdef" });
        assert!(check(&hook("https://hooks.agency.example/accord"), false).is_ok());
        for refused in [
            "http://hooks.agency.example/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://localhost/x",
            "https://user:pw@hooks.agency.example/x",
            "ftp://hooks.agency.example/x",
        ] {
            assert!(check(&hook(refused), false).is_err(), "{refused}");
        }
        assert!(check(&hook("http://127.0.0.1:9/x"), true).is_ok());
        assert!(
            check(
                &json!({ "url": "https://a.example/", "secret": "short" }),
                false
            )
            .is_err()
        );
    }
}
