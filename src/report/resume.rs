//! Reading a report back: the state `--resume` continues from.
//!
//! Rows are appended and flushed in batches, each batch with one write, so a killed run can leave
//! at most one torn row, and only at the end. A torn row is recognised without guessing: the file
//! does not end with a newline, or (CSV) the last record stops short of the header's width (a tear just after a newline
//! inside a quoted message). Such a row is ignored here and cut off by [`super::ReportWriter::open`].
//! A damaged row anywhere else, or a complete last row that does not parse, is an error: the report
//! is an audit trail and silently dropping a row from it would lose a revocation.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::cell::unescape_cell;
use super::{
    Format, OFFBOARD_COLUMNS, REQUIRED_COLUMNS, ReportError, ReportKind, Row, Status, col,
    parse_time,
};
use crate::input::dedupe_key;
use crate::step::Step;

/// What a resume needs of the last row of one (user, step): its status, and which step it is
/// about (`None`: a `revoke` report's row, or a row about the user as a whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowState {
    /// The row's status.
    pub status: Status,
    /// The row's step.
    pub step: Option<Step>,
}

/// Why the report shows a user as existing at Zoom (the contract's "already gone" rule: a removal
/// answered 404 for such a user is `deleted`/`disassociated`, not `not_found`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existence<'a> {
    /// A write-ahead row ([`Row::write_ahead`]): a removal was about to be sent for this Zoom id.
    ZoomId(&'a str),
    /// A step of the user succeeded (the first in run order), so Zoom knew the user then.
    StepSucceeded(Step),
}

/// Slots per user: rows without a step, then one per [`Step::ALL`].
const SLOTS: usize = 1 + Step::ALL.len();

/// Where rows about `step` are kept in [`UserEntry::last`].
fn slot(step: Option<Step>) -> usize {
    step.map_or(0, |s| 1 + s.index())
}

/// One user's facts, condensed from all of its rows: a few bytes plus a Zoom id for the users of
/// a removal step, instead of whole rows (a million-row report is read on resume; keeping rows
/// would hold every message, name and tracking id in memory for nothing).
#[derive(Clone, Debug, Default)]
struct UserEntry {
    /// The last status per [`slot`].
    last: [Option<Status>; SLOTS],
    /// Bit `slot(step) - 1` set: the last row without a step came after the step's last row
    /// (or the step has none), so it is the step's state ([`ResumeState::state`]).
    whole_later: u8,
    /// Bit `slot(step) - 1` set: the step's success status was seen.
    succeeded: u8,
    /// The Zoom id of the last write-ahead row. Kept when the step's final row follows: a
    /// `failed` removal after a write-ahead still proves the lookup found the user.
    zoom_id: Option<Box<str>>,
}

/// The last row per (user, step) of an existing report, users keyed by
/// [`crate::input::dedupe_key`] of the row's `user`, condensed to what a resume decides with.
#[derive(Clone, Debug, Default)]
pub struct ResumeState {
    users: HashMap<String, UserEntry>,
    rows_read: usize,
    repaired_bytes: u64,
    /// The CSV header's kind (`step` column or not); `None` for JSONL.
    header_kind: Option<ReportKind>,
    /// A row with a step was read (only `offboard` writes them).
    saw_step: bool,
    /// A row without a step and about a request was read (only `revoke` writes them: in an
    /// `offboard` report only `invalid` and `excluded` rows have no step).
    saw_stepless_request: bool,
}

impl ResumeState {
    /// The one resume rule's reading, for both commands: the state of (user, `step`) is the
    /// later of the user's last row about that step and its last row about the user as a
    /// whole (no step: `invalid`, `excluded`, and every row of a `revoke` report). So a user
    /// whose last row is `excluded` is not requested again, by `revoke` or `offboard`.
    pub fn state(&self, user_key: &str, step: Step) -> Option<RowState> {
        let u = self.users.get(user_key)?;
        let whole = u.whole_later & (1 << (slot(Some(step)) - 1)) != 0;
        let (status, step) = if whole {
            (u.last[0]?, None)
        } else {
            (u.last[slot(Some(step))]?, Some(step))
        };
        Some(RowState { status, step })
    }

    /// The status of the user's last row about the user as a whole (no step): what decides
    /// whether an `invalid` or `excluded` entry of the input already has its row.
    pub fn whole(&self, user_key: &str) -> Option<Status> {
        self.users.get(user_key)?.last[0]
    }

