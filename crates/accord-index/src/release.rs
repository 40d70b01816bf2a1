//! The release filter every query carries, and the terms of a view document it matches on.
//!
//! Both backends index the same terms ([`document_terms`]) in two multi-valued keyword fields, and translate the
//! same filter:
//!
//! - `grant`: `<agency>|<purpose>` for every pair the view is *shown* to ([`View::grants`]: at most one view of a
//!   report per pair), and `<agency>|<purpose>|alt` for every pair it is an *alternate* for ([`View::alternates`]).
//! - `mou`: the id of every MoU the view was rendered under, `<id>@<version>` for each with its version, and the
//!   marker [`VERSIONED`] (documents written before versions were indexed lack the marker and never count as stale).
//!
//! Ids cannot contain `|` or `@` (`accord_domain::ids`), so the forms cannot collide.

use accord_domain::{Alternate, Grant, MouId, OrgId, Purpose, Timestamp, View};

/// The `mou` term marking a document whose MoU versions are indexed.
pub(crate) const VERSIONED: &str = "@versioned";

/// Which of a report's views a filter matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Views {
    /// The view each report shows for the grant: at most one per report (searches, listings, TAXII).
    #[default]
    Shown,
    /// The shown view and the report's alternate views for the grant (indicator lookups): several per report.
    WithAlternates,
    /// Only alternate views (to learn whether a lookup can find several views of one report).
    AlternatesOnly,
}

/// Who asks, for what, when: every query carries it and no view outside it can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFilter {
    /// The caller's agency.
    pub agency: OrgId,
    /// The stated purpose.
    pub purpose: Purpose,
    /// The query time: a view matches when `valid_from <= at < valid_until`.
    pub at: Timestamp,
    /// The MoUs in force that grant this agency and purpose at `at`, with their current versions: only views rendered
    /// under one of them match, so a suspended, revoked or expired MoU drops out of totals and pages at once. Empty
    /// matches nothing.
    pub mous: Vec<(MouId, u32)>,
    /// Which views of a report match.
    pub views: Views,
    /// Only views rendered under none of the current versions in `mous` (an MoU in force has changed since they were
    /// written, and the enforcer has not re-released them yet): the hits whose query-time re-check can fail.
    pub stale_only: bool,
}

impl ReleaseFilter {
    /// Returns the `grant` terms a matching view carries one of.
    pub(crate) fn grant_terms(&self) -> Vec<String> {
        let grant = Grant {
            agency: self.agency.clone(),
            purpose: self.purpose,
        };
        let alternate = Alternate {
            agency: self.agency.clone(),
            purpose: self.purpose,
            rank: 0,
        };
        match self.views {
            Views::Shown => vec![grant.term()],
            Views::WithAlternates => vec![grant.term(), alternate.term()],
            Views::AlternatesOnly => vec![alternate.term()],
        }
    }

    /// Returns the `mou` terms of the MoUs in force: a matching view carries one of them.
    pub(crate) fn mou_terms(&self) -> Vec<String> {
        self.mous.iter().map(|(mou, _)| mou.to_string()).collect()
    }

    /// Returns the `mou` terms of the current versions: a view carrying one of them is not stale.
    pub(crate) fn current_terms(&self) -> Vec<String> {
        self.mous
            .iter()
            .map(|(mou, version)| versioned(mou, *version))
            .collect()
    }
}

fn versioned(mou: &MouId, version: u32) -> String {
    format!("{mou}@{version}")
}

/// The filter terms of one view document: `(grant terms, mou terms)`.
pub fn document_terms(view: &View) -> (Vec<String>, Vec<String>) {
    let mut grants: Vec<String> = view.grants.iter().map(Grant::term).collect();
    grants.extend(view.alternates.iter().map(Alternate::term));
    grants.sort();
    grants.dedup();
    let mut mous: Vec<String> = Vec::with_capacity(2 * view.mous.len() + 1);
    for (mou, version) in &view.mous {
        mous.push(mou.to_string());
        mous.push(versioned(mou, *version));
    }
    mous.push(VERSIONED.to_owned());
    mous.sort();
    mous.dedup();
    (grants, mous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_cannot_collide_with_ids() {
        for bad in ["a|b", "a@1", "@versioned"] {
            assert!(MouId::parse(bad).is_err(), "{bad}");
            assert!(OrgId::parse(bad).is_err(), "{bad}");
        }
    }
}
