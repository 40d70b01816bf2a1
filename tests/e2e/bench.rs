//! The standard benchmark's command (`scripts/bench.sh`, issue 14 item 6) on a small profile: it starts `accord up`,
//! drives it with the load generator, and writes the figures as JSON and the chart as SVG.

use std::process::Command;

use serde_json::Value;

#[test]
fn the_benchmark_command_writes_its_figures_and_chart() {
    let out = tempfile::TempDir::new().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = Command::new("scripts/bench.sh")
        .args(["--indicators", "3000"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ACCORD_BIN", env!("CARGO_BIN_EXE_accord"))
        .env("OUT", out.path())
        .env("PORT", port.to_string())
        .env("LOOKUPS", "50")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(run.status.success(), "{stdout}\n{stderr}");
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
