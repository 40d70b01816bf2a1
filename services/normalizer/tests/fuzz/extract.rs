//! Indicators found in free text.

use std::collections::HashSet;

use accord_domain::{ObservableType, observable::canonicalize};
use accord_fuzz::{proptest::prelude::*, text};
use accord_normalizer::extract::{MIN_BYTES_PER_INDICATOR, indicators};

/// Checks what extraction promises for `text`: canonical values (each canonicalizes to itself with its type), no
/// repeats, and at most one indicator per [`MIN_BYTES_PER_INDICATOR`] bytes of text.
pub(crate) fn check(text: &str) -> Result<Vec<(ObservableType, String)>, TestCaseError> {
    let found = indicators(text);
    let mut seen = HashSet::new();
    for (kind, value) in &found {
        prop_assert_eq!(
            canonicalize(Some(*kind), value),
            Ok((*kind, value.clone())),
            "extracted {} {:?} is not canonical",
            kind,
            value
        );
        prop_assert!(
            seen.insert((*kind, value.as_str())),
            "{kind} {value:?} twice"
        );
    }
    prop_assert!(
        found.len() <= text.len() / MIN_BYTES_PER_INDICATOR + 1,
        "{} indicators in {} bytes",
        found.len(),
        text.len()
    );
    Ok(found)
}

proptest! {
    #![proptest_config(accord_fuzz::config(2_000))]

    #[test]
    fn prose_yields_canonical_unique_indicators(text in text::prose(80)) {
        check(&text)?;
    }

    #[test]
    fn adversarial_text_yields_canonical_unique_indicators(text in text::adversarial(20_000)) {
        check(&text)?;
    }

    #[test]
    fn a_delimited_address_or_cve_in_prose_is_found(
        before in text::prose(20),
        after in text::prose(20),
        octets in prop::array::uniform4(1u8..=254),
        sequence in 1000u32..10_000_000,
    ) {
        let address = format!("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]);
        let cve = format!("CVE-2024-{sequence}");
        // Line breaks, not blanks: a bracketed `[.]` swallows the blanks around it (`com [.] 1.2.3.4` is one name).
        let text = format!("{before}\n{address}\n,\n{cve}\n{after}");
        let found = check(&text)?;
        prop_assert!(found.contains(&(ObservableType::Ipv4Addr, address.clone())), "{address} not in {found:?}");
        prop_assert!(found.contains(&(ObservableType::Vulnerability, cve.clone())), "{cve} not in {found:?}");
    }
}

/// Each scaling unit repeated to 4 KB and to 16 KB: what is found stays canonical, unique and within the bound, and
/// grows at most in proportion to the text.
#[test]
fn extraction_output_grows_at_most_linearly() {
    for unit in text::SCALING_UNITS {
        let small =
            check(&text::repeat(unit, 4_000)).unwrap_or_else(|error| panic!("{unit:?}: {error}"));
        let large =
            check(&text::repeat(unit, 16_000)).unwrap_or_else(|error| panic!("{unit:?}: {error}"));
        assert!(
            large.len() <= 4 * small.len() + 4,
            "{unit:?}: {} then {}",
            small.len(),
            large.len()
        );
    }
}
