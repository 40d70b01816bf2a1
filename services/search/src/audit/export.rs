//! Exporting a filtered range of the trail as JSON lines, with the proof needed to verify it without Accord
//! (decision 0041).
//!
//! An export is one file of JSON lines, each an object with a `kind`:
//!
//! 1. `header`: the format ([`FORMAT`]), when it was made, the filter it applied, the hash of the record just before
//!    the range (`prev_hash`: the genesis hash when the range starts at record 1), the number of the range's first
//!    record (`first_seq`), and the public key checkpoints are signed with (with the message it signs).
//! 2. One line per record of the range, in order, without gaps: `record` (the whole stored record, for a record the
//!    filter admits) or `link` (only `seq`, `prev_hash` and `hash`, for a record of the range it does not admit — a
//!    record of another organization, case, time…).
//! 3. `end`: how many records and links, whether the scan reached the end of what matched (`complete`; else `next`
//!    continues it), and a checkpoint of the range's last record signed with the deployment's key.
//!
//! Verifying ([`verify_export`], `accord audit verify-export FILE`): starting from the header's `prev_hash`, every
//! line's `prev_hash` must be the hash before it and its `seq` the next number; each `record`'s hash is recomputed
//! from its content; the last hash must be the checkpoint's, whose signature must hold under the public key (the one
//! given, else the header's). So no exported record was changed, dropped, inserted or reordered since it was written,
//! and the range is the one the deployment's key signed. A `link` line proves only its place in the chain, not its
//! content, which the auditor was not shown; the range starts at the first record the filter admits and ends at the
//! last one, so it carries no links at either end.

use std::io::BufRead;

use accord_domain::Timestamp;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::{
    AuditRecord, GENESIS_HASH, chain_hash,
    checkpoint::{self, Checkpoint, signature_holds},
};

/// The format named in an export's header.
pub const FORMAT: &str = "accord-audit-export/v1";

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// When the export was made.
    pub exported_at: Timestamp,
    /// The filter applied (as the request stated it).
    pub filter: serde_json::Value,
    /// The sequence number of the range's first record (0 when the range is empty).
    pub first_seq: u64,
    /// The hash of the record before the range ([`GENESIS_HASH`] before record 1).
    pub prev_hash: String,
    /// The ed25519 public key the end's checkpoint is signed with (base64).
    pub public_key: String,
    /// What a checkpoint's signature covers ([`checkpoint::MESSAGE_FORMAT`]).
    pub signed_message: String,
}

/// A record of the range the filter does not admit: its place in the chain only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Its sequence number.
    pub seq: u64,
    /// The hash of the record before it.
    pub prev_hash: String,
    /// Its hash.
    pub hash: String,
}

/// The last line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct End {
    /// The number of `record` lines.
    pub records: u64,
    /// The number of `link` lines.
    pub links: u64,
    /// Whether the scan reached the end of the trail (else `next` continues it).
    pub complete: bool,
    /// The cursor of the next export (`cursor=`), when not complete.
    pub next: Option<String>,
    /// A signed checkpoint of the range's last record (absent for an empty range).
    pub checkpoint: Option<Checkpoint>,
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    /// The first line.
    Header(Header),
    /// An admitted record, whole.
    Record {
        /// The record as stored.
        record: AuditRecord,
    },
    /// A record not admitted.
    Link(Link),
    /// The last line.
    End(End),
}

/// A range read from the trail, before its end is signed.
#[derive(Debug, Default)]
pub(crate) struct Range {
    /// The hash before the range.
    pub prev_hash: String,
    /// The records and links, in order.
    pub lines: Vec<Line>,
    /// The last record of the range: its `seq` and `hash`.
    pub last: Option<(u64, String)>,
    /// The last sequence number scanned, and whether the trail ended before the scan's bound.
    pub scanned: u64,
    pub exhausted: bool,
}

