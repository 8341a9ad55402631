//! The per-user report (CSV or JSONL), its resume reader and the run summary.
//!
//! The report is the run's durable record and the operator's audit trail, so it is written as
//! users finish (appended and flushed in batches: whatever rows are waiting go out with one
//! write) and a run killed at any moment leaves a readable file: at worst a torn last row, which `--resume` cuts off and [`read_report`] ignores. The last
//! row for a user is its current state; resume keys rows with [`crate::input::dedupe_key`], so a
//! report row and an input line for the same person always meet.
//!
//! Layout: this file has the row model, the two layouts ([`ReportKind`]) and errors; [`writer`]
//! opens (refusing planted paths), locks and appends; [`resume`] reads a report back; [`cell`]
//! quotes formula-looking CSV cells and unquotes them; [`summary`] renders the end-of-run lines.

mod background;
mod cell;
mod encode;
mod resume;
mod summary;
mod writer;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

use crate::step::Step;

pub use cell::{escape_cell, unescape_cell};
pub use resume::{Existence, ResumeState, RowState, read_report, read_rows};
pub use summary::Summary;
pub use writer::{CHAIN, Opening, ReportWriter};
pub(crate) use writer::{check_planted, create as create_no_follow};

/// A user's state in the report. Every status but `Pending` is final for the run that wrote it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Zoom accepted the revoke: the user's SSO sessions are gone.
    Revoked,
    /// Zoom does not know the user (404/1001, 400/1120/1010); not retried.
    NotFound,
    /// Still failing after the retries, or a non-retryable error; retried by `--resume`.
    Failed,
    /// Not an email address or Zoom user ID; never sent.
    Invalid,
    /// In the exclude list; never sent.
    Excluded,
    /// Dry run: would be revoked by a real run.
    WouldRevoke,
    /// Not attempted: the run stopped early. `--resume` picks it up.
    Pending,
    /// `offboard`: Zoom deactivated the user (or it already was inactive).
    Deactivated,
    /// `offboard`: the user was unlinked from the account (keeps a free Zoom account).
    Disassociated,
    /// `offboard`: the user and their data are gone for good.
    Deleted,
    /// Dry run: would be deactivated.
    WouldDeactivate,
    /// Dry run: would be disassociated.
    WouldDisassociate,
    /// Dry run: would be deleted.
    WouldDelete,
    /// `offboard`: the user was made Basic (or already was): the paid licence is free.
    Downgraded,
    /// Dry run: would be downgraded to Basic.
    WouldDowngrade,
    /// `offboard`: an earlier step of this user did not succeed, so this one was not sent.
    Skipped,
    /// `offboard`: a safety rule or Zoom itself refused this step (never retried by the run).
    Refused,
}

impl Status {
    /// Every status, in the order the summary lists them.
    pub const ALL: [Status; 17] = [
        Status::Revoked,
        Status::Deactivated,
        Status::Downgraded,
        Status::Disassociated,
        Status::Deleted,
        Status::NotFound,
        Status::Refused,
        Status::Skipped,
        Status::Failed,
        Status::Invalid,
        Status::Excluded,
        Status::WouldRevoke,
        Status::WouldDeactivate,
        Status::WouldDowngrade,
        Status::WouldDisassociate,
        Status::WouldDelete,
        Status::Pending,
    ];

    /// True for every status but `Pending`: the contract's "terminal". Terminal is not the same
    /// as done: see [`Status::is_done`] for what a resume requests again.
    pub fn is_terminal(self) -> bool {
        self != Status::Pending
    }

