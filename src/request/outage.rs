//! Telling an account-wide outage from one user's trouble, and waiting it out politely.
//!
//! When Zoom (or the path to it, or the token endpoint) is down, every call fails with 5xx,
//! timeouts or dropped connections. Retrying each user on its own would burn every user's
//! `--max-retries` in a minute, mark them all `failed` although none of them is at fault, and
//! keep sending calls that Zoom counts against the app's error ratio. So the run watches the
//! answers of all its calls together:
//! - the last [`WINDOW`] answers are kept; when at least [`MIN_SEEN`] are known and three
//!   quarters of them are such failures, the run is in an outage;
//! - in an outage no new call starts except one probe at a time, spaced by a backoff that
//!   doubles from [`FIRST_PROBE`] up to [`MAX_PROBE`] (jittered, so that several clients on one
//!   account do not probe in lockstep); failures in an outage are not charged to any user;
//! - any answer that is not such a failure ends the outage; calls are then let in again a few at
//!   a time (1, 2, 4, ... in flight, doubling with each good answer), so a recovering server is
//!   not met with the whole backlog at once;
//! - an outage longer than `--outage-wait` stops the run: the rest stays `pending` (exit 3).
//!
//! A single user that keeps failing while the others succeed never trips this (most answers
//! are good), so it is still `failed` after its retries.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;

/// Answers remembered to judge the account's health.
pub const WINDOW: usize = 20;
/// Answers needed before the run can be judged to be in an outage.
pub const MIN_SEEN: usize = 8;
/// The first wait between probes.
pub const FIRST_PROBE: Duration = Duration::from_millis(500);
/// The longest wait between probes.
pub const MAX_PROBE: Duration = Duration::from_secs(15);
/// Calls in flight after which the ramp after an outage ends.
const RAMP_END: usize = 64;

/// The outage has lasted longer than `--outage-wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageTooLong {
    /// How long it had lasted.
    pub lasted: Duration,
}

/// An ongoing outage.
#[derive(Debug)]
struct Outage {
    /// When it was detected.
    since: Instant,
    /// When the next probe may start.
    next_probe: Instant,
    /// The wait before the probe after next.
    probe_wait: Duration,
    /// A probe is on the wire.
    probing: bool,
}

#[derive(Debug, Default)]
struct State {
    /// The last answers: `true` for a failure that an outage explains.
    recent: VecDeque<bool>,
    /// Set while the account is judged down.
    outage: Option<Outage>,
    /// After an outage: how many calls may be in flight (`None`: no limit).
    ramp: Option<usize>,
    /// Calls admitted and not yet reported.
    in_flight: usize,
    /// Outages seen in this run, for the summary and tests.
    outages: u64,
}

/// The run's view of the account's health, shared by every call of the run.
#[derive(Debug)]
pub struct Health {
    /// How long an outage is waited out.
    outage_wait: Duration,
    state: Mutex<State>,
    /// Bumped on every change that may let a waiting call in.
    changed: watch::Sender<u64>,
}

/// A call let in by [`Health::admit`]; report its answer with [`Health::report`].
#[derive(Debug)]
pub struct Admission {
    /// This call is the outage's probe.
    probe: bool,
}

impl Health {
    /// Health for a run that waits out outages for up to `outage_wait`.
    pub fn new(outage_wait: Duration) -> Health {
        Health {
            outage_wait,
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// True while the account is judged down.
    pub fn in_outage(&self) -> bool {
        self.lock().outage.is_some()
    }

    /// Outages seen so far.
    pub fn outages(&self) -> u64 {
        self.lock().outages
    }

    /// Waits until this call may start: at once when the account is healthy, one probe at a
    /// time in an outage, a few at a time while ramping up after one.
    pub async fn admit(&self) -> Result<Admission, OutageTooLong> {
        let mut rx = self.changed.subscribe();
        loop {
            // Marked seen before the state is read, so a change after the read wakes us.
            rx.borrow_and_update();
            let wake = {
                let mut g = self.lock();
                let now = Instant::now();
                match g.outage.as_mut() {
                    None => {
                        if g.ramp.is_none_or(|limit| g.in_flight < limit) {
                            g.in_flight += 1;
                            return Ok(Admission { probe: false });
                        }
                        None
                    }
                    Some(o) => {
                        let lasted = now.duration_since(o.since);
                        if lasted > self.outage_wait {
                            return Err(OutageTooLong { lasted });
                        }
                        if !o.probing && now >= o.next_probe {
                            o.probing = true;
                            g.in_flight += 1;
                            return Ok(Admission { probe: true });
                        }
                        let deadline = o.since + self.outage_wait + Duration::from_millis(1);
                        Some(if o.probing {
                            deadline
                        } else {
                            o.next_probe.min(deadline)
                        })
                    }
                }
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = rx.changed() => {}
                    }
                }
                None => {
                    let _ = rx.changed().await;
                }
            }
        }
    }

