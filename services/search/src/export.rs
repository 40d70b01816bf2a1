//! `POST /v1/search/export` and `POST /v1/indicators/lookup/export`: the whole result set of a search or of a batch
//! lookup, for an investigator's case file, as a STIX 2.1 bundle (rendered by `accord_stix::export`, as TAXII reads
//! are) or as CSV.
//!
//! An export is a read like any other: the same context (purpose and case required), the same index query under the
//! release filter, the same re-check and one view per report (`visible`), and its audit record is written before it
//! leaves. It holds at most [`Config::max_export_reports`] reports: a larger result set is refused (422) rather than
//! exported in part, because a case file that silently misses reports is worse than none.
//!
//! The file is rendered as it is sent ([`Streamed`]): its views are held once, its bytes a chunk at a time.
//!
//! CSV cells that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
//! return) are prefixed with `'`: report titles come from partners and must not execute on an analyst's machine.

use std::{
    collections::HashMap,
    io::{self, Write},
};

use accord_domain::{Timestamp, View};
use accord_index::IndicatorMatch;
use accord_runtime::{ApiError, Principal, http::streamed::Streamed, json};
use accord_stix::export::{Release, bundle};
use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::{
    AppState, Config,
    indicators::{body_field, check_lookup_size, to_matches},
    released::{Outcome, Unaudited},
    request::{Audited, Context, PurposeAndCase, context, finish},
    search::{SearchRequest, search_audited, to_query},
    taxii::released_at,
    visible,
};

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A STIX 2.1 bundle.
    Stix,
    /// Comma-separated values, one row per (report, indicator).
    Csv,
}

impl ExportFormat {
    fn parse(format: Option<&str>) -> Result<Self, ApiError> {
        match format {
            Some("stix") => Ok(Self::Stix),
            Some("csv") => Ok(Self::Csv),
            _ => Err(ApiError::bad_field("/format", "required: `stix` or `csv`")),
        }
    }

    /// Returns the media type of the file.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Stix => "application/stix+json;version=2.1",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    /// Returns the file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Stix => "stix.json",
            Self::Csv => "csv",
        }
    }
}

/// An exported file: the views it holds, rendered as the answer is sent ([`Streamed`]).
#[derive(Debug)]
pub struct Export {
    /// Its format.
    pub format: ExportFormat,
    content: Content,
}

/// What an export renders.
#[derive(Debug)]
enum Content {
    /// A bundle of views, each with when it was released to the caller's agency.
    Stix(Vec<(View, Timestamp)>),
    /// A search's views, one row per (report, indicator).
    SearchCsv(Vec<View>),
    /// A lookup's (value, view) pairs, one row each.
    LookupCsv(Vec<(String, View)>),
}

impl Export {
    /// Writes the file to `out`.
    ///
    /// # Errors
    /// What `out` returns.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        match &self.content {
            Content::Stix(views) => {
                let releases: Vec<Release<'_>> = views
                    .iter()
                    .map(|(view, released_at)| Release {
                        view,
                        released_at: *released_at,
                    })
                    .collect();
                serde_json::to_writer_pretty(out, &bundle(&releases)).map_err(io::Error::from)
            }
            Content::SearchCsv(views) => search_csv(views, out),
            Content::LookupCsv(found) => lookup_csv(found, out),
        }
    }

    /// The whole file, in memory (the web console's download).
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a Vec fails only when the bundle cannot be serialized, which a Value always can.
        self.write(&mut out).ok();
        out
    }
}

impl IntoResponse for Export {
    fn into_response(self) -> Response {
        let disposition = format!(
            "attachment; filename=\"accord-export.{}\"",
            self.format.extension()
        );
        let media_type = HeaderValue::from_static(self.format.media_type());
        let mut response = Streamed::new(media_type, move |out| self.write(out)).into_response();
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
        response
    }
}

/// `POST /v1/search/export`.
pub(crate) async fn post_search_export(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    body: Bytes,
) -> Response {
    export_search(&state, principal.as_ref().ok(), &body)
        .await
        .into_response()
}

/// `POST /v1/indicators/lookup/export`.
pub(crate) async fn post_lookup_export(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    body: Bytes,
) -> Response {
    export_lookup(&state, principal.as_ref().ok(), &body)
        .await
        .into_response()
}

