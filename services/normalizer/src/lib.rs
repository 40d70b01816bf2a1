//! The normalizer service: reads raw reports from `reports.raw` and writes one canonical record per report to
//! `reports.normalized`, or a rejection to `reports.rejected`.
//!
//! - [`normalize()`]: the pure transformation of a [`accord_domain::RawReport`] into a
//!   [`accord_domain::NormalizedReport`] or a [`accord_domain::Rejection`].
//! - [`extract`]: indicators found in free text, refang-aware.
//! - [`pii`]: personal data (e-mail addresses, phone numbers, names) located in free text.

pub mod extract;
pub mod locate;
pub mod normalize;
pub mod pii;

pub use normalize::normalize;
mod worker;

pub use worker::{Config, start};