    /// The user's `revoke` state ([`Self::state`] of the revoke step).
    pub fn last(&self, user_key: &str) -> Option<RowState> {
        self.state(user_key, Step::Revoke)
    }

    /// The state of (user, `step`): the last row about exactly that step (`None`: the rows
    /// without a step, such as `invalid` and `excluded`).
    pub fn last_step(&self, user_key: &str, step: Option<Step>) -> Option<RowState> {
        let status = self.users.get(user_key)?.last[slot(step)]?;
        Some(RowState { status, step })
    }

    /// True when a run resuming this report (a dry run if `dry_run`) should not request the
    /// user's revoke again: [`Self::last`] is done by [`Status::is_done`], the one resume rule.
    pub fn is_done(&self, user_key: &str, dry_run: bool) -> bool {
        self.last(user_key)
            .is_some_and(|r| r.status.is_done(dry_run))
    }

    /// [`Self::is_done`] for (user, `step`): [`Self::last_step`] by [`Status::is_done`].
    pub fn is_step_done(&self, user_key: &str, step: Option<Step>, dry_run: bool) -> bool {
        self.last_step(user_key, step)
            .is_some_and(|r| r.status.is_done(dry_run))
    }

    /// Whether the report shows the user as existing at Zoom: the Zoom id of a write-ahead row
    /// if there is one (most precise), else the first step of theirs that succeeded. `None`:
    /// the report does not know (a 404 then means `not_found`).
    pub fn known_to_exist(&self, user_key: &str) -> Option<Existence<'_>> {
        let u = self.users.get(user_key)?;
        if let Some(id) = &u.zoom_id {
            return Some(Existence::ZoomId(id));
        }
        Step::ALL
            .into_iter()
            .find(|s| u.succeeded & (1 << (slot(Some(*s)) - 1)) != 0)
            .map(Existence::StepSucceeded)
    }

    /// Which command wrote the report: from the CSV header, or from the JSONL rows seen (`None`
    /// when they cannot tell: no row, or only `invalid`/`excluded` ones).
    pub fn kind(&self) -> Option<ReportKind> {
        self.header_kind.or(if self.saw_step {
            Some(ReportKind::Offboard)
        } else if self.saw_stepless_request {
            Some(ReportKind::Revoke)
        } else {
            None
        })
    }

    /// Complete rows read (all rows, not only the last per user and step).
    pub fn rows_read(&self) -> usize {
        self.rows_read
    }

    /// Bytes of a torn last row: cut off by `ReportWriter::open`, ignored by [`read_report`].
    pub fn repaired_bytes(&self) -> u64 {
        self.repaired_bytes
    }

    /// Distinct users in the report.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when the report has no complete row.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The last row's state of every (user, step) in the report, keyed by the user's dedupe key,
    /// in no particular order: one entry per user for a `revoke` report.
    pub fn iter(&self) -> impl Iterator<Item = (&String, RowState)> {
        self.users.iter().flat_map(|(key, u)| {
            u.last.iter().enumerate().filter_map(move |(i, st)| {
                let step = i.checked_sub(1).map(|s| Step::ALL[s]);
                st.map(|status| (key, RowState { status, step }))
            })
        })
    }

    fn push(&mut self, row: Row) {
        self.rows_read += 1;
        if row.step.is_some() {
            self.saw_step = true;
        } else if !matches!(row.status, Status::Invalid | Status::Excluded) {
            self.saw_stepless_request = true;
        }
        let entry = self.users.entry(dedupe_key(&row.user)).or_default();
        entry.last[slot(row.step)] = Some(row.status);
        match row.step {
            None => entry.whole_later = u8::MAX,
            Some(step) => entry.whole_later &= !(1 << (slot(Some(step)) - 1)),
        }
        if let Some(step) = row.status.succeeded_step() {
            entry.succeeded |= 1 << (slot(Some(step)) - 1);
        }
        if let Some((_, id)) = row.write_ahead_id() {
            entry.zoom_id = Some(id.into());
        }
    }
}

/// Reads a report without changing it (for a summary or an audit), tolerating a torn last row.
pub fn read_report(path: &Path) -> Result<ResumeState, ReportError> {
    let format = Format::from_path(path)?;
    let file = open_read(path)?;
    Ok(scan(path, &file, format)?.state)
}

