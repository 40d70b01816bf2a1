//! Discovery, the API root, and the caller's collections.

use accord_domain::{OrgId, Purpose, Timestamp};
use accord_runtime::directory::Snapshot;
use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use accord_runtime::taxii::{
    Accepts, Caller, MAX_CONTENT_LENGTH, STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE, TaxiiError, negotiate,
    taxii_response,
};

use super::caller;
use crate::AppState;

/// A collection, as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Collection {
    /// A partner's inbox: write only.
    Inbox { partner: OrgId },
    /// What MoUs release to an agency for one purpose: read only.
    Released { agency: OrgId, purpose: Purpose },
}

impl Collection {
    /// Returns its id: a UUIDv5, stable for the organization (and purpose).
    pub(crate) fn id(&self) -> String {
        match self {
            Collection::Inbox { partner } => accord_runtime::taxii::inbox_id(partner),
            Collection::Released { agency, purpose } => {
                accord_runtime::taxii::released_id(agency, *purpose)
            }
        }
    }

    /// Returns the TAXII collection resource.
    fn resource(&self) -> Value {
        let (title, description, can_read, can_write) = match self {
            Collection::Inbox { partner } => (
                format!("{partner} inbox"),
                "Add STIX 2.1 objects here: each envelope becomes one incident report".to_owned(),
                false,
                true,
            ),
            Collection::Released { agency, purpose } => (
                format!("Released to {agency} for {purpose}"),
                format!(
                    "What MoUs in force release to {agency} for {purpose}, now. State your case reference in \
                     the X-Accord-Case header (a case-bound token states it for you); every read is audited."
                ),
                true,
                false,
            ),
        };
        json!({
            "id": self.id(),
            "title": title,
            "description": description,
            "can_read": can_read,
            "can_write": can_write,
            "media_types": [STIX_MEDIA_TYPE],
        })
    }
}

/// Returns the caller's collections now: a partner's inbox, or one per purpose MoUs in force grant an agency (only
/// the bound purpose's for a case-bound token).
pub(crate) fn collections_of(
    caller: &Caller,
    snapshot: &Snapshot,
    at: Timestamp,
) -> Vec<Collection> {
    if caller.is_partner() {
        return vec![Collection::Inbox {
            partner: caller.org.id.clone(),
        }];
    }
    if !caller.is_agency() {
        return Vec::new();
    }
    // A case-bound token reads the collection of its purpose only.
    let bound = caller
        .principal
        .binding
        .as_ref()
        .map(|binding| binding.purpose);
    Purpose::ALL
        .into_iter()
        .filter(|purpose| bound.is_none_or(|bound| bound == *purpose))
        .filter(|purpose| {
            !accord_policy::mous_in_force(
                &caller.org.id,
                *purpose,
                at,
                &snapshot.mous,
                &snapshot.orgs,
            )
            .is_empty()
        })
        .map(|purpose| Collection::Released {
            agency: caller.org.id.clone(),
            purpose,
        })
        .collect()
}

/// Returns the caller's collection with this id, if it has one now.
pub(crate) fn find(
    caller: &Caller,
    snapshot: &Snapshot,
    at: Timestamp,
    id: &str,
) -> Option<Collection> {
    collections_of(caller, snapshot, at)
        .into_iter()
        .find(|collection| collection.id() == id)
}

/// `GET /taxii2/`: the discovery resource.
pub(crate) async fn discovery(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let outcome = (|| {
        caller(&state, &headers)?;
        let media_type = negotiate(&headers, Accepts::Taxii)?;
        let root = state.taxii_api_root.to_string();
        Ok::<_, TaxiiError>(taxii_response(
            media_type,
            json!({
                "title": "Accord TAXII 2.1",
                "description": "Incident reports shared under MoUs: partners add to their inbox, agencies read what \
                                their MoUs release to them",
                "default": root,
                "api_roots": [root],
            }),
        ))
    })();
    outcome.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /taxii2/accord/`: the API root resource.
pub(crate) async fn api_root(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let outcome = (|| {
        caller(&state, &headers)?;
        let media_type = negotiate(&headers, Accepts::Taxii)?;
        Ok::<_, TaxiiError>(taxii_response(
            media_type,
            json!({
                "title": "Accord",
                "description": "MoU-governed sharing of unclassified incident reports",
                "versions": [TAXII_MEDIA_TYPE],
                "max_content_length": MAX_CONTENT_LENGTH,
            }),
        ))
    })();
    outcome.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /taxii2/accord/collections/`.
pub(crate) async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let outcome = (|| {
        let caller = caller(&state, &headers)?;
        let media_type = negotiate(&headers, Accepts::Taxii)?;
        let snapshot = state.deps.directory.snapshot();
        let collections: Vec<Value> = collections_of(&caller, &snapshot, chrono::Utc::now())
            .iter()
            .map(Collection::resource)
            .collect();
        // An empty list is omitted (TAXII 2.1 §5.1).
        let body = if collections.is_empty() {
            json!({})
        } else {
            json!({ "collections": collections })
        };
        Ok::<_, TaxiiError>(taxii_response(media_type, body))
    })();
    outcome.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /taxii2/accord/collections/{id}/`.
pub(crate) async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let outcome = (|| {
        let caller = caller(&state, &headers)?;
        let media_type = negotiate(&headers, Accepts::Taxii)?;
        let snapshot = state.deps.directory.snapshot();
        let Some(collection) = find(&caller, &snapshot, chrono::Utc::now(), &id) else {
            return Err(TaxiiError::NotFound);
        };
        Ok::<_, TaxiiError>(taxii_response(media_type, collection.resource()))
    })();
    outcome.unwrap_or_else(IntoResponse::into_response)
}
