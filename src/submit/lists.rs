//! Plain indicator lists (`.txt`, `.csv`, `.tsv`): one indicator a line, turned into native reports.
//!
//! - Blank lines and comments (`#` or `//` first) are skipped; a line is trimmed. It must be UTF-8, and at most
//!   `max_line_bytes` long (a longer line refuses the whole file: nothing of it is sent).
//! - A line is a value, or a value and its type separated by a tab or a comma, in either order: the field that is a
//!   type name Accord knows (`ipv4-addr`, `domain`, `md5`, `url`, … as in a native report) is the type; when neither
//!   is, the whole line is the value (a URL may hold commas). A first line whose fields include `value` is a header:
//!   the `value` column, and the `type` column when there is one, are read, other columns ignored.
//! - The values become native reports of at most `batch` indicators and about `max_batch_bytes` of JSON each
//!   (a list longer than the per-report limit is split; the gateway's limits apply as to any report), titled
//!   `Indicator list <file stem> (part i of n)`, `classification: unclassified`, the `--tlp` given (else the
//!   partner's default TLP) and the `--category` given, `occurred_at` the file's modification time. Values are not
//!   validated here: the gateway is the one place for that (leniently, an invalid value is left out with a warning).

use std::{path::Path, str::FromStr, time::SystemTime};

use accord_domain::observable::ObservableType;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::sources::{Item, NATIVE};

/// How lists become reports.
#[derive(Debug, Clone)]
pub(crate) struct ListOptions {
    /// Indicators per report at most.
    pub(crate) batch: usize,
    /// JSON bytes of indicators per report at most (about).
    pub(crate) max_batch_bytes: usize,
    /// The longest line read.
    pub(crate) max_line_bytes: usize,
    /// The reports' TLP (`None`: the partner's default).
    pub(crate) tlp: Option<String>,
    /// The reports' categories.
    pub(crate) categories: Vec<String>,
}

/// One indicator of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its declared type, if any.
    pub(crate) kind: Option<String>,
    /// Its value as written.
    pub(crate) value: String,
}

/// Reads a list's entries.
///
/// # Errors
/// A description of the first problem: not UTF-8, a line too long.
pub(crate) fn parse(bytes: &[u8], max_line_bytes: usize) -> Result<Vec<Entry>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|error| format!("not UTF-8 text (at byte {})", error.valid_up_to()))?;
    let mut header: Option<(usize, Option<usize>)> = None;
    let mut entries = Vec::new();
    let mut first = true;
    for (number, line) in text.lines().enumerate() {
        if line.len() > max_line_bytes {
            return Err(format!(
                "line {} is longer than {max_line_bytes} bytes (--max-line-bytes)",
                number + 1
            ));
        }
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let separator = if line.contains('\t') { '\t' } else { ',' };
        let fields: Vec<&str> = line.split(separator).map(str::trim).collect();
        if first {
            first = false;
            let lower: Vec<String> = fields
                .iter()
                .map(|field| field.to_ascii_lowercase())
                .collect();
            if let Some(value) = lower.iter().position(|field| field == "value") {
                header = Some((value, lower.iter().position(|field| field == "type")));
                continue;
            }
        }
        let entry = match header {
            Some((value, kind)) => Entry {
                value: fields.get(value).copied().unwrap_or_default().to_owned(),
                kind: kind
                    .and_then(|kind| fields.get(kind))
                    .filter(|kind| !kind.is_empty())
                    .map(|kind| (*kind).to_owned()),
            },
            None => entry(line, separator, &fields),
        };
        if !entry.value.is_empty() {
            entries.push(entry);
        }
    }
    Ok(entries)
}

fn is_type(field: &str) -> bool {
    ObservableType::from_str(field).is_ok()
}

fn entry(line: &str, separator: char, fields: &[&str]) -> Entry {
    if fields.len() > 1 {
        if is_type(fields[0]) {
            let (kind, value) = line.split_once(separator).unwrap_or_default();
            return Entry {
                kind: Some(kind.trim().to_owned()),
                value: value.trim().to_owned(),
            };
        }
        if is_type(fields[fields.len() - 1]) {
            let (value, kind) = line.rsplit_once(separator).unwrap_or_default();
            return Entry {
                kind: Some(kind.trim().to_owned()),
                value: value.trim().to_owned(),
            };
        }
    }
    Entry {
        kind: None,
        value: line.to_owned(),
    }
}

