//! `zoom-offboard verify REPORT [--head HEX]`: is this report the one the runs wrote?
//!
//! It recomputes the chain over the report's bytes (not over rows parsed and re-encoded: the bytes
//! are what was hashed), checks every run log entry against the report (a start entry's rows and
//! chain before, an end entry's rows and head), and with `--head`, that the last row has that
//! chain. On the first row that fails it names the file's line and what kind of break it is:
//!
//! 1. the row is followed, in the chain, by a later row (the rows in between were moved), or the
//!    next row follows its predecessor directly (this row was added);
//! 2. the run log's head sits fewer rows from the start than it recorded: rows were removed;
//! 3. otherwise the row's bytes were edited.
//!
//! With every row intact, a run log entry the report contradicts is a break too: fewer rows than
//! an end entry recorded (rows cut from the end), rows after the last recorded head with no later
//! run that could have written them (rows added), a head that is not where it was recorded.
//!
//! An intact report is settled in one streaming pass (records found by a quote-aware reader, a
//! CSV cell may hold a newline), in memory that does not grow with the report; a million rows
//! take well under two seconds, most of it SHA-256. Only a report that fails is read whole, to
//! look around the failing row.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::chain::{Link, split_csv, split_jsonl};
use super::records::RecordReader;
use super::runlog::{self, Entry, RunLogError};
use crate::report::{CHAIN, Format};

/// What is wrong at the first line that does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Break {
    /// The row's bytes (or its chain cell) no longer give its chain value.
    Edited,
    /// `count` rows before this one are missing.
    Removed {
        /// How many rows are missing, from the run log's record.
        count: u64,
    },
    /// This row is not part of the chain: the next row follows the one before it.
    Added,
    /// Rows are out of order: the row that belongs here is at `found_at`.
    Moved {
        /// The line of the row whose chain goes on from the one before this line.
        found_at: u64,
    },
    /// This row and those after it come after the head (`--head`, or the run log's last end
    /// entry with no later run).
    AfterHead {
        /// The head they come after (`None`: the run log recorded no rows).
        head: Option<Link>,
    },
    /// Rows were cut from the end: the run log recorded more.
    Cut {
        /// Rows the run log recorded.
        recorded: u64,
    },
    /// A run log entry that the report contradicts.
    LogContradicted {
        /// The run log's line.
        log_line: u64,
        /// What the entry says and what the report has.
        detail: String,
    },
    /// `--head` is the chain of no row.
    WrongHead {
        /// The head given.
        given: Link,
        /// The last row's chain.
        last: Option<Link>,
    },
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Break::Edited => f.write_str("a row edited: its bytes no longer give its chain value"),
            Break::Removed { count } => write!(
                f,
                "rows removed: {count} row(s) before this one are missing (the run log's head is \
                 {count} row(s) early)"
            ),
            Break::Added => f.write_str(
                "a row added: it is not part of the chain, which goes on past it from the row before",
            ),
            Break::Moved { found_at } => write!(
                f,
                "rows moved: the row that belongs here is on line {found_at}"
            ),
            Break::AfterHead { head: Some(head) } => write!(
                f,
                "rows added after the head: this row and those after it come after the head {head}"
            ),
            Break::AfterHead { head: None } => f.write_str(
                "rows added after the head: the run log records no rows, yet the report has some",
            ),
            Break::Cut { recorded } => write!(
                f,
                "rows removed from the end: the run log records {recorded} rows; the first missing \
                 row belongs on this line"
            ),
            Break::LogContradicted { log_line, detail } => {
                write!(f, "the run log (line {log_line}) contradicts the report: {detail}")
            }
            Break::WrongHead { given, last } => match last {
                Some(last) => write!(
                    f,
                    "wrong head: no row has the chain {given}; the last row's is {last}"
                ),
                None => write!(f, "wrong head: the report has no rows, so no head {given}"),
            },
        }
    }
}

