//! `accord report submit FILE|DIR… --as PARTNER`: a partner's back-catalogue into Accord, over the HTTP API.
//!
//! A client of `POST /v1/reports` like any other (no back door): it reads STIX 2.1 bundles, MISP events, MISP feeds
//! (`manifest.json` and `<uuid>.json` event files) and plain indicator lists (`sources`, `lists`); each bundle or
//! event is one report, each list one report per `lists::ListOptions::batch` values. Every rule about content (the
//! classification guard, TLP and markings, indicator validity, limits) is the gateway's: the importer sends, and
//! reports what the gateway answered.
//!
//! - The token is a partner token of `--as`, from `ACCORD_TOKEN` or `--token-file`, never a flag (decision 0021);
//!   `GET /v1/me` checks it before anything is sent.
//! - `Prefer: handling=lenient` unless `--strict`; an `Idempotency-Key` derived from what is sent, retries on 429
//!   (`Retry-After`) and transient failures (`client`).
//! - Progress on stderr (a counter on a terminal, else a line every `--progress-every` reports), a summary on stdout
//!   (text, or JSON with `--json`: every report's source, id, warnings or problem). The exit status is non-zero when
//!   anything was refused.
//! - Bounded: files (`--max-files`), file size (`--max-file-bytes`), line length (`--max-line-bytes`), report size
//!   (`--batch`, `--max-batch-bytes`). See docs/cli.md and docs/decisions/0039.

mod client;
mod lists;
mod sources;

use std::{
    io::{IsTerminal as _, Write as _},
    path::PathBuf,
    time::Instant,
};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};

use self::{
    client::{Api, Outcome},
    lists::ListOptions,
    sources::Item,
};

/// `accord report submit` flags.
#[derive(Debug, Clone, Args)]
pub struct SubmitArgs {
    /// Files and directories to import: STIX 2.1 bundles, MISP events, MISP feed directories, indicator lists
    /// (.txt, .csv, .tsv), or directories of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The partner the reports are submitted as: the organization of the token (checked before anything is sent).
    #[arg(long = "as", value_name = "PARTNER")]
    pub partner: String,
    /// The Accord API.
    #[arg(long, env = "ACCORD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A file holding the partner token (first line). Without it the token comes from ACCORD_TOKEN; it is never a
    /// flag (where `ps` would show it).
    #[arg(long, env = "ACCORD_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Refuse a whole report for one invalid value (the API's default) instead of `Prefer: handling=lenient`.
    #[arg(long)]
    pub strict: bool,
    /// The TLP of the reports made from indicator lists (clear, green, amber, amber+strict, red) [default: the
    /// partner's default TLP]. Bundles and events carry their own.
    #[arg(long)]
    pub tlp: Option<String>,
    /// A category of the reports made from indicator lists (repeatable).
    #[arg(long = "category")]
    pub categories: Vec<String>,
    /// At most this many indicators per report made from a list (the gateway's `max_indicators` is the ceiling).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub batch: u32,
    /// At most about this many bytes of indicators per report made from a list (the gateway's `max_report_bytes`
    /// is the ceiling).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_batch_bytes: usize,
    /// At most this many files in all.
    #[arg(long, default_value_t = 100_000)]
    pub max_files: usize,
    /// Files larger than this are refused unread.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_file_bytes: u64,
    /// Lines of indicator lists longer than this refuse their file.
    #[arg(long, default_value_t = 8192)]
    pub max_line_bytes: usize,
    /// Retries of a submission after a transient failure (5xx, connection); 429 is always waited out.
    #[arg(long, default_value_t = 8)]
    pub retries: u32,
    /// Without a terminal, a progress line every this many reports.
    #[arg(long, default_value_t = 100)]
    pub progress_every: usize,
    /// Print the summary as JSON (with every report's source, id, warnings or problem).
    #[arg(long)]
    pub json: bool,
}

/// The token: `--token-file`, else `ACCORD_TOKEN`.
fn token(args: &SubmitArgs) -> anyhow::Result<String> {
    let token = match &args.token_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        None => std::env::var("ACCORD_TOKEN")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    if token.is_empty() {
        bail!("no partner token: set ACCORD_TOKEN or pass --token-file");
    }
    Ok(token)
}

/// What happened to one report.
#[derive(Debug)]
struct Record {
    source: String,
    outcome: Outcome,
}

