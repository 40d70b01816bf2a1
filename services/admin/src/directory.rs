//! Admin's part of the signed directory (the runtime's `directory::follower` module has the rules every process
//! applies; docs/decisions/0030 and 0031 the reasons).
//!
//! At start, once this process's directory has caught up ([`prepare`]):
//! 1. on each directory topic without a cut-over record, admin publishes one, signed, saying that unsigned records
//!    below the topic's current end were written before signing and stay valid (a deployment upgraded in place
//!    keeps its organizations, tokens and MoUs with no migration step);
//! 2. MoU versions read only from records keyed by MoU id (written before each version had a key of its own, so
//!    compaction could drop all but the last) are published again, signed, under `<id>@<version>`.
//!
//! While it runs ([`restore_refused`]), and at start for the records refused while catching up: when a follower
//! refuses a record (forged, unsigned, replayed) whose key
//! admin knows, admin publishes its current record for that key again, signed. On a compacted topic the last record
//! of a key is the one that survives, so without this a refused record written after the genuine one would, after
//! compaction and a restart, be the only record of its key; for a replayed token record from before a revocation,
//! the token would be valid again. Refusals are gathered for [`RESTORE_DELAY`] first, so a burst costs one record
//! per key.

use std::{collections::BTreeSet, time::Duration};

use accord_bus::Record;
use accord_domain::{DirectoryEvent, MouId, OrgId, topics};
use accord_runtime::directory::follower::{CUT_OVER_KEY, CutOver, CutOverRecord, Rejection};
use anyhow::Context as _;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// How long refusals are gathered before the genuine records are published again.
pub(crate) const RESTORE_DELAY: Duration = Duration::from_millis(500);

/// Marks the cut-over on each topic that has none and moves MoU versions under keys of their own.
///
/// # Errors
/// When the bus cannot be read or written, or a record is not applied in time.
pub(crate) async fn prepare(state: &AppState) -> anyhow::Result<()> {
    for topic in [topics::ADMIN_DIRECTORY, topics::POLICY_MOUS] {
        ensure_cut_over(state, topic).await?;
    }
    rekey_mou_versions(state).await
}

async fn ensure_cut_over(state: &AppState, topic: &'static str) -> anyhow::Result<()> {
    if state.deps.directory.cut_over(topic).is_some() {
        return Ok(());
    }
    let end = state
        .deps
        .bus
        .end_offsets(topic)
        .await
        .with_context(|| format!("failed to read the end of topic `{topic}`"))?
        .iter()
        .map(|position| position.offset)
        .max()
        .unwrap_or(0);
    let record = cut_over_record(end)?;
    let offset = state
        .publish_signed(topic, record)
        .await
        .with_context(|| format!("failed to publish the cut-over record on topic `{topic}`"))?;
    wait_applied(state, topic, offset).await?;
    if end > 0 {
        tracing::warn!(
            topic,
            unsigned_before = end,
            "directory signing begins: the unsigned records written before stay valid, any later unsigned record \
             is refused"
        );
    } else {
        tracing::info!(topic, "directory signing begins on an empty topic");
    }
    Ok(())
}

fn cut_over_record(unsigned_before: u64) -> anyhow::Result<Record> {
    let payload = CutOverRecord {
        signing_cut_over: CutOver { unsigned_before },
    };
    Ok(Record::new(CUT_OVER_KEY, serde_json::to_vec(&payload)?))
}

async fn rekey_mou_versions(state: &AppState) -> anyhow::Result<()> {
    let snapshot = state.deps.directory.snapshot();
    let versions = snapshot.mou_versions_without_own_key();
    let Some(last) = versions.last() else {
        return Ok(());
    };
    let mut offset = 0;
    for version in &versions {
        let record = Record::new(version.key(), serde_json::to_vec(version)?);
        offset = state
            .publish_signed(topics::POLICY_MOUS, record)
            .await
            .with_context(|| format!("failed to publish MoU version `{}`", version.key()))?;
    }
    wait_applied(state, topics::POLICY_MOUS, offset).await?;
    tracing::info!(
        num_versions = versions.len(),
        last = %last.key(),
        "published MoU versions under keys of their own, so that compaction keeps every version"
    );
    Ok(())
}

