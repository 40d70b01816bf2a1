//! Pipeline health (coordinators, `/health`): the partnership's reports per day of reception by the stage they are
//! in now (in flight, released, withheld, rejected), the rejections — the dead letters of `reports.rejected` — by
//! reason, the lag from acceptance to searchability, what each stage is behind and has dead-lettered, and the
//! conservation law of `accord check`. Every figure is one Accord already exports: the status store's
//! partnership-wide daily counters (`GET /v1/pipeline/counts`, one range scan, decision 0042) and the metrics of the
//! process serving the API (`GET /metrics`: the indexer's lag histogram, the stages' lag and dead-letter counters).
//! No page view walks the reports, the trail or the bus.

use std::collections::BTreeMap;

use accord_domain::Role;
use axum::{
    extract::{Query, State},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use crate::{
    AppState,
    charts::{Bar, stacked_bars},
    docs::{Conservation, PipelineCounts},
    extract::Signed,
    layout::{Nav, page},
    pages::errors,
    prometheus::{Sample, samples},
};

/// `?days=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    days: Option<String>,
}

/// The periods offered, in days.
const PERIODS: [u32; 3] = [7, 30, 90];

/// The metrics read from `GET /metrics`.
const LAG: &str = accord_runtime::metrics::SEARCHABLE_LAG;
const STAGE_LAG: &str = accord_runtime::metrics::STAGE_LAG;
const STAGE_REFUSED: &str = accord_runtime::metrics::STAGE_REFUSED;
const STAGE_DROPPED: &str = accord_runtime::metrics::STAGE_DROPPED;

/// The short label of a day (`12-06` of `2026-12-06`).
fn short(day: &str) -> String {
    day.get(5..).unwrap_or(day).to_owned()
}

fn conservation(law: &Conservation) -> Markup {
    html! {
        section aria-labelledby="law" {
            h2 id="law" { "Conservation" }
            @if law.holds {
                div.notice role="status" { p { strong { "The law holds." } " Every report received is released, withheld, rejected or in flight, and none has been in flight since before yesterday." } }
            } @else {
                div.notice.error role="alert" { p { strong { "The law does not hold." } " " (law.stuck) " reports received before yesterday are still in flight: a stage is stuck." } }
            }
            p { "Received " strong { (law.received) } " = released " strong { (law.released) } " + withheld " strong { (law.withheld) }
                " + rejected " strong { (law.rejected) } " + in flight " strong { (law.in_flight) } "." }
            p { small { "Counted by the status store from the topics " code { "accord check" } " reads; " code { "accord check --bus …" } " recounts them from the bus itself." } }
        }
    }
}

fn per_day(counts: &PipelineCounts) -> Markup {
    let bars: Vec<Bar> = counts
        .days
        .iter()
        .map(|day| Bar {
            label: short(&day.day),
            segments: vec![
                ("accepted", day.accepted + day.normalized),
                ("released", day.released),
                ("withheld", day.withheld),
                ("rejected", day.rejected),
            ],
        })
        .collect();
    let legend = [
        ("accepted", "in flight"),
        ("released", "released"),
        ("withheld", "withheld"),
        ("rejected", "rejected"),
    ];
    html! {
        h2 { "Reports per day of reception" }
        (stacked_bars("per-day", "Reports per day of reception, by stage", &bars, &legend))
    }
}

fn rejections(counts: &PipelineCounts) -> Markup {
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for day in &counts.days {
        for (reason, count) in &day.rejections {
            *reasons.entry(reason.as_str()).or_default() += count;
        }
    }
    let bars: Vec<Bar> = reasons
        .iter()
        .map(|(reason, count)| Bar {
            label: (*reason).to_owned(),
            segments: vec![("rejected", *count)],
        })
        .collect();
    html! {
        h2 { "Rejections (dead letters) by reason" }
        @if bars.is_empty() { p { "No report received in this period was rejected." } }
        @else { (stacked_bars("reasons", "Rejections by reason", &bars, &[("rejected", "rejections")])) }
    }
}

