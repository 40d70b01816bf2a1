//! The backend-neutral contract of [`SearchIndex`](crate::SearchIndex): every implementation runs these cases.
//!
//! Each case takes a handle to a fresh, empty index (a new directory, or a new randomly named remote index) and
//! panics when the implementation breaks the contract. Cases refresh after writing, so implementations with
//! near-real-time visibility pass too. [`restart_keeps_views_and_versions`] also needs a way to reopen the same
//! index. [`CASES`] lists every other case for runners that iterate.
//!
//! Enabled in this crate's tests and, for other crates, with the `conformance` feature.

mod batch;
mod limits;
mod matching;
mod ordered;
mod release;
mod writes;

use std::{collections::BTreeSet, future::Future, net::IpAddr, pin::Pin};

use accord_domain::{
    Attribution, ContentPart, Grant, Indicator, IndicatorSource, ObservableType, OrgId, PiiRule,
    Profile, Purpose, ReportFacts, ReportId, Scope, Timestamp, Tlp, View, ViewContent,
};

pub use self::{batch::*, limits::*, matching::*, ordered::*, release::*, writes::*};
use crate::{
    Filters, IndexClient, IndicatorKey, IndicatorMatch, Query, ReleaseFilter, ReplaceViews, Views,
    WriteOutcome,
};

/// A boxed conformance case.
pub type Case = fn(IndexClient) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        &[$((stringify!($case), |index| Box::pin($case(index)))),*]
    };
}

/// Every case that needs only a fresh index, by name.
pub const CASES: &[(&str, Case)] = cases![
    exact_lookup_matches_type_and_value,
    ip_lookup_matches_containing_ipv4_blocks,
    ip_lookup_matches_containing_ipv6_blocks,
    text_searches_title_and_description,
    odd_free_text_is_not_an_error,
    type_filter_matches_any_listed_type,
    tlp_filter_matches_any_listed_label,
    sector_filter_matches_exactly,
    partner_filter_never_matches_anonymous_views,
    report_filter_matches_only_that_report,
    stix_id_filter_matches_views_carrying_the_objects,
    released_views_walk_in_release_order,
    released_views_walk_around_a_cursor_between_ids,
    occurred_range_is_from_inclusive_to_exclusive,
    release_filter_hides_other_grants_and_windows,
    release_filter_bounds_totals,
    release_filter_keeps_only_views_of_mous_in_force,
    alternates_match_only_when_asked_for,
    stale_views_are_those_of_no_current_version,
    paging_is_stable_and_totals_ignore_the_page,
    replacement_removes_earlier_views,
    older_and_replayed_versions_are_stale,
    batch_outcomes_follow_item_order,
    lookup_answers_each_key_in_input_order,
    batch_lookup_answers_as_searches_do,
    range_counts_answer_as_searches_do,
    mapped_ipv4_blocks_are_ipv4_blocks,
    text_finds_parts_of_dotted_values,
    long_free_text_is_an_invalid_query,
    paging_reaches_every_hit_past_the_result_window,
    wide_lookups_answer_every_key_in_full,
];

/// The agency of the default release filter.
pub const AGENCY: &str = "ncu";
/// Another agency, with no grants unless a case adds them.
pub const OTHER_AGENCY: &str = "bka";
/// The named partner of the default views.
pub const PARTNER: &str = "bank-a";
/// The MoU the default views are rendered under, in force in the default release filter.
pub const MOU: &str = "mou-default";

/// Returns an MoU id.
///
/// # Panics
/// Panics when `id` is not a valid MoU id.
pub fn mou_id(id: &str) -> accord_domain::MouId {
    accord_domain::MouId::parse(id)
        .unwrap_or_else(|error| panic!("bad test mou id `{id}`: {error}"))
}

/// Returns the timestamp of an RFC 3339 string.
///
/// # Panics
/// Panics when `rfc3339` is not a valid timestamp.
pub fn at(rfc3339: &str) -> Timestamp {
    rfc3339
        .parse()
        .unwrap_or_else(|error| panic!("bad test timestamp `{rfc3339}`: {error}"))
}

/// Returns an organization id.
///
/// # Panics
/// Panics when `id` is not a valid organization id.
pub fn org(id: &str) -> OrgId {
    OrgId::parse(id).unwrap_or_else(|error| panic!("bad test org id `{id}`: {error}"))
}

/// Returns a fresh random report id.
pub fn report() -> ReportId {
    ReportId::random()
}

/// Returns the default release filter: [`AGENCY`], investigation, at 2025-01-01, [`MOU`] version 1 in force, shown
/// views only.
pub fn release() -> ReleaseFilter {
    ReleaseFilter {
        agency: org(AGENCY),
        purpose: Purpose::Investigation,
        at: at("2025-01-01T00:00:00Z"),
        mous: vec![(mou_id(MOU), 1)],
        views: Views::Shown,
        stale_only: false,
    }
}

/// Returns a search under the default release filter with no other constraint, 100 hits per page.
pub fn query() -> Query {
    Query {
        release: release(),
        indicator: None,
        text: None,
        filters: Filters::default(),
        size: 100,
        offset: 0,
    }
}

