//! Table tests of PII location.

use super::*;

/// `(text, expected (kind, located text) in order)`.
const CASES: &[(&str, &[(PiiKind, &str)])] = &[
    (
        "Write to john.doe@bank-a.de for details.",
        &[(PiiKind::Email, "john.doe@bank-a.de")],
    ),
    (
        "Phish came from admin[at]evil[.]com.",
        &[(PiiKind::Email, "admin[at]evil[.]com")],
    ),
    (
        "Call +49 30 1234567 or +1 (555) 123-4567.",
        &[
            (PiiKind::Phone, "+49 30 1234567"),
            (PiiKind::Phone, "+1 (555) 123-4567"),
        ],
    ),
    (
        "Hotline 030 1234567, mobile 0171-2345678.",
        &[
            (PiiKind::Phone, "030 1234567"),
            (PiiKind::Phone, "0171-2345678"),
        ],
    ),
    (
        "US desk (555) 123-4567 or 555.123.4567.",
        &[
            (PiiKind::Phone, "(555) 123-4567"),
            (PiiKind::Phone, "555.123.4567"),
        ],
    ),
    (
        "On 10.01.2026 0171 2345678 called.",
        &[(PiiKind::Phone, "0171 2345678")],
    ),
    ("C2 45.155.205.172 and 192.168.100.200 beaconed.", &[]),
    (
        "Dates 01.02.2026, 2026-11-20 and 20/11/2026 are not phones.",
        &[],
    ),
    (
        "Hash d41d8cd98f00b204e9800998ecf8427e and 01234567890123456789012345678901.",
        &[],
    ),
    (
        "Exploited CVE-2021-44228 via T1566.002 on https://evil.com/0301234567.",
        &[],
    ),
    (
        "Mr. John Smith reported it to Dr. Müller.",
        &[(PiiKind::Name, "John Smith"), (PiiKind::Name, "Müller")],
    ),
    (
        "Contact: Jane O'Brien-Smith, ext. 12",
        &[(PiiKind::Name, "Jane O'Brien-Smith")],
    ),
    (
        "Point of contact: Jean-Luc Picard\nName: Ada Lovelace",
        &[
            (PiiKind::Name, "Jean-Luc Picard"),
            (PiiKind::Name, "Ada Lovelace"),
        ],
    ),
    (
        "contact: Security Team; contact: SOC; file name: Invoice Final.pdf",
        &[],
    ),
    ("The host name: Mail Server was down.", &[]),
    (
        "Ms J. Doe wrote from j.doe@bank-a.de, +44 20 7946 0958.",
        &[
            (PiiKind::Name, "J. Doe"),
            (PiiKind::Email, "j.doe@bank-a.de"),
            (PiiKind::Phone, "+44 20 7946 0958"),
        ],
    ),
    (
        "No personal data here: version 1.2.3, port 8080, 12345678 bytes.",
        &[],
    ),
];

#[test]
fn located_ranges_are_the_expected_text() {
    for (text, expected) in CASES {
        let located = locate(TextField::Description, text);
        let found: Vec<(PiiKind, &str)> = located
            .iter()
            .map(|found| (found.kind, &text[found.start..found.end]))
            .collect();
        assert_eq!(found, *expected, "in {text:?}");
        assert!(
            located
                .iter()
                .all(|found| found.field == TextField::Description)
        );
    }
}

#[test]
fn ranges_are_sorted_disjoint_and_on_char_boundaries() {
    let text =
        "Ünïcödé Dr. Łukasz Nowak — łukasz@bank-ä.pl, +48 22 123 45 67; contact: Zoë Kravitz";
    let located = locate(TextField::Title, text);
    assert_eq!(located.len(), 4, "{located:?}");
    for pair in located.windows(2) {
        assert!(pair[0].end <= pair[1].start);
    }
    for found in &located {
        assert!(text.is_char_boundary(found.start) && text.is_char_boundary(found.end));
        assert_eq!(found.field, TextField::Title);
    }
}
