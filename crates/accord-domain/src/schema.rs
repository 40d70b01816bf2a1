//! The JSON Schemas of `schemas/`, compiled once at start-up.

/// The native incident report schema.
pub const INCIDENT_REPORT: &str = include_str!("../../../schemas/incident-report.schema.json");
/// The MoU schema.
pub const MOU: &str = include_str!("../../../schemas/mou.schema.json");
/// The normalized record schema.
pub const NORMALIZED_REPORT: &str = include_str!("../../../schemas/normalized-report.schema.json");

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::NORMALIZED_REPORT;
    use crate::report::{IndicatorSource, PiiKind};

    fn names(schema: &Value, pointer: &str) -> Vec<Value> {
        schema
            .pointer(pointer)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no enum at {pointer}"))
            .clone()
    }

    /// A variant added in Rust but not to the schema makes the normalizer reject every record that carries it.
    #[test]
    fn the_normalized_schema_names_every_indicator_source_and_pii_kind() {
        let schema: Value = serde_json::from_str(NORMALIZED_REPORT).unwrap();
        let sources = names(
            &schema,
            "/properties/indicators/items/properties/source/enum",
        );
        let every_source = [
            IndicatorSource::Declared,
            IndicatorSource::Text,
            IndicatorSource::Stix,
            IndicatorSource::Derived,
        ];
        for source in every_source {
            // A new variant fails to compile here until it is listed above (and so checked against the schema).
            match source {
                IndicatorSource::Declared
                | IndicatorSource::Text
                | IndicatorSource::Stix
                | IndicatorSource::Derived => {}
            }
            let name = serde_json::to_value(source).unwrap();
            assert!(sources.contains(&name), "{name} missing from the schema");
        }
        let kinds = names(&schema, "/properties/pii/items/properties/kind/enum");
        for kind in PiiKind::ALL {
            let name = serde_json::to_value(kind).unwrap();
            assert!(kinds.contains(&name), "{name} missing from the schema");
        }
    }
}
