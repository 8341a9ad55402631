//! Zoom's rate limits: per-second and daily budgets per label, and per-user concurrency.
//!
//! Budgets are per account and per label (all Light endpoints share one). The per-second budget
//! follows the configured [`LimitModel`]; a neighbour app's steady Light load is subtracted from
//! it. Checks run daily limit first, then per-second, and a rejected request consumes neither
//! budget. Mutating calls also take a per-user "busy" mark for as long as they are handled, so a
//! second concurrent mutation of the same user is answered 429 "Too many concurrent requests."
//!
//! With `transit_ms` set, a request is counted a random moment after it arrives ([`Limiter::transit`]):
//! how a distant server's windows see a client whose requests cross a jittery path.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

use crate::plan::Label;
use crate::sim::config::{LimitModel, SimConfig};
use crate::sim::lock;

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The per-second budget is spent; `limit` is the label's per-second ceiling.
    Qps { limit: u32 },
    /// The daily budget is spent; `limit` is the label's daily limit.
    Daily { limit: u64 },
}

/// One label's budgets.
#[derive(Debug)]
struct Budget {
    /// Per-second ceiling.
    per_second: u32,
    /// Daily limit, if any.
    per_day: Option<u64>,
    /// Window model: index of the current one-second window since start.
    window: u64,
    /// Window model: requests admitted in `window`.
    admitted_in_window: u32,
    /// Bucket model: tokens available (at most `per_second`).
    tokens: f64,
    /// Bucket model: when `tokens` was last refilled, seconds since start.
    refilled_at: f64,
    /// Requests admitted since the last [`Limiter::new_day`].
    used_today: u64,
}

impl Budget {
    fn new(per_second: u32, per_day: Option<u64>) -> Self {
        Budget {
            per_second,
            per_day,
            window: 0,
            admitted_in_window: 0,
            tokens: f64::from(per_second),
            refilled_at: 0.0,
            used_today: 0,
        }
    }
}

/// Per-label budgets and the rejection counters reported in `SimState`.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// Which per-second model applies.
    model: LimitModel,
    /// The Light budget (revoke, get user, user status).
    light: Budget,
    /// The Medium budget (list users).
    medium: Budget,
    /// Light requests per second another app on the account uses; changeable at runtime.
    pub(crate) neighbour_light: u32,
    /// 429s for the per-second budget.
    pub(crate) rejected_qps: u64,
    /// 429s for the daily budget.
    pub(crate) rejected_daily: u64,
    /// Transit range in ms (see [`SimConfig::transit_ms`]).
    transit_ms: (u64, u64),
    /// Transit draws: their own RNG, so turning transit on leaves the fault draws unchanged.
    transit_rng: SmallRng,
}

/// Mixed into the seed of the transit RNG, so its draws differ from the fault RNG's.
const TRANSIT_SEED_SALT: u64 = 0x7472_616e_7369_7421;

impl Limiter {
    /// Budgets as the config sets them, all full.
    pub(crate) fn new(cfg: &SimConfig) -> Self {
        Limiter {
            model: cfg.limit_model,
            light: Budget::new(cfg.per_second(Label::Light), cfg.per_day(Label::Light)),
            medium: Budget::new(cfg.per_second(Label::Medium), cfg.per_day(Label::Medium)),
            neighbour_light: cfg.neighbour_light_per_second,
            rejected_qps: 0,
            rejected_daily: 0,
            transit_ms: cfg.transit_ms,
            transit_rng: SmallRng::seed_from_u64(cfg.seed ^ TRANSIT_SEED_SALT),
        }
    }

    /// How long the next request travels before its window counts it (zero without transit).
    pub(crate) fn transit(&mut self) -> Duration {
        let (lo, hi) = self.transit_ms;
        Duration::from_millis(if lo < hi {
            self.transit_rng.random_range(lo..=hi)
        } else {
            lo
        })
    }

    /// Admits a request for `label` arriving `now` after start, or says why not. Only an
    /// admitted request uses budget.
    pub(crate) fn admit(&mut self, label: Label, now: Duration) -> Result<(), Rejection> {
        let (budget, neighbour) = match label {
            Label::Light => (&mut self.light, self.neighbour_light),
            Label::Medium => (&mut self.medium, 0),
        };
        if let Some(limit) = budget.per_day
            && budget.used_today >= limit
        {
            self.rejected_daily += 1;
            return Err(Rejection::Daily { limit });
        }
        let fits = match self.model {
            LimitModel::Window => {
                // Counted moments are arrival + transit, so they may come slightly out of
                // order: a late one in a window already left counts in the current one.
                let window = now.as_secs();
                if window > budget.window {
                    budget.window = window;
                    budget.admitted_in_window = 0;
                }
                let used = u64::from(budget.admitted_in_window) + u64::from(neighbour);
                let fits = used < u64::from(budget.per_second);
                if fits {
                    budget.admitted_in_window += 1;
                }
                fits
            }
            LimitModel::TokenBucket => {
                let t = now.as_secs_f64();
                let rate = f64::from(budget.per_second.saturating_sub(neighbour));
                let elapsed = (t - budget.refilled_at).max(0.0);
                budget.tokens = (budget.tokens + elapsed * rate).min(f64::from(budget.per_second));
                budget.refilled_at = t.max(budget.refilled_at);
                let fits = budget.tokens >= 1.0;
                if fits {
                    budget.tokens -= 1.0;
                }
                fits
            }
        };
        if !fits {
            self.rejected_qps += 1;
            return Err(Rejection::Qps {
                limit: budget.per_second,
            });
        }
        budget.used_today += 1;
        Ok(())
    }

    /// Starts the next "day": daily counters back to zero.
    pub(crate) fn new_day(&mut self) {
        self.light.used_today = 0;
        self.medium.used_today = 0;
    }
}

/// Users with a mutating call in flight, keyed by resolved user id (or the lower-cased path
/// segment for unknown users).
#[derive(Debug, Default, Clone)]
pub(crate) struct Busy {
    /// The keys currently marked.
    keys: Arc<Mutex<HashSet<String>>>,
    /// Second concurrent mutations rejected so far.
    rejected: Arc<Mutex<u64>>,
}

impl Busy {
    /// Marks `key` busy until the returned guard drops, or `None` (counted) if it already is.
    pub(crate) fn try_mark(&self, key: String) -> Option<BusyGuard> {
        if lock(&self.keys).insert(key.clone()) {
            Some(BusyGuard {
                keys: self.keys.clone(),
                key,
            })
        } else {
            *lock(&self.rejected) += 1;
            None
        }
    }

    /// How many requests [`Busy::try_mark`] turned away.
    pub(crate) fn rejected(&self) -> u64 {
        *lock(&self.rejected)
    }
}

/// Holds a user's busy mark; dropping it (the request finished or its connection closed)
/// clears the mark.
#[derive(Debug)]
pub(crate) struct BusyGuard {
    keys: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        lock(&self.keys).remove(&self.key);
    }
}
