//! Fuzz targets of the observable canonicalizers (docs/fuzzing.md): refanging, detection and the canonical form of
//! every type, driven by structure-aware generators of valid, defanged and mutated values.
//!
//! Properties: nothing panics; refanging never grows a value; a refanged value detected as a type canonicalizes as
//! that type (or is refused as invalid for it); a canonical value is a fixed point (canonicalizing it
//! again, with its type or by detection when it was detected, gives it back); a value defanged the usual ways
//! canonicalizes like the plain value; canonical values stay within a bounded size of their input; a `file` value's
//! form agrees with the form asked for.

use accord_domain::{
    ObservableType,
    observable::{
        FileForm, IpBlock, ObservableError, canonicalize, canonicalize_declared, canonicalize_file,
        containing_networks, detect, hash_algorithm, refang, refang_text,
    },
};
use accord_fuzz::{
    observables::{self as generate, TYPE_NAMES},
    proptest::prelude::*,
};

/// Canonical values are at most this many times as long as their input (percent-encoding triples a byte; IDNA turns a
/// short Unicode label into `xn--` and its encoding), plus [`SLACK`] bytes (`http://` and a `/`).
const GROWTH: usize = 4;
const SLACK: usize = 16;

fn any_raw() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => generate::wild_value(),
        1 => ".{0,40}",
        1 => "[0-9a-fA-F:.\\[\\]/%]{0,48}",
    ]
}

/// Values whose defanged form must read back exactly: no blanks, no brackets or quotes that refanging would also
/// consume, no defanged-looking scheme already in them.
fn reversibly_defangable(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    !value
        .chars()
        .any(|c| c.is_whitespace() || "[](){}<>\"'`\u{201c}\u{201d}\u{2018}\u{2019}".contains(c))
        && !lower.contains("xx")
        && !lower.contains("fxp")
        && !lower.contains("**")
        && !lower.contains(" dot ")
}

proptest! {
    #![proptest_config(accord_fuzz::config(3_000))]

    #[test]
    fn refanging_never_grows_a_value(raw in any_raw()) {
        prop_assert!(refang(&raw).len() <= raw.len());
        prop_assert!(refang_text(&raw).len() <= raw.len());
    }

    #[test]
    fn a_canonical_value_is_a_fixed_point((generated, raw) in generate::wild_typed_value(), declare in any::<bool>()) {
        let declared = if declare { generated.parse::<ObservableType>().ok() } else { None };
        let Ok((kind, canonical)) = canonicalize(declared, &raw) else {
            return Ok(());
        };
        prop_assert!(canonical.len() <= GROWTH * raw.len() + SLACK, "{raw:?} became {canonical:?}");
        prop_assert_eq!(canonicalize(Some(kind), &canonical), Ok((kind, canonical.clone())), "raw {:?}", raw);
        if declared.is_none() {
            // Detected once, detected again as the same type: a lookup of the canonical value finds what was stored.
            prop_assert_eq!(detect(&canonical), Some(kind), "raw {:?}", raw);
            prop_assert_eq!(canonicalize(None, &canonical), Ok((kind, canonical.clone())), "raw {:?}", raw);
        }
        if kind == ObservableType::File {
            prop_assert_eq!(FileForm::of(&canonical) == FileForm::Hash, hash_algorithm(&canonical).is_some());
        }
        if matches!(kind, ObservableType::Ipv4Addr | ObservableType::Ipv6Addr) && !canonical.contains('/') {
            let address = canonical.parse().expect("a canonical address parses");
            let networks = containing_networks(address);
            // The address as the index matches it: an IPv4-mapped address is the IPv4 address it maps.
            let block = IpBlock::of(kind, &canonical).expect("a canonical address is a block");
            prop_assert_eq!(&networks[0], &block.to_string());
            prop_assert_eq!(block.to_string() == canonical, address.to_canonical() == address);
        }
    }

    #[test]
    fn any_string_canonicalizes_without_panicking(raw in any_raw(), declared in prop::option::of(prop::sample::select(TYPE_NAMES))) {
        match canonicalize_declared(declared, &raw) {
            Ok((kind, canonical)) => {
                prop_assert_eq!(canonicalize(Some(kind), &canonical), Ok((kind, canonical.clone())), "raw {:?}", raw);
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn a_value_detected_as_a_type_canonicalizes_as_that_type(raw in any_raw()) {
        let Some(detected) = detect(&refang(&raw)) else {
            return Ok(());
        };
        match canonicalize(None, &raw) {
            Ok((kind, _)) | Err(ObservableError::Invalid { kind, .. }) => prop_assert_eq!(kind, detected, "raw {:?}", raw),
            Err(error) => prop_assert!(false, "{raw:?} was detected as {detected}, then: {error}"),
        }
    }

    #[test]
    fn a_file_value_has_the_form_asked_for(raw in prop_oneof![generate::hash(), generate::file_name(), any_raw()], hash in any::<bool>()) {
        let form = if hash { FileForm::Hash } else { FileForm::Name };
        if let Ok(canonical) = canonicalize_file(&raw, form) {
            prop_assert_eq!(FileForm::of(&canonical), form);
            prop_assert_eq!(canonicalize_file(&canonical, form), Ok(canonical.clone()));
        }
    }

    #[test]
    fn a_defanged_value_canonicalizes_like_the_plain_one(
        (generated, value) in generate::typed_value(),
        choices in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        if !reversibly_defangable(&value) {
            return Ok(());
        }
        let declared = generated.parse::<ObservableType>().ok();
        let defanged = generate::defang_reversibly(&value, &choices);
        // Error messages quote the value as written, so only the outcomes are compared.
        prop_assert_eq!(canonicalize(None, &defanged).ok(), canonicalize(None, &value).ok(), "defanged as {:?}", defanged);
        prop_assert_eq!(
            canonicalize(declared, &defanged).ok(),
            canonicalize(declared, &value).ok(),
            "defanged as {:?}",
            defanged
        );
    }
}
