//! Choosing among the candidate views of one report for one (agency, purpose) (rule 3 of the crate documentation).
//!
//! Every MoU that grants the pair yields one candidate: the report rendered under that MoU's terms alone. A
//! candidate is *measured* on the actual report ([`Measure`]): which indicators it releases, whether it releases the
//! narrative and which byte ranges of it are cut, whether it releases the victim block, whether the partner is named.
//! Candidate B *contains* candidate A when B releases everything A releases: A's indicators are B's, A's narrative
//! implies B's with no range cut in B that A does not cut, A's victim block implies B's, A naming the partner implies
//! B naming it. [`choose`] gives every candidate an [`Outcome`]:
//!
//! 1. a candidate that releases neither an indicator nor the narrative yields nothing ([`Outcome::Empty`]);
//! 2. a candidate strictly contained in another is never released ([`Outcome::Contained`]);
//! 3. the remaining (maximal) candidates are ranked by [`Rank`]: more content parts actually released, then more
//!    indicators, then more narrative text revealed, then the partner named, then the lowest MoU id (then the highest
//!    version). The first is the [`Outcome::Shown`] view. Each next one is an [`Outcome::Alternate`] if it releases
//!    an indicator that no better-ranked kept view releases (indicator lookups reach the report through it),
//!    otherwise it is [`Outcome::Equivalent`] to a kept view or [`Outcome::Redundant`].
//!
//! Views never mix terms: each kept candidate is one MoU's rendering, unchanged.

use std::{cmp::Reverse, collections::HashMap, ops::Range, rc::Rc};

use accord_domain::{MouId, NormalizedReport, Profile};

use crate::{
    decide::Terms,
    render::{FieldPlan, Plan, field_text, plan},
};

/// What one candidate releases of the report, for containment and ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Measure {
    /// Per indicator of the report: whether it is released.
    indicators: Vec<bool>,
    /// When the narrative is released: per field (title, description), the cut byte ranges, merged (touching ranges
    /// joined) and sorted.
    narrative: Option<[Vec<Range<usize>>; 2]>,
    /// Whether the victim block is released.
    victim: bool,
    /// Whether the partner is named.
    named: bool,
}

impl Measure {
    /// Measures `plan` on `report`.
    pub(crate) fn of(report: &NormalizedReport, plan: &Plan) -> Self {
        let narrative = plan.narrative.as_ref().map(|fields| {
            let texts = [
                field_text(report, accord_domain::TextField::Title),
                field_text(report, accord_domain::TextField::Description),
            ];
            [
                cut_ranges(texts[0], &fields[0]),
                cut_ranges(texts[1], &fields[1]),
            ]
        });
        Measure {
            indicators: plan.released.clone(),
            narrative,
            victim: plan.victim,
            named: plan.named,
        }
    }

    /// Returns whether `self` releases everything `other` releases.
    pub(crate) fn contains(&self, other: &Measure) -> bool {
        let indicators = other
            .indicators
            .iter()
            .zip(&self.indicators)
            .all(|(theirs, mine)| !*theirs || *mine);
        let narrative = match (&self.narrative, &other.narrative) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(mine), Some(theirs)) => mine
                .iter()
                .zip(theirs)
                .all(|(mine, theirs)| covered(mine, theirs)),
        };
        indicators && narrative && (!other.victim || self.victim) && (!other.named || self.named)
    }

    /// Returns whether `self` is strictly contained in `other`.
    fn strictly_within(&self, other: &Measure) -> bool {
        other.contains(self) && !self.contains(other)
    }

    fn num_indicators(&self) -> usize {
        self.indicators.iter().filter(|released| **released).count()
    }

    /// Returns the number of content parts that actually release something.
    fn num_parts(&self) -> u8 {
        u8::from(self.num_indicators() > 0)
            + u8::from(self.narrative.is_some())
            + u8::from(self.victim)
    }

    /// Returns how many bytes of the title and description are released uncut (0 without the narrative).
    fn revealed(&self, report: &NormalizedReport) -> usize {
        let Some(fields) = &self.narrative else {
            return 0;
        };
        let total = report.title.len() + report.description.len();
        let cut: usize = fields
            .iter()
            .flatten()
            .map(|range| range.end - range.start)
            .sum();
        total.saturating_sub(cut)
    }
}

/// Returns the cut ranges of a field plan, touching ranges joined; a whole-field cut is the whole text.
fn cut_ranges(text: &str, plan: &FieldPlan) -> Vec<Range<usize>> {
    let cuts = match plan {
        FieldPlan::Whole(_) => return std::iter::once(0..text.len()).collect(),
        FieldPlan::Cuts(cuts) => cuts,
    };
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(cuts.len());
    for cut in cuts {
        match ranges.last_mut() {
            Some(last) if cut.start <= last.end => last.end = last.end.max(cut.end),
            _ => ranges.push(cut.start..cut.end),
        }
    }
    ranges
}

/// Returns whether every range of `inner` lies inside one range of `outer` (both sorted and joined): what `outer` cuts
/// covers what `inner` cuts, so a view cutting `inner` reveals at least what a view cutting `outer` does.
fn covered(inner: &[Range<usize>], outer: &[Range<usize>]) -> bool {
    inner.iter().filter(|range| !range.is_empty()).all(|range| {
        outer
            .iter()
            .any(|cover| cover.start <= range.start && range.end <= cover.end)
    })
}

