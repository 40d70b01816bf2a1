//! The OASIS `taxii2-client`, unmodified, against `accord up`: a partner adds objects and follows their status, an
//! agency reads what MoUs release (paged); `stix2-validator` on everything it reads.
//!
//! Needs `python3` with `taxii2-client` and `stix2-validator` (scripts/test.sh installs them into `.venv`). Without
//! them the test prints a notice and passes, unless `ACCORD_REQUIRE_INTEROP=1` (scripts/test.sh, CI): then it fails.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    process::{Command, Stdio},
};

use accord_testkit::{Component, available};
use serde_json::{Value, json};

use crate::helpers::{mou, report, spawn_app, world};

const PAGE_SIZE: usize = 4;

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import taxii2client, stix2validator"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs tests/interop/taxii_client.py with `args` and returns the JSON it prints.
async fn run_script(args: &[&str]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/taxii_client.py");
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(&script)
            .args(&args)
            .output()
            .expect("failed to start python3")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "taxii_client.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

#[tokio::test]
async fn taxii2_client_pushes_and_reads_paged_collections_and_every_object_passes_the_validator() {
    if !available(
        Component::Interop,
        python_ready(),
        "`python3 -c 'import taxii2client, stix2validator'` fails",
        "pip install taxii2-client stix2-validator (scripts/test.sh does)",
    ) {
        return;
    }
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_mou(mou(
        "m-1",
        "bank-a",
        &["ncu-de"],
        json!({ "attribution": "anonymous" }),
    ))
    .await;
    let indicators = [
        [
            "203.0.113.1",
            "evil-one.example.com",
            "d41d8cd98f00b204e9800998ecf8427e",
        ],
        [
            "203.0.113.0/24",
            "https://evil-two.example.net/a'b\\c?q=[x]",
            "CVE-2021-44228",
        ],
        [
            "2001:db8::66",
            "mallory@evil-three.example.org",
            "evil-three.example.org",
        ],
    ];
    let mut report_ids = Vec::new();
    for (index, values) in indicators.iter().enumerate() {
        let mut body = report(&format!("Campaign {index}"), "amber", values);
        body["victim"] = json!({ "name": "Victim Ltd", "country": "DE" });
        report_ids.push(app.submit(&world.partner, body).await);
    }
    app.wait_found(&world.ncu_de, "203.0.113.1", "investigation")
        .await;
    app.wait_found(&world.ncu_de, "evil-one.example.com", "investigation")
        .await;
    app.wait_found(&world.ncu_de, "2001:db8::66", "investigation")
        .await;
    app.wait_found(&world.ncu_de, "CVE-2021-44228", "investigation")
        .await;

    // The partner pushes an envelope with its TAXII client and follows the status until it is complete.
    let partner = run_script(&["partner", &app.url, &world.partner]).await;
    assert_eq!(partner["collections"].as_array().unwrap().len(), 1);
    assert_eq!(partner["collections"][0]["can_write"], true);
    assert_eq!(partner["collections"][0]["can_read"], false);
    let added = &partner["add_objects"];
    assert_eq!(added["ok"], true, "{added}");
    assert_eq!(added["status"], "complete", "{added}");
    assert_eq!(
        (
            &added["total_count"],
            &added["success_count"],
            &added["failure_count"],
            &added["pending_count"]
        ),
        (&json!(3), &json!(3), &json!(0), &json!(0)),
        "{added}"
    );
    assert!(
        added["successes"]
            .as_array()
            .unwrap()
            .contains(&json!("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"))
    );
    assert_eq!(partner["status_again"]["id"], added["id"]);
    assert_eq!(partner["status_again"]["status"], "complete");
    let invalid = &partner["invalid_add"];
    assert_eq!(invalid["http_status"], 422, "{invalid}");
    assert_eq!(
        invalid["content_type"],
        "application/taxii+json;version=2.1"
    );
    assert_eq!(
        invalid["body"]["details"]["errors"][0]["pointer"], "/objects/0/pattern",
        "{invalid}"
    );
    assert!(
        invalid["body"]["description"]
            .as_str()
            .unwrap()
            .contains("indicator--1d1b5e8c-0b8f-4d5e-9a7c-2f3e4d5c6b7a"),
        "the refusal names the object: {invalid}"
    );
    let lenient = &partner["lenient_add"];
    assert_eq!(lenient["status"], "complete", "{lenient}");
    assert_eq!(
        (&lenient["success_count"], &lenient["failure_count"]),
        (&json!(1), &json!(1)),
        "{lenient}"
    );
    assert_eq!(
        lenient["successes"],
        json!(["indicator--6a1e4f0c-3b2d-4c5e-8f7a-9b0c1d2e3f40"])
    );
    assert_eq!(
        lenient["failure_ids"],
        json!(["indicator--7b2f5a1d-4c3e-4d6f-9a8b-0c1d2e3f4a51"])
    );
    assert!(
        lenient["failures"][0]
            .as_str()
            .unwrap()
            .starts_with("/objects/1/pattern: "),
        "the failure names the field: {lenient}"
    );
    assert_eq!(partner["read_inbox"]["ok"], false);
    // What it pushed goes through the pipeline and is released to the agency under the MoU.
    for value in [
        "198.51.100.7",
        "taxii-pushed.example.com",
        "198.51.100.8",
        "taxii-lenient.example.com",
    ] {
        app.wait_found(&world.ncu_de, value, "investigation").await;
    }
    let left_out = app
        .lookup(
            &world.ncu_de,
            "login.bank-a.example",
            "investigation",
            "CASE-LENIENT",
        )
        .await;
    assert_eq!(left_out.status, reqwest::StatusCode::NOT_FOUND);

    let agency = run_script(&[
        "agency",
        &app.url,
        &world.ncu_de,
        "CASE-INTEROP",
        &PAGE_SIZE.to_string(),
    ])
    .await;
    let agency = &agency;

    assert_eq!(
        agency["api_root_versions"],
        json!(["application/taxii+json;version=2.1"])
    );
    let titles: Vec<&str> = agency["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|collection| collection["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "investigation and prosecution: {titles:?}");
    assert!(
        agency["collections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|collection| {
                collection["can_read"] == true && collection["can_write"] == false
            })
    );

    // Paging with limit/next walks every object exactly once, in the same order as one big page.
    let paged: Vec<&str> = agency["paged_objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["id"].as_str().unwrap())
        .collect();
    let unpaged: Vec<&str> = agency["unpaged_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert!(
        agency["pages"].as_u64().unwrap() > 2,
        "several pages: {}",
        agency["page_sizes"]
    );
    assert!(
        agency["page_sizes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|size| size.as_u64().unwrap() <= PAGE_SIZE as u64)
    );
    assert_eq!(paged, unpaged);
    assert_eq!(
        paged.iter().collect::<BTreeSet<_>>().len(),
        paged.len(),
        "no duplicates"
    );
    let manifest: Vec<&str> = agency["manifest_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert_eq!(manifest, unpaged);
    for id in &report_ids {
        assert!(
            unpaged.contains(&id.as_str()),
            "report {id} is in the collection"
        );
    }
    let kinds: BTreeSet<&str> = agency["paged_objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["type"].as_str().unwrap())
        .collect();
    for kind in [
        "report",
        "indicator",
        "identity",
        "marking-definition",
        "ipv4-addr",
        "ipv6-addr",
        "domain-name",
        "url",
        "email-addr",
        "file",
        "vulnerability",
    ] {
        assert!(kinds.contains(kind), "a {kind} is exported: {kinds:?}");
    }
    assert_eq!(agency["indicator_filter_types"], json!(["indicator"]));
    assert_eq!(agency["one_object_ids"].as_array().unwrap().len(), 1);
    assert_eq!(agency["one_object_versions"].as_array().unwrap().len(), 1);
    let text = agency["paged_objects"].to_string();
    assert!(
        !text.contains("bank-a\""),
        "the partner is anonymous under this MoU"
    );

    // stix2-validator: no errors on what the agency read.
    assert_eq!(
        agency["validator_errors"],
        json!([]),
        "stix2-validator errors"
    );

    // The objects the partner pushed over TAXII are in the agency's collection.
    assert!(
        agency["paged_objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|object| object["type"] == "indicator"
                && object["pattern"]
                    .as_str()
                    .is_some_and(|pattern| pattern.contains("198.51.100.7"))),
        "the TAXII-pushed indicator is released"
    );

    // The partner retracts a report: the client reads its objects again, revoked, and they pass the validator.
    let retracted = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/reports/{}", report_ids[0]),
            Some(&world.partner),
            Some(json!({ "reason": "false-positive" })),
        )
        .await;
    assert_eq!(retracted.status, reqwest::StatusCode::ACCEPTED);
    // Wait until the revocation is served, then check the revoked objects with stix2-validator.
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    let collection = agency["read_collection_id"].as_str().unwrap().to_owned();
    let revoked = loop {
        let objects: Value = app
            .client
            .get(format!(
                "{}/taxii2/accord/collections/{collection}/objects/",
                app.url
            ))
            .basic_auth("siem", Some(&world.ncu_de))
            .header("x-accord-case", "CASE-INTEROP")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        let revoked: Vec<Value> = objects["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|object| object["revoked"] == true)
            .cloned()
            .collect();
        if revoked
            .iter()
            .any(|object| object["id"] == report_ids[0].as_str())
        {
            break revoked;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never revoked: {objects}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(revoked.iter().any(|object| object["type"] == "indicator"));
    assert!(
        !Value::from(revoked.clone())
            .to_string()
            .contains("Campaign 0")
    );
    let checked = run_script(&["validate", &Value::from(revoked).to_string()]).await;
    assert_eq!(
        checked["errors"],
        json!([]),
        "stix2-validator errors on revoked objects"
    );

    app.shutdown().await;
}

/// A SIEM or MISP configured the stock way — a URL, a user, a password — with a case-bound token an investigator
/// issued for its case: it reads its purpose's collection with no header, pages, polls with `added_after`, reads the
/// manifest.
#[tokio::test]
async fn taxii2_client_reads_with_only_a_url_a_user_and_a_case_bound_token() {
    if !available(
        Component::Interop,
        python_ready(),
        "`python3 -c 'import taxii2client, stix2validator'` fails",
        "pip install taxii2-client stix2-validator (scripts/test.sh does)",
    ) {
        return;
    }
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_mou(mou("m-1", "bank-a", &["ncu-de"], json!({})))
        .await;
    for index in 0..3 {
        let values = [format!("203.0.113.{}", 10 + index)];
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        app.submit(
            &world.partner,
            report(&format!("Bound {index}"), "amber", &values),
        )
        .await;
    }
    app.wait_found(&world.ncu_de, "203.0.113.12", "investigation")
        .await;
    let issued = app
        .post(
            "/v1/tokens/case",
            &world.ncu_de,
            json!({ "purpose": "investigation", "case": "CASE-SIEM-1", "label": "siem" }),
        )
        .await;
    assert_eq!(
        issued.status,
        reqwest::StatusCode::CREATED,
        "{}",
        issued.body
    );
    let token = issued.body["token"].as_str().unwrap().to_owned();

    let read = run_script(&["bound", &app.url, "siem", &token, "3"]).await;
    let collections = read["collections"].as_array().unwrap();
    assert_eq!(collections.len(), 1, "only the bound purpose: {read}");
    assert!(
        collections[0]["title"]
            .as_str()
            .unwrap()
            .ends_with("for investigation")
    );
    let objects: Vec<&str> = read["object_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert!(read["pages"].as_u64().unwrap() > 1, "{read}");
    assert_eq!(
        objects
            .iter()
            .filter(|id| id.starts_with("report--"))
            .count(),
        3
    );
    let manifest: Vec<&str> = read["manifest_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert_eq!(manifest, objects);
    assert_eq!(read["added_after_latest"], json!([]), "nothing newer yet");

    // Every read was audited under the bound purpose and case.
    let auditor = app.token("accord-admin", "auditor").await;
    let records = app.get("/v1/audit?case=CASE-SIEM-1", &auditor).await;
    let records = records.body["records"].as_array().unwrap().clone();
    assert!(records.len() >= 4, "{records:?}");
    assert!(
        records
            .iter()
            .all(|record| record["purpose"] == "investigation" && record["status"] == 200)
    );
    app.shutdown().await;
}
