//! Submissions a hostile partner sends.

use serde_json::Value;

/// The submission of issue 15 (the one `accord loadgen --flood` sends first): refused before the bus.
pub fn expanding() -> Value {
    accord::loadgen::expanding_report()
}

/// A report as heavy as the default limits allow it to be in practice (the one `accord loadgen --flood` sends).
pub fn heavy(seed: u32) -> Value {
    accord::loadgen::heavy_report(seed)
}
