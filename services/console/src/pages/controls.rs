//! Form controls the coordinators' pages share: a labelled text field and a labelled select, each with its errors
//! under it and `aria-invalid`/`aria-describedby` pointing at them, and the mapping of a problem's JSON pointers to
//! the form's fields.

use accord_runtime::ApiError;
use maud::{Markup, html};

use crate::{
    form::FieldErrors,
    layout::{error_id, field_errors},
};

/// The attributes of a field with errors.
pub(crate) fn invalid(errors: &FieldErrors, field: &str) -> (Option<&'static str>, Option<String>) {
    if errors.of(field).is_empty() {
        (None, None)
    } else {
        (Some("true"), Some(error_id(field)))
    }
}

/// A labelled text field holding `value`.
pub(crate) fn text(
    errors: &FieldErrors,
    name: &str,
    label: &str,
    value: &str,
    required: bool,
) -> Markup {
    let (bad, described) = invalid(errors, name);
    html! {
        label for=(name) { (label) }
        input type="text" id=(name) name=(name) value=(value) required[required] maxlength="200"
            aria-invalid=[bad] aria-describedby=[described];
        (field_errors(errors, name))
    }
}

/// A labelled select of `(value, text)` options with `current` selected.
pub(crate) fn select(
    errors: &FieldErrors,
    name: &str,
    label: &str,
    options: &[(&str, &str)],
    current: &str,
) -> Markup {
    let (bad, described) = invalid(errors, name);
    html! {
        label for=(name) { (label) }
        select id=(name) name=(name) aria-invalid=[bad] aria-describedby=[described] {
            @for (value, text) in options {
                option value=(value) selected[*value == current] { (text) }
            }
        }
        (field_errors(errors, name))
    }
}

/// Returns the errors of a refused request, each on the form field named by the first segment of its pointer when
/// that is one of `fields` (`/country` → `country`), anything else on the form.
pub(crate) fn errors_on(error: &ApiError, fields: &[&str]) -> FieldErrors {
    FieldErrors::from_api(error, |pointer, message| {
        if let Some(name) = crate::form::required_property(message)
            && fields.contains(&name)
        {
            return Some((name.to_owned(), "Required.".to_owned()));
        }
        let first = pointer.trim_start_matches('/').split('/').next()?;
        fields
            .iter()
            .find(|field| **field == first)
            .map(|field| ((*field).to_owned(), message.to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use accord_runtime::FieldError;

    use super::*;

    #[test]
    fn pointers_land_on_their_fields() {
        let error = ApiError::Unprocessable {
            detail: "x".to_owned(),
            errors: vec![
                FieldError::new("/country", "not a country"),
                FieldError::new("/parties/0", "unknown"),
                FieldError::new("", "\"name\" is a required property"),
            ],
        };
        let errors = errors_on(&error, &["country", "name"]);
        assert_eq!(errors.of("country"), ["not a country"]);
        assert_eq!(errors.of("name"), ["Required."]);
        assert_eq!(errors.general, ["/parties/0: unknown"]);
    }
}
