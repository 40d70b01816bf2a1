//! What every investigator request shares: the caller's agency, purpose and case, the re-check, and the audit
//! record written before the response leaves.

use std::sync::Arc;

use accord_domain::{Case, OrgId, OrgKind, Purpose, Role, Timestamp, View};
use accord_runtime::{ApiError, FieldError, Principal, directory::Snapshot};
use serde_json::Value;

use crate::{
    AppState,
    released::{self, Outcome, RequestRecord, Unaudited},
};
use accord_runtime::telemetry::ErrorChain;

/// The investigator's context for one request: who asks, for what, when, and the directory snapshot the request is
/// answered under.
pub struct Context {
    pub(crate) agency: OrgId,
    pub(crate) purpose: Purpose,
    pub(crate) at: Timestamp,
    pub(crate) snapshot: Arc<Snapshot>,
}

impl Context {
    /// Returns the context of a request by `agency` for `purpose` at `at` under `snapshot`. The handlers build it
    /// from the caller's token and the current time; the differential policy test builds it directly.
    pub fn new(agency: OrgId, purpose: Purpose, at: Timestamp, snapshot: Arc<Snapshot>) -> Self {
        Self {
            agency,
            purpose,
            at,
            snapshot,
        }
    }

    /// Returns the index's release filter for this request: the caller's grant, the time, the MoUs in force with
    /// their current versions, which of a report's views match, and whether only stale ones.
    pub(crate) fn release(
        &self,
        views: accord_index::Views,
        stale_only: bool,
    ) -> accord_index::ReleaseFilter {
        accord_index::ReleaseFilter {
            agency: self.agency.clone(),
            purpose: self.purpose,
            at: self.at,
            mous: accord_policy::mous_in_force(
                &self.agency,
                self.purpose,
                self.at,
                &self.snapshot.mous,
                &self.snapshot.orgs,
            ),
            views,
            stale_only,
        }
    }

    /// Returns the rank of `view` for the caller's grant (0: the shown view), or `None` when it is not released to it.
    pub(crate) fn rank_of(&self, view: &View) -> Option<u32> {
        view.rank_for(&self.agency, self.purpose)
    }

    /// Returns whether a hit may be served now (the query-time re-check).
    pub(crate) fn allows(&self, view: &View) -> bool {
        accord_policy::allows(
            view,
            &self.agency,
            self.purpose,
            self.at,
            &self.snapshot.mous,
            &self.snapshot.orgs,
        )
    }
}

/// The purpose and case a client stated, normalized once ([`Purpose::normalize`], [`Case::parse`]): what is
/// checked, what the audit record stores and what an auditor's filter matches are the same values.
pub(crate) struct PurposeAndCase {
    pub(crate) purpose: Option<Purpose>,
    pub(crate) case: Option<Case>,
    errors: Vec<FieldError>,
}

impl PurposeAndCase {
    /// Normalizes what a request states, under the caller's token: a case-bound token supplies the purpose and case a
    /// request leaves out, and a request that states another one is refused (400 naming the field), exactly as if
    /// the bound ones had been stated.
    pub(crate) fn of(
        principal: Option<&Principal>,
        purpose: Option<&str>,
        case: Option<&str>,
    ) -> Self {
        let binding = principal.and_then(|principal| principal.binding.as_ref());
        let Some(binding) = binding else {
            return Self::parse(purpose, case);
        };
        let mut stated = Self::parse(
            Some(purpose.unwrap_or(binding.purpose.as_str())),
            Some(case.unwrap_or(binding.case.as_str())),
        );
        if stated
            .purpose
            .is_some_and(|purpose| purpose != binding.purpose)
        {
            stated.errors.push(FieldError::new(
                "/purpose",
                format!("this token is bound to purpose {}", binding.purpose),
            ));
        }
        if stated
            .case
            .as_ref()
            .is_some_and(|case| *case != binding.case)
        {
            stated.errors.push(FieldError::new(
                "/case",
                format!("this token is bound to case {}", binding.case),
            ));
        }
        stated
    }

    /// Normalizes a stated purpose and case, keeping what was wrong with each (naming `/purpose` and `/case`).
    pub(crate) fn parse(purpose: Option<&str>, case: Option<&str>) -> Self {
        let mut errors = Vec::new();
        let purpose = match purpose.map(Purpose::normalize) {
            Some(Ok(purpose)) => Some(purpose),
            Some(Err(error)) => {
                errors.push(FieldError::new("/purpose", error.to_string()));
                None
            }
            None => {
                errors.push(FieldError::new(
                    "/purpose",
                    "required: investigation, prevention, prosecution or research",
                ));
                None
            }
        };
        let case = match case.map(Case::parse) {
            Some(Ok(case)) => Some(case),
            Some(Err(error)) => {
                errors.push(FieldError::new("/case", error.to_string()));
                None
            }
            None => {
                errors.push(FieldError::new(
                    "/case",
                    accord_domain::CaseError::Empty.to_string(),
                ));
                None
            }
        };
        Self {
            purpose,
            case,
            errors,
        }
    }

