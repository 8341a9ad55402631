//! Pacing: how fast requests start, shared by every worker.
//!
//! Two layers, both per rate-limit label (one [`Pacer`] for the run's Light calls, another for
//! Medium listing):
//! 1. An adaptive gate that does the pacing. It hands out start times on absolute deadlines
//!    (`next_slot`), so the rate does not drift with scheduling delays: a late wake-up does not
//!    delay the next slot. The slots are spaced a little (1.5%) wider than the current rate, so
//!    that jitter between our clock and the server's arrival times cannot put `rate + 1`
//!    requests into one of Zoom's windows. The gate is AIMD with a learned ceiling (after TCP
//!    CUBIC and the AWS SDKs' adaptive retry mode): the current rate starts at `--rate`.
//! 2. A hard ceiling behind the gate: a `governor` GCRA limiter (`ceiling_quota`), burst 2 and
//!    a period just under the gate's spacing, and behind it a window guard that lets no
//!    one-second window hold more than `floor(--rate)` starts, whatever the workers do. Both
//!    bind only when the gate's starts would come closer than they allow (a late wake-up
//!    followed by an on-time one, a stalled thread catching up); the gate's deadlines are
//!    absolute, so such a delay never moves the slots after it.
//!
//! # Which 429s slow the run
//! A per-second 429 has two causes that call for opposite answers:
//! - **Window-edge jitter.** Zoom counts a request when it reaches its window, some tens of ms
//!   after we sent it, by a delay that varies. At our own ceiling a request sent just before a
//!   window edge sometimes counts in the next window, which then holds one too many: a sprinkle
//!   of 429s, well under one a second, while everything else gets through. Each costs one retry
//!   slot. Answering it with a cut and a pause cost most of a window each time (issue 11: 0.89 to
//!   0.94 efficiency at `--rate 100` against a server counting 30 to 120 ms after sending).
//! - **A neighbour**: another app spending the same account's budget. Then 429s come in every
//!   window, several a second, and less gets through than we send.
//!
//! So each 429 is read against the 429s of the last second, counting it:
//! - at most `EDGE_SHARE` (5%) of the current rate, or one: **window-edge jitter**. Only
//!   counted; its user retries at the next slot.
//! - up to `PAUSE_SHARE` (15%): **just over the budget left** (a neighbour, or our own probe
//!   past the learned ceiling). The rate is cut, at most to 95% of it, no pause: the budget was
//!   overrun by a few requests, not spent.
//! - more, or a `Retry-After` longer than a second: **the window is spent**. A cut of 10% to 30%
//!   and a pause of every worker for the rest of the window (0.4-0.6 s), or for the hint.
//!
//! Zoom sends `Retry-After` with the daily limit only, but a server that sends `Retry-After: 1`
//! (or `0`) with every per-second 429 says no more than the 429 itself: the rest of a
//! one-second window, rounded to whole seconds. Such a hint is read as no hint (`WINDOW_HINT`);
//! the throttled request itself still goes no sooner than its next slot.
//!
//! A cut measures what got through in the last second, remembers it as the ceiling (`w_max`)
//! and drops to 95% of it, within the bounds above (one sparse second undercounts the budget).
//! The rate then climbs back: fast to 95% of the ceiling, slowly (1% of it per second) past
//! it, and faster again once well above it (the neighbour may have gone). Cuts are at most one
//! a second (`CUT_COOLDOWN`): later 429s of the same burst only pause.
//!
//! Against windows that count 30-120 ms after arrival, this reading keeps 0.975 of `--rate`
//! alone and most of what a neighbour leaves (BENCHMARKS.md has the runs).
//!
//! # Why governor sits under the gate, not in it
//! governor's spacing is relative to the last start, so as the pacer it lost every timer
//! overshoot for good (tokio wakes on whole-millisecond ticks); the gate's absolute deadlines do
//! not drift. As the ceiling it must never bind in steady state, hence burst 2 and a period just
//! under the gate's spacing (`ceiling_quota`); burst 2 alone can still let `floor(rate) + 1`
//! starts span just over a second, so the window guard keeps the contract's bound exactly. It
//! never binds in steady state (the gate is 1.5% under the rate) and costs one `VecDeque` push
//! per start. The arrangements tried, with their figures, are in BENCHMARKS.md ("governor as
//! the ceiling").
//!
//! Its quota cannot change in place, so the adaptive part stays our own gate. Its clock is
//! tokio's (a [`governor::clock::Clock`] over [`tokio::time::Instant`]): the gate and the
//! ceiling read one clock, and neither can jump the way governor's default quanta clock can
//! (governor issue 299).

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use rand::Rng;
use tokio::time::Instant;

