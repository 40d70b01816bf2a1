//! Paging a collection read from the index a page at a time: every object once, in `date_added` order, across page
//! boundaries that fall inside a report's objects; shared objects once, with the latest report that carries them;
//! `match[id]`, one object and `added_after` polling agree with the full read.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::{
    collection_id,
    helpers::{TestApp, mou, report, spawn_app, world},
    taxii_get,
};

const CASE: &str = "CASE-PAGING";
/// An observable every report of the test carries.
const SHARED_IP: &str = "203.0.113.77";

/// Reads the whole collection with `limit`, following `next`; returns the objects and the manifest records.
async fn read_all(
    app: &TestApp,
    token: &str,
    collection: &str,
    limit: usize,
) -> (Vec<Value>, Vec<Value>) {
    let mut out = Vec::new();
    for resource in ["objects", "manifest"] {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..1_000 {
            let mut path =
                format!("/taxii2/accord/collections/{collection}/{resource}/?limit={limit}");
            if let Some(next) = &next {
                path.push_str(&format!("&next={next}"));
            }
            let page = taxii_get(app, &path, Some(token), Some(CASE)).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let objects = page.body["objects"].as_array().cloned().unwrap_or_default();
            assert!(objects.len() <= limit);
            items.extend(objects);
            if page.body["more"] != true {
                break;
            }
            assert!(
                !page.body["objects"].as_array().is_none_or(Vec::is_empty),
                "a page with more is not empty"
            );
            next = Some(
                page.body["next"]
                    .as_str()
                    .expect("more has next")
                    .to_owned(),
            );
        }
        out.push(items);
    }
    let manifest = out.pop().unwrap_or_default();
    (out.pop().unwrap_or_default(), manifest)
}