/// Splits entries into groups of at most `batch` entries and about `max_bytes` of JSON.
pub(crate) fn chunks(entries: &[Entry], batch: usize, max_bytes: usize) -> Vec<&[Entry]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, entry) in entries.iter().enumerate() {
        let size = entry.value.len() + entry.kind.as_ref().map_or(0, String::len) + 32;
        if index > start && (index - start >= batch.max(1) || bytes + size > max_bytes) {
            chunks.push(&entries[start..index]);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < entries.len() {
        chunks.push(&entries[start..]);
    }
    chunks
}

/// What one list file becomes.
pub(crate) fn items(
    source: &str,
    path: &Path,
    bytes: &[u8],
    modified: Option<SystemTime>,
    options: &ListOptions,
) -> Vec<Item> {
    let entries = match parse(bytes, options.max_line_bytes) {
        Ok(entries) => entries,
        Err(detail) => {
            return vec![Item::Refused {
                source: source.to_owned(),
                detail,
            }];
        }
    };
    if entries.is_empty() {
        return vec![Item::Refused {
            source: source.to_owned(),
            detail: "no indicator in the list".to_owned(),
        }];
    }
    // The title is searchable free text: the stem's dots are blanked so a file named after a domain adds no indicator.
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().replace('.', "_"))
        .unwrap_or_default();
    let occurred_at = modified
        .map_or_else(Utc::now, DateTime::<Utc>::from)
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let chunks = chunks(&entries, options.batch, options.max_batch_bytes);
    let parts = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(index, chunk)| {
            let part = format!("part {} of {parts}", index + 1);
            let report = report(
                &format!("Indicator list {stem} ({part})"),
                &occurred_at,
                chunk,
                options,
            );
            Item::Submission {
                source: if parts == 1 {
                    source.to_owned()
                } else {
                    format!("{source} ({part})")
                },
                media: NATIVE,
                body: serde_json::to_vec(&report).unwrap_or_default(),
            }
        })
        .collect()
}

fn report(title: &str, occurred_at: &str, entries: &[Entry], options: &ListOptions) -> Value {
    let indicators: Vec<Value> = entries
        .iter()
        .map(|entry| match &entry.kind {
            Some(kind) => json!({ "type": kind, "value": entry.value }),
            None => json!({ "value": entry.value }),
        })
        .collect();
    let mut report = json!({
        "title": title,
        "description": "An indicator list imported with accord report submit.",
        "occurred_at": occurred_at,
        "classification": "unclassified",
        "indicators": indicators,
    });
    if let Some(tlp) = &options.tlp {
        report["tlp"] = json!(tlp);
    }
    if !options.categories.is_empty() {
        report["categories"] = json!(options.categories);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(entries: &[Entry]) -> Vec<(Option<&str>, &str)> {
        entries
            .iter()
            .map(|entry| (entry.kind.as_deref(), entry.value.as_str()))
            .collect()
    }

    #[test]
    fn lines_comments_and_type_columns() {
        let text = "\u{feff}# a feed\n\n198.51.100.7\n  domain,evil.example  \nhttps://x.example/a?b=1,2\nd41d8cd98f00b204e9800998ecf8427e\tmd5\n// end\n";
        let entries = parse(text.as_bytes(), 100).unwrap();
        assert_eq!(
            values(&entries),
            [
                (None, "198.51.100.7"),
                (Some("domain"), "evil.example"),
                (None, "https://x.example/a?b=1,2"),
                (Some("md5"), "d41d8cd98f00b204e9800998ecf8427e"),
            ]
        );
    }

    #[test]
    fn a_header_names_the_columns() {
        let text = "first_seen,type,value,comment\n2024-01-01,ipv4-addr,203.0.113.9,c2\n2024-01-02,,evil.example,\n";
        let entries = parse(text.as_bytes(), 100).unwrap();
        assert_eq!(
            values(&entries),
            [(Some("ipv4-addr"), "203.0.113.9"), (None, "evil.example")]
        );
    }

    #[test]
    fn a_long_line_or_bad_text_refuses_the_list() {
        assert!(
            parse(b"short\nthis line is too long\n", 10)
                .unwrap_err()
                .contains("line 2")
        );
        assert!(
            parse(&[0x66, 0xff, 0x0a], 10)
                .unwrap_err()
                .contains("UTF-8")
        );
    }

    #[test]
    fn long_lists_are_split_by_count_and_size() {
        let entries: Vec<Entry> = (0..10)
            .map(|index| Entry {
                kind: None,
                value: format!("198.51.100.{index}"),
            })
            .collect();
        let by_count: Vec<usize> = chunks(&entries, 4, 1 << 20)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(by_count, [4, 4, 2]);
        let by_size: Vec<usize> = chunks(&entries, 100, 100).iter().map(|c| c.len()).collect();
        assert_eq!(by_size.iter().sum::<usize>(), 10);
        assert!(by_size.iter().all(|len| *len <= 2), "{by_size:?}");
    }
}