/// Fraction of its current rate the gate actually schedules (see the module doc).
const SAFETY: f64 = 0.985;
/// Under 3/s the hard ceiling's period is this much longer than `1/--rate` (burst 1, so it keeps
/// the bound on its own): `--rate` periods then span more than a second, yet the period stays
/// shorter than the gate's spacing, so it does not bind in steady state.
const CEILING_MARGIN: f64 = 0.005;
/// The window guard's span is this much over a second: room for the jitter between our start
/// times and Zoom's arrival times. The gate's own spacing puts `floor(rate) + 1` starts 1.5%
/// over a second apart, so 1.2% never binds in steady state (3 ms to spare at 80/s for tokio's
/// 1 ms timer ticks) and binds only on starts bunched after a stall. It was 0.5%: 5 ms of
/// arrival jitter on a loaded machine put 81 requests into one second at `--rate 80` (bench
/// `offboard-3step`, one run of four).
const GUARD_MARGIN: f64 = 0.012;
/// A 429 slows the run only if the last second held more than this share of the current
/// rate in 429s...
const EDGE_SHARE: f64 = 0.05;
/// ...and more than this many: a lone 429 is window-edge jitter.
const EDGE_MIN: usize = 1;
/// A throttle also pauses every worker only if the last second held more than this share of
/// the current rate in 429s (or the server sent a `Retry-After` over `WINDOW_HINT`): the window
/// is spent.
const PAUSE_SHARE: f64 = 0.15;
/// A throttle cuts the rate to at most this share of the current rate (one that pauses)...
const MAX_CUT: f64 = 0.9;
/// ...or this share (one that does not: we are only just over the budget left)...
const MILD_CUT: f64 = 0.95;
/// ...and to this share of what got through in the last second...
const BELOW_MEASURED: f64 = 0.95;
/// ...but never below this share of the current rate in one cut (a sparse second undercounts).
const BLIND_CUT: f64 = 0.7;
/// The adaptive rate never drops below this share of `--rate` (or 0.5/s).
const FLOOR_SHARE: f64 = 0.05;
/// Climb speeds, as shares per second: below 95% of the learned ceiling (of the ceiling),
/// near it (of the ceiling), and above 110% of it (of `--rate`).
const CLIMB_FAST: f64 = 0.25;
const CLIMB_PROBE: f64 = 0.01;
const CLIMB_FREE: f64 = 0.05;
/// A per-second 429's `Retry-After` of up to this long says nothing the 429 does not: HTTP's
/// delta-seconds are whole, so the rest of a one-second window rounds up to `1` (or down to `0`).
/// Such a hint is read as no hint; only a longer one says the budget is spent for longer.
const WINDOW_HINT: Duration = Duration::from_secs(1);
/// Throttles within this long after a cut are echoes of the same burst: they pause but do not cut again.
const CUT_COOLDOWN: Duration = Duration::from_millis(1000);
/// How far back "the last second" reaches, for what got through and for the 429s.
const SECOND: Duration = Duration::from_secs(1);

/// Error for a rate that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("rate must be a positive number of requests per second, up to 10000 (got {0})")]
pub struct BadRate(pub f64);

/// governor's view of tokio's clock: one clock for the gate and the ceiling.
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

/// A [`tokio::time::Instant`] as governor's clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, d: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(d))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, d: Nanos) -> Self {
        TokioInstant(self.0.checked_sub(Duration::from(d)).unwrap_or(self.0))
    }
}

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

/// The hard ceiling: a GCRA limiter on tokio's clock.
type Ceiling = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

