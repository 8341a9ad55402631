//! What a command calls to leave evidence of its run: [`Record::begin`] before the first request
//! (the run log's start entry, on disk), [`Record::finish`] at the end (the end entry with the
//! counts, the chain head and the timeline, then the HTML page). The commands only say what ran
//! and how it ended; everything written here is read back from the report writer and the run log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::attention::Attention;
use super::chain::Link;
use super::runlog::{End, Entry, InputDigest, RunLog, Start};
use super::timeline::Timeline;
use super::verify::Written;
use crate::report::{ReportError, ReportWriter, Status, format_time, now};

/// What ran, for the start entry.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// The run's id (also in the logs).
    pub run_id: String,
    /// The argument list as given, program name first.
    pub command: Vec<String>,
    /// `ZOOM_ACCOUNT_ID`, if the run has Server-to-Server credentials.
    pub account_id: Option<String>,
    /// The input files read.
    pub inputs: Vec<InputDigest>,
    /// The steps, in order.
    pub steps: Vec<String>,
    /// A dry run.
    pub dry_run: bool,
}

/// How the run ended, for the end entry.
#[derive(Clone, Debug, Default)]
pub struct RunEnding {
    /// The exit code.
    pub exit_code: u8,
    /// Users (or user steps) per status, as the terminal summary counts them.
    pub counts: BTreeMap<Status, u64>,
    /// `offboard`: the counts by step.
    pub by_step: BTreeMap<String, BTreeMap<Status, u64>>,
    /// `offboard`: data destinations, target → users.
    pub destinations: BTreeMap<String, u64>,
    /// Why the run stopped early.
    pub stopped: Option<String>,
}

/// Where the page goes: beside the report, elsewhere, or nowhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HtmlTarget {
    /// `REPORT.html`.
    #[default]
    Beside,
    /// `--html PATH`.
    At(PathBuf),
    /// `--no-html`.
    None,
}

impl HtmlTarget {
    /// From `--html` and `--no-html`.
    pub fn from_flags(html: Option<PathBuf>, no_html: bool) -> HtmlTarget {
        match (html, no_html) {
            (_, true) => HtmlTarget::None,
            (Some(p), false) => HtmlTarget::At(p),
            (None, false) => HtmlTarget::Beside,
        }
    }

    /// The page's path for `report`, if one is written.
    pub fn path(&self, report: &Path) -> Option<PathBuf> {
        match self {
            HtmlTarget::Beside => Some(super::html_path(report)),
            HtmlTarget::At(p) => Some(p.clone()),
            HtmlTarget::None => None,
        }
    }
}

/// Where the report stands at the end of the run, from its writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportEnd {
    /// Complete rows in the report, earlier runs' included.
    pub rows: u64,
    /// The last row's chain.
    pub head: Option<Link>,
    /// What the writer vouches for ([`Written`]); `None` if it cannot.
    pub written: Option<Written>,
}

/// A run being recorded: its log, id, and where its page goes.
pub struct Record {
    log: RunLog,
    run_id: String,
    report: PathBuf,
    html: HtmlTarget,
}

impl Record {
    /// Writes the start entry (fsynced: on disk before the first request), from `info` and what
    /// the report held when `writer` opened it.
    pub fn begin(
        writer: &ReportWriter,
        info: RunInfo,
        html: HtmlTarget,
    ) -> Result<Record, ReportError> {
        let mut log = RunLog::open(writer.path())?;
        let opening = writer.opening();
        let start = Start {
            run_id: info.run_id.clone(),
            started_at: format_time(now()),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            command: info.command,
            operator: super::runlog::operator(),
            host: super::runlog::host(),
            account_id: info.account_id,
            inputs: info.inputs,
            report_rows_before: opening.rows_before,
            chain_before: opening.chain_before,
            torn_bytes_cut: opening.torn_bytes_cut,
            steps: info.steps,
            dry_run: info.dry_run,
        };
        log.append(&Entry::Start(start))?;
        Ok(Record {
            log,
            run_id: info.run_id,
            report: writer.path().to_owned(),
            html,
        })
    }

    /// Writes the end entry (the writer's rows and head, `timeline` up to now), then the page
    /// unless `--no-html`. Returns the page's path. A page that cannot be written is a warning,
    /// not a failed run: the report and the log are the evidence, the page is their reading.
    ///
    /// With what the writer vouches for and the attention list of this run's rows (`own`), the
    /// page reads only the rows earlier runs wrote ([`super::html::gather_written`]): a
    /// million-row run's page then costs no second pass over its own rows.
    pub fn finish(
        mut self,
        report: ReportEnd,
        ending: RunEnding,
        timeline: &Timeline,
        own: Option<Attention>,
    ) -> Result<Option<PathBuf>, ReportError> {
        let names = |m: BTreeMap<Status, u64>| {
            m.into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), v))
                .collect()
        };
        let end = End {
            run_id: self.run_id.clone(),
            ended_at: format_time(now()),
            exit_code: ending.exit_code,
            counts: names(ending.counts),
            report_rows: report.rows,
            chain_head: report.head,
            timeline: timeline.entries(Instant::now()),
            stopped: ending.stopped,
            by_step: ending
                .by_step
                .into_iter()
                .map(|(k, v)| (k, names(v)))
                .collect(),
            destinations: ending.destinations,
        };
        self.log.append(&Entry::End(end))?;
        let Some(page) = self.html.path(&self.report) else {
            return Ok(None);
        };
        let written = match (report.written, own) {
            (Some(w), Some(own)) => super::html::write_written(&self.report, &page, &w, own),
            _ => super::html::write(&self.report, &page),
        };
        match written {
            Ok(()) => Ok(Some(page)),
            Err(e) => {
                tracing::warn!("the HTML summary was not written: {e}");
                Ok(None)
            }
        }
    }
}