/// Every complete row of a report, in file order, CSV cells unquoted (see
/// [`super::unescape_cell`]): for audits and tests that need whole rows, which [`ResumeState`]
/// does not keep. A torn last row is left out, as by [`read_report`].
pub fn read_rows(path: &Path) -> Result<Vec<Row>, ReportError> {
    let format = Format::from_path(path)?;
    let file = open_read(path)?;
    let mut rows = Vec::new();
    scan_rows(path, &file, format, &mut |row| rows.push(row))?;
    Ok(rows)
}

fn open_read(path: &Path) -> Result<File, ReportError> {
    File::open(path).map_err(|source| ReportError::Open {
        path: path.to_owned(),
        source,
    })
}

/// What an existing report holds.
pub(crate) struct Scan {
    pub state: ResumeState,
    /// Length of the complete part: where a torn last row starts, else the file length.
    pub valid_len: u64,
    /// The CSV header, if the file has a complete one.
    pub header: Option<Vec<String>>,
}

/// Reads `file` from the start. `file` may be opened for appending; only its offset moves.
pub(crate) fn scan(path: &Path, file: &File, format: Format) -> Result<Scan, ReportError> {
    let mut state = ResumeState::default();
    let found = scan_rows(path, file, format, &mut |row| state.push(row))?;
    state.repaired_bytes = found.len - found.valid_len;
    state.header_kind = found.header.as_deref().map(header_kind);
    Ok(Scan {
        state,
        valid_len: found.valid_len,
        header: found.header,
    })
}

/// The kind of report a CSV header is.
fn header_kind(header: &[String]) -> ReportKind {
    if header.iter().any(|h| h == "step") {
        ReportKind::Offboard
    } else {
        ReportKind::Revoke
    }
}

/// A scan's outcome apart from the rows, which went to the sink.
struct Found {
    len: u64,
    valid_len: u64,
    header: Option<Vec<String>>,
}

/// Reads `file` from the start, giving each complete row to `sink`.
fn scan_rows(
    path: &Path,
    file: &File,
    format: Format,
    sink: &mut dyn FnMut(Row),
) -> Result<Found, ReportError> {
    let read_err = |source| ReportError::Read {
        path: path.to_owned(),
        source,
    };
    let len = file.metadata().map_err(read_err)?.len();
    let mut f = file;
    let ends_with_newline = len > 0 && {
        let mut last = [0u8];
        f.seek(SeekFrom::Start(len - 1)).map_err(read_err)?;
        f.read_exact(&mut last).map_err(read_err)?;
        last[0] == b'\n'
    };
    f.seek(SeekFrom::Start(0)).map_err(read_err)?;
    let src = BufReader::new(f);
    let partial = match format {
        Format::Csv => scan_csv(path, src, ends_with_newline, sink)?,
        Format::Jsonl => scan_jsonl(path, src, sink)?,
    };
    Ok(Found {
        len,
        valid_len: partial.torn_at.map_or(len, |at| at.min(len)),
        header: partial.header,
    })
}

/// A scan before the file length is applied.
#[derive(Default)]
struct Partial {
    /// Where a torn last row starts.
    torn_at: Option<u64>,
    header: Option<Vec<String>>,
}

fn scan_jsonl(
    path: &Path,
    mut src: impl BufRead,
    sink: &mut dyn FnMut(Row),
) -> Result<Partial, ReportError> {
    let mut out = Partial::default();
    let mut buf = Vec::new();
    let (mut offset, mut line) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = src
            .read_until(b'\n', &mut buf)
            .map_err(|source| ReportError::Read {
                path: path.to_owned(),
                source,
            })?;
        if n == 0 {
            return Ok(out);
        }
        line += 1;
        if buf.last() != Some(&b'\n') {
            out.torn_at = Some(offset);
            return Ok(out);
        }
        offset += n as u64;
        if buf.trim_ascii().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_slice(&buf).map_err(|e| ReportError::Parse {
            path: path.to_owned(),
            line,
            message: e.to_string(),
        })?;
        sink(row);
    }
}

