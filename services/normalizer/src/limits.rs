//! What one report may become: the bounds [`crate::normalize_within`] checks while it normalizes, so that no
//! submission can make the normalizer (or anything after it) do unbounded work.
//!
//! The same [`Limits`] are checked in two places, by the same function: the gateway normalizes every submission on
//! trial before it answers (a report over a limit is refused with 422 naming the limit and never reaches the bus),
//! and the normalizer checks every raw record again (a record accepted under other limits, or before they existed,
//! becomes a rejection with the reason `too-large` instead of stalling the stage). The values are the gateway's
//! settings (`gateway.max_indicators`, `gateway.max_patterns`, `gateway.max_normalized_bytes`).
//!
//! Indicators are counted as they are found (declared, then from STIX patterns, then in the title and description,
//! then the hosts derived from URLs), without repeats, and normalization stops at the first that goes over: the
//! work spent on a report that is refused is bounded by the limit, not by what the report would expand to.

use std::collections::HashSet;

use accord_domain::{Indicator, IndicatorSource, ObservableType, Rejection};

/// The bounds of one normalized report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most indicators, from every source together, without repeats.
    pub max_indicators: usize,
    /// The most STIX patterns (of any pattern type).
    pub max_patterns: usize,
    /// The largest normalized record, in bytes of its JSON.
    pub max_normalized_bytes: usize,
}

impl Limits {
    /// No bounds (tests and in-process drivers).
    pub const NONE: Self = Self {
        max_indicators: usize::MAX,
        max_patterns: usize::MAX,
        max_normalized_bytes: usize::MAX,
    };
}

/// A limit a report goes over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// Too many STIX patterns.
    #[error("the report has {found} STIX patterns; at most {max} (limit `max_patterns`)")]
    Patterns {
        /// Patterns in the report.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// Too many indicators once patterns and free text are counted.
    #[error(
        "the report would carry more than {max} indicators (declared, from STIX patterns and found in its title \
         and description, without repeats); at most {max} (limit `max_indicators`)"
    )]
    Indicators {
        /// The limit.
        max: usize,
    },
    /// The normalized record is too large.
    #[error(
        "the normalized report would be {found} bytes; at most {max} (limit `max_normalized_bytes`)"
    )]
    NormalizedBytes {
        /// Bytes of the normalized record.
        found: usize,
        /// The limit.
        max: usize,
    },
}

impl LimitExceeded {
    /// The JSON pointer into the submitted report that the limit concerns.
    pub fn pointer(&self) -> &'static str {
        match self {
            LimitExceeded::Patterns { .. } => "/patterns",
            LimitExceeded::Indicators { .. } | LimitExceeded::NormalizedBytes { .. } => "/",
        }
    }
}

/// Why a report was not normalized.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// The report is invalid: its rejection (reasons as in [`crate::normalize()`]; boxed, it is the larger variant).
    Invalid(Box<Rejection>),
    /// The report goes over a limit.
    TooLarge(LimitExceeded),
}

/// The reason of the rejection a [`Refusal::TooLarge`] becomes on `reports.rejected`.
pub const TOO_LARGE: &str = "too-large";

/// The indicators of a report as they are found: the first of each type and value is kept (its source wins), each
/// with its deterministic STIX id, and the count is checked against the limit at every addition. Linear in the
/// number found: each is hashed once.
pub(crate) struct IndicatorSet {
    indicators: Vec<Indicator>,
    seen: HashSet<(ObservableType, String)>,
    max: usize,
}

impl IndicatorSet {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            indicators: Vec::new(),
            seen: HashSet::new(),
            max,
        }
    }

    /// Adds an indicator unless one with the same type and value is there.
    ///
    /// # Errors
    /// [`LimitExceeded::Indicators`] when it would be one too many.
    pub(crate) fn push(
        &mut self,
        kind: ObservableType,
        value: String,
        source: IndicatorSource,
    ) -> Result<(), LimitExceeded> {
        if self.seen.contains(&(kind, value.clone())) {
            return Ok(());
        }
        if self.indicators.len() >= self.max {
            return Err(LimitExceeded::Indicators { max: self.max });
        }
        self.seen.insert((kind, value.clone()));
        self.indicators.push(Indicator {
            id: accord_stix::observable_id(kind, &value),
            kind,
            value,
            source,
        });
        Ok(())
    }

    pub(crate) fn as_slice(&self) -> &[Indicator] {
        &self.indicators
    }

    pub(crate) fn into_vec(self) -> Vec<Indicator> {
        self.indicators
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_kept_once_and_the_limit_counts_distinct_indicators() {
        let mut set = IndicatorSet::new(2);
        let ip = ObservableType::Ipv4Addr;
        set.push(ip, "10.0.0.1".to_owned(), IndicatorSource::Declared)
            .unwrap();
        set.push(ip, "10.0.0.1".to_owned(), IndicatorSource::Text)
            .unwrap();
        set.push(ip, "10.0.0.2".to_owned(), IndicatorSource::Text)
            .unwrap();
        // A repeat of a kept one is no addition, even at the limit.
        set.push(ip, "10.0.0.2".to_owned(), IndicatorSource::Stix)
            .unwrap();
        assert_eq!(
            set.push(ip, "10.0.0.3".to_owned(), IndicatorSource::Text),
            Err(LimitExceeded::Indicators { max: 2 })
        );
        let kept = set.into_vec();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].source, IndicatorSource::Declared);
    }
}
