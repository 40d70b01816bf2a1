//! What `accord report submit` finds under its paths, and what each file becomes.
//!
//! - A path named on the command line that is a file is taken whatever its name; its content decides (JSON when it
//!   starts with `{` or `[`, else an indicator list).
//! - A directory holding a `manifest.json` is a **MISP feed**: the event files `<uuid>.json` its manifest names, in
//!   the manifest's order of keys (sorted); a key that is not a UUID is refused, a missing event file too.
//! - Any other directory is walked (sorted, at most [`MAX_DEPTH`] levels, hidden entries and symbolic links to
//!   directories skipped): `.json` files as JSON, `.csv`, `.tsv`, `.txt` files as indicator lists, feeds inside it
//!   as feeds; other files are counted as skipped.
//! - A JSON file is a STIX 2.1 bundle (`"type": "bundle"`, sent as is), a MISP event (`{"Event": {…}}`, sent as
//!   is), or a list of events (`{"response": [{"Event": …}, …]}` as MISP's REST search returns, or `[{"Event": …}, …]`):
//!   each event becomes one report. Anything else is refused here, before it is sent.
//!
//! Bounded: at most `max_files` files in all (an error beyond, nothing is sent), each at most `max_file_bytes`
//! (larger ones are refused unread), a manifest at most the same.

use std::{
    fs,
    io::Read as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::lists::{self, ListOptions};

/// How deep a directory walk goes.
pub(crate) const MAX_DEPTH: usize = 8;

/// `application/stix+json;version=2.1`.
pub(crate) const STIX: &str = "application/stix+json;version=2.1";
/// `application/vnd.misp+json`.
pub(crate) const MISP: &str = "application/vnd.misp+json";
/// `application/json` (a native report).
pub(crate) const NATIVE: &str = "application/json";

/// The first bytes of a JSON document the importer reads: an object or an array.
const JSON_STARTS: [u8; 2] = [0x7b, 0x5b];

/// How a file found is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Decided by its first non-blank byte (a file named on the command line).
    Sniff,
    /// A JSON document.
    Json,
    /// An indicator list.
    List,
}

/// A file to import.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// Its path.
    pub(crate) path: PathBuf,
    /// How to read it.
    pub(crate) kind: Kind,
}

/// The files found under the paths given, and how many were skipped (not a format the importer reads).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// What to import, in order.
    pub(crate) files: Vec<Found>,
    /// Files passed over in directory walks.
    pub(crate) skipped: usize,
}

/// One thing the import sends, or refuses before sending.
#[derive(Debug)]
pub(crate) enum Item {
    /// A report to post.
    Submission {
        /// Where it comes from (`path`, `path#3` for the fourth event of a file, `path (part 2 of 5)`).
        source: String,
        /// Its `Content-Type`.
        media: &'static str,
        /// The body as sent.
        body: Vec<u8>,
    },
    /// A file (or part) refused here.
    Refused {
        /// Where it comes from.
        source: String,
        /// Why.
        detail: String,
    },
}

/// Finds every file to import under `paths`.
///
/// # Errors
/// A path that does not exist or cannot be read, a feed manifest that cannot be read, more than `max_files` files.
pub(crate) fn plan(
    paths: &[PathBuf],
    max_files: usize,
    max_file_bytes: u64,
) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    for path in paths {
        let metadata =
            fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if metadata.is_dir() {
            walk(
                path,
                0,
                &Bounds {
                    max_files,
                    max_file_bytes,
                },
                &mut plan,
            )?;
        } else {
            plan.files.push(Found {
                path: path.clone(),
                kind: Kind::Sniff,
            });
        }
        check_count(&plan, max_files)?;
    }
    Ok(plan)
}

/// The bounds of a walk.
struct Bounds {
    max_files: usize,
    max_file_bytes: u64,
}

fn check_count(plan: &Plan, max_files: usize) -> anyhow::Result<()> {
    if plan.files.len() > max_files {
        bail!(
            "more than {max_files} files to import under the paths given (--max-files); nothing was sent"
        );
    }
    Ok(())
}

fn walk(dir: &Path, depth: usize, bounds: &Bounds, plan: &mut Plan) -> anyhow::Result<()> {
    let manifest = dir.join("manifest.json");
    if manifest.is_file() {
        feed(dir, &manifest, bounds.max_file_bytes, plan)?;
        return check_count(plan, bounds.max_files);
    }
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if depth + 1 < MAX_DEPTH {
                walk(&path, depth + 1, bounds, plan)?;
            }
            continue;
        }
        if !path.is_file() {
            continue;
        }
        let extension = path
            .extension()
            .map(|extension| extension.to_string_lossy().to_ascii_lowercase());
        let kind = match extension.as_deref() {
            Some("json") => Kind::Json,
            Some("csv" | "tsv" | "txt") => Kind::List,
            _ => {
                plan.skipped += 1;
                continue;
            }
        };
        plan.files.push(Found { path, kind });
        check_count(plan, bounds.max_files)?;
    }
    Ok(())
}

/// A MISP feed: the event files its manifest names.
fn feed(dir: &Path, manifest: &Path, max_file_bytes: u64, plan: &mut Plan) -> anyhow::Result<()> {
    let bytes = read_bounded(manifest, max_file_bytes)?;
    let document: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", manifest.display()))?;
    let Some(events) = document.as_object() else {
        bail!(
            "{} is not a MISP feed manifest (an object keyed by event UUID)",
            manifest.display()
        );
    };
    let mut uuids: Vec<&String> = events.keys().collect();
    uuids.sort();
    for uuid in uuids {
        if !is_uuid(uuid) {
            bail!("{}: `{uuid}` is not an event UUID", manifest.display());
        }
        plan.files.push(Found {
            path: dir.join(format!("{uuid}.json")),
            kind: Kind::Json,
        });
    }
    Ok(())
}

