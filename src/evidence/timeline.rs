//! The run's per-second timeline: API requests sent, 429s and failed answers (5xx, timeouts,
//! dropped connections) in each second since the run started, for the run log's end entry and
//! the HTML chart.
//!
//! The one request policy (`crate::request`) records into it where it already counts requests
//! and 429s, so every Zoom call is in it and token requests are not. A mutex over a growing
//! vector: a few dozen records a second, each a few nanoseconds under the lock; a run of a day is
//! 86,400 entries of 24 bytes.

use std::sync::Mutex;
use std::time::Instant;

/// What happened, for [`Timeline::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// An API request was sent (retries included).
    Sent,
    /// An answer was a 429.
    Throttled,
    /// An answer was a 5xx, or the request timed out or lost its connection.
    FailedAnswer,
}

/// Counts per second since `start`; see the module header.
#[derive(Debug)]
pub struct Timeline {
    /// The run's start: second 0 begins here.
    start: Instant,
    /// `[requests, throttled, failed answers]` for each second since `start`.
    seconds: Mutex<Vec<[u64; 3]>>,
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline::starting(Instant::now())
    }
}

impl Timeline {
    /// A timeline whose second 0 begins at `start`.
    pub fn starting(start: Instant) -> Timeline {
        Timeline {
            start,
            seconds: Mutex::new(Vec::new()),
        }
    }

    /// Counts `event` in the current second.
    pub fn record(&self, event: Event) {
        self.record_at(event, Instant::now());
    }

    /// Counts `event` in the second that `at` falls in (one before the start counts in 0).
    pub fn record_at(&self, event: Event, at: Instant) {
        let second = at.saturating_duration_since(self.start).as_secs() as usize;
        let column = match event {
            Event::Sent => 0,
            Event::Throttled => 1,
            Event::FailedAnswer => 2,
        };
        // A poisoned lock only means another thread panicked mid-record: the counts are still
        // counts, so they are kept.
        let mut seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        if seconds.len() <= second {
            seconds.resize(second + 1, [0; 3]);
        }
        seconds[second][column] += 1;
    }

    /// The run log's timeline: `[second, requests, throttled, failed answers]` for every second
    /// from the start to `until`, quiet seconds included, so that an outage shows as the
    /// seconds it lasted.
    pub fn entries(&self, until: Instant) -> Vec<[u64; 4]> {
        let last = until.saturating_duration_since(self.start).as_secs() as usize;
        let seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        (0..=last.max(seconds.len().saturating_sub(1)))
            .map(|s| {
                let [r, t, f] = seconds.get(s).copied().unwrap_or_default();
                [s as u64, r, t, f]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn counts_land_in_their_second_and_quiet_seconds_are_listed() {
        let t0 = Instant::now();
        let t = Timeline::starting(t0);
        let at = |ms| t0 + Duration::from_millis(ms);
        t.record_at(Event::Sent, at(10));
        t.record_at(Event::Sent, at(999));
        t.record_at(Event::Throttled, at(1_000));
        t.record_at(Event::Sent, at(3_500));
        t.record_at(Event::FailedAnswer, at(3_900));
        assert_eq!(
            t.entries(at(4_200)),
            vec![
                [0, 2, 0, 0],
                [1, 0, 1, 0],
                [2, 0, 0, 0],
                [3, 1, 0, 1],
                [4, 0, 0, 0]
            ]
        );
        assert_eq!(Timeline::starting(t0).entries(t0), vec![[0, 0, 0, 0]]);
    }
}
