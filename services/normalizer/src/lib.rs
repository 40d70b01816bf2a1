//! The normalizer service: reads raw reports from `reports.raw` and writes one canonical record per report to
//! `reports.normalized`, or a rejection to `reports.rejected`.
//!
//! - [`normalize()`]: the pure transformation of a [`accord_domain::RawReport`] into a
//!   [`accord_domain::NormalizedReport`] or a [`accord_domain::Rejection`].
//! - [`extract`]: indicators found in free text, refang-aware.
//! - [`pii`]: personal data (e-mail addresses, phone numbers, names) located in free text.
//! - [`limits`]: what one report may become ([`normalize_within`]): the gateway and the normalizer check the same.

pub mod extract;
pub mod limits;
pub mod locate;
pub mod normalize;
pub mod pii;

pub use limits::{LimitExceeded, Limits, Refusal};
pub use normalize::{normalize, normalize_measured, normalize_within, normalized_size};
mod worker;

pub use worker::{Config, start};