/// Exports the result set of a search for an investigator (`principal`: `None` when no valid token was presented):
/// the whole of `POST /v1/search/export` with `body` as its request body (a `POST /v1/search` body with `format`;
/// `size` and `cursor` are ignored), its audit record included.
pub async fn export_search(
    state: &AppState,
    principal: Option<&Principal>,
    body: &[u8],
) -> Outcome<Export, ApiError> {
    let audited = search_audited("POST /v1/search/export", principal, body, &state.config);
    let outcome = async {
        let ctx = context(state, principal, &audited)?;
        let value = json::parse_value(body)?;
        let format = ExportFormat::parse(value.get("format").and_then(Value::as_str))?;
        let request: SearchRequest = json::from_value(value)?;
        let (mut query, categories) = to_query(&ctx, &state.config, request)?;
        let max = state.config.max_export_reports;
        query.size = max.saturating_add(1);
        let visible =
            visible::search(&state.deps.index, &state.config, &ctx, query, &categories).await?;
        check_export_size(&state.config, visible.total)?;
        let count = visible.hits.len() as u64;
        let content = match format {
            ExportFormat::Stix => Content::Stix(dated(&ctx, visible.hits)),
            ExportFormat::Csv => Content::SearchCsv(visible.hits),
        };
        Ok(Unaudited::new(Export { format, content }, count))
    }
    .await;
    finish(state, principal, audited, outcome).await
}

/// Exports the reports a batch lookup finds for an investigator (`principal`: `None` when no valid token was
/// presented): the whole of `POST /v1/indicators/lookup/export` with `body` as its request body
/// (`{ values, purpose, case, format }`), its audit record included.
pub async fn export_lookup(
    state: &AppState,
    principal: Option<&Principal>,
    body: &[u8],
) -> Outcome<Export, ApiError> {
    let parsed = json::parse_value(body);
    let values = parsed
        .as_ref()
        .ok()
        .and_then(|value| value.get("values"))
        .cloned();
    let audited = Audited {
        endpoint: "POST /v1/indicators/lookup/export",
        stated: PurposeAndCase::of(
            principal,
            body_field(&parsed, "purpose").as_deref(),
            body_field(&parsed, "case").as_deref(),
        ),
        query: json!({ "values": values, "format": body_field(&parsed, "format") }),
    };
    let outcome = async {
        let ctx = context(state, principal, &audited)?;
        let value = parsed?;
        let format = ExportFormat::parse(value.get("format").and_then(Value::as_str))?;
        let values: Vec<String> =
            json::from_value(value.get("values").cloned().unwrap_or(Value::Null))
                .map_err(|_| ApiError::invalid_field("/values", "required: an array of strings"))?;
        let found = lookup_views(state, &ctx, &values).await?;
        let mut reports: Vec<View> = Vec::new();
        for (_, view) in &found {
            if !reports.iter().any(|kept| kept.report_id == view.report_id) {
                reports.push(view.clone());
            }
        }
        check_export_size(&state.config, reports.len() as u64)?;
        let count = reports.len() as u64;
        let content = match format {
            ExportFormat::Stix => Content::Stix(dated(&ctx, reports)),
            ExportFormat::Csv => Content::LookupCsv(found),
        };
        Ok(Unaudited::new(Export { format, content }, count))
    }
    .await;
    finish(state, principal, audited, outcome).await
}

/// Returns, for every value that is found, its report views (re-checked, one per report), as `(value, view)`
/// pairs in the order of `values`; one view per report over the whole batch (the best-ranked for the caller).
async fn lookup_views(
    state: &AppState,
    ctx: &Context,
    values: &[String],
) -> Result<Vec<(String, View)>, ApiError> {
    check_lookup_size(&state.config, values)?;
    let matches = to_matches(values);
    let queries: Vec<IndicatorMatch> = matches.iter().flatten().cloned().collect();
    let found = visible::lookup(&state.deps.index, &state.config, ctx, queries).await?;
    let mut found = found.into_iter();
    let mut pairs = Vec::new();
    let mut best: HashMap<String, (u32, String)> = HashMap::new();
    for (value, indicator) in values.iter().zip(&matches) {
        if indicator.is_none() {
            continue;
        }
        for view in found.next().unwrap_or_default() {
            let candidate = (ctx.rank_of(&view).unwrap_or(u32::MAX), view.id.clone());
            let entry = best
                .entry(view.report_id.to_string())
                .or_insert_with(|| candidate.clone());
            if candidate < *entry {
                *entry = candidate;
            }
            pairs.push((value.clone(), view));
        }
    }
    // One view per report across the batch: an alternate found for one value and the shown view found for another
    // are never exported side by side.
    pairs.retain(|(_, view)| {
        best.get(view.report_id.as_str())
            .is_some_and(|(_, id)| *id == view.id)
    });
    Ok(pairs)
}

