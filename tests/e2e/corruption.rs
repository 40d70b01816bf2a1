//! Corruption detected, contained and reported (issue 22 item 3): a byte flipped in a stored record of the embedded
//! bus is found by `accord bus verify`, and when the record is read again (the index rebuilt from the bus) the stage
//! dead-letters it with its position — the partner is told — while every other report is served and `/readyz`
//! stays ready; a damaged release set is then re-derived by the enforcer, and its report served again. Nothing is
//! lost silently and no ready server fails requests.

use reqwest::StatusCode;

use crate::{
    helpers::{PATIENCE, report},
    restart::{free_port, offline, start_child, stop_cleanly},
};

/// Flips one payload byte of the record at `offset` of `topic`, behind the bus's back.
fn damage(data_dir: &std::path::Path, topic: &str, offset: u64) {
    use redb::ReadableTable as _;
    let db =
        redb::Database::open(data_dir.join("bus").join(accord_bus::embedded::FILE_NAME)).unwrap();
    let name = format!("log/{topic}");
    let table: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new(&name);
    let txn = db.begin_write().unwrap();
    {
        let mut log = txn.open_table(table).unwrap();
        let mut bytes = log.get(offset).unwrap().unwrap().value().to_vec();
        let at = bytes.len() - 3;
        bytes[at] ^= 0x01;
        log.insert(offset, bytes.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

#[tokio::test]
async fn a_damaged_bus_record_is_reported_and_dead_lettered_while_the_rest_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let (mut child, app, w) = crate::restart::child_world(dir.path(), &data_dir, port, &[]).await;
    let mut ids = Vec::new();
    for index in 0..5 {
        let value = format!("corrupt-{index}.example");
        ids.push(
            app.submit(
                &w.partner,
                report(&format!("Report {index}"), "green", &[&value]),
            )
            .await,
        );
        app.wait_found(&w.ncu_de, &value, "investigation").await;
    }
    stop_cleanly(&mut child).await;

    let clean = offline(&["bus", "verify"], &data_dir).await;
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(
        String::from_utf8_lossy(&clean.stdout).contains("reports.releasable: 5 records, 0 damaged")
    );

    // The release set of the third report (offset 2 of reports.releasable) is damaged on disk.
    damage(&data_dir, "reports.releasable", 2);
    let found = offline(&["bus", "verify"], &data_dir).await;
    assert!(!found.status.success(), "a damaged bus fails verification");
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert!(
        stdout.contains("reports.releasable: 5 records, 1 damaged") && stdout.contains("offset 2"),
        "{stdout}"
    );

    // The index is rebuilt from the bus: the damaged record is read again.
    assert!(
        offline(&["index", "rebuild"], &data_dir)
            .await
            .status
            .success()
    );
    let _child = start_child(&data_dir, port).await;
    for index in [0, 1, 3, 4] {
        app.wait_found(
            &w.ncu_de,
            &format!("corrupt-{index}.example"),
            "investigation",
        )
        .await;
    }
    // The damaged release set is not served (it cannot be read), and the partner is told why.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let status = loop {
        let status = app
            .get(&format!("/v1/reports/{}", ids[2]), &w.partner)
            .await
            .body;
        if status.to_string().contains("corrupt on the bus") {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dead letter for the damaged record: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        status.to_string().contains("reports.releasable offset 2"),
        "{status}"
    );
    // The enforcer re-derives the release set from its store: the report is served again, with no operator.
    let found = app
        .wait_found(&w.ncu_de, "corrupt-2.example", "investigation")
        .await;
    assert_eq!(found["reports_total"], 1, "{found}");
    let status = app
        .get(&format!("/v1/reports/{}", ids[2]), &w.partner)
        .await
        .body;
    assert_eq!(status["status"], "released", "{status}");
    assert_eq!(app.readyz().await, StatusCode::OK);
}

/// Submits five reports, `<prefix>-<n>.example` each, one at a time (a segment each), and waits until each is found.
async fn submit_found(app: &crate::helpers::TestApp, w: &crate::helpers::World, prefix: &str) {
    for index in 0..5 {
        let value = format!("{prefix}-{index}.example");
        app.submit(
            &w.partner,
            report(&format!("Report {index}"), "green", &[&value]),
        )
        .await;
        app.wait_found(&w.ncu_de, &value, "investigation").await;
    }
}

/// What was set aside of the index: the `index.damaged-*` entries of the data directory.
fn index_set_asides(data_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(data_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("index.damaged-"))
        })
        .collect()
}

