//! Opening, locking and appending to the report.
//!
//! The report is opened before any API call (as hyperfine creates its export files up front), so a
//! bad path, a locked file or a report left by another run stops the run while nothing has been
//! done. The file is opened in append mode: every write lands at the end even after the torn-row
//! repair truncates it, and the lock, taken with `File::try_lock` (`flock` on Unix), lives as long
//! as the open file, that is as long as the writer.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::resume::scan;
use super::{COLUMNS, Format, ReportError, ResumeState, Row, format_time};

/// Appends rows to the report, one flushed row at a time, holding its lock.
pub struct ReportWriter {
    path: PathBuf,
    format: Format,
    out: Out,
}

enum Out {
    Csv {
        /// Boxed: the CSV writer's state is large, and the enum lives in the run's long-lived state.
        w: Box<csv::Writer<File>>,
        /// For each column of the file's header, which of [`COLUMNS`] goes there (None: a column
        /// this version does not know, left empty). Identity for a report this run created.
        layout: Vec<Option<usize>>,
    },
    Jsonl(BufWriter<File>),
}

impl ReportWriter {
    /// Opens the report for writing before any API call (fail fast, like hyperfine).
    ///
    /// - Creates the file with mode 0600 on Unix, because it lists people; an existing file keeps
    ///   its mode.
    /// - Takes an exclusive lock for the writer's life; if another process (or another open of the
    ///   file in this process) holds it: [`ReportError::Locked`]. On a file system without locks
    ///   the run goes on with a warning.
    /// - `resume == false` and the file is not empty: [`ReportError::Exists`].
    /// - `resume == true`: reads what is there (a missing or empty file is a fresh start), cuts off
    ///   a torn last row left by a killed run, and returns the state; rows are then appended.
    /// - CSV: writes the header into an empty file; appends to a CSV whose header starts with the
    ///   contract's seven columns, writing each row in that header's column order; refuses any
    ///   other header ([`ReportError::Header`]).
    ///
    /// The state is `Some` exactly when `resume` is true.
    pub fn open(
        path: &Path,
        resume: bool,
    ) -> Result<(ReportWriter, Option<ResumeState>), ReportError> {
        let format = Format::from_path(path)?;
        let file = create(path)?;
        lock(&file, path)?;
        let write_err = |source| ReportError::Write {
            path: path.to_owned(),
            source,
        };
        let len = file
            .metadata()
            .map_err(|source| ReportError::Read {
                path: path.to_owned(),
                source,
            })?
            .len();
        if len > 0 && !resume {
            return Err(ReportError::Exists {
                path: path.to_owned(),
            });
        }
        let (state, header) = if len > 0 {
            let found = scan(path, &file, format)?;
            if found.valid_len < len {
                file.set_len(found.valid_len).map_err(write_err)?;
                tracing::warn!(
                    report = %path.display(),
                    bytes = len - found.valid_len,
                    "cut off a torn last row left by an interrupted run"
                );
            }
            (found.state, found.header)
        } else {
            (ResumeState::default(), None)
        };
        let out = match format {
            Format::Jsonl => Out::Jsonl(BufWriter::new(file)),
            Format::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .terminator(csv::Terminator::Any(b'\n'))
                    .from_writer(file);
                let layout = match header {
                    Some(h) => h
                        .iter()
                        .map(|name| COLUMNS.iter().position(|c| c == name))
                        .collect(),
                    None => {
                        w.write_record(COLUMNS)
                            .and_then(|()| w.flush().map_err(Into::into))
                            .map_err(|e| write_err(e.into()))?;
                        (0..COLUMNS.len()).map(Some).collect()
                    }
                };
                Out::Csv {
                    w: Box::new(w),
                    layout,
                }
            }
        };
        let writer = ReportWriter {
            path: path.to_owned(),
            format,
            out,
        };
        Ok((writer, resume.then_some(state)))
    }

    /// Appends `row` and flushes it to the OS, so a killed run loses at most the row being
    /// written. No fsync per row (it would cap throughput on slow disks); see [`Self::sync`].
    pub fn write(&mut self, row: &Row) -> Result<(), ReportError> {
        self.write_rows(std::slice::from_ref(row))
    }

    /// Appends `rows` and flushes once: for rows that finished together (the collector drains
    /// whatever is waiting in its channel). A killed run loses at most these rows, which were
    /// not on disk either while they waited; one flush per row instead costs a `write(2)` per
    /// user, which dominates a million-row dry run.
    pub fn write_rows(&mut self, rows: &[Row]) -> Result<(), ReportError> {
        let result = match &mut self.out {
            Out::Csv { w, layout } => rows
                .iter()
                .try_for_each(|row| {
                    let cells = csv_cells(row);
                    let record = layout.iter().map(|at| at.map_or("", |i| cells[i].as_str()));
                    w.write_record(record).map_err(std::io::Error::from)
                })
                .and_then(|()| w.flush()),
            Out::Jsonl(w) => rows
                .iter()
                .try_for_each(|row| {
                    serde_json::to_writer(&mut *w, row)
                        .map_err(std::io::Error::from)
                        .and_then(|()| w.write_all(b"\n"))
                })
                .and_then(|()| w.flush()),
        };
        result.map_err(|source| self.write_err(source))
    }

    /// Flushes and fsyncs: at the end of a run, so the report survives a power cut too.
    pub fn sync(&mut self) -> Result<(), ReportError> {
        let result = match &mut self.out {
            Out::Csv { w, .. } => w.flush().and_then(|()| w.get_ref().sync_data()),
            Out::Jsonl(w) => w.flush().and_then(|()| w.get_ref().sync_data()),
        };
        result.map_err(|source| self.write_err(source))
    }

    /// The report's path, for the summary and the resume hint.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The report's format, decided by its extension.
    pub fn format(&self) -> Format {
        self.format
    }

    fn write_err(&self, source: std::io::Error) -> ReportError {
        ReportError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// A row's CSV cells, in [`COLUMNS`] order; `None` is an empty cell.
fn csv_cells(row: &Row) -> [String; COLUMNS.len()] {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        row.user.clone(),
        row.status.as_str().to_owned(),
        row.http_status.map(|s| s.to_string()).unwrap_or_default(),
        row.error_code.map(|c| c.to_string()).unwrap_or_default(),
        row.message.clone(),
        row.attempts.to_string(),
        format_time(row.finished_at),
        opt(&row.tracking_id),
        opt(&row.name),
        opt(&row.zoom_status),
        opt(&row.last_login),
    ]
}

