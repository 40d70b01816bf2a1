//! The MoU documents as `GET /v1/mous…` and `POST /v1/mous/preview` answer them. A version is kept whole as JSON
//! too ([`MouVersion::document`]): the editor and the version diffs work on every field of the model, including
//! any the console does not name.

use serde::Deserialize;
use serde_json::Value;

/// One version of an MoU: the model's fields plus `version`, `changed_by`, `changed_at`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "Value")]
pub struct MouVersion {
    /// The whole document, as the API answered it.
    pub document: Value,
}

impl From<Value> for MouVersion {
    fn from(document: Value) -> Self {
        Self { document }
    }
}

impl MouVersion {
    /// Returns a string field (`""` when absent).
    pub fn text(&self, field: &str) -> &str {
        self.document
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Returns a list field's strings.
    pub fn list(&self, field: &str) -> Vec<&str> {
        self.document
            .get(field)
            .and_then(Value::as_array)
            .map(|values| values.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Returns the version number.
    pub fn version(&self) -> u64 {
        self.document
            .get("version")
            .and_then(Value::as_u64)
            .unwrap_or_default()
    }

    /// Returns the MoU as a draft: the model's fields only (no `version`, `changed_by`, `changed_at`, `reason`).
    pub fn draft(&self) -> Value {
        let mut draft = self.document.clone();
        if let Value::Object(map) = &mut draft {
            for meta in ["version", "changed_by", "changed_at", "reason"] {
                map.remove(meta);
            }
        }
        draft
    }
}

/// `GET /v1/mous`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MouList {
    /// The latest version of each, by id.
    pub mous: Vec<MouVersion>,
    /// The cursor of the next page.
    #[serde(default)]
    pub next: Option<String>,
}

/// `GET /v1/mous/{id}/history`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MouHistory {
    /// Oldest first.
    pub versions: Vec<MouVersion>,
}

/// What a draft would change for one agency.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgencyChange {
    /// The agency.
    pub agency: String,
    /// Reports it would newly see.
    pub reports_becoming_visible: u64,
    /// Reports it would no longer see.
    pub reports_withdrawn: u64,
    /// Indicator values it would newly see.
    pub indicators_becoming_visible: u64,
    /// Indicator values it would no longer see.
    pub indicators_withdrawn: u64,
}

/// `POST /v1/mous/preview`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Preview {
    /// The reports of the draft's (and the current version's) providers, all evaluated.
    pub reports_evaluated: u64,
    /// Per agency with any change.
    pub changes: Vec<AgencyChange>,
}

/// `GET /v1/explain`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Explanation {
    /// Whether the agency may see the report now, for some purpose.
    pub visible: bool,
    /// The MoU whose view it is shown.
    #[serde(default)]
    pub mou: Option<String>,
    /// Why (each granting purpose, and each other MoU's reason for not granting it).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// What the view withholds or alters.
    #[serde(default)]
    pub redactions: Vec<String>,
}
