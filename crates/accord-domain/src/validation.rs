//! Validation errors of the domain: which fields of a document are invalid, as JSON pointers, so that every caller
//! (admin, the enforcer's preview, the console) answers the same problem document for the same input.

use std::fmt;

/// One invalid field: a JSON pointer into the document and what is wrong with it (lower-case, no period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// JSON pointer (`/recipients/0`).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl FieldIssue {
    /// Returns an issue.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// A document with at least one invalid field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    /// Every invalid field found, in document order.
    pub issues: Vec<FieldIssue>,
}

impl Invalid {
    /// Returns the one-line summary a problem document's `detail` carries: the field and message when there is one
    /// issue, else how many fields of `what` are invalid.
    pub fn detail(&self, what: &str) -> String {
        match self.issues.as_slice() {
            [only] => format!("{}: {}", only.pointer, only.message),
            issues => format!("{} fields of the {what} are invalid", issues.len()),
        }
    }

    /// Returns `Ok(())` when `issues` is empty, else the error.
    ///
    /// # Errors
    /// When there is at least one issue.
    pub fn check(issues: Vec<FieldIssue>) -> Result<(), Invalid> {
        if issues.is_empty() {
            Ok(())
        } else {
            Err(Invalid { issues })
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail("document"))
    }
}

/// Turns a serde path (`a.b[3].c`, as `serde_path_to_error` prints it) into the JSON pointer `/a/b/3/c`.
pub fn to_pointer(path: &str) -> String {
    if path == "." || path.is_empty() {
        return "/".to_owned();
    }
    let mut pointer = String::new();
    for segment in path.split('.') {
        let mut rest = segment;
        while let Some(open) = rest.find('[') {
            let name = &rest[..open];
            if !name.is_empty() {
                pointer.push('/');
                pointer.push_str(&escape(name));
            }
            let Some(close) = rest[open..].find(']') else {
                break;
            };
            pointer.push('/');
            pointer.push_str(&rest[open + 1..open + close]);
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            pointer.push('/');
            pointer.push_str(&escape(rest));
        }
    }
    pointer
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_pointers() {
        assert_eq!(to_pointer("indicators[3].value"), "/indicators/3/value");
        assert_eq!(to_pointer("tlp"), "/tlp");
        assert_eq!(to_pointer("."), "/");
    }
}
