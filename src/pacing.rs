//! Pacing: how fast requests start, shared by every worker.
//!
//! Two layers, both process-wide:
//! 1. An adaptive gate that does the pacing. It hands out start times on absolute deadlines
//!    (`next_slot`), so the rate does not drift with scheduling delays: a late wake-up does not
//!    delay the next slot. The slots are spaced a little (1.5%) wider than the current rate, so
//!    that jitter between our clock and the server's arrival times cannot put `rate + 1`
//!    requests into one of Zoom's windows. The gate is AIMD with a learned ceiling (after TCP
//!    CUBIC and the AWS SDKs' adaptive retry mode): the current rate starts at `--rate`. A
//!    per-second 429 means the account's budget left for us is smaller — another app may be
//!    sharing it. The gate then measures what actually got through in the last second,
//!    remembers it as the ceiling (`w_max`), drops to 95% of it (a cut of 10% to 30%: one
//!    sparse second undercounts the budget), and
//!    pauses every worker briefly. It then climbs back: fast to 95% of the ceiling, slowly (1%
//!    of it per second) past it, and faster again once well above it (the neighbour may have
//!    gone).
//! 2. A hard ceiling behind the gate: the start times of the last `floor(--rate)` requests
//!    (a sliding-window log). A request starts only once the oldest of them is more than a
//!    window (1 s plus 0.5% for transit jitter; `1/rate` below one per second) old, so no
//!    one-second window ever holds more than `--rate` starts, whatever the workers do. It binds
//!    only when the gate's slots bunch up (a stalled thread catching up), never in steady state
//!    (the gate is 1.5% under it).
//!
//! Why not a `governor` GCRA limiter for the ceiling, as before: with a burst of one, its
//! spacing is relative (a start that comes late pushes every later one back), and set at
//! `--rate` it bound on every timer overshoot, so it did the pacing and lost each overshoot for
//! good: 2.4% of the rate, and windows at `rate + 1` on the server, measured by `cargo bench
//! --bench throughput`. A larger burst removes the drift but allows `rate + burst - 1` starts
//! in a second. The adaptive part was our own gate already, because a limiter's quota cannot
//! change in place.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// Fraction of its current rate the gate actually schedules (see the module doc).
const SAFETY: f64 = 0.985;
/// The hard ceiling's window is this much longer than a second: room for transit jitter, so
/// the server's windows see no more than ours, yet short enough not to bind under the gate.
const CEILING_MARGIN: f64 = 0.005;
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
    recent_ok: VecDeque<Instant>,
    /// Start times of the most recent requests, at most `Pacer::cap` (the hard ceiling).
    starts: VecDeque<Instant>,
}

/// The shared pacer. One per run (and one per label: `users` has its own Medium pacer).
#[derive(Debug)]
pub struct Pacer {
    /// `--rate`: the ceiling the adaptive rate climbs back to.
    max_rate: f64,
    /// The hard ceiling: at most `cap` starts in any `window` (see the module doc).
    cap: usize,
    /// The hard ceiling's window: a second or more.
    window: Duration,
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
        // `rate` ≤ 10 000 here, so the cast is exact.
        let cap = (rate.floor() as usize).max(1);
        let window = Duration::from_secs_f64((1.0 / rate).max(1.0) * (1.0 + CEILING_MARGIN));
        let now = Instant::now();
        Ok(Pacer {
            max_rate: rate,
            cap,
            window,
            gate: Mutex::new(Gate {
                rate,
                next_slot: now,
                paused_until: now,
                last_change: now,
                last_cut: None,
                epoch: 0,
                w_max: None,
                recent_ok: VecDeque::new(),
                starts: VecDeque::with_capacity(cap),
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
                let free_at = {
                    let mut g = self.lock();
                    // A throttle while we slept invalidates the slot: queue again behind the pause.
                    if g.epoch != epoch {
                        continue 'slot;
                    }
                    let now = Instant::now();
                    let full = g.starts.len() >= self.cap;
                    match g.starts.front().copied() {
                        Some(oldest) if full && now < oldest + self.window => {
                            Some(oldest + self.window)
                        }
                        _ => {
                            if full {
                                g.starts.pop_front();
                            }
                            g.starts.push_back(now);
                            None
                        }
                    }
                };
                match free_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => return,
                }
            }
        }
    }

    /// A per-second 429: cut the rate (once per burst) and pause every worker.
    pub fn on_throttle(&self, retry_after: Option<Duration>) {
        self.throttles
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pause = retry_after.unwrap_or_else(|| {
            // Half a second on average: Zoom's windows are one second, so the rest of the
            // current one is spent (half of it, on average), and the cut has already lowered the
            // rate. A full second cost a second of the whole run's budget per throttle (measured
            // with a neighbour taking half: 15% of the throughput). Jittered so that several
            // clients sharing an account don't come back in lockstep (ZoomNet issue 72).
            Duration::from_millis(rand::rng().random_range(400..=600))
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

fn prune(q: &mut VecDeque<Instant>, now: Instant) {
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

    #[tokio::test]
    async fn the_ceiling_holds_when_starts_bunch_up() {
        // 50/s: at most 50 starts in any window of 1.005 s. Pretend 50 started 0.9 s ago
        // (a stalled thread catching up): the next start must wait for the oldest to age out.
        let p = Pacer::new(50.0).unwrap();
        let then = Instant::now() - Duration::from_millis(900);
        p.lock().starts.extend(std::iter::repeat_n(then, 50));
        let t = Instant::now();
        p.acquire().await;
        assert!(
            t.elapsed() >= Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(p.lock().starts.len(), 50);
    }

    #[test]
    fn backoff_is_bounded() {
        for a in 0..30 {
            let d = backoff(a, Duration::from_millis(100), Duration::from_secs(5));
            assert!(d <= Duration::from_secs(5));
        }
    }
}
