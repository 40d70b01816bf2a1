//! Figures: percentiles, the server's memory from `/proc`, and the printed report (human text plus one
//! `RESULT {json}` line for scripts).

use anyhow::Context as _;
use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use serde::Serialize;

/// The nearest-rank percentile `p` (0–100) of `sorted` values, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[Duration], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[index].as_secs_f64() * 1000.0)
}

/// p50, p99 and max of `values` (sorted in place), in milliseconds.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub(crate) struct Summary {
    pub(crate) n: usize,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) max_ms: Option<f64>,
}

impl Summary {
    pub(crate) fn of(values: &mut [Duration]) -> Self {
        values.sort_unstable();
        Self {
            n: values.len(),
            p50_ms: percentile_ms(values, 50.0),
            p99_ms: percentile_ms(values, 99.0),
            max_ms: values.last().map(|max| max.as_secs_f64() * 1000.0),
        }
    }

    pub(crate) fn text(&self) -> String {
        let show =
            |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2} ms"));
        format!(
            "p50 {}  p99 {}  max {}",
            show(self.p50_ms),
            show(self.p99_ms),
            show(self.max_ms)
        )
    }
}

/// The server's memory (`/proc/<pid>/status`), in MiB.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Memory {
    pub(crate) rss_mib: f64,
    pub(crate) hwm_mib: f64,
}

/// Reads VmRSS and VmHWM of process `pid`.
pub(crate) fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|line| line.starts_with(name))
            .ok_or_else(|| anyhow::anyhow!("{path} has no {name}"))?;
        let kib: f64 = line
            .trim_start_matches(name)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("{path}: bad {name} line {line:?}"))?;
        Ok(kib / 1024.0)
    };
    Ok(Memory {
        rss_mib: field("VmRSS:")?,
        hwm_mib: field("VmHWM:")?,
    })
}

/// Everything one run measured (the `RESULT` line).
#[derive(Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) url: String,
    pub(crate) run_id: String,
    pub(crate) seed: u64,
    pub(crate) reports: usize,
    pub(crate) indicators_per_report: usize,
    pub(crate) rate_target: f64,
    pub(crate) concurrency: usize,
    pub(crate) accepted: usize,
    pub(crate) errors: usize,
    pub(crate) error_statuses: BTreeMap<String, usize>,
    pub(crate) ingest_seconds: Option<f64>,
    pub(crate) accepted_per_s: Option<f64>,
    pub(crate) all_searchable_seconds: Option<f64>,
    pub(crate) indicators_per_s_searchable: Option<f64>,
    pub(crate) searchable: Summary,
    pub(crate) searchable_not_found: usize,
    pub(crate) searchable_late_start: usize,
    pub(crate) searchable_upper_bound: usize,
    pub(crate) poll_requests: u64,
    pub(crate) lookup: Summary,
    pub(crate) lookup_errors: usize,
    pub(crate) lookup_404: Summary,
    pub(crate) lookup_404_errors: usize,
    pub(crate) memory_before: Option<Memory>,
    pub(crate) memory_after: Option<Memory>,
    pub(crate) revocation: Option<super::revoke::Revocation>,
    pub(crate) retraction: Option<super::retract::Retraction>,
    pub(crate) report_retraction: Option<super::retract::ReportRetraction>,
    pub(crate) alerts: Option<super::alerts::AlertLatency>,
}

fn rate_text(rate: f64) -> String {
    if rate > 0.0 {
        format!("{rate} reports/s")
    } else {
        "as fast as possible".to_owned()
    }
}

fn statuses(errors: &BTreeMap<String, usize>) -> String {
    errors
        .iter()
        .map(|(status, count)| format!("{status}×{count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn number(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.1}{unit}"))
}

