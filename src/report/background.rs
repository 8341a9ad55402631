//! The report written on a thread of its own once rows come in large batches: the collector
//! encodes a batch while this thread chains and writes the one before.
//!
//! A million-row dry run spends about as long encoding rows as it does hashing their chain, and
//! the two cannot share one batch (each row's chain hashes the one before, its bytes included),
//! so they run one batch apart, each on a core. At most [`IN_FLIGHT`] batches wait for the
//! thread; beyond that the collector waits, which is the back-pressure the single-threaded writer
//! had. Rows are written in the order they were handed over, and a row's `written` answer is
//! sent once its batch is in the file, as before.
//!
//! Rows that come a few at a time (a run's workers finish a user at a time, at the account's
//! rate) are written by the caller, as before: handing each to another thread cost a wake-up
//! and a switch of threads per row, 0.07 ms of CPU a request (600 revocations against the
//! simulator, `/usr/bin/time`: 0.46 ms a request before, 0.53 with the thread). The thread starts
//! with the first batch of [`LARGE`] rows and takes every batch after it.
//!
//! A failed write is reported by the next [`BackgroundWriter::write_rows`] or by
//! [`BackgroundWriter::finish`]; nothing more is written after it (the file stays a prefix of
//! the rows in order, as [`super::writer`] explains).

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::encode::{Encoded, Encoder};
use super::writer::Appender;
use super::{Format, ReportError, Row};
use crate::evidence::attention::Attention;

/// Batches handed over and not yet written, at most.
const IN_FLIGHT: usize = 4;

/// Rows in a batch that start the report's thread.
const LARGE: u64 = 256;

/// A batch for the report's thread: its rows encoded (or why they could not be), and the
/// answers owed once they are written.
struct Job {
    rows: Result<Encoded, std::io::Error>,
    acks: Vec<oneshot::Sender<()>>,
}

/// The report's thread, once started.
struct Thread {
    /// Where encoded batches go.
    jobs: SyncSender<Job>,
    /// Batches written and emptied, for their memory.
    spare: Receiver<Encoded>,
    /// The first failure.
    failure: Receiver<ReportError>,
    /// It hands the file back when the jobs end.
    handle: JoinHandle<Option<Appender>>,
}

/// The encoding half of a [`super::ReportWriter`], with its file written here or, once rows
/// come in large batches, on a thread of its own.
pub(crate) struct BackgroundWriter {
    encoder: Encoder,
    format: Format,
    path: PathBuf,
    /// The file while batches are written here: until the first large one, and for good when
    /// no thread can be had.
    inline: Option<Appender>,
    /// The thread, once started; `None` again once finished.
    thread: Option<Thread>,
    /// Whether starting the thread failed (it is not tried again).
    no_thread: bool,
    /// The batch encoded here, kept for its memory.
    scratch: Encoded,
}

impl BackgroundWriter {
    /// A writer of `appender`'s file with `encoder`; the thread starts later, if ever.
    pub fn start(encoder: Encoder, appender: Appender) -> BackgroundWriter {
        BackgroundWriter {
            encoder,
            format: appender.format(),
            path: appender.path().to_owned(),
            inline: Some(appender),
            thread: None,
            no_thread: false,
            scratch: Encoded::default(),
        }
    }

