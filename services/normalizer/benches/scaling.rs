//! Input-size scaling of everything a submission goes through before and in the normalizer (docs/fuzzing.md): each
//! case runs at size n and 4n and prints both times and their ratio. Linear work takes about 4× as long at 4n,
//! quadratic work 16×; a case whose ratio exceeds [`MAX_RATIO`] is flagged and the run exits non-zero.
//!
//! A measurement, not a test: timings depend on the machine, so this is run on demand
//! (`scripts/fuzz.sh scaling`), never as part of `cargo test`. `cargo bench -p accord-normalizer --bench scaling`
//! runs it optimized; `-- FILTER` runs only the cases whose name contains FILTER.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use accord_domain::{
    OrgId, RawReport, ReportFormat, ReportId, TextField,
    observable::{canonicalize, refang},
};
use accord_fuzz::text::{SCALING_UNITS, repeat};
use accord_normalizer::{extract, normalize, pii};
use accord_stix::{bundle_to_report, misp_event_to_report, pattern};
use serde_json::{Value, json};

/// The largest acceptable time ratio between size 4n and size n (linear: about 4, quadratic: about 16).
const MAX_RATIO: f64 = 8.0;

/// The best of five runs (the least disturbed by the machine's other work).
fn best_of_five(run: &dyn Fn()) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn raw(payload: Value) -> RawReport {
    RawReport {
        revision: None,
        id: ReportId::random(),
        partner: OrgId::parse("bank-a").expect("a valid id"),
        received_at: chrono::Utc::now(),
        default_tlp: None,
        format: ReportFormat::Native,
        payload,
        objects: Vec::new(),
        warnings: Vec::new(),
    }
}

fn report(indicators: Vec<Value>, patterns: Vec<Value>, description: String) -> Value {
    json!({
        "title": "t", "occurred_at": "2026-01-01T00:00:00Z", "classification": "unclassified", "tlp": "amber",
        "indicators": indicators, "patterns": patterns, "description": description,
    })
}

fn address(index: usize) -> String {
    format!(
        "10.{}.{}.{}",
        index / 65_536 % 256,
        index / 256 % 256,
        index % 256
    )
}

/// `(name, base size, input builder, work)`: the work runs on the input built for a size.
type Case = (String, usize, Box<dyn Fn(usize) -> Value>, fn(&Value));

fn text_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for unit in SCALING_UNITS {
        let build = move |bytes: usize| json!(repeat(unit, bytes));
        cases.push((
            format!("extract {unit:?}"),
            50_000,
            Box::new(build),
            |input| {
                black_box(extract::indicators(input.as_str().unwrap_or_default()));
            },
        ));
        cases.push((format!("pii {unit:?}"), 50_000, Box::new(build), |input| {
            black_box(pii::locate(
                TextField::Description,
                input.as_str().unwrap_or_default(),
            ));
        }));
    }
    cases.push((
        "extract url and closing brackets".to_owned(),
        50_000,
        Box::new(|n| json!(format!("http://a.com/{}", ")".repeat(n)))),
        |input| {
            black_box(extract::indicators(input.as_str().unwrap_or_default()));
        },
    ));
    cases.push((
        "pii name cues on one line".to_owned(),
        50_000,
        Box::new(|n| json!(repeat("x name: John Smith ", n))),
        |input| {
            black_box(pii::locate(
                TextField::Description,
                input.as_str().unwrap_or_default(),
            ));
        },
    ));
    cases.push((
        "refang nested brackets".to_owned(),
        20_000,
        Box::new(|n| json!(format!("{}.{}", "[".repeat(n), "]".repeat(n)))),
        |input| {
            black_box(refang(input.as_str().unwrap_or_default()));
        },
    ));
    cases.push((
        "canonicalize long url".to_owned(),
        50_000,
        Box::new(|n| json!(format!("http://a.com/{}", ")".repeat(n)))),
        |input| {
            black_box(canonicalize(None, input.as_str().unwrap_or_default()).ok());
        },
    ));
    cases
}

