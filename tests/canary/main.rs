//! The canary property test of issue 15 ("redaction holds everywhere"), at the library level: thousands of native
//! reports, STIX bundles and MISP events, each with a canary of a random kind (e-mail, phone, IBAN, card, account
//! number, names with and without a cue, an e-mail or account number in a URL query, a name in a file name) in every
//! field, go through the same code as in production: conversion (`accord_stix`), normalization
//! (`accord_normalizer::normalize`), release under the MoUs (`accord_policy::release`, which renders every view) and
//! STIX export (`accord_stix::export`). Under `pii: redact` no canary's secret may appear in the view an agency gets
//! (content: what search answers, indexes and TAXII serves) nor in its STIX export; under `pii: share` the canaries
//! of the narrative arrive (so the test can fail), and a redacted URL's host is still released on its own.
//!
//! `ACCORD_CANARY_SEED` replays a run (the seed is printed); `ACCORD_CANARY_CASES` sets the number of cases.

mod pipeline;
mod submissions;

use std::collections::{BTreeSet, HashMap};

use accord_domain::{
    Attribution, ContentPart, Mou, MouId, MouStatus, MouVersion, OrgId, OrgKind, Organization,
    PiiRule, Purpose, RawReport, ReportFormat, ReportId, Scope, Timestamp, Tlp, View,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

use submissions::Submission;

fn ts(value: &str) -> Timestamp {
    value.parse().unwrap()
}

fn org(id: &str, kind: OrgKind, country: &str) -> Organization {
    Organization {
        id: OrgId::parse(id).unwrap(),
        name: id.to_uppercase(),
        kind,
        country: country.to_owned(),
        sector: None,
        default_tlp: None,
        created_at: ts("2025-01-01T00:00:00Z"),
    }
}

/// `bank-a` shares everything with `ncu-de` under `pii: redact` and with `police-fr` under `pii: share`.
fn mous() -> Vec<MouVersion> {
    let mou = |id: &str, agency: &str, pii: PiiRule| MouVersion {
        reason: None,
        mou: Mou {
            id: MouId::parse(id).unwrap(),
            title: id.to_owned(),
            status: MouStatus::Active,
            providers: BTreeSet::from([OrgId::parse("bank-a").unwrap()]),
            recipients: BTreeSet::from([OrgId::parse(agency).unwrap()]),
            effective_from: ts("2026-01-01T00:00:00Z"),
            expires_at: ts("2027-12-31T23:59:59Z"),
            max_tlp: Tlp::Red,
            content: BTreeSet::from([
                ContentPart::Indicators,
                ContentPart::Narrative,
                ContentPart::Victim,
            ]),
            categories: Scope::Any,
            sectors: Scope::Any,
            indicator_types: Scope::Any,
            purposes: BTreeSet::from([Purpose::Investigation]),
            pii,
            attribution: Attribution::Named,
            feedback: Default::default(),
            recipient_countries: Scope::Any,
            retention_days: 365,
        },
        version: 1,
        changed_by: "tok-coordinator".to_owned(),
        changed_at: ts("2025-12-01T00:00:00Z"),
    };
    vec![
        mou("mou-redact", "ncu-de", PiiRule::Redact),
        mou("mou-share", "police-fr", PiiRule::Share),
    ]
}

/// Converts a submission as the gateway does and normalizes it.
fn normalized(submission: &Submission, number: u64) -> accord_domain::NormalizedReport {
    let payload = match submission.format {
        ReportFormat::Native => submission.payload.clone(),
        ReportFormat::Stix => serde_json::to_value(
            accord_stix::bundle_to_report(&submission.payload, Some(Tlp::Amber)).unwrap(),
        )
        .unwrap(),
        ReportFormat::Misp => serde_json::to_value(
            accord_stix::misp_event_to_report(&submission.payload, Some(Tlp::Amber)).unwrap(),
        )
        .unwrap(),
    };
    let raw = RawReport {
        revision: None,
        id: ReportId::for_idempotency_key(
            &accord_domain::ReportIdKey::new([0; 32]),
            &OrgId::parse("bank-a").unwrap(),
            &number.to_string(),
        ),
        partner: OrgId::parse("bank-a").unwrap(),
        received_at: ts("2026-11-20T09:00:00Z"),
        default_tlp: None,
        format: submission.format,
        payload,
        objects: Vec::new(),
        warnings: Vec::new(),
    };
    let report = match accord_normalizer::normalize(&raw) {
        Ok(report) => report,
        Err(rejection) => panic!("case {number}: rejected: {}", rejection.detail),
    };
    // What the normalizer publishes must conform to the schema of `reports.normalized`, as in production.
    let schema = accord_runtime::json::SchemaValidator::compile(
        "normalized-report",
        accord_domain::schema::NORMALIZED_REPORT,
    )
    .unwrap();
    if let Err(accord_runtime::ApiError::Unprocessable { errors, .. }) =
        schema.validate(&serde_json::to_value(&report).unwrap())
    {
        panic!("case {number}: the normalized record breaks its schema: {errors:?}");
    }
    report
}

/// What an agency can read of a view: its content as search and TAXII serve it, and its STIX export.
fn agency_text(view: &View) -> String {
    let content = serde_json::to_string(&view.content).unwrap();
    let release = accord_stix::export::Release {
        view,
        released_at: ts("2026-11-20T10:00:00Z"),
    };
    let bundle = accord_stix::export::bundle(&[release]);
    format!("{content}\n{bundle}")
}

/// Checks one case; returns what went wrong.
fn check(submission: &Submission, number: u64) -> Vec<String> {
    let report = normalized(submission, number);
    let orgs: HashMap<OrgId, Organization> = [
        org("bank-a", OrgKind::Partner, "DE"),
        org("ncu-de", OrgKind::Agency, "DE"),
        org("police-fr", OrgKind::Agency, "FR"),
    ]
    .into_iter()
    .map(|organization| (organization.id.clone(), organization))
    .collect();
    let views = accord_policy::release(&report, ts("2026-11-21T00:00:00Z"), &mous(), &orgs);
    let mut problems = Vec::new();
    let by_rule = |rule: PiiRule| views.iter().find(|view| view.profile.pii == rule);
    let (Some(redacted), Some(shared)) = (by_rule(PiiRule::Redact), by_rule(PiiRule::Share)) else {
        return vec![format!(
            "expected one redacted and one shared view, got {}",
            views.len()
        )];
    };
    let redacted_text = agency_text(redacted);
    let shared_text = agency_text(shared);
    for (field, canary) in &submission.placed {
        for secret in &canary.secrets {
            if redacted_text.contains(secret.as_str()) {
                problems.push(format!(
                    "{:?} in {field} leaked under pii: redact: `{secret}`",
                    canary.kind
                ));
            }
        }
        let in_narrative = matches!(
            *field,
            "title" | "description" | "info" | "report.name" | "report.description"
        );
        if in_narrative
            && !canary
                .secrets
                .iter()
                .any(|secret| shared_text.contains(secret.as_str()))
        {
            problems.push(format!(
                "{:?} in {field} did not arrive under pii: share",
                canary.kind
            ));
        }
        let released_url = matches!(
            *field,
            "indicators" | "url" | "Attribute.url" | "patterns" | "indicator.pattern"
        ) && canary.indicator.0 == "url";
        if released_url && !redacted_text.contains(&format!("\"value\":\"{}\"", canary.host)) {
            problems.push(format!(
                "the host of the URL in {field} was not released on its own"
            ));
        }
    }
    problems
}

#[test]
fn no_canary_reaches_an_agency_under_pii_redact() {
    let seed: u64 = std::env::var("ACCORD_CANARY_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let cases: u64 = std::env::var("ACCORD_CANARY_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3000);
    println!(
        "canary property test: seed {seed} (ACCORD_CANARY_SEED={seed} replays it), {cases} cases"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let mut kinds_seen = BTreeSet::new();
    for number in 0..cases {
        let submission = match number % 3 {
            0 => submissions::native(&mut rng),
            1 => submissions::stix(&mut rng),
            _ => submissions::misp(&mut rng),
        };
        for (field, canary) in &submission.placed {
            kinds_seen.insert((
                format!("{:?}", submission.format),
                *field,
                format!("{:?}", canary.kind),
            ));
        }
        let problems = check(&submission, number);
        assert!(
            problems.is_empty(),
            "seed {seed}, case {number} ({:?}):\n{}\nsubmission: {}",
            submission.format,
            problems.join("\n"),
            submission.payload
        );
    }
    println!(
        "{} (format, field, kind) combinations covered",
        kinds_seen.len()
    );
    if cases >= 1000 {
        assert!(
            kinds_seen.len() >= 190,
            "only {} combinations covered",
            kinds_seen.len()
        );
    }
}