fn ids(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|object| object["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let response = taxii_get(app, path, Some(token), Some(CASE)).await;
    assert_eq!(response.status, 200, "{path}: {}", response.body);
    response.body
}

#[tokio::test]
async fn pages_hold_every_object_once_in_order_and_shared_objects_go_with_their_latest_report() {
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_mou(mou("m-bank", "bank-a", &["ncu-de"], json!({})))
        .await;
    let mut reports = Vec::new();
    for n in 0..12 {
        let own = format!("198.51.100.{n}");
        let other = format!("evil-{n}.example");
        let body = report(&format!("Report {n}"), "green", &[&own, &other, SHARED_IP]);
        reports.push(app.submit(&world.partner, body).await);
        app.wait_found(&world.ncu_de, &own, "investigation").await;
    }
    let collection = collection_id(&app, &world.ncu_de, "investigation")
        .await
        .unwrap();
    let (whole, _) = read_all(&app, &world.ncu_de, &collection, 1_000).await;

    for limit in [1, 5, 7, 40] {
        let (objects, manifest) = read_all(&app, &world.ncu_de, &collection, limit).await;
        let paged = ids(&objects);
        assert_eq!(
            paged,
            ids(&whole),
            "limit {limit}: the same objects in the same order"
        );
        assert_eq!(
            paged.iter().collect::<BTreeSet<_>>().len(),
            paged.len(),
            "limit {limit}: no duplicates"
        );
        assert_eq!(
            ids(&manifest),
            paged,
            "limit {limit}: the manifest lists them in the same order"
        );
        let dates: Vec<&str> = manifest
            .iter()
            .map(|record| record["date_added"].as_str().unwrap())
            .collect();
        assert!(
            dates.windows(2).all(|pair| pair[0] <= pair[1]),
            "limit {limit}: by date_added"
        );
    }
    for report_id in &reports {
        assert!(ids(&whole).contains(report_id), "{report_id}");
    }

    // The shared observable is served once, with the latest report that carries it.
    let ip_objects: Vec<&Value> = whole
        .iter()
        .filter(|object| object["value"] == SHARED_IP)
        .collect();
    assert_eq!(ip_objects.len(), 1, "{ip_objects:?}");
    let ip_id = ip_objects[0]["id"].as_str().unwrap().to_owned();
    let (_, manifest) = read_all(&app, &world.ncu_de, &collection, 1_000).await;
    let date_of = |id: &str| -> String {
        manifest.iter().find(|record| record["id"] == id).unwrap()["date_added"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let latest_report = reports.iter().map(|id| date_of(id)).max().unwrap();
    assert_eq!(date_of(&ip_id), latest_report);

    // match[id] and one object agree with the full read.
    let base = format!("/taxii2/accord/collections/{collection}/objects/");
    let wanted = format!("{ip_id},{},{}", reports[3], reports[7]);
    let matched = get(&app, &world.ncu_de, &format!("{base}?match[id]={wanted}")).await;
    let mut matched_ids = ids(matched["objects"].as_array().unwrap());
    matched_ids.sort();
    let mut expected = vec![ip_id.clone(), reports[3].clone(), reports[7].clone()];
    expected.sort();
    assert_eq!(matched_ids, expected);
    let one = get(&app, &world.ncu_de, &format!("{base}{ip_id}/")).await;
    let whole_ip = whole
        .iter()
        .find(|object| object["id"] == ip_id.as_str())
        .unwrap();
    assert_eq!(&one["objects"][0], whole_ip);
    let unknown = taxii_get(
        &app,
        &format!("{base}indicator--00000000-0000-4000-8000-000000000000/"),
        Some(&world.ncu_de),
        Some(CASE),
    )
    .await;
    assert_eq!(unknown.status, 404);

    // Polling: nothing after the latest date; a new report carrying the shared observable brings it along.
    let poll = |since: String| format!("{base}?added_after={since}");
    let nothing = get(&app, &world.ncu_de, &poll(latest_report.clone())).await;
    assert!(
        nothing["objects"].as_array().is_none_or(Vec::is_empty),
        "{nothing}"
    );
    let newest = app
        .submit(
            &world.partner,
            report("Report new", "green", &["192.0.2.200", SHARED_IP]),
        )
        .await;
    app.wait_found(&world.ncu_de, "192.0.2.200", "investigation")
        .await;
    let polled = ids(
        get(&app, &world.ncu_de, &poll(latest_report)).await["objects"]
            .as_array()
            .unwrap(),
    );
    assert!(
        polled.contains(&newest) && polled.contains(&ip_id),
        "{polled:?}"
    );
    assert!(
        reports.iter().all(|old| !polled.contains(old)),
        "{polled:?}"
    );
    let (after, _) = read_all(&app, &world.ncu_de, &collection, 6).await;
    let after = ids(&after);
    assert_eq!(
        after.iter().filter(|id| **id == ip_id).count(),
        1,
        "still once"
    );
    assert!(after.contains(&newest));
    app.shutdown().await;
}

/// Returns the shared observable's object and its manifest record, reading the whole collection.
async fn shared_ip(app: &TestApp, token: &str, collection: &str) -> (Value, Value) {
    let (objects, manifest) = read_all(app, token, collection, 1_000).await;
    let object = objects
        .into_iter()
        .find(|object| object["value"] == SHARED_IP)
        .expect("the observable");
    let record = manifest
        .into_iter()
        .find(|record| record["id"] == object["id"])
        .expect("its record");
    (object, record)
}

#[tokio::test]
async fn a_shared_object_takes_the_strictest_marking_and_a_hidden_report_changes_nothing() {
    const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
    let app = spawn_app().await;
    let world = world(&app).await;
    app.create_org("telco-b", "partner", "DE").await;
    let telco = app.token("telco-b", "partner").await;
    app.create_mou(mou("m-bank", "bank-a", &["ncu-de"], json!({})))
        .await;
    app.create_mou(mou("m-telco", "telco-b", &["ncu-de"], json!({})))
        .await;
    let bank_report = app
        .submit(
            &world.partner,
            report("Bank", "amber", &["198.51.100.1", SHARED_IP]),
        )
        .await;
    app.wait_found(&world.ncu_de, "198.51.100.1", "investigation")
        .await;
    let collection = collection_id(&app, &world.ncu_de, "investigation")
        .await
        .unwrap();
    let (alone, alone_record) = shared_ip(&app, &world.ncu_de, &collection).await;
    assert_eq!(alone["object_marking_refs"], json!([AMBER]));

    // A later green report of another partner carries it: it moves there, still marked amber (the strictest).
    let telco_report = app
        .submit(
            &telco,
            report("Telco", "green", &["198.51.100.2", SHARED_IP]),
        )
        .await;
    app.wait_found(&world.ncu_de, "198.51.100.2", "investigation")
        .await;
    let (shared, record) = shared_ip(&app, &world.ncu_de, &collection).await;
    assert_eq!(shared["object_marking_refs"], json!([AMBER]));
    assert!(record["date_added"].as_str() > alone_record["date_added"].as_str());
    let base = format!("/taxii2/accord/collections/{collection}/objects/");
    let one = get(
        &app,
        &world.ncu_de,
        &format!("{base}{}/", shared["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one["objects"][0], shared, "one object as in the full read");

    // The telco's MoU revoked: its report is hidden, and the observable is back as it was.
    let revoked = app
        .post(
            "/v1/mous/m-telco/revoke",
            crate::helpers::ADMIN_TOKEN,
            json!({}),
        )
        .await;
    assert_eq!(revoked.status.as_u16(), 200, "{}", revoked.body);
    let (after, after_record) = shared_ip(&app, &world.ncu_de, &collection).await;
    assert_eq!(after, alone);
    assert_eq!(after_record, alone_record);
    let (objects, _) = read_all(&app, &world.ncu_de, &collection, 3).await;
    let objects = ids(&objects);
    assert!(
        objects.contains(&bank_report) && !objects.contains(&telco_report),
        "{objects:?}"
    );
    app.shutdown().await;
}