    /// Reports the answer of an admitted call: `failed` for a 5xx, a timeout or a dropped
    /// connection (any answer from Zoom otherwise, a 4xx or a 429 included, shows it is up).
    /// Returns true when the failure is explained by an outage: it is not charged to the call.
    pub fn report(&self, admission: Admission, failed: bool) -> bool {
        let explained = {
            let mut g = self.lock();
            g.in_flight = g.in_flight.saturating_sub(1);
            g.recent.push_back(failed);
            while g.recent.len() > WINDOW {
                g.recent.pop_front();
            }
            let now = Instant::now();
            if !failed {
                if let Some(o) = g.outage.take() {
                    tracing::warn!(
                        after_secs = now.duration_since(o.since).as_secs_f64(),
                        "Zoom answers again: resuming, a few calls at a time"
                    );
                    g.recent.clear();
                    g.ramp = Some(1);
                } else if let Some(limit) = g.ramp {
                    g.ramp = (limit * 2 < RAMP_END).then_some(limit * 2);
                }
                false
            } else if let Some(o) = g.outage.as_mut() {
                if admission.probe {
                    o.probing = false;
                    o.next_probe = now + jittered(o.probe_wait);
                    o.probe_wait = (o.probe_wait * 2).min(MAX_PROBE);
                }
                true
            } else {
                let fails = g.recent.iter().filter(|f| **f).count();
                if g.recent.len() >= MIN_SEEN && fails * 4 >= g.recent.len() * 3 {
                    tracing::warn!(
                        failing = fails,
                        of = g.recent.len(),
                        "most calls are failing (5xx, timeouts, dropped connections): Zoom \
                         looks down; probing with one call at a time"
                    );
                    g.outages += 1;
                    g.ramp = None;
                    g.outage = Some(Outage {
                        since: now,
                        next_probe: now + jittered(FIRST_PROBE),
                        probe_wait: FIRST_PROBE * 2,
                        probing: false,
                    });
                    true
                } else {
                    false
                }
            }
        };
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        explained
    }

    /// Gives an admission back without an answer (the call was stopped before it was sent).
    pub fn release(&self, admission: Admission) {
        {
            let mut g = self.lock();
            g.in_flight = g.in_flight.saturating_sub(1);
            if let (true, Some(o)) = (admission.probe, g.outage.as_mut()) {
                o.probing = false;
            }
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// `d` give or take a fifth.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.8..=1.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(h: &Health, failed: bool) -> bool {
        let a = h.admit().await.unwrap();
        h.report(a, failed)
    }

    #[tokio::test(start_paused = true)]
    async fn most_calls_failing_is_an_outage_and_a_good_answer_ends_it() {
        let h = Health::new(Duration::from_secs(600));
        for _ in 0..7 {
            assert!(
                !answer(&h, true).await,
                "not judged before MIN_SEEN answers"
            );
        }
        assert!(answer(&h, true).await);
        assert!(h.in_outage());
        // One probe at a time, after a wait.
        let start = Instant::now();
        let probe = h.admit().await.unwrap();
        assert!(probe.probe);
        assert!(start.elapsed() >= FIRST_PROBE.mul_f64(0.8));
        assert!(h.report(probe, true), "a failed probe is explained");
        let probe = h.admit().await.unwrap();
        assert!(!h.report(probe, false));
        assert!(!h.in_outage());
        assert_eq!(h.outages(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_failing_user_among_good_answers_is_not_an_outage() {
        let h = Health::new(Duration::from_secs(600));
        for i in 0..100 {
            assert!(!answer(&h, i % 3 == 0).await);
        }
        assert!(!h.in_outage());
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_longer_than_the_wait_stops() {
        let h = Health::new(Duration::from_secs(20));
        for _ in 0..8 {
            answer(&h, true).await;
        }
        let start = Instant::now();
        let err = loop {
            match h.admit().await {
                Ok(a) => {
                    h.report(a, true);
                }
                Err(e) => break e,
            }
        };
        assert!(err.lasted > Duration::from_secs(20));
        assert!(start.elapsed() <= Duration::from_secs(21));
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_outage_calls_ramp_up() {
        let h = Health::new(Duration::from_secs(600));
        for _ in 0..8 {
            answer(&h, true).await;
        }
        let probe = h.admit().await.unwrap();
        h.report(probe, false);
        // One in flight is allowed; a second waits until the first reports.
        let first = h.admit().await.unwrap();
        let second = tokio::time::timeout(Duration::from_secs(5), h.admit()).await;
        assert!(second.is_err(), "the ramp starts at one call in flight");
        h.report(first, false);
        let a = h.admit().await.unwrap();
        let b = h.admit().await.unwrap();
        h.release(a);
        h.release(b);
    }
}
