//! The two ends of a run that touches users: its opening (input, checks, report) with the rows
//! known without a call, and its [`RunRecord`], from which the summary, the stop message and
//! the exit code come.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Context;
use super::pipeline::Running;
use super::session::FreshReport;
use crate::config::Settings;
use crate::evidence::attention::Attention;
use crate::evidence::record::{Record, ReportEnd, RunEnding};
use crate::exit::{Ending, Exit};
use crate::input::{Batch, InvalidEntry, UserId};
use crate::logging;
use crate::report::{ReportKind, ReportWriter, ResumeState, Row, Status, Summary};
use crate::request::{Stats, StopReason};
use crate::step::Step;

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
    for w in &settings.conn.warnings {
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

/// How a run ended: everything its finish needs, in one place. The summary, the stop message
/// and the exit code are decided from it ([`RunRecord::finish`]); whatever else a run leaves
/// behind at its end reads the same record.
#[derive(Debug)]
pub(super) struct RunRecord {
    /// Which command ran: `revoke` counts users, `offboard` user steps.
    pub kind: ReportKind,
    /// When the command started (the summary's clock).
    pub started: Instant,
    /// Final rows this run wrote, per status (write-ahead rows are not final).
    pub counts: BTreeMap<Status, u64>,
    /// Final statuses the report already had, for the exit code of a resumed run.
    pub done_counts: BTreeMap<Status, u64>,
    /// The run's counters.
    pub stats: Arc<Stats>,
    /// Input lines dropped as duplicates.
    pub duplicates: u64,
    /// Why the run stopped, if it did.
    pub stop: Option<StopReason>,
    /// The first call stopped the run for a configuration reason: nothing was done.
    pub nothing_done: bool,
    /// This run's final rows by step, for the run log.
    pub by_step: BTreeMap<Option<Step>, BTreeMap<Status, u64>>,
    /// Where the report stands at the end (rows, chain head).
    pub report_end: ReportEnd,
    /// Who needs attention among this run's rows, for the page (taken by it).
    pub attention: Option<Attention>,
    /// The HTML summary's path, once written.
    pub page: Option<PathBuf>,
}

impl RunRecord {
    /// Waits for the session to write every row, and records how the run ended.
    pub async fn collect(
        kind: ReportKind,
        started: Instant,
        running: Running,
        done_counts: BTreeMap<Status, u64>,
        duplicates: u64,
        nothing_done: bool,
    ) -> RunRecord {
        let Running {
            session,
            control,
            stats,
            ..
        } = running;
        let collected = session.finish().await;
        if let Some(err) = &collected.error {
            control.report_failed(err.clone());
        }
        RunRecord {
            kind,
            started,
            counts: collected.counts,
            done_counts,
            stats,
            duplicates,
            stop: control.reason(),
            nothing_done,
            by_step: collected.by_step,
            report_end: ReportEnd {
                rows: collected.report_rows,
                head: collected.chain_head,
                written: collected.written,
            },
            attention: collected.attention,
            page: None,
        }
    }

    /// Leaves the evidence of a run that did something: the run log's end entry (this run's
    /// counts as the summary prints them, the chain head, the timeline) and the HTML page.
    /// Errors are warnings: the rows are written, and the exit code is the run's.
    pub fn record_evidence(&mut self, record: Record, destinations: BTreeMap<String, u64>) {
        let by_step = match self.kind {
            ReportKind::Revoke => BTreeMap::new(),
            ReportKind::Offboard => self
                .by_step
                .iter()
                .map(|(step, counts)| {
                    let name = step.map_or("user", |s| s.as_str());
                    (name.to_owned(), counts.clone())
                })
                .collect(),
        };
        let ending = RunEnding {
            exit_code: self.exit().code(),
            counts: self.counts.clone(),
            by_step,
            destinations,
            stopped: self.stop.as_ref().map(|s| s.to_string()),
        };
        let attention = self.attention.take();
        match record.finish(self.report_end, ending, &self.stats.timeline, attention) {
            Ok(page) => self.page = page,
            Err(e) => tracing::warn!("the run log's end entry was not written: {e}"),
        }
    }

    /// Prints the summary (then `extra`: the plan, the resume note) and the stop message, and
    /// decides the exit code over every final row (this run's and the report's).
    pub fn finish(&self, settings: &Settings, extra: &str) -> Exit {
        if !settings.conn.log.quiet {
            logging::eprint_line(&(self.summary(settings).render() + extra));
        }
        if let Some(reason) = &self.stop {
            logging::eprint_line(&self.stop_message(reason, settings));
        }
        self.exit()
    }

    /// The exit code: 2 when nothing was done, 3 when stopped, else from every final row.
    pub fn exit(&self) -> Exit {
        let mut final_counts = self.counts.clone();
        for (k, v) in &self.done_counts {
            *final_counts.entry(*k).or_default() += v;
        }
        Exit::decide(&Ending {
            nothing_done: self.nothing_done,
            stopped: self.stop.is_some(),
            final_counts: &final_counts,
        })
    }

    fn summary(&self, settings: &Settings) -> Summary {
        Summary {
            counts: self.counts.clone(),
            wall: self.started.elapsed(),
            requests: self.stats.requests.load(Ordering::Relaxed),
            target_rate: settings.rate,
            throttled: self.stats.throttled.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            duplicates: self.duplicates,
            report_path: settings.report.clone(),
            dry_run: settings.dry_run,
            // Nothing was done (exit 2): no report is left to resume, the message says why.
            stop_reason: self
                .stop
                .as_ref()
                .filter(|_| !self.nothing_done)
                .map(|s| s.to_string()),
            unit: match self.kind {
                ReportKind::Revoke => "users",
                ReportKind::Offboard => "user steps",
            },
            chain_head: self.report_end.head.map(|h| h.to_string()),
            page: self.page.clone(),
        }
    }

    fn stop_message(&self, reason: &StopReason, settings: &Settings) -> String {
        let report = settings.report.display();
        if self.nothing_done {
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
                match self.kind {
                    ReportKind::Revoke => "Users",
                    ReportKind::Offboard => "Steps",
                }
            )
        }
    }
}
