//! How fast the coordinators' and auditors' heavy pages answer at scale: a measurement, not a test with assertions
//! (issue 12 item 8).
//!
//! 1. **The audit console over a long trail.** Appends `RECORDS` audit records (1 000 000 by default) through the
//!    trail's own writer (4 096 concurrent appends, so group commits of up to 4 096 records, each durable), spread
//!    over ten agencies and 997 cases, then pages through them in the console as the operator's auditor and as an
//!    agency's: the first page, a page from the middle and the last (by the API's keyset cursor, `seq > cursor`: no
//!    offset is ever skipped), 200 consecutive "Next records" pages from the middle, filtered pages (one agency of
//!    ten, one case of 997), the agency's own trail, and the per-agency summary.
//! 2. **The MoU preview over a large store.** Stores `REPORTS` normalized reports of one partner with 10 indicators
//!    each (100 000 reports, 1 000 000 indicators by default) in the enforcer's report store, and previews a new MoU
//!    granting them all to a second agency: the enforcer's preview function alone, then the console's "Preview
//!    changes" page (JSON view) that calls it.
//!
//! ```text
//! cargo run -p accord-console --release --example oversight_bench [-- RECORDS REPORTS]
//! ```

mod common;

use common::{encode, percentile, send, sign_in};

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use accord_domain::{
    Attribution, Case, ContentPart, DirectoryEvent, Indicator, IndicatorSource, Mou, MouId,
    MouVersion, NormalizedReport, ObservableType as T, OrgId, OrgKind, Organization, PiiRule,
    Purpose, ReportId, Role, Scope, Tlp, TokenId, TokenRecord,
};
use accord_runtime::{Authenticator, Deps, Directory, auth::hash_secret};
use accord_search::audit::{AuditEntry, AuditLog, checkpoint::CheckpointSigner};
use axum::Router;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

const AGENCIES: usize = 10;
const CASES: usize = 997;
const WRITERS: usize = 4096;
const RUNS: usize = 30;
const AUDITOR: &str = "acc_bench_operator_auditor";
const AGENCY_AUDITOR: &str = "acc_bench_agency_auditor";
const COORDINATOR: &str = "acc_bench_coordinator";

fn org(id: &str) -> OrgId {
    OrgId::parse(id).expect("org id")
}

fn agency(index: usize) -> String {
    format!("ncu-{index}")
}

