//! Partition-owned enforcer state (issue 18 item 1, decision 0081) on a Kafka-protocol broker with four partitions
//! per topic: two enforcer processes share `reports.normalized`; reports of every partition flow under an MoU that
//! releases only part of them; one enforcer is killed for good; the MoU is widened (every report is found), then
//! its retention shortened (every report past it is withdrawn, with the partner's receipts, and the others stay);
//! then a third enforcer joins (a rebalance) and a new MoU releases every report still retained to a second agency.
//! Each step needs the reports of the partitions that moved in the store of their new owner.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use accord_bus::{BusClient, Record};
use accord_domain::{
    Indicator, IndicatorSource, NormalizedReport, ObservableType, OrgId, ReportId, Tlp, topics,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cluster::{ADMIN_TOKEN, Cluster, PATIENCE, enabled};
use crate::owned::{wait_lookup, wait_previewed};

const PARTITIONS: u32 = 4;

/// One report the test published.
struct Published {
    id: String,
    value: String,
    phishing: bool,
    /// Received 40 days ago (past a 30-day retention), else 10 days ago.
    old: bool,
}

/// Creates `bank-a`, `ncu-de` and `ncu-fr`; returns the tokens of bank-a, ncu-de and ncu-fr.
async fn world(cluster: &Cluster) -> (String, String, String) {
    for (id, kind, country) in [
        ("bank-a", "partner", "DE"),
        ("ncu-de", "agency", "DE"),
        ("ncu-fr", "agency", "FR"),
    ] {
        let (status, body) = cluster
            .call("admin", Method::POST, "/v1/organizations", ADMIN_TOKEN,
                Some(json!({ "id": id, "name": id.to_uppercase(), "kind": kind, "country": country, "sector": "finance" })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let mut tokens = Vec::new();
    for (org, role) in [
        ("bank-a", "partner"),
        ("ncu-de", "investigator"),
        ("ncu-fr", "investigator"),
    ] {
        let (status, body) = cluster
            .call(
                "admin",
                Method::POST,
                "/v1/tokens",
                ADMIN_TOKEN,
                Some(json!({ "organization": org, "role": role, "label": "owned state test" })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    (tokens[0].clone(), tokens[1].clone(), tokens[2].clone())
}

fn mou(id: &str, recipient: &str, categories: &[&str], retention_days: u32) -> Value {
    json!({
        "id": id, "title": id, "providers": ["bank-a"], "recipients": [recipient],
        "effective_from": "2026-01-01T00:00:00Z", "expires_at": "2030-12-31T23:59:59Z",
        "max_tlp": "amber", "content": ["indicators", "narrative"], "categories": categories,
        "indicator_types": ["*"], "purposes": ["investigation"], "pii": "redact",
        "attribution": "named", "recipient_countries": ["*"], "retention_days": retention_days
    })
}

/// Creates (`POST`) or changes (`PUT`) an MoU.
async fn write_mou(cluster: &Cluster, method: Method, body: Value) {
    let path = match method {
        Method::POST => "/v1/mous".to_owned(),
        _ => format!("/v1/mous/{}", body["id"].as_str().unwrap()),
    };
    let (status, answer) = cluster
        .call("admin", method, &path, ADMIN_TOKEN, Some(body))
        .await;
    assert!(status.is_success(), "{status}: {answer}");
}

fn normalized(n: usize, phishing: bool, old: bool) -> NormalizedReport {
    let received_at = chrono::Utc::now() - chrono::Duration::days(if old { 40 } else { 10 });
    NormalizedReport {
        revision: None,
        id: ReportId::random(),
        partner: OrgId::parse("bank-a").unwrap(),
        received_at,
        occurred_at: received_at,
        tlp: Tlp::Green,
        title: format!("Owned state {n}"),
        description: "partition-owned enforcer state".to_owned(),
        categories: vec![if phishing { "phishing" } else { "malware" }.to_owned()],
        sector: Some("finance".to_owned()),
        ttps: Vec::new(),
        victim: None,
        indicators: vec![Indicator {
            id: format!("ipv4-addr--owned-{n}"),
            kind: ObservableType::Ipv4Addr,
            value: format!("198.18.{}.{}", n / 200, n % 200 + 1),
            source: IndicatorSource::Declared,
        }],
        pii: Vec::new(),
        indicator_spans: None,
        indicator_pii: Vec::new(),
    }
}

/// Publishes normalized reports (as the normalizer would, with a reception time in the past) until every
/// partition holds each of the four kinds (phishing or not, old or not).
async fn publish_reports(bus: &BusClient) -> Vec<Published> {
    let mut published = Vec::new();
    let mut covered: BTreeSet<(u32, bool, bool)> = BTreeSet::new();
    let mut n = 0;
    while covered.len() < 4 * PARTITIONS as usize {
        assert!(
            n < 400,
            "the reports never covered every partition: {covered:?}"
        );
        let (phishing, old) = (n % 2 == 0, n % 4 < 2);
        let report = normalized(n, phishing, old);
        let record = Record::new(report.id.to_string(), serde_json::to_vec(&report).unwrap());
        let position = bus
            .publish(topics::REPORTS_NORMALIZED, vec![record])
            .await
            .unwrap()[0];
        covered.insert((position.partition, phishing, old));
        published.push(Published {
            id: report.id.to_string(),
            value: report.indicators[0].value.clone(),
            phishing,
            old,
        });
        n += 1;
    }
    published
}

/// Waits until `check` holds for the partner's status of report `id`; returns it.
async fn wait_status(
    cluster: &Cluster,
    partner: &str,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, status) = cluster
            .call(
                "gateway",
                Method::GET,
                &format!("/v1/reports/{id}"),
                partner,
                None,
            )
            .await;
        if check(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id}: never {what}: {status}; logs:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn released_to(status: &Value, agency: &str) -> bool {
    status["released_to"]
        .as_array()
        .is_some_and(|agencies| agencies.iter().any(|a| a == agency))
}

/// Waits until `replica`'s log says it took over (restored and re-evaluated) at least `count` partitions.
async fn wait_taken_over(cluster: &Cluster, replica: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let taken = cluster.log(replica).matches("partition taken over").count();
        if taken >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{replica} took over {taken} partitions; its ownership:\n{}\nlogs:\n{}",
            ownership_lines(cluster, replica),
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts a further enforcer replica with a data directory of its own, given admin's directory key first (as an
/// operator shares it: `[directory] public_keys` or the file admin writes), which `Cluster::spawn_replica` does not.
async fn spawn_enforcer(cluster: &mut Cluster, name: &str) {
    let key = cluster.data.path().join("data/directory/admin.pub");
    let dir = cluster.data.path().join(name).join("directory");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&key, dir.join("admin.pub")).unwrap();
    cluster.spawn_replica(name, "enforcer").await;
}

/// The lines of `replica`'s log about its partitions, for failure messages.
fn ownership_lines(cluster: &Cluster, replica: &str) -> String {
    cluster
        .log(replica)
        .lines()
        .filter(|line| {
            [
                "ownership changed",
                "taken over",
                "restore",
                "WARN",
                "ERROR",
            ]
            .iter()
            .any(|word| line.contains(word))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_report_of_every_partition_is_handled_when_enforcers_die_and_join() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    // Two, then three, live enforcers in one group: a session tansu's join pause fits in.
    let mut cluster =
        Cluster::start_with(PARTITIONS as usize, crate::cluster::STABLE_SESSION_TIMEOUT).await;
    spawn_enforcer(&mut cluster, "enforcer-2").await;
    // The first enforcer took every partition over alone, then the second its share.
    wait_taken_over(&cluster, "enforcer-2", 1).await;
    let (partner, ncu_de, ncu_fr) = world(&cluster).await;
    write_mou(
        &cluster,
        Method::POST,
        mou("m-de", "ncu-de", &["phishing"], 3650),
    )
    .await;

    let bus = BusClient::from_url(&cluster.bus_url).await.unwrap();
    let reports = publish_reports(&bus).await;
    eprintln!(
        "published {} reports over {PARTITIONS} partitions",
        reports.len()
    );
    for report in &reports {
        let status = wait_status(&cluster, &partner, &report.id, "evaluated", |s| {
            s["evaluated_at"].is_string()
        })
        .await;
        assert_eq!(
            released_to(&status, "ncu-de"),
            report.phishing,
            "only phishing is released: {status}"
        );
    }
    let processed_by = |replica: &str| cluster.log(replica).matches("partition taken over").count();
    assert!(processed_by("enforcer") > 0 && processed_by("enforcer-2") > 0);

    // One enforcer is lost for good; the MoU is widened: every report of every partition is released.
    cluster.kill("enforcer-2").await;
    write_mou(&cluster, Method::PUT, mou("m-de", "ncu-de", &["*"], 3650)).await;
    for report in &reports {
        wait_lookup(&cluster, &ncu_de, &report.value, true).await;
        wait_status(&cluster, &partner, &report.id, "released to ncu-de", |s| {
            released_to(s, "ncu-de")
        })
        .await;
    }

    // The retention is shortened: the old reports are withdrawn, with a receipt each; the others stay.
    write_mou(&cluster, Method::PUT, mou("m-de", "ncu-de", &["*"], 30)).await;
    for report in reports.iter().filter(|report| report.old) {
        wait_lookup(&cluster, &ncu_de, &report.value, false).await;
        let status = wait_status(
            &cluster,
            &partner,
            &report.id,
            "withdrawn from ncu-de",
            |s| {
                !released_to(s, "ncu-de")
                    && s["withdrawals"]
                        .as_array()
                        .is_some_and(|receipts| receipts.iter().any(|r| r["agency"] == "ncu-de"))
            },
        )
        .await;
        let receipts = status["withdrawals"].as_array().unwrap();
        assert_eq!(receipts.len(), 1, "one receipt, not duplicated: {status}");
    }
    for report in reports.iter().filter(|report| !report.old) {
        wait_lookup(&cluster, &ncu_de, &report.value, true).await;
    }
    // The survivor's catalog (decision 0086) dropped them too: a preview counts the retained reports only.
    let retained = reports.iter().filter(|report| !report.old).count();
    wait_previewed(&cluster, "enforcer", retained).await;

    // A third enforcer joins: the partitions are shared again, and a new MoU reaches every retained report.
    spawn_enforcer(&mut cluster, "enforcer-3").await;
    wait_taken_over(&cluster, "enforcer-3", 1).await;
    write_mou(&cluster, Method::POST, mou("m-fr", "ncu-fr", &["*"], 30)).await;
    let mut found: BTreeMap<bool, usize> = BTreeMap::new();
    for report in &reports {
        wait_lookup(&cluster, &ncu_fr, &report.value, !report.old).await;
        if !report.old {
            wait_status(&cluster, &partner, &report.id, "released to ncu-fr", |s| {
                released_to(s, "ncu-fr")
            })
            .await;
        }
        *found.entry(!report.old).or_default() += 1;
    }
    eprintln!(
        "ncu-fr finds {} reports, not the {} past retention",
        found[&true], found[&false]
    );
    for replica in ["enforcer", "enforcer-2", "enforcer-3"] {
        for line in cluster
            .log(replica)
            .lines()
            .filter(|line| line.contains("partition taken over"))
        {
            eprintln!("{replica}: {line}");
        }
    }
    assert!(cluster.exited().is_empty(), "{:?}", cluster.exited());
    cluster.stop_all().await;
}