fn scan_csv(
    path: &Path,
    src: impl Read,
    ends_with_newline: bool,
    sink: &mut dyn FnMut(Row),
) -> Result<Partial, ReportError> {
    let mut out = Partial::default();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(src);
    let read = |rdr: &mut csv::Reader<_>, rec: &mut csv::ByteRecord| {
        rdr.read_byte_record(rec).map_err(|e| ReportError::Read {
            path: path.to_owned(),
            source: e.into(),
        })
    };
    let (mut cur, mut next) = (csv::ByteRecord::new(), csv::ByteRecord::new());
    if !read(&mut rdr, &mut cur)? {
        return Ok(out);
    }
    let mut more = read(&mut rdr, &mut next)?;
    // The header. Torn if it is all there is and has no newline.
    if !more && !ends_with_newline {
        out.torn_at = Some(0);
        return Ok(out);
    }
    let header: Vec<String> = cur
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    if header.len() < REQUIRED_COLUMNS
        || header[..REQUIRED_COLUMNS] != OFFBOARD_COLUMNS[..REQUIRED_COLUMNS]
    {
        return Err(ReportError::Header {
            path: path.to_owned(),
            found: header.join(","),
        });
    }
    let map = ColumnMap::new(&header);
    out.header = Some(header);
    while more {
        std::mem::swap(&mut cur, &mut next);
        more = read(&mut rdr, &mut next)?;
        let pos = cur.position().cloned().unwrap_or_else(csv::Position::new);
        if !more && (!ends_with_newline || cur.len() < map.width) {
            out.torn_at = Some(pos.byte());
            return Ok(out);
        }
        let row = map.parse(&cur).map_err(|message| ReportError::Parse {
            path: path.to_owned(),
            line: pos.line(),
            message,
        })?;
        sink(row);
    }
    Ok(out)
}

/// Where each of [`OFFBOARD_COLUMNS`] (every column this version knows) is in a CSV report.
struct ColumnMap {
    /// Position of each of `OFFBOARD_COLUMNS` in the file, if present (the first seven always
    /// are).
    at: [Option<usize>; OFFBOARD_COLUMNS.len()],
    /// The header's width: every complete row has exactly this many cells.
    width: usize,
}

impl ColumnMap {
    fn new(header: &[String]) -> ColumnMap {
        ColumnMap {
            at: OFFBOARD_COLUMNS.map(|c| header.iter().position(|h| h == c)),
            width: header.len(),
        }
    }

