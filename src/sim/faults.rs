//! Seeded latency and fault draws: what goes wrong with an admitted API call.
//!
//! One RNG, seeded from the config's seed, serves every draw, so a run with the same seed and
//! the same request order sees the same faults. Each admitted call takes one latency draw and one
//! uniform draw that picks at most one fault (the probabilities partition `[0, 1)` in the order
//! drop, stall, 5xx-before, 5xx-after); a 5xx then draws its status among 500, 502 and 503.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

use crate::sim::config::Faults;

/// What happens to one admitted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answer normally.
    None,
    /// Close the connection without answering.
    Drop,
    /// Hold the request for the configured stall, then answer normally (if the client closed
    /// the connection meanwhile, hyper drops the call and nothing is applied).
    Stall,
    /// Answer this 5xx without applying the side effect.
    Before(u16),
    /// Apply the side effect, then answer this 5xx.
    After(u16),
}

/// The draws for one admitted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Draw {
    /// Delay before the call is handled.
    pub(crate) latency: Duration,
    /// The fault, if any.
    pub(crate) fault: Fault,
}

/// The seeded RNG and the current fault rates; lives behind the simulator's mutex.
#[derive(Debug)]
pub(crate) struct FaultBox {
    /// The one RNG behind every draw.
    rng: SmallRng,
    /// Current rates (validated).
    faults: Faults,
}

impl FaultBox {
    /// A fresh RNG from `seed` with the starting rates.
    pub(crate) fn new(seed: u64, faults: Faults) -> Self {
        FaultBox {
            rng: SmallRng::seed_from_u64(seed),
            faults,
        }
    }

    /// Replaces the rates (already validated by the caller).
    pub(crate) fn set(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Draws latency and fault for the next admitted call.
    pub(crate) fn draw(&mut self) -> Draw {
        let f = self.faults;
        let (lo, hi) = f.latency_ms;
        let latency = Duration::from_millis(if lo < hi {
            self.rng.random_range(lo..=hi)
        } else {
            lo
        });
        let any = f.fault_drop + f.fault_stall + f.fault_5xx_before + f.fault_5xx_after;
        if any <= 0.0 {
            return Draw {
                latency,
                fault: Fault::None,
            };
        }
        let r: f64 = self.rng.random();
        let bands = [
            f.fault_drop,
            f.fault_stall,
            f.fault_5xx_before,
            f.fault_5xx_after,
        ];
        let mut edge = 0.0;
        let band = bands.iter().position(|p| {
            edge += p;
            r < edge
        });
        let fault = match band {
            Some(0) => Fault::Drop,
            Some(1) => Fault::Stall,
            Some(2) => Fault::Before(self.status()),
            Some(3) => Fault::After(self.status()),
            _ => Fault::None,
        };
        Draw { latency, fault }
    }

    fn status(&mut self) -> u16 {
        [500, 502, 503][self.rng.random_range(0..3)]
    }
}

/// The JSON body of a simulated server error.
pub(crate) fn server_error_body(status: u16) -> serde_json::Value {
    let message = match status {
        502 => "Bad gateway",
        503 => "Service unavailable",
        _ => "Internal server error",
    };
    serde_json::json!({ "code": status, "message": message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certain_faults_always_happen_and_draws_repeat_per_seed() {
        let all = |f: Faults| {
            let mut b = FaultBox::new(7, f);
            (0..50).map(|_| b.draw()).collect::<Vec<_>>()
        };
        let drop = all(Faults {
            fault_drop: 1.0,
            ..Faults::default()
        });
        assert!(drop.iter().all(|d| d.fault == Fault::Drop));
        let after = all(Faults {
            fault_5xx_after: 1.0,
            latency_ms: (5, 9),
            ..Faults::default()
        });
        assert!(
            after
                .iter()
                .all(|d| matches!(d.fault, Fault::After(500 | 502 | 503)))
        );
        assert!(
            after
                .iter()
                .all(|d| (5..=9).contains(&d.latency.as_millis()))
        );
        let half = Faults {
            fault_5xx_before: 0.5,
            ..Faults::default()
        };
        assert_eq!(all(half), all(half));
        let n = all(half).iter().filter(|d| d.fault != Fault::None).count();
        assert!((10..=40).contains(&n), "{n}");
    }
}