/// The first line that does not verify, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The file's line (a CSV's header is line 1).
    pub line: u64,
    /// What is wrong there.
    pub kind: Break,
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Complete rows in the report.
    pub rows: u64,
    /// Runs in the run log (start entries).
    pub runs: u64,
    /// The last row's chain; `None` without rows.
    pub head: Option<Link>,
    /// Bytes of a torn last line (not part of the chain, not a failure).
    pub torn_bytes: u64,
    /// The first break, if any: `None` is an intact report.
    pub problem: Option<Finding>,
}

/// Why a report cannot be verified at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No such file, or it cannot be read.
    #[error("cannot read report {}: {source}", .path.display())]
    Read {
        /// The report's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The report has no chain (an older report, or not one of ours).
    #[error("report {}: no `chain` column: written by an older version, or not a zoom-offboard report", .path.display())]
    NoChain {
        /// The report's path.
        path: PathBuf,
    },
    /// The extension is not `.csv`, `.jsonl` or `.ndjson`.
    #[error("report {}: unknown format: a report is .csv, .jsonl or .ndjson", .path.display())]
    Format {
        /// The report's path.
        path: PathBuf,
    },
    /// The run log has a line that is not an entry.
    #[error(transparent)]
    Log(#[from] RunLogError),
}

/// One record of the report: where its bytes are (without the line end) and its first line.
#[derive(Clone, Copy, Debug)]
pub(super) struct Record {
    /// The record's first byte.
    pub start: usize,
    /// The byte after its last (its newline).
    pub end: usize,
    /// Its first line in the file.
    pub line: u64,
}

/// The report's bytes cut into the header (CSV), records, and a torn tail.
pub(super) struct Layout {
    genesis: Link,
    /// The rows (a CSV's header not among them).
    pub records: Vec<Record>,
    /// The line after the last complete record.
    next_line: u64,
    torn_bytes: u64,
}

/// The report read for checking: its bytes, records, and how a record splits.
struct Report {
    bytes: Vec<u8>,
    format: Format,
    layout: Layout,
    /// The run log's last end entry's rows and head (when it has one), which tells a removal
    /// from an edit.
    recorded: Option<(u64, Link)>,
}

impl Report {
    fn split(&self, i: usize) -> Option<(&[u8], Link)> {
        let r = self.layout.records.get(i)?;
        let rec = &self.bytes[r.start..r.end];
        match self.format {
            Format::Csv => split_csv(rec),
            Format::Jsonl => split_jsonl(rec),
        }
    }

    fn stored(&self, i: usize) -> Option<Link> {
        self.split(i).map(|(_, c)| c)
    }

    /// True when row `i`'s bytes, after `prev`, give its stored chain.
    fn follows(&self, i: usize, prev: &Link) -> bool {
        self.split(i)
            .is_some_and(|(hashed, chain)| prev.next(hashed) == chain)
    }

    fn line(&self, i: usize) -> u64 {
        self.layout
            .records
            .get(i)
            .map_or(self.layout.next_line, |r| r.line)
    }

    fn rows(&self) -> usize {
        self.layout.records.len()
    }

    /// The position of the row whose stored chain is `link`.
    fn position(&self, link: &Link) -> Option<usize> {
        (0..self.rows())
            .rev()
            .find(|&i| self.stored(i) == Some(*link))
    }
}

/// Verifies `report` (and its run log), and with `head`, that its last row has that chain.
///
/// A first pass streams the report, keeping only the chain values the run log and `--head` refer
/// to, and settles an intact report in memory that does not grow with it. Anything else is
/// looked at again with the whole file in memory, to name the break ([`first_break`] and the
/// rest).
pub fn verify(report: &Path, head: Option<&Link>) -> Result<Outcome, VerifyError> {
    verify_observed(report, head, &mut |_| ())
}

/// [`verify`], handing every complete record the first pass reads (a CSV's header first) to
/// `observe`, so that a caller who needs something else from every row (the page's attention
/// list) reads the report once. The records stop at the first row that breaks the chain: then
/// `observe` has not seen them all, and the outcome says so (a problem).
pub fn verify_observed(
    report: &Path,
    head: Option<&Link>,
    observe: &mut dyn FnMut(&[u8]),
) -> Result<Outcome, VerifyError> {
    let format = Format::from_path(report).map_err(|_| VerifyError::Format {
        path: report.to_owned(),
    })?;
    let entries = runlog::read(report)?;
    let runs = count_runs(&entries);
    let pass = stream_pass(report, format, &entries, u64::MAX, observe)?;
    if pass.intact(&entries, head) {
        return Ok(Outcome {
            rows: pass.rows,
            runs,
            head: pass.last,
            torn_bytes: pass.torn,
            problem: None,
        });
    }
    let rep = load(report, format, &entries)?;
    let problem = first_break(&rep)
        .or_else(|| log_break(&rep, &entries))
        .or_else(|| head.and_then(|h| head_break(&rep, h)));
    Ok(Outcome {
        rows: rep.rows() as u64,
        runs,
        head: rep.rows().checked_sub(1).and_then(|i| rep.stored(i)),
        torn_bytes: rep.layout.torn_bytes,
        problem,
    })
}

fn count_runs(entries: &[(u64, Entry)]) -> u64 {
    entries
        .iter()
        .filter(|(_, e)| matches!(e, Entry::Start(_)))
        .count() as u64
}

/// What a report's writer knows of the report it holds open: where the report stood when it was
/// opened and where it stands now. The rows in between are the writer's own: their chain was
/// computed from their bytes as they were encoded, in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Complete rows when the writer opened the report (a torn line already cut).
    pub rows_before: u64,
    /// The report's length then, a new CSV's header included.
    pub bytes_before: u64,
    /// The chain the writer's first row went on from: the last row's, or the genesis value.
    pub chain_from: Link,
    /// Complete rows now.
    pub rows: u64,
    /// The report's length now: every byte the writer wrote, appended.
    pub bytes: u64,
    /// The last row's chain; `None` without rows.
    pub head: Option<Link>,
}