/// The lag histogram's buckets as bars (each bucket's own count, not the cumulative one), and its count.
fn lag_bars(metrics: &[Sample]) -> (Vec<Bar>, u64) {
    let mut cumulative: Vec<(f64, String, u64)> = metrics
        .iter()
        .filter(|sample| sample.name == format!("{LAG}_bucket"))
        .filter_map(|sample| {
            let le = sample.label("le")?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, le.to_owned(), sample.value as u64))
        })
        .collect();
    cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut previous = 0;
    let bars = cumulative
        .iter()
        .map(|(_, le, count)| {
            let own = count.saturating_sub(previous);
            previous = *count;
            let label = if le == "+Inf" {
                "more".to_owned()
            } else {
                format!("≤{le}s")
            };
            Bar {
                label,
                segments: vec![("primary", own)],
            }
        })
        .collect();
    (bars, previous)
}

fn lag(metrics: &[Sample]) -> Markup {
    let (bars, count) = lag_bars(metrics);
    let sum = metrics
        .iter()
        .find(|sample| sample.name == format!("{LAG}_sum"))
        .map_or(0.0, |sample| sample.value);
    html! {
        h2 { "From acceptance to searchable" }
        @if count == 0 { p { "No report has been released since this process started." } } @else {
            p { (count) " reports released for the first time since this process started, "
                (format!("{:.2}", sum / count as f64)) " s on average from the gateway's acceptance to the index." }
            (stacked_bars("lag", "Seconds from acceptance to searchable", &bars, &[("primary", "reports")]))
        }
    }
}

fn stages(metrics: &[Sample]) -> Markup {
    let mut rows: BTreeMap<String, [f64; 2]> = BTreeMap::new();
    for sample in metrics {
        let Some(stage) = sample.label("stage") else {
            continue;
        };
        let row = rows.entry(stage.to_owned()).or_default();
        if sample.name == STAGE_LAG {
            row[0] += sample.value;
        } else if sample.name == STAGE_REFUSED || sample.name == STAGE_DROPPED {
            row[1] += sample.value;
        }
    }
    html! {
        h2 { "Stages" }
        @if rows.is_empty() { p { "No stage runs in the process serving the API." } } @else {
            div.table-wrap { table {
                caption.visually-hidden { "Each stage's backlog and dead letters" }
                thead { tr { th scope="col" { "Stage" } th scope="col" { "Records behind" } th scope="col" { "Dead-lettered since start" } } }
                tbody { @for (stage, [behind, dead]) in &rows { tr { td { (stage) } td { (*behind as u64) } td { (*dead as u64) } } } }
            } }
        }
    }
}

/// `GET /health?days=`.
pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<Params>,
) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let token = &signed.session.token;
    let days = params
        .days
        .as_deref()
        .and_then(|days| days.parse().ok())
        .filter(|days| PERIODS.contains(days))
        .unwrap_or(30);
    let counts = match state.backend.pipeline_counts(token, days).await {
        Ok(counts) => counts,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    // The metrics are a part of the page, not a condition of it.
    let text = state.backend.metrics(token).await.unwrap_or_default();
    let metrics = samples(&text, &[LAG, STAGE_LAG, STAGE_REFUSED, STAGE_DROPPED]);
    let body = html! {
        h1 { "Pipeline health" }
        nav aria-label="Period" { ul { @for period in PERIODS { li {
            @if period == days { a href=(format!("/health?days={period}")) aria-current="page" { (period) " days" } }
            @else { a href=(format!("/health?days={period}")) { (period) " days" } }
        } } } }
        (conservation(&counts.conservation))
        (per_day(&counts))
        (rejections(&counts))
        (lag(&metrics))
        (stages(&metrics))
    };
    Html(page("Pipeline health", Some(&signed.session), Nav::Health, body).into_string())
        .into_response()
}
