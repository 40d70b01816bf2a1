//! Tantivy's segment merges run in the background: once the writer exists, its merge threads' scheduling priority is
//! lowered (`nice` + [`MERGE_NICE`] on Linux, as Accord's background CPU work, decision 0052).
//!
//! A merge rewrites segments that are already searchable: nothing waits for it but later merges. A commit — what
//! makes a report searchable — waits for the indexing thread, whose priority is unchanged. Under a flood of heavy
//! reports, merges otherwise took most of a core from the other partners' work on a two-core machine.
//!
//! Tantivy names its merge threads `merge_thread_N` and offers no hook where they start, so they are found by name
//! among the process's threads (`/proc/self/task/*/comm`). Where that is not possible (another operating system, no
//! `/proc`), merges keep the process's priority and a debug line says so.

/// Segments smaller than this many documents count as one size when merges are chosen (tantivy's default: 10 000).
/// The indexer commits every batch, so under a steady ingest most segments are a few dozen views: with tantivy's
/// default every merge of the smallest level took in the one segment that earlier merges had grown towards 10 000
/// and wrote it again, seven small segments at a time.
pub(super) const MIN_LAYER_DOCS: u32 = 100;

/// The writer's merge policy: tantivy's log merge policy, with levels from [`MIN_LAYER_DOCS`] up.
pub(super) fn policy() -> Box<dyn tantivy::merge_policy::MergePolicy> {
    let mut policy = tantivy::merge_policy::LogMergePolicy::default();
    policy.set_min_layer_size(MIN_LAYER_DOCS);
    Box::new(policy)
}

/// How much the merge threads' priority is lowered: as much as the background CPU pool's
/// ([`accord_cpu::BACKGROUND_NICE`]). At 10, merges ran above the background pool, where the indexer writes a
/// partner's backlog: after a policy change over a million reports, merges of the largest segments took 87 % of the
/// two cores and the index applied a few hundred release sets a second (decision 0092).
pub(super) const MERGE_NICE: i32 = accord_cpu::BACKGROUND_NICE;

/// The merge threads a writer starts (tantivy's default).
const MERGE_THREADS: usize = 4;

/// Lowers the priority of the process's tantivy merge threads to the calling thread's `nice` + [`MERGE_NICE`];
/// returns how many merge threads run at that priority or lower. Waits briefly for threads that have not named
/// themselves yet (a new thread sets its own name as it starts).
#[cfg(target_os = "linux")]
pub(super) fn lower_merge_priority() -> usize {
    use rustix::process::{Pid, getpriority_process, setpriority_process};

    let Ok(own) = getpriority_process(Some(rustix::thread::gettid())) else {
        return 0;
    };
    let target = (own + MERGE_NICE).min(19);
    let mut lowered = 0;
    for _ in 0..40 {
        lowered = 0;
        for tid in merge_threads() {
            let Some(pid) = Pid::from_raw(tid) else {
                continue;
            };
            let nice = getpriority_process(Some(pid));
            if nice.is_ok_and(|nice| nice >= target)
                || setpriority_process(Some(pid), target).is_ok()
            {
                lowered += 1;
            }
        }
        if lowered >= MERGE_THREADS {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if lowered < MERGE_THREADS {
        tracing::debug!(
            lowered,
            "not every index merge thread could be found to lower its priority"
        );
    }
    lowered
}

#[cfg(not(target_os = "linux"))]
pub(super) fn lower_merge_priority() -> usize {
    tracing::debug!("index merges run at the process's priority on this operating system");
    0
}

/// The ids of the process's threads named `merge_thread_*`.
#[cfg(target_os = "linux")]
fn merge_threads() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| {
            let tid: i32 = task.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            name.starts_with("merge_thread").then_some(tid)
        })
        .collect()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn nice_of(tid: i32) -> i32 {
        let pid = rustix::process::Pid::from_raw(tid).unwrap();
        rustix::process::getpriority_process(Some(pid)).unwrap()
    }

    #[test]
    fn an_open_index_merges_at_lower_priority() {
        let dir = tempfile::tempdir().unwrap();
        let _index = super::super::TantivyIndex::open(dir.path()).unwrap();
        let own = nice_of(rustix::thread::gettid().as_raw_nonzero().get());
        let threads = merge_threads();
        assert!(threads.len() >= MERGE_THREADS, "{threads:?}");
        for tid in threads {
            assert_eq!(nice_of(tid), (own + MERGE_NICE).min(19), "thread {tid}");
        }
    }
}
