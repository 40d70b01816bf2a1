//! What compressing a record costs (`accord_bus::compression`), next to serializing it: a release set of a report
//! with 10 indicators released to 2 agencies, as the pipeline writes them.
//!
//! `cargo run --release -p accord-bus --example compression_cost` prints bytes before and after, and microseconds per
//! compression, decompression and `serde_json` round trip.

use std::time::Instant;

use accord_bus::compression;

fn release_set() -> serde_json::Value {
    let indicators: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            serde_json::json!({
                "id": format!("ipv4-addr--7413ddce-a9e8-55d7-b915-129c50a{i:05}"),
                "type": "ipv4-addr",
                "value": format!("198.51.{}.{}", i, 200 + i),
                "source": "declared"
            })
        })
        .collect();
    let view = |agency: &str| {
        serde_json::json!({
            "id": "view--8b5a2e8e-fb53-50f1-bfc4-54451ef9b238",
            "report_id": "report--919b4902-3271-4bd9-85da-4c3ea4c258f7",
            "mous": [["m-loadgen", 1]],
            "grants": [{ "agency": agency, "purpose": "investigation" }],
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2030-12-31T23:59:59Z",
            "profile": { "content": ["indicators", "narrative"], "pii": "redact", "attribution": "named" },
            "facts": { "partner": "bank-a", "tlp": "green", "categories": ["phishing"], "num_indicators": 10 },
            "content": {
                "title": "Phishing kit targeting bank customers",
                "description": "Credential phishing kit hosted at several addresses; victims redirected by SMS.",
                "indicators": indicators,
            }
        })
    };
    serde_json::json!({
        "report_id": "report--919b4902-3271-4bd9-85da-4c3ea4c258f7",
        "partner": "bank-a",
        "evaluated_at": "2026-12-07T08:51:16.490876212Z",
        "indicators": 10,
        "views": [view("ncu-de"), view("ncu-fr")],
        "trigger": "report received"
    })
}

fn per_op(rounds: u32, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..rounds {
        op();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

fn main() {
    let value = release_set();
    let json = serde_json::to_vec(&value).expect("serializable");
    let frame = compression::compress(&json).expect("compressible");
    let rounds = 20_000;
    let compress = per_op(rounds, || {
        std::hint::black_box(compression::compress(&json));
    });
    let decompress = per_op(rounds, || {
        std::hint::black_box(compression::decompress(&frame, 1 << 20).ok());
    });
    let serde = per_op(rounds, || {
        let bytes = serde_json::to_vec(&value).expect("serializable");
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    });
    println!(
        "release set: {} bytes, compressed {} ({:.0} %); compress {compress:.1} µs, decompress {decompress:.1} µs, \
         serde_json round trip {serde:.1} µs",
        json.len(),
        frame.len(),
        frame.len() as f64 * 100.0 / json.len() as f64
    );
}
