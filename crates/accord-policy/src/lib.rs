//! Accord's reference monitor: pure evaluation of Memoranda of Understanding (policy-model.md), with no I/O.
//!
//! The enforcer calls [`release`] to turn a normalized report into redacted [`View`]s; search calls [`allows`] on
//! every hit to re-check it against the MoUs in force at query time; admin calls [`explain`] for coordinators.
//! Every function takes the *current* version of each MoU and the directory of organizations, and fails closed:
//! whatever is unknown, malformed or ambiguous releases nothing.
//!
//! - [`decide`] (module `decide`): whether one agency may see one report for one purpose, and under which MoUs.
//! - module `choose`: which of the granting MoUs' candidate views the agency receives (rule 3).
//! - [`render`] and [`redactions`] (module `render`): the redacted content of a report under a [`Profile`].
//! - [`release`] and [`allows`] (module `release`): grouping grants into views, and the query-time re-check.
//! - [`explain`] (module `explain`): the coordinator's answer to "why can (not) this agency see this report?".
//! - [`reach`] (module `reach`): which agencies [`release`] releases a report to and which indicator values, without
//!   rendering (the MoU preview).
//!
//! # Semantics
//!
//! 1. **Visibility.** A report from partner P is visible to agency A for purpose X at time t iff at least one MoU M
//!    has: status `active`; P ∈ providers; A ∈ recipients; A is a known organization of kind agency and P a known
//!    organization of kind partner (unknown organizations deny); `effective_from ≤ t < expires_at`; report TLP ≤
//!    `max_tlp`; the report inside M's scopes (below); X ∈ `purposes`; A's country inside `recipient_countries`;
//!    `t < received_at + retention_days` days; and M's view of the report releases something (rule 2). Country,
//!    category and sector values are compared ASCII case-insensitively (reports are lower-cased by the normalizer,
//!    countries are upper-case ISO codes, but a coordinator may write either). `*` (`Scope::Any`) matches anything;
//!    an explicit list matches its members, and an empty list nothing.
//!    **Scopes.** Every report category inside `categories`, the report's sector inside `sectors`, and, when
//!    `indicator_types` is not `*`, at least one indicator in the report. A report with no value in a field an MoU
//!    restricts (no category, no sector, no indicator) is outside that scope: an empty field never passes a
//!    restriction, only `*` admits it.
//! 2. **Indicator types release indicators; withholding leaves no trace.** Among the report's indicators, M releases
//!    those whose type (`ObservableType::as_str`) `indicator_types` lists (all of them under `*`), only under content
//!    part `indicators`, and, under `pii: redact`, not the e-mail addresses found only in free text. Every other
//!    indicator is withheld: absent from the view, and every occurrence of it in a released free-text field (as
//!    located by the normalizer, in whatever spelling: defanged, upper-case) replaced by `[withheld:indicator]`.
//!    A candidate view that releases no indicator is released only when M releases the narrative (which then
//!    carries the markers); one that releases neither an indicator nor the narrative yields no view.
//! 3. **The best single-MoU view.** Every MoU granting (A, X) yields a candidate: the report rendered under that
//!    MoU's terms alone (terms of two MoUs are never mixed), measured on the actual report: the indicators it
//!    releases, whether it releases the narrative and which byte ranges of it are cut, the victim block, the partner's
//!    name. Candidate B contains A when B releases everything A does (A's indicators are B's; A's narrative implies
//!    B's with nothing cut in B that A does not cut; A's victim block and named partner imply B's). A candidate
//!    strictly contained in another is never released. The others are ranked: more content parts actually released,
//!    then more indicators, then more narrative bytes uncut, then the partner named, then the lowest MoU id (then the
//!    highest version). The first is the agency's **shown** view (searches, listings, TAXII); each next one that
//!    releases an indicator no better-ranked kept view releases is an **alternate** view with its rank, served only
//!    to an indicator lookup whose indicator the better-ranked views lack, so a lookup finds the report whenever any
//!    MoU grants that indicator. The rest (equivalent or adding no indicator) are not released.
//! 4. **Rendering.** `partner` is the partner's id when `named`, else `anonymous`. TLP, `occurred_at`, categories and
//!    sector are always present: they are the metadata search filters on, and the MoU's own scope is stated in
//!    these terms. Title, description and TTPs only under `narrative`; indicators only under `indicators`, filtered
//!    by rule 2; the victim block only under `victim` *and* `pii: share`. Under `pii: redact` every located PII range
//!    of the title and description is replaced by its marker (`[redacted:email]`); withheld indicators by rule 2 (a
//!    cut that is both keeps the PII marker). When any range of a field is invalid (out of bounds, empty or reversed,
//!    a PII range overlapping another, or off a char boundary), or an indicator is withheld from a record that does
//!    not say where its indicators occur (written before positions were kept), the whole field becomes `[redacted]`
//!    instead, so a bad range can never leak. Indicators that are e-mail addresses the partner declared stay. TTPs
//!    are ATT&CK technique ids (the schema admits nothing else), so no indicator occurs in them.
//! 5. **Validity window.** A view granted by M is valid from `M.effective_from` (inclusive) until
//!    `min(M.expires_at, received_at + retention_days)` (exclusive).
//! 6. **Grouping.** [`release`] decides every (agency named in any MoU's recipients, purpose) pair and groups the
//!    kept candidates whose (profile, window) are identical into one [`View`]: `grants` lists the pairs it is shown
//!    to, `alternates` the pairs it is an alternate for with its rank, `mous` the sorted (MoU, version) pairs whose
//!    terms it renders. View ids are `view--<uuidv5>` over the report id and a canonical form of (profile, window);
//!    views are sorted by id. The same inputs always give the same output.
//! 7. **Query-time re-check.** [`allows`] serves a view to (agency, purpose) at t only if the view is released to
//!    that pair (shown or alternate), t lies in the view's window, the view's content releases nothing outside the
//!    view's own profile (a defensive check against altered copies) and releases an indicator or the narrative, and
//!    some MoU in force at t grants the pair (rule 1, with the report facts the view carries) under a profile the
//!    view's profile is within. A view rendered under terms no MoU in force justifies any more waits for the
//!    enforcer's re-release; a new MoU never hides a view an older one still justifies.
//! 8. **Reasons.** A denial lists problems with the organizations themselves, then one reason per MoU naming both
//!    the partner and the agency, carrying every condition it fails joined by `; `
//!    (`mou-x: report tlp red above max_tlp amber; purpose research not permitted`), in MoU id order; when no MoU
//!    names both, `no MoU covers partner P and agency A`. [`explain`] reports, when nothing is visible, the same
//!    reasons evaluated for "any purpose" (an MoU otherwise passing but permitting no purpose, or releasing nothing
//!    of the report, says so); when visible, the MoU shown and why each other MoU's view is not the one shown.
//!
//! Denial reasons and redaction lists name MoUs, partners and agencies: they are for coordinators (explain) only
//! and must never reach investigators.

mod choose;
mod decide;
mod explain;
mod in_force;
mod reach;
mod release;
mod render;

#[cfg(test)]
mod props;
#[cfg(test)]
mod testkit;

pub use decide::{Decision, Terms, decide, facts, profile_of};
pub use explain::{Explanation, explain};
pub use in_force::{feedback_rule, mous_in_force};
pub use reach::{Reach, reach};
pub use release::{allows, release, view_id};
pub use render::{WHOLE_FIELD_MARKER, WITHHELD_MARKER, redactions, render};

// Re-exported for callers' convenience: the types this crate's API speaks.
pub use accord_domain::{Alternate, Grant, Profile, ReportFacts, View, ViewContent};