/// Opens for reading and appending, creating with mode 0600 (the report names people).
fn create(path: &Path) -> Result<File, ReportError> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|source| ReportError::Open {
        path: path.to_owned(),
        source,
    })
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
    use crate::report::{Status, parse_time, read_report};

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
        let (mut w, state) = ReportWriter::open(path, false).unwrap();
        assert!(state.is_none());
        for r in rows {
            w.write(r).unwrap();
        }
        w.sync().unwrap();
    }

    fn round_trip(name: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        write_all(&path, &rows());
        let state = read_report(&path).unwrap();
        assert_eq!(state.rows_read(), 2);
        assert_eq!(state.repaired_bytes(), 0);
        assert_eq!(state.last("a@x.com"), Some(&rows()[0]));
        assert_eq!(state.last("bad/one"), Some(&rows()[1]));
    }

    #[test]
    fn round_trip_csv() {
        round_trip("r.csv");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        write_all(&path, &rows()[1..]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{}\nbad/one,invalid,,,contains '/',0,2026-11-28T12:00:01.000Z,,,,\n",
                COLUMNS.join(",")
            )
        );
    }

    #[test]
    fn round_trip_jsonl() {
        round_trip("r.jsonl");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.ndjson");
        write_all(&path, &rows()[1..]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"user\":\"bad/one\",\"status\":\"invalid\",\"http_status\":null,\"error_code\":null,\
             \"message\":\"contains '/'\",\"attempts\":0,\"finished_at\":\"2026-11-28T12:00:01.000Z\",\
             \"tracking_id\":null,\"name\":null,\"zoom_status\":null,\"last_login\":null}\n"
        );
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

        let (mut w, state) = ReportWriter::open(&path, true).unwrap();
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
        assert_eq!(state.last("c@x.com"), Some(&again));
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
        let (mut w, state) = ReportWriter::open(&path, true).unwrap();
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
            "z@x.com,done,,,,0,2026-11-28T12:00:00Z,,,,\n",
        );
        std::fs::write(&path, &text).unwrap();
        let err = read_report(&path).unwrap_err().to_string();
        assert!(
            err.contains("r.csv line 2: unknown status \"done\""),
            "{err}"
        );
        let err = ReportWriter::open(&path, true).err().unwrap().to_string();
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
        let (first, _) = ReportWriter::open(&path, false).unwrap();
        let err = ReportWriter::open(&path, true).err().unwrap();
        assert!(matches!(err, ReportError::Locked { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("another zoom-offboard run is writing it")
        );
        drop(first);
        assert!(
            ReportWriter::open(&path, true).is_ok(),
            "lock released on drop"
        );
    }

    #[test]
    fn existing_report_needs_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "").unwrap();
        drop(ReportWriter::open(&path, false).unwrap());
        write_all(&dir.path().join("x.jsonl"), &rows());
        let err = ReportWriter::open(&dir.path().join("x.jsonl"), false)
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
        drop(ReportWriter::open(&path, false).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        let shared = dir.path().join("shared.csv");
        std::fs::write(&shared, "").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
        drop(ReportWriter::open(&shared, true).unwrap());
        assert_eq!(mode(&shared), 0o640);
    }

    #[test]
    fn resume_last_row_wins() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.jsonl"] {
            let path = dir.path().join(name);
            let (mut w, state) = ReportWriter::open(&path, true).unwrap();
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
            let (_w, state) = ReportWriter::open(&path, true).unwrap();
            let state = state.unwrap();
            assert_eq!(state.rows_read(), 5);
            assert_eq!(state.len(), 4);
            assert_eq!(state.last("a@x.com").unwrap().status, Status::Revoked);
            assert_eq!(state.last("a@x.com").unwrap().user, "a@X.com");
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
        let (mut w, _) = ReportWriter::open(&path, true).unwrap();
        w.write(&rows()[0]).unwrap();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("7,2026-11-28T12:00:00.123Z\n"), "{text}");
        let state = read_report(&path).unwrap();
        assert_eq!(state.rows_read(), 2);
        assert_eq!(state.last("a@x.com").unwrap().tracking_id, None);

        std::fs::write(&path, "email,status\n").unwrap();
        let err = ReportWriter::open(&path, true).err().unwrap();
        assert!(matches!(err, ReportError::Header { .. }), "{err}");
    }

    #[test]
    fn accessors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let (w, _) = ReportWriter::open(&path, false).unwrap();
        assert_eq!(w.path(), path);
        assert_eq!(w.format(), Format::Jsonl);
        assert!(ReportWriter::open(&dir.path().join("r.txt"), false).is_err());
    }
}
