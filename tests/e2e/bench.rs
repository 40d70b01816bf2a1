//! The standard benchmark's command (`scripts/bench.sh`, issue 14 item 6) on a small profile: it starts `accord up`,
//! drives it with the load generator, and writes the figures as JSON and the chart as SVG.

use std::process::Command;

use accord_testkit::{Component, available};
use serde_json::Value;

#[test]
fn the_benchmark_command_writes_its_figures_and_chart() {
    let out = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let run = Command::new("scripts/bench.sh")
        .args(["--indicators", "3000"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ACCORD_BIN", env!("CARGO_BIN_EXE_accord"))
        .env("OUT", out.path())
        .env("PORT", port.to_string())
        .env("LOOKUPS", "50")
        .output()
        .unwrap();
    let (stdout, _) = outputs(&run);
    assert!(
        stdout.contains("bench: 3000 indicators"),
        "the summary line: {stdout}"
    );

    let figures: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("bench.json")).unwrap())
            .unwrap();
    assert_eq!(figures["indicators"], 3000, "{figures}");
    assert!(figures["indicators_per_s_searchable"].as_f64().unwrap() > 0.0);
    assert_eq!(figures["lookup_ms"]["n"], 50, "{figures}");
    assert!(figures["rss_mib_peak"].as_f64().unwrap() > 0.0, "{figures}");
    let held = figures["series"]["indicators_held_rss_mib"]
        .as_array()
        .unwrap();
    assert!(!held.is_empty(), "one sample a second at least: {figures}");

    let svg = std::fs::read_to_string(out.path().join("bench.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for panel in [
        "Throughput",
        "Latency (ms, log scale)",
        "Resident memory over indicators held",
    ] {
        assert!(svg.contains(panel), "{panel} missing from the chart");
    }
    assert!(svg.contains("<polyline"), "a drawn series: {svg}");
}

/// The TAXII benchmark (`scripts/bench-taxii.sh`, issue 14 item 4) on a small collection: the unmodified taxii2-client
/// reads it whole, looks objects up by id, polls, and adds envelopes to the partner's inbox.
#[test]
fn the_taxii_benchmark_reads_and_adds_with_the_oasis_client() {
    let ready = Command::new("python3")
        .args(["-c", "import taxii2client"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !available(
        Component::Interop,
        ready,
        "`python3 -c 'import taxii2client'` fails",
        "pip install taxii2-client (scripts/test.sh does)",
    ) {
        return;
    }
    let port = free_port();
    let run = Command::new("scripts/bench-taxii.sh")
        .arg("20")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ACCORD_BIN", env!("CARGO_BIN_EXE_accord"))
        .env("PORT", port.to_string())
        .env("PYTHON", "python3")
        .env("BUDGET", "30")
        .env("LOOKUPS", "10")
        .env("ADD_ENVELOPES", "6")
        .env("ADD_CLIENTS", "2")
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&run);
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap_or_default())
        .unwrap_or_else(|error| panic!("{error}: {stdout}\n{stderr}"));
    assert_eq!(line["server"], "accord", "{line}");
    let taxii = &line["taxii"];
    assert_eq!(taxii["full_read"]["finished"], true, "{line}");
    assert!(
        taxii["full_read"]["objects"].as_u64().unwrap() > 20,
        "{line}"
    );
    assert_eq!(taxii["match_id_ms"]["n"], 10, "{line}");
    assert_eq!(taxii["match_id_missing"], 0, "{line}");
    let added = &line["add_objects"];
    assert_eq!(added["envelopes"], 6, "{line}");
    assert_eq!(added["failed_requests"], 0, "{line}");
    assert!(added["indicators_per_s"].as_f64().unwrap() > 0.0, "{line}");
}

/// Returns a port free on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Returns a script's standard output and error, after checking that it succeeded.
fn outputs(run: &std::process::Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}
