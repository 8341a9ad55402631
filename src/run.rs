//! The run: a bounded pool of workers taking items (users, or user steps) from a list, with
//! one shared request policy and one collector that owns the report.
//!
//! Design (mini-redis, oha):
//! - The permit for a worker slot is taken BEFORE its task is spawned, so there are never more
//!   tasks than `--concurrency`, even for a million users.
//! - The first item goes alone; the pool fans out only once it has an answer. Bad credentials
//!   or a missing scope then cost exactly one call, and the run exits 2 having done nothing; a
//!   daily limit, an outage or an interrupt there leaves every item `pending` (exit 3).
//! - Workers send finished rows down one channel; the collector (in [`crate::app`]) writes them
//!   in batches. A worker keeps its slot until its row is written, so a kill at any moment
//!   loses the rows of at most `--concurrency` users whose call was done: the ones in flight.
//! - Stop conditions live in the run's [`Control`]: the daily limit, a fatal auth answer, a
//!   report that cannot be written, or the operator's Ctrl-C. New requests stop at once;
//!   requests already on the wire are allowed to finish (drain); every item not finished gets
//!   a `pending` row.
//!
//! What a worker does for its item is the caller's job (a closure returning the item's row);
//! how a call is retried is the request policy's ([`crate::request`]). The pool knows neither:
//! the one-user calls live with the commands that make them (`revoke_one` in
//! [`crate::offboard`], whose first step it is; `lookup_one` in [`crate::dryrun`]). What it
//! does know is the rows every caller shares: `pending`, and a verdict's row.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::report::{Row, Status};
use crate::request::{Control, Settled, Verdict};
use crate::zoom::ErrorInfo;

/// Rows on their way to the collector.
#[derive(Debug)]
pub enum Entry {
    /// A worker's row; `written` is answered once it is in the report file (and flushed to the
    /// operating system).
    One {
        /// The row.
        row: Row,
        /// The answer a write-ahead row waits for.
        written: Option<oneshot::Sender<()>>,
    },
    /// Rows known without a request (invalid, excluded, validated only), in order: sent a chunk
    /// at a time, they cost the channel one send, not one each (a million-row dry run spent a
    /// tenth of its collector's time waking it and moving rows through it).
    Many(Vec<Row>),
}

impl Entry {
    /// The entry's rows, in order.
    pub fn rows(&self) -> &[Row] {
        match self {
            Entry::One { row, .. } => std::slice::from_ref(row),
            Entry::Many(rows) => rows,
        }
    }

    /// The answer owed once the rows are written, if any.
    pub fn take_ack(&mut self) -> Option<oneshot::Sender<()>> {
        match self {
            Entry::One { written, .. } => written.take(),
            Entry::Many(_) => None,
        }
    }
}

/// Where workers send rows: the collector's channel (cheap to clone).
#[derive(Debug, Clone)]
pub struct Rows(mpsc::Sender<Entry>);

impl Rows {
    /// Rows for the collector at the other end of `tx`.
    pub fn new(tx: mpsc::Sender<Entry>) -> Rows {
        Rows(tx)
    }

    /// Queues a row. False when the collector is gone (the report failed).
    pub async fn send(&self, row: Row) -> bool {
        self.0.send(Entry::One { row, written: None }).await.is_ok()
    }

    /// Sends a row and waits until it is in the report file: for a write-ahead row, which must
    /// be on disk before the call it announces is sent. False when it could not be written.
    pub async fn send_durable(&self, row: Row) -> bool {
        let (tx, rx) = oneshot::channel();
        let entry = Entry::One {
            row,
            written: Some(tx),
        };
        self.0.send(entry).await.is_ok() && rx.await.is_ok()
    }

    /// Resolves when the collector has stopped (the report failed).
    pub async fn closed(&self) {
        self.0.closed().await
    }
}

/// What a finished pool reports back.
#[derive(Debug, Clone, Copy)]
pub struct RunResult {
    /// True when the very first call stopped the run for a configuration reason
    /// ([`crate::request::StopReason::is_configuration`]): then nothing was done (exit 2).
    pub stopped_on_first_call: bool,
}

