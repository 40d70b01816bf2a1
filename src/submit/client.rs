//! The HTTP side of `accord report submit`: `GET /v1/me` to check the token, `POST /v1/reports` with retries.
//!
//! Every submission carries an `Idempotency-Key` derived from what is sent (SHA-256 of the handling, the media type
//! and the body), so a retry, or a re-run of an interrupted import, returns the first answer instead of a second
//! report. A 429 is retried after its `Retry-After` (admission control: the partner's backlog is full, decision 0022)
//! up to [`MAX_BUSY_RETRIES`] times; a 500, 502, 503, 504 or a failed connection after a growing pause up to
//! `retries` times. Any other answer is final: 202 accepted, 4xx refused (with the problem document's detail and
//! fields), except 401 and 403, which end the import (the token is wrong for every file alike).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use anyhow::{Context as _, bail};
use reqwest::{StatusCode, header};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// How many 429 answers in a row one submission waits through.
pub(crate) const MAX_BUSY_RETRIES: u32 = 600;
/// The longest `Retry-After` honoured (a longer one is waited this long, then retried).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A client bound to one Accord and one partner token.
#[derive(Debug)]
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    lenient: bool,
    retries: u32,
    /// How many 429 answers were waited out (all submissions).
    busy_waits: AtomicU64,
}

/// The answer to one submission.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// 202: the report's id and what lenient handling left out.
    Accepted {
        /// `report--…`.
        id: String,
        /// The `warnings` of the 202 (`{ pointer, message }`).
        warnings: Vec<Value>,
    },
    /// Refused by the API: its status and problem document (or body text).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The problem's `detail` (or the body).
        detail: String,
        /// The problem's `errors` (`{ pointer, message }`).
        errors: Vec<Value>,
    },
}

/// The idempotency key of a submission: `accord-submit-` and the SHA-256 of the handling, media type and body.
pub(crate) fn idempotency_key(lenient: bool, media: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(if lenient { b"lenient\n" } else { b"strict\n\n" });
    digest.update(media.as_bytes());
    digest.update(b"\n");
    digest.update(body);
    format!("accord-submit-{}", hex::encode(digest.finalize()))
}

impl Api {
    /// A client for `base` (`http://host:port`) with a partner `token`.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub(crate) fn new(
        base: &str,
        token: String,
        lenient: bool,
        retries: u32,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("failed to build the http client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            lenient,
            retries,
            busy_waits: AtomicU64::new(0),
        })
    }

    /// How many 429 answers (admission control, rate limit) were waited out so far.
    pub(crate) fn busy_waits(&self) -> u64 {
        self.busy_waits.load(Ordering::Relaxed)
    }

    /// Checks that the token is a partner token of `partner` (`GET /v1/me`).
    ///
    /// # Errors
    /// The API cannot be reached, the token is refused, or it belongs to another organization or role.
    pub(crate) async fn check_partner(&self, partner: &str) -> anyhow::Result<()> {
        let url = format!("{}/v1/me", self.base);
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            bail!("the token was refused (401): revoked, expired or mistyped");
        }
        if status != StatusCode::OK {
            bail!("GET {url} answered {status}");
        }
        let me: Value = response.json().await.context("GET /v1/me: not JSON")?;
        let organization = me.pointer("/organization/id").and_then(Value::as_str);
        let role = me.get("role").and_then(Value::as_str);
        if role != Some("partner") || organization != Some(partner) {
            bail!(
                "the token is a {} token of {}, not a partner token of {partner} (--as)",
                role.unwrap_or("?"),
                organization.unwrap_or("?")
            );
        }
        Ok(())
    }

    /// Posts one report, retrying as the module says.
    ///
    /// # Errors
    /// 401 or 403 (the import cannot go on), or the API unreachable after every retry.
    pub(crate) async fn submit(&self, media: &str, body: Vec<u8>) -> anyhow::Result<Outcome> {
        let key = idempotency_key(self.lenient, media, &body);
        let body = bytes::Bytes::from(body);
        let (mut busy, mut failed) = (0u32, 0u32);
        loop {
            let mut request = self
                .http
                .post(format!("{}/v1/reports", self.base))
                .bearer_auth(&self.token)
                .header(header::CONTENT_TYPE, media)
                .header("idempotency-key", &key)
                .body(body.clone());
            if self.lenient {
                request = request.header("prefer", "handling=lenient");
            }
            let pause = match request.send().await {
                Ok(response) => match response.status() {
                    StatusCode::TOO_MANY_REQUESTS if busy < MAX_BUSY_RETRIES => {
                        busy += 1;
                        self.busy_waits.fetch_add(1, Ordering::Relaxed);
                        retry_after(&response)
                    }
                    status if is_transient(status) && failed < self.retries => {
                        failed += 1;
                        backoff(failed)
                    }
                    _ => return outcome(response).await,
                },
                Err(error) if failed < self.retries => {
                    tracing::debug!(error = %error, "submission failed, retrying");
                    failed += 1;
                    backoff(failed)
                }
                Err(error) => {
                    return Err(error).context(format!("POST {}/v1/reports failed", self.base));
                }
            };
            tokio::time::sleep(pause).await;
        }
    }
}

fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(30))
}

fn retry_after(response: &reqwest::Response) -> Duration {
    response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
        .clamp(Duration::from_millis(100), MAX_RETRY_AFTER)
}

async fn outcome(response: reqwest::Response) -> anyhow::Result<Outcome> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let document: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match status {
        StatusCode::ACCEPTED => Ok(Outcome::Accepted {
            id: document["id"].as_str().unwrap_or_default().to_owned(),
            warnings: document["warnings"].as_array().cloned().unwrap_or_default(),
        }),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            bail!(
                "the API refused the token ({status}): {}",
                detail_of(&document, &text)
            )
        }
        _ => Ok(Outcome::Refused {
            status: status.as_u16(),
            detail: detail_of(&document, &text),
            errors: document["errors"].as_array().cloned().unwrap_or_default(),
        }),
    }
}

fn detail_of(document: &Value, text: &str) -> String {
    match document.get("detail").and_then(Value::as_str) {
        Some(detail) => detail.to_owned(),
        None => text.chars().take(500).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_content_and_the_handling() {
        let a = idempotency_key(true, "application/json", b"{}");
        assert_eq!(a, idempotency_key(true, "application/json", b"{}"));
        assert_ne!(a, idempotency_key(false, "application/json", b"{}"));
        assert_ne!(a, idempotency_key(true, "application/json", b"{ }"));
        assert!(a.len() <= 255 && a.is_ascii());
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(30), Duration::from_secs(30));
    }
}
