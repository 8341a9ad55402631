//! What `revoke` and `offboard` share around their run: the rows known without a call, the
//! Light requester, and the ending (summary, stop message, exit code).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Context;
use super::session::FreshReport;
use crate::config::{Credentials, Settings};
use crate::exit::{Ending, Exit};
use crate::input::{Batch, InvalidEntry, UserId};
use crate::logging;
use crate::pacing::Pacer;
use crate::report::{ReportKind, ReportWriter, ResumeState, Row, Status, Summary};
use crate::request::{Control, Requester, RetryPolicy, Stats, StopReason};

/// What a run has once it may start: the validated input, the report opened (and the state of
/// the report it resumes), and the guard that removes a fresh report if nothing gets done.
pub(super) struct Opened {
    /// The users, invalid values and excluded users, read and validated whole.
    pub batch: Batch,
    /// The report, opened (created, or locked and repaired for a resume).
    pub writer: ReportWriter,
    /// The resumed report's state, if `--resume`.
    pub resume: Option<ResumeState>,
    /// Removes a fresh report when the run ends having done nothing.
    pub fresh: FreshReport,
}

/// The start both commands share, in this order, each failure a usage error (exit 2) before
/// any request: the input, credentials and a way to confirm, then the report.
pub(super) fn open_run(
    settings: &Settings,
    ctx: &Context,
    transfer_column: Option<String>,
    kind: ReportKind,
) -> Result<Opened, Exit> {
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    let batch = super::load_batch(settings, ctx, transfer_column)?;
    super::check_can_run(settings, ctx)?;
    let (writer, resume) = ReportWriter::open(&settings.report, settings.resume, kind)
        .map_err(|e| super::usage(&e.to_string()))?;
    Ok(Opened {
        batch,
        writer,
        resume,
        fresh: FreshReport::new(&settings.report, settings.resume),
    })
}

/// The row of an input value that is not a user: never sent.
pub(super) fn invalid_row(inv: &InvalidEntry) -> Row {
    let mut row = Row::new(inv.raw.clone(), Status::Invalid);
    row.message = format!(
        "{} line {}: {} (never sent)",
        inv.origin.file, inv.origin.line, inv.reason
    )
    .into();
    row
}

/// The row of a user in the `--exclude` list: never touched.
pub(super) fn excluded_row(u: &UserId) -> Row {
    let mut row = Row::new(u.as_str(), Status::Excluded);
    row.message = "in the --exclude list: never touched".into();
    row
}

/// Connects (checking `scopes`) and builds the run's Light requester: `--rate`, the policy
/// from `--max-retries`, the run's control and counters.
pub(super) async fn light_requester(
    settings: &Settings,
    creds: &Credentials,
    scopes: &[&[&str]],
    control: &Arc<Control>,
    stats: &Arc<Stats>,
) -> Result<Requester, String> {
    let client = super::connect(settings, creds, scopes).await?;
    let pacer = Pacer::new(settings.rate).map_err(|e| e.to_string())?;
    Ok(Requester::new(
        client,
        Arc::new(pacer),
        RetryPolicy::new(settings.max_retries),
        control.clone(),
        stats.clone(),
    ))
}

/// How a run ended, for [`finish`].
pub(super) struct RunEnd<'a> {
    /// When the command started (the summary's clock).
    pub started: Instant,
    /// Rows this run wrote, per status (final rows only).
    pub counts: BTreeMap<Status, u64>,
    /// Final statuses the report already had, for the exit code of a resumed run.
    pub done_counts: &'a BTreeMap<Status, u64>,
    /// The run's counters.
    pub stats: &'a Stats,
    /// Input lines dropped as duplicates.
    pub duplicates: u64,
    /// Why the run stopped, if it did.
    pub stop: Option<StopReason>,
    /// The first call stopped the run: nothing was done.
    pub nothing_done: bool,
    /// Lines after the summary (the plan, the resume note).
    pub extra: String,
    /// Which command ran: `revoke` counts users, `offboard` user steps.
    pub kind: ReportKind,
}

/// Prints the summary and the stop message, and decides the exit code over every final row
/// (this run's and the report's).
pub(super) fn finish(settings: &Settings, end: RunEnd<'_>) -> Exit {
    let mut final_counts = end.counts.clone();
    for (k, v) in end.done_counts {
        *final_counts.entry(*k).or_default() += v;
    }
    if !settings.log.quiet {
        let summary = Summary {
            counts: end.counts,
            wall: end.started.elapsed(),
            requests: end.stats.requests.load(Ordering::Relaxed),
            target_rate: settings.rate,
            throttled: end.stats.throttled.load(Ordering::Relaxed),
            retries: end.stats.retries.load(Ordering::Relaxed),
            duplicates: end.duplicates,
            report_path: settings.report.clone(),
            dry_run: settings.dry_run,
            // Nothing was done (exit 2): no report is left to resume, the message says why.
            stop_reason: end
                .stop
                .as_ref()
                .filter(|_| !end.nothing_done)
                .map(|s| s.to_string()),
            unit: match end.kind {
                ReportKind::Revoke => "users",
                ReportKind::Offboard => "user steps",
            },
        };
        logging::eprint_line(&(summary.render() + &end.extra));
    }
    let report = settings.report.display();
    if let Some(reason) = &end.stop {
        logging::eprint_line(&if end.nothing_done {
            format!("zoom-offboard: stopped on the first call, nothing was done: {reason}")
        } else if let StopReason::Report(_) = reason {
            format!(
                "zoom-offboard: stopped: {reason}. Every row written to {report} so far is \
                 intact; rows without a final status there were not finished. Free the space \
                 (or fix the error), then continue with the same command plus --resume \
                 --report {report}"
            )
        } else {
            format!(
                "zoom-offboard: stopped: {reason}. {} not finished are `pending` in {report}; \
                 continue with the same command plus --resume --report {report}",
                match end.kind {
                    ReportKind::Revoke => "Users",
                    ReportKind::Offboard => "Steps",
                }
            )
        });
    }
    Exit::decide(&Ending {
        nothing_done: end.nothing_done,
        stopped: end.stop.is_some(),
        final_counts: &final_counts,
    })
}
