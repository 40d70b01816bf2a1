//! The fixed vocabularies of a report's `categories` and `sector`: the only values these fields may take, so that
//! they cannot carry free text (or the personal data in it) past `pii: redact`.
//!
//! - Categories are incident types. The set follows the Reference Security Incident Taxonomy (RSIT, the ENISA /
//!   eCSIRT.net reference incident classification): one value per incident *type* (`phishing`, `ddos`,
//!   `c2-server`, …), grouped by its RSIT class, plus the types reports name most that RSIT folds into a broader one
//!   (`ransomware`, `data-breach`, `business-email-compromise`, `credential-theft`, `supply-chain`, …).
//! - Sectors follow the NIS2 Directive (EU 2022/2555, Annexes I and II), with `finance` for banking and financial
//!   market infrastructures, `telecom` apart from the rest of digital infrastructure, and a few sectors partners
//!   report that NIS2 does not list (`education`, `retail`, `media`, `other`).
//!
//! [`category`] and [`sector`] are the one lookup: they trim, lower-case, read `_` and blanks as `-`, and map a known
//! alias (`Spear Phishing`, `banking`, STIX `malware_types` such as `trojan`) to its canonical value, or return
//! `None` for anything else. The gateway refuses a native report with a value they do not know (422 listing
//! [`category_names`] or [`sector_names`]); the normalizer keeps only values they know, canonical.

/// One value of a vocabulary: its canonical name, the group it belongs to (the RSIT class of a category, the NIS2
/// annex of a sector) and the other spellings that mean it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// The canonical value (lower-case, `-` between words).
    pub name: &'static str,
    /// The group it belongs to, for documentation and the console.
    pub group: &'static str,
    /// Other spellings, already in the lookup form (lower-case, `-` between words).
    pub aliases: &'static [&'static str],
}

const fn term(name: &'static str, group: &'static str, aliases: &'static [&'static str]) -> Term {
    Term {
        name,
        group,
        aliases,
    }
}

