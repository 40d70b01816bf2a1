//! The TAXII 2.1 write side: a partner adds objects to its inbox, and reads the status of what it added.
//!
//! - `POST /taxii2/accord/collections/{inbox}/objects/` takes a TAXII envelope (`{"objects": […]}`), which becomes
//!   one STIX bundle and then one report through exactly the path of `POST /v1/reports` with a STIX body
//!   ([`crate::reports::accept`]: markings and default TLP, classification guard, schema, every indicator and
//!   pattern), always with lenient handling ([`crate::lenient`]): an object that fails validation (a pattern that
//!   does not parse, an observable value not of its type, an unknown object type, …) is left out of the report and
//!   is a *failure* of the status resource, with its field and the reason. It answers 202 with a status resource
//!   only once the bus has the report; what is never lenient (the classification guard, an envelope with no valid
//!   object, a malformed envelope, the limits) is refused before anything is stored, with the TAXII error naming
//!   the object (`details.errors[].pointer` points into the envelope, e.g. `/objects/3/pattern`).
//! - `GET /taxii2/accord/status/{id}/` follows the report: the objects it carries are *pending* until the normalizer
//!   has processed the report, then all *successes* (the report is in Accord), or all *failures* with the
//!   rejection's reason; the objects left out stay *failures*. The status store is the gateway's
//!   ([`crate::status`]), derived from the bus, so any gateway replica answers it and it survives a restart.
//!
//! Discovery, collections and every read are served by search (`accord_search::taxii`); `accord up` merges both
//! routers, separate processes need a proxy (docs/decisions/0007-taxii.md).

use accord_domain::{ReportId, SubmittedObject, Timestamp};
use accord_runtime::taxii::{
    Accepts, TaxiiError, caller, inbox_id, is_taxii_content, negotiate, taxii_response,
};
use accord_stix::export::{accord_uuid, timestamp};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    AppState,
    convert::Declared,
    lenient::Handling,
    reports::{Submission, accept, lookup},
    status::ReportStatus,
};

/// `POST …/collections/{id}/objects/`: a partner adds an envelope to its inbox.
pub(crate) async fn add_objects(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    body: Bytes,
) -> Response {
    let outcome = add(&state, &headers, &collection, body).await;
    let status = outcome
        .as_ref()
        .map_or_else(TaxiiError::status, |_| StatusCode::ACCEPTED);
    metrics::counter!(crate::metrics::TAXII_ADDS, "status" => status.as_str().to_owned())
        .increment(1);
    outcome.unwrap_or_else(IntoResponse::into_response)
}

async fn add(
    state: &AppState,
    headers: &HeaderMap,
    collection: &str,
    body: Bytes,
) -> Result<Response, TaxiiError> {
    let caller = caller(&state.deps.auth, headers)?;
    let media_type = negotiate(headers, Accepts::Taxii)?;
    if !caller.is_partner() {
        // Agencies' collections are read-only; nobody else has any.
        return Err(TaxiiError::Forbidden(
            "only a partner can add objects, to its own inbox; this collection is read-only"
                .to_owned(),
        ));
    }
    if collection != inbox_id(&caller.org.id) {
        return Err(TaxiiError::NotFound);
    }
    if !is_taxii_content(headers) {
        return Err(TaxiiError::UnsupportedMediaType);
    }
    if body.len() > state.config.max_report_bytes {
        return Err(TaxiiError::PayloadTooLarge(format!(
            "an envelope may be at most {} bytes",
            state.config.max_report_bytes
        )));
    }
    let received_at = chrono::Utc::now();
    let (bundle, objects) = envelope_to_bundle(&body, received_at)?;
    let submission = Submission {
        declared: Declared::Stix,
        body: Bytes::from(bundle),
        idempotency_key: None,
        objects,
        handling: Handling::Lenient,
    };
    let mut listed = submission.objects.clone();
    let accepted = accept(state, &caller.principal, submission).await?;
    let id = accepted.id;
    crate::lenient::mark_failures(&mut listed, &accepted.warnings);
    // The submit wrote the status store; should that write have failed, the report is still accepted (the bus has
    // it, and the follower will record it): answer from what was sent.
    let status = lookup(state, id.as_str())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| ReportStatus {
            received_at: received_at.to_rfc3339(),
            objects: listed,
            ..ReportStatus::accepted(id.as_str(), caller.org.id.as_str())
        });
    let mut response = taxii_response(media_type, status_resource(&status));
    *response.status_mut() = StatusCode::ACCEPTED;
    Ok(response)
}