    /// The report spelling (`not_found`), shared by CSV, JSONL and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Revoked => "revoked",
            Status::NotFound => "not_found",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Excluded => "excluded",
            Status::WouldRevoke => "would_revoke",
            Status::Pending => "pending",
            Status::Deactivated => "deactivated",
            Status::Disassociated => "disassociated",
            Status::Deleted => "deleted",
            Status::WouldDeactivate => "would_deactivate",
            Status::WouldDisassociate => "would_disassociate",
            Status::WouldDelete => "would_delete",
            Status::Downgraded => "downgraded",
            Status::WouldDowngrade => "would_downgrade",
            Status::Skipped => "skipped",
            Status::Refused => "refused",
        }
    }

    /// The resume rule, in one place: true when a row with this status means the (user, step)
    /// needs no request from a run that resumes its report.
    ///
    /// Done: the step's success (`revoked`, `deactivated`, `disassociated`, `deleted`),
    /// `not_found`, and the rows known without a request (`invalid`, `excluded`). A dry run's
    /// `would_*` rows are done only for another dry run: a real run must still make the call.
    /// Not done: `pending` (never attempted), `failed` (a resume is usually started *because* of
    /// failures, and every step is safe to repeat), `skipped` and `refused` (taken up again with
    /// fresh lookups, so an operator who demoted an admin or fixed a manager's address can resume
    /// the same command).
    pub fn is_done(self, dry_run: bool) -> bool {
        match self {
            Status::Revoked
            | Status::Deactivated
            | Status::Downgraded
            | Status::Disassociated
            | Status::Deleted
            | Status::NotFound
            | Status::Invalid
            | Status::Excluded => true,
            Status::WouldRevoke
            | Status::WouldDeactivate
            | Status::WouldDowngrade
            | Status::WouldDisassociate
            | Status::WouldDelete => dry_run,
            Status::Pending | Status::Failed | Status::Skipped | Status::Refused => false,
        }
    }

    /// True for the statuses that let a user's chain go on to its next step (`would_*` counts,
    /// so that a dry run previews every step).
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Status::Revoked
                | Status::Deactivated
                | Status::Downgraded
                | Status::Disassociated
                | Status::Deleted
                | Status::Excluded
                | Status::WouldRevoke
                | Status::WouldDeactivate
                | Status::WouldDowngrade
                | Status::WouldDisassociate
                | Status::WouldDelete
        )
    }
}

/// The step → status mapping, in one place: what each step's success is, and what a dry run
/// writes instead.
impl Status {
    /// The status of `step` done: `revoked`, `deactivated`, `downgraded`, `disassociated`,
    /// `deleted`.
    pub fn success(step: Step) -> Status {
        match step {
            Step::Revoke => Status::Revoked,
            Step::Deactivate => Status::Deactivated,
            Step::Downgrade => Status::Downgraded,
            Step::Disassociate => Status::Disassociated,
            Step::Delete => Status::Deleted,
        }
    }

    /// What a dry run writes for `step`: `would_revoke`, `would_deactivate`, ...
    pub fn would(step: Step) -> Status {
        match step {
            Step::Revoke => Status::WouldRevoke,
            Step::Deactivate => Status::WouldDeactivate,
            Step::Downgrade => Status::WouldDowngrade,
            Step::Disassociate => Status::WouldDisassociate,
            Step::Delete => Status::WouldDelete,
        }
    }

    /// The step whose success this status is, if it is one.
    pub fn succeeded_step(self) -> Option<Step> {
        Step::ALL.into_iter().find(|s| Status::success(*s) == self)
    }