/// Flips bytes in the middle of every `.store` file of the index.
fn damage_index(data_dir: &std::path::Path) -> usize {
    let stores: Vec<_> = std::fs::read_dir(data_dir.join("index"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "store"))
        .collect();
    for path in &stores {
        flip_middle(path);
    }
    stores.len()
}

/// The live segments of the index (`meta.json`), as their files are named.
fn live_segments(data_dir: &std::path::Path) -> Vec<String> {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("index").join("meta.json")).unwrap())
            .unwrap();
    meta["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|segment| segment["segment_id"].as_str().unwrap().replace('-', ""))
        .collect()
}

fn flip_middle(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    let end = (middle + 32).min(bytes.len());
    for byte in &mut bytes[middle..end] {
        *byte ^= 0x5a;
    }
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_damaged_index_is_reported_set_aside_and_rebuilt_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let (mut child, app, w) = crate::restart::child_world(dir.path(), &data_dir, port, &[]).await;
    submit_found(&app, &w, "index-damage").await;
    stop_cleanly(&mut child).await;
    assert!(
        offline(&["index", "verify"], &data_dir)
            .await
            .status
            .success()
    );

    assert!(damage_index(&data_dir) > 0);
    let found = offline(&["index", "verify"], &data_dir).await;
    assert!(!found.status.success());
    assert!(
        String::from_utf8_lossy(&found.stdout).contains("damaged:"),
        "{found:?}"
    );

    let mut child = start_child(&data_dir, port).await;
    for index in 0..5 {
        app.wait_found(
            &w.ncu_de,
            &format!("index-damage-{index}.example"),
            "investigation",
        )
        .await;
    }
    stop_cleanly(&mut child).await;
    assert!(
        offline(&["index", "verify"], &data_dir)
            .await
            .status
            .success(),
        "the rebuilt index is intact"
    );
    assert!(
        !index_set_asides(&data_dir).is_empty(),
        "the damaged index is kept aside for the operator"
    );
}

/// One damaged segment of several (decision 0072): only it is dropped (its files kept aside, not the whole index),
/// the intact segments stay, and its reports are indexed again from the bus before reads are served.
#[tokio::test]
async fn a_damaged_index_segment_is_dropped_alone_and_its_reports_indexed_again() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let (mut child, app, w) = crate::restart::child_world(dir.path(), &data_dir, port, &[]).await;
    submit_found(&app, &w, "segment-damage").await;
    stop_cleanly(&mut child).await;
    let segments = live_segments(&data_dir);
    assert!(segments.len() >= 2, "{segments:?}");
    let damaged = &segments[0];
    flip_middle(&data_dir.join("index").join(format!("{damaged}.store")));

    let mut child = start_child(&data_dir, port).await;
    for index in 0..5 {
        let found = app
            .wait_found(
                &w.ncu_de,
                &format!("segment-damage-{index}.example"),
                "investigation",
            )
            .await;
        assert_eq!(found["reports_total"], 1, "{found}");
    }
    stop_cleanly(&mut child).await;
    assert!(
        offline(&["index", "verify"], &data_dir)
            .await
            .status
            .success(),
        "the index is intact again"
    );
    assert!(
        !data_dir.join("index.replay").exists(),
        "the replay is done"
    );
    let asides = index_set_asides(&data_dir);
    assert_eq!(asides.len(), 1);
    let kept: Vec<String> = std::fs::read_dir(&asides[0])
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !kept.is_empty() && kept.iter().all(|name| name.starts_with(damaged.as_str())),
        "only the damaged segment is set aside, not the whole index: {kept:?}"
    );
}