    fn parse(&self, rec: &csv::ByteRecord) -> Result<Row, String> {
        if rec.len() != self.width {
            return Err(format!(
                "{} cells, the header has {}",
                rec.len(),
                self.width
            ));
        }
        let cell = |i: usize| -> Result<&str, String> {
            match self.at[i] {
                None => Ok(""),
                Some(at) => std::str::from_utf8(&rec[at])
                    .map(unescape_cell)
                    .map_err(|_| format!("{} is not UTF-8", OFFBOARD_COLUMNS[i])),
            }
        };
        let opt = |i: usize| -> Result<Option<String>, String> {
            cell(i).map(|s| (!s.is_empty()).then(|| s.to_owned()))
        };
        fn num<T: std::str::FromStr>(name: &str, s: &str) -> Result<Option<T>, String> {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse()
                .map(Some)
                .map_err(|_| format!("{name} \"{s}\" is not a number"))
        }
        let finished = cell(const { col("finished_at") })?;
        let step = cell(const { col("step") })?;
        Ok(Row {
            user: cell(const { col("user") })?.to_owned(),
            status: cell(const { col("status") })?
                .parse()
                .map_err(|e| format!("{e}"))?,
            http_status: num("http_status", cell(const { col("http_status") })?)?,
            error_code: num("error_code", cell(const { col("error_code") })?)?,
            message: cell(const { col("message") })?.to_owned().into(),
            attempts: num("attempts", cell(const { col("attempts") })?)?.unwrap_or(0),
            finished_at: parse_time(finished)
                .map_err(|e| format!("finished_at \"{finished}\": {e}"))?,
            tracking_id: opt(const { col("tracking_id") })?,
            name: opt(const { col("name") })?,
            zoom_status: opt(const { col("zoom_status") })?,
            last_login: opt(const { col("last_login") })?,
            step: match step {
                "" => None,
                s => Some(s.parse().map_err(|e| format!("{e}"))?),
            },
            zoom_id: opt(const { col("zoom_id") })?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(rows: &[(&str, Status, Option<Step>)]) -> ResumeState {
        let mut s = ResumeState::default();
        for (user, status, step) in rows {
            let mut row = Row::new(*user, *status);
            row.step = *step;
            s.push(row);
        }
        s
    }

    const REVOKE: Option<Step> = Some(Step::Revoke);
    const DEACTIVATE: Option<Step> = Some(Step::Deactivate);
    const DELETE: Option<Step> = Some(Step::Delete);

    #[test]
    fn last_row_per_user_and_step() {
        let s = state(&[
            ("A@x.com", Status::Revoked, REVOKE),
            ("a@x.com", Status::Pending, DEACTIVATE),
            ("a@x.com", Status::Failed, DEACTIVATE),
            ("b@x.com", Status::Failed, REVOKE),
            ("b@x.com", Status::Skipped, DEACTIVATE),
            ("bad/one", Status::Invalid, None),
        ]);
        assert_eq!(s.rows_read(), 6);
        assert_eq!(s.len(), 3);
        let st = |status, step| Some(RowState { status, step });
        assert_eq!(s.last_step("a@x.com", REVOKE), st(Status::Revoked, REVOKE));
        assert_eq!(
            s.last_step("a@x.com", DEACTIVATE),
            st(Status::Failed, DEACTIVATE)
        );
        assert_eq!(s.last_step("a@x.com", DELETE), None);
        assert_eq!(s.last_step("a@x.com", None), None);
        assert!(s.is_step_done("a@x.com", REVOKE, false));
        assert!(!s.is_step_done("a@x.com", DEACTIVATE, false), "failed");
        assert!(!s.is_step_done("b@x.com", DEACTIVATE, false), "skipped");
        assert!(s.is_step_done("bad/one", None, false), "invalid");
        // `last` is revoke's view: a later deactivate row does not change it.
        assert_eq!(s.last("a@x.com"), st(Status::Revoked, REVOKE));
        assert!(s.is_done("a@x.com", false));
        assert!(!s.is_done("b@x.com", false));
        assert_eq!(s.last("bad/one"), st(Status::Invalid, None));
        let mut all: Vec<_> = s
            .iter()
            .map(|(k, r)| (k.as_str(), r.step, r.status))
            .collect();
        all.sort();
        assert_eq!(all.len(), 5, "{all:?}");
        assert_eq!(s.kind(), Some(ReportKind::Offboard));
    }

    #[test]
    fn revoke_view_takes_the_later_of_no_step_and_revoke() {
        let s = state(&[
            ("a@x.com", Status::Excluded, None),
            ("a@x.com", Status::Failed, REVOKE),
        ]);
        assert_eq!(s.last("a@x.com").map(|r| r.status), Some(Status::Failed));
        let s = state(&[
            ("a@x.com", Status::Pending, None),
            ("a@x.com", Status::Revoked, None),
        ]);
        assert_eq!(s.last("a@x.com").map(|r| r.status), Some(Status::Revoked));
        assert_eq!(s.iter().count(), 1, "a revoke report: one entry per user");
        assert_eq!(s.kind(), Some(ReportKind::Revoke));
        assert_eq!(state(&[("x", Status::Invalid, None)]).kind(), None);
    }

    #[test]
    fn known_to_exist_from_write_ahead_or_an_earlier_success() {
        let mut s = state(&[
            ("a@x.com", Status::Failed, REVOKE),
            ("a@x.com", Status::Deactivated, DEACTIVATE),
            ("n@x.com", Status::NotFound, REVOKE),
            ("w@x.com", Status::WouldRevoke, REVOKE),
            ("r@x.com", Status::Revoked, None),
        ]);
        s.push(Row::write_ahead(
            "D@x.com",
            Step::Delete,
            "KDcuGIm1QgePTO8WbOqwIQ",
        ));
        let mut failed = Row::new("d@x.com", Status::Failed);
        failed.step = DELETE;
        s.push(failed);
        assert_eq!(
            s.known_to_exist("a@x.com"),
            Some(Existence::StepSucceeded(Step::Deactivate))
        );
        assert_eq!(
            s.known_to_exist("r@x.com"),
            Some(Existence::StepSucceeded(Step::Revoke)),
            "a revoke report's rows have no step"
        );
        assert_eq!(
            s.known_to_exist("d@x.com"),
            Some(Existence::ZoomId("KDcuGIm1QgePTO8WbOqwIQ")),
            "kept after the final row"
        );
        assert_eq!(
            s.last_step("d@x.com", DELETE).unwrap().status,
            Status::Failed
        );
        assert_eq!(s.known_to_exist("n@x.com"), None);
        assert_eq!(
            s.known_to_exist("w@x.com"),
            None,
            "a dry run proves nothing"
        );
        assert_eq!(s.known_to_exist("z@x.com"), None);
    }

    #[test]
    fn entries_stay_small() {
        // A million-row report is read on resume: a user costs this plus its key.
        assert!(
            std::mem::size_of::<UserEntry>() <= 32,
            "{}",
            std::mem::size_of::<UserEntry>()
        );
    }
}