impl Results {
    /// The human-readable report.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "accord loadgen: run {} (seed {}) against {}",
            self.run_id, self.seed, self.url
        );
        let _ = writeln!(
            out,
            "ingest: {} reports x {} indicators, concurrency {}, {}",
            self.reports,
            self.indicators_per_report,
            self.concurrency,
            rate_text(self.rate_target)
        );
        let _ = writeln!(out, "  accepted (202)           {}", self.accepted);
        let _ = writeln!(
            out,
            "  errors                   {} {}",
            self.errors,
            statuses(&self.error_statuses)
        );
        let _ = writeln!(
            out,
            "  accepted/s               {}  ({} from first POST to last 202)",
            number(self.accepted_per_s, ""),
            number(self.ingest_seconds, " s")
        );
        let _ = writeln!(
            out,
            "  indicators/s searchable  {}  (last report searchable {} after first POST)",
            number(self.indicators_per_s_searchable, ""),
            number(self.all_searchable_seconds, " s")
        );
        let _ = writeln!(
            out,
            "  ingest->searchable       n={}: {}",
            self.searchable.n,
            self.searchable.text()
        );
        let _ = writeln!(
            out,
            "    not found={}, waited for a poller={} (of which already searchable at first poll, so upper \
             bounds={}), search requests made by the pollers={}",
            self.searchable_not_found,
            self.searchable_late_start,
            self.searchable_upper_bound,
            self.poll_requests
        );
        self.lookups_and_after(&mut out);
        out
    }
}

impl Results {
    /// The lookup, memory and revocation part of [`Results::text`].
    fn lookups_and_after(&self, out: &mut String) {
        let _ = writeln!(out, "lookups: sequential, one keep-alive connection");
        let _ = writeln!(
            out,
            "  exact, known (200)       n={} errors={}: {}",
            self.lookup.n,
            self.lookup_errors,
            self.lookup.text()
        );
        let _ = writeln!(
            out,
            "  exact, unknown (404)     n={} errors={}: {}",
            self.lookup_404.n,
            self.lookup_404_errors,
            self.lookup_404.text()
        );
        let memory = |memory: Option<Memory>| {
            memory.map_or_else(
                || "-".to_owned(),
                |memory| {
                    format!(
                        "VmRSS {:.1} MiB, VmHWM {:.1} MiB",
                        memory.rss_mib, memory.hwm_mib
                    )
                },
            )
        };
        if self.memory_before.is_some() || self.memory_after.is_some() {
            let _ = writeln!(
                out,
                "server memory: before {}; after {}",
                memory(self.memory_before),
                memory(self.memory_after)
            );
        }
        if let Some(retraction) = &self.retraction {
            let _ = writeln!(
                out,
                "retraction of {} indicator values over {} reports (POST /v1/indicators/retract):\n  202s after       \
                 {}\n  none found after {} (from the last 202; an upper bound by one lookup sweep)\n  found by the \
                 first sweep {}",
                retraction.values,
                retraction.reports,
                number(Some(retraction.accepted_ms), " ms"),
                number(retraction.invisible_ms, " ms"),
                retraction.found_first_sweep
            );
        }
        if let Some(revocation) = &self.revocation {
            let _ = writeln!(
                out,
                "revocation of the run's MoU ({} sampled reports; times from the acknowledgement, each an upper \
                 bound by one polling sweep):\n  no longer found          {}\n  withdrawal published    {}\n  \
                 hits served after ack   {}",
                revocation.sampled,
                number(revocation.invisible_ms, " ms"),
                number(revocation.withdrawn_ms, " ms"),
                revocation.hits_after_ack
            );
        }
        self.retractions_and_alerts(out);
    }

    /// The report retraction and alert part of [`Results::text`].
    fn retractions_and_alerts(&self, out: &mut String) {
        if let Some(retraction) = &self.report_retraction {
            let _ = writeln!(
                out,
                "retraction of {} reports one by one (DELETE /v1/reports/{{id}}; from each 202 until not found):\n  \
                 gone after       {}  (still found after the give-up time: {})",
                retraction.reports,
                retraction.gone.text(),
                retraction.still_found
            );
        }
        if let Some(alerts) = &self.alerts {
            let _ = writeln!(
                out,
                "alerts ({} values watched; {} of {} expected alerts arrived on the stream):\n  202 → alert      {}",
                alerts.watched,
                alerts.received,
                alerts.expected,
                alerts.latency.text()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let summary = Summary::of(&mut values);
        assert_eq!(summary.p50_ms, Some(50.0));
        assert_eq!(summary.p99_ms, Some(99.0));
        assert_eq!(summary.max_ms, Some(100.0));
        assert_eq!(Summary::of(&mut []).p99_ms, None);
    }
}