    /// True for a dry run's `would_*` statuses.
    pub fn is_would(self) -> bool {
        Step::ALL.into_iter().any(|s| Status::would(s) == self)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `status` cell that is not one of [`Status::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status \"{0}\" (expected one of revoked, deactivated, downgraded, disassociated, deleted, not_found, refused, skipped, failed, invalid, excluded, would_revoke, would_deactivate, would_downgrade, would_disassociate, would_delete, pending)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Status, UnknownStatus> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A `revoke` report's columns, in order. The first seven are the contract's; the rest may grow.
pub const COLUMNS: [&str; 11] = [
    "user",
    "status",
    "http_status",
    "error_code",
    "message",
    "attempts",
    "finished_at",
    "tracking_id",
    "name",
    "zoom_status",
    "last_login",
];

/// An `offboard` report's columns: the contract's seven, then `step` (right after them, so a
/// person reading the file sees which step a status is about next to it), then the rest, and
/// last `zoom_id`: the Zoom id a write-ahead row announces a removal for ([`Row::write_ahead`]).
/// Reports written before it have no `zoom_id` column; their write-ahead rows carry the id in
/// the message, which the resume reader still reads.
pub const OFFBOARD_COLUMNS: [&str; 13] = [
    "user",
    "status",
    "http_status",
    "error_code",
    "message",
    "attempts",
    "finished_at",
    "step",
    "tracking_id",
    "name",
    "zoom_status",
    "last_login",
    "zoom_id",
];

/// The position of `name` in [`OFFBOARD_COLUMNS`] (every column this version knows), for the
/// writer's and the reader's cell arrays. Called in `const { }` blocks, so a misspelt name fails
/// the build instead of a run.
pub(crate) const fn col(name: &str) -> usize {
    let mut i = 0;
    while i < OFFBOARD_COLUMNS.len() {
        let (a, b) = (OFFBOARD_COLUMNS[i].as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a report column")
}

/// How many leading [`COLUMNS`] an existing CSV report must share to be appended to.
pub const REQUIRED_COLUMNS: usize = 7;

/// Which command's report this is: `offboard` rows are per (user, step) and need a `step`
/// column, `revoke` rows are per user and keep the header they have always had. Resuming one kind
/// with the other command is refused ([`ReportError::Kind`]): appending steps to a report without
/// a `step` column would merge every step of a user into one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// `zoom-offboard revoke`: [`COLUMNS`], no `step`.
    Revoke,
    /// `zoom-offboard offboard`: [`OFFBOARD_COLUMNS`].
    Offboard,
}

impl ReportKind {
    /// The CSV header a new report of this kind gets.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ReportKind::Revoke => &COLUMNS,
            ReportKind::Offboard => &OFFBOARD_COLUMNS,
        }
    }

    /// The command that writes this kind, for messages.
    pub fn command(self) -> &'static str {
        match self {
            ReportKind::Revoke => "revoke",
            ReportKind::Offboard => "offboard",
        }
    }
}

/// The start of a write-ahead row's message (see [`Row::write_ahead`]); read back only from
/// reports written before the `zoom_id` column.
const WRITE_AHEAD_PREFIX: &str = "write-ahead: sending ";
/// Between the step and the Zoom id in a write-ahead row's message.
const WRITE_AHEAD_ID: &str = " for Zoom user id ";

/// One report row: a user's state after an attempt (or after validation, for `invalid`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// The user as given in the input (trimmed), or the input row's text for an unusable row.
    pub user: String,
    /// Where the user stands.
    pub status: Status,
    /// The last HTTP status received, if a request was made.
    pub http_status: Option<u16>,
    /// Zoom's error `code` from the last response body, if any.
    pub error_code: Option<i64>,
    /// What happened, for a person: Zoom's message, the validation reason, the stop reason.
    pub message: Cow<'static, str>,
    /// Requests made for this user in this run (0 if none was sent).
    pub attempts: u32,
    /// When the row was written; RFC 3339 UTC with milliseconds in both formats.
    #[serde(with = "rfc3339")]
    pub finished_at: DateTime<Utc>,
    /// `offboard`: the step this row is about; `None` for `revoke` reports and for rows about
    /// the user as a whole (`invalid`, `excluded`). Right after `finished_at`, as in the CSV
    /// header, so that JSONL keys come in the report's column order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// Zoom's `x-zm-trackingid` for failures: support asks for it.
    pub tracking_id: Option<String>,
    /// Dry-run lookup: the user's display name.
    pub name: Option<String>,
    /// Dry-run lookup: Zoom's status for the user (active, inactive, pending).
    pub zoom_status: Option<String>,
    /// Dry-run lookup: last login time as Zoom reports it.
    pub last_login: Option<String>,
    /// A write-ahead row's Zoom id ([`Row::write_ahead`]); `None` on every other row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoom_id: Option<String>,
}

impl Row {
    /// A row stamped now (to the millisecond, the precision the report keeps, so a written row
    /// reads back equal), with nothing else filled in.
    pub fn new(user: impl Into<String>, status: Status) -> Row {
        Row::stamped(user, status, now())
    }

    /// A row stamped `at` (from [`now`]): for many rows decided at one moment, which would
    /// otherwise each read the clock.
    pub fn stamped(user: impl Into<String>, status: Status, at: DateTime<Utc>) -> Row {
        Row {
            user: user.into(),
            status,
            http_status: None,
            error_code: None,
            message: Cow::Borrowed(""),
            attempts: 0,
            finished_at: at,
            tracking_id: None,
            name: None,
            zoom_status: None,
            last_login: None,
            step: None,
            zoom_id: None,
        }
    }

    /// The contract's write-ahead row: `pending` for (`user`, `step`), written just before a
    /// `disassociate` or `delete` is sent, carrying the Zoom id the lookup returned in its own
    /// column, `zoom_id` (and, for a person, in the message: `write-ahead: sending delete for
    /// Zoom user id KDcuGIm1QgePTO8WbOqwIQ`). After a kill while the call was in flight, a
    /// resume that gets 404 knows from it that the user existed
    /// ([`ResumeState::known_to_exist`]), so the user is `deleted`, not `not_found`.
    pub fn write_ahead(user: impl Into<String>, step: Step, zoom_id: &str) -> Row {
        let mut row = Row::new(user, Status::Pending);
        row.step = Some(step);
        row.message = format!("{WRITE_AHEAD_PREFIX}{step}{WRITE_AHEAD_ID}{zoom_id}").into();
        row.zoom_id = Some(zoom_id.to_owned());
        row
    }

    /// True for a write-ahead row ([`Row::write_ahead`]): it announces a call, it is no final
    /// state.
    pub fn is_write_ahead(&self) -> bool {
        self.write_ahead_id().is_some()
    }

    /// The step and Zoom id of a write-ahead row ([`Row::write_ahead`]); `None` for any other
    /// row (a status other than `pending`, or no step that removes the user). The id is the
    /// `zoom_id` column's; a report written before that column has it only in the message,
    /// read by [`Row::legacy_write_ahead_id`].
    pub fn write_ahead_id(&self) -> Option<(Step, &str)> {
        let step = self.step.filter(|s| s.removes_user())?;
        if self.status != Status::Pending {
            return None;
        }
        match self.zoom_id.as_deref() {
            Some(id) => (!id.is_empty()).then_some((step, id)),
            None => self.legacy_write_ahead_id(step),
        }
    }

    /// The Zoom id in the message of a write-ahead row from a report written before the
    /// `zoom_id` column (the message form is the only place those reports kept it); `None` for
    /// a message of another shape, such as a hand-edited one.
    fn legacy_write_ahead_id(&self, step: Step) -> Option<(Step, &str)> {
        let rest = self.message.strip_prefix(WRITE_AHEAD_PREFIX)?;
        let (named, id) = rest.split_once(WRITE_AHEAD_ID)?;
        let ok_id = !id.is_empty() && !id.contains(char::is_whitespace);
        (named.parse::<Step>().ok() == Some(step) && ok_id).then_some((step, id))
    }
}

/// Now, to the millisecond: the precision the report keeps, so that a written row reads back
/// equal. Read as milliseconds since the epoch: `Utc::now().trunc_subsecs(3)` spends most of its
/// ~600 instructions in calendar arithmetic done twice, a tenth of a million-row dry run.
pub fn now() -> DateTime<Utc> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(|| Utc::now().trunc_subsecs(3))
}

/// `finished_at` as written: RFC 3339, UTC, `Z`, milliseconds (fixed width, so it sorts as text).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses any RFC 3339 time (a hand-edited report may use another offset) into UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// Serde adapter for `finished_at`, so JSONL and CSV share one spelling without chrono's `serde`
/// feature (whose default varies the number of fraction digits).
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_time(&s).map_err(|e| D::Error::custom(format!("finished_at \"{s}\": {e}")))
    }
}