async fn wait_applied(state: &AppState, topic: &'static str, offset: u64) -> anyhow::Result<()> {
    tokio::time::timeout(
        Duration::from_secs(30),
        state.deps.directory.wait_applied(topic, offset),
    )
    .await
    .with_context(|| format!("the directory did not apply offset {offset} of topic `{topic}`"))
}

/// Publishes admin's current record again for every key whose record a follower refused, until `shutdown`.
///
/// # Errors
/// Never returns an error: a record that cannot be published is logged, and the next refusal tries again.
pub(crate) async fn restore_refused(
    state: AppState,
    mut rejections: broadcast::Receiver<Rejection>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Refused while the followers caught up, before this task subscribed (a replay written while admin was down).
    let mut earlier = BTreeSet::new();
    for rejection in state.deps.directory.refused() {
        collect(Ok(rejection), &mut earlier);
    }
    for (topic, key) in earlier {
        restore(&state, topic, &key).await;
    }
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            received = rejections.recv() => received,
        };
        let mut keys = BTreeSet::new();
        collect(first, &mut keys);
        let deadline = tokio::time::sleep(RESTORE_DELAY);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                () = shutdown.cancelled() => return Ok(()),
                received = rejections.recv() => collect(received, &mut keys),
            }
        }
        for (topic, key) in keys {
            restore(&state, topic, &key).await;
        }
    }
}

fn collect(received: Result<Rejection, RecvError>, keys: &mut BTreeSet<(&'static str, String)>) {
    match received {
        Ok(Rejection {
            topic,
            key: Some(key),
            ..
        }) => {
            keys.insert((topic, key));
        }
        Ok(_) => {}
        Err(RecvError::Lagged(num_missed)) => {
            tracing::warn!(
                num_missed,
                "missed refused directory records; their keys are not restored"
            );
        }
        // The directory lives as long as the process.
        Err(RecvError::Closed) => {}
    }
}

/// Publishes admin's current record for `key` on `topic`, if admin has one.
async fn restore(state: &AppState, topic: &'static str, key: &str) {
    let Some(payload) = current_payload(state, topic, key) else {
        tracing::debug!(
            topic,
            key,
            "no record of admin's to restore for a refused key"
        );
        return;
    };
    match state.publish_signed(topic, Record::new(key, payload)).await {
        Ok(offset) => tracing::warn!(
            topic,
            key,
            offset,
            "published the genuine record again after a refused one"
        ),
        Err(error) => tracing::error!(
            error = %accord_runtime::telemetry::ErrorChain(&error),
            topic,
            key,
            "failed to publish the genuine record again after a refused one"
        ),
    }
}

/// Returns the payload of admin's current record for `key` on `topic`.
fn current_payload(state: &AppState, topic: &str, key: &str) -> Option<Vec<u8>> {
    let directory = &state.deps.directory;
    if key == CUT_OVER_KEY {
        let before = directory.cut_over(topic)?;
        return cut_over_record(before)
            .ok()
            .map(|record| record.payload.to_vec());
    }
    let snapshot = directory.snapshot();
    match topic {
        topics::ADMIN_DIRECTORY => {
            let event = if let Some(id) = key.strip_prefix("org:") {
                let org = snapshot.orgs.get(&OrgId::parse(id).ok()?)?;
                DirectoryEvent::Organization(org.clone())
            } else {
                let id = key.strip_prefix("token:")?;
                DirectoryEvent::Token(snapshot.token(id)?.clone())
            };
            (event.key() == key).then(|| serde_json::to_vec(&event).ok())?
        }
        topics::POLICY_MOUS => {
            let (id, number) = key.rsplit_once('@')?;
            let number: u32 = number.parse().ok()?;
            let versions = snapshot.mou_history.get(&MouId::parse(id).ok()?)?;
            let version = versions.iter().find(|version| version.version == number)?;
            serde_json::to_vec(version).ok()
        }
        _ => None,
    }
}
