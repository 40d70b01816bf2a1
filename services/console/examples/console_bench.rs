//! How fast the console renders its pages over a large index: a measurement, not a test with assertions.
//!
//! Builds an embedded index of `REPORTS` reports with 10 indicators each (1 000 000 indicators by default), written
//! the way the indexer writes them (one released view per report, as `accord-index/examples/index_bench.rs` does),
//! a partner's status store of the same reports, a directory with one MoU granting them to an agency, and the
//! console with its in-process backend — the search and gateway functions on that state. Then it signs a partner and
//! an investigator in, requests every page many times through the router (no network) and prints the latency
//! percentiles of each: server-side rendering, the policy re-check and the durable audit record included. Last, the
//! lookup of 10 000 pasted values.
//!
//! ```text
//! cargo run -p accord-console --release --example console_bench [-- REPORTS]
//! ```

mod common;

use common::{encode, percentile, send, sign_in};

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use accord_domain::{
    Attribution, ContentPart, DirectoryEvent, Grant, Indicator, IndicatorSource, Mou, MouId,
    MouVersion, ObservableType as T, OrgId, OrgKind, Organization, PiiRule, Profile, Purpose,
    ReportFacts, ReportId, Role, Scope, Tlp, TokenId, TokenRecord, View, ViewContent,
};
use accord_gateway::status::{Change, StatusStore};
use accord_index::{IndexClient, ReplaceViews, tantivy_index::TantivyIndex};
use accord_runtime::{Authenticator, Deps, Directory, auth::hash_secret};
use axum::Router;

const INDICATORS: usize = 10;
const BATCH: usize = 1_000;
const RUNS: usize = 100;
const PARTNER_TOKEN: &str = "acc_bench_partner_token";
const INVESTIGATOR_TOKEN: &str = "acc_bench_investigator_token";
const MOU: &str = "mou-bench";

/// A small deterministic generator (splitmix64), so runs are comparable.
struct Rng(accord_testkit::SplitMix64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0.index(bound)
    }
}

fn org(id: &str) -> OrgId {
    OrgId::parse(id).expect("org id")
}

/// The `n`-th indicator of report `r`: a mix of types; one in ten from a shared pool of 1 000 ids, so pooled values
/// recur across reports.
fn indicator(r: usize, n: usize, rng: &mut Rng) -> (T, String) {
    let id = if rng.below(10) == 0 {
        rng.below(1000)
    } else {
        r * INDICATORS + n
    };
    match n % 5 {
        0 => (T::DomainName, format!("host{id}.example")),
        1 => (T::Url, format!("http://host{id}.example/path/{id}")),
        2 => (
            T::File,
            format!("{:064x}", id as u128 * 0x9E37_79B9_7F4A_7C15),
        ),
        3 => (
            T::Ipv4Addr,
            format!(
                "{}.{}.{}.{}",
                11 + id % 200,
                (id >> 8) % 256,
                (id >> 16) % 256,
                id % 256
            ),
        ),
        _ => (T::EmailAddr, format!("user{id}@mail.example")),
    }
}

fn directory() -> Arc<Directory> {
    let directory = Arc::new(Directory::new());
    let now = chrono::Utc::now();
    for (id, kind) in [("bank-a", OrgKind::Partner), ("ncu", OrgKind::Agency)] {
        directory.apply_directory_event(DirectoryEvent::Organization(Organization {
            id: org(id),
            name: id.to_uppercase(),
            kind,
            country: "DE".to_owned(),
            sector: None,
            default_tlp: None,
            created_at: now,
        }));
    }
    for (token, organization, role) in [
        (PARTNER_TOKEN, "bank-a", Role::Partner),
        (INVESTIGATOR_TOKEN, "ncu", Role::Investigator),
    ] {
        directory.apply_directory_event(DirectoryEvent::Token(TokenRecord {
            id: TokenId::parse(&format!("tok-{organization}")).expect("token id"),
            organization: org(organization),
            role,
            label: "bench".to_owned(),
            hash: hash_secret(token),
            created_at: now,
            revoked_at: None,
            expires_at: None,
            binding: None,
        }));
    }
    directory.apply_mou_version(MouVersion {
        reason: None,
        mou: Mou {
            id: MouId::parse(MOU).expect("mou id"),
            title: "Bench".to_owned(),
            status: accord_domain::MouStatus::Active,
            providers: [org("bank-a")].into(),
            recipients: [org("ncu")].into(),
            effective_from: now - chrono::Duration::days(3650),
            expires_at: now + chrono::Duration::days(3650),
            max_tlp: Tlp::Amber,
            content: [ContentPart::Indicators, ContentPart::Narrative].into(),
            categories: Scope::Any,
            sectors: Scope::Any,
            indicator_types: Scope::Any,
            purposes: [Purpose::Investigation].into(),
            pii: PiiRule::Redact,
            attribution: Attribution::Named,
            feedback: Default::default(),
            recipient_countries: Scope::Any,
            retention_days: 3650,
        },
        version: 1,
        changed_by: "bench".to_owned(),
        changed_at: now - chrono::Duration::days(3650),
    });
    directory
}

