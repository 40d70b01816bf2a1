//! What an investigator may be answered: index hits re-checked against the MoUs in force now, one view per report,
//! and totals, counts and cursors computed over re-checked hits only, also in the instant after a policy change.
//!
//! The index's release filter is the first wall; [`Context::allows`] (`accord_policy::allows`) on every hit the
//! second. A total the index computes counts hits nobody re-checked, so it is used only when it is exact:
//!
//! - **Fast path** (a search; steady state): no view matching the query was written under an older version of an MoU
//!   in force (the index's stale count is 0), no alternate view matches (so every report has one matching view),
//!   and every hit of the page passes the re-check. Then every matching view is one the MoUs in force justify
//!   (its MoU, at the version it was rendered under, still grants it: see the `stale_only` filter of
//!   `accord_index::ReleaseFilter`), and the index's total and offsets are the visible ones.
//! - **Scan path** (otherwise, and always for indicator lookups, whose counts cover every report): every matching
//!   view is fetched (at most [`Config::max_rechecked_views`]; more is a 503, never a count of unchecked hits),
//!   re-checked, and reduced to one view per report: the best-ranked one for the caller's grant (the shown view,
//!   else the alternate with the lowest rank: `accord_policy` rule 3), in the index's order.
//!
//! A search by category always takes the scan path: the index does not store categories, so they are kept over the
//! re-checked views, before totals and pages are counted (decision 0027).

use std::collections::{BTreeSet, HashMap};

use accord_domain::View;
use accord_index::{IndexClient, IndicatorMatch, Page, Query, ReleaseFilter, Views};
use accord_runtime::ApiError;

pub(crate) use self::per_day::Day;
use crate::{
    Config,
    request::{Context, index_error},
};

/// Re-checked hits: the total number of visible reports and the requested page of them.
#[derive(Debug)]
pub(crate) struct Visible {
    /// Reports visible now.
    pub(crate) total: u64,
    /// The requested page of them, one view each.
    pub(crate) hits: Vec<View>,
}

/// Returns the re-checked page `query.offset .. + query.size` of a search, and the exact total. A search for an
/// indicator also considers the reports' alternate views (one view per report is returned: the best-ranked one that
/// matches). With `categories`, only reports in one of them count.
///
/// # Errors
/// 503 when the index fails or when more views than [`Config::max_rechecked_views`] would have to be re-checked.
pub(crate) async fn search(
    index: &IndexClient,
    config: &Config,
    ctx: &Context,
    query: Query,
    categories: &BTreeSet<String>,
) -> Result<Visible, ApiError> {
    Ok(search_per_day(index, config, ctx, query, categories, &[])
        .await?
        .0)
}

/// [`search`], and the number of its re-checked reports whose incident falls in each of `days` (same order), counted
/// by the same rule as the total (module [`per_day`]).
///
/// # Errors
/// As [`search`].
pub(crate) async fn search_per_day(
    index: &IndexClient,
    config: &Config,
    ctx: &Context,
    query: Query,
    categories: &BTreeSet<String>,
    days: &[Day],
) -> Result<(Visible, Vec<u64>), ApiError> {
    let views = if query.indicator.is_some() {
        Views::WithAlternates
    } else {
        Views::Shown
    };
    let count = |release: ReleaseFilter| Query {
        release,
        size: 0,
        offset: 0,
        ..query.clone()
    };
    let stale = index
        .search(count(ctx.release(views, true)))
        .await
        .map_err(index_error)?
        .total;
    let alternates = match views {
        Views::Shown => 0,
        _ => {
            let release = ctx.release(Views::AlternatesOnly, false);
            index
                .search(count(release))
                .await
                .map_err(index_error)?
                .total
        }
    };
    if stale == 0 && alternates == 0 && categories.is_empty() {
        let page = index
            .search(Query {
                release: ctx.release(Views::Shown, false),
                ..query.clone()
            })
            .await
            .map_err(index_error)?;
        if page.hits.iter().all(|view| ctx.allows(view)) {
            let counts = per_day::counted(index, ctx, &query, days).await?;
            let visible = Visible {
                total: page.total,
                hits: page.hits,
            };
            return Ok((visible, counts));
        }
    }
    let all = Query {
        release: ctx.release(views, false),
        offset: 0,
        size: config.max_rechecked_views.saturating_add(1),
        ..query.clone()
    };
    let page = index.search(all).await.map_err(index_error)?;
    let mut visible = one_per_report(ctx, within_limit(config, page)?);
    if !categories.is_empty() {
        visible.retain(|view| {
            view.content
                .categories
                .iter()
                .any(|category| categories.contains(category))
        });
    }
    let counts = per_day::bucketed(&visible, days);
    let total = visible.len() as u64;
    let hits = visible
        .into_iter()
        .skip(query.offset)
        .take(query.size)
        .collect();
    Ok((Visible { total, hits }, counts))
}

