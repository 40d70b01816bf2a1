//! The backend-neutral conformance suite against a real OpenSearch, whenever `OPENSEARCH_URL` is set
//! (`http://localhost:9200`, `opensearch://…` or `opensearch+https://user:password@…`). Each case gets its own
//! indices and templates (prefix `accord-test-<random>`), deleted afterwards, also when the case fails. Without
//! `OPENSEARCH_URL` each case reports a skip and passes (and fails when `ACCORD_REQUIRE_OPENSEARCH=1`): OpenSearch
//! cannot run on every machine, and the stub contract tests cover the requests.

use std::future::Future;

use accord_index::{
    IndexClient,
    conformance::{self, CASES},
    opensearch_index::{OpenSearchConfig, OpenSearchIndex},
};

/// Returns the configuration of a fresh, randomly prefixed index on the cluster of `OPENSEARCH_URL`, or `None`.
fn fresh_config(case: &str) -> Option<OpenSearchConfig> {
    let url = std::env::var("OPENSEARCH_URL").ok();
    let present = accord_testkit::available(
        accord_testkit::Component::OpenSearch,
        url.is_some(),
        &format!("OPENSEARCH_URL is not set for OpenSearch conformance case `{case}`"),
        "point OPENSEARCH_URL at a cluster",
    );
    let (true, Some(url)) = (present, url) else {
        return None;
    };
    let url = if let Some(rest) = url.strip_prefix("http://") {
        format!("opensearch://{rest}")
    } else if let Some(rest) = url.strip_prefix("https://") {
        format!("opensearch+https://{rest}")
    } else {
        url
    };
    let mut config = OpenSearchConfig::from_url(&url)
        .unwrap_or_else(|error| panic!("bad OPENSEARCH_URL: {error}"));
    config.prefix = format!("accord-test-{:016x}", rand::random::<u64>());
    config.replicas = 0;
    // A small result window and small requests, so that every case pages past the window and splits its lookups.
    small_requests(&mut config);
    Some(config)
}

/// Makes `config` page past its result window and split lookups after a few hits, as the model tests do.
pub(crate) fn small_requests(config: &mut OpenSearchConfig) {
    config.max_result_window = 10;
    config.msearch_max_hits = 25;
    config.msearch_max_searches = 4;
    config.mget_max_docs = 7;
}

/// Runs `case` on a fresh index, then deletes the index whatever the outcome.
async fn run<F, Fut>(name: &str, case: F)
where
    F: FnOnce(IndexClient, OpenSearchConfig) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(config) = fresh_config(name) else {
        return;
    };
    let index = OpenSearchIndex::new(config.clone()).expect("build client");
    let outcome = tokio::spawn(case(IndexClient::new(index.clone()), config)).await;
    if let Err(error) = index.delete_everything().await {
        eprintln!("failed to delete the test indices of `{name}`: {error}");
    }
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

macro_rules! conformance_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                run(stringify!($case), |index, _| conformance::$case(index)).await;
            }
        )*

        /// Every case of [`CASES`] has a test here.
        #[test]
        fn every_conformance_case_runs() {
            let here = [$(stringify!($case)),*];
            for (name, _) in CASES {
                assert!(here.contains(name), "conformance case `{name}` is not run on opensearch");
            }
        }
    };
}

conformance_tests![
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_views_and_versions() {
    run("restart_keeps_views_and_versions", |index, config| {
        conformance::restart_keeps_views_and_versions(index, move |first| async move {
            drop(first);
            IndexClient::new(OpenSearchIndex::new(config).expect("reopen client"))
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_switches_the_alias_to_the_next_generation() {
    run(
        "a_rebuild_switches_the_alias_to_the_next_generation",
        |_, config| async move {
            let live = OpenSearchIndex::new(config).expect("build client");
            let (old, next) = crate::rebuild::scenario(&live).await;
            assert_eq!((old, next), (1, 2));
        },
    )
    .await;
}