impl Range {
    /// Adds one scanned record: whole when `admitted`, else as a link; links after the last admitted record are
    /// dropped by [`Range::finish`].
    pub(crate) fn push(&mut self, record: AuditRecord, admitted: bool) {
        if self.lines.is_empty() && !admitted {
            return;
        }
        if self.lines.is_empty() {
            self.prev_hash.clone_from(&record.prev_hash);
        }
        if admitted {
            self.last = Some((record.seq, record.hash.clone()));
            self.lines.push(Line::Record { record });
        } else {
            self.lines.push(Line::Link(Link {
                seq: record.seq,
                prev_hash: record.prev_hash,
                hash: record.hash,
            }));
        }
    }

    /// Drops the links after the last admitted record.
    pub(crate) fn finish(&mut self) {
        while matches!(self.lines.last(), Some(Line::Link(_))) {
            self.lines.pop();
        }
        if self.lines.is_empty() {
            self.prev_hash = GENESIS_HASH.to_owned();
        }
    }

    /// Returns the sequence number of the first line (0 when empty).
    fn first_seq(&self) -> u64 {
        match self.lines.first() {
            Some(Line::Record { record }) => record.seq,
            Some(Line::Link(link)) => link.seq,
            _ => 0,
        }
    }

    /// Writes the export: header, lines, end (with `checkpoint` of the last record).
    pub(crate) fn write(
        self,
        filter: serde_json::Value,
        public_key: &VerifyingKey,
        next: Option<String>,
        checkpoint: Option<Checkpoint>,
    ) -> Vec<u8> {
        let header = Line::Header(Header {
            format: FORMAT.to_owned(),
            exported_at: chrono::Utc::now(),
            filter,
            first_seq: self.first_seq(),
            prev_hash: self.prev_hash.clone(),
            public_key: checkpoint::encode_public_key(public_key),
            signed_message: checkpoint::MESSAGE_FORMAT.to_owned(),
        });
        let records = self
            .lines
            .iter()
            .filter(|line| matches!(line, Line::Record { .. }))
            .count() as u64;
        let end = Line::End(End {
            records,
            links: self.lines.len() as u64 - records,
            complete: next.is_none(),
            next,
            checkpoint,
        });
        let mut out = Vec::new();
        for line in std::iter::once(&header)
            .chain(&self.lines)
            .chain(std::iter::once(&end))
        {
            // Serializing these plain types cannot fail.
            let _ = serde_json::to_writer(&mut out, line);
            out.push(b'\n');
        }
        out
    }
}

/// What verifying an export found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportVerification {
    /// Whether every line holds and the checkpoint covers the range's end.
    pub ok: bool,
    /// `record` lines checked.
    pub records: u64,
    /// `link` lines checked.
    pub links: u64,
    /// The range: first and last sequence numbers (none when empty).
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// The line (from 1) of the first problem, and what it is.
    pub first_bad_line: Option<usize>,
    pub problem: Option<String>,
    /// Whether the public key came from the export itself (compare it with `GET /v1/audit/public-key`).
    pub key_from_file: bool,
    /// Whether the export says the scan was complete.
    pub complete: bool,
}

/// The walk of a verification.
struct Walk {
    hash: String,
    next_seq: Option<u64>,
    records: u64,
    links: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
}

impl Walk {
    /// Checks one record or link line: its place, and for a record its hash.
    fn step(&mut self, seq: u64, prev_hash: &str, hash: &str) -> Result<(), String> {
        if self.next_seq.is_some_and(|expected| seq != expected) {
            return Err(format!(
                "record {seq} is not the next of the range (expected {})",
                self.next_seq.unwrap_or_default()
            ));
        }
        if prev_hash != self.hash {
            return Err(format!(
                "record {seq} does not link to the record before it"
            ));
        }
        self.first_seq.get_or_insert(seq);
        self.last_seq = Some(seq);
        self.next_seq = Some(seq + 1);
        hash.clone_into(&mut self.hash);
        Ok(())
    }