    /// Returns the purpose and the case, or the 400 naming every bad field.
    pub(crate) fn both(&self) -> Result<(Purpose, Case), ApiError> {
        let purpose = self.purpose()?;
        match &self.case {
            Some(case) => Ok((purpose, case.clone())),
            None => Err(ApiError::bad_field(
                "/case",
                accord_domain::CaseError::Empty.to_string(),
            )),
        }
    }

    /// Returns the purpose, or the 400 naming every bad field.
    fn purpose(&self) -> Result<Purpose, ApiError> {
        match (self.purpose, self.errors.is_empty()) {
            (Some(purpose), true) => Ok(purpose),
            _ => {
                let detail = self
                    .errors
                    .iter()
                    .map(|error| format!("{}: {}", error.pointer, error.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Err(ApiError::BadRequest {
                    detail,
                    errors: self.errors.clone(),
                })
            }
        }
    }
}

/// What gets audited about a request.
pub(crate) struct Audited {
    pub(crate) endpoint: &'static str,
    pub(crate) stated: PurposeAndCase,
    pub(crate) query: Value,
}

/// Checks the caller (`None`: no valid token) and its stated purpose and case.
pub(crate) fn context(
    state: &AppState,
    principal: Option<&Principal>,
    audited: &Audited,
) -> Result<Context, ApiError> {
    let Some(principal) = principal else {
        return Err(ApiError::Unauthorized);
    };
    principal.require(Role::Investigator)?;
    let snapshot = state.deps.directory.snapshot();
    let Some(org) = snapshot.orgs.get(&principal.organization) else {
        return Err(ApiError::Unauthorized);
    };
    if org.kind != OrgKind::Agency {
        return Err(ApiError::Forbidden("only agencies search".to_owned()));
    }
    let purpose = audited.stated.purpose()?;
    Ok(Context::new(
        org.id.clone(),
        purpose,
        chrono::Utc::now(),
        snapshot,
    ))
}

/// Writes the audit record of an investigator request (caller `None`: no valid token) and returns its outcome, for
/// answering (see [`crate::released`]).
pub(crate) async fn finish<T>(
    state: &AppState,
    principal: Option<&Principal>,
    audited: Audited,
    outcome: Result<Unaudited<T>, ApiError>,
) -> Outcome<T, ApiError> {
    let record = RequestRecord {
        endpoint: audited.endpoint,
        caller: principal.map(|principal| {
            (
                principal.token_id.clone(),
                principal.organization.to_string(),
            )
        }),
        purpose: audited.stated.purpose,
        case: audited.stated.case,
        query: audited.query,
    };
    released::audit(&state.audit, record, outcome).await
}

/// Maps an index failure to a 503 (fail closed) or a 400 for a bad query.
pub(crate) fn index_error(error: accord_index::IndexError) -> ApiError {
    match error {
        accord_index::IndexError::InvalidQuery(message) => ApiError::bad_field("/q", message),
        // The index is replaying the bus after losing what it held: nothing it holds is served meanwhile.
        accord_index::IndexError::Rebuilding(progress) => {
            ApiError::Unavailable(format!("the index is {progress} from the bus; retry later"))
        }
        other => {
            tracing::error!(error = %ErrorChain(&other), "index query failed");
            ApiError::Unavailable("the index is unavailable; retry later".to_owned())
        }
    }
}

/// Renders a report as an investigator sees it in a list.
pub(crate) fn report_summary(view: &View) -> Value {
    let content = &view.content;
    serde_json::json!({
        "id": view.report_id,
        "title": content.title,
        "tlp": content.tlp,
        "occurred_at": content.occurred_at,
        "partner": content.partner,
        "categories": content.categories,
        "sector": content.sector,
    })
}

/// Renders the indicators a view releases, as every answer lists them: `{ type, value, id }`.
pub(crate) fn indicator_list(view: &View) -> Value {
    let indicators: Vec<Value> = view
        .content
        .indicators
        .iter()
        .map(|indicator| serde_json::json!({ "type": indicator.kind, "value": indicator.value, "id": indicator.id }))
        .collect();
    Value::Array(indicators)
}