/// Runs `items` through a pool of at most `concurrency` workers. `job` turns an item into its
/// row (or none: a lookup keeps its answer elsewhere); `pending` makes the row of an item that
/// was never started. Every item gets at most one row down `rows`, exactly one when its job
/// and `pending` always give one.
pub async fn execute<I, J, Fut, P>(
    items: impl IntoIterator<Item = I>,
    concurrency: usize,
    control: Arc<Control>,
    rows: Rows,
    job: J,
    pending: P,
) -> RunResult
where
    I: Clone + Send + 'static,
    J: Fn(I) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<Row>> + Send + 'static,
    P: Fn(&I) -> Option<Row>,
{
    let watcher = watch_report(&control, &rows);
    let mut iter = items.into_iter();
    let stopped_on_first_call = match iter.next() {
        Some(first) => first_call(first, &job, &pending, &rows, &control).await,
        None => false,
    };
    let unstarted = pool(&mut iter, concurrency, &control, &rows, &job, &pending).await;
    for item in unstarted.into_iter().chain(iter) {
        send_row(&rows, pending(&item)).await;
    }
    watcher.abort();
    RunResult {
        stopped_on_first_call,
    }
}

/// The collector signals a report failure by closing its receiver: this halts the run then.
fn watch_report(control: &Arc<Control>, rows: &Rows) -> tokio::task::JoinHandle<()> {
    let (control, rows) = (control.clone(), rows.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = rows.closed() => {
                control.halt(crate::request::StopReason::Report(
                    "the report writer stopped".into(),
                ));
            }
            _ = control.stopped() => {}
        }
    })
}

/// Queues a row, if there is one. A closed channel means the report failed: the watcher has
/// halted the run.
async fn send_row(rows: &Rows, row: Option<Row>) {
    if let Some(row) = row {
        rows.send(row).await;
    }
}

/// The first item, alone. True when it stopped the run for a configuration reason: only that
/// means nothing was done; a daily limit, an outage or an interrupt on the first call leaves
/// every user `pending` for a later run.
async fn first_call<I, J, Fut, P>(
    first: I,
    job: &J,
    pending: &P,
    rows: &Rows,
    control: &Control,
) -> bool
where
    I: Clone + Send + 'static,
    J: Fn(I) -> Fut,
    Fut: Future<Output = Option<Row>> + Send + 'static,
    P: Fn(&I) -> Option<Row>,
{
    // Spawned, so that a panic in the job is caught like a pooled worker's.
    let kept = first.clone();
    let row = match tokio::spawn(job(first).in_current_span()).await {
        Ok(row) => row,
        Err(e) => panicked_row(pending(&kept), &e),
    };
    let first_pending = row.as_ref().is_none_or(|r| r.status == Status::Pending);
    send_row(rows, row).await;
    first_pending && control.reason().is_some_and(|r| r.is_configuration())
}

/// The rest of the items through the pool: a slot taken before each task is spawned, no new
/// task once the run is stopped, and every task joined (drain). Returns the item that was
/// next when the run stopped, if any: it and the rest are the caller's `pending` rows.
async fn pool<I, J, Fut, P>(
    iter: &mut impl Iterator<Item = I>,
    concurrency: usize,
    control: &Control,
    rows: &Rows,
    job: &J,
    pending: &P,
) -> Option<I>
where
    I: Clone + Send + 'static,
    J: Fn(I) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<Row>> + Send + 'static,
    P: Fn(&I) -> Option<Row>,
{
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    // The item of every task in flight, to give a row to one whose job panicked.
    let mut in_flight: HashMap<tokio::task::Id, I> = HashMap::new();
    let mut unstarted = None;
    for item in iter.by_ref() {
        if control.is_stopped() {
            unstarted = Some(item);
            break;
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => { unstarted = Some(item); break; }
            },
            _ = control.stopped() => { unstarted = Some(item); break; }
        };
        let (job, task_rows) = (job.clone(), rows.clone());
        let kept = item.clone();
        let handle = tasks.spawn(
            async move {
                if let Some(row) = job(item).await {
                    // The slot is held until the row is in the report, so a kill can lose
                    // the rows of at most `concurrency` finished users (the ones holding a
                    // slot), never a backlog of rows waiting in the channel.
                    task_rows.send_durable(row).await;
                }
                drop(permit);
            }
            .in_current_span(),
        );
        in_flight.insert(handle.id(), kept);
        while let Some(joined) = tasks.try_join_next_with_id() {
            settle(joined, &mut in_flight, pending, rows).await;
        }
    }
    // Drain: requests on the wire finish; waiting ones turn into pending rows.
    while let Some(joined) = tasks.join_next_with_id().await {
        settle(joined, &mut in_flight, pending, rows).await;
    }
    unstarted
}

