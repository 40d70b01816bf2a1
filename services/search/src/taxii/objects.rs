//! A collection's content: objects, one object, its versions, the manifest (reads, audited). Adding objects to a
//! partner's inbox is the gateway's (`accord_gateway::taxii`).
//!
//! An agency's collection is what a search would return for (agency, purpose, now): every shown view (one per
//! report) the release filter admits, then only those the MoUs in force allow now (the query-time re-check; paging
//! and `more` are computed over what passes it), rendered by [`accord_stix::export`]. It is read from the index a
//! page at a time ([`super::walk`]): the cost of a page, of `match[id]` and of `added_after` polling does not depend
//! on how many objects the collection holds, and no collection is too large to serve. `date_added` is when the view
//! was released to the agency (the latest of the report's reception, the view's start and the change time of the MoU
//! version that granted it), so `added_after` polling picks up reports that a widened MoU releases later. Objects
//! are sorted by `date_added` (then by view and id, [`super::selection::Position`]); `next` is an opaque cursor
//! after the last returned object, stable while objects are added.

use std::collections::BTreeSet;

use accord_domain::{Case, CaseError, Timestamp, View};
use accord_runtime::directory::Snapshot;
use accord_stix::export::{StixObject, timestamp};
use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue},
    response::Response,
};
use serde_json::{Map, Value, json};

use accord_runtime::taxii::{
    Accepts, Caller, STIX_MEDIA_TYPE, TaxiiError, negotiate as negotiate_media, taxii_response,
};

use super::{
    CASE_HEADER, caller,
    collections::{Collection, find},
    selection::{Placed, Position, Selection, encode_cursor, parse_selection},
    walk,
};
use crate::{
    AppState,
    released::{self, RequestRecord, Unaudited},
    request::Context,
};

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// Which read.
enum Read {
    Objects,
    Object(String),
    Versions(String),
    Manifest,
}

impl Read {
    fn endpoint(&self) -> &'static str {
        match self {
            Read::Objects => "GET /taxii2/accord/collections/{id}/objects/",
            Read::Object(_) => "GET /taxii2/accord/collections/{id}/objects/{object_id}/",
            Read::Versions(_) => {
                "GET /taxii2/accord/collections/{id}/objects/{object_id}/versions/"
            }
            Read::Manifest => "GET /taxii2/accord/collections/{id}/manifest/",
        }
    }
}

/// `GET …/collections/{id}/objects/`.
pub(crate) async fn get_objects(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    params: Params,
) -> Response {
    read(state, headers, collection, Read::Objects, params).await
}

/// `GET …/collections/{id}/objects/{object_id}/`.
pub(crate) async fn get_object(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((collection, object)): Path<(String, String)>,
    params: Params,
) -> Response {
    read(state, headers, collection, Read::Object(object), params).await
}

/// `GET …/collections/{id}/objects/{object_id}/versions/`.
pub(crate) async fn versions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((collection, object)): Path<(String, String)>,
    params: Params,
) -> Response {
    read(state, headers, collection, Read::Versions(object), params).await
}

/// `GET …/collections/{id}/manifest/`.
pub(crate) async fn manifest(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    params: Params,
) -> Response {
    read(state, headers, collection, Read::Manifest, params).await
}

/// Returns when a view was released to the agency: the latest of the report's reception (or of its amendment: an
/// amended report's objects get a new `modified`), the view's start and the change time of the MoU versions that
/// grant it (`accord_index::released_at`, the time the index orders a collection by).
pub(crate) fn released_at(view: &View, snapshot: &Snapshot) -> Timestamp {
    let changes: accord_index::MouChanges = snapshot
        .mou_history
        .iter()
        .flat_map(|(mou, versions)| {
            versions
                .iter()
                .map(move |entry| ((mou.clone(), entry.version), entry.changed_at))
        })
        .collect();
    accord_index::released_at(view, &changes)
}

/// The `X-TAXII-Date-Added-First/Last` headers of a page.
fn date_headers(page: &[Placed]) -> Vec<(&'static str, HeaderValue)> {
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Vec::new();
    };
    [
        ("x-taxii-date-added-first", first),
        ("x-taxii-date-added-last", last),
    ]
    .into_iter()
    .filter_map(|(name, placed)| {
        HeaderValue::from_str(&timestamp(placed.object.date_added))
            .ok()
            .map(|value| (name, value))
    })
    .collect()
}

