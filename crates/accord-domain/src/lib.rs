//! Accord's domain model, shared by every crate and service.
//!
//! - [`classification`]: the classification guard (unclassified only; protective markings in free text).
//! - [`control`]: a partner's retractions of its own reports and indicators, as they travel the pipeline.
//! - [`country`]: ISO 3166-1 alpha-2 country codes.
//! - [`feedback`]: an agency's feedback on a released report or indicator, as it travels to the partner.
//! - [`validation`]: which fields of a document are invalid ([`validation::Invalid`]).
//! - [`ids`]: validated identifiers (organizations, reports, MoUs, tokens).
//! - [`tlp`] and [`purpose`]: the TLP 2.0 ladder and the permitted purposes of a search.
//! - [`case`]: the case reference stated with every search, normalized once ([`Case`]).
//! - [`org`]: organizations, roles, token records and the directory events that carry them on the bus.
//! - [`mou`]: the Memorandum of Understanding document of `policy-model.md` and its one validation
//!   ([`mou::MouValidator`]).
//! - [`observable`]: observable types, refanging, detection and canonical forms.
//! - [`report`]: the native incident report, the raw bus envelope, the normalized record and rejections.
//! - [`view`]: what the enforcer releases: one redacted view per distinct release.
//! - [`topics`]: bus topic names.
//! - [`unique`]: order-preserving deduplication in linear time.
//! - [`schema`]: the JSON Schemas of `schemas/`, compiled once.
//! - [`vocabulary`]: the fixed vocabularies of categories and sectors.

pub mod case;
pub mod classification;
pub mod control;
pub mod country;
pub mod feedback;
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
pub mod validation;
pub mod view;
pub mod vocabulary;

pub use case::{Case, CaseError};
pub use control::{Control, IndicatorRetraction, RetractedValue, Retraction, RetractionReason};
pub use ids::{IdError, MouId, OrgId, ReportId, ReportIdKey, TokenId};
pub use mou::{
    Attribution, ContentPart, FeedbackRule, Mou, MouStatus, MouValidator, MouVersion, PiiRule,
    Scope,
};
pub use observable::ObservableType;
pub use org::{CaseBinding, DirectoryEvent, OrgKind, Organization, Role, TokenRecord};
pub use purpose::Purpose;
pub use report::{
    Indicator, IndicatorPii, IndicatorSource, IndicatorSpan, NormalizedReport, PatternInput,
    PiiKind, PiiMatch, RawReport, Rejection, ReportFormat, Revision, SubmittedObject, TextField,
    Victim, Warning,
};
pub use tlp::Tlp;
pub use view::{Alternate, Grant, Profile, ReleaseSet, ReportFacts, Revocation, View, ViewContent};

/// The one timestamp type: UTC, serialized as RFC 3339.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
