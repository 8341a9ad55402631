//! What a run holds open while it works: the report's collector, the progress bar, and the
//! guard that removes a fresh report when the run ends having done nothing.
//!
//! One collector task owns the report and the bar (oha): workers only send rows down a
//! channel. The collector encodes whatever is waiting and hands it to the report's thread, which
//! chains it and writes it with one `write(2)` (rows are written in batches, not one by one: a
//! `write(2)` and a wake-up per row made a million-row dry run take three times as long), so a
//! killed run leaves every row written up to its last batch.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::cli::LogFormat;
use crate::config::LogSettings;
use crate::evidence::attention::Attention;
use crate::evidence::chain::Link;
use crate::evidence::verify::Written;
use crate::logging;
use crate::report::{ReportWriter, Row, Status};
use crate::request::Stats;
use crate::run::{Entry, Rows};
use crate::step::Step;

/// Entries the row channel holds: workers send a row each, so this is far more than they ever
/// have waiting; [`Session::send_all`]'s chunks keep its rows to [`CHANNEL`] × [`CHUNK`].
const CHANNEL: usize = 64;

/// Rows a chunk of [`Session::send_all`] carries.
const CHUNK: usize = 64;

/// Entries the collector takes at once: up to 1,024 rows written with one flush (a worker's
/// entry is a row, a chunk [`CHUNK`]).
const COLLECT_ENTRIES: usize = 16;

/// Removes the report of a run that did nothing (exit 2), so the same command works once the
/// problem is fixed; a resumed report is never removed. Armed from the moment the report is
/// created; [`FreshReport::keep`] disarms it once the run has done something.
#[derive(Debug)]
pub struct FreshReport {
    /// The report path; `None` once kept (or for a resumed report).
    path: Option<PathBuf>,
}

impl FreshReport {
    /// A guard for `path`; `resumed` reports are never removed.
    pub fn new(path: &std::path::Path, resumed: bool) -> FreshReport {
        FreshReport {
            path: (!resumed).then(|| path.to_path_buf()),
        }
    }

    /// The run did something: the report stays.
    pub fn keep(&mut self) {
        self.path = None;
    }
}

impl Drop for FreshReport {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            // The run log was started with the report: a run that did nothing leaves neither.
            let _ = std::fs::remove_file(crate::evidence::runs_path(&p));
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What the collector hands back when the run is over.
#[derive(Debug, Default)]
pub struct Collected {
    /// Final rows written per status, in this run (write-ahead rows are not final).
    pub counts: BTreeMap<Status, u64>,
    /// The same by step (`None`: rows about the user as a whole), for the run log.
    pub by_step: BTreeMap<Option<Step>, BTreeMap<Status, u64>>,
    /// Complete rows in the report at the end, earlier runs' included.
    pub report_rows: u64,
    /// The chain of the report's last row.
    pub chain_head: Option<Link>,
    /// Where the report stood when opened and stands now, as its writer knows it (`None` if
    /// the writer cannot vouch for its rows), for the run-end page.
    pub written: Option<Written>,
    /// Who needs attention among the rows this run wrote, taken as they were written, so that
    /// the run-end page need not read them back.
    pub attention: Option<Attention>,
    /// Why writing stopped, if it failed.
    pub error: Option<String>,
}

/// The collector and the bar of one run.
pub struct Session {
    /// Where workers send finished rows.
    tx: mpsc::Sender<Entry>,
    /// The collector task (owns the report writer); taken by [`Session::finish`].
    collector: Option<JoinHandle<Collected>>,
    /// The bar, if one is drawn; registered with the logger, so log lines never tear it.
    bar: Option<ProgressBar>,
}

impl Session {
    /// Starts the collector on `writer` for a run of `total` rows. The bar is drawn when the
    /// settings allow it and stderr is a terminal; it is registered with [`logging::set_bar`]
    /// here and unregistered when the session finishes or is dropped.
    pub fn start(
        writer: ReportWriter,
        log: &LogSettings,
        terminal: bool,
        total: u64,
        stats: Arc<Stats>,
        span: tracing::Span,
    ) -> Session {
        let bar = progress_bar(log, terminal, total);
        let (tx, rx) = mpsc::channel::<Entry>(CHANNEL);
        let json_logs = log.format == LogFormat::Json;
        let collector =
            tokio::spawn(collect(writer, rx, bar.clone(), stats, json_logs).instrument(span));
        Session {
            tx,
            collector: Some(collector),
            bar,
        }
    }

    /// A sender for workers.
    pub fn rows(&self) -> Rows {
        Rows::new(self.tx.clone())
    }

    /// Sends rows known without a request (invalid, excluded, validated only), [`CHUNK`] at a
    /// time, in order. Stops early if the report failed: the collector counts what it could not
    /// write.
    pub async fn send_all(&self, rows: impl IntoIterator<Item = Row>) {
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Row> = rows.by_ref().take(CHUNK).collect();
            if self.tx.send(Entry::Many(chunk)).await.is_err() {
                break;
            }
        }
    }