/// The incident categories.
pub const CATEGORIES: &[Term] = &[
    term("spam", "abusive-content", &["unsolicited-email"]),
    term(
        "harmful-speech",
        "abusive-content",
        &["harassment", "hate-speech"],
    ),
    term("child-sexual-exploitation", "abusive-content", &["csam"]),
    term("violence", "abusive-content", &[]),
    term(
        "malware",
        "malicious-code",
        &[
            "malicious-code",
            "adware",
            "backdoor",
            "bootkit",
            "downloader",
            "dropper",
            "keylogger",
            "remote-access-trojan",
            "rat",
            "rogue-security-software",
            "rootkit",
            "screen-capture",
            "spyware",
            "trojan",
            "virus",
            "webshell",
            "worm",
            "loader",
        ],
    ),
    term("ransomware", "malicious-code", &["crypto-ransomware"]),
    term(
        "infostealer",
        "malicious-code",
        &["stealer", "info-stealer"],
    ),
    term("wiper", "malicious-code", &[]),
    term("botnet", "malicious-code", &["bot"]),
    term("infected-system", "malicious-code", &[]),
    term(
        "c2-server",
        "malicious-code",
        &["c2", "c&c", "command-and-control"],
    ),
    term("malware-distribution", "malicious-code", &["exploit-kit"]),
    term("malware-configuration", "malicious-code", &[]),
    term(
        "cryptojacking",
        "malicious-code",
        &["cryptomining", "resource-exploitation"],
    ),
    term("scanner", "information-gathering", &["scanning", "scan"]),
    term("sniffing", "information-gathering", &[]),
    term("social-engineering", "information-gathering", &[]),
    term("ids-alert", "intrusion-attempts", &[]),
    term(
        "brute-force",
        "intrusion-attempts",
        &["password-spraying", "password-spray"],
    ),
    term("credential-stuffing", "intrusion-attempts", &[]),
    term(
        "exploit",
        "intrusion-attempts",
        &["exploitation", "exploit-attempt"],
    ),
    term("privileged-account-compromise", "intrusions", &[]),
    term("unprivileged-account-compromise", "intrusions", &[]),
    term(
        "account-takeover",
        "intrusions",
        &["ato", "account-compromise"],
    ),
    term("application-compromise", "intrusions", &[]),
    term(
        "system-compromise",
        "intrusions",
        &["compromise", "intrusion"],
    ),
    term(
        "supply-chain",
        "intrusions",
        &["supply-chain-attack", "supply-chain-compromise"],
    ),
    term("burglary", "intrusions", &[]),
    term("dos", "availability", &["denial-of-service"]),
    term("ddos", "availability", &["distributed-denial-of-service"]),
    term("misconfiguration", "availability", &[]),
    term("sabotage", "availability", &[]),
    term("outage", "availability", &[]),
    term(
        "unauthorised-information-access",
        "information-content-security",
        &["unauthorized-information-access"],
    ),
    term(
        "unauthorised-information-modification",
        "information-content-security",
        &["unauthorized-information-modification"],
    ),
    term("data-loss", "information-content-security", &[]),
    term(
        "data-breach",
        "information-content-security",
        &[
            "data-leak",
            "data-leakage",
            "data-exfiltration",
            "exfiltration",
        ],
    ),
    term("fraud", "fraud", &[]),
    term(
        "phishing",
        "fraud",
        &["spear-phishing", "spearphishing", "smishing", "vishing"],
    ),
    term(
        "credential-theft",
        "fraud",
        &["credential-harvesting", "credential-phishing"],
    ),
    term("business-email-compromise", "fraud", &["bec", "ceo-fraud"]),
    term("masquerade", "fraud", &["impersonation"]),
    term(
        "unauthorised-use-of-resources",
        "fraud",
        &["unauthorized-use-of-resources"],
    ),
    term("copyright", "fraud", &[]),
    term("extortion", "fraud", &["sextortion"]),
    term(
        "vulnerability",
        "vulnerable",
        &["vulnerable", "vulnerable-system"],
    ),
    term("zero-day", "vulnerable", &["0day", "0-day"]),
    term("weak-crypto", "vulnerable", &[]),
    term("ddos-amplifier", "vulnerable", &[]),
    term("potentially-unwanted-accessible", "vulnerable", &[]),
    term("information-disclosure", "vulnerable", &[]),
    term("espionage", "other", &["cyber-espionage"]),
    term("other", "other", &[]),
    term("undetermined", "other", &[]),
    term("test", "test", &[]),
];

/// The sectors.
pub const SECTORS: &[Term] = &[
    term(
        "energy",
        "nis2-annex-i",
        &[
            "electricity",
            "oil",
            "gas",
            "hydrogen",
            "district-heating",
            "utilities",
        ],
    ),
    term(
        "transport",
        "nis2-annex-i",
        &["aviation", "air", "rail", "maritime", "shipping", "road"],
    ),
    term(
        "finance",
        "nis2-annex-i",
        &[
            "banking",
            "bank",
            "financial",
            "financial-services",
            "financial-market-infrastructure",
            "financial-market-infrastructures",
            "insurance",
        ],
    ),
    term(
        "health",
        "nis2-annex-i",
        &["healthcare", "health-care", "hospital", "pharmaceuticals"],
    ),
    term("drinking-water", "nis2-annex-i", &["water"]),
    term("waste-water", "nis2-annex-i", &["wastewater"]),
    term(
        "digital-infrastructure",
        "nis2-annex-i",
        &[
            "cloud",
            "data-centre",
            "data-center",
            "hosting",
            "dns",
            "cdn",
            "internet-exchange",
            "trust-services",
        ],
    ),
    term(
        "telecom",
        "nis2-annex-i",
        &[
            "telecommunications",
            "telecoms",
            "telco",
            "electronic-communications",
        ],
    ),
    term(
        "ict-service-management",
        "nis2-annex-i",
        &["managed-services", "msp", "mssp", "it-services"],
    ),
    term(
        "public-administration",
        "nis2-annex-i",
        &["government", "public-sector"],
    ),
    term("space", "nis2-annex-i", &[]),
    term(
        "postal",
        "nis2-annex-ii",
        &["postal-and-courier", "courier"],
    ),
    term("waste-management", "nis2-annex-ii", &[]),
    term("chemicals", "nis2-annex-ii", &["chemical"]),
    term("food", "nis2-annex-ii", &["food-production"]),
    term(
        "manufacturing",
        "nis2-annex-ii",
        &["industry", "automotive"],
    ),
    term(
        "digital-providers",
        "nis2-annex-ii",
        &[
            "online-marketplaces",
            "search-engines",
            "social-networks",
            "social-media",
        ],
    ),
    term("research", "nis2-annex-ii", &[]),
    term("education", "other", &["academia", "university"]),
    term("retail", "other", &["e-commerce", "ecommerce"]),
    term("media", "other", &[]),
    term("other", "other", &[]),
];