/// Runs the import; `Err` (a non-zero exit) when anything was refused or the import could not go on.
///
/// # Errors
/// No token, a token of another partner, a path that cannot be read, too many files, the API unreachable, or
/// refused reports (after the summary is printed).
pub async fn main(args: SubmitArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.url, token(&args)?, !args.strict, args.retries)?;
    api.check_partner(&args.partner).await?;
    let plan = sources::plan(&args.paths, args.max_files, args.max_file_bytes)?;
    let options = ListOptions {
        batch: args.batch as usize,
        max_batch_bytes: args.max_batch_bytes,
        max_line_bytes: args.max_line_bytes,
        tlp: args.tlp.clone(),
        categories: args.categories.clone(),
    };
    let started = Instant::now();
    let mut progress = Progress::new(plan.files.len(), args.progress_every);
    let mut records = Vec::new();
    for (index, found) in plan.files.iter().enumerate() {
        for item in sources::items(found, args.max_file_bytes, &options) {
            let record = match item {
                Item::Submission {
                    source,
                    media,
                    body,
                } => Record {
                    outcome: api.submit(media, body).await?,
                    source,
                },
                Item::Refused { source, detail } => Record {
                    source,
                    outcome: Outcome::Refused {
                        status: 0,
                        detail,
                        errors: Vec::new(),
                    },
                },
            };
            progress.record(index + 1, &record.outcome);
            records.push(record);
        }
    }
    progress.finish();
    let mut summary = Summary::of(&records, plan.skipped, started.elapsed().as_secs_f64());
    summary.busy_waits = api.busy_waits();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", summary.json(&records))?;
    } else {
        summary.print(&records, &mut out)?;
    }
    if summary.refused > 0 {
        bail!("{} of {} reports refused", summary.refused, records.len());
    }
    Ok(())
}

/// Progress on stderr: a counter rewritten in place on a terminal, else a line every `every` reports.
struct Progress {
    tty: bool,
    every: usize,
    files: usize,
    done: usize,
    accepted: usize,
    refused: usize,
    started: Instant,
}

impl Progress {
    fn new(files: usize, every: usize) -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            every: every.max(1),
            files,
            done: 0,
            accepted: 0,
            refused: 0,
            started: Instant::now(),
        }
    }

    fn record(&mut self, file: usize, outcome: &Outcome) {
        self.done += 1;
        match outcome {
            Outcome::Accepted { .. } => self.accepted += 1,
            Outcome::Refused { .. } => self.refused += 1,
        }
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let line = format!(
            "file {file}/{}: {} reports, {} accepted, {} refused ({rate:.1} reports/s)",
            self.files, self.done, self.accepted, self.refused
        );
        if self.tty {
            eprint!("\r{line}");
        } else if self.done.is_multiple_of(self.every) {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        if self.tty && self.done > 0 {
            eprintln!();
        }
    }
}

/// The counts of an import.
struct Summary {
    accepted: usize,
    with_warnings: usize,
    warnings: usize,
    refused: usize,
    skipped_files: usize,
    busy_waits: u64,
    seconds: f64,
}

impl Summary {
    fn of(records: &[Record], skipped_files: usize, seconds: f64) -> Self {
        let mut summary = Self {
            accepted: 0,
            with_warnings: 0,
            warnings: 0,
            refused: 0,
            skipped_files,
            busy_waits: 0,
            seconds,
        };
        for record in records {
            match &record.outcome {
                Outcome::Accepted { warnings, .. } => {
                    summary.accepted += 1;
                    summary.warnings += warnings.len();
                    summary.with_warnings += usize::from(!warnings.is_empty());
                }
                Outcome::Refused { .. } => summary.refused += 1,
            }
        }
        summary
    }

    fn rate(&self, reports: usize) -> f64 {
        reports as f64 / self.seconds.max(1e-3)
    }

    fn json(&self, records: &[Record]) -> Value {
        let reports: Vec<Value> = records
            .iter()
            .map(|record| match &record.outcome {
                Outcome::Accepted { id, warnings } => json!({
                    "source": record.source, "outcome": "accepted", "id": id, "warnings": warnings,
                }),
                Outcome::Refused {
                    status,
                    detail,
                    errors,
                } => json!({
                    "source": record.source, "outcome": "refused", "status": status, "detail": detail,
                    "errors": errors,
                }),
            })
            .collect();
        json!({
            "accepted": self.accepted,
            "with_warnings": self.with_warnings,
            "warnings": self.warnings,
            "refused": self.refused,
            "skipped_files": self.skipped_files,
            "busy_waits": self.busy_waits,
            "seconds": self.seconds,
            "reports_per_second": self.rate(records.len()),
            "reports": reports,
        })
    }

    fn print(&self, records: &[Record], out: &mut impl std::io::Write) -> std::io::Result<()> {
        for record in records {
            if let Outcome::Refused {
                status,
                detail,
                errors,
            } = &record.outcome
            {
                let status = if *status == 0 {
                    "not sent".to_owned()
                } else {
                    status.to_string()
                };
                writeln!(out, "refused  {} ({status}): {detail}", record.source)?;
                for error in errors.iter().take(5) {
                    writeln!(out, "         {}: {}", error["pointer"], error["message"])?;
                }
            }
        }
        writeln!(
            out,
            "{} reports in {:.1} s ({:.1}/s): {} accepted ({} with warnings, {} parts left out), {} refused{}{}",
            records.len(),
            self.seconds,
            self.rate(records.len()),
            self.accepted,
            self.with_warnings,
            self.warnings,
            self.refused,
            if self.skipped_files > 0 {
                format!("; {} files of other kinds skipped", self.skipped_files)
            } else {
                String::new()
            },
            if self.busy_waits > 0 {
                format!("; waited {} times for the server (429)", self.busy_waits)
            } else {
                String::new()
            }
        )
    }
}
