//! Pacing: how fast requests start, shared by every worker.
//!
//! Two layers, both process-wide:
//! 1. A `governor` GCRA limiter at `--rate` with a burst of one: the hard guarantee that no
//!    one-second window holds more than `--rate` request starts, whatever the workers do. It is
//!    set a little (1.5%) under `--rate` so that jitter between our clock and the server's
//!    arrival times cannot put `rate + 1` requests into one of Zoom's windows.
//! 2. An adaptive gate on top (AIMD with a learned ceiling, after TCP CUBIC and the AWS SDKs'
//!    adaptive retry mode): the current rate starts at `--rate`. A per-second 429 means the
//!    account's budget left for us is smaller — another app may be sharing it. The gate then
//!    measures what actually got through in the last second, remembers it as the ceiling
//!    (`w_max`), drops to 95% of it (a cut of at least 10% and at most 30% at a time, since a
//!    sparse second undercounts), and pauses every worker about a second. Throttles that echo
//!    the same burst share that pause instead of extending it.
//!    It then climbs back: fast to 95% of the ceiling, slowly (1% of it per second) past it,
//!    and faster again once well above it (the neighbour may have gone).
//!
//! Starts are scheduled on absolute deadlines (`next_slot`), so the rate does not drift with
//! scheduling delays. The governor limiter cannot change its quota in place (style.md), which is
//! why the adaptive part is our own small gate rather than a swapped limiter.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tokio::time::Instant;

/// Fraction of `--rate` the hard limiter actually allows (see the module doc).
const SAFETY: f64 = 0.985;
/// A throttle cuts the rate to at most this share of the current rate...
const MAX_CUT: f64 = 0.9;
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
/// Throttles within this long after a cut are echoes of the same burst: they pause but do not cut again.
const CUT_COOLDOWN: Duration = Duration::from_millis(1000);

/// Error for a rate that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("rate must be a positive number of requests per second, up to 10000 (got {0})")]
pub struct BadRate(pub f64);

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
    /// Bumped by every throttle: a caller whose slot was handed out before the bump must
    /// take a new one (its slot may fall inside the pause).
    epoch: u64,
    /// The learned ceiling: what got through in the second before the last throttle.
    w_max: Option<f64>,
    /// Answers that were not throttled, in the last second (for measuring `w_max`).
    recent_ok: std::collections::VecDeque<Instant>,
}

/// The shared pacer. One per run (and one per label: `users` has its own Medium pacer).
#[derive(Debug)]
pub struct Pacer {
    /// `--rate`: the ceiling the adaptive rate climbs back to.
    max_rate: f64,
    /// The hard limit: never more than `--rate` starts in a second.
    limiter: DefaultDirectRateLimiter,
    /// The adaptive gate.
    gate: Mutex<Gate>,
    /// Throttles seen (per-second 429s), for the summary.
    throttles: std::sync::atomic::AtomicU64,
}

impl Pacer {
    /// A pacer for `rate` requests per second.
    pub fn new(rate: f64) -> Result<Pacer, BadRate> {
        if !rate.is_finite() || rate <= 0.0 || rate > 10_000.0 {
            return Err(BadRate(rate));
        }
        let period = Duration::from_secs_f64(1.0 / (rate * SAFETY));
        let quota = Quota::with_period(period)
            .ok_or(BadRate(rate))?
            .allow_burst(NonZeroU32::MIN);
        let now = Instant::now();
        Ok(Pacer {
            max_rate: rate,
            limiter: RateLimiter::direct(quota),
            gate: Mutex::new(Gate {
                rate,
                next_slot: now,
                paused_until: now,
                last_change: now,
                last_cut: None,
                epoch: 0,
                w_max: None,
                recent_ok: std::collections::VecDeque::new(),
            }),
            throttles: 0.into(),
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
        self.throttles.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gate> {
        // A panic while holding this lock leaves plain numbers behind: still usable.
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until this caller may start one request.
    pub async fn acquire(&self) {
        loop {
            let (slot, epoch) = {
                let mut g = self.lock();
                let now = Instant::now();
                climb(&mut g, now, self.max_rate);
                let start = g.next_slot.max(now).max(g.paused_until);
                g.next_slot = start + Duration::from_secs_f64(1.0 / g.rate);
                (start, g.epoch)
            };
            tokio::time::sleep_until(slot).await;
            // A throttle while we slept invalidates the slot: queue again behind the pause.
            if self.lock().epoch == epoch {
                break;
            }
        }
        // The hard ceiling; normally ready at once, since the gate is at or under it.
        self.limiter.until_ready().await;
    }

    /// A per-second 429: cut the rate (once per burst) and pause every worker.
    pub fn on_throttle(&self, retry_after: Option<Duration>) {
        self.throttles
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pause = retry_after.unwrap_or_else(|| {
            // About a second, with jitter so that several clients sharing an account don't
            // come back in lockstep (ZoomNet issue 72).
            Duration::from_millis(rand::rng().random_range(750..=1250))
        });
        let mut g = self.lock();
        let now = Instant::now();
        let cut_recently = g
            .last_cut
            .is_some_and(|t| now.duration_since(t) < CUT_COOLDOWN);
        if !cut_recently {
            prune(&mut g.recent_ok, now);
            let measured = g.recent_ok.len() as f64;
            // What got through says where the budget is, but one second of a sparse run (a few
            // users, or the start) undercounts it: no single cut goes below BLIND_CUT.
            let target = (measured * BELOW_MEASURED).clamp(g.rate * BLIND_CUT, g.rate * MAX_CUT);
            g.rate = target.max(self.floor());
            g.w_max = Some(measured.max(g.rate));
            g.last_cut = Some(now);
            g.last_change = now;
            tracing::debug!(rate = g.rate, measured, "throttled: slowing the whole run");
        }
        // Echoes of the same burst (within the cooldown) share its pause rather than extending
        // it one by one: six requests throttled together cost one pause, not six in a row.
        // A server's explicit hint is always honoured.
        if cut_recently && retry_after.is_none() {
            return;
        }
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

fn prune(q: &mut std::collections::VecDeque<Instant>, now: Instant) {
    while q
        .front()
        .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
    {
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

    #[tokio::test]
    async fn throttle_cuts_once_per_burst_and_climbs_back() {
        let p = Pacer::new(100.0).unwrap();
        // Nothing measured yet: the deepest cut allowed, 70%, once for the burst.
        p.on_throttle(Some(Duration::from_millis(10)));
        p.on_throttle(Some(Duration::from_millis(10)));
        assert!(
            (p.current_rate() - 70.0).abs() < 1e-9,
            "{}",
            p.current_rate()
        );
        assert_eq!(p.throttles(), 2);
        tokio::time::sleep(Duration::from_millis(300)).await;
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
        p.on_throttle(Some(Duration::ZERO));
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
        p.on_throttle(Some(Duration::ZERO));
        assert!(
            (p.current_rate() - 70.0).abs() < 1e-9,
            "{}",
            p.current_rate()
        );
    }

    #[tokio::test]
    async fn pause_holds_every_caller() {
        let p = Pacer::new(1000.0).unwrap();
        p.on_throttle(Some(Duration::from_millis(200)));
        let t = Instant::now();
        p.acquire().await;
        assert!(t.elapsed() >= Duration::from_millis(190));
    }

    #[test]
    fn backoff_is_bounded() {
        for a in 0..30 {
            let d = backoff(a, Duration::from_millis(100), Duration::from_secs(5));
            assert!(d <= Duration::from_secs(5));
        }
    }
}