/// Turns a TAXII envelope into the STIX bundle it carries, and lists its objects (id and version).
///
/// # Errors
/// 400 when the body is not an envelope with an `objects` array; 422 naming the object without a string `id`.
fn envelope_to_bundle(
    body: &[u8],
    received_at: Timestamp,
) -> Result<(Vec<u8>, Vec<SubmittedObject>), TaxiiError> {
    let not_an_envelope = || {
        TaxiiError::BadRequest(
            "the body must be a TAXII envelope: a JSON object with an `objects` array of STIX 2.1 objects"
                .to_owned(),
        )
    };
    let mut envelope: Value = serde_json::from_slice(body).map_err(|_| not_an_envelope())?;
    let Some(objects) = envelope.get_mut("objects").and_then(Value::as_array_mut) else {
        return Err(not_an_envelope());
    };
    let objects = std::mem::take(objects);
    let received = timestamp(received_at);
    let mut listed = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        let Some(id) = object.get("id").and_then(Value::as_str) else {
            return Err(TaxiiError::Refused {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: format!("object {index} has no `id`"),
                errors: vec![accord_runtime::FieldError::new(
                    format!("/objects/{index}/id"),
                    "required: a STIX identifier",
                )],
            });
        };
        let version = ["modified", "created"]
            .iter()
            .find_map(|field| object.get(*field).and_then(Value::as_str))
            .unwrap_or(&received);
        listed.push(SubmittedObject {
            id: id.to_owned(),
            version: version.to_owned(),
            failure: None,
        });
    }
    // The bundle id is derived from the envelope, so the same envelope always makes the same bundle.
    let bundle_id = format!(
        "bundle--{}",
        accord_uuid(&format!(
            "taxii|envelope|{}",
            hex::encode(Sha256::digest(body))
        ))
    );
    let bundle = json!({ "type": "bundle", "id": bundle_id, "objects": objects });
    let bytes = serde_json::to_vec(&bundle).map_err(|_| not_an_envelope())?;
    Ok((bytes, listed))
}

/// `GET /taxii2/accord/status/{id}/`: the status of a partner's own submission; 404 for anything else.
pub(crate) async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(status_id): Path<String>,
) -> Response {
    let outcome = async {
        let caller = caller(&state.deps.auth, &headers)?;
        let media_type = negotiate(&headers, Accepts::Taxii)?;
        if !caller.is_partner() {
            return Err(TaxiiError::NotFound);
        }
        let Ok(id) = ReportId::parse(&format!("report--{status_id}")) else {
            return Err(TaxiiError::NotFound);
        };
        let Some(status) = lookup(&state, id.as_str()).await? else {
            return Err(TaxiiError::NotFound);
        };
        if status.partner != caller.org.id.as_str() || status.objects.is_empty() {
            return Err(TaxiiError::NotFound);
        }
        Ok(taxii_response(media_type, status_resource(&status)))
    }
    .await;
    outcome.unwrap_or_else(IntoResponse::into_response)
}

