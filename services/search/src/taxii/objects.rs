//! A collection's content: objects, one object, its versions, the manifest (reads, audited). Adding objects to a
//! partner's inbox is the gateway's (`accord_gateway::taxii`).
//!
//! An agency's collection is computed per request from the index, exactly as a search is: every shown view (one per
//! report) the release filter admits for (agency, purpose, now), then only those the MoUs in force allow now (the
//! query-time re-check; paging and `more` are computed over what passes it),
//! rendered by [`accord_stix::export`]. `date_added` is when the view was released to the agency (the latest of the
//! report's reception, the view's start and the change time of the MoU version that granted it), so `added_after`
//! polling picks up reports that a widened MoU releases later. Objects are sorted by `date_added` then id; `next` is
//! an opaque cursor after the last returned `(date_added, id)`, stable while objects are added.

use std::collections::BTreeSet;

use accord_domain::{Case, CaseError, Timestamp, View};
use accord_index::{Filters, Query as IndexQuery};
use accord_runtime::directory::Snapshot;
use accord_stix::export::{Release, StixObject, export, timestamp};
use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue},
    response::Response,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use accord_runtime::taxii::{
    Accepts, Caller, STIX_MEDIA_TYPE, TaxiiError, negotiate as negotiate_media, taxii_response,
};

use super::{
    CASE_HEADER, caller,
    collections::{Collection, find},
};
use crate::{
    AppState,
    released::{self, RequestRecord, Unaudited},
    request::Context,
};
use accord_runtime::telemetry::ErrorChain;

/// Views fetched from the index per request to it.
const INDEX_PAGE: usize = 500;
/// The most reports one collection may hold; beyond it a read fails (503) rather than answer part of it.
const MAX_COLLECTION_REPORTS: usize = 50_000;
/// The largest page (`limit`) served; a larger `limit` gets this many.
const MAX_PAGE: usize = 1_000;

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

/// The filters and paging of a read.
#[derive(Debug, Default)]
struct Selection {
    added_after: Option<Timestamp>,
    types: Option<BTreeSet<String>>,
    ids: Option<BTreeSet<String>>,
    spec_versions: Option<BTreeSet<String>>,
    versions: Option<Vec<String>>,
    limit: usize,
    after: Option<(Timestamp, String)>,
}

fn parse_timestamp(name: &str, value: &str) -> Result<Timestamp, TaxiiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|_| TaxiiError::BadRequest(format!("`{name}` must be an RFC 3339 timestamp")))
}

fn list(value: &str) -> BTreeSet<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn encode_cursor(object: &StixObject) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}|{}",
        object.date_added.timestamp_micros(),
        object.id
    ))
}

fn decode_cursor(cursor: &str) -> Result<(Timestamp, String), TaxiiError> {
    let invalid =
        || TaxiiError::BadRequest("`next` is not a value this server returned".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let at = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    Ok((at, id.to_owned()))
}

fn parse_selection(params: &[(String, String)]) -> Result<Selection, TaxiiError> {
    let mut selection = Selection {
        limit: MAX_PAGE,
        ..Selection::default()
    };
    for (name, value) in params {
        match name.as_str() {
            "added_after" => selection.added_after = Some(parse_timestamp(name, value)?),
            "limit" => {
                let limit: usize = value.trim().parse().map_err(|_| {
                    TaxiiError::BadRequest("`limit` must be a positive integer".to_owned())
                })?;
                if limit == 0 {
                    return Err(TaxiiError::BadRequest(
                        "`limit` must be a positive integer".to_owned(),
                    ));
                }
                selection.limit = limit.min(MAX_PAGE);
            }
            "next" => selection.after = Some(decode_cursor(value)?),
            "match[type]" => selection.types = Some(list(value)),
            "match[id]" => selection.ids = Some(list(value)),
            "match[spec_version]" => selection.spec_versions = Some(list(value)),
            "match[version]" => {
                let versions: Vec<String> = list(value).into_iter().collect();
                for version in &versions {
                    if !matches!(version.as_str(), "first" | "last" | "all") {
                        parse_timestamp(name, version)?;
                    }
                }
                selection.versions = Some(versions);
            }
            // Other parameters (and match filters this server does not offer) are ignored, as TAXII allows.
            _ => {}
        }
    }
    Ok(selection)
}

impl Selection {
    /// Returns whether an object passes the filters (not the paging).
    fn admits(&self, object: &StixObject) -> bool {
        if self
            .added_after
            .is_some_and(|after| object.date_added <= after)
        {
            return false;
        }
        if self
            .types
            .as_ref()
            .is_some_and(|types| !types.contains(&object.kind))
        {
            return false;
        }
        if self
            .ids
            .as_ref()
            .is_some_and(|ids| !ids.contains(&object.id))
        {
            return false;
        }
        // Accord serves STIX 2.1 only, so every object is its own latest spec version.
        if self
            .spec_versions
            .as_ref()
            .is_some_and(|versions| !versions.contains("2.1"))
        {
            return false;
        }
        // Every object has exactly one version here: it is the first, the last, and all of them.
        if let Some(versions) = &self.versions {
            let matches = versions.iter().any(|version| match version.as_str() {
                "first" | "last" | "all" => true,
                timestamp => parse_timestamp("match[version]", timestamp)
                    .is_ok_and(|at| at == object.version),
            });
            if !matches {
                return false;
            }
        }
        true
    }

    /// Returns the page: the admitted objects after the cursor, at most `limit`, and whether more follow.
    fn page<'a>(&self, objects: &'a [StixObject]) -> (Vec<&'a StixObject>, bool) {
        let mut admitted = objects
            .iter()
            .filter(|object| self.admits(object))
            .filter(|object| {
                self.after
                    .as_ref()
                    .is_none_or(|(at, id)| (object.date_added, &object.id) > (*at, id))
            });
        let page: Vec<&StixObject> = admitted.by_ref().take(self.limit).collect();
        let more = admitted.next().is_some();
        (page, more)
    }
}