/// Returns the released view of report `r`, its incident `days_ago` days ago.
fn view(r: usize, report_id: &ReportId, days_ago: i64, rng: &mut Rng) -> View {
    let now = chrono::Utc::now();
    let occurred_at = now - chrono::Duration::seconds(days_ago * 86_400 + rng.below(86_400) as i64);
    let indicators = (0..INDICATORS)
        .map(|n| {
            let (kind, value) = indicator(r, n, rng);
            Indicator {
                id: format!("{kind}--{r}-{n}"),
                kind,
                value,
                source: IndicatorSource::Declared,
            }
        })
        .collect();
    View {
        id: format!("view--{r:08}"),
        report_id: report_id.clone(),
        mous: vec![(MouId::parse(MOU).expect("mou id"), 1)],
        grants: vec![Grant {
            agency: org("ncu"),
            purpose: Purpose::Investigation,
        }],
        alternates: Vec::new(),
        valid_from: now - chrono::Duration::days(3650),
        valid_until: now + chrono::Duration::days(3650),
        profile: Profile {
            content: [ContentPart::Indicators, ContentPart::Narrative].into(),
            pii: PiiRule::Redact,
            attribution: Attribution::Named,
            indicator_types: Scope::Any,
        },
        facts: ReportFacts {
            partner: org("bank-a"),
            tlp: Tlp::Amber,
            categories: vec!["ransomware".to_owned()],
            sector: Some("finance".to_owned()),
            received_at: occurred_at,
            num_indicators: Some(INDICATORS),
            amended_at: None,
        },
        content: ViewContent {
            partner: "bank-a".to_owned(),
            tlp: Tlp::Amber,
            occurred_at,
            categories: vec!["ransomware".to_owned()],
            sector: Some("finance".to_owned()),
            title: Some(format!("Incident {r} ransomware beacon")),
            description: Some(format!(
                "Beacon of incident {r}, contact [redacted:email] for details."
            )),
            ttps: None,
            indicators,
            victim: None,
        },
    }
}

/// What the bench looks up and opens.
struct Sample {
    pooled: String,
    report: String,
    values: Vec<String>,
}

/// Writes `reports` views to the index and their statuses to the partner's store; returns what to look up.
async fn ingest(index: &IndexClient, store: &StatusStore, reports: usize) -> Sample {
    let mut rng = Rng(accord_testkit::SplitMix64::new(42));
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    let mut changes = Vec::with_capacity(BATCH * 2);
    let mut sample = Sample {
        pooled: String::new(),
        report: String::new(),
        values: Vec::new(),
    };
    for r in 0..reports {
        let report_id = ReportId::random();
        let days_ago = i64::try_from(rng.below(365)).unwrap_or(0);
        let view = view(r, &report_id, days_ago, &mut rng);
        if sample.values.len() < 10_000 && r % (reports / 10_000).max(1) == 0 {
            sample
                .values
                .push(view.content.indicators[r % INDICATORS].value.clone());
        }
        if r == reports / 2 {
            sample.report = report_id.to_string();
        }
        changes.push(Change::Accepted {
            id: report_id.to_string(),
            partner: "bank-a".to_owned(),
            title: view.content.title.clone().unwrap_or_default(),
            body_sha256: String::new(),
            received_at: view.facts.received_at.to_rfc3339(),
            objects: Vec::new(),
            warnings: Vec::new(),
        });
        changes.push(Change::Released {
            id: report_id.to_string(),
            partner: "bank-a".to_owned(),
            indicators: INDICATORS,
            released_to: vec!["ncu".to_owned()],
            at: view.facts.received_at.to_rfc3339(),
            trigger: "report received".to_owned(),
            revoked_from: Vec::new(),
        });
        batch.push(ReplaceViews {
            report_id,
            version: 1,
            views: vec![view],
        });
        if batch.len() == BATCH || r + 1 == reports {
            index
                .write(std::mem::take(&mut batch))
                .await
                .expect("index write");
            store
                .apply(std::mem::take(&mut changes), false)
                .expect("status write");
        }
    }
    // A domain of the shared pool: in about ten reports.
    sample.pooled = "host500.example".to_owned();
    println!(
        "indexed {reports} reports, {} indicators, in {:.1} s",
        reports * INDICATORS,
        started.elapsed().as_secs_f64()
    );
    sample
}