fn check_export_size(config: &Config, total: u64) -> Result<(), ApiError> {
    if total > config.max_export_reports as u64 {
        return Err(ApiError::invalid_field(
            "/",
            format!(
                "the result set holds more than {} reports, the most an export holds; narrow it (a time range, a \
                 type) and export each part",
                config.max_export_reports
            ),
        ));
    }
    Ok(())
}

/// Dates each view with when it was released to the caller's agency (the bundle's `created`/`modified`).
fn dated(ctx: &Context, views: Vec<View>) -> Vec<(View, Timestamp)> {
    views
        .into_iter()
        .map(|view| {
            let released_at = released_at(&view, &ctx.snapshot);
            (view, released_at)
        })
        .collect()
}

const REPORT_COLUMNS: [&str; 7] = [
    "report_id",
    "title",
    "tlp",
    "occurred_at",
    "partner",
    "categories",
    "sector",
];

fn report_cells(view: &View) -> Vec<String> {
    let content = &view.content;
    vec![
        view.report_id.to_string(),
        content.title.clone().unwrap_or_default(),
        content.tlp.as_str().to_owned(),
        content
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        content.partner.clone(),
        content.categories.join(" "),
        content.sector.clone().unwrap_or_default(),
    ]
}

/// One row per (report, released indicator); a report without indicators has one row with empty indicator cells.
fn search_csv(views: &[View], out: &mut dyn Write) -> io::Result<()> {
    let mut header: Vec<&str> = REPORT_COLUMNS.to_vec();
    header.extend(["indicator_type", "indicator_value"]);
    out.write_all(csv_row(&header).as_bytes())?;
    for view in views {
        let report = report_cells(view);
        let mut indicators: Vec<(String, String)> = view
            .content
            .indicators
            .iter()
            .map(|indicator| (indicator.kind.as_str().to_owned(), indicator.value.clone()))
            .collect();
        if indicators.is_empty() {
            indicators.push((String::new(), String::new()));
        }
        for (kind, value) in indicators {
            let mut row = report.clone();
            row.extend([kind, value]);
            out.write_all(csv_row(&row).as_bytes())?;
        }
    }
    Ok(())
}

/// One row per (looked-up value, report that contains it).
fn lookup_csv(found: &[(String, View)], out: &mut dyn Write) -> io::Result<()> {
    let mut header = vec!["looked_up"];
    header.extend(REPORT_COLUMNS);
    out.write_all(csv_row(&header).as_bytes())?;
    for (value, view) in found {
        let mut row = vec![value.clone()];
        row.extend(report_cells(view));
        out.write_all(csv_row(&row).as_bytes())?;
    }
    Ok(())
}

/// Renders one CSV row (RFC 4180, CRLF), with formula-like cells neutralized.
fn csv_row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut row = cells
        .iter()
        .map(|cell| csv_cell(cell.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    row.push_str("\r\n");
    row
}

fn csv_cell(cell: &str) -> String {
    let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    };
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralized() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_row(&["a", "b\nc"]), "a,\"b\nc\"\r\n");
    }

    #[test]
    fn formats_are_named() {
        assert_eq!(ExportFormat::parse(Some("csv")).unwrap(), ExportFormat::Csv);
        assert_eq!(
            ExportFormat::parse(Some("stix")).unwrap(),
            ExportFormat::Stix
        );
        assert!(ExportFormat::parse(Some("xml")).is_err());
        assert!(ExportFormat::parse(None).is_err());
    }
}
