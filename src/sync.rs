//! The one poison-tolerant lock of the crate.
//!
//! A mutex is poisoned when a thread panicked while holding it. Every lock here guards plain
//! counters, flags or queues that stay consistent at each statement (the bar, the pacer's gate,
//! a stop reason, the simulator's state), and a run that has already lost one worker to a
//! panic must still write every other user's row and stop cleanly. So a poisoned lock is
//! taken as it is, never unwrapped into a second panic.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking it over if a panicking holder poisoned it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
