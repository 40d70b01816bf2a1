//! Each token's own records, newest first, without walking the rest of the trail: `GET /v1/audit/mine` and the
//! investigator's dashboard.
//!
//! Table `audit_by_token` holds one key `(token id, seq)` per record made with a token, written by the writer in the
//! same transaction as the record: a token's keys are contiguous and ordered by `seq`, so its newest `limit` records
//! are one reverse range scan of `limit` keys and `limit` record reads, however many records other tokens made in
//! between (decision 0036). The record read is the chained one, and is kept only if it still names the token. A
//! trail written before this table existed gets it built once, when opened (the key `("", 0)` marks it built: token
//! ids are never empty).

use std::fmt;

use accord_domain::{Case, Timestamp};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{
    Deserialize, Deserializer, Serialize,
    de::{DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor},
};
use serde_json::{Map, Value};

use super::{AuditError, AuditLog, AuditRecord, RECORDS, store_error};

pub(crate) const BY_TOKEN: TableDefinition<'_, (&str, u64), ()> =
    TableDefinition::new("audit_by_token");

/// The key that says the table covers every record (written once, when it was built or created).
const BUILT: (&str, u64) = ("", 0);

/// Creates the table; on a trail written before it existed, indexes every record once.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let mut index = txn.open_table(BY_TOKEN)?;
    if index.get(BUILT)?.is_some() {
        return Ok(());
    }
    let records = txn.open_table(RECORDS)?;
    for item in records.iter()? {
        let (seq, value) = item?;
        let Ok(record) = serde_json::from_slice::<AuditRecord>(value.value()) else {
            continue;
        };
        if let Some(token) = record.entry.token_id.as_deref().filter(|id| !id.is_empty()) {
            index.insert((token, seq.value()), ())?;
        }
    }
    index.insert(BUILT, ())?;
    Ok(())
}

/// Indexes `records` in the writer's transaction.
pub(super) fn index(txn: &WriteTransaction, records: &[AuditRecord]) -> Result<(), redb::Error> {
    let mut index = txn.open_table(BY_TOKEN)?;
    for record in records {
        if let Some(token) = record.entry.token_id.as_deref().filter(|id| !id.is_empty()) {
            index.insert((token, record.seq), ())?;
        }
    }
    Ok(())
}

/// A record as `GET /v1/audit/mine?brief=true` shows it: every field of the record, except that each list in its
/// `query` is replaced by the number of its items (`"values": 10000`). Decoding it skips the lists' items, so a
/// record of a 10 000-value lookup costs a scan of its bytes, not 10 000 strings. Not re-hashable: the chain is
/// verified on whole records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BriefRecord {
    /// Sequence number.
    pub seq: u64,
    /// When the request was answered.
    pub at: Timestamp,
    /// The token's public id.
    pub token_id: Option<String>,
    /// The token's organization.
    pub organization: Option<String>,
    /// The endpoint.
    pub endpoint: String,
    /// The stated purpose, normalized.
    pub purpose: Option<String>,
    /// The stated case reference, normalized.
    pub case: Option<Case>,
    /// The query, each list replaced by its length.
    pub query: Brief,
    /// HTTP status answered.
    pub status: u16,
    /// How many results were returned.
    pub results: u64,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// Hash of this record.
    pub hash: String,
}

/// A JSON value read with each list replaced by the number of its items.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Brief(pub Value);

impl<'de> Deserialize<'de> for Brief {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BriefVisitor).map(Brief)
    }
}

struct BriefVisitor;

impl<'de> Visitor<'de> for BriefVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(BriefVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = 0_u64;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            items += 1;
        }
        Ok(Value::from(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Brief(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

impl AuditLog {
    /// Returns the newest records made with token `token_id`, newest first, at most `limit`: reads `limit` keys and
    /// records, whatever the size of the trail.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn recent_of_token(
        &self,
        token_id: &str,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, AuditError> {
        self.own(token_id, limit, |record: &AuditRecord| {
            record.entry.token_id.as_deref()
        })
    }

    /// [`AuditLog::recent_of_token`], each record read as a [`BriefRecord`].
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn recent_of_token_brief(
        &self,
        token_id: &str,
        limit: usize,
    ) -> Result<Vec<BriefRecord>, AuditError> {
        self.own(token_id, limit, |record: &BriefRecord| {
            record.token_id.as_deref()
        })
    }

    /// Reads the newest `limit` records of `token_id` through the index as `T`, keeping those whose `token_of` is it.
    fn own<T: DeserializeOwned>(
        &self,
        token_id: &str,
        limit: usize,
        token_of: impl Fn(&T) -> Option<&str>,
    ) -> Result<Vec<T>, AuditError> {
        if token_id.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self
            .db
            .begin_read()
            .map_err(|e| store_error("failed to begin read")(e.into()))?;
        let index = txn
            .open_table(BY_TOKEN)
            .map_err(|e| store_error("failed to open the token index")(e.into()))?;
        let table = txn
            .open_table(RECORDS)
            .map_err(|e| store_error("failed to open audit table")(e.into()))?;
        let range = index
            .range((token_id, 0)..=(token_id, u64::MAX))
            .map_err(|e| store_error("failed to read the token index")(e.into()))?;
        let mut records = Vec::new();
        for item in range.rev() {
            if records.len() >= limit {
                break;
            }
            let (key, ()) = item
                .map(|(key, value)| (key, value.value()))
                .map_err(|e| store_error("failed to read the token index")(e.into()))?;
            let seq = key.value().1;
            let Some(value) = table
                .get(seq)
                .map_err(|e| store_error("failed to read audit record")(e.into()))?
            else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<T>(value.value()) else {
                continue;
            };
            if token_of(&record) == Some(token_id) {
                records.push(record);
            }
        }
        Ok(records)
    }
}
