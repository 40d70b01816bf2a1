//! Each partner's daily quota: what its submissions may take on the disks every partner's reports share.
//!
//! Priority and the backlog bound (decisions 0022, 0052) keep a flooding partner from delaying the others' reports,
//! but not from writing: a partner sending the heaviest reports the limits admit, as fast as its backlog drains,
//! writes gigabytes an hour to the bus, the enforcer's store and the index, until the disk is full and nobody's
//! reports are accepted. So each partner's accepted submissions and amendments may take at most
//! `gateway.max_partner_bytes_per_day` bytes in a UTC day, counted as the body as sent plus the report once
//! normalized (what the trial normalization measured, [`accord_normalizer::normalize_measured`]). Past it,
//! submissions are answered 429 `rate-limited` naming the setting, with `Retry-After` until midnight UTC; the other
//! partners are not affected, nor is anything already accepted.
//!
//! The check is made before any work for the submission; the submission that crosses the quota is still accepted
//! (one report's limits bound the overshoot). The counter is kept in the gateway's status store
//! ([`crate::status::StatusStore::charge`]): it survives a restart, and every gateway replica counts every version
//! from the bus as well, once each, so a partner gets its quota once across the replicas (a version sent through
//! another replica counts here as soon as the status follower reads it), and a status store refilled from the bus
//! counts the day again.

use accord_domain::RawReport;
use accord_runtime::{problem::ApiError, telemetry::ErrorChain};
use chrono::{DateTime, Utc};

use crate::{AppState, status::Charge};

/// Answers 429 when `partner`'s quota for today is used up.
///
/// # Errors
/// 429 naming `gateway.max_partner_bytes_per_day`, with `Retry-After` until midnight UTC; 503 when the status store
/// cannot be read (a full disk it is reopening after): nothing is admitted that the quota cannot count.
pub(crate) async fn check(state: &AppState, partner: &str) -> Result<(), ApiError> {
    let max = state.config.max_partner_bytes_per_day;
    if max == 0 {
        return Ok(());
    }
    let now = Utc::now();
    let store = state.status.clone();
    let owner = partner.to_owned();
    let used = tokio::task::spawn_blocking(move || store.charged(&owner, now.date_naive()))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::unavailable("the report status store", &error))?;
    if used < max {
        return Ok(());
    }
    metrics::counter!(crate::metrics::QUOTA_REFUSED).increment(1);
    Err(ApiError::QuotaExceeded {
        retry_after: seconds_to_midnight(now),
        detail: format!(
            "this partner's submissions took {used} bytes today; `gateway.max_partner_bytes_per_day` allows {max} \
             a UTC day; retry after midnight UTC"
        ),
    })
}

/// Counts `bytes` against its partner's quota, once the version `raw` is on the bus (the status follower counts the
/// same version again from the bus, which changes nothing: [`Charge`]). A failure is logged, not answered: the report
/// was accepted, and the follower will count it.
pub(crate) async fn charge(state: &AppState, raw: &RawReport, bytes: usize) {
    if state.config.max_partner_bytes_per_day == 0 {
        return;
    }
    let store = state.status.clone();
    let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
    let charge = Charge::new(
        raw.partner.as_str(),
        raw.id.as_str(),
        raw.received_at,
        raw.revision.as_ref(),
        bytes,
    );
    match tokio::task::spawn_blocking(move || store.charge(&[charge])).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            let partner = raw.partner.as_str();
            tracing::warn!(error = %ErrorChain(&error), partner, "failed to count a submission against its partner's quota")
        }
        Err(error) => {
            let partner = raw.partner.as_str();
            tracing::warn!(error = %ErrorChain(&error), partner, "quota write task failed")
        }
    }
}

/// Whole seconds from `now` until the next midnight UTC, at least 1.
fn seconds_to_midnight(now: DateTime<Utc>) -> u64 {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    let midnight = tomorrow.and_hms_opt(0, 0, 0).map(|at| at.and_utc());
    midnight
        .map(|at| (at - now).num_seconds())
        .and_then(|seconds| u64::try_from(seconds).ok())
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_runs_to_midnight_utc() {
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert_eq!(seconds_to_midnight(at("2026-12-07T23:59:30Z")), 30);
        assert_eq!(seconds_to_midnight(at("2026-12-07T00:00:00Z")), 86_400);
        assert_eq!(seconds_to_midnight(at("2026-12-07T23:59:59.900Z")), 1);
    }
}
