//! Runs the [`SearchIndex`](accord_index::SearchIndex) conformance suite on the embedded tantivy index, each case
//! on a fresh index in its own temporary directory, plus tantivy-specific checks.

use accord_index::{
    IndexClient, SearchIndex,
    conformance::{self, CASES},
    tantivy_index::TantivyIndex,
};
use tempfile::TempDir;

/// Opens a fresh index; the directory lives as long as the returned guard.
fn fresh() -> (TempDir, IndexClient) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let index = TantivyIndex::open(dir.path()).expect("open index");
    (dir, IndexClient::new(index))
}

macro_rules! conformance_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (_dir, index) = fresh();
                conformance::$case(index).await;
            }
        )*

        /// Every case of [`CASES`] has a test here.
        #[test]
        fn every_conformance_case_runs() {
            let here = [$(stringify!($case)),*];
            for (name, _) in CASES {
                assert!(here.contains(name), "conformance case `{name}` is not run on tantivy");
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
    let (dir, index) = fresh();
    let path = dir.path().to_owned();
    conformance::restart_keeps_views_and_versions(index, |first| async move {
        // Dropping the last handle drops the writer and releases the directory lock.
        drop(first);
        IndexClient::new(TantivyIndex::open(&path).expect("reopen index"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boxed_case_entries_run() {
    // The list is what other backends iterate: its entries run the cases.
    let (_dir, index) = fresh();
    let (_, case) = CASES[0];
    case(index).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_the_same_directory_is_refused() {
    let (dir, _index) = fresh();
    let second = TantivyIndex::open(dir.path());
    assert!(
        matches!(second, Err(accord_index::IndexError::Unavailable { .. })),
        "{second:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_missing_directories_and_url_opens_it() {
    let dir = tempfile::tempdir().expect("create temp dir");
    let nested = dir.path().join("a/b/index");
    let index =
        IndexClient::from_url(&format!("tantivy://{}", nested.display())).expect("open by url");
    index.health().await.expect("healthy");
    index.refresh().await.expect("refresh");
    assert!(nested.join("meta.json").exists());
    let unknown = IndexClient::from_url("ftp://somewhere");
    assert!(matches!(
        unknown,
        Err(accord_index::IndexError::InvalidUrl(_))
    ));
    let _: &dyn SearchIndex = &*index;
}

/// The writer's budget (`[memory] index_writer_mib`) reaches tantivy: below its 15 MB floor the writer is refused,
/// at the floor the index opens by URL and takes writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_budget_reaches_tantivy() {
    let dir = tempfile::tempdir().expect("create temp dir");
    let url = format!("tantivy://{}", dir.path().display());
    let too_small = accord_index::IndexOptions {
        writer_bytes: 10 * 1024 * 1024,
    };
    let refused = IndexClient::from_url_with(&url, &too_small);
    assert!(
        matches!(refused, Err(accord_index::IndexError::Unavailable { .. })),
        "{refused:?}"
    );
    let floor = accord_index::IndexOptions {
        writer_bytes: usize::try_from(accord_index::tantivy_index::MIN_WRITER_MIB).unwrap()
            * 1024
            * 1024,
    };
    let index = IndexClient::from_url_with(&url, &floor).expect("open at the floor");
    index.refresh().await.expect("refresh");
}

/// A read-only handle (a search process beside the indexer's) sees the writer's commits and cannot write, and it
/// does not take the writer lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_handle_follows_the_writer_and_refuses_writes() {
    let (dir, writer) = fresh();
    let reader =
        IndexClient::new(TantivyIndex::open_read_only(dir.path()).expect("open read-only"));
    let report_id = conformance::report();
    conformance::put(
        &writer,
        &report_id,
        1,
        vec![conformance::view(&report_id, "one")],
    )
    .await;
    reader.refresh().await.expect("refresh");
    let page = reader
        .search(conformance::query())
        .await
        .expect("search on the read-only handle");
    assert_eq!(page.total, 1);
    let refused = reader
        .write(vec![accord_index::ReplaceViews {
            report_id: report_id.clone(),
            version: 2,
            views: Vec::new(),
        }])
        .await;
    assert!(refused.is_err(), "a read-only handle must refuse writes");
    // The writer still holds its lock and writes.
    conformance::put(&writer, &report_id, 2, Vec::new()).await;
    reader.refresh().await.expect("refresh");
    assert_eq!(reader.search(conformance::query()).await.unwrap().total, 0);
}

/// A damaged document store (bytes flipped in the middle of every `.store` file, as a failing disk would) leaves the
/// views it holds unreadable: a batch lookup that meets them still answers every key, without them (logged and
/// counted), instead of failing whole (issue 22 item 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_stored_view_is_skipped_and_the_rest_of_the_batch_answered() {
    let (dir, reports) = damaged_index().await;
    let index = IndexClient::new(TantivyIndex::open_read_only(dir.path()).expect("reopen index"));
    let keys: Vec<_> = (0..reports)
        .map(|n| {
            conformance::exact(
                accord_domain::ObservableType::DomainName,
                &format!("d{n}.example"),
            )
        })
        .collect();
    let pages = index
        .lookup(conformance::release(), keys, 1)
        .await
        .expect("a damaged view fails nothing but itself");
    let served = pages.iter().filter(|page| !page.hits.is_empty()).count();
    assert!(served > 0, "the undamaged views are served");
    assert!(
        served < reports as usize,
        "the damaged views are skipped, not served"
    );
}

/// The index's writer checks tantivy's checksums at open: a damaged index is set aside (`<dir>.damaged-<t>`) and a
/// new, empty one takes its place, which the indexer rebuilds from the bus (decision 0050).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_sets_a_damaged_index_aside_and_starts_afresh() {
    let (dir, _) = damaged_index().await;
    let reader = TantivyIndex::open_read_only(dir.path()).expect("open read only");
    assert!(
        !reader.damaged_files().unwrap().is_empty(),
        "the checksums fail"
    );
    drop(reader);
    let index = TantivyIndex::open(dir.path()).expect("open for writing");
    assert!(index.damaged_files().unwrap().is_empty());
    assert!(
        IndexClient::new(index).is_empty().await.unwrap(),
        "a fresh index"
    );
    remove_set_aside(dir.path(), "damaged");
}

/// An index written with an older schema (before a field was added) is set aside by the writer (`<dir>.old-schema-<t>`)
/// and a new, empty one takes its place, which the indexer rebuilds from the bus; a reader alone refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_sets_an_index_of_an_older_schema_aside_and_starts_afresh() {
    let dir = tempfile::tempdir().expect("create temp dir");
    {
        let mut builder = tantivy::schema::Schema::builder();
        builder.add_text_field("view_id", tantivy::schema::STRING);
        let old = tantivy::Index::create_in_dir(dir.path(), builder.build()).expect("old index");
        let mut writer: tantivy::IndexWriter = old.writer(15_000_000).expect("writer");
        writer.commit().expect("commit");
    }
    assert!(
        TantivyIndex::open_read_only(dir.path()).is_err(),
        "a reader does not touch it"
    );
    let index = TantivyIndex::open(dir.path()).expect("open for writing");
    assert!(
        IndexClient::new(index).is_empty().await.unwrap(),
        "a fresh index"
    );
    remove_set_aside(dir.path(), "old-schema");
}

/// Removes the copy of the index at `dir` that the writer set aside as `<dir>.<why>-<time>`, which must exist.
fn remove_set_aside(dir: &std::path::Path, why: &str) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let aside = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .find(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}.{why}-"))
        })
        .unwrap_or_else(|| panic!("the index is kept aside as {why}"));
    std::fs::remove_dir_all(aside.path()).unwrap();
}

/// An index of reports `d<n>.example` whose document stores are damaged (bytes flipped, as a failing disk would).
async fn damaged_index() -> (TempDir, u32) {
    use accord_domain::ObservableType as T;
    use conformance::{put, report, view, with_indicators};
    let dir = tempfile::tempdir().expect("create temp dir");
    const REPORTS: u32 = 400;
    {
        let index = IndexClient::new(TantivyIndex::open(dir.path()).expect("open index"));
        for n in 0..REPORTS {
            let report_id = report();
            let mut holder = with_indicators(
                view(&report_id, &format!("v{n}")),
                &[(T::DomainName, &format!("d{n}.example"))],
            );
            holder.content.title = Some(format!(
                "A report long enough to fill the store's blocks {n} {}",
                "x".repeat(200)
            ));
            put(&index, &report_id, 1, vec![holder]).await;
        }
    }
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "store") {
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 3;
            for byte in &mut bytes[middle..middle + 64] {
                *byte ^= 0x5a;
            }
            std::fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0, "no document store to damage");
    (dir, REPORTS)
}
