//! Segments that fail their checksums at open are dropped, and their reports indexed again (decision 0072).
//!
//! tantivy's checksums ([`tantivy::Index::validate_checksum`]) name the files of the index's live segments that fail.
//! Each file belongs to one segment (`<segment id>.<component>`), and a report's marker and views are always in
//! the same segment (written together, replaced together, merged together), so dropping a segment drops whole
//! reports, never half of one. When some segments fail and others do not:
//!
//! 1. a marker `<index dir>.replay` is written and synced: the index lost reports it held, which only a replay of
//!    `reports.releasable` gives back ([`crate::SearchIndex::lost_documents`]);
//! 2. the failing segments' files are copied to `<index dir>.damaged-<unix seconds>/`, for the operator;
//! 3. `meta.json` is rewritten without those segments (a synced write, then a rename: atomic), so the index opens
//!    with every intact segment and searches go on answering from them.
//!
//! The indexer then replays the topic ([`crate::SearchIndex::replay_started`] clears the marker once that replay is
//! asked for durably): the reports still in the index find their versions `Stale` and are skipped, the dropped ones
//! are written again. When every segment fails, the whole index is set aside instead (an empty index is rebuilt).

use std::{
    collections::HashSet,
    io::Write,
    path::{Path, PathBuf},
};

use tantivy::{Index, directory::MmapDirectory};

use crate::IndexError;

/// Returns the marker that asks for a replay: `<index dir>.replay`.
pub(super) fn replay_marker(dir: &Path) -> PathBuf {
    let mut marker = dir.as_os_str().to_owned();
    marker.push(".replay");
    PathBuf::from(marker)
}

/// Drops the segments `damaged` files belong to (see the module documentation); returns how many, or `None` when
/// they cannot be dropped alone (a file of no live segment, or every segment damaged): the caller sets the whole
/// index aside.
///
/// # Errors
/// When the index's metadata cannot be read or rewritten, or the marker cannot be written.
pub(super) fn drop_segments(dir: &Path, damaged: &[PathBuf]) -> Result<Option<usize>, IndexError> {
    let directory =
        MmapDirectory::open(dir).map_err(failed("failed to open the index to drop segments"))?;
    let index =
        Index::open(directory).map_err(failed("failed to open the index to drop segments"))?;
    let mut metas = index
        .load_metas()
        .map_err(failed("failed to read the index's segments"))?;
    let live: HashSet<String> = metas
        .segments
        .iter()
        .map(|segment| segment.id().uuid_string())
        .collect();
    let mut dropped = HashSet::new();
    for file in damaged {
        let Some(segment) = segment_of(file).filter(|segment| live.contains(segment)) else {
            return Ok(None);
        };
        dropped.insert(segment);
    }
    if dropped.is_empty() || dropped.len() == live.len() {
        return Ok(None);
    }
    write_synced(
        &replay_marker(dir),
        b"segments dropped: replay reports.releasable\n",
    )
    .map_err(failed("failed to write the index's replay marker"))?;
    keep_for_operator(dir, &dropped)
        .map_err(failed("failed to copy the damaged segments aside"))?;
    metas
        .segments
        .retain(|segment| !dropped.contains(&segment.id().uuid_string()));
    let mut json = serde_json::to_vec_pretty(&metas)
        .map_err(failed("failed to encode the index's segments"))?;
    json.push(b'\n');
    let temporary = dir.join(".meta.json.dropping");
    write_synced(&temporary, &json).map_err(failed("failed to rewrite the index's segments"))?;
    std::fs::rename(&temporary, dir.join("meta.json"))
        .and_then(|()| sync_dir(dir))
        .map_err(failed("failed to rewrite the index's segments"))?;
    Ok(Some(dropped.len()))
}

/// Wraps an error of any kind as [`IndexError::Unavailable`] with `context`.
fn failed<E: std::error::Error + Send + Sync + 'static>(
    context: &'static str,
) -> impl FnOnce(E) -> IndexError {
    move |error| IndexError::unavailable(context, error)
}

/// The segment a file of the index belongs to: the part of its name before the first dot.
fn segment_of(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let segment = name.split('.').next()?;
    (segment.len() == 32 && segment.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| segment.to_owned())
}

/// Copies every file of the `segments` to `<dir>.damaged-<unix seconds>/` (tantivy deletes the originals once no
/// commit refers to them).
fn keep_for_operator(dir: &Path, segments: &HashSet<String>) -> std::io::Result<()> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let mut aside = dir.as_os_str().to_owned();
    aside.push(format!(".damaged-{stamp}"));
    let aside = PathBuf::from(aside);
    std::fs::create_dir_all(&aside)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if segment_of(&path).is_some_and(|segment| segments.contains(&segment))
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, aside.join(name))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path`, synced, and syncs its directory.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    match path.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        IndexClient, ReplaceViews, SearchIndex,
        conformance::{ids, query, report, view},
        tantivy_index::TantivyIndex,
    };

    /// An index of two segments, one report each, one of which fails its checksum: only that segment is dropped,
    /// the other report is still found, the replay is asked for (durably) until noted, and the damaged files are
    /// kept aside.
    #[tokio::test]
    async fn only_the_failing_segment_is_dropped_and_a_replay_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let (kept, lost) = (report(), report());
        {
            let index = TantivyIndex::open(&path).unwrap();
            for (id, name) in [(&kept, "kept"), (&lost, "lost")] {
                let write = ReplaceViews {
                    report_id: id.clone(),
                    version: 1,
                    views: vec![view(id, name)],
                };
                index.write(vec![write]).await.unwrap();
            }
            index.persist().await.unwrap();
            assert!(!index.lost_documents().await.unwrap());
        }
        let segments = Index::open_in_dir(&path)
            .unwrap()
            .load_metas()
            .unwrap()
            .segments;
        assert_eq!(segments.len(), 2, "one segment per write");
        let last = segments
            .iter()
            .max_by_key(|segment| segment.max_doc())
            .unwrap();
        let store = path.join(last.relative_path(tantivy::index::SegmentComponent::Store));
        let mut bytes = std::fs::read(&store).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        std::fs::write(&store, bytes).unwrap();

        let index = TantivyIndex::open(&path).unwrap();
        assert!(
            index.lost_documents().await.unwrap(),
            "a replay is asked for"
        );
        assert!(
            index.damaged_files().unwrap().is_empty(),
            "the failing segment is gone"
        );
        let client = IndexClient::new(index);
        let (total, hits) = ids(&client, query()).await;
        assert_eq!(total, 1);
        assert_eq!(hits.len(), 1, "{hits:?}");
        drop(client);
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("index.damaged-")
            })
            .collect();
        assert_eq!(aside.len(), 1, "the damaged segment is kept aside");

        let index = TantivyIndex::open(&path).unwrap();
        assert!(
            index.lost_documents().await.unwrap(),
            "asked for until the replay starts"
        );
        index.replay_started().await.unwrap();
        assert!(!index.lost_documents().await.unwrap());
    }

    #[test]
    fn a_file_belongs_to_the_segment_its_name_starts_with() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            segment_of(Path::new(&format!("{id}.store"))).as_deref(),
            Some(id)
        );
        assert_eq!(
            segment_of(Path::new(&format!("/x/{id}.12.del"))).as_deref(),
            Some(id)
        );
        assert_eq!(segment_of(Path::new("meta.json")), None);
        assert_eq!(segment_of(Path::new(".managed.json")), None);
    }
}