/// Returns, per key (same order), every report an indicator lookup finds now: the re-checked views matching the key,
/// shown and alternates, one per report (see the module documentation), newest first.
///
/// A key may match at most [`Config::max_rechecked_views`] views, and a request at most that many or
/// `max_reports_per_indicator` per key, whichever is more (a batch of 10 000 values may re-check as many views as it
/// could list). One pass reads every key's count and its first `max_reports_per_indicator` views — within that
/// bound whatever the counts — and only the keys that match more are read again, whole, once the counts are known
/// to be within the bounds: a batch whose values are each in a few reports costs one batch lookup of the index (one
/// pass over its segments for all values, `accord_index::SearchIndex::lookup`).
///
/// # Errors
/// 503 when the index fails or when the matches exceed those bounds.
pub(crate) async fn lookup(
    index: &IndexClient,
    config: &Config,
    ctx: &Context,
    keys: Vec<IndicatorMatch>,
) -> Result<Vec<Vec<View>>, ApiError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let release = ctx.release(Views::WithAlternates, false);
    let first = config
        .max_reports_per_indicator
        .clamp(1, config.max_rechecked_views.max(1));
    let mut pages = index
        .lookup(release.clone(), keys.clone(), first)
        .await
        .map_err(index_error)?;
    let budget = config
        .max_rechecked_views
        .max(keys.len().saturating_mul(config.max_reports_per_indicator));
    let largest = pages.iter().map(|page| page.total).max().unwrap_or(0);
    let sum: u64 = pages.iter().map(|page| page.total).sum();
    if largest > config.max_rechecked_views as u64 || sum > budget as u64 {
        return Err(too_many(config, sum));
    }
    let partial: Vec<usize> = (0..pages.len())
        .filter(|&at| pages[at].total > pages[at].hits.len() as u64)
        .collect();
    if !partial.is_empty() {
        let again = partial.iter().map(|&at| keys[at].clone()).collect();
        let per_key = usize::try_from(largest).unwrap_or(usize::MAX);
        let whole = index
            .lookup(release, again, per_key)
            .await
            .map_err(index_error)?;
        for (at, page) in partial.into_iter().zip(whole) {
            pages[at] = page;
        }
    }
    pages
        .into_iter()
        .map(|page| Ok(one_per_report(ctx, within_limit(config, page)?)))
        .collect()
}

/// Returns the 503 of a request matching more views than can be re-checked, and logs it.
fn too_many(config: &Config, total: u64) -> ApiError {
    tracing::error!(
        total,
        limit = config.max_rechecked_views,
        "too many matching views to re-check; answering 503"
    );
    ApiError::Unavailable(format!(
        "this request matches more than {} views that must be re-checked against the MoUs in force; narrow it \
         or retry once recent policy changes are applied",
        config.max_rechecked_views
    ))
}

/// Returns the hits of a page that holds every match (none past [`Config::max_rechecked_views`]), or a 503.
fn within_limit(config: &Config, page: Page) -> Result<Vec<View>, ApiError> {
    if page.total > page.hits.len() as u64 || page.hits.len() > config.max_rechecked_views {
        return Err(too_many(config, page.total));
    }
    Ok(page.hits)
}

/// Returns the views that pass the re-check, one per report (the lowest rank for the caller's grant; ties by view
/// id), in the order of `views` (the index's: newest `occurred_at` first, then view id).
fn one_per_report(ctx: &Context, views: Vec<View>) -> Vec<View> {
    let mut best: HashMap<String, (u32, String)> = HashMap::new();
    let allowed: Vec<View> = views.into_iter().filter(|view| ctx.allows(view)).collect();
    for view in &allowed {
        let Some(rank) = ctx.rank_of(view) else {
            continue;
        };
        let candidate = (rank, view.id.clone());
        best.entry(view.report_id.to_string())
            .and_modify(|kept| {
                if candidate < *kept {
                    *kept = candidate.clone();
                }
            })
            .or_insert(candidate);
    }
    allowed
        .into_iter()
        .filter(|view| {
            best.get(view.report_id.as_str())
                .is_some_and(|(_, id)| *id == view.id)
        })
        .collect()
}

pub(crate) mod per_day;
#[cfg(test)]
mod tests;