/// Returns when a view was released to the agency: the latest of the report's reception (or of its amendment: an
/// amended report's objects get a new `modified`), the view's start and the change time of the MoU versions that
/// grant it.
pub(crate) fn released_at(view: &View, snapshot: &Snapshot) -> Timestamp {
    let received = view
        .facts
        .amended_at
        .map_or(view.facts.received_at, |amended| {
            amended.max(view.facts.received_at)
        });
    let mut at = received.max(view.valid_from);
    for (mou, version) in &view.mous {
        let changed = snapshot
            .mou_history
            .get(mou)
            .and_then(|versions| versions.iter().find(|entry| entry.version == *version))
            .map(|entry| entry.changed_at);
        if let Some(changed) = changed {
            at = at.max(changed);
        }
    }
    at
}

/// Returns the collection's content for the context: what a search would return, as STIX objects.
async fn content(state: &AppState, ctx: &Context) -> Result<Vec<StixObject>, TaxiiError> {
    let mut views: Vec<View> = Vec::new();
    let mut offset = 0;
    loop {
        let query = IndexQuery {
            release: ctx.release(accord_index::Views::Shown, false),
            indicator: None,
            text: None,
            filters: Filters::default(),
            size: INDEX_PAGE,
            offset,
        };
        let page = state.deps.index.search(query).await.map_err(|error| {
            tracing::error!(error = %ErrorChain(&error), "index query for a TAXII collection failed");
            TaxiiError::Unavailable("the index is unavailable; retry later".to_owned())
        })?;
        if page.total > MAX_COLLECTION_REPORTS as u64 {
            tracing::error!(total = page.total, "TAXII collection too large to serve");
            return Err(TaxiiError::Unavailable(format!(
                "this collection holds more than {MAX_COLLECTION_REPORTS} reports, more than this server serves \
                 in one collection; use POST /v1/search"
            )));
        }
        let fetched = page.hits.len();
        // The second wall: only what the MoUs in force allow now.
        views.extend(page.hits.into_iter().filter(|view| ctx.allows(view)));
        offset += fetched;
        if fetched < INDEX_PAGE || offset as u64 >= page.total {
            break;
        }
    }
    let releases: Vec<Release<'_>> = views
        .iter()
        .map(|view| Release {
            view,
            released_at: released_at(view, &ctx.snapshot),
        })
        .collect();
    let mut objects = export(&releases);
    // Retracted reports' objects the agency was shown, again, revoked.
    let store = state.revocations.clone();
    let (agency, purpose) = (ctx.agency.clone(), ctx.purpose);
    let revoked = tokio::task::spawn_blocking(move || store.objects(&agency, purpose))
        .await
        .map_err(|error| TaxiiError::Unavailable(format!("revocations: {error}")))?
        .map_err(|error| {
            tracing::error!(error = %ErrorChain(error.as_ref()), "failed to read revocations");
            TaxiiError::Unavailable("the revocation store is unavailable; retry later".to_owned())
        })?;
    if !revoked.is_empty() {
        // An object released now is served as released, whatever was revoked before.
        let released: BTreeSet<String> = objects.iter().map(|object| object.id.clone()).collect();
        objects.extend(
            revoked
                .into_iter()
                .filter(|object| !released.contains(&object.id)),
        );
        // The TAXII order, as `export` gives it.
        objects.sort_by(|a, b| (a.date_added, &a.id).cmp(&(b.date_added, &b.id)));
    }
    Ok(objects)
}

/// Adds the `X-TAXII-Date-Added-First/Last` headers of a page.
fn date_headers(response: &mut Response, page: &[&StixObject]) {
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return;
    };
    for (name, object) in [
        ("x-taxii-date-added-first", first),
        ("x-taxii-date-added-last", last),
    ] {
        if let Ok(value) = HeaderValue::from_str(&timestamp(object.date_added)) {
            response.headers_mut().insert(name, value);
        }
    }
}

fn paged(mut body: Map<String, Value>, page: &[&StixObject], more: bool) -> Map<String, Value> {
    body.insert("more".to_owned(), json!(more));
    if more && let Some(last) = page.last() {
        body.insert("next".to_owned(), json!(encode_cursor(last)));
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
    let mut objects = content(state, &ctx).await?;
    if let Read::Object(id) | Read::Versions(id) = read {
        objects.retain(|object| &object.id == id);
        if objects.is_empty() {
            return Err(TaxiiError::NotFound);
        }
    }
    let (page, more) = selection.page(&objects);
    let count = page.len() as u64;
    let mut response = taxii_response(media_type, Value::Object(render(read, &page, more)));
    date_headers(&mut response, &page);
    Ok(Unaudited::new(response, count))
}

/// Renders a page of objects as the read's TAXII resource: an envelope, a versions list or a manifest.
fn render(read: &Read, page: &[&StixObject], more: bool) -> Map<String, Value> {
    let mut body = paged(Map::new(), page, more);
    if page.is_empty() {
        return body;
    }
    let items: Value = match read {
        Read::Objects | Read::Object(_) => {
            json!(page.iter().map(|object| &object.body).collect::<Vec<_>>())
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

#[cfg(test)]
mod tests;
