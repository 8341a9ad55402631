//! The report written on a thread of its own: the collector encodes a batch of rows while this
//! thread chains and writes the one before.
//!
//! A million-row dry run spends about as long encoding rows as it does hashing their chain, and
//! the two cannot share one batch (each row's chain hashes the one before, its bytes included),
//! so they run one batch apart, each on a core. At most [`IN_FLIGHT`] batches wait for the
//! thread; beyond that the collector waits, which is the back-pressure the single-threaded writer
//! had. Rows are written in the order they were handed over, and a row's `written` answer is
//! sent once its batch is in the file, as before.
//!
//! A failed write is reported by the next [`BackgroundWriter::write_rows`] or by
//! [`BackgroundWriter::finish`]; the thread then writes nothing more (the file stays a prefix of
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

/// Batches handed over and not yet written, at most: one being written and one waiting is
/// enough to keep both cores busy.
const IN_FLIGHT: usize = 4;

/// A batch for the report's thread: its rows encoded (or why they could not be), and the
/// answers owed once they are written.
struct Job {
    rows: Result<Encoded, std::io::Error>,
    acks: Vec<oneshot::Sender<()>>,
}

/// The encoding half of a [`super::ReportWriter`], with its file on a thread of its own.
pub struct BackgroundWriter {
    encoder: Encoder,
    format: Format,
    path: PathBuf,
    /// Where encoded batches go; `None` once finished.
    jobs: Option<SyncSender<Job>>,
    /// Batches written and emptied, for their memory.
    spare: Receiver<Encoded>,
    /// The first failure, from the thread.
    failure: Receiver<ReportError>,
    /// The thread; it hands the file back when the jobs end.
    thread: Option<JoinHandle<Option<Appender>>>,
    /// The file, when no thread could be started: batches are then written here.
    inline: Option<Appender>,
}

impl BackgroundWriter {
    /// Starts the report's thread with `appender`; if the system refuses a thread, batches are
    /// written by the caller as [`super::ReportWriter`] writes them.
    pub fn start(encoder: Encoder, appender: Appender) -> BackgroundWriter {
        let (format, path) = (appender.format(), appender.path().to_owned());
        let (jobs_tx, jobs_rx) = sync_channel::<Job>(IN_FLIGHT - 1);
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
        let (thread, jobs, inline) = match spawned {
            Ok(t) => (Some(t), Some(jobs_tx), None),
            Err(e) => {
                tracing::debug!("no thread for the report ({e}): it is written inline");
                let inline = handover.lock().ok().and_then(|mut a| a.take());
                (None, None, inline)
            }
        };
        BackgroundWriter {
            encoder,
            format,
            path,
            jobs,
            spare,
            failure,
            thread,
            inline,
        }
    }

    /// Encodes `rows` and hands them to the report's thread (waiting while [`IN_FLIGHT`]
    /// batches are ahead of them); `acks` are answered once they are written. Fails with the
    /// first failed write of an earlier batch: nothing of these rows is written then, nor after.
    pub fn write_rows<'r>(
        &mut self,
        rows: impl IntoIterator<Item = &'r Row>,
        acks: Vec<oneshot::Sender<()>>,
    ) -> Result<(), ReportError> {
        if let Ok(e) = self.failure.try_recv() {
            return Err(e);
        }
        let mut batch = self.spare.try_recv().unwrap_or_default();
        let rows = self.encoder.encode(rows, &mut batch).map(|()| batch);
        if let Some(appender) = &mut self.inline {
            return write_job(appender, Job { rows, acks }, None).map(drop);
        }
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(Job { rows, acks }));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread is gone (it only ends early by panicking): what it said, if anything.
            _ => Err(self.failure.try_recv().unwrap_or_else(|_| self.gone())),
        }
    }

    /// An empty attention list for the rows written here.
    pub fn attention(&self) -> Attention {
        self.encoder.attention(self.format)
    }

    /// Waits for every batch to be written and gives the file back, with the first failure not
    /// yet reported; `Err` if the thread died and took the file with it.
    pub fn finish(mut self) -> Result<(Appender, Option<ReportError>), ReportError> {
        self.jobs = None;
        let appender = match (self.inline.take(), self.thread.take()) {
            (Some(a), _) => Some(a),
            (None, Some(t)) => t.join().ok().flatten(),
            (None, None) => None,
        };
        let failure = self.failure.try_recv().ok();
        appender.map(|a| (a, failure)).ok_or_else(|| self.gone())
    }
}

impl BackgroundWriter {
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
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
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
    for job in jobs {
        match write_job(&mut appender, job, Some(spare)) {
            Ok(()) => {}
            // Only the first is kept: later ones say that an earlier write failed.
            Err(e) => {
                let _ = failure.try_send(e);
            }
        }
    }
    appender
}

/// Writes one batch and answers its rows' acks; a failed batch's acks are dropped unanswered:
/// a write-ahead row that is not on disk must not let its call go out.
fn write_job(
    appender: &mut Appender,
    job: Job,
    spare: Option<&SyncSender<Encoded>>,
) -> Result<(), ReportError> {
    let Job { rows, acks } = job;
    let mut batch = match rows {
        Ok(batch) => batch,
        Err(e) => return appender.append(Err(e)),
    };
    appender.append(Ok(&mut batch))?;
    for ack in acks {
        let _ = ack.send(());
    }
    if let Some(spare) = spare {
        batch.clear();
        // A full pool just lets this one go.
        let _ = spare.try_send(batch);
    }
    Ok(())
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
            for batch in rows.chunks(700) {
                w.write_rows(batch).unwrap();
                b.write_rows(batch, Vec::new()).unwrap();
            }
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

    /// A row's ack comes once its batch is in the file, never before.
    #[test]
    fn acks_are_answered_once_the_rows_are_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let (w, _) = ReportWriter::open(&path, false, ReportKind::Revoke).unwrap();
        let mut w = w.in_background();
        let (tx, rx) = oneshot::channel();
        w.write_rows(&rows(3), vec![tx]).unwrap();
        rx.blocking_recv().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        w.finish().unwrap();
    }

    /// After a failed write the thread writes nothing more: the next batch is refused with the
    /// first failure, its acks are dropped unanswered, and the file is as the failure left it.
    #[test]
    fn after_a_failure_nothing_more_is_written_and_acks_go_unanswered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let (mut w, _) = ReportWriter::open(&path, false, ReportKind::Revoke).unwrap();
        w.write_rows(&rows(1)).unwrap();
        w.appender.failed = true;
        let before = std::fs::read(&path).unwrap();
        let mut w = w.in_background();
        let (tx, rx) = oneshot::channel();
        // Handed over: the failure is the thread's to find.
        w.write_rows(&rows(2), vec![tx]).unwrap();
        assert!(rx.blocking_recv().is_err(), "the ack of an unwritten row");
        let refused = loop {
            // The thread reports the failure once it has taken the batch; until then the next
            // batch may still be handed over (and is refused in turn).
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
