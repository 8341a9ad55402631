//! Opening, locking and appending to the report.
//!
//! The report is opened before any API call (as hyperfine creates its export files up front), so a
//! bad path, a locked file or a report left by another run stops the run while nothing has been
//! done. The file is opened in append mode: every write lands at the end even after the torn-row
//! repair truncates it, and the lock, taken with `File::try_lock` (`flock` on Unix), lives as long
//! as the open file, that is as long as the writer.
//!
//! A planted path is refused before anything is read or written: the last component is opened
//! with `O_NOFOLLOW`, so a symbolic link (dangling or not) is never followed nor created through,
//! and the opened file itself (not the path again, which could be swapped in between) must be a
//! regular file owned by the effective user. Symbolic links in the *directories* of the path are
//! followed: they are how many systems lay out `/tmp` and home directories (see SECURITY.md).
//!
//! Rows are encoded into a buffer and handed to the file with one `write_all` per batch, not
//! through `csv::Writer<File>` or a `BufWriter`: those keep what a failed write did not take and
//! write it all again on the next flush or on drop, which after a partial write puts the start of
//! a row into the file twice. Here a failed write marks the writer failed and nothing more is
//! appended, so the file is always a prefix of the rows in order: complete rows, then at most one
//! torn row, which a resume cuts off.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::encode::{Encoded, Encoder, csv_encoder};
use super::resume::scan;
use super::{Format, OFFBOARD_COLUMNS, ReportError, ReportKind, ResumeState, Row};
use crate::evidence::attention::Attention;
use crate::evidence::chain::{JSONL_KEY, Link, split_csv, split_jsonl};
use crate::evidence::verify::Written;

/// Appends rows to the report, one write per batch of rows, holding its lock: the encoder and
/// the file, on one thread (the collector runs them on two, by `in_background`).
pub struct ReportWriter {
    /// What rows become before they are written.
    encoder: Encoder,
    /// The open report and its chain.
    pub(super) appender: Appender,
    /// A batch being encoded, kept for its memory.
    scratch: Encoded,
}

/// The open report, locked, in append mode, and its chain: chains encoded rows and writes them.
pub(crate) struct Appender {
    path: PathBuf,
    format: Format,
    file: File,
    /// The chain so far: the chain value the next row hashes after (the genesis value before the
    /// first row); `None` for a CSV report whose header has no `chain` column (written by an
    /// older version: its rows are appended without one).
    chain: Option<Link>,
    /// What the report held when it was opened, for the run log's start entry.
    opening: Opening,
    /// Complete rows in the report: those it had when opened plus those written since.
    rows: u64,
    /// The report's length when opened (a new CSV's header included) and the chain its first
    /// new row went on from: where the rows this writer vouches for begin ([`Written`]).
    start: (u64, Option<Link>),
    /// The report's length: the opening length plus every byte written since.
    bytes: u64,
    /// The report's length at the last background fsync asked for.
    written_back: u64,
    /// The background fsyncs of a large report, once started.
    syncer: Option<Box<Syncer>>,
    /// Set when a write failed: the file may end in part of a row, and appending after it would
    /// bury that torn row in the middle of the file, where a resume refuses it.
    pub(super) failed: bool,
}

/// What the report held when it was opened: the run log's start entry says it, so that a
/// checker knows where this run's rows begin and what they chain on to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Opening {
    /// Complete rows already in the report.
    pub rows_before: u64,
    /// The chain of the report's last complete row; `None` for a report without rows.
    pub chain_before: Option<Link>,
    /// Bytes of a torn last line cut off before this run appended anything.
    pub torn_bytes_cut: u64,
}

impl ReportWriter {
    /// Opens the report of a `kind` run for writing before any API call (fail fast, like
    /// hyperfine).
    ///
    /// - Refuses a path that is a symbolic link ([`ReportError::Symlink`]), that is not a regular
    ///   file ([`ReportError::NotAFile`]) or whose file another user owns
    ///   ([`ReportError::NotOwned`]), before reading, locking or changing anything.
    /// - Creates the file with mode 0600 on Unix, because it lists people; an existing file keeps
    ///   its mode.
    /// - Takes an exclusive lock for the writer's life; if another process (or another open of the
    ///   file in this process) holds it: [`ReportError::Locked`]. On a file system without locks
    ///   the run goes on with a warning.
    /// - `resume == false` and the file is not empty: [`ReportError::Exists`].
    /// - `resume == true`: reads what is there (a missing or empty file is a fresh start), refuses
    ///   a report of the other kind ([`ReportError::Kind`]), cuts off a torn last row left by a
    ///   killed run, and returns the state; rows are then appended, their chain going on from the
    ///   last complete row's.
    /// - CSV: writes `kind`'s header and `chain` into an empty file; appends to a CSV whose header
    ///   starts with the contract's seven columns, writing each row in that header's column
    ///   order; refuses any other header ([`ReportError::Header`]), and one with a `chain` column
    ///   anywhere but last.
    ///
    /// The state is `Some` exactly when `resume` is true.
    pub fn open(
        path: &Path,
        resume: bool,
        kind: ReportKind,
    ) -> Result<(ReportWriter, Option<ResumeState>), ReportError> {
        let format = Format::from_path(path)?;
        let mut file = create(path)?;
        check_planted(&file, path)?;
        lock(&file, path)?;
        let len = file_len(&file, path)?;
        if len > 0 && !resume {
            return Err(ReportError::Exists {
                path: path.to_owned(),
            });
        }
        let (state, header, opening) = if len > 0 {
            read_existing(path, &file, format, kind, len)?
        } else {
            (ResumeState::default(), None, Opening::default())
        };
        let (encoder, chain) = match format {
            // A JSONL report's chain goes on from its last row's, or from the zero chain.
            Format::Jsonl => (
                Encoder::Jsonl,
                Some(opening.chain_before.unwrap_or(Link::ZERO)),
            ),
            Format::Csv => csv_out(path, &mut file, kind, header.as_deref(), &opening)?,
        };
        let bytes = file_len(&file, path)?;
        let appender = Appender {
            path: path.to_owned(),
            format,
            file,
            chain,
            rows: opening.rows_before,
            start: (bytes, chain),
            bytes,
            written_back: bytes,
            syncer: None,
            opening,
            failed: false,
        };
        let writer = ReportWriter {
            encoder,
            appender,
            scratch: Encoded::default(),
        };
        Ok((writer, resume.then_some(state)))
    }

