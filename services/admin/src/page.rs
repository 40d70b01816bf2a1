//! Opaque cursors for list endpoints: base64url of the last id of the previous page.

use accord_runtime::ApiError;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;

/// Default page size.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub(crate) const MAX_LIMIT: usize = 1000;

/// `?limit=&cursor=`: a page of a list (organizations, tokens, MoUs).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageParams {
    /// The most items (default 100, at most 1000).
    pub limit: Option<usize>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
}

impl PageParams {
    pub(crate) fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// Returns the id after which the page starts.
    pub(crate) fn after(&self) -> Result<Option<String>, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| {
            ApiError::bad_field("/cursor", "not a cursor returned by this endpoint")
        })?;
        let after = String::from_utf8(bytes).map_err(|_| {
            ApiError::bad_field("/cursor", "not a cursor returned by this endpoint")
        })?;
        Ok(Some(after))
    }
}

/// Returns a page of `items` (sorted by id) and the cursor of the next one.
pub(crate) fn paginate<T>(
    items: Vec<(String, T)>,
    params: &PageParams,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let after = params.after()?;
    let limit = params.limit();
    let mut page: Vec<(String, T)> = items
        .into_iter()
        .filter(|(id, _)| after.as_ref().is_none_or(|after| id > after))
        .take(limit + 1)
        .collect();
    let next = if page.len() > limit {
        page.truncate(limit);
        page.last()
            .map(|(id, _)| URL_SAFE_NO_PAD.encode(id.as_bytes()))
    } else {
        None
    };
    Ok((page.into_iter().map(|(_, item)| item).collect(), next))
}
