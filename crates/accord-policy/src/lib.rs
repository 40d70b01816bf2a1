//! Accord's reference monitor: pure evaluation of Memoranda of Understanding (policy-model.md), with no I/O.
//!
//! The enforcer calls [`release`] to turn a normalized report into redacted [`View`]s; search calls [`allows`] on
//! every hit to re-check it against the MoUs in force at query time; admin calls [`explain`] for coordinators.
//! Every function takes the *current* version of each MoU and the directory of organizations, and fails closed:
//! whatever is unknown, malformed or ambiguous releases nothing.
//!
//! - [`decide`] (module `decide`): whether one agency may see one report for one purpose, and under which MoU.
//! - [`render`] and [`redactions`] (module `render`): the redacted content of a report under a [`Profile`].
//! - [`release`] and [`allows`] (module `release`): grouping grants into views, and the query-time re-check.
//! - [`explain`] (module `explain`): the coordinator's answer to "why can (not) this agency see this report?".
//!
//! # Semantics
//!
//! 1. **Visibility.** A report from partner P is visible to agency A for purpose X at time t iff at least one MoU M
//!    has: status `active`; P ∈ providers; A ∈ recipients; A is a known organization of kind agency and P a known
//!    organization of kind partner (unknown organizations deny); `effective_from ≤ t < expires_at`; report TLP ≤
//!    `max_tlp`; every report category inside `categories` (a report without categories passes); the report's
//!    sector, if any, inside `sectors`; X ∈ `purposes`; A's country inside `recipient_countries`; and
//!    `t < received_at + retention_days` days. Country, category and sector values are compared ASCII
//!    case-insensitively (reports are lower-cased by the normalizer, countries are upper-case ISO codes, but a
//!    coordinator may write either). `*` (`Scope::Any`) matches anything; an explicit empty list matches nothing.
//! 2. **Indicator types filter, they do not decide.** `indicator_types` never denies a report; it removes from the
//!    view every indicator whose type (`ObservableType::as_str`) it does not list.
//! 3. **One MoU's terms, the least restricted.** The [`Profile`] of an MoU is `{content, pii, attribution,
//!    indicator_types}`. When several MoUs grant the same (agency, purpose) at t, the chosen one is the greatest in
//!    this total order: more content parts; then `pii: share` over `redact`; then `named` over `anonymous`; then
//!    indicator types `*` over a larger explicit set over a smaller one; then the lowest MoU id (then the highest
//!    version, for duplicate input). Terms of two MoUs are never mixed.
//! 4. **Rendering.** `partner` is the partner's id when `named`, else `anonymous`. TLP, `occurred_at`, categories and
//!    sector are always present: they are the metadata search filters on, and the MoU's own scope is stated in
//!    these terms. Title, description and TTPs only under `narrative`; indicators only under `indicators`, filtered
//!    by `indicator_types`; the victim block only under `victim` *and* `pii: share`. Under `pii: redact` every
//!    located PII range of the title and description is replaced by its marker (`[redacted:email]`); when any range
//!    of a field is invalid (out of bounds, empty or reversed, overlapping, or off a char boundary) the whole field
//!    becomes `[redacted]` instead, so a bad range can never leak. Indicators that are e-mail addresses stay.
//! 5. **Validity window.** A view granted by M is valid from `M.effective_from` (inclusive) until
//!    `min(M.expires_at, received_at + retention_days)` (exclusive).
//! 6. **Grouping.** [`release`] decides every (agency named in any MoU's recipients, purpose) pair and groups the
//!    granted ones whose (profile, window) are identical into one [`View`], with sorted grants and the sorted,
//!    deduplicated (MoU, version) pairs chosen. View ids are `view--<uuidv5>` over the report id and a canonical
//!    form of (profile, window); views are sorted by id. The same inputs always give the same output.
//! 7. **Query-time re-check.** [`allows`] serves a view to (agency, purpose) at t only if the view lists that grant,
//!    t lies in the view's window, the view's content releases nothing outside the view's own profile (a defensive
//!    check against altered copies), and [`decide`] grants the pair now under a profile the view's profile is
//!    within. A view rendered under an MoU that is no longer the chosen one stays servable only while its profile
//!    is within the chosen MoU's; otherwise it waits for the enforcer's re-release.
//! 8. **Reasons.** A denial lists problems with the organizations themselves, then one reason per MoU naming both
//!    the partner and the agency, carrying every condition it fails joined by `; `
//!    (`mou-x: report tlp red above max_tlp amber; purpose research not permitted`), in MoU id order; when no MoU
//!    names both, `no MoU covers partner P and agency A`. [`explain`] reports, when nothing is visible, the same
//!    reasons evaluated for "any purpose" (an MoU otherwise passing but permitting no purpose says so).
//!
//! Denial reasons and redaction lists name MoUs, partners and agencies: they are for coordinators (explain) only
//! and must never reach investigators.

mod decide;
mod explain;
mod in_force;
mod release;
mod render;

#[cfg(test)]
mod props;
#[cfg(test)]
mod testkit;

pub use decide::{Decision, Terms, decide, facts, profile_of};
pub use explain::{Explanation, explain};
pub use in_force::mous_in_force;
pub use release::{allows, release, view_id};
pub use render::{WHOLE_FIELD_MARKER, redactions, render};

// Re-exported for callers' convenience: the types this crate's API speaks.
pub use accord_domain::{Grant, Profile, ReportFacts, View, ViewContent};