    /// Appends `row` and flushes it to the OS, so a killed run loses at most the row being
    /// written. No fsync per row (it would cap throughput on slow disks); see [`Self::sync`].
    pub fn write(&mut self, row: &Row) -> Result<(), ReportError> {
        self.write_rows(std::slice::from_ref(row))
    }

    /// Appends `rows` with one write: for rows that finished together (the collector drains
    /// whatever is waiting in its channel). A killed run loses at most these rows, which were
    /// not on disk either while they waited; one write per row instead costs a `write(2)` per
    /// user, which dominates a million-row dry run.
    ///
    /// Each row's chain is hashed from the bytes just encoded into the batch buffer, so the
    /// chain costs one SHA-256 per row and no second encoding.
    ///
    /// After a failed write (disk full, the file size limit, an I/O error) every later call fails
    /// too, without writing: the run must stop, and the report keeps every row written before.
    pub fn write_rows<'r>(
        &mut self,
        rows: impl IntoIterator<Item = &'r Row>,
    ) -> Result<(), ReportError> {
        let encoded = self.encoder.encode(rows, &mut self.scratch);
        let result = self.appender.append(encoded.map(|()| &mut self.scratch));
        self.scratch.clear();
        result
    }

    /// Splits the writer in two: the encoder stays with the caller, and the file goes to a
    /// thread of its own, which chains and writes each batch while the next is encoded.
    pub(crate) fn in_background(self) -> super::background::BackgroundWriter {
        super::background::BackgroundWriter::start(self.encoder, self.appender)
    }

    /// Fsyncs what was written: at the end of a run, so the report survives a power cut too.
    pub fn sync(&mut self) -> Result<(), ReportError> {
        self.appender.sync()
    }

    /// The report's path, for the summary and the resume hint.
    pub fn path(&self) -> &Path {
        &self.appender.path
    }

    /// The report's format, decided by its extension.
    pub fn format(&self) -> Format {
        self.appender.format
    }

    /// What the report held when it was opened (rows, last chain, torn bytes cut).
    pub fn opening(&self) -> &Opening {
        &self.appender.opening
    }

    /// Complete rows in the report now, earlier runs' included: the run log's `report_rows`.
    pub fn rows(&self) -> u64 {
        self.appender.rows()
    }

    /// The chain of the last row written (or, before any, of the report's last row): the
    /// summary's `chain head`. `None` while the report has no rows, and for an old CSV report
    /// without a `chain` column.
    pub fn chain_head(&self) -> Option<Link> {
        self.appender.chain_head()
    }

    /// Where the report stood when opened and where it stands now, for the run-end page, which
    /// then takes the rows written here as their chain was computed ([`Written`]). `None` when
    /// the writer cannot vouch for them: a write failed, or the report has no chain.
    pub fn written(&self) -> Option<Written> {
        self.appender.written()
    }

    /// An empty attention list for the rows this writer writes, read as a reader of this
    /// report's columns would read them.
    pub fn attention(&self) -> Attention {
        self.encoder.attention(self.appender.format)
    }
}

/// Bytes appended between two background fsyncs of a large report ([`Syncer`]).
const SYNC_EVERY: u64 = 16 << 20;

/// Fsyncs the report on a thread of its own while rows are still being appended, so that the
/// fsync at the end of a run waits for the last few megabytes only.
///
/// Asking the system to start writeback as the report grew (`sync_file_range`) did not shorten
/// the final fsync on this project's virtual disk: the device's own cache is flushed only by an
/// fsync, and that flush took as long at the end as the report was big (186 MB: 0.26 s, after
/// writes paced over 0.45 s or over 2 s alike). An fsync every 16 MiB from a second thread left
/// 0.04-0.05 s at the end (both measured in a loop writing 1 MiB blocks; see the commit).
struct Syncer {
    /// Asks for one more fsync; a request while one is waiting is the same request.
    ask: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// A thread fsyncing a second handle of `file` whenever asked; `None` if the handle or the
    /// thread cannot be had (the final fsync then does it all, as before).
    fn start(file: &File) -> Option<Syncer> {
        let file = file.try_clone().ok()?;
        let (ask, asked) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("report-sync".into())
            .spawn(move || {
                // A failure is the final fsync's to report: it fails the same way.
                for () in asked {
                    let _ = file.sync_data();
                }
            })
            .ok()?;
        Some(Syncer {
            ask: Some(ask),
            thread: Some(thread),
        })
    }

