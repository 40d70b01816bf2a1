//! The index is derived state: a lost index directory is rebuilt from the bus on the next start, with no other
//! action (a real `accord up` child process, stopped, its index dropped by `accord index rebuild` — which removes the
//! directory, as losing it would — started again).

use crate::{
    helpers::report,
    restart::{free_port, offline, start_child, stop_cleanly},
};

fn ip(index: usize) -> String {
    format!("10.77.{}.{}", index / 250, index % 250 + 1)
}

#[tokio::test]
async fn a_deleted_index_is_rebuilt_from_the_bus_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let (mut child, app, w) = crate::restart::child_world(dir.path(), &data_dir, port, &[]).await;
    const REPORTS: usize = 40;
    for index in 0..REPORTS {
        app.submit(
            &w.partner,
            report(&format!("Rebuild {index}"), "green", &[&ip(index)]),
        )
        .await;
    }
    for index in 0..REPORTS {
        app.wait_found(&w.ncu_de, &ip(index), "investigation").await;
    }

    // `accord index rebuild` refuses while Accord runs on the directory, and changes nothing.
    let refused = offline(&["index", "rebuild"], &data_dir).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("stop Accord first"), "{stderr}");
    assert!(data_dir.join("index").exists());

    stop_cleanly(&mut child).await;
    // Stopped, the index is dropped (the same as losing its directory).
    let dropped = offline(&["index", "rebuild"], &data_dir).await;
    assert!(
        dropped.status.success(),
        "{}",
        String::from_utf8_lossy(&dropped.stderr)
    );
    assert!(!data_dir.join("index").exists());

    // Started again: ready (the rebuild done) and every report searchable, exactly once, with no other action.
    let _child = start_child(&data_dir, port).await;
    for index in 0..REPORTS {
        let found = app.wait_found(&w.ncu_de, &ip(index), "investigation").await;
        assert_eq!(found["reports_total"], 1, "report {index}: {found}");
    }
    assert_eq!(app.readyz().await, reqwest::StatusCode::OK);
}
