//! The size limits of investigators' queries, checked before any parsing or index work: the length and the number of
//! terms of a search's `q`, the number and the length of looked-up values. Each is a 400 naming the field and the
//! limit. A refused request is still audited, with what it asked cut at the limit ([`audited_query`],
//! [`audited_values`]), so that no one can grow the trail by the size of a body.

use accord_runtime::ApiError;
use serde_json::Value;

use crate::Config;

/// Checks a search's `q` against `search.max_query_bytes` and `search.max_query_terms`.
///
/// # Errors
/// A 400 naming `/q` and the limit.
pub(crate) fn check_query(q: &str, config: &Config) -> Result<(), ApiError> {
    if q.len() > config.max_query_bytes {
        return Err(ApiError::bad_field(
            "/q",
            format!(
                "at most {} bytes (limit `max_query_bytes`); this one has {}",
                config.max_query_bytes,
                q.len()
            ),
        ));
    }
    // Counted no further than one past the limit.
    let terms = q
        .split_whitespace()
        .take(config.max_query_terms + 1)
        .count();
    if terms > config.max_query_terms {
        return Err(ApiError::bad_field(
            "/q",
            format!(
                "at most {} terms (limit `max_query_terms`)",
                config.max_query_terms
            ),
        ));
    }
    Ok(())
}

/// Checks one looked-up value against `search.max_lookup_value_bytes`.
///
/// # Errors
/// A 400 naming `pointer` and the limit.
pub(crate) fn check_value(pointer: &str, value: &str, config: &Config) -> Result<(), ApiError> {
    if value.len() <= config.max_lookup_value_bytes {
        return Ok(());
    }
    Err(ApiError::bad_field(
        pointer,
        format!(
            "at most {} bytes (limit `max_lookup_value_bytes`); this one has {}",
            config.max_lookup_value_bytes,
            value.len()
        ),
    ))
}

/// Checks a batch lookup's values: their number against `search.max_lookup_values`, each against
/// `search.max_lookup_value_bytes`.
///
/// # Errors
/// A 400 naming `/values` (or `/values/N`) and the limit.
pub(crate) fn check_values(values: &[String], config: &Config) -> Result<(), ApiError> {
    if values.len() > config.max_lookup_values {
        return Err(ApiError::bad_field(
            "/values",
            format!(
                "at most {} values per lookup (limit `max_lookup_values`); this one has {}",
                config.max_lookup_values,
                values.len()
            ),
        ));
    }
    for (index, value) in values.iter().enumerate() {
        check_value(&format!("/values/{index}"), value, config)?;
    }
    Ok(())
}

/// Returns what the audit record stores of a search body: `q` cut at `search.max_query_bytes` (on a character
/// boundary, with `…` appended) when it is longer.
pub(crate) fn audited_query(mut body: Value, config: &Config) -> Value {
    if let Some(Value::String(q)) = body.get_mut("q")
        && q.len() > config.max_query_bytes
    {
        let mut end = config.max_query_bytes;
        while !q.is_char_boundary(end) {
            end -= 1;
        }
        q.truncate(end);
        q.push('…');
    }
    body
}

/// Returns what the audit record stores of a batch lookup's values: at most `search.max_lookup_values` of them, each
/// cut like [`audited_query`] cuts `q`.
pub(crate) fn audited_values(values: Value, config: &Config) -> Value {
    let Value::Array(values) = values else {
        return values;
    };
    let kept = values
        .into_iter()
        .take(config.max_lookup_values)
        .map(|value| match value {
            Value::String(mut text) if text.len() > config.max_lookup_value_bytes => {
                let mut end = config.max_lookup_value_bytes;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                text.push('…');
                Value::String(text)
            }
            other => other,
        })
        .collect();
    Value::Array(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_or_wordy_queries_are_refused_naming_the_limit() {
        let config = Config::default();
        assert!(check_query("phishing type:url", &config).is_ok());
        let wordy = "a ".repeat(600_000);
        let error = check_query(&wordy, &config).unwrap_err();
        assert_eq!(error.status(), 400);
        assert!(error.to_string().contains("max_query_bytes"), "{error}");
        let many = vec!["x"; config.max_query_terms + 1].join(" ");
        let error = check_query(&many, &config).unwrap_err();
        assert!(error.to_string().contains("max_query_terms"), "{error}");
        let long = "x".repeat(config.max_lookup_value_bytes + 1);
        let error = check_values(&["ok".to_owned(), long], &config).unwrap_err();
        assert!(error.to_string().starts_with("/values/1:"), "{error}");
    }

    #[test]
    fn the_audit_keeps_a_query_cut_at_the_limit() {
        let config = Config::default();
        let body = serde_json::json!({ "q": "é".repeat(config.max_query_bytes), "size": 5 });
        let audited = audited_query(body, &config);
        let q = audited["q"].as_str().unwrap();
        assert!(q.len() <= config.max_query_bytes + '…'.len_utf8());
        assert!(q.ends_with('…'));
        assert_eq!(audited["size"], 5);
        let values = serde_json::json!(vec!["v"; config.max_lookup_values + 5]);
        let audited = audited_values(values, &config);
        assert_eq!(audited.as_array().unwrap().len(), config.max_lookup_values);
    }
}
