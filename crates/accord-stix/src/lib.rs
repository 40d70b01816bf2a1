//! STIX 2.1 support for Accord.
//!
//! - [`id`]: deterministic identifiers of cyber observables (STIX 2.1 §2.9), so that the same indicator reported by
//!   two partners, or replayed, gets the same id everywhere: [`observable_id`].
//! - [`export`]: what an agency receives (released views) as STIX 2.1 objects and bundles, for search and TAXII.
//! - [`pattern`]: the STIX 2.1 patterning grammar, parsed and reduced to its exact observables.
//! - [`ingest`]: an incoming bundle converted into one native report ([`ingest::bundle_to_report`]): markings, TLP,
//!   the classification guard, patterns and observables.
//! - [`misp`]: an incoming MISP event converted the same way ([`misp::misp_event_to_report`]).

pub mod export;
pub mod id;
pub mod ingest;
pub mod misp;
pub mod pattern;

pub use id::{SCO_NAMESPACE, id_contributing_json, observable_id};
pub use ingest::{Converted, Handling, IngestError, bundle_to_report, bundle_to_report_with};
pub use misp::{is_misp_event, misp_event_to_report, misp_event_to_report_with};
