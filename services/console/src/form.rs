//! Forms: the fields a browser posts, the CSRF check that every state-changing form passes first, and the errors of
//! a problem document placed next to the fields they concern.
//!
//! **CSRF.** Every form a signed-in page renders carries the session's CSRF token in a hidden `csrf` field
//! ([`crate::layout::csrf_field`]); [`check_csrf`] refuses (403) a post whose token is missing or is not the
//! session's, or whose `Origin`/`Sec-Fetch-Site` says it comes from another site — before the post does anything.
//! Sign-in, which has no session yet, uses a token bound to a short-lived cookie instead (`pages::sign_in`).

use std::collections::BTreeMap;

use accord_domain::Role;
use accord_runtime::ApiError;
use axum::{
    extract::{FromRequest, Request},
    http::HeaderMap,
    response::Response,
};

use crate::{extract::Signed, pages, security::same_origin, session::same_secret};

/// The fields of a posted `application/x-www-form-urlencoded` form, in order (a name may repeat).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// Returns the first value of `name`, or `""`.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Returns every value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// Returns fields from pairs (multipart forms, tests).
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        match axum::Form::<Vec<(String, String)>>::from_request(request, state).await {
            Ok(axum::Form(pairs)) => Ok(Self(pairs)),
            Err(rejection) => Err(pages::errors::page_status(
                None,
                rejection.status(),
                "This form could not be read",
                "The browser sent a form the console cannot read. Reload the page and try again.",
            )),
        }
    }
}

/// Refuses (403) a post that does not carry this session's CSRF token, or that another site sent.
#[expect(
    clippy::result_large_err,
    reason = "the refusal is the page the handler answers at once; boxing it would only move it to the heap"
)]
pub(crate) fn check_csrf(
    signed: &Signed,
    headers: &HeaderMap,
    submitted: &str,
) -> Result<(), Response> {
    if same_origin(headers) && !submitted.is_empty() && same_secret(submitted, &signed.session.csrf)
    {
        return Ok(());
    }
    Err(pages::errors::forbidden_form(Some(&signed.session)))
}

/// Admits a posted form: the user has `role` (else the page does not exist for them, as [`Signed::require`] answers)
/// and the form carries its CSRF token from this origin (else [`check_csrf`]'s refusal). Role first, then CSRF.
///
/// # Errors
/// The page the handler answers at once.
#[expect(
    clippy::result_large_err,
    reason = "the refusal is the page the handler answers at once; boxing it would only move it to the heap"
)]
pub(crate) fn admit(
    signed: &Signed,
    role: Role,
    headers: &HeaderMap,
    fields: &Fields,
) -> Result<(), Response> {
    signed.require(role)?;
    check_csrf(signed, headers, fields.get("csrf"))
}

/// The errors of a form, by field name, and those that concern no single field.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldErrors {
    by_field: BTreeMap<String, Vec<String>>,
    /// Errors about the form as a whole.
    pub(crate) general: Vec<String>,
}

impl FieldErrors {
    /// Adds an error to a field (or, with `None`, to the form).
    pub(crate) fn add(&mut self, field: Option<&str>, message: impl Into<String>) {
        match field {
            Some(field) => self
                .by_field
                .entry(field.to_owned())
                .or_default()
                .push(message.into()),
            None => self.general.push(message.into()),
        }
    }

    /// Returns the errors of a field.
    pub(crate) fn of(&self, field: &str) -> &[String] {
        self.by_field.get(field).map_or(&[], Vec::as_slice)
    }

    /// Returns whether there is no error.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_field.is_empty() && self.general.is_empty()
    }

    /// Returns every error, prefixed by its field's label (for the summary at the top of a form).
    pub(crate) fn all(&self) -> Vec<(Option<&str>, &str)> {
        let mut all: Vec<(Option<&str>, &str)> = self
            .general
            .iter()
            .map(|message| (None, message.as_str()))
            .collect();
        for (field, messages) in &self.by_field {
            all.extend(
                messages
                    .iter()
                    .map(|message| (Some(field.as_str()), message.as_str())),
            );
        }
        all
    }

    /// Returns the errors of a refused request: each field error of the problem document placed on the field
    /// `place` names for its JSON pointer (with the message it returns), anything else on the form.
    pub(crate) fn from_api(
        error: &ApiError,
        place: impl Fn(&str, &str) -> Option<(String, String)>,
    ) -> Self {
        let mut errors = Self::default();
        let fields = match error {
            ApiError::BadRequest { errors, .. } | ApiError::Unprocessable { errors, .. } => {
                errors.as_slice()
            }
            other => {
                errors.add(None, pages::errors::explain(other));
                return errors;
            }
        };
        for field in fields {
            match place(&field.pointer, &field.message) {
                Some((name, message)) => errors.add(Some(&name), message),
                None => errors.add(None, format!("{}: {}", field.pointer, field.message)),
            }
        }
        if errors.is_empty() {
            errors.add(None, error.to_string());
        }
        errors
    }
}

/// Returns the property a JSON Schema `required` error names at the root (`"title" is a required property`).
pub(crate) fn required_property(message: &str) -> Option<&str> {
    let rest = message.strip_prefix('"')?;
    let (name, tail) = rest.split_once('"')?;
    tail.contains("required").then_some(name)
}

#[cfg(test)]
mod tests {
    use accord_runtime::FieldError;

    use super::*;

    #[test]
    fn problem_fields_land_on_their_form_fields() {
        let error = ApiError::Unprocessable {
            detail: "2 fields are invalid".to_owned(),
            errors: vec![
                FieldError::new("/indicators/2/value", "not an indicator"),
                FieldError::new("/mystery", "odd"),
                FieldError::new("", "\"title\" is a required property"),
            ],
        };
        let errors = FieldErrors::from_api(&error, |pointer, message| {
            if let Some(name) = required_property(message) {
                return Some((name.to_owned(), "required".to_owned()));
            }
            pointer
                .starts_with("/indicators/")
                .then(|| ("indicators".to_owned(), format!("line 3: {message}")))
        });
        assert_eq!(errors.of("indicators"), ["line 3: not an indicator"]);
        assert_eq!(errors.of("title"), ["required"]);
        assert_eq!(errors.general, ["/mystery: odd"]);
        let unavailable = FieldErrors::from_api(&ApiError::Unavailable("x".into()), |_, _| None);
        assert_eq!(unavailable.general.len(), 1);
    }

    #[test]
    fn repeated_fields_keep_their_order() {
        let fields = Fields::from_pairs(vec![
            ("categories".into(), "phishing".into()),
            ("title".into(), "T".into()),
            ("categories".into(), "malware".into()),
        ]);
        assert_eq!(fields.all("categories"), ["phishing", "malware"]);
        assert_eq!(fields.get("title"), "T");
        assert_eq!(fields.get("missing"), "");
    }
}