/// Renders a TAXII status resource (TAXII 2.1 §4.3.1) from a report's status: an object left out of the report
/// (lenient add_objects, [`crate::lenient`]) is a failure with its field and reason; the others share the report's
/// fate: pending until normalized, then successes, or failures with the rejection's reason.
fn status_resource(status: &ReportStatus) -> Value {
    let status_id = status.id.strip_prefix("report--").unwrap_or(&status.id);
    let detail = |object: &SubmittedObject, message: Option<&str>| {
        let mut detail = json!({ "id": object.id, "version": object.version });
        if let Some(message) = message {
            detail["message"] = json!(message);
        }
        detail
    };
    let rejection = status
        .rejections
        .iter()
        .map(|rejection| format!("{}: {}", rejection.reason, rejection.detail))
        .collect::<Vec<_>>()
        .join("; ");
    let (mut successes, mut failures, mut pendings) = (Vec::new(), Vec::new(), Vec::new());
    for object in &status.objects {
        match (object.failure.as_deref(), status.status.as_str()) {
            (Some(failure), _) => failures.push(detail(object, Some(failure))),
            (None, "accepted") => pendings.push(detail(object, None)),
            (None, "rejected") => failures.push(detail(object, Some(&rejection))),
            (None, _) => successes.push(detail(object, None)),
        }
    }
    let request_timestamp = chrono::DateTime::parse_from_rfc3339(&status.received_at)
        .map(|at| timestamp(at.to_utc()))
        .unwrap_or_else(|_| status.received_at.clone());
    let mut resource = json!({
        "id": status_id,
        "request_timestamp": request_timestamp,
        "total_count": status.objects.len(),
        "status": if pendings.is_empty() { "complete" } else { "pending" },
        "success_count": successes.len(),
        "failure_count": failures.len(),
        "pending_count": pendings.len(),
    });
    for (name, list) in [
        ("successes", successes),
        ("failures", failures),
        ("pendings", pendings),
    ] {
        if !list.is_empty() {
            resource[name] = Value::Array(list);
        }
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::RejectionView;

    fn status(state: &str) -> ReportStatus {
        ReportStatus {
            id: "report--6f1c52a4-2c1e-4b8e-9d3a-a55e7c0d1e01".to_owned(),
            title: String::new(),
            partner: "bank-a".to_owned(),
            status: state.to_owned(),
            version: 1,
            amended: None,
            retraction: None,
            indicators: 1,
            released_to: Vec::new(),
            rejections: vec![RejectionView {
                reason: "invalid".to_owned(),
                detail: "bad".to_owned(),
            }],
            withdrawals: Vec::new(),
            body_sha256: String::new(),
            received_at: "2026-11-23T10:00:00.123456Z".to_owned(),
            evaluated_at: None,
            warnings: Vec::new(),
            objects: vec![
                SubmittedObject {
                    id: "indicator--1".to_owned(),
                    version: "2026-11-23T09:00:00.000Z".to_owned(),
                    failure: None,
                },
                SubmittedObject {
                    id: "report--2".to_owned(),
                    version: "2026-11-23T09:00:00.000Z".to_owned(),
                    failure: None,
                },
            ],
        }
    }

    #[test]
    fn objects_are_pending_until_normalized_then_succeed_or_fail_together() {
        let pending = status_resource(&status("accepted"));
        assert_eq!(pending["id"], "6f1c52a4-2c1e-4b8e-9d3a-a55e7c0d1e01");
        assert_eq!(pending["status"], "pending");
        assert_eq!(pending["request_timestamp"], "2026-11-23T10:00:00.123Z");
        assert_eq!(
            (
                &pending["total_count"],
                &pending["pending_count"],
                &pending["success_count"]
            ),
            (&json!(2), &json!(2), &json!(0))
        );
        assert_eq!(pending["pendings"][1]["id"], "report--2");

        for state in ["normalized", "released"] {
            let done = status_resource(&status(state));
            assert_eq!(done["status"], "complete");
            assert_eq!(done["success_count"], 2);
            assert_eq!(done["pending_count"], 0);
            assert!(done.get("pendings").is_none());
        }

        let failed = status_resource(&status("rejected"));
        assert_eq!(failed["status"], "complete");
        assert_eq!(failed["failure_count"], 2);
        assert_eq!(failed["failures"][0]["message"], "invalid: bad");
    }

    #[test]
    fn an_object_left_out_is_a_failure_whatever_the_report_becomes() {
        let with_failure = |state: &str| {
            let mut status = status(state);
            status.objects[0].failure = Some("/objects/0/pattern: invalid".to_owned());
            status_resource(&status)
        };
        let pending = with_failure("accepted");
        assert_eq!(pending["status"], "pending");
        assert_eq!(
            (&pending["failure_count"], &pending["pending_count"]),
            (&json!(1), &json!(1))
        );
        assert_eq!(pending["failures"][0]["id"], "indicator--1");
        assert_eq!(
            pending["failures"][0]["message"],
            "/objects/0/pattern: invalid"
        );
        let done = with_failure("released");
        assert_eq!(done["status"], "complete");
        assert_eq!(
            (&done["success_count"], &done["failure_count"]),
            (&json!(1), &json!(1))
        );
        assert_eq!(done["successes"][0]["id"], "report--2");
        assert_eq!(done["total_count"], 2);
    }

    #[test]
    fn an_envelope_becomes_a_bundle_listing_its_objects() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let envelope = json!({ "objects": [
            { "type": "indicator", "id": "indicator--a", "created": "c", "modified": "m" },
            { "type": "ipv4-addr", "id": "ipv4-addr--b", "value": "198.51.100.7" },
        ], "more": false });
        let body = serde_json::to_vec(&envelope).unwrap();
        let (bundle, listed) = envelope_to_bundle(&body, at).unwrap();
        let bundle: Value = serde_json::from_slice(&bundle).unwrap();
        assert_eq!(bundle["type"], "bundle");
        assert_eq!(bundle["objects"].as_array().unwrap().len(), 2);
        assert_eq!(listed[0].version, "m");
        assert_eq!(listed[1].version, timestamp(at));
        let (again, _) = envelope_to_bundle(&body, at).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&again).unwrap()["id"],
            bundle["id"]
        );

        assert!(matches!(
            envelope_to_bundle(b"[]", at),
            Err(TaxiiError::BadRequest(_))
        ));
        let no_id = serde_json::to_vec(&json!({ "objects": [{ "type": "indicator" }] })).unwrap();
        match envelope_to_bundle(&no_id, at) {
            Err(TaxiiError::Refused { status, errors, .. }) => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
                assert_eq!(errors[0].pointer, "/objects/0/id");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