    fn ask(&self) {
        if let Some(ask) = &self.ask {
            // Full: an fsync is already asked for, and it will cover these bytes too.
            let _ = ask.try_send(());
        }
    }

    /// Waits for the fsync under way, if any; the thread and its handle of the file are gone
    /// after (the lock the handle shares lasts until then).
    fn stop(&mut self) {
        self.ask = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Appender {
    /// Chains `encoded` on from the chain so far and writes it with one `write_all`; an encoding
    /// error fails the writer as a failed write does. After a failure nothing more is written.
    pub fn append(
        &mut self,
        encoded: Result<&mut Encoded, std::io::Error>,
    ) -> Result<(), ReportError> {
        if self.failed {
            return Err(self.write_err(std::io::Error::other(
                "an earlier write to the report failed: nothing more is appended",
            )));
        }
        let written = encoded.and_then(|rows| {
            if let Some(prev) = &mut self.chain {
                rows.chain(prev);
            }
            self.rows += rows.rows();
            self.bytes += rows.bytes().len() as u64;
            self.file.write_all(rows.bytes())
        });
        match written {
            Ok(()) => {
                self.write_back();
                Ok(())
            }
            Err(source) => {
                self.failed = true;
                Err(self.write_err(source))
            }
        }
    }

    /// Asks the [`Syncer`] for an fsync once [`SYNC_EVERY`] bytes were appended since the last
    /// ask, starting it the first time: a report that stays small never has one.
    fn write_back(&mut self) {
        if self.bytes - self.written_back < SYNC_EVERY {
            return;
        }
        if self.syncer.is_none() {
            self.syncer = Syncer::start(&self.file).map(Box::new);
        }
        if let Some(s) = &self.syncer {
            s.ask();
        }
        self.written_back = self.bytes;
    }

    /// Fsyncs what was written: at the end of a run, so the report survives a power cut too.
    /// Waits for a background fsync under way first.
    pub fn sync(&mut self) -> Result<(), ReportError> {
        if let Some(mut s) = self.syncer.take() {
            s.stop();
        }
        self.file
            .sync_data()
            .map_err(|source| self.write_err(source))
    }

    /// See [`ReportWriter::rows`].
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// See [`ReportWriter::chain_head`].
    pub fn chain_head(&self) -> Option<Link> {
        (self.rows > 0).then_some(self.chain).flatten()
    }

    /// See [`ReportWriter::written`].
    pub fn written(&self) -> Option<Written> {
        let (bytes_before, chain_from) = self.start;
        (!self.failed).then_some(())?;
        Some(Written {
            rows_before: self.opening.rows_before,
            bytes_before,
            chain_from: chain_from?,
            rows: self.rows,
            bytes: self.bytes,
            head: self.chain_head(),
        })
    }

    /// The report's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The report's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_err(&self, source: std::io::Error) -> ReportError {
        ReportError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

fn file_len(file: &File, path: &Path) -> Result<u64, ReportError> {
    file.metadata()
        .map(|m| m.len())
        .map_err(|source| ReportError::Read {
            path: path.to_owned(),
            source,
        })
}

/// Reads an existing report for a resume: its state, refusing a report of the other kind,
/// cutting a torn last row off, and what it held ([`Opening`], the last chain read from its
/// last complete row).
fn read_existing(
    path: &Path,
    file: &File,
    format: Format,
    kind: ReportKind,
    len: u64,
) -> Result<(ResumeState, Option<Vec<String>>, Opening), ReportError> {
    let found = scan(path, file, format)?;
    if let Some(found_kind) = found.state.kind()
        && found_kind != kind
    {
        return Err(ReportError::Kind {
            path: path.to_owned(),
            found: found_kind,
            wanted: kind,
        });
    }
    if found.valid_len < len {
        file.set_len(found.valid_len)
            .map_err(|source| ReportError::Write {
                path: path.to_owned(),
                source,
            })?;
        tracing::warn!(
            report = %path.display(),
            bytes = len - found.valid_len,
            "cut off a torn last row left by an interrupted run"
        );
    }
    let rows_before = found.state.rows_read() as u64;
    let chained = format == Format::Jsonl
        || found
            .header
            .as_ref()
            .is_some_and(|h| h.last().is_some_and(|c| c == CHAIN));
    let chain_before = if rows_before > 0 && chained {
        Some(last_chain(
            path,
            file,
            format,
            found.valid_len,
            rows_before,
        )?)
    } else {
        None
    };
    let opening = Opening {
        rows_before,
        chain_before,
        torn_bytes_cut: len - found.valid_len,
    };
    Ok((found.state, found.header, opening))
}

/// The name of the chain's column (CSV) and key (JSONL).
pub const CHAIN: &str = "chain";

/// The chain value of the report's last complete row, read from the end of its bytes (a chain
/// value is never quoted, so it is the line's last 64 characters). A last row without one (a
/// hand-edited report, or an old JSONL report, whose rows never had one): JSONL goes on from
/// the zero chain with a warning, CSV with a `chain` column is refused.
fn last_chain(
    path: &Path,
    file: &File,
    format: Format,
    valid_len: u64,
    rows: u64,
) -> Result<Link, ReportError> {
    let want = (Link::LEN + JSONL_KEY.len() + 3) as u64;
    let from = valid_len.saturating_sub(want);
    let mut tail = vec![0u8; (valid_len - from) as usize];
    let read = (|| {
        let mut f = file;
        f.seek(SeekFrom::Start(from))?;
        f.read_exact(&mut tail)
    })();
    read.map_err(|source| ReportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let line = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let found = match format {
        Format::Csv => split_csv(line).map(|(_, c)| c),
        Format::Jsonl => split_jsonl(line).map(|(_, c)| c),
    };
    match (found, format) {
        (Some(c), _) => Ok(c),
        (None, Format::Jsonl) => {
            tracing::warn!(report = %path.display(), "the report's last row has no chain value (an older report?): new rows chain on from 64 zeros, and `verify` will not pass the earlier rows");
            Ok(Link::ZERO)
        }
        (None, Format::Csv) => Err(ReportError::Parse {
            path: path.to_owned(),
            line: rows + 1,
            message: format!(
                "the last row (row {rows}) has no chain value: the report was edited; check it \
                 with `zoom-offboard verify`"
            ),
        }),
    }
}

/// A CSV report's encoder and chain so far: writes the header (with `chain` last) into a new
/// report; for an existing one, lays rows out in its header's order, its chain going on from the
/// last row's (the header's digest if it has none). An old header without `chain` gets rows
/// without one.
fn csv_out(
    path: &Path,
    file: &mut File,
    kind: ReportKind,
    header: Option<&[String]>,
    opening: &Opening,
) -> Result<(Encoder, Option<Link>), ReportError> {
    let write_err = |source| ReportError::Write {
        path: path.to_owned(),
        source,
    };
    let mut columns: Vec<&str> = match header {
        Some(h) => h.iter().map(String::as_str).collect(),
        None => kind.columns().iter().copied().chain([CHAIN]).collect(),
    };
    let chained = columns.last() == Some(&CHAIN);
    if chained {
        columns.pop();
    }
    if columns.contains(&CHAIN) {
        return Err(ReportError::Header {
            path: path.to_owned(),
            found: header.map(|h| h.join(",")).unwrap_or_default(),
        });
    }
    let layout = columns
        .iter()
        .map(|name| OFFBOARD_COLUMNS.iter().position(|c| c == name))
        .collect();
    let mut buf = Vec::new();
    let header_line = match header {
        None => {
            let mut w = csv_encoder(&mut buf);
            w.write_record(columns.iter().chain([&CHAIN]))
                .and_then(|()| w.flush().map_err(Into::into))
                .map_err(|e| write_err(e.into()))?;
            drop(w);
            file.write_all(&buf).map_err(write_err)?;
            std::mem::take(&mut buf)
        }
        Some(_) if chained && opening.chain_before.is_none() => read_header_line(path, file)?,
        Some(_) => Vec::new(),
    };
    let chain = chained.then(|| {
        opening
            .chain_before
            .unwrap_or_else(|| Link::genesis_csv(&header_line))
    });
    if !chained {
        tracing::warn!(report = %path.display(), "the report has no chain column (written by an older version): rows are appended without one");
    }
    Ok((Encoder::csv(layout, chained), chain))
}

/// The first line of the report, its newline included: the bytes of the header, which the
/// first row's chain starts from.
fn read_header_line(path: &Path, file: &File) -> Result<Vec<u8>, ReportError> {
    let mut f = file;
    let mut first = Vec::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| {
            std::io::BufReader::new(f)
                .take(64 * 1024)
                .read_until(b'\n', &mut first)
        })
        .map_err(|source| ReportError::Read {
            path: path.to_owned(),
            source,
        })?;
    Ok(first)
}

/// Opens for reading and appending, creating with mode 0600 (the report names people), and never
/// through a symbolic link.
pub(crate) fn create(path: &Path) -> Result<File, ReportError> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(path).map_err(|source| {
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            ReportError::Symlink {
                path: path.to_owned(),
            }
        } else {
            ReportError::Open {
                path: path.to_owned(),
                source,
            }
        }
    })
}

/// Refuses an opened report that is not a regular file, or that another user owns. Checked on
/// the open file, so the path cannot be swapped between the check and the writes.
pub(crate) fn check_planted(file: &File, path: &Path) -> Result<(), ReportError> {
    let meta = file.metadata().map_err(|source| ReportError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(ReportError::NotAFile {
            path: path.to_owned(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of ours.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(ReportError::NotOwned {
                path: path.to_owned(),
                owner: meta.uid(),
            });
        }
    }
    Ok(())
}

fn lock(file: &File, path: &Path) -> Result<(), ReportError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(ReportError::Locked {
            path: path.to_owned(),
        }),
        Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            tracing::warn!(report = %path.display(), "file locks are not supported here: make sure no other run writes this report");
            Ok(())
        }
        Err(TryLockError::Error(source)) => Err(ReportError::Lock {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::report::{COLUMNS, Existence, RowState, Status, parse_time, read_report, read_rows};
    use crate::step::Step;

    const R: ReportKind = ReportKind::Revoke;
    const O: ReportKind = ReportKind::Offboard;

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        parse_time(s).unwrap()
    }

    fn rows() -> Vec<Row> {
        let mut full = Row::new("a@x.com", Status::Failed);
        full.http_status = Some(503);
        full.error_code = Some(-1);
        full.message = "Zoom said: \"busy\", try later\nsecond line".into();
        full.attempts = 7;
        full.finished_at = at("2026-11-28T12:00:00.123Z");
        full.tracking_id = Some("v=2.0;clid=us06;rid=WEB_abc".into());
        full.name = Some("Doe, Ann".into());
        full.zoom_status = Some("active".into());
        full.last_login = Some("2026-11-01T08:00:00Z".into());
        let mut bare = Row::new("bad/one", Status::Invalid);
        bare.message = "contains '/'".into();
        bare.finished_at = at("2026-11-28T12:00:01Z");
        vec![full, bare]
    }

    fn write_all(path: &Path, rows: &[Row]) {
        let (mut w, state) = ReportWriter::open(path, false, R).unwrap();
        assert!(state.is_none());
        for r in rows {
            w.write(r).unwrap();
        }
        w.sync().unwrap();
    }

    /// SHA-256 of the parts one after the other, in hex: the chain's rule written out again
    /// with `sha2` alone, so the tests do not check the writer against itself.
    fn sha_hex(parts: &[&str]) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn round_trip(name: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        write_all(&path, &rows());
        let state = read_report(&path).unwrap();
        assert_eq!(state.rows_read(), 2);
        assert_eq!(state.repaired_bytes(), 0);
        assert_eq!(read_rows(&path).unwrap(), rows());
        let last = |status| Some(RowState { status, step: None });
        assert_eq!(state.last("a@x.com"), last(Status::Failed));
        assert_eq!(state.last("bad/one"), last(Status::Invalid));
    }

    #[test]
    fn round_trip_csv() {
        round_trip("r.csv");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        write_all(&path, &rows()[1..]);
        let text = std::fs::read_to_string(&path).unwrap();
        let header = format!("{},chain\n", COLUMNS.join(","));
        let row = "bad/one,invalid,,,contains '/',0,2026-11-28T12:00:01.000Z,,,,,";
        let chain = sha_hex(&[sha_hex(&[header.as_str()]).as_str(), row]);
        assert_eq!(text, format!("{header}{row}{chain}\n"));
    }

    #[test]
    fn round_trip_jsonl() {
        round_trip("r.jsonl");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.ndjson");
        write_all(&path, &rows()[1..]);
        let text = std::fs::read_to_string(&path).unwrap();
        let row = "{\"user\":\"bad/one\",\"status\":\"invalid\",\"http_status\":null,\"error_code\":null,\
             \"message\":\"contains '/'\",\"attempts\":0,\"finished_at\":\"2026-11-28T12:00:01.000Z\",\
             \"tracking_id\":null,\"name\":null,\"zoom_status\":null,\"last_login\":null";
        let chain = sha_hex(&[&"0".repeat(64), row]);
        assert_eq!(text, format!("{row},\"chain\":\"{chain}\"}}\n"));
    }

    /// Appends `tail` (a torn write) to a report of `rows()`, checks `read_report` ignores it and
    /// `open(resume)` cuts it off and appends after the last complete row.
    fn torn(name: &str, tail: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        write_all(&path, &rows());
        let good = std::fs::read(&path).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(tail).unwrap();
        drop(f);

        let state = read_report(&path).unwrap();
        assert_eq!(state.rows_read(), 2, "{name}");
        assert_eq!(state.repaired_bytes(), tail.len() as u64, "{name}");
        assert_eq!(
            std::fs::read(&path).unwrap().len(),
            good.len() + tail.len(),
            "read-only"
        );

        let (mut w, state) = ReportWriter::open(&path, true, R).unwrap();
        let state = state.unwrap();
        assert_eq!(state.rows_read(), 2, "{name}");
        assert_eq!(state.repaired_bytes(), tail.len() as u64, "{name}");
        assert_eq!(std::fs::read(&path).unwrap(), good, "{name}: repaired");
        let mut again = Row::new("c@x.com", Status::Revoked);
        again.finished_at = at("2026-11-28T12:00:02Z");
        w.write(&again).unwrap();
        drop(w);
        let state = read_report(&path).unwrap();
        assert_eq!(state.rows_read(), 3, "{name}");
        assert_eq!(read_rows(&path).unwrap().last(), Some(&again));
    }

    /// Every line's chain, recomputed with [`sha_hex`] from the file's lines (rows without a
    /// newline in a cell): CSV from the header's digest, JSONL from 64 zeros.
    fn recomputed_chain_holds(path: &Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        let csv = path.extension().unwrap() == "csv";
        let mut lines = text.split_inclusive('\n');
        let mut prev = if csv {
            sha_hex(&[lines.next().unwrap()])
        } else {
            "0".repeat(64)
        };
        for line in lines {
            let line = line.strip_suffix('\n').unwrap();
            let (hashed, chain) = if csv {
                (&line[..line.len() - 64], &line[line.len() - 64..])
            } else {
                let at = line.rfind(",\"chain\":\"").unwrap();
                (&line[..at], &line[at + 10..at + 74])
            };
            assert_eq!(sha_hex(&[&prev, hashed]), chain, "{line}");
            prev = chain.to_owned();
        }
        prev
    }

    #[test]
    fn a_resume_continues_the_chain_after_cutting_a_torn_row() {
        let dir = tempfile::tempdir().unwrap();
        let simple = vec![rows()[1].clone(), Row::new("c@x.com", Status::Revoked)];
        for name in ["r.csv", "r.jsonl"] {
            let path = dir.path().join(name);
            write_all(&path, &simple);
            let head = recomputed_chain_holds(&path);
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(b"{\"user\":\"c@x").unwrap();
            drop(f);
            let (mut w, _) = ReportWriter::open(&path, true, R).unwrap();
            let opened = w.opening().clone();
            assert_eq!(opened.rows_before, 2, "{name}");
            assert_eq!(opened.torn_bytes_cut, 12, "{name}");
            assert_eq!(
                opened.chain_before.map(|c| c.to_string()),
                Some(head.clone())
            );
            assert_eq!(w.chain_head().map(|c| c.to_string()), Some(head));
            w.write_rows(&simple).unwrap();
            assert_eq!(w.rows(), 4);
            let after = w.chain_head().unwrap().to_string();
            drop(w);
            assert_eq!(recomputed_chain_holds(&path), after, "{name}");
            assert_eq!(read_rows(&path).unwrap().len(), 4, "{name}");
        }
        // A fresh report has no head; an empty CSV's first row chains on from its header.
        let path = dir.path().join("e.csv");
        let (w, _) = ReportWriter::open(&path, false, O).unwrap();
        assert_eq!(w.chain_head(), None);
        drop(w);
        let (mut w, _) = ReportWriter::open(&path, true, O).unwrap();
        assert_eq!(w.opening(), &Opening::default());
        w.write_rows(&offboard_rows()).unwrap();
        drop(w);
        recomputed_chain_holds(&path);
    }

    #[test]
    fn an_old_csv_without_a_chain_column_gets_rows_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, format!("{}\n", COLUMNS.join(","))).unwrap();
        let (mut w, _) = ReportWriter::open(&path, true, R).unwrap();
        w.write(&rows()[1]).unwrap();
        assert_eq!(w.chain_head(), None);
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("2026-11-28T12:00:01.000Z,,,,\n"), "{text}");
        // `chain` anywhere but last is not a header this version writes into.
        std::fs::write(
            &path,
            "user,status,http_status,error_code,message,attempts,finished_at,chain,name\n",
        )
        .unwrap();
        let err = ReportWriter::open(&path, true, R).err().unwrap();
        assert!(matches!(err, ReportError::Header { .. }), "{err}");
    }

    #[test]
    fn torn_last_row_csv() {
        torn("r.csv", b"c@x.com,revo");
        // Torn just after a newline inside a quoted message.
        torn("r.csv", b"c@x.com,failed,503,,\"first line\n");
        // Torn inside a multi-byte character.
        torn("r.csv", b"caf\xC3");
    }

    #[test]
    fn torn_last_row_jsonl() {
        torn("r.jsonl", b"{\"user\":\"c@x.com\",\"sta");
        // A whole row whose newline did not make it is torn too.
        torn("r.jsonl", &serde_json::to_vec(&rows()[1]).unwrap());
    }

    #[test]
    fn torn_header_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, "user,stat").unwrap();
        let (mut w, state) = ReportWriter::open(&path, true, R).unwrap();
        assert_eq!(state.unwrap().repaired_bytes(), 9);
        w.write(&rows()[1]).unwrap();
        drop(w);
        assert_eq!(read_report(&path).unwrap().rows_read(), 1);
    }

    #[test]
    fn damaged_complete_row_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        write_all(&path, &rows()[1..]);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.insert_str(
            text.find("bad/one").unwrap(),
            "z@x.com,done,,,,0,2026-11-28T12:00:00Z,,,,,\n",
        );
        std::fs::write(&path, &text).unwrap();
        let err = read_report(&path).unwrap_err().to_string();
        assert!(
            err.contains("r.csv line 2: unknown status \"done\""),
            "{err}"
        );
        let err = ReportWriter::open(&path, true, R)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 2"), "{err}");

        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"user\":1}\n").unwrap();
        let err = read_report(&path).unwrap_err().to_string();
        assert!(err.contains("r.jsonl line 1:"), "{err}");
    }

    #[test]
    fn second_open_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let (first, _) = ReportWriter::open(&path, false, R).unwrap();
        let err = ReportWriter::open(&path, true, R).err().unwrap();
        assert!(matches!(err, ReportError::Locked { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("another zoom-offboard run is writing it")
        );
        drop(first);
        assert!(
            ReportWriter::open(&path, true, R).is_ok(),
            "lock released on drop"
        );
    }

    #[test]
    fn existing_report_needs_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "").unwrap();
        drop(ReportWriter::open(&path, false, R).unwrap());
        write_all(&dir.path().join("x.jsonl"), &rows());
        let err = ReportWriter::open(&dir.path().join("x.jsonl"), false, R)
            .err()
            .unwrap();
        assert!(matches!(err, ReportError::Exists { .. }));
        assert!(
            err.to_string().contains("use --resume to continue it"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn created_0600_existing_mode_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        drop(ReportWriter::open(&path, false, R).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        let shared = dir.path().join("shared.csv");
        std::fs::write(&shared, "").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
        drop(ReportWriter::open(&shared, true, R).unwrap());
        assert_eq!(mode(&shared), 0o640);
    }

    #[test]
    fn resume_last_row_wins() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.jsonl"] {
            let path = dir.path().join(name);
            let (mut w, state) = ReportWriter::open(&path, true, R).unwrap();
            assert!(state.unwrap().is_empty(), "missing file: fresh start");
            for (user, st) in [
                ("A@x.com", Status::Pending),
                ("Kd1", Status::Failed),
                ("kd1", Status::Pending),
                ("a@X.com", Status::Revoked),
                ("n@x.com", Status::NotFound),
            ] {
                w.write(&Row::new(user, st)).unwrap();
            }
            drop(w);
            let (_w, state) = ReportWriter::open(&path, true, R).unwrap();
            let state = state.unwrap();
            assert_eq!(state.rows_read(), 5);
            assert_eq!(state.len(), 4);
            assert_eq!(state.last("a@x.com").unwrap().status, Status::Revoked);
            let rows = read_rows(&path).unwrap();
            assert_eq!(rows[3].user, "a@X.com", "rows keep the input's spelling");
            assert!(state.is_done("a@x.com", false));
            assert!(state.is_done("n@x.com", false));
            assert!(!state.is_done("Kd1", false), "failed is retried");
            assert!(
                !state.is_done("kd1", false),
                "pending is retried; IDs keep case"
            );
            assert!(!state.is_done("other@x.com", false));
            assert_eq!(state.iter().count(), 4);
        }
    }

    #[test]
    fn appends_to_a_seven_column_csv_in_its_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let seven = COLUMNS[..7].join(",");
        std::fs::write(
            &path,
            format!("{seven}\na@x.com,revoked,204,,,1,2026-11-28T12:00:00Z\n"),
        )
        .unwrap();
        let (mut w, _) = ReportWriter::open(&path, true, R).unwrap();
        w.write(&rows()[0]).unwrap();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("7,2026-11-28T12:00:00.123Z\n"), "{text}");
        let state = read_report(&path).unwrap();
        assert_eq!(state.rows_read(), 2);
        assert_eq!(read_rows(&path).unwrap()[0].tracking_id, None);

        std::fs::write(&path, "email,status\n").unwrap();
        let err = ReportWriter::open(&path, true, R).err().unwrap();
        assert!(matches!(err, ReportError::Header { .. }), "{err}");
    }

    #[test]
    fn accessors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let (w, _) = ReportWriter::open(&path, false, R).unwrap();
        assert_eq!(w.path(), path);
        assert_eq!(w.format(), Format::Jsonl);
        assert!(ReportWriter::open(&dir.path().join("r.txt"), false, R).is_err());
    }

    fn offboard_rows() -> Vec<Row> {
        let mut revoked = Row::new("a@x.com", Status::Revoked);
        revoked.step = Some(Step::Revoke);
        revoked.finished_at = at("2026-11-28T12:00:00Z");
        let wa = Row::write_ahead("a@x.com", Step::Delete, "KDcuGIm1QgePTO8WbOqwIQ");
        let mut invalid = Row::new("=HYPERLINK(\"http://evil\",\"x\")", Status::Invalid);
        invalid.message = "-not an email".into();
        invalid.name = Some("@SUM(1)".into());
        invalid.finished_at = at("2026-11-28T12:00:01Z");
        vec![revoked, wa, invalid]
    }

    #[test]
    fn offboard_csv_has_a_step_column_after_the_seven() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let rows = offboard_rows();
        let (mut w, _) = ReportWriter::open(&path, false, O).unwrap();
        w.write_rows(&rows[..1]).unwrap();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        let header = "user,status,http_status,error_code,message,attempts,finished_at,step,\
                      tracking_id,name,zoom_status,last_login,zoom_id,chain\n";
        let row = "a@x.com,revoked,,,,0,2026-11-28T12:00:00.000Z,revoke,,,,,,";
        let chain = sha_hex(&[&sha_hex(&[header]), row]);
        assert_eq!(text, format!("{header}{row}{chain}\n"));
        // Resumed: appended in the file's layout, steps read back.
        let (mut w, state) = ReportWriter::open(&path, true, O).unwrap();
        assert_eq!(state.unwrap().kind(), Some(O));
        w.write_rows(&rows[1..]).unwrap();
        drop(w);
        assert_eq!(read_rows(&path).unwrap(), rows);
        let state = read_report(&path).unwrap();
        assert_eq!(
            state
                .last_step("a@x.com", Some(Step::Delete))
                .unwrap()
                .status,
            Status::Pending
        );
    }

    /// A report written before the `zoom_id` column: resumed in its own layout, its write-ahead
    /// rows (old and new) still give the Zoom id, from the message.
    #[test]
    fn a_report_without_the_zoom_id_column_still_gives_write_ahead_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let old = "user,status,http_status,error_code,message,attempts,finished_at,step,tracking_id,name,zoom_status,last_login\n\
                   a@x.com,pending,,,write-ahead: sending delete for Zoom user id OldId1,0,2026-11-28T12:00:00.000Z,delete,,,,\n";
        std::fs::write(&path, old).unwrap();
        let state = read_report(&path).unwrap();
        assert_eq!(
            state.known_to_exist("a@x.com"),
            Some(Existence::ZoomId("OldId1"))
        );
        let (mut w, _) = ReportWriter::open(&path, true, O).unwrap();
        w.write_rows(&[Row::write_ahead("b@x.com", Step::Delete, "NewId2")])
            .unwrap();
        drop(w);
        let state = read_report(&path).unwrap();
        assert_eq!(
            state.known_to_exist("b@x.com"),
            Some(Existence::ZoomId("NewId2"))
        );
        // A write-ahead row of the new form names the id in its column: the message is for people.
        let mut wa = Row::write_ahead("c@x.com", Step::Disassociate, "ColId3");
        wa.message = "edited by hand".into();
        assert_eq!(wa.write_ahead_id(), Some((Step::Disassociate, "ColId3")));
    }

    #[test]
    fn offboard_jsonl_rows_carry_their_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let rows = offboard_rows();
        let (mut w, _) = ReportWriter::open(&path, false, O).unwrap();
        w.write_rows(&rows).unwrap();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["step"], "revoke");
        assert_eq!(lines[1]["step"], "delete");
        assert!(lines[2].get("step").is_none(), "a whole-user row");
        assert_eq!(
            lines[2]["user"], "=HYPERLINK(\"http://evil\",\"x\")",
            "JSONL as is"
        );
        assert_eq!(read_rows(&path).unwrap(), rows);
    }

    #[test]
    fn formula_cells_are_quoted_in_csv_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let rows = offboard_rows();
        let (mut w, _) = ReportWriter::open(&path, false, O).unwrap();
        w.write_rows(&rows).unwrap();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        let last = text.lines().last().unwrap();
        assert!(
            last.starts_with(
                "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",invalid,,,'-not an email,"
            ),
            "{last}"
        );
        assert!(last.contains(",'@SUM(1),"), "{last}");
        assert_eq!(read_rows(&path).unwrap(), rows);
        let state = read_report(&path).unwrap();
        assert!(
            state.is_done("=HYPERLINK(\"http://evil\",\"x\")", false),
            "resume matches the value as given"
        );
    }

    #[test]
    fn a_report_of_the_other_command_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.jsonl"] {
            for (written, resumed) in [(R, O), (O, R)] {
                let path = dir.path().join(name);
                let _ = std::fs::remove_file(&path);
                let (mut w, _) = ReportWriter::open(&path, false, written).unwrap();
                let mut row = Row::new("a@x.com", Status::Failed);
                row.step = (written == O).then_some(Step::Revoke);
                // A torn tail, which a resume would cut off: it must stay.
                w.write(&row).unwrap();
                drop(w);
                let mut f = OpenOptions::new().append(true).open(&path).unwrap();
                f.write_all(b"b@x.com,fai").unwrap();
                drop(f);
                let before = std::fs::read(&path).unwrap();
                let err = ReportWriter::open(&path, true, resumed).err().unwrap();
                assert!(matches!(err, ReportError::Kind { .. }), "{name}: {err}");
                let msg = err.to_string();
                assert!(
                    msg.contains(&format!("written by `zoom-offboard {}`", written.command())),
                    "{msg}"
                );
                assert!(
                    msg.contains(&format!(
                        "resume it with `zoom-offboard {}`",
                        written.command()
                    )),
                    "{msg}"
                );
                assert_eq!(std::fs::read(&path).unwrap(), before, "{name}: untouched");
                assert!(ReportWriter::open(&path, true, written).is_ok(), "{name}");
            }
        }
        // A JSONL report with only whole-user rows fits either command.
        let path = dir.path().join("w.jsonl");
        let (mut w, _) = ReportWriter::open(&path, false, O).unwrap();
        w.write(&Row::new("bad/one", Status::Invalid)).unwrap();
        drop(w);
        assert!(ReportWriter::open(&path, true, R).is_ok());
    }

    /// A report past [`SYNC_EVERY`] is fsynced in the background as it grows; ending the writer
    /// waits for that thread, so its handle of the file (and the lock it shares) is gone: the
    /// report opens again at once, whole.
    #[test]
    fn a_large_report_is_synced_as_it_grows_and_released_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let (mut w, _) = ReportWriter::open(&path, false, R).unwrap();
        let mut row = Row::new("a@x.com", Status::Failed);
        row.message = "x".repeat(64 * 1024).into();
        let rows = vec![row; 16];
        let batches = SYNC_EVERY / (64 * 1024 * 16) + 2;
        for _ in 0..batches {
            w.write_rows(&rows).unwrap();
        }
        assert!(w.appender.syncer.is_some(), "no background fsync started");
        w.sync().unwrap();
        assert!(w.appender.syncer.is_none());
        drop(w);
        let (w, state) = ReportWriter::open(&path, true, R).unwrap();
        assert_eq!(w.rows(), batches * 16);
        assert_eq!(state.unwrap().rows_read() as u64, batches * 16);
    }

    #[test]
    fn a_failed_writer_appends_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let (mut w, _) = ReportWriter::open(&path, false, R).unwrap();
        w.write(&rows()[1]).unwrap();
        w.appender.failed = true;
        let before = std::fs::read(&path).unwrap();
        let err = w.write(&rows()[0]).unwrap_err().to_string();
        assert!(
            err.contains("r.csv") && err.contains("earlier write"),
            "{err}"
        );
        drop(w);
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
