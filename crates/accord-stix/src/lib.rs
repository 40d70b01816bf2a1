//! STIX 2.1 support for Accord.
//!
//! - [`id`]: deterministic identifiers of cyber observables (STIX 2.1 §2.9), so that the same indicator reported by
//!   two partners, or replayed, gets the same id everywhere: [`observable_id`].
//! - [`export`]: what an agency receives (released views) as STIX 2.1 objects and bundles, for search and TAXII.
//!
//! Later: the STIX bundle reader, the pattern grammar reduced to observables, and TAXII types.

pub mod export;
pub mod id;
pub mod pattern;

pub use id::{SCO_NAMESPACE, id_contributing_json, observable_id};
