//! JSON request bodies: media-type check, syntax errors as 400, schema and type errors as 422 naming the field.

use anyhow::Context as _;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use accord_domain::validation::to_pointer;

use crate::{ApiError, FieldError};

/// At most this many schema errors are listed in one problem document.
const MAX_LISTED_ERRORS: usize = 50;

/// A JSON Schema compiled once at start-up.
#[derive(Debug)]
pub struct SchemaValidator {
    name: &'static str,
    validator: jsonschema::Validator,
}

impl SchemaValidator {
    /// Compiles `source` (the schema text).
    ///
    /// # Errors
    /// Returns an error naming the schema when it is not valid JSON or not a valid schema: services refuse to start.
    pub fn compile(name: &'static str, source: &str) -> anyhow::Result<Self> {
        let schema: Value = serde_json::from_str(source)
            .with_context(|| format!("schema `{name}` is not valid json"))?;
        let validator = jsonschema::validator_for(&schema)
            .map_err(|error| anyhow::anyhow!("schema `{name}` does not compile: {error}"))?;
        Ok(Self { name, validator })
    }

    /// Validates `instance`, returning a 422 that lists every failing field.
    ///
    /// # Errors
    /// Returns [`ApiError::Unprocessable`] when the instance does not conform.
    pub fn validate(&self, instance: &Value) -> Result<(), ApiError> {
        let errors: Vec<FieldError> = self
            .validator
            .iter_errors(instance)
            .take(MAX_LISTED_ERRORS)
            // The whole document is `/`, as everywhere else in problem documents (the validator says ``).
            .map(|error| {
                FieldError::new(
                    pointer_or_root(error.instance_path().as_str()),
                    error.to_string(),
                )
            })
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        let detail = match errors.as_slice() {
            [only] => format!("{}: {}", only.pointer, only.message),
            _ => format!(
                "{} fields do not conform to the {} schema",
                errors.len(),
                self.name
            ),
        };
        Err(ApiError::Unprocessable { detail, errors })
    }
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

/// Returns the media type of a request (lower-cased, parameters kept), or a 415 if there is none.
///
/// # Errors
/// Returns [`ApiError::UnsupportedMediaType`] when the header is missing or not text.
pub fn media_type(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(
            "a Content-Type header is required (application/json)".to_owned(),
        ));
    };
    let Ok(text) = value.to_str() else {
        return Err(ApiError::UnsupportedMediaType(
            "unreadable Content-Type header".to_owned(),
        ));
    };
    Ok(text.to_ascii_lowercase().replace(' ', ""))
}

/// Checks that a request is `application/json`.
///
/// # Errors
/// Returns [`ApiError::UnsupportedMediaType`] otherwise.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let media = media_type(headers)?;
    let essence = media.split(';').next().unwrap_or_default();
    if essence == "application/json" {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "expected application/json, got {essence}"
    )))
}

/// Parses a body as JSON: a syntax error is a 400 that says where.
///
/// # Errors
/// Returns [`ApiError::BadRequest`] for invalid JSON.
pub fn parse_value(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| ApiError::BadRequest {
        detail: format!(
            "the body is not valid json: {} at line {} column {}",
            error_kind(&error),
            error.line(),
            error.column()
        ),
        errors: vec![FieldError::new("/", "not valid json")],
    })
}

fn error_kind(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Io => "read error",
    }
}

/// Converts a JSON value into a typed request: a type error is a 422 naming the field as a JSON pointer.
///
/// # Errors
/// Returns [`ApiError::Unprocessable`] naming the field.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let pointer = to_pointer(&error.path().to_string());
        let message = error.inner().to_string();
        ApiError::invalid_field(&pointer, message)
    })
}

/// Parses a JSON body straight into a type: syntax → 400, type → 422.
///
/// # Errors
/// As [`parse_value`] and [`from_value`].
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    from_value(parse_value(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_errors_name_the_field() {
        let schema =
            r#"{"type":"object","properties":{"a":{"type":"array","items":{"type":"string"}}}}"#;
        let validator = SchemaValidator::compile("test", schema).unwrap();
        let error = validator
            .validate(&serde_json::json!({"a": ["x", 3]}))
            .unwrap_err();
        let ApiError::Unprocessable { errors, .. } = error else {
            panic!("expected 422")
        };
        assert_eq!(errors[0].pointer, "/a/1");
    }

    /// Found by the gateway's fuzz target (docs/fuzzing.md): a document missing a required top-level property was
    /// refused with an empty pointer, where every other problem names the whole document `/`.
    #[test]
    fn an_error_about_the_whole_document_points_at_the_root() {
        let validator =
            SchemaValidator::compile("test", r#"{"type":"object","required":["title"]}"#).unwrap();
        let error = validator.validate(&serde_json::json!({})).unwrap_err();
        let ApiError::Unprocessable { errors, detail } = error else {
            panic!("expected 422")
        };
        assert_eq!(errors[0].pointer, "/");
        assert!(detail.starts_with("/: "), "{detail}");
    }

    #[test]
    fn syntax_errors_are_400() {
        assert!(matches!(
            parse_value(b"{nope"),
            Err(ApiError::BadRequest { .. })
        ));
    }
}
