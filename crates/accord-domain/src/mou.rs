//! The Memorandum of Understanding document (policy-model.md). Evaluation lives in `accord-policy`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{MouId, OrgId, Purpose, Timestamp, Tlp};

mod validate;

pub use validate::{MouValidator, SchemaError};

/// An MoU's lifecycle state. Only `active` grants anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MouStatus {
    /// In force (subject to its dates).
    Active,
    /// Temporarily not in force; may be reactivated by a new version.
    Suspended,
    /// Ended for good.
    Revoked,
}

/// A part of a report an MoU may release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentPart {
    /// Observables and their types.
    Indicators,
    /// Title, description and TTPs.
    Narrative,
    /// Details about the victim organization or people.
    Victim,
}

/// What happens to personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiRule {
    /// Remove the victim block and personal data found in free text.
    Redact,
    /// Release personal data as reported.
    Share,
}

/// Whether the reporting partner is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attribution {
    /// The partner appears as `anonymous`.
    Anonymous,
    /// The partner is named.
    Named,
}

/// Whether agencies may send feedback on what an MoU releases, and whether the partner sees which agency sent it.
/// Ordered from the most to the least protective: where several MoUs release the same view, the lowest applies.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackRule {
    /// No feedback on what it releases (a feedback request answers 404, as for a report not seen).
    None,
    /// Feedback reaches the partner under an opaque per-(agency, partner) pseudonym.
    #[default]
    Anonymous,
    /// Feedback reaches the partner with the agency's id.
    Named,
}

/// A list that is either `["*"]` (anything) or an explicit set of values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `["*"]`: any value.
    #[default]
    Any,
    /// Exactly these values.
    Only(BTreeSet<String>),
}

impl Scope {
    /// Returns whether `value` is inside the scope.
    pub fn allows(&self, value: &str) -> bool {
        match self {
            Scope::Any => true,
            Scope::Only(values) => values.contains(value),
        }
    }

    /// Returns whether every value of `self` is inside `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        match (self, other) {
            (_, Scope::Any) => true,
            (Scope::Any, Scope::Only(_)) => false,
            (Scope::Only(mine), Scope::Only(theirs)) => mine.is_subset(theirs),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scope::Any => ["*"].serialize(serializer),
            Scope::Only(values) => values.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Vec::<String>::deserialize(deserializer)?;
        if values.iter().any(|value| value == "*") {
            return Ok(Scope::Any);
        }
        Ok(Scope::Only(values.into_iter().collect()))
    }
}

fn default_purposes() -> BTreeSet<Purpose> {
    BTreeSet::from([Purpose::Investigation])
}

fn default_content() -> BTreeSet<ContentPart> {
    BTreeSet::from([ContentPart::Indicators])
}

/// An MoU as coordinators write it (policy-model.md). Field names are fixed by the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mou {
    /// Its id.
    pub id: MouId,
    /// Human title.
    pub title: String,
    /// Lifecycle state.
    pub status: MouStatus,
    /// The partners whose reports it covers.
    pub providers: BTreeSet<OrgId>,
    /// The agencies it releases to.
    pub recipients: BTreeSet<OrgId>,
    /// In force from (inclusive).
    pub effective_from: Timestamp,
    /// In force until (exclusive).
    pub expires_at: Timestamp,
    /// The most restrictive TLP it releases.
    pub max_tlp: Tlp,
    /// Which parts of a report it releases.
    #[serde(default = "default_content")]
    pub content: BTreeSet<ContentPart>,
    /// Report categories it covers: every category of a report must be inside.
    #[serde(default)]
    pub categories: Scope,
    /// Report sectors it covers (an Accord extension; `["*"]` when absent).
    #[serde(default)]
    pub sectors: Scope,
    /// Indicator types it releases; other indicators are withheld from the view.
    #[serde(default)]
    pub indicator_types: Scope,
    /// Purposes it permits.
    #[serde(default = "default_purposes")]
    pub purposes: BTreeSet<Purpose>,
    /// What happens to personal data.
    #[serde(default = "default_pii")]
    pub pii: PiiRule,
    /// Whether partners are named.
    #[serde(default = "default_attribution")]
    pub attribution: Attribution,
    /// Whether agencies may send feedback on what it releases, and whether the partner sees which one did.
    #[serde(default)]
    pub feedback: FeedbackRule,
    /// Countries of recipient agencies it releases to (data sovereignty), ISO alpha-2, upper-case.
    #[serde(default)]
    pub recipient_countries: Scope,
    /// Reports are released for this many days after they were received.
    pub retention_days: u32,
}

fn default_pii() -> PiiRule {
    PiiRule::Redact
}

fn default_attribution() -> Attribution {
    Attribution::Anonymous
}

/// One stored version of an MoU, as published on [`crate::topics::POLICY_MOUS`]. Versions are never edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MouVersion {
    /// The MoU as of this version.
    pub mou: Mou,
    /// 1 for the first version, then +1 per change.
    pub version: u32,
    /// The token id of the coordinator who made the change.
    pub changed_by: String,
    /// When the change was made.
    pub changed_at: Timestamp,
    /// Why, when the coordinator said (suspend, resume, revoke ask for a reason). Absent in records written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl MouVersion {
    /// Returns the record key of this version on [`crate::topics::POLICY_MOUS`]: `<id>@<version>`, one key per
    /// version, so that compaction (which keeps the last record per key) never drops a version. Records written
    /// before were keyed by the MoU id alone; they are still read.
    pub fn key(&self) -> String {
        format!("{}@{}", self.mou.id, self.version)
    }
}
