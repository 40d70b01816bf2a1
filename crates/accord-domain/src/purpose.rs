//! The purposes an investigator may state for a search.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Why a search is made; an MoU lists the purposes it permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Investigating a specific incident or crime.
    Investigation,
    /// Preventing harm (warning, blocking).
    Prevention,
    /// Building a prosecution case.
    Prosecution,
    /// Strategic or statistical research.
    Research,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 4] = [
        Purpose::Investigation,
        Purpose::Prevention,
        Purpose::Prosecution,
        Purpose::Research,
    ];

    /// Returns the purpose a client stated, normalized: surrounding white space trimmed, then one of the four names
    /// exactly. The one way a stated purpose is read (search requests, audit records).
    ///
    /// # Errors
    /// [`UnknownPurpose`] for anything else (a control character included).
    pub fn normalize(stated: &str) -> Result<Self, UnknownPurpose> {
        stated.trim().parse()
    }

    /// Returns the purpose as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Investigation => "investigation",
            Purpose::Prevention => "prevention",
            Purpose::Prosecution => "prosecution",
            Purpose::Research => "research",
        }
    }
}

/// An unknown purpose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown purpose `{0}` (expected investigation, prevention, prosecution or research)")]
pub struct UnknownPurpose(pub String);

impl FromStr for Purpose {
    type Err = UnknownPurpose;
    fn from_str(value: &str) -> Result<Self, UnknownPurpose> {
        Purpose::ALL
            .into_iter()
            .find(|purpose| purpose.as_str() == value)
            .ok_or_else(|| UnknownPurpose(value.to_owned()))
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stated_purposes_are_trimmed_then_matched_exactly() {
        assert_eq!(
            Purpose::normalize(" investigation\t"),
            Ok(Purpose::Investigation)
        );
        assert!(Purpose::normalize("Investigation").is_err());
        assert!(Purpose::normalize("investi\ngation").is_err());
        assert!(Purpose::normalize("").is_err());
    }
}
