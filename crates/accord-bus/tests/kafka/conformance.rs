//! The backend-neutral suite (`accord_bus::conformance`) against the broker, one test per case. Every case creates
//! its own topics and groups (unique names), so the cases run concurrently on one broker.

use accord_bus::conformance;

use crate::{bootstrap, factory};

macro_rules! conformance_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(bootstrap) = bootstrap() else { return };
                conformance::$name(&factory(&bootstrap)).await;
            }
        )+

        /// Every case of [`conformance::CASES`] has a test here.
        #[test]
        fn every_conformance_case_runs() {
            let here = [$(stringify!($name)),+];
            for name in conformance::CASES {
                assert!(here.contains(name), "conformance case `{name}` is not run here");
            }
        }
    };
}

conformance_tests!(
    health_is_ok,
    publish_to_unknown_topic_fails,
    ensure_topics_is_idempotent,
    publish_then_subscribe_in_order,
    records_round_trip,
    next_batch_respects_max,
    next_batch_waits_for_new_records,
    groupless_subscription_reads_from_the_beginning,
    group_resumes_after_commit,
    uncommitted_records_are_redelivered,
    groups_are_independent,
    committed_offsets_follow_commits,
    commit_keeps_a_contiguous_watermark,
    acknowledged_records_survive_restart,
    concurrent_publishers_get_distinct_ordered_offsets,
    a_partition_is_read_from_an_offset_up_to_its_end_at_open,
    a_subscription_owns_the_partitions_it_delivers,
);
