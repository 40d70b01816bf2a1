//! Bus topic names (architecture.md). One name per concept, used by every service and both bus backends.

/// Raw reports as accepted by the gateway ([`crate::RawReport`]), keyed by report id.
pub const REPORTS_RAW: &str = "reports.raw";
/// Normalized reports ([`crate::NormalizedReport`]), keyed by report id.
pub const REPORTS_NORMALIZED: &str = "reports.normalized";
/// What may be released ([`crate::ReleaseSet`]), keyed by report id.
pub const REPORTS_RELEASABLE: &str = "reports.releasable";
/// Reports that could not be processed ([`crate::Rejection`]): the dead-letter topic.
pub const REPORTS_REJECTED: &str = "reports.rejected";
/// MoU versions ([`crate::MouVersion`]), compacted, keyed by `<MoU id>@<version>` ([`crate::MouVersion::key`]; records
/// written before were keyed by MoU id).
pub const POLICY_MOUS: &str = "policy.mous";
/// Organizations and tokens ([`crate::DirectoryEvent`]), compacted, keyed by `org:<id>` or `token:<id>`.
pub const ADMIN_DIRECTORY: &str = "admin.directory";

/// Agencies' feedback on released reports and indicators ([`crate::feedback::FeedbackRecord`]), keyed by report id:
/// never a case reference or free text.
pub const REPORTS_FEEDBACK: &str = "reports.feedback";

/// The deployment's one audit trail (decision 0080): every search replica publishes its audit records here, in
/// group-committed batches, before it answers, and every replica chains the topic, in order, into its own store. One
/// partition (a total order), never compacted, kept forever.
pub const AUDIT_RECORDS: &str = "audit.records";

/// Partners' indicator retractions ([`crate::control::Control::RetractIndicators`], as on
/// [`REPORTS_NORMALIZED`]), forwarded there by the enforcer that reads them so that every enforcer replica applies
/// them, whichever partitions it owns (decision 0083). One partition, never compacted, kept forever: a replica added
/// later reads every retraction.
pub const INDICATORS_RETRACTED: &str = "indicators.retracted";

/// Every topic, for creation at start-up.
pub const ALL: [&str; 9] = [
    REPORTS_RAW,
    REPORTS_NORMALIZED,
    REPORTS_RELEASABLE,
    REPORTS_REJECTED,
    POLICY_MOUS,
    ADMIN_DIRECTORY,
    REPORTS_FEEDBACK,
    AUDIT_RECORDS,
    INDICATORS_RETRACTED,
];

/// The header carrying the report id through every stage, for tracing.
pub const HEADER_RECORD_ID: &str = "accord-record-id";

/// The header naming the partner a report comes from, on `reports.raw`, `reports.normalized` and
/// `reports.releasable`: the stages that read them share their work fairly between partners by it
/// (`accord_runtime::stage::Fairness`).
pub const HEADER_PARTNER: &str = "accord-partner";

/// The header marking a report whose partner keeps the pipeline busy: the gateway sets it (value
/// [`PRIORITY_BACKGROUND`]) on a report admitted while the same partner had others not yet through the pipeline, the
/// normalizer and the enforcer carry it to the records they derive from that report, and every stage runs the work
/// of such a record in the background (`accord_runtime::cpu`) — in every stage, also where the partner's records do
/// not happen to queue, so that a partner flooding the pipeline with heavy reports never takes the cores from a
/// partner that posts one report and waits for it. A record without it runs in the background only behind its
/// owner's own queued records (`accord_runtime::stage::Fairness`).
pub const HEADER_PRIORITY: &str = "accord-priority";

/// The header carrying, on a report's first record on `reports.raw`, the digest its `Idempotency-Key` retries are
/// compared with (the SHA-256 of the body as sent, and of the handling when lenient): the gateway's status store
/// keeps it, and a store refilled from the bus gets it back, so that a retry with another body is still refused.
pub const HEADER_BODY_SHA256: &str = "accord-body-sha256";

/// The header carrying, on a report's version on `reports.raw`, what it counts against its partner's daily quota
/// (decimal bytes: the body as sent plus the report once normalized): every gateway's status follower counts it
/// once, so that each gateway replica knows what the partner sent through the others.
pub const HEADER_QUOTA_BYTES: &str = "accord-quota-bytes";

/// The value of [`HEADER_PRIORITY`] on a record whose work runs in the background.
pub const PRIORITY_BACKGROUND: &str = "background";

/// The header marking a record on `reports.raw` or `reports.normalized` that is not a report but a partner's control
/// over its reports (value [`crate::control::CONTROL_KIND`]): a retraction. Records without it are reports.
pub const HEADER_KIND: &str = "accord-record-kind";