/// Returns the canonical category that `value` names (its own name or an alias, any case), or `None`.
pub fn category(value: &str) -> Option<&'static str> {
    lookup(CATEGORIES, value)
}

/// Returns the canonical sector that `value` names (its own name or an alias, any case), or `None`.
pub fn sector(value: &str) -> Option<&'static str> {
    lookup(SECTORS, value)
}

/// Returns the canonical category names, in vocabulary order (for error messages and the console).
pub fn category_names() -> Vec<&'static str> {
    CATEGORIES.iter().map(|term| term.name).collect()
}

/// Returns the canonical sector names, in vocabulary order.
pub fn sector_names() -> Vec<&'static str> {
    SECTORS.iter().map(|term| term.name).collect()
}

/// The longest value worth looking up: every name and alias is shorter.
const MAX_LOOKUP_CHARS: usize = 64;

fn lookup(terms: &'static [Term], value: &str) -> Option<&'static str> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_LOOKUP_CHARS {
        return None;
    }
    let mut key = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '_' || c.is_whitespace() {
            if !key.ends_with('-') {
                key.push('-');
            }
        } else {
            key.extend(c.to_lowercase());
        }
    }
    terms
        .iter()
        .find(|term| term.name == key || term.aliases.contains(&key.as_str()))
        .map(|term| term.name)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_name_and_alias_is_unique_and_in_lookup_form() {
        for terms in [CATEGORIES, SECTORS] {
            let mut seen = HashSet::new();
            for term in terms {
                for spelling in std::iter::once(&term.name).chain(term.aliases) {
                    assert!(seen.insert(*spelling), "`{spelling}` appears twice");
                    assert_eq!(
                        lookup(terms, spelling),
                        Some(term.name),
                        "`{spelling}` does not look up to its term"
                    );
                    assert!(spelling.len() <= MAX_LOOKUP_CHARS);
                }
            }
        }
    }

    #[test]
    fn lookups_canonicalize_case_blanks_and_aliases() {
        assert_eq!(category(" Phishing "), Some("phishing"));
        assert_eq!(category("Spear Phishing"), Some("phishing"));
        assert_eq!(category("DATA_BREACH"), Some("data-breach"));
        assert_eq!(category("trojan"), Some("malware"));
        assert_eq!(category("credential-theft"), Some("credential-theft"));
        assert_eq!(sector(" Finance"), Some("finance"));
        assert_eq!(sector("banking"), Some("finance"));
        assert_eq!(
            sector("Public Administration"),
            Some("public-administration")
        );
    }

    #[test]
    fn free_text_is_not_a_category_or_sector() {
        for value in [
            "",
            " ",
            "John Smith",
            "jane.doe@bank-a.example",
            "+49 30 1234567",
            "phishing against Jane",
            "*",
            &"a".repeat(1000),
        ] {
            assert_eq!(category(value), None, "{value}");
            assert_eq!(sector(value), None, "{value}");
        }
    }

    #[test]
    fn the_spellings_reports_use_are_known() {
        for value in [
            "phishing",
            "ransomware",
            "malware",
            "ddos",
            "fraud",
            "data-breach",
        ] {
            assert_eq!(category(value), Some(value));
        }
        for value in [
            "finance",
            "telecom",
            "energy",
            "health",
            "transport",
            "digital-infrastructure",
            "public-administration",
        ] {
            assert_eq!(sector(value), Some(value));
        }
    }
}