#[derive(Debug)]
struct Gate {
    /// The current adaptive rate (requests per second).
    rate: f64,
    /// The earliest moment the next request may start at the current rate.
    next_slot: Instant,
    /// No request starts before this (set by a throttle).
    paused_until: Instant,
    /// When the rate was last cut (for the cooldown) or last raised (for the climb).
    last_change: Instant,
    /// When the last cut happened; `None` before any.
    last_cut: Option<Instant>,
    /// Bumped by every throttle that pauses: a caller whose slot was handed out before the
    /// bump must take a new one (its slot may fall inside the pause).
    epoch: u64,
    /// The learned ceiling: what got through in the second before the last throttle.
    w_max: Option<f64>,
    /// Answers that were not throttled, in the last second (for measuring `w_max`).
    recent_ok: VecDeque<Instant>,
    /// Per-second 429s in the last second (edge jitter or a neighbour: see the module doc).
    recent_throttles: VecDeque<Instant>,
}

/// The shared pacer. One per rate-limit label: the run's (Light), and `users`' own (Medium).
#[derive(Debug)]
pub struct Pacer {
    /// `--rate`: the ceiling the adaptive rate climbs back to.
    max_rate: f64,
    /// The hard ceiling: governor's GCRA, burst 2 and a period just under the gate's spacing
    /// from 3/s up (`ceiling_quota`).
    ceiling: Ceiling,
    /// The contract's bound, exactly: the start times of the last `floor(--rate)` requests; a
    /// request starts only once the oldest is more than [the guard window] old (see the module doc).
    starts: Mutex<VecDeque<Instant>>,
    /// `floor(--rate)`, at least 1.
    cap: usize,
    /// The guard's window: a second plus room for arrival jitter (`1/rate` below 1/s).
    window: Duration,
    /// The adaptive gate.
    gate: Mutex<Gate>,
    /// Throttles seen (per-second 429s), for the summary.
    throttles: AtomicU64,
    /// Of those, the ones read as window-edge jitter (no cut, no pause).
    edge_throttles: AtomicU64,
}

impl Pacer {
    /// A pacer for `rate` requests per second.
    pub fn new(rate: f64) -> Result<Pacer, BadRate> {
        if !rate.is_finite() || rate <= 0.0 || rate > 10_000.0 {
            return Err(BadRate(rate));
        }
        let quota = ceiling_quota(rate).ok_or(BadRate(rate))?;
        let now = Instant::now();
        Ok(Pacer {
            max_rate: rate,
            ceiling: RateLimiter::direct_with_clock(quota, TokioClock),
            starts: Mutex::new(VecDeque::new()),
            // `rate` ≤ 10 000 here, so the cast is exact.
            cap: (rate.floor() as usize).max(1),
            window: Duration::from_secs_f64((1.0 / rate).max(1.0) * (1.0 + GUARD_MARGIN)),
            gate: Mutex::new(Gate {
                rate,
                next_slot: now,
                paused_until: now,
                last_change: now,
                last_cut: None,
                epoch: 0,
                w_max: None,
                recent_ok: VecDeque::new(),
                recent_throttles: VecDeque::new(),
            }),
            throttles: 0.into(),
            edge_throttles: 0.into(),
        })
    }

    /// The configured ceiling (`--rate`).
    pub fn max_rate(&self) -> f64 {
        self.max_rate
    }

    /// The current adaptive rate.
    pub fn current_rate(&self) -> f64 {
        self.lock().rate
    }

    /// Per-second throttles seen so far.
    pub fn throttles(&self) -> u64 {
        self.throttles.load(Ordering::Relaxed)
    }

