//! The run log, `REPORT.runs.jsonl`: one JSON line when a run starts, one when it ends (a killed
//! run has a start and no end), appended beside the report.
//!
//! It says what the report cannot: who ran the command, from where, with which input files (their
//! SHA-256), how the report stood before (rows, last chain, bytes of a torn row cut), and at the
//! end the counts, the chain head and the per-second timeline. `verify` checks each end entry
//! against the report; the HTML summary is drawn from it.
//!
//! Written with the report's care and the report's own functions: never through a symbolic link,
//! never into another user's file, created 0600. Each entry is one `write` of a whole line then
//! an fsync, so the start entry is on disk before the first request. A line torn by a kill while
//! it was written is cut off when the log is next opened, as the report's torn row is.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::chain::Link;
use crate::report::{ReportError, check_planted, create_no_follow};

/// One line of the run log.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// Written before the run's first request.
    Start(Start),
    /// Written when the run ends by itself or is stopped (not when it is killed).
    End(End),
}

/// The start entry: what ran, by whom, on what, and how the report stood.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Start {
    /// Ties the start to its end entry (and to the logs of the run).
    pub run_id: String,
    /// RFC 3339 UTC, milliseconds.
    pub started_at: String,
    /// This tool's version.
    pub tool_version: String,
    /// The argument list as given, program name first (secrets never come as arguments).
    pub command: Vec<String>,
    /// The OS user name the run ran as.
    pub operator: String,
    /// The machine's host name.
    pub host: String,
    /// `ZOOM_ACCOUNT_ID`; `None` with a static token or no credentials (a dry run).
    pub account_id: Option<String>,
    /// Each input file: its path as given, SHA-256 and user rows.
    pub inputs: Vec<InputDigest>,
    /// Complete rows in the report before this run.
    pub report_rows_before: u64,
    /// The chain of the report's last row before this run; `None` for a new report.
    pub chain_before: Option<Link>,
    /// Bytes of a torn last line cut off the report before this run appended anything.
    #[serde(default)]
    pub torn_bytes_cut: u64,
    /// The steps the run takes, in order (`revoke` alone for `zoom-offboard revoke`).
    #[serde(default)]
    pub steps: Vec<String>,
    /// A dry run: nothing is changed in Zoom.
    #[serde(default)]
    pub dry_run: bool,
}

/// One input file in the start entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputDigest {
    /// The path as given (`-` for stdin).
    pub path: String,
    /// SHA-256 of the file's bytes, lowercase hex, as `sha256sum` prints it.
    pub sha256: String,
    /// User rows read from it (a header is not counted, nor blank and comment lines).
    pub rows: u64,
}

/// The end entry: how the run ended, where the report stands, and the timeline.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct End {
    /// The start entry's `run_id`.
    pub run_id: String,
    /// RFC 3339 UTC, milliseconds.
    pub ended_at: String,
    /// The process's exit code.
    pub exit_code: u8,
    /// The terminal summary's numbers: users (for `offboard`, (user, step) pairs) per status at
    /// the end of this run.
    pub counts: BTreeMap<String, u64>,
    /// Complete rows in the report at the end of this run, earlier runs' included.
    pub report_rows: u64,
    /// The chain of the report's last row; `None` while it has none.
    pub chain_head: Option<Link>,
    /// `[second, requests, 429s, failed answers]` for each second since the start.
    pub timeline: Vec<[u64; 4]>,
    /// Why the run stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// `offboard`: `counts` by step (`{"delete":{"deleted":3}}`); whole-user rows (`invalid`,
    /// `excluded`) under `"user"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_step: BTreeMap<String, BTreeMap<String, u64>>,
    /// `offboard`: where the removed users' data went, target (or "nowhere: deleted") → users.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub destinations: BTreeMap<String, u64>,
}

/// The run log, open for appending.
pub struct RunLog {
    path: PathBuf,
    file: File,
}

impl RunLog {
    /// Opens (creating, 0600) the run log of `report`, refusing a symbolic link or another user's
    /// file as the report is refused, and cuts off a line torn by a killed run.
    pub fn open(report: &Path) -> Result<RunLog, ReportError> {
        let path = super::runs_path(report);
        let file = create_no_follow(&path)?;
        check_planted(&file, &path)?;
        let log = RunLog { path, file };
        log.cut_torn_line()?;
        Ok(log)
    }