/// Forgets a finished task's item; a task whose job panicked gets its item's row here
/// ([`panicked_row`]), so every item still ends in the report.
async fn settle<I, P>(
    joined: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    in_flight: &mut HashMap<tokio::task::Id, I>,
    pending: &P,
    rows: &Rows,
) where
    P: Fn(&I) -> Option<Row>,
{
    match joined {
        Ok((id, ())) => {
            in_flight.remove(&id);
        }
        Err(e) => {
            if let Some(item) = in_flight.remove(&e.id()) {
                send_row(rows, panicked_row(pending(&item), &e)).await;
            }
        }
    }
}

/// The row of an item whose job panicked: `failed` (a resume tries it again), since whether its
/// call reached Zoom is unknown. Built from the item's `pending` row, which names its user (and
/// step); `None` stays `None` (a lookup keeps its answers elsewhere).
fn panicked_row(pending: Option<Row>, e: &tokio::task::JoinError) -> Option<Row> {
    tracing::error!("a worker stopped unexpectedly: {e}");
    let mut row = pending?;
    row.status = Status::Failed;
    row.message = "internal error: the worker for this user stopped unexpectedly (see the log); \
                   whether its call reached Zoom is unknown"
        .into();
    Some(row)
}

/// The row of an item that was never attempted, or not finished, when the run stopped.
pub fn pending_row(user: &str, attempts: u32) -> Row {
    let mut row = Row::new(user, Status::Pending);
    row.attempts = attempts;
    row.message = if attempts == 0 {
        "not attempted: the run stopped early".into()
    } else {
        "not finished: the run stopped early".into()
    };
    row
}

/// A row carrying Zoom's details of an answer.
pub fn info_row(user: &str, status: Status, info: &ErrorInfo, attempts: u32) -> Row {
    let mut row = Row::new(user, status);
    row.http_status = info.http_status;
    row.error_code = info.code;
    row.message = info.message.clone().into();
    row.tracking_id = info.tracking_id.clone();
    row.attempts = attempts;
    row
}

/// The row for a verdict that is not the call's success: shared by every kind of call, so a
/// 404, a give-up or a stop reads the same in every report. `rejected` says what a final 4xx
/// means for this call (`failed` for a revoke; `refused` or `failed` for offboarding steps).
pub fn settled_row(user: &str, settled: &Settled, rejected: impl Fn(&ErrorInfo) -> Status) -> Row {
    let attempts = settled.attempts;
    match &settled.verdict {
        Verdict::Done { http_status } => {
            // Callers handle their success; a generic one is still a true row.
            let mut row = Row::new(user, Status::Failed);
            row.http_status = Some(*http_status);
            row.attempts = attempts;
            row
        }
        Verdict::NotFound(info) => info_row(user, Status::NotFound, info, attempts),
        Verdict::Rejected(info) => {
            tracing::info!(user, http = ?info.http_status, code = ?info.code,
                tracking_id = ?info.tracking_id, "rejected: {}", info.message);
            info_row(user, rejected(info), info, attempts)
        }
        Verdict::GaveUp(info) => info_row(user, Status::Failed, info, attempts),
        Verdict::Halted(Some(info)) => {
            let mut row = info_row(user, Status::Pending, info, attempts);
            if info.http_status == Some(429) {
                row.message = format!("daily limit reached: {}", info.message).into();
            }
            row
        }
        Verdict::Halted(None) | Verdict::Interrupted => pending_row(user, attempts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    /// Bug 6 of issue 17: a worker that panics (the first call's or a pooled one) still leaves
    /// its item a row, so every input user ends in the report.
    #[tokio::test]
    async fn a_panicking_worker_still_leaves_its_item_a_row() {
        let (tx, mut rx) = mpsc::channel(64);
        let rows = Rows::new(tx);
        let control = Control::new(&CancellationToken::new());
        let collector = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(mut e) = rx.recv().await {
                if let Some(ack) = e.take_ack() {
                    let _ = ack.send(());
                }
                got.extend(e.rows().iter().cloned());
            }
            got
        });
        execute(
            0..6u32,
            2,
            control,
            rows,
            |i: u32| async move {
                assert!(i != 0 && i != 3, "worker {i} panics");
                Some(Row::new(i.to_string(), Status::Revoked))
            },
            |i: &u32| Some(pending_row(&i.to_string(), 0)),
        )
        .await;
        let mut got = collector.await.unwrap();
        got.sort_by(|a, b| a.user.cmp(&b.user));
        let users: Vec<&str> = got.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(users, ["0", "1", "2", "3", "4", "5"]);
        for r in &got {
            let want = if r.user == "0" || r.user == "3" {
                Status::Failed
            } else {
                Status::Revoked
            };
            assert_eq!(r.status, want, "{r:?}");
        }
    }
}