    /// Of [`Pacer::throttles`], those read as window-edge jitter, which neither cut the rate
    /// nor paused the run (see the module doc): for logs and tests.
    pub fn edge_throttles(&self) -> u64 {
        self.edge_throttles.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gate> {
        // A panic while holding this lock leaves plain numbers behind: still usable.
        crate::sync::lock(&self.gate)
    }

    /// Waits until this caller may start one request, and counts it as started.
    pub async fn acquire(&self) {
        'slot: loop {
            let (slot, epoch) = {
                let mut g = self.lock();
                let now = Instant::now();
                climb(&mut g, now, self.max_rate);
                let start = g.next_slot.max(now).max(g.paused_until);
                g.next_slot = start + Duration::from_secs_f64(1.0 / (g.rate * SAFETY));
                (start, g.epoch)
            };
            tokio::time::sleep_until(slot).await;
            // The hard ceiling, checked and recorded at the moment of starting; normally free
            // at once, since the gate runs under it.
            loop {
                // A throttle while we slept invalidates the slot: queue again behind the pause.
                if self.lock().epoch != epoch {
                    continue 'slot;
                }
                let wait = {
                    let mut starts = crate::sync::lock(&self.starts);
                    let now = Instant::now();
                    let full = starts.len() >= self.cap;
                    match starts.front().copied() {
                        Some(oldest) if full && now < oldest + self.window => {
                            Some(oldest + self.window - now)
                        }
                        _ => match self.ceiling.check() {
                            Ok(()) => {
                                if full {
                                    starts.pop_front();
                                }
                                starts.push_back(now);
                                None
                            }
                            Err(not_until) => Some(not_until.wait_time_from(TokioClock.now())),
                        },
                    }
                };
                match wait {
                    Some(w) => tokio::time::sleep(w).await,
                    None => return,
                }
            }
        }
    }

    /// A per-second 429: window-edge jitter is only counted; anything more cuts the rate
    /// (once per burst) and pauses every worker (see the module doc).
    pub fn on_throttle(&self, retry_after: Option<Duration>) {
        self.throttles.fetch_add(1, Ordering::Relaxed);
        // Honoured as a pause of every worker only when it says more than the window's rounding:
        // obeying `Retry-After: 1` on each edge 429 stalled the whole run for a second each time
        // (a fake counting 30-120 ms after sending, `--rate 100`: 0.905 efficiency, was 0.970
        // without the header).
        let retry_after = retry_after.filter(|d| *d > WINDOW_HINT);
        let mut g = self.lock();
        let now = Instant::now();
        g.recent_throttles.push_back(now);
        prune(&mut g.recent_throttles, now);
        let in_last_second = g.recent_throttles.len();
        let tolerated = ((g.rate * EDGE_SHARE) as usize).max(EDGE_MIN);
        if retry_after.is_none() && in_last_second <= tolerated {
            self.edge_throttles.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                rate = g.rate,
                in_last_second,
                "throttled at a window edge: retrying"
            );
            return;
        }
        let spent = retry_after.is_some() || in_last_second as f64 > g.rate * PAUSE_SHARE;
        let cut_recently = g
            .last_cut
            .is_some_and(|t| now.duration_since(t) < CUT_COOLDOWN);
        if !cut_recently {
            prune(&mut g.recent_ok, now);
            let measured = g.recent_ok.len() as f64;
            // What got through says where the budget is, but one second of a sparse run (a few
            // users, or the start) undercounts it: no single cut goes below BLIND_CUT.
            let most = if spent { MAX_CUT } else { MILD_CUT };
            let target = (measured * BELOW_MEASURED).clamp(g.rate * BLIND_CUT, g.rate * most);
            g.rate = target.max(self.floor());
            g.w_max = Some(measured.max(g.rate));
            g.last_cut = Some(now);
            g.last_change = now;
            tracing::debug!(
                rate = g.rate,
                measured,
                spent,
                "throttled: slowing the whole run"
            );
        }
        if !spent {
            return;
        }
        let pause = retry_after.unwrap_or_else(|| {
            // Half a second on average: Zoom's windows are one second, so the rest of the
            // current one is spent (half of it, on average), and the cut has already lowered the
            // rate. A full second cost a second of the whole run's budget per throttle (measured
            // with a neighbour taking half: 15% of the throughput). Jittered so that several
            // clients sharing an account don't come back in lockstep (ZoomNet issue 72).
            Duration::from_millis(rand::rng().random_range(400..=600))
        });
        g.epoch += 1;
        let until = now + pause;
        if until > g.paused_until {
            g.paused_until = until;
        }
        if g.next_slot < g.paused_until {
            g.next_slot = g.paused_until;
        }
    }

    /// An answer that was not a throttle: counts towards the measured rate.
    pub fn on_success(&self) {
        let mut g = self.lock();
        let now = Instant::now();
        g.recent_ok.push_back(now);
        prune(&mut g.recent_ok, now);
    }

    fn floor(&self) -> f64 {
        (self.max_rate * FLOOR_SHARE).max(0.5).min(self.max_rate)
    }
}