fn directory() -> Arc<Directory> {
    let directory = Arc::new(Directory::new());
    let now = chrono::Utc::now();
    let mut orgs = vec![
        ("accord-admin".to_owned(), OrgKind::Operator),
        ("bank-a".to_owned(), OrgKind::Partner),
    ];
    orgs.extend((0..AGENCIES).map(|index| (agency(index), OrgKind::Agency)));
    for (id, kind) in orgs {
        directory.apply_directory_event(DirectoryEvent::Organization(Organization {
            id: org(&id),
            name: id.to_uppercase(),
            kind,
            country: "DE".to_owned(),
            sector: None,
            default_tlp: None,
            created_at: now,
        }));
    }
    for (token, organization, role) in [
        (AUDITOR, "accord-admin", Role::Auditor),
        (AGENCY_AUDITOR, "ncu-3", Role::Auditor),
        (COORDINATOR, "accord-admin", Role::Coordinator),
    ] {
        directory.apply_directory_event(DirectoryEvent::Token(TokenRecord {
            id: TokenId::parse(&format!("tok-{}", &hash_secret(token)[..12])).expect("token id"),
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
        mou: mou("mou-bench", "ncu-0"),
        version: 1,
        changed_by: "bench".to_owned(),
        changed_at: now - chrono::Duration::days(3650),
    });
    directory
}

fn mou(id: &str, recipient: &str) -> Mou {
    let now = chrono::Utc::now();
    Mou {
        id: MouId::parse(id).expect("mou id"),
        title: "Bench".to_owned(),
        status: accord_domain::MouStatus::Active,
        providers: [org("bank-a")].into(),
        recipients: [org(recipient)].into(),
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
    }
}

fn entry(index: usize) -> AuditEntry {
    AuditEntry {
        at: chrono::Utc::now(),
        token_id: Some(format!("tok-agency-{}", index % AGENCIES)),
        organization: Some(agency(index % AGENCIES)),
        endpoint: "GET /v1/indicators/{value}".to_owned(),
        purpose: Some("investigation".to_owned()),
        case: Case::parse(&format!("CASE-{}", index % CASES)).ok(),
        query: serde_json::json!({ "value": format!("198.51.{}.{}", index % 200, index % 250) }),
        status: if index.is_multiple_of(7) { 404 } else { 200 },
        results: (index % 7) as u64,
        writer: None,
    }
}

/// Appends `records` records through the trail's writer, `WRITERS` at a time.
async fn fill_trail(dir: &std::path::Path, records: usize) -> anyhow::Result<()> {
    let signer = CheckpointSigner::load(None, dir)?;
    let log = AuditLog::open(dir, signer, Duration::from_secs(3600))?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..WRITERS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for index in (worker..records).step_by(WRITERS) {
                log.append(entry(index)).await?;
            }
            Ok::<_, accord_search::audit::AuditError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    println!(
        "appended {records} audit records in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        records as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn report(index: usize) -> NormalizedReport {
    let now = chrono::Utc::now();
    let indicators = (0..10)
        .map(|n| {
            let id = index * 10 + n;
            let (kind, value) = match n % 3 {
                0 => (T::DomainName, format!("host{id}.example")),
                1 => (
                    T::Ipv4Addr,
                    format!("10.{}.{}.{}", (id >> 16) % 256, (id >> 8) % 256, id % 256),
                ),
                _ => (T::Url, format!("http://host{id}.example/p")),
            };
            Indicator {
                id: format!("{kind}--{index}-{n}"),
                kind,
                value,
                source: IndicatorSource::Declared,
            }
        })
        .collect();
    NormalizedReport {
        revision: None,
        id: ReportId::random(),
        partner: org("bank-a"),
        received_at: now - chrono::Duration::days((index % 300) as i64),
        occurred_at: now - chrono::Duration::days((index % 300) as i64),
        tlp: Tlp::Amber,
        title: format!("Incident {index}"),
        description: format!("Beacon of incident {index}."),
        categories: vec!["ransomware".to_owned()],
        sector: Some("finance".to_owned()),
        ttps: Vec::new(),
        victim: None,
        indicators,
        pii: Vec::new(),
        indicator_spans: Some(Vec::new()),
        indicator_pii: Vec::new(),
    }
}

/// Stores `reports` normalized reports of `bank-a` in the enforcer's store.
fn fill_store(dir: &std::path::Path, reports: usize) -> anyhow::Result<()> {
    let store = accord_enforcer::store::ReportStore::open(dir)?;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for index in 0..reports {
        batch.push(report(index));
        if batch.len() == 1000 || index + 1 == reports {
            store.put(&mut std::mem::take(&mut batch))?;
        }
    }
    println!(
        "stored {reports} reports ({} indicators) in {:.1} s",
        reports * 10,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn row(label: &str, status: u16, bytes: usize, mut latencies: Vec<Duration>) {
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
    let (mut status, mut bytes) = (0, 0);
    for _ in 0..runs {
        let started = Instant::now();
        let (answered, _, body) = send(router, method, uri, cookie, form.clone()).await;
        latencies.push(started.elapsed());
        (status, bytes) = (answered, body.len());
    }
    row(label, status, bytes, latencies);
}

/// Follows "Next records" `pages` times from `start`, timing each page.
async fn walk(router: &Router, label: &str, start: &str, cookie: &str, pages: usize) {
    let mut uri = start.to_owned();
    let mut latencies = Vec::with_capacity(pages);
    let (mut status, mut bytes) = (0, 0);
    for _ in 0..pages {
        let started = Instant::now();
        let (answered, _, body) = send(router, "GET", &uri, cookie, None).await;
        latencies.push(started.elapsed());
        (status, bytes) = (answered, body.len());
        let Some(next) = body
            .split("<nav class=\"pager\" aria-label=\"Pages\"><a href=\"")
            .nth(1)
        else {
            break;
        };
        uri = next[..next.find('"').expect("quote")].replace("&amp;", "&");
    }
    row(
        &format!("{label} ({} pages)", latencies.len()),
        status,
        bytes,
        latencies,
    );
}

fn cursor(seq: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("s:{seq}"))
}

async fn audit_pages(router: &Router, records: usize) {
    println!(
        "\n| audit page ({records} records) | status | size | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|"
    );
    let (operator, _) = sign_in(router, AUDITOR).await;
    let middle = cursor(records / 2);
    let end = cursor(records.saturating_sub(50));
    for (label, uri) in [
        ("first page", "/audit".to_owned()),
        ("a page from the middle", format!("/audit?cursor={middle}")),
        ("the last page", format!("/audit?cursor={end}")),
        (
            "one agency of ten, first page",
            "/audit?organization=ncu-3".to_owned(),
        ),
        (
            "one agency of ten, from the middle",
            format!("/audit?organization=ncu-3&cursor={middle}"),
        ),
        (
            "one case of 997, first page",
            "/audit?case=CASE-5".to_owned(),
        ),
        (
            "one case of 997, from the middle",
            format!("/audit?case=CASE-5&cursor={middle}"),
        ),
        (
            "agency summary, 30 days",
            "/audit/summary?organization=ncu-3&days=30".to_owned(),
        ),
    ] {
        measure(router, label, "GET", &uri, &operator, None, RUNS).await;
    }
    walk(
        router,
        "Next records from the middle",
        &format!("/audit?cursor={middle}"),
        &operator,
        200,
    )
    .await;
    walk(
        router,
        "Next records, one agency, from the middle",
        &format!("/audit?organization=ncu-3&cursor={middle}"),
        &operator,
        200,
    )
    .await;
    let (agency, _) = sign_in(router, AGENCY_AUDITOR).await;
    measure(
        router,
        "an agency's auditor: its own trail, from the middle",
        "GET",
        &format!("/audit?cursor={middle}"),
        &agency,
        None,
        RUNS,
    )
    .await;
    measure(
        router,
        "an agency's auditor: its summary",
        "GET",
        "/audit/summary",
        &agency,
        None,
        RUNS,
    )
    .await;
}

async fn preview(
    router: &Router,
    enforcer: &accord_enforcer::AppState,
    auth: &Authenticator,
    reports: usize,
) {
    let draft = serde_json::to_value(mou("mou-bench-new", "ncu-1")).expect("draft");
    let principal = auth.authenticate(COORDINATOR).expect("coordinator");
    let body = serde_json::to_vec(&draft).expect("body");
    let mut latencies = Vec::new();
    let cpu_before = cpu_time();
    for _ in 0..5 {
        let started = Instant::now();
        let answer = accord_enforcer::preview_mou(enforcer, &principal, &body)
            .await
            .expect("preview");
        latencies.push(started.elapsed());
        assert_eq!(answer["reports_evaluated"], reports, "{answer}");
    }
    let cpu = cpu_time().saturating_sub(cpu_before) / 5;
    println!(
        "\n| MoU preview ({reports} reports, {} indicators) | status | size | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|",
        reports * 10
    );
    row("the enforcer's preview function alone", 200, 0, latencies);
    let (coordinator, csrf) = sign_in(router, COORDINATOR).await;
    let form = format!(
        "csrf={csrf}&mode=json&target=&json={}",
        encode(&draft.to_string())
    );
    measure(
        router,
        "console: Preview changes (JSON view)",
        "POST",
        "/mous/preview",
        &coordinator,
        Some(form),
        5,
    )
    .await;
    println!(
        "\nCPU time of one preview (the enforcer's function, every thread): {:.0} ms",
        cpu.as_secs_f64() * 1e3
    );
}

/// Returns the CPU time this process has used so far, every thread, user and system (`/proc/self/stat`, in the
/// kernel's clock ticks of 10 ms; zero where there is no such file): unlike the wall clock, what other processes on
/// a shared machine do does not inflate it.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The fields after the command name (which may hold spaces, so split after its closing parenthesis): utime and
    // stime are the 14th and 15th fields of the line, the 12th and 13th after the name.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|arg| arg.parse::<usize>());
    let records = args.next().and_then(Result::ok).unwrap_or(1_000_000);
    let reports = args.next().and_then(Result::ok).unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    fill_trail(&dir.path().join("search"), records).await?;
    fill_store(&dir.path().join("enforcer"), reports)?;
    let bus = accord_bus::BusClient::from_url(&format!(
        "embedded://{}",
        dir.path().join("bus").display()
    ))
    .await?;
    bus.ensure_topics(&accord_domain::topics::ALL).await?;
    let directory = directory();
    let auth = Authenticator::new(Arc::clone(&directory), None);
    let index = accord_index::IndexClient::new(accord_index::tantivy_index::TantivyIndex::open(
        dir.path().join("index"),
    )?);
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
    let started = Instant::now();
    let search = accord_search::AppState::new(accord_search::Config::default(), deps.clone())?;
    println!(
        "opened the trail in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let gateway = accord_gateway::AppState::new(accord_gateway::Config::default(), deps.clone())?;
    let enforcer =
        accord_enforcer::AppState::new(accord_enforcer::Config::default(), deps.clone())?;
    let admin = accord_admin::AppState::new(accord_admin::Config::default(), deps)?;
    let backend = accord_console::Local::new(auth.clone(), search, gateway)
        .with_enforcer(enforcer.clone())
        .with_admin(admin);
    let router = accord_console::router(accord_console::AppState::new(
        accord_console::Config::default(),
        Arc::new(backend),
    ));
    audit_pages(&router, records).await;
    preview(&router, &enforcer, &auth, reports).await;
    Ok(())
}
