//! Precision and recall of every detector on the labelled sample `tests/data/pii-sample.txt`, with the floors each
//! must keep (docs/pii.md reports the figures). A found span counts as right when it overlaps a labelled span of the
//! same kind; a labelled span counts as found when a found span of its kind overlaps it.

use accord_domain::{PiiKind, TextField};

use super::locate;

const SAMPLE: &str = include_str!("../../../../tests/data/pii-sample.txt");

/// `(kind, minimum precision, minimum recall)`.
const FLOORS: [(PiiKind, f64, f64); 6] = [
    (PiiKind::Email, 0.99, 0.99),
    (PiiKind::Phone, 0.95, 0.95),
    (PiiKind::Name, 0.95, 0.85),
    (PiiKind::Iban, 0.99, 0.99),
    (PiiKind::Card, 0.99, 0.99),
    (PiiKind::Account, 0.99, 0.99),
];

/// One labelled sentence: the text and its labelled spans.
struct Labelled {
    text: String,
    spans: Vec<(PiiKind, usize, usize)>,
}

fn kind_named(name: &str) -> PiiKind {
    match name {
        "email" => PiiKind::Email,
        "phone" => PiiKind::Phone,
        "iban" => PiiKind::Iban,
        "card" => PiiKind::Card,
        "account" => PiiKind::Account,
        "name" => PiiKind::Name,
        other => panic!("unknown label `{other}` in the sample"),
    }
}

/// Parses `{{kind:text}}` labels out of a line.
fn parse(line: &str) -> Labelled {
    let mut text = String::new();
    let mut spans = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find("{{") {
        text.push_str(&rest[..open]);
        let close = rest[open..].find("}}").expect("a label is closed") + open;
        let (kind, value) = rest[open + 2..close]
            .split_once(':')
            .expect("a label has a kind");
        spans.push((kind_named(kind), text.len(), text.len() + value.len()));
        text.push_str(value);
        rest = &rest[close + 2..];
    }
    text.push_str(rest);
    Labelled { text, spans }
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    found_right: usize,
    found_wrong: usize,
    labelled_found: usize,
    labelled_missed: usize,
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn every_detector_keeps_its_precision_and_recall_on_the_labelled_sample() {
    let lines: Vec<Labelled> = SAMPLE
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(parse)
        .collect();
    assert!(
        lines.len() >= 400,
        "the sample has {} sentences",
        lines.len()
    );
    let mut counts = [Counts::default(); 6];
    let mut mistakes = Vec::new();
    for labelled in &lines {
        let found = locate(TextField::Description, &labelled.text);
        for (slot, kind) in PiiKind::ALL.iter().enumerate() {
            let gold: Vec<(usize, usize)> = labelled
                .spans
                .iter()
                .filter(|(k, _, _)| k == kind)
                .map(|(_, s, e)| (*s, *e))
                .collect();
            let predicted: Vec<(usize, usize)> = found
                .iter()
                .filter(|m| m.kind == *kind)
                .map(|m| (m.start, m.end))
                .collect();
            for span in &predicted {
                if gold.iter().any(|g| overlaps(*g, *span)) {
                    counts[slot].found_right += 1;
                } else {
                    counts[slot].found_wrong += 1;
                    mistakes.push(format!(
                        "false {kind:?}: {:?} in {:?}",
                        &labelled.text[span.0..span.1],
                        labelled.text
                    ));
                }
            }
            for span in &gold {
                if predicted.iter().any(|p| overlaps(*p, *span)) {
                    counts[slot].labelled_found += 1;
                } else {
                    counts[slot].labelled_missed += 1;
                    mistakes.push(format!(
                        "missed {kind:?}: {:?} in {:?}",
                        &labelled.text[span.0..span.1],
                        labelled.text
                    ));
                }
            }
        }
    }
    println!(
        "{} sentences; kind: labelled, precision, recall",
        lines.len()
    );
    let mut failures = Vec::new();
    for (slot, (kind, min_precision, min_recall)) in FLOORS.iter().enumerate() {
        assert_eq!(PiiKind::ALL[slot], *kind);
        let c = counts[slot];
        let precision = c.found_right as f64 / (c.found_right + c.found_wrong).max(1) as f64;
        let recall = c.labelled_found as f64 / (c.labelled_found + c.labelled_missed).max(1) as f64;
        println!(
            "{kind:?}: {}, {precision:.3}, {recall:.3}",
            c.labelled_found + c.labelled_missed
        );
        assert!(
            c.labelled_found + c.labelled_missed >= 20,
            "too few {kind:?} labels"
        );
        if precision < *min_precision || recall < *min_recall {
            failures.push(format!("{kind:?}: precision {precision:.3} (floor {min_precision}), recall {recall:.3} (floor {min_recall})"));
        }
    }
    for mistake in &mistakes {
        println!("{mistake}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
