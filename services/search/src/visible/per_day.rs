//! A search's re-checked reports counted per UTC day of their incident (`POST /v1/search` with `"per_day": true`:
//! the investigator's dashboard), by the rule that counts its total (decision 0012, decision 0036):
//!
//! - on the fast path (no stale view, no alternate, no category, every hit of the page re-checked), every matching
//!   view is one the MoUs in force justify, so each day's count is the index's count of the same query narrowed to
//!   that day: one counting query per day, no view read;
//! - on the scan path, the re-checked views, one per report, are counted by the day of their `occurred_at`.
//!
//! Either way a day's count is the number of reports the caller would be shown by the same search narrowed to that
//! day: a view hidden from the caller changes no count.

use accord_domain::Timestamp;
use accord_index::{IndexClient, Query};
use accord_runtime::ApiError;
use chrono::{Duration, NaiveDate};

use crate::request::{Context, index_error};
use accord_domain::View;

/// The most days one request counts.
pub(crate) const MAX_DAYS: i64 = 92;

/// One day counted: the UTC day and the part of it the search's time range covers (`from` inclusive, `to` exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Day {
    /// The UTC day.
    pub(crate) day: NaiveDate,
    /// Occurred at or after.
    pub(crate) from: Timestamp,
    /// Occurred strictly before.
    pub(crate) to: Timestamp,
}

/// Returns the UTC days from `from` to `to` (exclusive; now when `None`), each cut to the range, oldest first.
///
/// # Errors
/// 422 naming `/per_day` when there is no `from`, or the range covers more than [`MAX_DAYS`] days.
pub(crate) fn days(from: Option<Timestamp>, to: Option<Timestamp>) -> Result<Vec<Day>, ApiError> {
    let Some(from) = from else {
        return Err(ApiError::invalid_field(
            "/per_day",
            "counts per day need filters.from",
        ));
    };
    let to = to.unwrap_or_else(chrono::Utc::now);
    if to <= from {
        return Ok(Vec::new());
    }
    let first = from.date_naive();
    let last = (to - Duration::nanoseconds(1)).date_naive();
    if (last - first).num_days() >= MAX_DAYS {
        return Err(ApiError::invalid_field(
            "/per_day",
            format!("counts per day cover at most {MAX_DAYS} days"),
        ));
    }
    let start_of = |day: NaiveDate| day.and_hms_opt(0, 0, 0).map(|at| at.and_utc());
    Ok(first
        .iter_days()
        .take_while(|day| *day <= last)
        .filter_map(|day| {
            let begins = start_of(day)?;
            let ends = start_of(day.succ_opt()?)?;
            Some(Day {
                day,
                from: begins.max(from),
                to: ends.min(to),
            })
        })
        .collect())
}

/// The fast path's counts: the index's count of `query` narrowed to each day (one pass on tantivy).
pub(super) async fn counted(
    index: &IndexClient,
    ctx: &Context,
    query: &Query,
    days: &[Day],
) -> Result<Vec<u64>, ApiError> {
    if days.is_empty() {
        return Ok(Vec::new());
    }
    let shown = Query {
        release: ctx.release(accord_index::Views::Shown, false),
        size: 0,
        offset: 0,
        ..query.clone()
    };
    let ranges = days.iter().map(|day| (day.from, day.to)).collect();
    index.count_ranges(shown, ranges).await.map_err(index_error)
}

/// The scan path's counts: the re-checked views (one per report) by the day of their incident.
pub(super) fn bucketed(visible: &[View], days: &[Day]) -> Vec<u64> {
    days.iter()
        .map(|day| {
            visible
                .iter()
                .filter(|view| {
                    let at = view.content.occurred_at;
                    day.from <= at && at < day.to
                })
                .count() as u64
        })
        .collect()
}
