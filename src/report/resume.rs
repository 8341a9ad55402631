//! Reading a report back: the state `--resume` continues from.
//!
//! Rows are appended and flushed one by one, so a killed run can leave at most one torn row, and
//! only at the end. A torn row is recognised without guessing: the file does not end with a
//! newline, or (CSV) the last record stops short of the header's width (a tear just after a newline
//! inside a quoted message). Such a row is ignored here and cut off by [`super::ReportWriter::open`].
//! A damaged row anywhere else, or a complete last row that does not parse, is an error: the report
//! is an audit trail and silently dropping a row from it would lose a revocation.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{COLUMNS, Format, REQUIRED_COLUMNS, ReportError, Row, parse_time};
use crate::input::dedupe_key;

/// The last row per user of an existing report, keyed by [`dedupe_key`] of the row's `user`.
#[derive(Clone, Debug, Default)]
pub struct ResumeState {
    rows: HashMap<String, Row>,
    rows_read: usize,
    repaired_bytes: u64,
}

impl ResumeState {
    /// The user's current state: its last row.
    pub fn last(&self, user_key: &str) -> Option<&Row> {
        self.rows.get(user_key)
    }

    /// True when a run resuming this report (a dry run if `dry_run`) should not request the
    /// user again: its last row's status is done by [`Status::is_done`], the one resume rule.
    pub fn is_done(&self, user_key: &str, dry_run: bool) -> bool {
        self.last(user_key)
            .is_some_and(|r| r.status.is_done(dry_run))
    }

    /// Complete rows read (all rows, not only the last per user).
    pub fn rows_read(&self) -> usize {
        self.rows_read
    }

    /// Bytes of a torn last row: cut off by `ReportWriter::open`, ignored by [`read_report`].
    pub fn repaired_bytes(&self) -> u64 {
        self.repaired_bytes
    }

    /// Distinct users in the report.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the report has no complete row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every user's last row, keyed by dedupe key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Row)> {
        self.rows.iter()
    }

    fn push(&mut self, row: Row) {
        self.rows_read += 1;
        self.rows.insert(dedupe_key(&row.user), row);
    }
}

/// Reads a report without changing it (for a summary or an audit), tolerating a torn last row.
pub fn read_report(path: &Path) -> Result<ResumeState, ReportError> {
    let format = Format::from_path(path)?;
    let file = File::open(path).map_err(|source| ReportError::Open {
        path: path.to_owned(),
        source,
    })?;
    Ok(scan(path, &file, format)?.state)
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
        Format::Csv => scan_csv(path, src, ends_with_newline)?,
        Format::Jsonl => scan_jsonl(path, src)?,
    };
    let mut state = partial.state;
    let valid_len = partial.torn_at.map_or(len, |at| at.min(len));
    state.repaired_bytes = len - valid_len;
    Ok(Scan {
        state,
        valid_len,
        header: partial.header,
    })
}

/// A scan before the file length is applied.
#[derive(Default)]
struct Partial {
    state: ResumeState,
    /// Where a torn last row starts.
    torn_at: Option<u64>,
    header: Option<Vec<String>>,
}

fn scan_jsonl(path: &Path, mut src: impl BufRead) -> Result<Partial, ReportError> {
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
        out.state.push(row);
    }
}

fn scan_csv(path: &Path, src: impl Read, ends_with_newline: bool) -> Result<Partial, ReportError> {
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
    if header.len() < REQUIRED_COLUMNS || header[..REQUIRED_COLUMNS] != COLUMNS[..REQUIRED_COLUMNS]
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
        out.state.push(row);
    }
    Ok(out)
}

/// Where each of [`COLUMNS`] is in an existing CSV report.
struct ColumnMap {
    /// Position of each of `COLUMNS` in the file, if present (the first seven always are).
    at: [Option<usize>; COLUMNS.len()],
    /// The header's width: every complete row has exactly this many cells.
    width: usize,
}

impl ColumnMap {
    fn new(header: &[String]) -> ColumnMap {
        ColumnMap {
            at: COLUMNS.map(|c| header.iter().position(|h| h == c)),
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
                    .map_err(|_| format!("{} is not UTF-8", COLUMNS[i])),
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
        let finished = cell(6)?;
        Ok(Row {
            user: cell(0)?.to_owned(),
            status: cell(1)?.parse().map_err(|e| format!("{e}"))?,
            http_status: num(COLUMNS[2], cell(2)?)?,
            error_code: num(COLUMNS[3], cell(3)?)?,
            message: cell(4)?.to_owned(),
            attempts: num(COLUMNS[5], cell(5)?)?.unwrap_or(0),
            finished_at: parse_time(finished)
                .map_err(|e| format!("finished_at \"{finished}\": {e}"))?,
            tracking_id: opt(7)?,
            name: opt(8)?,
            zoom_status: opt(9)?,
            last_login: opt(10)?,
            step: None,
        })
    }
}