fn report_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    cases.push((
        "normalize declared indicators".to_owned(),
        10_000,
        Box::new(|n| {
            report(
                (0..n)
                    .chain(0..n)
                    .map(|index| json!({ "value": address(index) }))
                    .collect(),
                Vec::new(),
                String::new(),
            )
        }),
        |input| {
            black_box(normalize(&raw(input.clone())).ok());
        },
    ));
    cases.push((
        "normalize pattern IN set".to_owned(),
        1_000,
        Box::new(|n| {
            let values: Vec<String> = (0..n)
                .map(|index| format!("'{}'", address(index)))
                .collect();
            let pattern =
                json!({ "pattern": format!("[ipv4-addr:value IN ({})]", values.join(",")) });
            report(Vec::new(), vec![pattern], String::new())
        }),
        |input| {
            black_box(normalize(&raw(input.clone())).ok());
        },
    ));
    cases.push((
        "normalize text indicators".to_owned(),
        5_000,
        Box::new(|n| {
            report(
                Vec::new(),
                Vec::new(),
                (0..n).map(|index| format!("{} ", address(index))).collect(),
            )
        }),
        |input| {
            black_box(normalize(&raw(input.clone())).ok());
        },
    ));
    cases.push((
        "parse OR chain".to_owned(),
        400,
        Box::new(|n| json!(pattern_chain(n))),
        |input| {
            black_box(
                pattern::parse(input.as_str().unwrap_or_default())
                    .ok()
                    .map(|parsed| parsed.observables()),
            );
        },
    ));
    cases.push(("bundle observables".to_owned(), 5_000, Box::new(|n| {
        let objects: Vec<Value> = (0..n)
            .map(|index| json!({ "type": "ipv4-addr", "id": format!("ipv4-addr--00000000-0000-4000-8000-{index:012}"), "value": address(index) }))
            .collect();
        json!({ "type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects })
    }), |input| {
        black_box(bundle_to_report(input, Some(accord_domain::Tlp::Amber)).ok());
    }));
    cases.push((
        "misp attributes".to_owned(),
        5_000,
        Box::new(|n| {
            let attributes: Vec<Value> = (0..n)
                .map(|index| json!({ "type": "ip-dst", "value": address(index) }))
                .collect();
            json!({ "Event": { "info": "x", "Attribute": attributes } })
        }),
        |input| {
            black_box(misp_event_to_report(input, Some(accord_domain::Tlp::Amber)).ok());
        },
    ));
    cases
}

fn pattern_chain(n: usize) -> String {
    let tests: Vec<String> = (0..n)
        .map(|index| format!("ipv4-addr:value = '{}'", address(index)))
        .collect();
    format!("[{}]", tests.join(" OR "))
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with('-'));
    let mut flagged = Vec::new();
    println!(
        "{:<44} {:>8} {:>12} {:>12} {:>7}",
        "case", "n", "time(n)", "time(4n)", "ratio"
    );
    for (name, n, build, work) in text_cases().into_iter().chain(report_cases()) {
        if filter
            .as_deref()
            .is_some_and(|filter| !name.contains(filter))
        {
            continue;
        }
        let (small, large) = (build(n), build(4 * n));
        let measure = || {
            let small_time = best_of_five(&|| work(&small));
            let large_time = best_of_five(&|| work(&large));
            (
                small_time,
                large_time,
                large_time.as_secs_f64() / small_time.as_secs_f64().max(1e-9),
            )
        };
        let mut measured = measure();
        if measured.2 > MAX_RATIO {
            // Measured again before it is flagged: a busy machine distorts one measurement, not two.
            measured = measure();
        }
        let (small_time, large_time, ratio) = measured;
        let flag = if ratio > MAX_RATIO && large_time > Duration::from_millis(5) {
            " super-linear"
        } else {
            ""
        };
        println!("{name:<44} {n:>8} {small_time:>12.2?} {large_time:>12.2?} {ratio:>7.1}{flag}");
        if !flag.is_empty() {
            flagged.push(name);
        }
    }
    if !flagged.is_empty() {
        eprintln!("super-linear: {flagged:?}");
        std::process::exit(1);
    }
}