/// The hard ceiling's quota for `rate`: a GCRA that binds only where two starts come closer
/// than the gate spaces them (see the module doc).
///
/// From 3/s up: burst 2 and a period 0.1% under the gate's spacing. A start may come up to a
/// period early, so a wake-up rounded up to tokio's 1 ms tick never pushes the limiter's
/// schedule back, and it never binds in steady state. It lets `floor(rate) + 1` starts into a
/// second at most; the window guard behind it keeps the contract's `floor(rate)`.
///
/// A period any longer would exceed the gate's spacing at middle rates and bind (BENCHMARKS.md,
/// "governor as the ceiling", the `--rate 30` row).
///
/// Under 3/s a tick is nothing against the period: burst 1, a period of `1.005 / rate`.
fn ceiling_quota(rate: f64) -> Option<Quota> {
    let gate = 1.0 / (rate * SAFETY);
    if rate >= 3.0 {
        // Burst 2, a period just under the gate's spacing: it never binds in steady state, a
        // start may come a period early (so tick rounding never adds up), and two starts closer
        // than a period each are held back. The contract's exact bound is the window guard's.
        return Quota::with_period(Duration::from_secs_f64(gate * 0.999))
            .map(|q| q.allow_burst(NonZeroU32::MIN.saturating_add(1)));
    }
    let single = (1.0 + CEILING_MARGIN) / rate;
    Quota::with_period(Duration::from_secs_f64(single)).map(|q| q.allow_burst(NonZeroU32::MIN))
}

fn prune(q: &mut VecDeque<Instant>, now: Instant) {
    while q.front().is_some_and(|t| now.duration_since(*t) > SECOND) {
        q.pop_front();
    }
}

/// Additive increase since the last change, at a speed that depends on where the rate stands
/// against the learned ceiling.
fn climb(g: &mut Gate, now: Instant, max_rate: f64) {
    if g.rate >= max_rate || now < g.paused_until {
        return;
    }
    let since = now.duration_since(g.last_change.max(g.paused_until));
    if since < Duration::from_millis(50) {
        return;
    }
    let dt = since.as_secs_f64();
    let step = match g.w_max {
        Some(w) if g.rate < 0.95 * w => CLIMB_FAST * w,
        Some(w) if g.rate < 1.1 * w => CLIMB_PROBE * w,
        _ => CLIMB_FREE * max_rate,
    };
    g.rate = (g.rate + step * dt).min(max_rate);
    g.last_change = now;
}