/// The report's file format, chosen by extension so the name says what is inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.csv`: for spreadsheets and people.
    Csv,
    /// `.jsonl` or `.ndjson`: one object per line, for `jq` and log pipelines.
    Jsonl,
}

impl Format {
    /// `.csv` → CSV; `.jsonl`/`.ndjson` → JSONL (any case); anything else is refused rather than
    /// guessed, before any API call.
    pub fn from_path(p: &Path) -> Result<Format, ReportError> {
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            _ => Err(ReportError::UnknownFormat { path: p.to_owned() }),
        }
    }
}

/// `zoom-offboard-report-<yyyymmddThhmmssZ>.csv` in the working directory: sortable, and unique
/// per second, so two runs do not collide on a default name.
pub fn default_report_path(now: DateTime<Utc>) -> PathBuf {
    PathBuf::from(format!(
        "zoom-offboard-report-{}.csv",
        now.format("%Y%m%dT%H%M%SZ")
    ))
}

/// A report problem. Every message names the report's path, and the line when parsing.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The extension is not one the tool writes.
    #[error("report {}: unknown format: name it .csv, .jsonl or .ndjson", .path.display())]
    UnknownFormat {
        /// The report path.
        path: PathBuf,
    },
    /// The report cannot be created or opened.
    #[error("cannot open report {}: {source}", .path.display())]
    Open {
        /// The report path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the report's lock: two runs appending to one report would interleave
    /// rows and each would resume from a state the other is changing.
    #[error("report {} is locked: another zoom-offboard run is writing it; wait for it to finish, or choose another --report", .path.display())]
    Locked {
        /// The report path.
        path: PathBuf,
    },
    /// Taking the lock failed for another reason than a competing holder.
    #[error("cannot lock report {}: {source}", .path.display())]
    Lock {
        /// The report path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A fresh run would append to an old report and mix two runs' rows.
    #[error("report {} already exists and is not empty: use --resume to continue it, or choose another --report", .path.display())]
    Exists {
        /// The report path.
        path: PathBuf,
    },
    /// Reading an existing report failed.
    #[error("cannot read report {}: {source}", .path.display())]
    Read {
        /// The report path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An existing CSV report's header is not ours: appending would put values under the wrong
    /// columns.
    #[error("report {} line 1: header \"{found}\" does not start with {}: not a zoom-offboard report; choose another --report", .path.display(), COLUMNS[..REQUIRED_COLUMNS].join(","))]
    Header {
        /// The report path.
        path: PathBuf,
        /// The header found.
        found: String,
    },
    /// A complete row that cannot be read back (a torn *last* row is not an error).
    #[error("report {} line {line}: {message}", .path.display())]
    Parse {
        /// The report path.
        path: PathBuf,
        /// Physical line of the row.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The report path is a symbolic link: writing through it would let whoever planted it choose
    /// which file the run appends people's names to (or creates).
    #[error("report {} is a symbolic link: refusing to write through it (whoever made it chooses the file written); remove it or choose another --report", .path.display())]
    Symlink {
        /// The report path.
        path: PathBuf,
    },
    /// The report file exists and belongs to another user: it may have been planted to read
    /// the run's rows, or be that user's file reached through a hard link.
    #[error("report {} belongs to another user (uid {owner}): refusing to write into it; choose another --report", .path.display())]
    NotOwned {
        /// The report path.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
    },
    /// The report path is not a regular file (a FIFO, a device, a directory).
    #[error("report {} is not a regular file: choose another --report", .path.display())]
    NotAFile {
        /// The report path.
        path: PathBuf,
    },
    /// The report was written by the other command (see [`ReportKind`]).
    #[error("report {} was written by `zoom-offboard {}` ({}), so `zoom-offboard {}` cannot resume it: resume it with `zoom-offboard {}`, or choose another --report", .path.display(), .found.command(), if *.found == ReportKind::Offboard { "its rows have a step" } else { "its rows have no step" }, .wanted.command(), .found.command())]
    Kind {
        /// The report path.
        path: PathBuf,
        /// The kind the existing report is.
        found: ReportKind,
        /// The kind this run writes.
        wanted: ReportKind,
    },
    /// Writing, flushing or syncing failed (disk full, file removed...).
    #[error("cannot write report {}: {source}", .path.display())]
    Write {
        /// The report path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_spellings_round_trip() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>().unwrap(), st);
            assert_eq!(st.to_string(), st.as_str());
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
        }
        assert_eq!(Status::WouldRevoke.as_str(), "would_revoke");
        assert!("Revoked".parse::<Status>().is_err());
        assert!(!Status::Pending.is_terminal());
        assert!(Status::Failed.is_terminal());
    }

    #[test]
    fn format_from_path() {
        assert_eq!(Format::from_path(Path::new("r.csv")).unwrap(), Format::Csv);
        assert_eq!(
            Format::from_path(Path::new("a/R.CSV")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::from_path(Path::new("r.jsonl")).unwrap(),
            Format::Jsonl
        );
        assert_eq!(
            Format::from_path(Path::new("r.ndjson")).unwrap(),
            Format::Jsonl
        );
        for bad in ["r.json", "r", "r.csv.bak"] {
            let err = Format::from_path(Path::new(bad)).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn default_report_path_format() {
        let now = parse_time("2026-11-28T09:05:03.250Z").unwrap();
        assert_eq!(
            default_report_path(now),
            PathBuf::from("zoom-offboard-report-20261128T090503Z.csv")
        );
    }

    #[test]
    fn row_new_and_time_format() {
        let r = Row::new("a@x.com", Status::Pending);
        assert_eq!(r.attempts, 0);
        assert_eq!(r.finished_at.timestamp_subsec_nanos() % 1_000_000, 0);
        let t = parse_time("2026-11-28T13:00:00+01:00").unwrap();
        assert_eq!(format_time(t), "2026-11-28T12:00:00.000Z");
    }

    #[test]
    fn write_ahead_message_carries_the_zoom_id() {
        let row = Row::write_ahead("a@x.com", Step::Delete, "KDcuGIm1QgePTO8WbOqwIQ");
        assert_eq!(row.status, Status::Pending);
        assert_eq!(row.step, Some(Step::Delete));
        assert_eq!(
            row.message,
            "write-ahead: sending delete for Zoom user id KDcuGIm1QgePTO8WbOqwIQ"
        );
        assert_eq!(
            row.write_ahead_id(),
            Some((Step::Delete, "KDcuGIm1QgePTO8WbOqwIQ"))
        );
        let d = Row::write_ahead("a@x.com", Step::Disassociate, "u1");
        assert_eq!(d.write_ahead_id(), Some((Step::Disassociate, "u1")));
        assert_eq!(row.zoom_id.as_deref(), Some("KDcuGIm1QgePTO8WbOqwIQ"));
        // Anything else is not a write-ahead row.
        let mut other = row.clone();
        other.status = Status::Failed;
        assert_eq!(other.write_ahead_id(), None, "not pending");
        let mut other = row.clone();
        other.step = Some(Step::Revoke);
        assert_eq!(other.write_ahead_id(), None, "not a removal");
        // A report written before the zoom_id column: the id is read from the message, which
        // must name the row's own step.
        let mut legacy = row.clone();
        legacy.zoom_id = None;
        assert_eq!(
            legacy.write_ahead_id(),
            Some((Step::Delete, "KDcuGIm1QgePTO8WbOqwIQ"))
        );
        let row = legacy;
        let mut other = row.clone();
        other.step = Some(Step::Disassociate);
        assert_eq!(other.write_ahead_id(), None, "another step's row");
        for message in [
            "write-ahead: sending delete for Zoom user id ",
            "write-ahead: sending delete for Zoom user id a b",
            "write-ahead: sending revoke for Zoom user id u1",
            "write-ahead: sending deletion for Zoom user id u1",
            "not looked up: the run stopped",
        ] {
            let mut other = row.clone();
            other.message = message.into();
            if message.contains("revoke") {
                other.step = Some(Step::Revoke);
            }
            assert_eq!(other.write_ahead_id(), None, "{message}");
        }
    }

    #[test]
    fn columns_of_each_kind() {
        assert_eq!(ReportKind::Revoke.columns(), COLUMNS);
        let offboard = ReportKind::Offboard.columns();
        assert_eq!(offboard[..REQUIRED_COLUMNS], COLUMNS[..REQUIRED_COLUMNS]);
        assert_eq!(offboard[REQUIRED_COLUMNS], "step");
        assert_eq!(
            offboard[REQUIRED_COLUMNS + 1..offboard.len() - 1],
            COLUMNS[REQUIRED_COLUMNS..]
        );
        assert_eq!(offboard.last(), Some(&"zoom_id"), "added at the end");
        for (i, name) in OFFBOARD_COLUMNS.iter().enumerate() {
            assert_eq!(col(name), i);
        }
    }

    #[test]
    fn jsonl_row_has_all_columns_with_nulls() {
        let mut r = Row::new("a@x.com", Status::Revoked);
        r.finished_at = parse_time("2026-11-28T12:00:00Z").unwrap();
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = COLUMNS.to_vec();
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        assert!(v["http_status"].is_null());
        assert_eq!(v["finished_at"], "2026-11-28T12:00:00.000Z");
    }
}