    fn end(&self, end: &End, key: &VerifyingKey) -> Result<(), String> {
        if end.records != self.records || end.links != self.links {
            return Err("the end's counts are not the lines' counts".to_owned());
        }
        let Some(last) = self.last_seq else {
            return Ok(());
        };
        let Some(checkpoint) = &end.checkpoint else {
            return Err("no checkpoint covers the range's end".to_owned());
        };
        if checkpoint.seq != last || checkpoint.hash != self.hash {
            return Err(format!(
                "the checkpoint is of record {} with another hash, not of the range's last record {last}",
                checkpoint.seq
            ));
        }
        if !signature_holds(key, checkpoint) {
            return Err("the checkpoint's signature does not hold under the public key".to_owned());
        }
        Ok(())
    }
}

/// Verifies an export read from `input` (see the module documentation), under `public_key` (else the header's).
///
/// # Errors
/// Only when `input` cannot be read; a malformed or tampered export is an answer with `ok: false`.
pub fn verify_export(
    input: impl BufRead,
    public_key: Option<&VerifyingKey>,
) -> std::io::Result<ExportVerification> {
    let mut lines = input.lines();
    let mut verdict = ExportVerification {
        ok: false,
        records: 0,
        links: 0,
        first_seq: None,
        last_seq: None,
        first_bad_line: Some(1),
        problem: None,
        key_from_file: public_key.is_none(),
        complete: false,
    };
    let header = match lines
        .next()
        .transpose()?
        .map(|text| serde_json::from_str(&text))
    {
        Some(Ok(Line::Header(header))) if header.format == FORMAT => header,
        _ => {
            verdict.problem = Some(format!("the first line is not the header of {FORMAT}"));
            return Ok(verdict);
        }
    };
    let key = match public_key {
        Some(key) => *key,
        None => match checkpoint::decode_public_key(&header.public_key) {
            Ok(key) => key,
            Err(_) => {
                verdict.problem = Some("the header's public key is malformed".to_owned());
                return Ok(verdict);
            }
        },
    };
    let mut walk = Walk {
        hash: header.prev_hash,
        next_seq: (header.first_seq > 0).then_some(header.first_seq),
        records: 0,
        links: 0,
        first_seq: None,
        last_seq: None,
    };
    let outcome = walk_lines(&mut lines, &mut walk, &key)?;
    verdict.records = walk.records;
    verdict.links = walk.links;
    verdict.first_seq = walk.first_seq;
    verdict.last_seq = walk.last_seq;
    match outcome {
        Ok(complete) => {
            verdict.ok = true;
            verdict.first_bad_line = None;
            verdict.complete = complete;
        }
        Err((line, problem)) => {
            verdict.first_bad_line = Some(line);
            verdict.problem = Some(problem);
        }
    }
    Ok(verdict)
}

/// Walks the lines after the header; `Ok(Ok(complete))` when they hold, `Ok(Err((line, problem)))` at the first
/// that does not.
fn walk_lines(
    lines: &mut std::io::Lines<impl BufRead>,
    walk: &mut Walk,
    key: &VerifyingKey,
) -> std::io::Result<Result<bool, (usize, String)>> {
    let mut number = 1;
    while let Some(text) = lines.next().transpose()? {
        number += 1;
        let checked = match serde_json::from_str::<Line>(&text) {
            Ok(Line::Record { record }) => {
                walk.records += 1;
                if chain_hash(record.seq, &record.entry, &record.prev_hash) == record.hash {
                    walk.step(record.seq, &record.prev_hash, &record.hash)
                } else {
                    Err(format!("record {} does not have its hash", record.seq))
                }
            }
            Ok(Line::Link(link)) => {
                walk.links += 1;
                walk.step(link.seq, &link.prev_hash, &link.hash)
            }
            Ok(Line::End(end)) => {
                return Ok(match walk.end(&end, key) {
                    Ok(()) if lines.next().is_none() => Ok(end.complete),
                    Ok(()) => Err((number + 1, "lines after the end".to_owned())),
                    Err(problem) => Err((number, problem)),
                });
            }
            Ok(Line::Header(_)) => Err("a second header".to_owned()),
            Err(error) => Err(format!("not a line of an export: {error}")),
        };
        if let Err(problem) = checked {
            return Ok(Err((number, problem)));
        }
    }
    Ok(Err((number, "the export has no end line".to_owned())))
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
