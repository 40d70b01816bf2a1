//! TLP 2.0 (FIRST): `clear < green < amber < amber+strict < red`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A Traffic Light Protocol 2.0 label. The derived order is the TLP order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tlp {
    /// TLP:CLEAR.
    #[serde(rename = "clear")]
    Clear,
    /// TLP:GREEN.
    #[serde(rename = "green")]
    Green,
    /// TLP:AMBER.
    #[serde(rename = "amber")]
    Amber,
    /// TLP:AMBER+STRICT.
    #[serde(rename = "amber+strict")]
    AmberStrict,
    /// TLP:RED.
    #[serde(rename = "red")]
    Red,
}

impl Tlp {
    /// Every label, from least to most restrictive.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// Returns the label as written in the API (`amber+strict`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }
}

/// An unknown TLP label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLP label `{0}` (expected clear, green, amber, amber+strict or red)")]
pub struct UnknownTlp(pub String);

impl FromStr for Tlp {
    type Err = UnknownTlp;
    fn from_str(value: &str) -> Result<Self, UnknownTlp> {
        let lower = value.trim().to_ascii_lowercase();
        let label = lower.strip_prefix("tlp:").unwrap_or(&lower);
        Tlp::ALL
            .into_iter()
            .find(|tlp| tlp.as_str() == label)
            .ok_or_else(|| UnknownTlp(value.to_owned()))
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_follows_tlp_2() {
        assert!(Tlp::Clear < Tlp::Green && Tlp::Green < Tlp::Amber);
        assert!(Tlp::Amber < Tlp::AmberStrict && Tlp::AmberStrict < Tlp::Red);
    }

    #[test]
    fn parses_labels_and_prefixes() {
        assert_eq!("TLP:AMBER+STRICT".parse::<Tlp>().unwrap(), Tlp::AmberStrict);
        assert_eq!("green".parse::<Tlp>().unwrap(), Tlp::Green);
        assert!("white".parse::<Tlp>().is_err());
        assert_eq!(
            serde_json::to_string(&Tlp::AmberStrict).unwrap(),
            "\"amber+strict\""
        );
    }
}
