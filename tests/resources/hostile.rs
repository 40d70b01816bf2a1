//! Submissions a hostile partner sends.

use serde_json::{Value, json};

/// The submission of issue 15: about 1.8 MB whose STIX patterns expand to 120 000 IP addresses and whose description
/// holds 15 000 more. The declared indicators are none, so only counting what patterns and free text produce
/// refuses it.
pub fn expanding() -> Value {
    let patterns: Vec<Value> = (0..30)
        .map(|pattern| {
            let values: Vec<String> = (0..4000)
                .map(|n| format!("'10.{pattern}.{}.{}'", n / 250, n % 250))
                .collect();
            json!({
                "pattern_type": "stix",
                "pattern": format!("[ipv4-addr:value IN ({})]", values.join(","))
            })
        })
        .collect();
    let mut description = String::new();
    let mut n = 0_u32;
    while description.len() < 190_000 {
        description.push_str(&format!(
            "172.{}.{}.{} ",
            n / 65536 % 256,
            n / 256 % 256,
            n % 256
        ));
        n += 1;
    }
    json!({
        "title": "Indicators of a large campaign",
        "description": description,
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "amber",
        "classification": "unclassified",
        "categories": ["malware"],
        "patterns": patterns,
    })
}

/// A report as heavy as the default limits allow it to be in practice (the one `accord loadgen --flood` sends).
pub fn heavy(seed: u32) -> Value {
    accord::loadgen::heavy_report(seed)
}