/// A UUID as MISP writes it (36 characters of hex digits and dashes): also what keeps a manifest key from naming a
/// path outside the feed.
fn is_uuid(value: &str) -> bool {
    value.len() == 36
        && value.bytes().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// Reads a file of at most `max` bytes.
///
/// # Errors
/// The file cannot be read or is larger.
pub(crate) fn read_bounded(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("larger than {max} bytes (--max-file-bytes)");
    }
    Ok(bytes)
}

/// What one file becomes: its submissions, or why it is refused.
pub(crate) fn items(found: &Found, max_file_bytes: u64, options: &ListOptions) -> Vec<Item> {
    let source = found.path.display().to_string();
    let bytes = match read_bounded(&found.path, max_file_bytes) {
        Ok(bytes) => bytes,
        Err(error) => {
            return vec![Item::Refused {
                source,
                detail: format!("{error:#}"),
            }];
        }
    };
    let json = match found.kind {
        Kind::Json => true,
        Kind::List => false,
        Kind::Sniff => bytes
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            .is_some_and(|first| JSON_STARTS.contains(first)),
    };
    if json {
        json_items(source, bytes)
    } else {
        let modified = fs::metadata(&found.path)
            .and_then(|metadata| metadata.modified())
            .ok();
        lists::items(&source, &found.path, &bytes, modified, options)
    }
}

fn json_items(source: String, bytes: Vec<u8>) -> Vec<Item> {
    let document: Value = match serde_json::from_slice(&bytes) {
        Ok(document) => document,
        Err(error) => {
            return vec![Item::Refused {
                source,
                detail: format!("not JSON: {error}"),
            }];
        }
    };
    if document.get("type").and_then(Value::as_str) == Some("bundle") {
        return vec![Item::Submission {
            source,
            media: STIX,
            body: bytes,
        }];
    }
    if accord_stix::is_misp_event(&document) {
        return vec![Item::Submission {
            source,
            media: MISP,
            body: bytes,
        }];
    }
    let events = match &document {
        Value::Array(events) => Some(events),
        Value::Object(map) => map.get("response").and_then(Value::as_array),
        _ => None,
    };
    let Some(events) = events else {
        return vec![Item::Refused {
            source,
            detail: "neither a STIX 2.1 bundle nor a MISP event (nor a list of MISP events)"
                .to_owned(),
        }];
    };
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let source = format!("{source}#{index}");
            if accord_stix::is_misp_event(event) {
                Item::Submission {
                    source,
                    media: MISP,
                    body: serde_json::to_vec(event).unwrap_or_default(),
                }
            } else {
                Item::Refused {
                    source,
                    detail: "not a MISP event ({\"Event\": {…}})".to_owned(),
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_checked_so_a_manifest_names_no_other_path() {
        assert!(is_uuid("5f3f7e2c-1b2a-4c3d-9e8f-0a1b2c3d4e5f"));
        assert!(!is_uuid("../../../../etc/passwd"));
        assert!(!is_uuid("5f3f7e2c-1b2a-4c3d-9e8f-0a1b2c3d4e5/"));
    }

    #[test]
    fn too_many_files_stop_the_walk_before_anything_is_sent() {
        let dir = tempfile::TempDir::new().unwrap();
        for index in 0..5 {
            std::fs::write(dir.path().join(format!("{index}.txt")), "198.51.100.1\n").unwrap();
        }
        std::fs::write(dir.path().join("notes.md"), "not read").unwrap();
        let paths = [dir.path().to_path_buf()];
        let plan = plan(&paths, 5, 1024).unwrap();
        assert_eq!((plan.files.len(), plan.skipped), (5, 1));
        let error = super::plan(&paths, 4, 1024).unwrap_err();
        assert!(error.to_string().contains("--max-files"), "{error}");
    }

    #[test]
    fn a_feed_is_read_through_its_manifest() {
        let dir = tempfile::TempDir::new().unwrap();
        let feed = dir.path().join("feed");
        std::fs::create_dir(&feed).unwrap();
        let uuid = "5f3f7e2c-1b2a-4c3d-9e8f-0a1b2c3d4e5f";
        std::fs::write(feed.join("manifest.json"), format!("{{\"{uuid}\": {{}}}}")).unwrap();
        std::fs::write(feed.join("hashes.csv"), "not an indicator list of ours").unwrap();
        let plan = plan(&[dir.path().to_path_buf()], 10, 1024).unwrap();
        let paths: Vec<_> = plan.files.iter().map(|found| found.path.clone()).collect();
        assert_eq!(paths, [feed.join(format!("{uuid}.json"))]);
        std::fs::write(feed.join("manifest.json"), r#"{"../../etc/passwd": {}}"#).unwrap();
        assert!(super::plan(&[feed], 10, 1024).is_err());
    }

    #[test]
    fn json_documents_are_recognized() {
        let bundle = br#"{"type":"bundle","id":"bundle--1","objects":[]}"#.to_vec();
        assert!(matches!(
            json_items("b".into(), bundle).as_slice(),
            [Item::Submission { media: STIX, .. }]
        ));
        let events = br#"{"response":[{"Event":{"info":"a"}},{"nope":1}]}"#.to_vec();
        let items = json_items("e".into(), events);
        assert!(matches!(
            items.as_slice(),
            [Item::Submission { media: MISP, .. }, Item::Refused { .. }]
        ));
        assert!(matches!(
            json_items("x".into(), b"{\"a\":1}".to_vec()).as_slice(),
            [Item::Refused { .. }]
        ));
        assert!(matches!(
            json_items("x".into(), b"{".to_vec()).as_slice(),
            [Item::Refused { .. }]
        ));
    }
}
