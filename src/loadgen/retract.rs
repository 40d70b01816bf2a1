//! `--retract-indicators N`: after the run, its partner retracts `N` of the run's indicator values
//! (`POST /v1/indicators/retract`, at most 10 000 values per request), spread over the accepted reports, and the
//! values are looked up in batches (`POST /v1/indicators/lookup`) from the last 202 on until none is found any more
//! (issue 19: how long until a false positive retracted at scale is gone from what agencies get).
//!
//! `--retract-reports N`: then retracts `N` whole reports of the run one after the other (`DELETE /v1/reports/{id}`),
//! each timed from its 202 until its first indicator is no longer found (polled every 10 ms): the "within 2 s" of
//! issue 19 at the number of indicators held.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    client::{Api, Setup, indicator_path},
    report::Summary,
    synth::Synth,
};

/// The most values in one retraction or one lookup request.
const CHUNK: usize = 10_000;

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Retraction {
    /// Values retracted.
    pub(crate) values: usize,
    /// Reports the values were spread over.
    pub(crate) reports: usize,
    /// From the first POST until the last 202.
    pub(crate) accepted_ms: f64,
    /// From the last 202 until no retracted value was found (an upper bound by one lookup sweep).
    pub(crate) invisible_ms: Option<f64>,
    /// Values still found by the first sweep after the 202.
    pub(crate) found_first_sweep: usize,
}

/// Retracts `count` of the run's values and measures; gives up after `give_up`.
pub(crate) async fn run(
    api: &Api,
    setup: &Setup,
    synth: &Synth,
    accepted: &[u32],
    count: usize,
    give_up: Duration,
) -> anyhow::Result<Retraction> {
    // As many reports as possible, spread evenly over the run, the same number of values from each.
    let per_report = synth.indicators(0).len().max(1);
    let per_pick = count.div_ceil(accepted.len().max(1)).clamp(1, per_report);
    let stride = (accepted.len() / count.div_ceil(per_pick).max(1)).max(1);
    let mut values = Vec::with_capacity(count);
    let mut reports = 0;
    for index in accepted.iter().step_by(stride) {
        if values.len() >= count {
            break;
        }
        reports += 1;
        for indicator in synth
            .indicators(u64::from(*index))
            .into_iter()
            .take(per_pick)
        {
            if values.len() < count {
                values.push(json!({ "type": indicator.kind, "value": indicator.value }));
            }
        }
    }
    let started = Instant::now();
    for chunk in values.chunks(CHUNK) {
        let body = serde_json::to_vec(&json!({ "values": chunk, "reason": "false-positive" }))?;
        let reply = api
            .post("/v1/indicators/retract", &setup.partner_token, body)
            .await?;
        if !reply.status.is_success() {
            anyhow::bail!("retracting indicators: {}: {}", reply.status, reply.body);
        }
    }
    let acknowledged = Instant::now();
    let accepted_ms = acknowledged.duration_since(started).as_secs_f64() * 1000.0;
    let plain: Vec<Value> = values.iter().map(|value| value["value"].clone()).collect();
    let (mut invisible_ms, mut found_first_sweep) = (None, None);
    while acknowledged.elapsed() < give_up {
        let Some(found) = still_found(api, setup, &plain).await? else {
            // Rate limited: this sweep does not count.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        found_first_sweep.get_or_insert(found);
        if found == 0 {
            invisible_ms = Some(acknowledged.elapsed().as_secs_f64() * 1000.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Retraction {
        values: values.len(),
        reports,
        accepted_ms,
        invisible_ms,
        found_first_sweep: found_first_sweep.unwrap_or(0),
    })
}

/// How many of `values` an investigator of the run still finds; `None` when a lookup was rate limited.
async fn still_found(api: &Api, setup: &Setup, values: &[Value]) -> anyhow::Result<Option<usize>> {
    let mut found = 0;
    for chunk in values.chunks(CHUNK) {
        let body = serde_json::to_vec(
            &json!({ "values": chunk, "purpose": "investigation", "case": "LOADGEN" }),
        )?;
        let reply = api
            .post("/v1/indicators/lookup", &setup.investigator_token, body)
            .await?;
        if reply.status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok(None);
        }
        if !reply.status.is_success() {
            anyhow::bail!("lookup: {}: {}", reply.status, reply.body);
        }
        let answer: Value = serde_json::from_str(&reply.body).context("lookup answer")?;
        found += answer["results"].as_array().map_or(0, |results| {
            results.iter().filter(|r| !r["match"].is_null()).count()
        });
    }
    Ok(Some(found))
}

/// What `--retract-reports` measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReportRetraction {
    /// Reports retracted.
    pub(crate) reports: usize,
    /// From each 202 until the report's first indicator is no longer found.
    pub(crate) gone: Summary,
    /// Reports still found after `give_up`.
    pub(crate) still_found: usize,
}

/// Retracts `count` reports spread over the run (skipping those whose first indicator is not found any more, for
/// instance because `--retract-indicators` took it) and times each.
pub(crate) async fn reports(
    api: &Api,
    setup: &Setup,
    synth: &Synth,
    accepted: &[u32],
    count: usize,
    give_up: Duration,
) -> anyhow::Result<ReportRetraction> {
    let stride = (accepted.len() / count.max(1)).max(1);
    let mut gone = Vec::with_capacity(count);
    let mut still_found = 0;
    for index in accepted.iter().skip(stride / 2).step_by(stride).take(count) {
        let value = synth.indicators(u64::from(*index))[0].value.clone();
        let path = indicator_path(&value);
        let reply = api.get(&path, &setup.investigator_token).await?;
        if !reply.status.is_success() {
            continue;
        }
        let found: Value = serde_json::from_str(&reply.body).context("lookup answer")?;
        let Some(id) = found["reports"][0]["id"].as_str() else {
            continue;
        };
        let body = serde_json::to_vec(&json!({ "reason": "sent-in-error" }))?;
        let reply = api
            .delete(&format!("/v1/reports/{id}"), &setup.partner_token, body)
            .await?;
        if reply.status.as_u16() != 202 {
            anyhow::bail!("retracting {id}: {}: {}", reply.status, reply.body);
        }
        let acknowledged = Instant::now();
        loop {
            let reply = api.get(&path, &setup.investigator_token).await?;
            if reply.status == reqwest::StatusCode::NOT_FOUND {
                gone.push(acknowledged.elapsed());
                break;
            }
            if acknowledged.elapsed() > give_up {
                still_found += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(ReportRetraction {
        reports: gone.len() + still_found,
        gone: Summary::of(&mut gone),
        still_found,
    })
}