    /// Waits for every row to be written; clears the bar.
    pub async fn finish(mut self) -> Collected {
        let collector = self.collector.take();
        // The collector ends when every sender is gone: this one is replaced by a closed one.
        drop(std::mem::replace(&mut self.tx, mpsc::channel(1).0));
        let collected = match collector {
            Some(c) => c.await.unwrap_or_else(|e| Collected {
                error: Some(format!("the report writer failed: {e}")),
                ..Collected::default()
            }),
            None => Collected::default(),
        };
        clear_bar(self.bar.as_ref());
        collected
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        clear_bar(self.bar.as_ref());
    }
}

fn clear_bar(bar: Option<&ProgressBar>) {
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    logging::set_bar(None);
}

fn progress_bar(log: &LogSettings, terminal: bool, total: u64) -> Option<ProgressBar> {
    if !log.progress || !terminal || log.quiet {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    // Whole users per second: `{per_sec}` prints four decimals (`54.3043/s`).
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} users  {rate}  ETA {eta}  {msg}",
    )
    .map(|s| {
        s.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
    })
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    logging::set_bar(Some(bar.clone()));
    Some(bar)
}

/// The single owner of the report file and the bar: encodes rows as they arrive, whatever is
/// waiting in the channel at once, and hands them to the report's thread, which chains and
/// writes them with one write per batch ([`crate::report::ReportWriter::in_background`]).
async fn collect(
    writer: ReportWriter,
    mut rx: mpsc::Receiver<Entry>,
    bar: Option<ProgressBar>,
    stats: Arc<Stats>,
    json_logs: bool,
) -> Collected {
    let mut writer = writer.in_background();
    let mut counts = Counts::default();
    let mut attention = writer.attention();
    let mut error = None;
    let mut entries: Vec<Entry> = Vec::with_capacity(COLLECT_ENTRIES);
    while rx.recv_many(&mut entries, COLLECT_ENTRIES).await > 0 {
        // Rows are written where they arrived: a row is a few hundred bytes, and moving a
        // million of them into a batch of their own was a copy per row for nothing.
        let acks = entries.iter_mut().filter_map(Entry::take_ack).collect();
        let rows = || entries.iter().flat_map(Entry::rows);
        if let Err(e) = writer.write_rows(rows(), acks) {
            error = Some(e.to_string());
            tracing::error!("cannot write the report: {e}");
            rx.close();
            // Count the rest so nothing is silently lost from the summary.
            rows().for_each(|r| counts.row(r));
            while let Some(e) = rx.recv().await {
                e.rows().iter().for_each(|r| counts.row(r));
            }
            break;
        }
        let mut finished = 0;
        for row in rows() {
            log_row(row, json_logs);
            counts.row(row);
            attention.row(row);
            finished += 1;
        }
        entries.clear();
        if let Some(b) = &bar {
            b.inc(finished);
            b.set_message(format!(
                "429s: {}  retries: {}",
                stats.throttled.load(Ordering::Relaxed),
                stats.retries.load(Ordering::Relaxed)
            ));
        }
    }
    let counts = counts.into_maps();
    let mut collected = Collected {
        by_step: counts.by_step,
        counts: counts.by_status,
        attention: Some(attention),
        ..Collected::default()
    };
    match writer.finish() {
        Ok((mut file, late)) => {
            // A failure of the last batches is told here, once all were handed over.
            if let Some(e) = late {
                tracing::error!("cannot write the report: {e}");
                error.get_or_insert(e.to_string());
            }
            if let Err(e) = file.sync() {
                error.get_or_insert(e.to_string());
            }
            collected.report_rows = file.rows();
            collected.chain_head = file.chain_head();
            collected.written = file.written();
        }
        Err(e) => {
            error.get_or_insert(e.to_string());
        }
    }
    collected.error = error;
    collected
}

/// A finished row in the log: every field with JSON logs, one debug line otherwise.
fn log_row(row: &Row, json_logs: bool) {
    if json_logs {
        tracing::info!(user = %row.user, status = %row.status, http_status = row.http_status,
            error_code = row.error_code, tracking_id = row.tracking_id.as_deref(),
            attempts = row.attempts, "user finished");
    } else {
        tracing::debug!(user = %row.user, status = %row.status, "{}", row.message);
    }
}

/// Final rows counted by status, and by step and status.
#[derive(Default)]
struct Counts {
    by_status: BTreeMap<Status, u64>,
    by_step: BTreeMap<Option<Step>, BTreeMap<Status, u64>>,
    /// The last rows' step and status, and how many rows in a row had them, not yet in the
    /// maps: most rows of a batch share them, and two map updates per row were a thirtieth of
    /// writing a million-row dry run.
    run: Option<((Option<Step>, Status), u64)>,
}

impl Counts {
    /// Counts a final row; a write-ahead row announces a call, and the step's final row is what
    /// counts.
    fn row(&mut self, row: &Row) {
        if row.is_write_ahead() {
            return;
        }
        let key = (row.step, row.status);
        match &mut self.run {
            Some((k, n)) if *k == key => *n += 1,
            _ => {
                self.flush();
                self.run = Some((key, 1));
            }
        }
    }

    /// Adds the run of rows not yet counted to the maps.
    fn flush(&mut self) {
        if let Some(((step, status), n)) = self.run.take() {
            *self.by_status.entry(status).or_insert(0) += n;
            *self
                .by_step
                .entry(step)
                .or_default()
                .entry(status)
                .or_insert(0) += n;
        }
    }

    /// The counts by status and by step.
    fn into_maps(mut self) -> Counts {
        self.flush();
        self
    }
}