    /// Encodes `rows` and writes them, here or on the report's thread (waiting while
    /// [`IN_FLIGHT`] batches are ahead of them); `acks` are answered once they are written.
    /// Fails with the first failed write of an earlier batch: nothing of these rows is written
    /// then, nor after.
    pub fn write_rows<'r>(
        &mut self,
        rows: impl IntoIterator<Item = &'r Row>,
        acks: Vec<oneshot::Sender<()>>,
    ) -> Result<(), ReportError> {
        let mut batch = match &self.thread {
            Some(t) => {
                if let Ok(e) = t.failure.try_recv() {
                    return Err(e);
                }
                t.spare.try_recv().unwrap_or_default()
            }
            None => std::mem::take(&mut self.scratch),
        };
        let encoded = self.encoder.encode(rows, &mut batch);
        if batch.rows() >= LARGE && self.thread.is_none() && !self.no_thread {
            self.start_thread();
        }
        if let Some(appender) = &mut self.inline {
            let result = appender.append(encoded.map(|()| &mut batch));
            batch.clear();
            self.scratch = batch;
            result?;
            for ack in acks {
                let _ = ack.send(());
            }
            return Ok(());
        }
        let Some(thread) = &self.thread else {
            return Err(self.gone());
        };
        let job = Job {
            rows: encoded.map(|()| batch),
            acks,
        };
        match thread.jobs.send(job) {
            Ok(()) => Ok(()),
            // The thread is gone (it only ends early by panicking): what it said, if anything.
            Err(_) => Err(thread.failure.try_recv().unwrap_or_else(|_| self.gone())),
        }
    }

    /// Moves the file to a new thread; if the system refuses one, it stays here for good.
    fn start_thread(&mut self) {
        let Some(appender) = self.inline.take() else {
            return;
        };
        let (jobs, jobs_rx) = sync_channel::<Job>(IN_FLIGHT - 1);
        let (spare_tx, spare) = sync_channel(IN_FLIGHT + 1);
        let (failure_tx, failure) = sync_channel(1);
        // Held here until the thread takes it, so that a refused thread does not take the file.
        let handover = Arc::new(Mutex::new(Some(appender)));
        let taken = handover.clone();
        let spawned = std::thread::Builder::new()
            .name("report".into())
            .spawn(move || {
                let appender = taken.lock().ok().and_then(|mut a| a.take());
                appender.map(|a| write_jobs(a, &jobs_rx, &spare_tx, &failure_tx))
            });
        match spawned {
            Ok(handle) => {
                self.thread = Some(Thread {
                    jobs,
                    spare,
                    failure,
                    handle,
                });
            }
            Err(e) => {
                tracing::debug!("no thread for the report ({e}): it is written inline");
                self.no_thread = true;
                self.inline = handover.lock().ok().and_then(|mut a| a.take());
            }
        }
    }

    /// An empty attention list for the rows written here.
    pub fn attention(&self) -> Attention {
        self.encoder.attention(self.format)
    }

    /// Waits for every batch to be written and gives the file back, with the first failure not
    /// yet reported; `Err` if the thread died and took the file with it.
    pub fn finish(mut self) -> Result<(Appender, Option<ReportError>), ReportError> {
        if let Some(appender) = self.inline.take() {
            return Ok((appender, None));
        }
        let Some(Thread {
            jobs,
            failure,
            handle,
            ..
        }) = self.thread.take()
        else {
            return Err(self.gone());
        };
        drop(jobs);
        let appender = handle.join().ok().flatten();
        let late = failure.try_recv().ok();
        match appender {
            Some(a) => Ok((a, late)),
            None => Err(self.gone()),
        }
    }

    /// The error of a thread that ended without saying why (it panicked).
    fn gone(&self) -> ReportError {
        ReportError::Write {
            path: self.path.clone(),
            source: std::io::Error::other("the report's thread stopped"),
        }
    }
}

impl Drop for BackgroundWriter {
    /// A writer dropped unfinished still writes what it was handed before the file is closed.
    fn drop(&mut self) {
        if let Some(Thread { jobs, handle, .. }) = self.thread.take() {
            drop(jobs);
            let _ = handle.join();
        }
    }
}