/// Returns an indicator match; for an IP address (or block) the address is set too, so containment applies.
pub fn key(kind: ObservableType, value: &str) -> IndicatorMatch {
    let ip = match kind {
        ObservableType::Ipv4Addr | ObservableType::Ipv6Addr => value
            .split('/')
            .next()
            .and_then(|address| address.parse::<IpAddr>().ok()),
        _ => None,
    };
    IndicatorMatch {
        key: IndicatorKey {
            kind,
            value: value.to_owned(),
        },
        ip,
    }
}

/// Returns an exact indicator match, without containment.
pub fn exact(kind: ObservableType, value: &str) -> IndicatorMatch {
    IndicatorMatch {
        key: IndicatorKey {
            kind,
            value: value.to_owned(),
        },
        ip: None,
    }
}

/// Returns a view `view--<name>` of `report_id`: granted to [`AGENCY`] for investigation from 2024-01-01 until
/// 2026-01-01, TLP amber, sector `finance`, named partner [`PARTNER`], occurred 2024-06-01, no narrative, no
/// indicators. Cases adjust the fields they test.
pub fn view(report_id: &ReportId, name: &str) -> View {
    let occurred_at = at("2024-06-01T00:00:00Z");
    View {
        id: format!("view--{name}"),
        report_id: report_id.clone(),
        mous: vec![(mou_id(MOU), 1)],
        grants: vec![Grant {
            agency: org(AGENCY),
            purpose: Purpose::Investigation,
        }],
        alternates: Vec::new(),
        valid_from: at("2024-01-01T00:00:00Z"),
        valid_until: at("2026-01-01T00:00:00Z"),
        profile: Profile {
            content: BTreeSet::from([ContentPart::Indicators, ContentPart::Narrative]),
            pii: PiiRule::Redact,
            attribution: Attribution::Named,
            indicator_types: Scope::Any,
        },
        facts: ReportFacts {
            partner: org(PARTNER),
            tlp: Tlp::Amber,
            categories: vec!["ransomware".to_owned()],
            sector: Some("finance".to_owned()),
            received_at: occurred_at,
            num_indicators: None,
            amended_at: None,
        },
        content: ViewContent {
            partner: PARTNER.to_owned(),
            tlp: Tlp::Amber,
            occurred_at,
            categories: vec!["ransomware".to_owned()],
            sector: Some("finance".to_owned()),
            title: None,
            description: None,
            ttps: None,
            indicators: Vec::new(),
            victim: None,
        },
    }
}

/// Returns `view` with these indicators added.
pub fn with_indicators(mut view: View, indicators: &[(ObservableType, &str)]) -> View {
    for (kind, value) in indicators {
        view.content.indicators.push(Indicator {
            id: format!("{kind}--{}", view.content.indicators.len()),
            kind: *kind,
            value: (*value).to_owned(),
            source: IndicatorSource::Declared,
        });
    }
    view
}

/// Writes one replacement, asserts it was written and refreshes.
///
/// # Panics
/// Panics when the write fails or is not `Written`.
pub async fn put(index: &IndexClient, report_id: &ReportId, version: u64, views: Vec<View>) {
    let outcomes = write(
        index,
        vec![ReplaceViews {
            report_id: report_id.clone(),
            version,
            views,
        }],
    )
    .await;
    assert_eq!(
        outcomes,
        vec![WriteOutcome::Written],
        "write of {report_id} v{version}"
    );
}

/// Writes a batch, refreshes and returns the outcomes.
///
/// # Panics
/// Panics when the write or the refresh fails, or the outcomes do not match the batch.
pub async fn write(index: &IndexClient, batch: Vec<ReplaceViews>) -> Vec<WriteOutcome> {
    let len = batch.len();
    let outcomes = index
        .write(batch)
        .await
        .unwrap_or_else(|error| panic!("write failed: {error}"));
    assert_eq!(outcomes.len(), len, "one outcome per item");
    index.refresh().await.unwrap_or_else(|error| {
        panic!(
            "refresh failed: {error}: {:?}",
            std::error::Error::source(&error)
        )
    });
    outcomes
}

/// Runs a search and returns the total and the hit ids.
///
/// # Panics
/// Panics when the search fails.
pub async fn ids(index: &IndexClient, query: Query) -> (u64, Vec<String>) {
    let page = index
        .search(query)
        .await
        .unwrap_or_else(|error| panic!("search failed: {error}"));
    (
        page.total,
        page.hits.into_iter().map(|view| view.id).collect(),
    )
}

/// Looks up one key under `release` and returns the total and the hit ids.
///
/// # Panics
/// Panics when the lookup fails or does not answer exactly one page.
pub async fn lookup_one(
    index: &IndexClient,
    release: ReleaseFilter,
    matcher: IndicatorMatch,
) -> (u64, Vec<String>) {
    let pages = index
        .lookup(release, vec![matcher], 100)
        .await
        .unwrap_or_else(|error| panic!("lookup failed: {error}"));
    assert_eq!(pages.len(), 1, "one page per key");
    let page = pages.into_iter().next().unwrap_or_else(|| unreachable!());
    (
        page.total,
        page.hits.into_iter().map(|view| view.id).collect(),
    )
}

/// Returns the ids `view--<name>` of `names`, sorted.
pub fn sorted_ids(names: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = names.iter().map(|name| format!("view--{name}")).collect();
    ids.sort();
    ids
}

/// Returns `ids` sorted.
pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}
