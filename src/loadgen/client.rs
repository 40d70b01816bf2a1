//! The HTTP side of the load generator: a thin client over the Accord API and the admin set-up of a run
//! (organizations, MoU, tokens).

use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A client bound to one Accord base URL.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
}

/// A response: status and body text.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for one path segment).
pub(crate) fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The exact-lookup path for `value`, stating the loadgen purpose and case.
pub(crate) fn indicator_path(value: &str) -> String {
    format!(
        "/v1/indicators/{}?purpose=investigation&case=LOADGEN",
        encode_segment(value)
    )
}

impl Api {
    /// A client of the same server with connections of its own (for a client that runs on another runtime).
    pub(crate) fn separate(&self, pool: usize) -> anyhow::Result<Self> {
        Self::new(&self.base, pool)
    }

    /// A client keeping up to `pool` idle keep-alive connections.
    pub(crate) fn new(base: &str, pool: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .context("failed to build the http client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Reply> {
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: request failed"))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .with_context(|| format!("{what}: reading the body failed"))?;
        Ok(Reply { status, body })
    }

    /// `GET path` with a bearer token.
    pub(crate) async fn get(&self, path: &str, token: &str) -> anyhow::Result<Reply> {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        self.send(request, path).await
    }

    /// `POST path` with a JSON body (already serialized) and a bearer token.
    pub(crate) async fn post(
        &self,
        path: &str,
        token: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        self.with_body(reqwest::Method::POST, path, token, body)
            .await
    }

    /// `DELETE path` with a JSON body (already serialized) and a bearer token.
    pub(crate) async fn delete(
        &self,
        path: &str,
        token: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        self.with_body(reqwest::Method::DELETE, path, token, body)
            .await
    }

    async fn with_body(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send(request, path).await
    }

    async fn post_value(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Reply> {
        self.post(path, token, serde_json::to_vec(body)?).await
    }

    /// Waits until `GET /readyz` answers 200 (up to `timeout`).
    pub(crate) async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let outcome = self.http.get(format!("{}/readyz", self.base)).send().await;
            let last = match outcome {
                Ok(response) if response.status() == StatusCode::OK => return Ok(()),
                Ok(response) => format!("status {}", response.status()),
                Err(error) => format!("{error:#}"),
            };
            if std::time::Instant::now() >= deadline {
                bail!(
                    "{}/readyz did not answer 200 within {timeout:?} (last: {last})",
                    self.base
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What [`setup`] created.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub(crate) partner_org: String,
    pub(crate) agency_org: String,
    pub(crate) mou: String,
    pub(crate) partner_token: String,
    pub(crate) investigator_token: String,
}

fn expect(reply: Reply, wanted: StatusCode, what: &str) -> anyhow::Result<Value> {
    if reply.status != wanted {
        bail!(
            "{what}: expected {wanted}, got {}: {}",
            reply.status,
            reply.body
        );
    }
    serde_json::from_str(&reply.body)
        .with_context(|| format!("{what}: the response is not json: {}", reply.body))
}

async fn create_token(api: &Api, admin: &str, org: &str, role: &str) -> anyhow::Result<String> {
    let body = json!({ "organization": org, "role": role, "label": "accord-loadgen" });
    let reply = api.post_value("/v1/tokens", admin, &body).await?;
    let value = expect(
        reply,
        StatusCode::CREATED,
        &format!("creating a {role} token"),
    )?;
    value["token"]
        .as_str()
        .map(str::to_owned)
        .context("the token response has no `token`")
}

/// Creates an organization.
async fn create_org(
    api: &Api,
    admin: &str,
    id: &str,
    name: &str,
    kind: &str,
) -> anyhow::Result<()> {
    let body =
        json!({ "id": id, "name": name, "kind": kind, "country": "DE", "sector": "finance" });
    let reply = api.post_value("/v1/organizations", admin, &body).await?;
    expect(
        reply,
        StatusCode::CREATED,
        &format!("creating organization {id}"),
    )?;
    Ok(())
}

/// Creates an active MoU releasing everything from `provider` to `recipient` for a year.
async fn create_mou(
    api: &Api,
    admin: &str,
    id: &str,
    provider: &str,
    recipient: &str,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let body = json!({
        "id": id,
        "title": format!("Loadgen: everything from {provider} to {recipient}"),
        "status": "active",
        "providers": [provider],
        "recipients": [recipient],
        "effective_from": (now - chrono::Duration::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true),
        "expires_at": (now + chrono::Duration::days(365)).to_rfc3339_opts(SecondsFormat::Secs, true),
        "max_tlp": "red",
        "content": ["indicators", "narrative"],
        "categories": ["*"],
        "sectors": ["*"],
        "indicator_types": ["*"],
        "purposes": ["investigation"],
        "pii": "redact",
        "attribution": "named",
        "recipient_countries": ["*"],
        "retention_days": 365,
    });
    let reply = api.post_value("/v1/mous", admin, &body).await?;
    expect(reply, StatusCode::CREATED, &format!("creating MoU {id}"))?;
    Ok(())
}

/// Creates a partner, an agency, an MoU releasing everything from one to the other, and a token for each.
pub(crate) async fn setup(api: &Api, admin: &str, run_id: &str) -> anyhow::Result<Setup> {
    let partner_org = format!("lg-bank-{run_id}");
    let agency_org = format!("lg-ncu-{run_id}");
    let mou = format!("lg-mou-{run_id}");
    create_org(
        api,
        admin,
        &partner_org,
        &format!("Loadgen Bank {run_id}"),
        "partner",
    )
    .await?;
    create_org(
        api,
        admin,
        &agency_org,
        &format!("Loadgen Cybercrime Unit {run_id}"),
        "agency",
    )
    .await?;
    create_mou(api, admin, &mou, &partner_org, &agency_org).await?;
    let partner_token = create_token(api, admin, &partner_org, "partner").await?;
    let investigator_token = create_token(api, admin, &agency_org, "investigator").await?;
    let setup = Setup {
        partner_org,
        agency_org,
        mou,
        partner_token,
        investigator_token,
    };
    wait_tokens_work(api, &setup).await?;
    Ok(setup)
}

/// Adds a second partner sharing everything with the run's agency (the flooding partner of `--flood`); returns its
/// token once it authenticates.
pub(crate) async fn add_partner(
    api: &Api,
    admin: &str,
    setup: &Setup,
    name: &str,
) -> anyhow::Result<String> {
    let org = format!("{}-{name}", setup.partner_org);
    create_org(api, admin, &org, &format!("Loadgen {name}"), "partner").await?;
    create_mou(
        api,
        admin,
        &format!("{}-{name}", setup.mou),
        &org,
        &setup.agency_org,
    )
    .await?;
    let token = create_token(api, admin, &org, "partner").await?;
    let probed = Setup {
        partner_token: token.clone(),
        ..setup.clone()
    };
    wait_tokens_work(api, &probed).await?;
    Ok(token)
}

/// Waits until both new tokens authenticate (they travel through the directory topic).
async fn wait_tokens_work(api: &Api, setup: &Setup) -> anyhow::Result<()> {
    let probe_report = "/v1/reports/report--00000000-0000-4000-8000-000000000000";
    let probe_indicator = indicator_path("probe.never-registered.invalid");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let partner = api.get(probe_report, &setup.partner_token).await?;
        let investigator = api.get(&probe_indicator, &setup.investigator_token).await?;
        let unauthorized = |reply: &Reply| {
            matches!(
                reply.status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            )
        };
        if !unauthorized(&partner) && !unauthorized(&investigator) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                "the new tokens are still refused after 15 s: partner probe {} {}, investigator probe {} {}",
                partner.status,
                partner.body,
                investigator.status,
                investigator.body
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(
            encode_segment("https://a.b/login/3"),
            "https%3A%2F%2Fa.b%2Flogin%2F3"
        );
        assert_eq!(encode_segment("ops1@x.com"), "ops1%40x.com");
        assert_eq!(encode_segment("1.2.3.4"), "1.2.3.4");
    }
}