    /// The run log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line with one write, and fsyncs it: the start entry is durable
    /// before the first request, the end entry before the process exits.
    pub fn append(&mut self, entry: &Entry) -> Result<(), ReportError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| self.err(e.into()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| self.err(e))
    }

    fn cut_torn_line(&self) -> Result<(), ReportError> {
        let bytes = std::fs::read(&self.path).map_err(|e| self.err(e))?;
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if keep < bytes.len() {
            self.file.set_len(keep as u64).map_err(|e| self.err(e))?;
            tracing::warn!(log = %self.path.display(), bytes = bytes.len() - keep, "cut off a torn last line of the run log");
        }
        Ok(())
    }

    fn err(&self, source: std::io::Error) -> ReportError {
        ReportError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// A run log line that is not an entry.
#[derive(Debug, thiserror::Error)]
#[error("run log {} line {line}: {message}", .path.display())]
pub struct RunLogError {
    /// The run log's path.
    pub path: PathBuf,
    /// The line (1 is the first).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// The entries of `report`'s run log with their line numbers: empty if there is no log. A last
/// line without a newline (torn by a kill) is left out; any other line that is not an entry is
/// an error naming it.
pub fn read(report: &Path) -> Result<Vec<(u64, Entry)>, RunLogError> {
    let path = super::runs_path(report);
    let err = |line, message: String| RunLogError {
        path: path.clone(),
        line,
        message,
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(0, e.to_string())),
    };
    let mut entries = Vec::new();
    for (n, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        let Some(line) = line.strip_suffix(b"\n") else {
            break;
        };
        let entry = serde_json::from_slice(line).map_err(|e| err(n as u64 + 1, e.to_string()))?;
        entries.push((n as u64 + 1, entry));
    }
    Ok(entries)
}

/// The OS user name the process runs as: from the password database, else `$USER`/`$LOGNAME`,
/// else `uid N`.
pub fn operator() -> String {
    #[cfg(unix)]
    if let Some(name) = passwd_name() {
        return name;
    }
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(uid_text)
}

#[cfg(unix)]
fn passwd_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter; getpwuid_r writes only into it and
    // `buf` (whose length it is given), and `result` is null or points at `pw`.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::geteuid(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pw.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pw.pw_name);
        Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
    }
}

fn uid_text() -> String {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        format!("uid {}", unsafe { libc::geteuid() })
    }
    #[cfg(not(unix))]
    {
        "unknown".to_owned()
    }
}

/// The machine's host name (`unknown` if it cannot be read).
pub fn host() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    "unknown".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_one_line_each_event_first_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.csv");
        let start = Start {
            run_id: "x".into(),
            command: vec!["zoom-offboard".into(), "revoke".into()],
            inputs: vec![InputDigest {
                path: "in.csv".into(),
                sha256: "ab".into(),
                rows: 3,
            }],
            torn_bytes_cut: 7,
            ..Start::default()
        };
        let end = End {
            run_id: "x".into(),
            counts: [("revoked".to_owned(), 3)].into(),
            report_rows: 3,
            chain_head: Some(Link::ZERO.next(b"r")),
            timeline: vec![[0, 3, 0, 0]],
            ..End::default()
        };
        let mut log = RunLog::open(&report).unwrap();
        assert_eq!(log.path(), dir.path().join("r.csv.runs.jsonl"));
        log.append(&Entry::Start(start.clone())).unwrap();
        log.append(&Entry::End(end.clone())).unwrap();
        drop(log);
        let text = std::fs::read_to_string(dir.path().join("r.csv.runs.jsonl")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("{\"event\":\"start\",\"run_id\":\"x\","),
            "{text}"
        );
        assert!(
            lines[1].starts_with("{\"event\":\"end\",\"run_id\":\"x\","),
            "{text}"
        );
        assert!(lines[1].contains("\"timeline\":[[0,3,0,0]]"), "{text}");
        assert!(lines[0].contains("\"chain_before\":null"), "{text}");
        let read_back = read(&report).unwrap();
        assert_eq!(
            read_back,
            vec![(1, Entry::Start(start)), (2, Entry::End(end))]
        );
    }

    #[test]
    fn a_torn_line_is_skipped_when_read_and_cut_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.jsonl");
        let log_path = dir.path().join("r.jsonl.runs.jsonl");
        std::fs::write(&log_path, "{\"event\":\"end\",\"run_i").unwrap();
        assert!(read(&report).unwrap().is_empty());
        drop(RunLog::open(&report).unwrap());
        assert_eq!(std::fs::read(&log_path).unwrap(), b"");
        std::fs::write(&log_path, "{\"event\":\"nope\"}\n").unwrap();
        let err = read(&report).unwrap_err().to_string();
        assert!(err.contains("r.jsonl.runs.jsonl line 1:"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.csv");
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join("r.csv.runs.jsonl")).unwrap();
        let err = RunLog::open(&report).err().unwrap();
        assert!(matches!(err, ReportError::Symlink { .. }), "{err}");
        assert!(!target.exists());
    }

    #[test]
    fn operator_and_host_are_named() {
        assert!(!operator().is_empty());
        assert!(!host().is_empty());
    }
}