/// Full-jitter exponential backoff (AWS): a random wait in `[0, min(cap, base·2^attempt)]`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.min(20)));
    let ceiling = exp.min(cap);
    let ms = ceiling.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_rates() {
        assert!(Pacer::new(0.0).is_err());
        assert!(Pacer::new(-1.0).is_err());
        assert!(Pacer::new(f64::NAN).is_err());
        assert!(Pacer::new(0.5).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_cuts_once_per_burst_and_climbs_back() {
        let p = Pacer::new(100.0).unwrap();
        // Nothing measured yet: the deepest cut allowed, 70%, once for the burst.
        p.on_throttle(Some(Duration::from_millis(1100)));
        p.on_throttle(Some(Duration::from_millis(1100)));
        assert!(
            (p.current_rate() - 70.0).abs() < 1e-9,
            "{}",
            p.current_rate()
        );
        assert_eq!(p.throttles(), 2);
        tokio::time::sleep(Duration::from_millis(1300)).await;
        p.acquire().await;
        let r = p.current_rate();
        assert!(r > 70.0 && r < 100.0, "{r}");
    }

    #[test]
    fn throttle_learns_what_got_through() {
        // 35 of a 40/s run got through: the rate drops to 95% of that.
        let p = Pacer::new(40.0).unwrap();
        for _ in 0..35 {
            p.on_success();
        }
        p.on_throttle(Some(Duration::from_secs(2)));
        assert!(
            (p.current_rate() - 33.25).abs() < 1e-9,
            "{}",
            p.current_rate()
        );
        // 40 got through at 100/s: 95% of that would be 38, but one cut goes no lower than 70%.
        let p = Pacer::new(100.0).unwrap();
        for _ in 0..40 {
            p.on_success();
        }
        p.on_throttle(Some(Duration::from_secs(2)));
        assert!(
            (p.current_rate() - 70.0).abs() < 1e-9,
            "{}",
            p.current_rate()
        );
    }

    #[tokio::test]
    async fn an_edge_429_neither_cuts_nor_pauses() {
        // At 80/s, up to 4 throttles (5% of 80) in a second are window-edge jitter.
        let p = Pacer::new(80.0).unwrap();
        for _ in 0..70 {
            p.on_success();
        }
        for _ in 0..4 {
            p.on_throttle(None);
        }
        assert_eq!(p.current_rate(), 80.0);
        assert_eq!((p.throttles(), p.edge_throttles()), (4, 4));
        let t = Instant::now();
        p.acquire().await;
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        // A fifth in the same second: just over the budget left, a mild cut to 95% of the 70
        // that got through (66.5) but no pause.
        p.on_throttle(None);
        assert!(
            (p.current_rate() - 66.5).abs() < 1e-9,
            "{}",
            p.current_rate()
        );
        assert_eq!((p.throttles(), p.edge_throttles()), (5, 4));
        let t = Instant::now();
        p.acquire().await;
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        // More than 15% of the rate in a second: the window is spent, everyone pauses.
        for _ in 0..10 {
            p.on_throttle(None);
        }
        let t = Instant::now();
        p.acquire().await;
        assert!(
            t.elapsed() >= Duration::from_millis(390),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn a_lone_429_at_a_low_rate_is_still_an_edge() {
        // 5% of 10/s is under one: one 429 a second is still tolerated, the second is not.
        let p = Pacer::new(10.0).unwrap();
        p.on_throttle(None);
        assert_eq!(p.current_rate(), 10.0);
        p.on_throttle(None);
        assert!(p.current_rate() < 10.0, "{}", p.current_rate());
        assert_eq!(p.edge_throttles(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_every_caller() {
        // A Retry-After longer than a window is honoured by everyone.
        let p = Pacer::new(1000.0).unwrap();
        p.on_throttle(Some(Duration::from_secs(3)));
        let t = Instant::now();
        p.acquire().await;
        assert!(
            t.elapsed() >= Duration::from_millis(2990),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_of_one_window_is_read_as_no_hint() {
        // `Retry-After: 1` (or 0) with a sprinkle of 429s is window-edge jitter like any other:
        // no cut, no pause. Past the tolerance it pauses as without the hint, not for a second.
        let p = Pacer::new(80.0).unwrap();
        for _ in 0..70 {
            p.on_success();
        }
        for hint in [1, 0, 1, 1] {
            p.on_throttle(Some(Duration::from_secs(hint)));
        }
        assert_eq!(p.current_rate(), 80.0);
        assert_eq!((p.throttles(), p.edge_throttles()), (4, 4));
        let t = Instant::now();
        p.acquire().await;
        assert!(t.elapsed() < Duration::from_millis(20), "{:?}", t.elapsed());
        for _ in 0..10 {
            p.on_throttle(Some(Duration::from_secs(1)));
        }
        let t = Instant::now();
        p.acquire().await;
        let paused = t.elapsed();
        assert!(
            paused >= Duration::from_millis(390) && paused <= Duration::from_millis(620),
            "{paused:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_ceiling_holds_when_starts_bunch_up() {
        // 10/s: the GCRA's period is just under the gate's 101.5 ms, burst 2. Two starts that
        // just happened (a stalled thread catching up, say) hold the next one back for about a
        // period, even though the gate's next slot is now.
        let p = Pacer::new(10.0).unwrap();
        assert!(p.ceiling.check().is_ok());
        assert!(p.ceiling.check().is_ok());
        let t = Instant::now();
        p.acquire().await;
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(95), "{waited:?}");
        // And the start was recorded: the next one waits for the gate (101.5 ms after this
        // one) or the ceiling, whichever is later.
        let t = Instant::now();
        p.acquire().await;
        assert!(
            t.elapsed() >= Duration::from_millis(95),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn governor_binds_only_closer_than_the_gate() {
        for rate in [3.0, 10.0, 24.0, 30.0, 64.0, 80.0, 99.5, 1000.0] {
            let q = ceiling_quota(rate).unwrap();
            let gate = 1.0 / (rate * SAFETY);
            let period = q.replenish_interval().as_secs_f64();
            assert!(
                period < gate && period > gate * 0.99,
                "{rate}: {period} vs {gate}"
            );
            assert_eq!(q.burst_size().get(), 2, "{rate}");
        }
        // Under 3/s, burst 1 and a period a little over 1/rate: the bound on its own.
        for rate in [0.5, 1.0, 2.5] {
            let q = ceiling_quota(rate).unwrap();
            assert_eq!(q.burst_size().get(), 1);
            assert!(q.replenish_interval().as_secs_f64() > 1.0 / rate);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_rate_started_in_any_second_even_after_a_stall() {
        // The contract's bound, for the pacer as a whole. Sixteen workers hold slots; now and
        // then the clock jumps ahead with nobody running (a stalled thread, a busy machine), so
        // every worker whose slot passed meanwhile wakes at the same instant. The ceiling must
        // spread them so that no second holds more than floor(rate) starts.
        for rate in [3.0, 10.0, 30.0, 80.0, 99.5] {
            let p = std::sync::Arc::new(Pacer::new(rate).unwrap());
            let starts = std::sync::Arc::new(Mutex::new(Vec::new()));
            let want = rate as usize * 4;
            let workers: Vec<_> = (0..16)
                .map(|_| {
                    let (p, starts) = (p.clone(), starts.clone());
                    tokio::spawn(async move {
                        loop {
                            p.acquire().await;
                            let mut s = starts.lock().unwrap();
                            if s.len() >= want {
                                break;
                            }
                            s.push(Instant::now());
                        }
                    })
                })
                .collect();
            let stall = Duration::from_secs_f64(4.0 / (rate * SAFETY));
            while starts.lock().unwrap().len() < want {
                tokio::time::sleep(Duration::from_millis(700)).await;
                tokio::time::advance(stall).await;
            }
            for w in workers {
                w.await.unwrap();
            }
            let starts = starts.lock().unwrap();
            let cap = rate.floor() as usize;
            let most = (0..starts.len())
                .map(|i| {
                    starts[i..]
                        .iter()
                        .take_while(|u| u.duration_since(starts[i]) < Duration::from_secs(1))
                        .count()
                })
                .max()
                .unwrap_or(0);
            assert!(most <= cap, "{rate}/s: {most} starts within a second");
            assert!(
                most + 2 >= cap,
                "{rate}/s: the test must run at the rate ({most})"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_is_not_slowed_by_the_ceiling() {
        // 200/s for half a second: the gate's 1.5% margin keeps its slots wider than the
        // ceiling's period, so 100 starts take about 100 gate slots (0.5 s), not more.
        let p = Pacer::new(200.0).unwrap();
        let t = Instant::now();
        for _ in 0..100 {
            p.acquire().await;
        }
        let took = t.elapsed().as_secs_f64();
        let gate = 99.0 / (200.0 * SAFETY);
        // Tokio's paused clock (governor reads it too): exact, whatever the machine's load.
        assert!(
            took >= gate * 0.98 && took <= gate * 1.005,
            "{took} vs {gate}"
        );
    }

    #[test]
    fn backoff_is_bounded() {
        for a in 0..30 {
            let d = backoff(a, Duration::from_millis(100), Duration::from_secs(5));
            assert!(d <= Duration::from_secs(5));
        }
    }
}
