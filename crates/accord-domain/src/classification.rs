//! The classification guard: Accord carries unclassified material only.
//!
//! A native report states its classification in one field ([`is_unclassified`]); a STIX bundle or a MISP event
//! carries it, if at all, in free-text markings (a STIX statement marking, a MISP tag). [`classified_marking`] scans
//! such a text for a protective marking — national (US, UK, DE, FR, IT, ES, NL), NATO and EU forms — and names the
//! first one found. Matching is case- and accent-insensitive and whole-word, so `UNCLASSIFIED`, `secretary` or
//! `confidentiality` do not trigger it, while `Secret`, `NATO SECRET` or `VS-NfD` do. It errs on the side of refusing:
//! a statement that merely mentions a marking ("not SECRET") is refused too.

/// The markings refused, longest first so that the most specific form is the one named. Written without accents and
/// in upper case; texts are folded the same way before matching.
const MARKINGS: &[&str] = &[
    "VS-NUR FUR DEN DIENSTGEBRAUCH",
    "CONFIDENTIEL DEFENSE",
    "TRES SECRET DEFENSE",
    "DIFFUSION RESTREINTE",
    "COSMIC TOP SECRET",
    "NATO CONFIDENTIAL",
    "NATO RESTRICTED",
    "TRES SECRET UE",
    "CONFIDENTIEL UE",
    "EU CONFIDENTIAL",
    "EU TOP SECRET",
    "VS-VERTRAULICH",
    "EU RESTRICTED",
    "STRENG GEHEIM",
    "SECRET DEFENSE",
    "RESTREINT UE",
    "NATO SECRET",
    "TOP SECRET",
    "TRES SECRET",
    "STG GEHEIM",
    "SECRET UE",
    "EU SECRET",
    "RISERVATISSIMO",
    "DIFUSION LIMITADA",
    "CONFIDENCIAL",
    "STAATSGEHEIM",
    "CONFIDENTIAL",
    "CONFIDENTIEL",
    "RESTRICTED",
    "RISERVATO",
    "RESERVADO",
    "CLASSIFIED",
    "VERTRAULICH",
    "SEGRETISSIMO",
    "SEGRETO",
    "SECRETO",
    "GEHEIM",
    "NOFORN",
    "ORCON",
    "SECRET",
    "VS-NFD",
    "NATO-SECRET",
    "TS//SCI",
    "TS/SCI",
    "S//NF",
    "C//NF",
];

/// Returns `true` when a native report's `classification` field says `unclassified` (any case, surrounding spaces
/// ignored). Anything else is classified material and is refused.
pub fn is_unclassified(label: &str) -> bool {
    label.trim().eq_ignore_ascii_case("unclassified")
}

/// Returns the first protective marking found in `text` (in its canonical upper-case form), or `None` when the text
/// carries none. See the module documentation for what is matched.
pub fn classified_marking(text: &str) -> Option<&'static str> {
    let folded = fold(text);
    MARKINGS
        .iter()
        .copied()
        .find(|marking| contains_word(&folded, marking))
}

/// Upper-cases `text`, drops the accents Accord's markings use (`Ü` → `U`, `É`/`È` → `E`, `Ó` → `O`) and turns
/// every run of whitespace into one space.
fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let mut last_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !last_space {
                folded.push(' ');
            }
            last_space = true;
            continue;
        }
        last_space = false;
        let plain = match c {
            'ü' | 'Ü' | 'ú' | 'Ú' | 'ù' | 'Ù' | 'û' | 'Û' => 'U',
            'é' | 'É' | 'è' | 'È' | 'ê' | 'Ê' | 'ë' | 'Ë' => 'E',
            'ó' | 'Ó' | 'ò' | 'Ò' | 'ô' | 'Ô' | 'ö' | 'Ö' => 'O',
            'á' | 'Á' | 'à' | 'À' | 'â' | 'Â' | 'ä' | 'Ä' => 'A',
            'í' | 'Í' | 'ì' | 'Ì' | 'î' | 'Î' | 'ï' | 'Ï' => 'I',
            other => other,
        };
        folded.extend(plain.to_uppercase());
    }
    folded
}

/// Returns `true` when `needle` occurs in `haystack` with no letter or digit directly before or after it.
fn contains_word(haystack: &str, needle: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric();
    let mut start = 0;
    while let Some(found) = haystack[start..].find(needle) {
        let begin = start + found;
        let end = begin + needle.len();
        let before_ok = !haystack[..begin].chars().next_back().is_some_and(is_word);
        let after_ok = !haystack[end..].chars().next().is_some_and(is_word);
        if before_ok && after_ok {
            return true;
        }
        // `needle` is ASCII, so one byte past `begin` is still a char boundary.
        start = begin + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_classification_must_say_unclassified() {
        assert!(is_unclassified(" Unclassified "));
        assert!(!is_unclassified("secret"));
        assert!(!is_unclassified(""));
    }

    #[test]
    fn national_nato_and_eu_markings_are_found() {
        for (text, marking) in [
            ("SECRET", "SECRET"),
            ("Secret//NOFORN", "NOFORN"),
            ("TOP SECRET//SI", "TOP SECRET"),
            ("Confidential", "CONFIDENTIAL"),
            ("RESTRICTED - handle accordingly", "RESTRICTED"),
            ("NATO SECRET", "NATO SECRET"),
            ("nato   restricted", "NATO RESTRICTED"),
            ("EU RESTRICTED", "EU RESTRICTED"),
            ("RESTREINT UE/EU RESTRICTED", "EU RESTRICTED"),
            (
                "VS-NUR FÜR DEN DIENSTGEBRAUCH",
                "VS-NUR FUR DEN DIENSTGEBRAUCH",
            ),
            ("VS-NfD", "VS-NFD"),
            ("Diffusion Restreinte", "DIFFUSION RESTREINTE"),
            ("Confidentiel Défense", "CONFIDENTIEL DEFENSE"),
            ("RESTREINT UE", "RESTREINT UE"),
            ("Geheim", "GEHEIM"),
        ] {
            assert_eq!(classified_marking(text), Some(marking), "{text}");
        }
    }

    #[test]
    fn unclassified_statements_pass() {
        for text in [
            "UNCLASSIFIED",
            "Copyright 2026 Bank A. Shared under the Accord MoU.",
            "The secretary asked for confidentiality of the victim's name",
            "Declassified",
            "TLP:AMBER, shared under the MoU with the national unit",
            "",
        ] {
            assert_eq!(classified_marking(text), None, "{text}");
        }
    }
}