fn paged(mut body: Map<String, Value>, more: bool, next: Option<&Position>) -> Map<String, Value> {
    body.insert("more".to_owned(), json!(more));
    if more && let Some(next) = next {
        body.insert("next".to_owned(), json!(encode_cursor(next)));
    }
    body
}

/// Answers one read of a collection's content, writing its audit record first ([`released`]).
async fn read(
    state: AppState,
    headers: HeaderMap,
    collection_id: String,
    read: Read,
    params: Params,
) -> Response {
    let case = stated_case(&headers);
    let raw_params: Vec<(String, String)> = params
        .as_ref()
        .map(|Query(params)| params.clone())
        .unwrap_or_default();
    let mut query = json!({ "collection": collection_id, "params": raw_params });
    if let (Read::Object(object) | Read::Versions(object), Value::Object(map)) = (&read, &mut query)
    {
        map.insert("object".to_owned(), json!(object));
    }
    let caller = caller(&state, &headers);
    let case = bound_case(&caller, case);
    let mut purpose = None;
    let request = ReadRequest {
        headers: &headers,
        caller: &caller,
        collection_id: &collection_id,
        read: &read,
        params: &params,
        case: &case,
    };
    let negotiated = negotiate(&state, request, &mut purpose);
    let outcome = match negotiated {
        Ok(negotiated) => answer(&state, &read, negotiated).await,
        Err(refusal) => Err(refusal),
    };
    let record = RequestRecord {
        endpoint: read.endpoint(),
        caller: caller.ok().map(|caller| {
            let principal = caller.principal;
            (principal.token_id, principal.organization.to_string())
        }),
        purpose,
        case: case.ok(),
        query,
    };
    released::respond(released::audit_then_release(&state.audit, record, outcome).await)
}

/// A read that may proceed: the media type to answer in, whose collection under which purpose, and the selection.
struct Negotiated {
    media_type: &'static str,
    ctx: Context,
    selection: Selection,
}

/// What a read asks, as received.
struct ReadRequest<'r> {
    headers: &'r HeaderMap,
    caller: &'r Result<Caller, TaxiiError>,
    collection_id: &'r str,
    read: &'r Read,
    params: &'r Params,
    case: &'r Result<Case, String>,
}

/// Returns the case of a read under the caller's token: a case-bound token's case when the header states none; the
/// header's when it states the same one or the token is unbound; refused when the header states another case.
fn bound_case(
    caller: &Result<Caller, TaxiiError>,
    stated: Result<Option<Case>, String>,
) -> Result<Case, String> {
    let binding = caller
        .as_ref()
        .ok()
        .and_then(|caller| caller.principal.binding.as_ref());
    match (stated?, binding) {
        (Some(case), Some(binding)) if case != binding.case => Err(format!(
            "this token is bound to case {}; the X-Accord-Case header states another",
            binding.case
        )),
        (Some(case), _) => Ok(case),
        (None, Some(binding)) => Ok(binding.case.clone()),
        (None, None) => Err("state your case reference in the X-Accord-Case header".to_owned()),
    }
}

/// Returns the normalized case reference of the `X-Accord-Case` header (UTF-8), `None` when there is none (or it
/// is blank), or why it cannot be read.
fn stated_case(headers: &HeaderMap) -> Result<Option<Case>, String> {
    let Some(value) = headers.get(CASE_HEADER) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| "the case reference in the X-Accord-Case header must be UTF-8".to_owned())?;
    match Case::parse(text) {
        Ok(case) => Ok(Some(case)),
        Err(CaseError::Empty) => Ok(None),
        Err(other) => Err(format!(
            "the case reference in the X-Accord-Case header: {other}"
        )),
    }
}