/// [`verify_observed`] for the writer of the report, at the end of its run: the rows earlier
/// runs wrote (the first [`Written::bytes_before`] bytes) are checked as `verify` checks them,
/// and the writer's own rows are taken as it computed them, provided the file is still exactly
/// as long as the writer left it. Only the records of the earlier rows go to `observe`.
///
/// `None` when that cannot settle it: the file is not where the writer left it, an earlier row
/// breaks, or a run log entry names a row the writer cannot vouch for. Then [`verify`] it.
pub fn verify_written(
    report: &Path,
    written: &Written,
    observe: &mut dyn FnMut(&[u8]),
) -> Result<Option<Outcome>, VerifyError> {
    let format = Format::from_path(report).map_err(|_| VerifyError::Format {
        path: report.to_owned(),
    })?;
    let len = std::fs::metadata(report).map_err(|source| VerifyError::Read {
        path: report.to_owned(),
        source,
    })?;
    if len.len() != written.bytes {
        return Ok(None);
    }
    let entries = runlog::read(report)?;
    let mut pass = stream_pass(report, format, &entries, written.bytes_before, observe)?;
    let prefix_holds = !pass.broken
        && pass.torn == 0
        && pass.rows == written.rows_before
        && pass.chain == written.chain_from;
    // The writer's own rows: it knows the chain of the last one.
    let own_entries_only = entries.iter().all(|(_, e)| {
        let rows = match e {
            Entry::Start(s) => s.report_rows_before,
            Entry::End(e) => e.report_rows,
        };
        rows <= written.rows_before || rows == written.rows
    });
    if !(prefix_holds && own_entries_only) {
        return Ok(None);
    }
    if let Some(head) = written.head.filter(|_| written.rows > written.rows_before) {
        pass.at.insert(written.rows, head);
    }
    pass.rows = written.rows;
    pass.last = written.head;
    Ok(pass.intact(&entries, None).then(|| Outcome {
        rows: written.rows,
        runs: count_runs(&entries),
        head: written.head,
        torn_bytes: 0,
        problem: None,
    }))
}