/// The thread's loop: every batch chained and written in order, each emptied batch handed back
/// for its memory, the first failure reported.
fn write_jobs(
    mut appender: Appender,
    jobs: &Receiver<Job>,
    spare: &SyncSender<Encoded>,
    failure: &SyncSender<ReportError>,
) -> Appender {
    for Job { rows, acks } in jobs {
        let written = match rows {
            Ok(mut batch) => appender.append(Ok(&mut batch)).map(|()| {
                batch.clear();
                // A full pool just lets this one go.
                let _ = spare.try_send(batch);
            }),
            Err(e) => appender.append(Err(e)),
        };
        match written {
            // A failed batch's acks are dropped unanswered: a write-ahead row that is not on
            // disk must not let its call go out.
            Ok(()) => acks.into_iter().for_each(|ack| {
                let _ = ack.send(());
            }),
            // Only the first is kept: later ones say that an earlier write failed.
            Err(e) => {
                let _ = failure.try_send(e);
            }
        }
    }
    appender
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ReportKind, ReportWriter, Status};

    fn rows(n: usize) -> Vec<Row> {
        (0..n)
            .map(|i| {
                let mut row = Row::new(format!("user{i}@example.com"), Status::Failed);
                row.message = format!("said \"no\", {i}").into();
                row.http_status = Some(400);
                row
            })
            .collect()
    }

    /// Batches written on the thread make the same file, byte for byte, as the same batches
    /// written inline: the same chain, the same head, the same rows, for both formats.
    #[test]
    fn the_thread_writes_what_the_inline_writer_writes() {
        for name in ["r.csv", "r.jsonl"] {
            let dir = tempfile::tempdir().unwrap();
            let (inline, threaded) = (dir.path().join("a").join(name), dir.path().join(name));
            std::fs::create_dir(dir.path().join("a")).unwrap();
            let rows = rows(2500);
            let (mut w, _) = ReportWriter::open(&inline, false, ReportKind::Revoke).unwrap();
            let (b, _) = ReportWriter::open(&threaded, false, ReportKind::Revoke).unwrap();
            let mut b = b.in_background();
            // A few small batches, written inline, then large ones, on the thread.
            let (small, large) = rows.split_at(9);
            let mut large_seen = false;
            for batch in small.chunks(3).chain(large.chunks(700)) {
                large_seen |= batch.len() >= 256;
                w.write_rows(batch).unwrap();
                b.write_rows(batch, Vec::new()).unwrap();
                assert_eq!(b.thread.is_some(), large_seen);
                assert_eq!(b.inline.is_none(), large_seen);
            }
            assert!(b.thread.is_some(), "no thread for the large batches");
            let (file, failure) = b.finish().unwrap();
            assert!(failure.is_none());
            assert_eq!(file.rows(), 2500);
            assert_eq!(file.chain_head(), w.chain_head());
            assert_eq!(file.written(), w.written());
            assert_eq!(
                std::fs::read(&threaded).unwrap(),
                std::fs::read(&inline).unwrap()
            );
        }
    }

    /// A row's ack comes once its batch is in the file, never before: written here (a small
    /// batch) or on the thread (a large one).
    #[test]
    fn acks_are_answered_once_the_rows_are_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let (w, _) = ReportWriter::open(&path, false, ReportKind::Revoke).unwrap();
        let mut w = w.in_background();
        for (n, lines) in [(3, 4), (300, 304)] {
            let (tx, rx) = oneshot::channel();
            w.write_rows(&rows(n), vec![tx]).unwrap();
            rx.blocking_recv().unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), lines, "{text}");
            assert_eq!(w.thread.is_some(), n >= 256);
        }
        w.finish().unwrap();
    }

    /// After a failed write nothing more is written, here or on the thread: the batch is
    /// refused with the failure (at once here; on the thread, by a later call), its acks are
    /// dropped unanswered, and the file is as the failure left it.
    #[test]
    fn after_a_failure_nothing_more_is_written_and_acks_go_unanswered() {
        for large in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("r.csv");
            let (mut w, _) = ReportWriter::open(&path, false, ReportKind::Revoke).unwrap();
            w.write_rows(&rows(1)).unwrap();
            w.appender.failed = true;
            let before = std::fs::read(&path).unwrap();
            let mut w = w.in_background();
            let (tx, rx) = oneshot::channel();
            let n = if large { 300 } else { 2 };
            let first = w.write_rows(&rows(n), vec![tx]);
            // Here the failure is told at once; the thread tells it by a later call.
            assert_eq!(first.is_ok(), large, "{first:?}");
            assert!(rx.blocking_recv().is_err(), "the ack of an unwritten row");
            let refused = loop {
                match w.write_rows(&rows(1), Vec::new()) {
                    Err(e) => break e,
                    Ok(()) => std::thread::yield_now(),
                }
            };
            assert!(refused.to_string().contains("earlier write"), "{refused}");
            let (file, late) = w.finish().unwrap();
            assert!(
                file.written().is_none(),
                "a failed writer vouches for nothing"
            );
            assert!(late.is_none(), "the failure was told once: {late:?}");
            assert_eq!(std::fs::read(&path).unwrap(), before);
        }
    }
}
