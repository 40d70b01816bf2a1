//! STIX 2.1 support for Accord.
//!
//! - [`id`]: deterministic identifiers of cyber observables (STIX 2.1 §2.9), so that the same indicator reported by
//!   two partners, or replayed, gets the same id everywhere: [`observable_id`].
//!
//! Later: the STIX bundle reader, the pattern grammar reduced to observables, and TAXII types.

pub mod id;

pub use id::{SCO_NAMESPACE, id_contributing_json, observable_id};
