//! Faults a real `accord up` child process must get through without an operator, or report clearly
//! (docs/runbook.md): a second process on the same data directory, a shutdown that outlives its grace period, a
//! full disk (a small tmpfs as data directory: needs root and `mount`; without them the test prints a notice and
//! passes, unless `ACCORD_REQUIRE_TMPFS=1`, when it fails).

use std::{process::Stdio, time::Duration};

use tokio::{io::AsyncWriteExt as _, process::Command};

use crate::{
    helpers::{ADMIN_TOKEN, PATIENCE},
    restart::{free_port, start_child, start_child_with, terminate},
};

#[tokio::test]
async fn a_second_process_on_the_same_data_directory_is_told_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let _first = start_child(&data_dir, free_port()).await;
    let second = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["up", "--data-dir"])
        .arg(&data_dir)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .env("ACCORD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PATIENCE, second)
        .await
        .expect("the second process stops by itself")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the data directory `{}` is in use",
            data_dir.display()
        )),
        "the error names the data directory: {stderr}"
    );
    assert!(stderr.contains("another Accord process holds"), "{stderr}");
}

#[tokio::test]
async fn a_clean_shutdown_exits_zero_and_one_past_its_grace_period_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let grace = [("ACCORD_HEALTH__SHUTDOWN_GRACE_MS", "300")];

    // Nothing in flight: SIGTERM stops it cleanly, status 0.
    let mut child = start_child_with(&dir.path().join("clean"), free_port(), &grace).await;
    terminate(&child);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "a clean shutdown exits 0: {status}");

    // A request whose body never finishes keeps the shutdown from finishing: after the grace period the process
    // exits anyway, and says so with a non-zero status.
    let port = free_port();
    let mut child = start_child_with(&dir.path().join("stuck"), port, &grace).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 100000\r\n\r\n{{\"title\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    terminate(&child);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !status.success(),
        "a shutdown cut short by its grace period exits non-zero: {status}"
    );
    drop(stream);
}
