//! Runs one of the interop scripts in `tests/interop/` (repository root), feeding `input` on stdin.

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
};

/// Runs `tests/interop/<script>` with `input` on stdin and returns its stdout; fails the test (naming `seed`) when
/// the script fails.
pub(crate) fn run_script(script: &str, input: String, seed: u64) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop")
        .join(script);
    let mut child = Command::new("python3")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start python3");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("failed to run {script}: {error}"));
    writer
        .join()
        .expect("the writer thread ends")
        .unwrap_or_else(|error| panic!("failed to write to {script}: {error}"));
    assert!(
        output.status.success(),
        "{script} failed (seed {seed}): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the script prints UTF-8")
}
