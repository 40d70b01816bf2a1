//! Personal data located in free text.

use accord_domain::TextField;
use accord_fuzz::{proptest::prelude::*, text};
use accord_normalizer::pii::locate;

/// Checks the ranges `locate` returns for `text`: sorted, non-overlapping, non-empty, inside the text, on character
/// boundaries, for the field asked about.
fn check(field: TextField, text: &str) -> Result<(), TestCaseError> {
    let found = locate(field, text);
    let mut end_of_previous = 0;
    for found in &found {
        prop_assert!(found.start < found.end, "{found:?} is empty");
        prop_assert!(
            found.start >= end_of_previous,
            "{found:?} overlaps or is out of order"
        );
        prop_assert!(found.end <= text.len(), "{found:?} ends past the text");
        prop_assert!(
            text.is_char_boundary(found.start) && text.is_char_boundary(found.end),
            "{found:?} splits a character"
        );
        prop_assert_eq!(found.field, field);
        end_of_previous = found.end;
    }
    Ok(())
}

proptest! {
    #![proptest_config(accord_fuzz::config(2_000))]

    #[test]
    fn ranges_are_sorted_disjoint_and_on_char_boundaries(text in text::prose(80), title in any::<bool>()) {
        let field = if title { TextField::Title } else { TextField::Description };
        check(field, &text)?;
    }

    #[test]
    fn adversarial_text_gives_valid_ranges(text in text::adversarial(20_000)) {
        check(TextField::Description, &text)?;
    }
}
