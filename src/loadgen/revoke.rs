//! `--revoke`: after the run, revokes its MoU and measures how long the revocation takes to reach what agencies get
//! and what partners are told.
//!
//! A sample of the accepted reports (spread over the run, the last one included) is looked up first to learn their
//! report ids. Then the MoU is revoked; from the coordinator's acknowledgement on, the sample is polled until
//! (1) none of its indicators is found any more (what an investigator gets: the query-time check) and (2) every
//! sampled report's partner status shows `released_to: []` (the enforcer re-evaluated the report and published its
//! empty release set, which the indexer applies to the index from the same topic).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::{
    client::{Api, Setup, indicator_path},
    synth::Synth,
};

/// Sampled reports.
const SAMPLE: usize = 300;

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Revocation {
    /// Reports sampled.
    pub(crate) sampled: usize,
    /// From the acknowledgement until no sampled indicator was found.
    pub(crate) invisible_ms: Option<f64>,
    /// From the acknowledgement until every sampled report showed `released_to: []`.
    pub(crate) withdrawn_ms: Option<f64>,
    /// Hits served after the acknowledgement (must be 0).
    pub(crate) hits_after_ack: usize,
}

/// Revokes `mou` and measures; gives up after `give_up`.
pub(crate) async fn run(
    api: &Api,
    admin: &str,
    setup: &Setup,
    synth: &Synth,
    accepted: &[u32],
    give_up: Duration,
) -> anyhow::Result<Revocation> {
    let (partner, investigator, mou) = (
        setup.partner_token.as_str(),
        setup.investigator_token.as_str(),
        setup.mou.as_str(),
    );
    let stride = (accepted.len() / SAMPLE).max(1);
    let mut picked: Vec<u32> = accepted.iter().copied().step_by(stride).collect();
    if let Some(last) = accepted.last()
        && picked.last() != Some(last)
    {
        picked.push(*last);
    }
    let mut sample = Vec::with_capacity(picked.len());
    for index in picked {
        let value = synth.indicators(u64::from(index))[0].value.clone();
        let path = indicator_path(&value);
        let reply = api.get(&path, investigator).await?;
        if reply.status != StatusCode::OK {
            continue;
        }
        let body: Value = serde_json::from_str(&reply.body).context("lookup answer")?;
        if let Some(id) = body["reports"][0]["id"].as_str() {
            sample.push((path, format!("/v1/reports/{id}")));
        }
    }
    if sample.is_empty() {
        anyhow::bail!("no accepted report was found before the revocation: nothing to measure");
    }
    let reply = api
        .post(&format!("/v1/mous/{mou}/revoke"), admin, b"{}".to_vec())
        .await?;
    if !reply.status.is_success() {
        anyhow::bail!("revoking {mou}: {}: {}", reply.status, reply.body);
    }
    let acknowledged = Instant::now();
    let (mut visible, mut released) = (vec![true; sample.len()], vec![true; sample.len()]);
    let (mut invisible_ms, mut withdrawn_ms, mut hits_after_ack) = (None, None, 0);
    while acknowledged.elapsed() < give_up && (invisible_ms.is_none() || withdrawn_ms.is_none()) {
        for (n, (lookup, status)) in sample.iter().enumerate() {
            if visible[n] {
                let reply = api.get(lookup, investigator).await?;
                if reply.status == StatusCode::OK {
                    hits_after_ack += 1;
                } else {
                    visible[n] = false;
                }
            }
            if released[n] {
                let reply = api.get(status, partner).await?;
                let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
                if body["released_to"].as_array().is_some_and(Vec::is_empty) {
                    released[n] = false;
                }
            }
        }
        let now = acknowledged.elapsed().as_secs_f64() * 1000.0;
        if invisible_ms.is_none() && !visible.contains(&true) {
            invisible_ms = Some(now);
        }
        if withdrawn_ms.is_none() && !released.contains(&true) {
            withdrawn_ms = Some(now);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(Revocation {
        sampled: sample.len(),
        invisible_ms,
        withdrawn_ms,
        hits_after_ack,
    })
}