/// The order among incomparable candidates; the greatest is shown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rank {
    /// Content parts actually released.
    pub(crate) parts: u8,
    /// Released indicators.
    pub(crate) indicators: usize,
    /// Narrative bytes released uncut.
    pub(crate) revealed: usize,
    /// The partner named.
    pub(crate) named: bool,
    /// The lowest MoU id wins.
    pub(crate) mou: Reverse<MouId>,
    /// Then the highest version (duplicate input).
    pub(crate) version: u32,
}

impl Rank {
    /// Returns, in words, the first criterion on which `self` ranks below `other`.
    pub(crate) fn below_because(&self, other: &Rank) -> &'static str {
        if self.parts != other.parts {
            "fewer content parts released"
        } else if self.indicators != other.indicators {
            "fewer indicators released"
        } else if self.revealed != other.revealed {
            "less narrative text released"
        } else if self.named != other.named {
            "partner not named"
        } else {
            "higher MoU id"
        }
    }
}

/// What became of one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The view shown for the pair.
    Shown,
    /// An alternate view, with its rank (1 for the best alternate).
    Alternate { rank: u32 },
    /// Strictly contained in the view of candidate `by` (an index into the same list).
    Contained { by: usize },
    /// Releases exactly what the better-ranked kept candidate `to` releases.
    Equivalent { to: usize },
    /// Maximal, ranked below the shown candidate `below`, and releasing no indicator a better-ranked kept view does
    /// not: never served, so not released.
    Redundant { below: usize },
    /// Releases neither an indicator nor the narrative.
    Empty,
}

/// One candidate: one granting MoU's terms, its rank and what became of it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) terms: Terms,
    pub(crate) rank: Rank,
    pub(crate) outcome: Outcome,
}

/// The rendering plans and measures of one report, per profile: rendering a report under the same profile for many
/// (agency, purpose) pairs is done once.
pub(crate) struct Plans<'r> {
    report: &'r NormalizedReport,
    cache: HashMap<Profile, (Rc<Plan>, Rc<Measure>)>,
}

impl<'r> Plans<'r> {
    pub(crate) fn new(report: &'r NormalizedReport) -> Self {
        Self {
            report,
            cache: HashMap::new(),
        }
    }

    /// Returns the plan and measure of the report under `profile`.
    pub(crate) fn get(&mut self, profile: &Profile) -> (Rc<Plan>, Rc<Measure>) {
        if let Some((plan, measure)) = self.cache.get(profile) {
            return (Rc::clone(plan), Rc::clone(measure));
        }
        let plan = Rc::new(plan(self.report, profile));
        let measure = Rc::new(Measure::of(self.report, &plan));
        self.cache
            .insert(profile.clone(), (Rc::clone(&plan), Rc::clone(&measure)));
        (plan, measure)
    }
}

/// Chooses among the candidates of the granting MoUs' `terms` (one pair's [`crate::Decision::Granted`]): returns
/// them in the same order, each with its outcome. At most one is [`Outcome::Shown`]; none is when every candidate
/// is empty.
pub(crate) fn choose(plans: &mut Plans<'_>, terms: Vec<Terms>) -> Vec<Candidate> {
    let report = plans.report;
    let mut measures = Vec::with_capacity(terms.len());
    let mut candidates: Vec<Candidate> = terms
        .into_iter()
        .map(|terms| {
            let (plan, measure) = plans.get(&terms.profile);
            let rank = Rank {
                parts: measure.num_parts(),
                indicators: measure.num_indicators(),
                revealed: measure.revealed(report),
                named: measure.named,
                mou: Reverse(terms.mou.clone()),
                version: terms.version,
            };
            let outcome = if plan.releases_anything() {
                Outcome::Redundant { below: 0 }
            } else {
                Outcome::Empty
            };
            measures.push(measure);
            Candidate {
                terms,
                rank,
                outcome,
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|index| candidates[*index].outcome != Outcome::Empty)
        .collect();
    order.sort_by(|left, right| candidates[*right].rank.cmp(&candidates[*left].rank));
    let mut kept: Vec<usize> = Vec::new();
    let mut covered_indicators = vec![false; report.indicators.len()];
    for &index in &order {
        let measure = &measures[index];
        let container = order
            .iter()
            .copied()
            .find(|other| measure.strictly_within(&measures[*other]));
        let outcome = if let Some(by) = container {
            Outcome::Contained { by }
        } else if let Some(&to) = kept.iter().find(|kept| measures[**kept].contains(measure)) {
            Outcome::Equivalent { to }
        } else if !kept.is_empty()
            && measure
                .indicators
                .iter()
                .zip(&covered_indicators)
                .all(|(released, covered)| !*released || *covered)
        {
            Outcome::Redundant { below: kept[0] }
        } else {
            let rank = u32::try_from(kept.len()).unwrap_or(u32::MAX);
            kept.push(index);
            for (covered, released) in covered_indicators.iter_mut().zip(&measure.indicators) {
                *covered |= *released;
            }
            if rank == 0 {
                Outcome::Shown
            } else {
                Outcome::Alternate { rank }
            }
        };
        candidates[index].outcome = outcome;
    }
    candidates
}

#[cfg(test)]
mod tests;