/// What the streaming pass found.
struct Pass {
    /// Rows that verified, in order from the first.
    rows: u64,
    /// The last of them's chain.
    last: Option<Link>,
    /// The chain the next row would go on from: the last row's, or the genesis value.
    chain: Link,
    /// The chain of each row (1 is the first) that a run log entry names.
    at: std::collections::HashMap<u64, Link>,
    /// Bytes of a torn last line.
    torn: u64,
    /// A row did not verify: the slow pass names it.
    broken: bool,
}

impl Pass {
    /// Intact: every row verified, every entry matches, and `head` (if given) is the last chain.
    fn intact(&self, entries: &[(u64, Entry)], head: Option<&Link>) -> bool {
        let entry_holds = |(_, e): &(u64, Entry)| {
            let (rows, chain) = match e {
                Entry::Start(s) => (s.report_rows_before, s.chain_before),
                Entry::End(e) => (e.report_rows, e.chain_head),
            };
            rows <= self.rows && self.at.get(&rows).copied() == chain
        };
        let after_head =
            matches!(entries.last(), Some((_, Entry::End(e))) if e.report_rows < self.rows);
        !self.broken
            && entries.iter().all(entry_holds)
            && !after_head
            && head.is_none_or(|h| self.last == Some(*h))
    }
}

