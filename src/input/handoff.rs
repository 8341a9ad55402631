//! One input file read on two threads: this one reads and validates its rows, a second one
//! de-duplicates them and builds the batch, a thousand rows behind.
//!
//! The two halves cost about the same on a million-row file (reading, splitting and validating
//! the rows; then the key table, whose every insert is a random memory access or two), and the
//! whole input is read before the first request, so a large dry run waited for both, one after
//! the other, on one core. The order of the rows is kept (they are added in the order read, so
//! the first occurrence still wins), and so is every message: only where the work happens moves.

use std::cell::Cell;
use std::io::BufRead;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::table::{Entry, Target, read_table};
use super::{Builder, Counted, Dialect, InputError, SAMPLE_ROWS, UserId, rows_left};

/// Rows handed over at once: few enough to keep the second thread close behind, enough that
/// handing over costs nothing next to the rows.
const BATCH: usize = 1024;

/// Batches read and not yet taken by the second thread, at most.
const IN_FLIGHT: usize = 4;

/// A row as the reading thread leaves it: validated and owned.
pub(super) enum Row {
    /// A valid user, with its row's transfer-column cell.
    User { user: UserId, target: TargetCell },
    /// A cell that is not a valid user (trimmed), or the text of a row with no usable cell; and
    /// why.
    Invalid { raw: String, reason: String },
}

/// A row's transfer-column cell, owned ([`Target`] borrows from the row being read).
pub(super) enum TargetCell {
    Blank,
    Value(String),
    NotUtf8(String),
}

impl TargetCell {
    /// The cell as [`Target`], which the transfer builder takes.
    pub(super) fn as_target(&self) -> Target<'_> {
        match self {
            TargetCell::Blank => Target::Blank,
            TargetCell::Value(v) => Target::Value(v),
            TargetCell::NotUtf8(v) => Target::NotUtf8(v.clone()),
        }
    }
}

/// Validates one entry read from a file (or given with `--user`).
pub(super) fn parse(entry: Entry<'_>, target: Target<'_>) -> Row {
    match entry {
        Entry::Value(raw) => match UserId::parse(raw) {
            Ok(user) => Row::User {
                user,
                target: match target {
                    Target::Blank => TargetCell::Blank,
                    Target::Value(v) => TargetCell::Value(v.to_owned()),
                    Target::NotUtf8(v) => TargetCell::NotUtf8(v),
                },
            },
            Err(e) => Row::Invalid {
                raw: raw.trim().to_owned(),
                reason: e.reason,
            },
        },
        Entry::Unusable { row, reason } => Row::Invalid { raw: row, reason },
    }
}

/// Rows on their way to the second thread, and the room to make before adding them.
struct Handoff {
    rows: Vec<(u64, Row)>,
    /// Set once [`SAMPLE_ROWS`] rows are read from a file whose size is known: how many more
    /// to make room for ([`rows_left`]).
    reserve: Option<usize>,
}

impl Builder<'_> {
    /// Reads one source of `size` bytes, if known, into the batch, the de-duplication on a
    /// second thread. Once [`SAMPLE_ROWS`] rows are in, the users and the key table are sized for
    /// the rest of the file at once: growing by doubling instead rehashes every key read so far
    /// at each step (a million random reads of the users the keys are recomputed from) and
    /// holds the old and the new table together.
    pub(super) fn read(
        &mut self,
        name: &str,
        src: &mut dyn BufRead,
        size: Option<u64>,
        dialect: &Dialect<'_>,
    ) -> Result<(), InputError> {
        if let Some(t) = &mut self.transfers {
            t.start_source(name);
        }
        let (rows_tx, rows_rx) = sync_channel(IN_FLIGHT);
        let (spare_tx, spare_rx) = sync_channel(IN_FLIGHT + 1);
        std::thread::scope(|scope| {
            let adder = scope.spawn(move || self.add_handed(name, rows_rx, spare_tx));
            let read = read_handing(name, src, size, dialect, rows_tx, &spare_rx);
            match adder.join() {
                Ok(()) => read,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// The second thread: adds every row handed over, in order, and hands the empty batches
    /// back for their memory.
    fn add_handed(
        &mut self,
        name: &str,
        rows: Receiver<Handoff>,
        spare: SyncSender<Vec<(u64, Row)>>,
    ) {
        for Handoff { mut rows, reserve } in rows {
            if let Some(more) = reserve {
                self.reserve(more);
            }
            for (line, row) in rows.drain(..) {
                self.add_row(name, line, row);
            }
            let _ = spare.try_send(rows);
        }
    }
}

/// The reading thread: every row of `src` read and validated, handed over [`BATCH`] at a time.
/// If the second thread is gone (it panicked), rows are read to the end and dropped: its panic
/// is what the caller reports.
fn read_handing(
    name: &str,
    src: &mut dyn BufRead,
    size: Option<u64>,
    dialect: &Dialect<'_>,
    rows_tx: SyncSender<Handoff>,
    spare: &Receiver<Vec<(u64, Row)>>,
) -> Result<(), InputError> {
    let consumed = Cell::new(0);
    let mut src = Counted {
        inner: src,
        consumed: &consumed,
    };
    let mut batch = Vec::with_capacity(BATCH);
    let (mut read, mut reserve) = (0, None);
    let result = read_table(
        name,
        &mut src,
        dialect.delimiter,
        dialect.column,
        dialect.transfer,
        &mut |line, entry, target| {
            read += 1;
            if read == SAMPLE_ROWS
                && let Some(size) = size
            {
                reserve = Some(rows_left(size, consumed.get(), read));
            }
            batch.push((line, parse(entry, target)));
            if batch.len() == BATCH {
                let next = spare
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                let rows = std::mem::replace(&mut batch, next);
                let reserve = reserve.take();
                let _ = rows_tx.send(Handoff { rows, reserve });
            }
            Ok(())
        },
    );
    if !batch.is_empty() {
        let _ = rows_tx.send(Handoff {
            rows: batch,
            reserve,
        });
    }
    result
}
