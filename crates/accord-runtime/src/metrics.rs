//! Metric names and labels of the runtime, defined once: the pipeline stages (the same names in every stage, one
//! `stage` label) and the HTTP server (one histogram per route, method and status). Services declare their own in
//! their crate's `metrics.rs`. Labels keep a low cardinality: stage names, route templates (never raw paths),
//! methods and status codes.

/// Records a stage read from the bus.
pub const STAGE_RECEIVED: &str = "accord_stage_received_total";
/// Records a stage processed and committed.
pub const STAGE_SENT: &str = "accord_stage_sent_total";
/// Failed attempts to process a batch (each is retried).
pub const STAGE_ERRORS: &str = "accord_stage_errors_total";
/// Records a stage could not decode (dead-lettered).
pub const STAGE_DROPPED: &str = "accord_stage_dropped_total";
/// Records behind the bus head on the partitions a stage consumes (gauge, updated at most once a second).
pub const STAGE_LAG: &str = "accord_stage_lag_records";
/// Records a stage is processing right now (gauge: the current batch, 0 between batches).
pub const STAGE_IN_FLIGHT: &str = "accord_stage_in_flight_records";
/// Batches a stage processed and committed.
pub const STAGE_BATCHES: &str = "accord_stage_batches_total";
/// Seconds a stage took to process one batch, retries included (histogram, by `stage`; buckets
/// [`HTTP_DURATION_BUCKETS`]): with lanes, how long a report can wait for a lane or a shared lock.
pub const STAGE_BATCH_DURATION: &str = "accord_stage_batch_seconds";
/// Records a stage could not pass on (too large for the bus, refused for good by the index): dead-lettered.
pub const STAGE_REFUSED: &str = "accord_stage_refused_total";
/// The label naming the stage.
pub const STAGE: &str = "stage";
pub use accord_cpu::{CPU_TASKS, PRIORITY};

/// Directory records refused because admin did not sign them (unsigned after the cut-over, forged, replayed), by
/// `topic` and `reason` (`unsigned`, `bad_signature`, `replayed`, `too_many_held`): alert on any increase.
pub const DIRECTORY_REJECTED: &str = "accord_directory_rejected_total";

/// HTTP request duration in seconds (histogram), by `route` template, `method` and `status`.
pub const HTTP_REQUEST_DURATION: &str = "accord_http_request_duration_seconds";
/// The histogram's buckets, in seconds.
pub const HTTP_DURATION_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Seconds from a report's acceptance by the gateway to its first views being written to the index, where searches
/// find them (histogram; the indexer records it once per report, at its first release).
pub const SEARCHABLE_LAG: &str = "accord_indexer_searchable_lag_seconds";
/// That histogram's buckets, in seconds.
pub const SEARCHABLE_LAG_BUCKETS: [f64; 10] =
    [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0];

/// HTTP connections open now (gauge).
pub const HTTP_CONNECTIONS_OPEN: &str = "accord_http_connections_open";
/// Connections closed to admit a newer one at a connection limit (they had no request in progress).
pub const HTTP_CONNECTIONS_EVICTED: &str = "accord_http_connections_evicted_total";
/// Connections refused at a connection limit (every connection of the full scope was serving a request).
pub const HTTP_CONNECTIONS_REFUSED: &str = "accord_http_connections_refused_total";
/// Connections closed after the idle timeout.
pub const HTTP_CONNECTIONS_IDLE_CLOSED: &str = "accord_http_connections_idle_closed_total";
/// Requests answered 429 by the rate limits, by `by` (`token` or `address`).
pub const HTTP_RATE_LIMITED: &str = "accord_http_rate_limited_total";
