//! Logs (tracing, to stderr) and metrics (Prometheus text), initialized once per process. Standard output is kept
//! for what a command prints for its user (`accord up`'s banner, `accord loadgen`'s report).

use std::{io::IsTerminal, sync::OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

static METRICS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable (development).
    Pretty,
    /// One JSON object per line (production).
    Json,
}

/// Initializes logging (filter from `RUST_LOG`, default `info`) and the metrics recorder. Safe to call twice.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    };
    // A second initialization (tests) keeps the first subscriber.
    drop(result);
    init_metrics();
}

/// Initializes logging for tests: silent unless `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(LogFormat::Pretty);
    } else {
        init_metrics();
    }
}

fn init_metrics() {
    METRICS.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(crate::metrics::HTTP_REQUEST_DURATION.to_owned()),
                &crate::metrics::HTTP_DURATION_BUCKETS,
            )
            .ok()?
            .set_buckets_for_metric(
                Matcher::Full(crate::metrics::SEARCHABLE_LAG.to_owned()),
                &crate::metrics::SEARCHABLE_LAG_BUCKETS,
            )
            .ok()?
            .install_recorder()
            .ok()
    });
}

/// Displays an error with its whole cause chain (`failed to read: disk full: No space left on device`): the one way
/// errors are logged (`tracing::error!(error = %ErrorChain(&error), "…")`), so no cause is dropped.
pub struct ErrorChain<'e>(pub &'e (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Returns the metrics in Prometheus text format (empty when no recorder could be installed).
pub fn render_metrics() -> String {
    init_metrics();
    METRICS
        .get()
        .and_then(|handle| handle.as_ref())
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}