/// Requests a page `runs` times and prints a table row of its latencies.
async fn measure(
    router: &Router,
    label: &str,
    method: &str,
    uri: &str,
    cookie: &str,
    form: Option<String>,
    runs: usize,
) {
    let mut latencies = Vec::with_capacity(runs);
    let mut status = 0;
    let mut bytes = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let (answered, _, body) = send(router, method, uri, cookie, form.clone()).await;
        latencies.push(started.elapsed());
        status = answered;
        bytes = body.len();
    }
    latencies.sort();
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    println!(
        "| {label} | {status} | {} kB | {:.1} | {:.1} | {:.1} |",
        bytes / 1024,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let reports: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let index = IndexClient::new(TantivyIndex::open(dir.path().join("index"))?);
    let store = StatusStore::open(&dir.path().join("gateway"))?;
    let sample = ingest(&index, &store, reports).await;
    drop(store);
    let bus = accord_bus::BusClient::from_url(&format!(
        "embedded://{}",
        dir.path().join("bus").display()
    ))
    .await?;
    bus.ensure_topics(&accord_domain::topics::ALL).await?;
    let directory = directory();
    let auth = Authenticator::new(Arc::clone(&directory), None);
    let deps = Deps {
        bus,
        index,
        directory,
        auth: auth.clone(),
        data_dir: dir.path().to_owned(),
        listen_addr: None,
        health: Default::default(),
        memory: Default::default(),
        replica: None,
    };
    let search = accord_search::AppState::new(accord_search::Config::default(), deps.clone())?;
    let gateway = accord_gateway::AppState::new(accord_gateway::Config::default(), deps)?;
    api_lookup(&search, &auth, &sample).await;
    let backend = accord_console::Local::new(auth, search, gateway);
    let router = accord_console::router(accord_console::AppState::new(
        accord_console::Config::default(),
        Arc::new(backend),
    ));
    pages(&router, &sample).await;
    Ok(())
}

/// Times search's lookup function alone (what `POST /v1/indicators/lookup` runs: the index, the re-check, the audit
/// record), on the same 10 000 values as the console's pasted list, to tell the console's share from search's.
async fn api_lookup(search: &accord_search::AppState, auth: &Authenticator, sample: &Sample) {
    let principal = auth.authenticate(INVESTIGATOR_TOKEN).expect("investigator");
    let body = serde_json::to_vec(&serde_json::json!({
        "values": sample.values, "purpose": "investigation", "case": "BENCH-API",
    }))
    .expect("body");
    let mut latencies = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let outcome = accord_search::lookup(search, Some(&principal), &body).await;
        latencies.push(started.elapsed());
        assert!(outcome.result.is_ok(), "lookup");
    }
    latencies.sort();
    println!(
        "search's lookup function alone, {} values: p50 {:.0} ms, max {:.0} ms",
        sample.values.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

async fn pages(router: &Router, sample: &Sample) {
    println!("\n| page | status | size | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|");
    let (partner, _) = sign_in(router, PARTNER_TOKEN).await;
    for (label, uri) in [
        (
            "partner: dashboard (30 days of reports)",
            "/dashboard".to_owned(),
        ),
        ("partner: my reports", "/reports".to_owned()),
        (
            "partner: a report's status",
            format!("/reports/{}", sample.report),
        ),
        ("partner: new report form", "/reports/new".to_owned()),
    ] {
        measure(router, label, "GET", &uri, &partner, None, RUNS).await;
    }
    let (investigator, csrf) = sign_in(router, INVESTIGATOR_TOKEN).await;
    let context = format!("csrf={csrf}&purpose=investigation&case=BENCH-1&next=%2Fdashboard");
    send(router, "POST", "/context", &investigator, Some(context)).await;
    let pooled = encode(&sample.pooled);
    for (label, uri) in [
        (
            "investigator: dashboard (one search)",
            "/dashboard".to_owned(),
        ),
        ("investigator: look up, empty", "/lookup".to_owned()),
        (
            "investigator: look up a value of ~10 reports",
            format!("/lookup?value={pooled}"),
        ),
        (
            "investigator: indicator page",
            format!("/indicators/{pooled}"),
        ),
        (
            "investigator: search, every report matches",
            "/search?q=ransomware".to_owned(),
        ),
        (
            "investigator: search, one report matches",
            "/search?q=incident+4242".to_owned(),
        ),
        (
            "investigator: search by type and TLP",
            "/search?type=url&tlp=amber".to_owned(),
        ),
        (
            "investigator: search by category, narrow",
            "/search?q=incident+4242&category=ransomware".to_owned(),
        ),
        (
            "investigator: released report",
            format!("/released/{}", sample.report),
        ),
        (
            "investigator: CSV export of one report",
            "/export/search?format=csv&q=incident+4242".to_owned(),
        ),
        (
            "investigator: STIX export of one report",
            "/export/search?format=stix&q=incident+4242".to_owned(),
        ),
    ] {
        measure(router, label, "GET", &uri, &investigator, None, RUNS).await;
    }
    let values = sample.values.join("\n");
    let form = format!("csrf={csrf}&values={}", encode(&values));
    let label = format!(
        "investigator: pasted list of {} values",
        sample.values.len()
    );
    measure(
        router,
        &label,
        "POST",
        "/lookup",
        &investigator,
        Some(form),
        20,
    )
    .await;
}