/// Checks the caller, the media type, the collection, the case reference and the parameters of a read. `purpose`
/// is set as soon as the collection (which states it) is known, so that the audit record carries it even when a
/// later check refuses the read.
fn negotiate(
    state: &AppState,
    request: ReadRequest<'_>,
    purpose: &mut Option<accord_domain::Purpose>,
) -> Result<Negotiated, TaxiiError> {
    let ReadRequest {
        headers,
        caller,
        collection_id,
        read,
        params,
        case,
    } = request;
    let caller = caller.as_ref().map_err(|_| TaxiiError::Unauthorized)?;
    let accepts = match read {
        Read::Objects | Read::Object(_) => Accepts::TaxiiOrStix,
        Read::Versions(_) | Read::Manifest => Accepts::Taxii,
    };
    let media_type = negotiate_media(headers, accepts)?;
    let snapshot = state.deps.directory.snapshot();
    let now = chrono::Utc::now();
    let Some(collection) = find(caller, &snapshot, now, collection_id) else {
        return Err(TaxiiError::NotFound);
    };
    let (agency, collection_purpose) = match collection {
        Collection::Inbox { .. } => {
            return Err(TaxiiError::Forbidden(
                "an inbox collection cannot be read".to_owned(),
            ));
        }
        Collection::Released { agency, purpose } => (agency, purpose),
    };
    *purpose = Some(collection_purpose);
    if let Err(message) = case {
        return Err(TaxiiError::BadRequest(message.clone()));
    }
    let Ok(Query(params)) = params else {
        return Err(TaxiiError::BadRequest(
            "the query string is malformed".to_owned(),
        ));
    };
    Ok(Negotiated {
        media_type,
        ctx: Context::new(agency, collection_purpose, now, snapshot),
        selection: parse_selection(params)?,
    })
}

/// Computes the collection's content, selects the page and renders it: the answer, not yet audited.
async fn answer(
    state: &AppState,
    read: &Read,
    negotiated: Negotiated,
) -> Result<Unaudited<Response>, TaxiiError> {
    let Negotiated {
        media_type,
        ctx,
        selection,
    } = negotiated;
    let one = match read {
        Read::Object(id) | Read::Versions(id) => Some(BTreeSet::from([id.clone()])),
        Read::Objects | Read::Manifest => None,
    };
    let (page, more, next) = match one.as_ref().or(selection.ids.as_ref()) {
        Some(ids) => {
            let objects = walk::by_ids(state, &ctx, ids).await?;
            if one.is_some() && objects.is_empty() {
                return Err(TaxiiError::NotFound);
            }
            let (page, more) = selection.page(objects);
            let next = page.last().map(|placed| placed.position.clone());
            (page, more, next)
        }
        None => {
            let walked = walk::page(state, &ctx, &selection).await?;
            (walked.objects, walked.more, walked.next)
        }
    };
    let count = page.len() as u64;
    let dates = date_headers(&page);
    let body = render(read, page, more, next.as_ref());
    let mut response = taxii_response(media_type, Value::Object(body));
    for (name, value) in dates {
        response.headers_mut().insert(name, value);
    }
    Ok(Unaudited::new(response, count))
}

/// Renders a page of objects as the read's TAXII resource: an envelope, a versions list or a manifest. The
/// objects move into the envelope (no copy: the page is the largest thing a TAXII answer holds).
fn render(
    read: &Read,
    page: Vec<Placed>,
    more: bool,
    next: Option<&Position>,
) -> Map<String, Value> {
    let mut body = paged(Map::new(), more, next);
    let page: Vec<StixObject> = page.into_iter().map(|placed| placed.object).collect();
    if page.is_empty() {
        return body;
    }
    let items: Value = match read {
        Read::Objects | Read::Object(_) => {
            Value::Array(page.into_iter().map(|object| object.body).collect())
        }
        Read::Versions(_) => json!(
            page.iter()
                .map(|object| timestamp(object.version))
                .collect::<Vec<_>>()
        ),
        Read::Manifest => json!(
            page.iter()
                .map(|object| {
                    json!({
                        "id": object.id,
                        "date_added": timestamp(object.date_added),
                        "version": timestamp(object.version),
                        "media_type": STIX_MEDIA_TYPE,
                    })
                })
                .collect::<Vec<_>>()
        ),
    };
    let name = match read {
        Read::Versions(_) => "versions",
        _ => "objects",
    };
    body.insert(name.to_owned(), items);
    body
}
