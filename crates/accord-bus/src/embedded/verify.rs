//! `accord bus verify`: checks a stopped embedded log, file and records.
//!
//! Two layers are checked: the file (redb's own page checksums, [`redb::Database::check_integrity`], which repairs
//! what it can from the last durable commit) and every stored record of every topic (its CRC32C, `super::codec`).
//! The answer lists, per topic, how many records were read and which could not be (offset and why): what readers
//! deliver as corrupt records and the stages dead-letter. It refuses while another process holds the file.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;

use super::{
    FILE_NAME, codec,
    writer::{TOPICS, log_table, log_table_name},
};
use crate::{BusError, redb_file};

/// The damaged records listed per topic (the count covers all).
const LISTED: usize = 100;

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Whether the file passed redb's integrity check as it was (`false`: it was repaired, or could not be).
    pub file_intact: bool,
    /// Per topic.
    pub topics: Vec<TopicCheck>,
}

impl Verification {
    /// Whether every record of every topic was read back intact.
    pub fn records_intact(&self) -> bool {
        self.topics
            .iter()
            .all(|topic| topic.damaged == 0 && topic.unreadable.is_none())
    }
}

/// One topic's records.
#[derive(Debug, Clone, Serialize)]
pub struct TopicCheck {
    pub topic: String,
    /// Records read.
    pub records: u64,
    /// Records whose bytes fail their checksum or format.
    pub damaged: u64,
    /// The first damaged ones: (offset, why).
    pub listed: Vec<(u64, String)>,
    /// Why the topic's table could not be read to the end, when it could not.
    pub unreadable: Option<String>,
}

/// Verifies the log in `dir` (a stopped Accord's `DATA/bus`).
///
/// # Errors
/// When the file is missing, held by another process, or so damaged that redb cannot open or repair it.
pub fn verify(dir: &Path) -> Result<Verification, BusError> {
    let path = dir.join(FILE_NAME);
    if !path.exists() {
        return Err(BusError::Refused(format!(
            "{} does not exist",
            path.display()
        )));
    }
    let mut db = redb_file::open_unchecked(&path, 64 * 1024 * 1024)
        .map_err(|error| BusError::unavailable("failed to open the bus log", error))?;
    let file_intact = db.check_integrity().map_err(|error| {
        BusError::unavailable(
            "the bus log failed its integrity check beyond repair",
            error,
        )
    })?;
    let txn = db
        .begin_read()
        .map_err(|error| BusError::unavailable("failed to read the bus log", error))?;
    let topics: Vec<String> = {
        let table = txn
            .open_table(TOPICS)
            .map_err(|error| BusError::unavailable("failed to read the topics", error))?;
        let names = table
            .iter()
            .map_err(|error| BusError::unavailable("failed to read the topics", error))?;
        names
            .filter_map(Result::ok)
            .map(|(name, _)| name.value().to_owned())
            .collect()
    };
    let topics = topics
        .into_iter()
        .map(|topic| check_topic(&txn, topic))
        .collect();
    Ok(Verification {
        file_intact,
        topics,
    })
}

/// Reads every record of `topic`.
fn check_topic(txn: &redb::ReadTransaction, topic: String) -> TopicCheck {
    let mut check = TopicCheck {
        topic,
        records: 0,
        damaged: 0,
        listed: Vec::new(),
        unreadable: None,
    };
    let name = log_table_name(&check.topic);
    let table = match txn.open_table(log_table(&name)) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return check,
        Err(error) => {
            check.unreadable = Some(error.to_string());
            return check;
        }
    };
    let entries = match table.iter() {
        Ok(entries) => entries,
        Err(error) => {
            check.unreadable = Some(error.to_string());
            return check;
        }
    };
    for entry in entries {
        let (offset, bytes) = match entry {
            Ok(entry) => entry,
            Err(error) => {
                check.unreadable = Some(format!("after {} records: {error}", check.records));
                break;
            }
        };
        check.records += 1;
        if let Err(error) = codec::decode(bytes.value()) {
            check.damaged += 1;
            if check.listed.len() < LISTED {
                check.listed.push((offset.value(), error.to_string()));
            }
        }
    }
    check
}