/// Streams the report's first `limit` bytes once: the header (CSV), then each row's chain against
/// the one before, each complete record handed to `observe`.
fn stream_pass(
    report: &Path,
    format: Format,
    entries: &[(u64, Entry)],
    limit: u64,
    observe: &mut dyn FnMut(&[u8]),
) -> Result<Pass, VerifyError> {
    let read_err = |source| VerifyError::Read {
        path: report.to_owned(),
        source,
    };
    let no_chain = || VerifyError::NoChain {
        path: report.to_owned(),
    };
    let file = std::fs::File::open(report).map_err(read_err)?;
    let csv = format == Format::Csv;
    let mut records = RecordReader::new(
        std::io::BufReader::with_capacity(1 << 20, file.take(limit)),
        csv,
    );
    let mut buf = Vec::new();
    let mut prev = Link::ZERO;
    if csv {
        match records.next(&mut buf).map_err(read_err)? {
            Some(at) if at.complete && header_is_chained(&buf) => {
                observe(&buf);
                buf.push(b'\n');
                prev = Link::genesis_csv(&buf);
            }
            _ => return Err(no_chain()),
        }
    }
    let needed: std::collections::HashSet<u64> = entries
        .iter()
        .map(|(_, e)| match e {
            Entry::Start(s) => s.report_rows_before,
            Entry::End(e) => e.report_rows,
        })
        .collect();
    let mut pass = Pass {
        rows: 0,
        last: None,
        chain: prev,
        at: std::collections::HashMap::new(),
        torn: 0,
        broken: false,
    };
    while let Some(at) = records.next(&mut buf).map_err(read_err)? {
        if !at.complete {
            pass.torn = buf.len() as u64;
            break;
        }
        observe(&buf);
        let split = if csv {
            split_csv(&buf)
        } else {
            split_jsonl(&buf)
        };
        match split {
            Some((hashed, chain)) if prev.next(hashed) == chain => {
                prev = chain;
                pass.rows += 1;
                pass.last = Some(chain);
                if needed.contains(&pass.rows) {
                    pass.at.insert(pass.rows, chain);
                }
            }
            None if !csv && pass.rows == 0 && !contains(&buf, b"\"chain\":") => {
                return Err(no_chain());
            }
            _ => {
                pass.broken = true;
                break;
            }
        }
    }
    pass.chain = prev;
    Ok(pass)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// True when a CSV header's last cell is `chain`.
fn header_is_chained(header: &[u8]) -> bool {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(header)
        .records()
        .next()
        .and_then(Result::ok)
        .is_some_and(|cells| cells.iter().next_back() == Some(CHAIN))
}

/// The whole report in memory, for naming a break.
fn load(report: &Path, format: Format, entries: &[(u64, Entry)]) -> Result<Report, VerifyError> {
    let bytes = std::fs::read(report).map_err(|source| VerifyError::Read {
        path: report.to_owned(),
        source,
    })?;
    let layout = match format {
        Format::Csv => csv_layout(&bytes),
        Format::Jsonl => Some(jsonl_layout(&bytes)),
    }
    .ok_or_else(|| VerifyError::NoChain {
        path: report.to_owned(),
    })?;
    let recorded = entries.iter().rev().find_map(|(_, e)| match e {
        Entry::End(end) => end.chain_head.map(|h| (end.report_rows, h)),
        Entry::Start(_) => None,
    });
    Ok(Report {
        bytes,
        format,
        layout,
        recorded,
    })
}

/// A CSV report: the header (whose last cell must be `chain`) and its records; `None` without
/// a chained header.
fn csv_layout(bytes: &[u8]) -> Option<Layout> {
    let mut records = scan_records(bytes, true);
    let header = records.records.first().copied()?;
    header_is_chained(&bytes[header.start..header.end]).then_some(())?;
    records.records.remove(0);
    records.genesis = Link::genesis_csv(&bytes[header.start..=header.end]);
    Some(records)
}

/// A JSONL report: one record per line (JSON strings hold no raw newline).
fn jsonl_layout(bytes: &[u8]) -> Layout {
    scan_records(bytes, false)
}

/// Cuts `bytes` into records ending at a newline (outside quotes, for CSV), noting each one's
/// first line; what follows the last newline is a torn tail.
pub(super) fn scan_records(bytes: &[u8], csv: bool) -> Layout {
    let mut records = Vec::with_capacity(bytes.len() / 128);
    let (mut start, mut line, mut start_line) = (0usize, 1u64, 1u64);
    let mut quoted = false;
    for (i, &b) in bytes.iter().enumerate() {
        if csv && b == b'"' {
            quoted = !quoted;
        } else if b == b'\n' {
            line += 1;
            if !quoted {
                records.push(Record {
                    start,
                    end: i,
                    line: start_line,
                });
                start = i + 1;
                start_line = line;
            }
        }
    }
    Layout {
        genesis: Link::ZERO,
        records,
        next_line: start_line,
        torn_bytes: (bytes.len() - start) as u64,
    }
}

/// The first row whose chain does not hold, classified (see the module header).
fn first_break(rep: &Report) -> Option<Finding> {
    let mut prev = rep.layout.genesis;
    let mut failed = None;
    for i in 0..rep.rows() {
        match rep.split(i) {
            Some((hashed, chain)) if prev.next(hashed) == chain => prev = chain,
            _ => {
                failed = Some(i);
                break;
            }
        }
    }
    let i = failed?;
    let kind = classify(rep, i, &prev);
    Some(Finding {
        line: rep.line(i),
        kind,
    })
}

/// Why row `i` does not follow `prev` (the chain of the last row that verified).
fn classify(rep: &Report, i: usize, prev: &Link) -> Break {
    let successor = (i + 1..rep.rows()).find(|&j| rep.follows(j, prev));
    match successor {
        Some(j) if j == i + 1 => match rep.stored(j) {
            Some(c) if rep.follows(i, &c) => Break::Moved {
                found_at: rep.line(j),
            },
            _ => Break::Added,
        },
        Some(j) => Break::Moved {
            found_at: rep.line(j),
        },
        None => match removed_count(rep) {
            Some(count) => Break::Removed { count },
            None => Break::Edited,
        },
    }
}

/// How many rows the run log's last recorded head says are missing: the row with that chain is
/// that many rows earlier than recorded. `None` when it is where it was recorded, or not found.
fn removed_count(rep: &Report) -> Option<u64> {
    let (rows, head) = rep.recorded?;
    let at = rep.position(&head)? as u64 + 1;
    (at < rows).then(|| rows - at)
}

/// The first run log entry that the (intact) report contradicts, or rows after the last recorded
/// head that no later run can have written.
fn log_break(rep: &Report, entries: &[(u64, Entry)]) -> Option<Finding> {
    for (log_line, entry) in entries {
        let (rows, chain, what) = match entry {
            Entry::Start(s) => (s.report_rows_before, s.chain_before, "started after"),
            Entry::End(e) => (e.report_rows, e.chain_head, "ended at"),
        };
        if rows > rep.rows() as u64 {
            return Some(Finding {
                line: rep.layout.next_line,
                kind: Break::Cut { recorded: rows },
            });
        }
        let found = rows.checked_sub(1).and_then(|i| rep.stored(i as usize));
        if found != chain {
            let detail = format!(
                "a run {what} row {rows} with chain {}, but that row's chain is {}",
                show(chain),
                show(found)
            );
            return Some(Finding {
                line: rep.line(rows.saturating_sub(1) as usize),
                kind: Break::LogContradicted {
                    log_line: *log_line,
                    detail,
                },
            });
        }
    }
    match entries.last() {
        Some((_, Entry::End(e))) if e.report_rows < rep.rows() as u64 => Some(Finding {
            line: rep.line(e.report_rows as usize),
            kind: Break::AfterHead { head: e.chain_head },
        }),
        _ => None,
    }
}

fn show(link: Option<Link>) -> String {
    link.map_or_else(|| "none".to_owned(), |l| l.to_string())
}

/// `--head` given: the last row must have it; a head that an earlier row has means the rows after
/// it were added; one that no row has is wrong.
fn head_break(rep: &Report, given: &Link) -> Option<Finding> {
    let last = rep.rows().checked_sub(1).and_then(|i| rep.stored(i));
    if last == Some(*given) {
        return None;
    }
    match rep.position(given) {
        Some(p) => Some(Finding {
            line: rep.line(p + 1),
            kind: Break::AfterHead { head: Some(*given) },
        }),
        None => Some(Finding {
            line: rep.line(rep.rows().saturating_sub(1)),
            kind: Break::WrongHead {
                given: *given,
                last,
            },
        }),
    }
}

/// `zoom-offboard verify`: prints what was found and returns the exit code (0 intact, 1 not
/// intact, 2 cannot be verified).
pub fn command(report: &Path, head: Option<&str>) -> crate::exit::Exit {
    use crate::exit::Exit;
    let head = match head.map(|h| Link::parse(h.trim().to_ascii_lowercase().as_bytes())) {
        Some(None) => {
            crate::logging::eprint_line(
                "zoom-offboard: error: --head: not a chain value (64 hexadecimal characters)",
            );
            return Exit::Usage;
        }
        Some(Some(h)) => Some(h),
        None => None,
    };
    match verify(report, head.as_ref()) {
        Err(e) => {
            crate::logging::eprint_line(&format!("zoom-offboard: error: {e}"));
            Exit::Usage
        }
        Ok(outcome) => {
            print!("{}", render(report, &outcome));
            if outcome.problem.is_some() {
                Exit::SomeFailed
            } else {
                Exit::Success
            }
        }
    }
}

/// The lines `verify` prints.
pub fn render(report: &Path, o: &Outcome) -> String {
    let mut out = String::new();
    let name = report.display();
    match &o.problem {
        None => out.push_str(&format!("{name}: intact\n")),
        Some(f) => out.push_str(&format!(
            "{name}: NOT intact: line {}: {}\n",
            f.line, f.kind
        )),
    }
    out.push_str(&format!("rows        {}\n", o.rows));
    out.push_str(&format!("runs        {}\n", o.runs));
    out.push_str(&format!("chain head  {}\n", show(o.head)));
    if o.torn_bytes > 0 {
        out.push_str(&format!(
            "torn        {} bytes after the last row (a run killed while writing it; not part of the chain)\n",
            o.torn_bytes
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::runlog::{End, RunLog, Start};
    use crate::report::{ReportKind, ReportWriter, Row, Status};

    /// A report of `n` rows (one with a newline and a quote in its message, for the CSV scan)
    /// and a run log with its start and end; returns the file's lines (split inclusive).
    fn written(dir: &Path, name: &str, n: usize) -> PathBuf {
        let path = dir.join(name);
        let (mut w, _) = ReportWriter::open(&path, false, ReportKind::Revoke).unwrap();
        let mut log = RunLog::open(&path).unwrap();
        log.append(&Entry::Start(Start::default())).unwrap();
        for i in 0..n {
            let mut row = Row::new(format!("u{i}@x.com"), Status::Revoked);
            if i == 1 {
                row.status = Status::Failed;
                row.message = "Zoom said \"busy\",\nlater".into();
            }
            w.write(&row).unwrap();
        }
        log.append(&Entry::End(End {
            report_rows: w.rows(),
            chain_head: w.chain_head(),
            ..End::default()
        }))
        .unwrap();
        path
    }

    /// The report's records (header, then rows) as byte strings, each with its newline.
    fn records(path: &Path) -> Vec<Vec<u8>> {
        let bytes = std::fs::read(path).unwrap();
        let csv = path.extension().unwrap() == "csv";
        let layout = scan_records(&bytes, csv);
        layout
            .records
            .iter()
            .map(|r| bytes[r.start..=r.end].to_vec())
            .collect()
    }

    fn check(path: &Path, head: Option<&Link>) -> Option<(u64, Break)> {
        verify(path, head)
            .unwrap()
            .problem
            .map(|f| (f.line, f.kind))
    }

    /// The line of row `i` (0-based): a CSV's header is line 1 and row 1 spans two lines.
    fn line_of(path: &Path, i: usize) -> u64 {
        let csv = path.extension().unwrap() == "csv";
        match (csv, i) {
            (true, 0) => 2,
            (true, 1) => 3,
            (true, i) => i as u64 + 3,
            (false, i) => i as u64 + 1,
        }
    }

    #[test]
    fn each_kind_of_break_is_named_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.jsonl"] {
            let path = written(dir.path(), name, 6);
            let intact = verify(&path, None).unwrap();
            assert_eq!((intact.rows, intact.runs, intact.problem), (6, 1, None));
            let head = intact.head.unwrap();
            assert_eq!(check(&path, Some(&head)), None);
            let original = records(&path);
            let first = usize::from(name.ends_with("csv"));
            let put = |recs: &[Vec<u8>]| std::fs::write(&path, recs.concat()).unwrap();

            // A cell edited.
            let mut recs = original.clone();
            let at = first + 3;
            recs[at] = String::from_utf8(recs[at].clone())
                .unwrap()
                .replace("revoked", "failed")
                .into_bytes();
            put(&recs);
            assert_eq!(check(&path, None), Some((line_of(&path, 3), Break::Edited)));

            // A row removed.
            let mut recs = original.clone();
            recs.remove(first + 2);
            put(&recs);
            assert_eq!(
                check(&path, None),
                Some((line_of(&path, 2), Break::Removed { count: 1 }))
            );

            // Two rows swapped.
            let mut recs = original.clone();
            recs.swap(first + 2, first + 3);
            put(&recs);
            assert_eq!(
                check(&path, None),
                Some((
                    line_of(&path, 2),
                    Break::Moved {
                        found_at: line_of(&path, 3)
                    }
                ))
            );

            // A row added in the middle (a copy of another).
            let mut recs = original.clone();
            recs.insert(first + 3, original[first].clone());
            put(&recs);
            assert_eq!(check(&path, None), Some((line_of(&path, 3), Break::Added)));

            // A forged row appended with a valid chain.
            let mut recs = original.clone();
            let forged = if first == 1 {
                "evil@x.com,revoked,204,,,1,2026-11-28T12:00:00.000Z,,,,,".to_owned()
            } else {
                "{\"user\":\"evil@x.com\",\"status\":\"revoked\"".to_owned()
            };
            let chain = head.next(forged.as_bytes());
            let line = if first == 1 {
                format!("{forged}{chain}\n")
            } else {
                format!("{forged},\"chain\":\"{chain}\"}}\n")
            };
            recs.push(line.into_bytes());
            put(&recs);
            assert_eq!(
                check(&path, None),
                Some((line_of(&path, 6), Break::AfterHead { head: Some(head) }))
            );
            assert_eq!(
                check(&path, Some(&chain)),
                Some((line_of(&path, 6), Break::AfterHead { head: Some(head) })),
                "the run log's head still catches it"
            );

            // The last rows cut.
            let mut recs = original.clone();
            recs.truncate(recs.len() - 2);
            put(&recs);
            assert_eq!(
                check(&path, None),
                Some((line_of(&path, 4), Break::Cut { recorded: 6 }))
            );

            // A wrong --head, and the head of an earlier row.
            put(&original);
            let wrong = Link::ZERO.next(b"not a row");
            assert_eq!(
                check(&path, Some(&wrong)),
                Some((
                    line_of(&path, 5),
                    Break::WrongHead {
                        given: wrong,
                        last: Some(head)
                    }
                ))
            );
            let row3 = {
                let csv = first == 1;
                let rec = &original[first + 3];
                let rec = &rec[..rec.len() - 1];
                if csv {
                    split_csv(rec)
                } else {
                    split_jsonl(rec)
                }
                .unwrap()
                .1
            };
            assert_eq!(
                check(&path, Some(&row3)),
                Some((line_of(&path, 4), Break::AfterHead { head: Some(row3) }))
            );

            // A torn last line is reported, and is not a failure.
            let mut recs = original.clone();
            recs.push(b"u9@x.com,rev".to_vec());
            put(&recs);
            let torn = verify(&path, Some(&head)).unwrap();
            assert_eq!((torn.problem, torn.torn_bytes), (None, 12));
        }
    }

    #[test]
    fn a_run_log_the_report_contradicts_is_a_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), "r.csv", 3);
        let mut log = RunLog::open(&path).unwrap();
        log.append(&Entry::End(End {
            report_rows: 2,
            chain_head: Some(Link::ZERO),
            ..End::default()
        }))
        .unwrap();
        let (line, kind) = check(&path, None).unwrap();
        assert_eq!(line, 3);
        assert!(
            matches!(kind, Break::LogContradicted { log_line: 3, .. }),
            "{kind:?}"
        );
        assert!(kind.to_string().contains("run log (line 3) contradicts"));
    }

    #[test]
    fn unverifiable_reports_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = verify(&dir.path().join("none.csv"), None).unwrap_err();
        assert!(matches!(missing, VerifyError::Read { .. }), "{missing}");
        let old = dir.path().join("old.csv");
        std::fs::write(&old, "user,status\na@x.com,revoked\n").unwrap();
        assert!(matches!(
            verify(&old, None).unwrap_err(),
            VerifyError::NoChain { .. }
        ));
        let old = dir.path().join("old.jsonl");
        std::fs::write(&old, "{\"user\":\"a@x.com\",\"status\":\"revoked\"}\n").unwrap();
        assert!(matches!(
            verify(&old, None).unwrap_err(),
            VerifyError::NoChain { .. }
        ));
        let out = render(
            &old,
            &Outcome {
                rows: 2,
                runs: 1,
                head: None,
                torn_bytes: 3,
                problem: None,
            },
        );
        assert!(
            out.contains("intact") && out.contains("torn        3 bytes"),
            "{out}"
        );
    }
}
