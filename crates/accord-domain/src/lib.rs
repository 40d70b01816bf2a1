//! Accord's domain model, shared by every crate and service.
//!
//! - [`classification`]: the classification guard (unclassified only; protective markings in free text).
//! - [`ids`]: validated identifiers (organizations, reports, MoUs, tokens).
//! - [`tlp`] and [`purpose`]: the TLP 2.0 ladder and the permitted purposes of a search.
//! - [`org`]: organizations, roles, token records and the directory events that carry them on the bus.
//! - [`mou`]: the Memorandum of Understanding document of `policy-model.md`.
//! - [`observable`]: observable types, refanging, detection and canonical forms.
//! - [`report`]: the native incident report, the raw bus envelope, the normalized record and rejections.
//! - [`view`]: what the enforcer releases: one redacted view per distinct release.
//! - [`topics`]: bus topic names.
//! - [`unique`]: order-preserving deduplication in linear time.
//! - [`schema`]: the JSON Schemas of `schemas/`, compiled once.

pub mod classification;
pub mod ids;
pub mod mou;
pub mod observable;
pub mod org;
pub mod purpose;
pub mod report;
pub mod schema;
pub mod tlp;
pub mod topics;
pub mod unique;
pub mod view;

pub use ids::{IdError, MouId, OrgId, ReportId, TokenId};
pub use mou::{Attribution, ContentPart, Mou, MouStatus, MouVersion, PiiRule, Scope};
pub use observable::ObservableType;
pub use org::{DirectoryEvent, OrgKind, Organization, Role, TokenRecord};
pub use purpose::Purpose;
pub use report::{
    Indicator, IndicatorSource, NormalizedReport, PatternInput, PiiKind, PiiMatch, RawReport,
    Rejection, ReportFormat, SubmittedObject, TextField, Victim,
};
pub use tlp::Tlp;
pub use view::{Grant, Profile, ReleaseSet, ReportFacts, View, ViewContent};

/// The one timestamp type: UTC, serialized as RFC 3339.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
