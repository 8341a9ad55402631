//! What a simulator run looks like: account plan, limits, users, faults and credentials.
//!
//! [`SimConfig`] is fixed when the simulator starts; the few knobs a test needs to turn mid-run
//! (scopes, neighbour load, fault rates) have setters on [`crate::sim::Sim`] instead. Every field
//! is public so a test can build exactly the account it needs with struct-update syntax:
//! `SimConfig { plan: Plan::Free, ..SimConfig::default() }`.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use crate::plan::{Label, Plan};
use crate::sim::users::SimUser;

/// How the per-second limit is enforced. Zoom does not say; the two models bracket the behaviours
/// a client must survive (bursts at window edges vs. a smooth refill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LimitModel {
    /// Fixed one-second windows counted from simulator start: up to `limit` requests per window,
    /// so a client can get `2 × limit` through across a window edge, as Zoom's counters allow.
    #[default]
    #[value(name = "window")]
    Window,
    /// A token bucket holding at most `limit` tokens (starts full), refilled continuously at
    /// `limit - neighbour` tokens per second.
    #[value(name = "bucket", alias = "token-bucket")]
    TokenBucket,
}

/// How the simulator treats `GET /users`' deprecated `page_number` parameter. Zoom still serves
/// it today; the spec says a future release drops it. The two other modes are the two ways it
/// could go, so that a client's fallback to `next_page_token` can be tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PageNumbers {
    /// Served as Zoom serves it: 1-based, echoed in the answer's `page_number`; a page past the
    /// last is empty.
    #[default]
    Served,
    /// Ignored, as a Zoom that dropped it silently would: every call without a
    /// `next_page_token` answers with the first page (`page_number` 1).
    Ignored,
    /// Refused with 400 code 300 ("Validation Failed.", field `page_number`), as a Zoom that
    /// dropped it loudly would.
    Rejected,
}

/// The account's users: generated (deterministic from the seed) or given explicitly.
#[derive(Debug, Clone, PartialEq)]
pub enum SimUsers {
    /// `n` users from [`crate::sim::generate_users`] with the config's seed.
    Generated(usize),
    /// Exactly these users (e.g. from [`crate::sim::load_users_csv`]).
    List(Vec<SimUser>),
}

impl Default for SimUsers {
    fn default() -> Self {
        SimUsers::Generated(100)
    }
}

/// Fault and latency rates, changeable at runtime with [`crate::sim::Sim::set_faults`].
///
/// One uniform draw per API call picks at most one fault: the probabilities partition `[0, 1)`
/// in the order drop, stall, 5xx-before, 5xx-after, so their sum must not exceed 1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Probability of a 500/502/503 answer before the side effect (the token is NOT revoked).
    pub fault_5xx_before: f64,
    /// Probability of a 5xx answer after the side effect (revoked, but the client sees an error).
    pub fault_5xx_after: f64,
    /// Probability of closing the connection without any answer.
    pub fault_drop: f64,
    /// Probability of holding the call for `stall` before handling it (to exercise client
    /// timeouts). A client that waits gets the normal answer; one that gives up closes the
    /// connection, the call is abandoned, and its side effect never happens.
    pub fault_stall: f64,
    /// Uniform latency range in milliseconds, added before answering an admitted API call.
    pub latency_ms: (u64, u64),
}

impl Faults {
    /// A valid copy: probabilities clamped to `[0, 1]` (NaN → 0) and scaled down if they sum
    /// over 1, latency range ordered. Used by [`crate::sim::Sim::set_faults`].
    pub fn normalized(self) -> Faults {
        let clamp = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let mut f = Faults {
            fault_5xx_before: clamp(self.fault_5xx_before),
            fault_5xx_after: clamp(self.fault_5xx_after),
            fault_drop: clamp(self.fault_drop),
            fault_stall: clamp(self.fault_stall),
            latency_ms: (
                self.latency_ms.0.min(self.latency_ms.1),
                self.latency_ms.0.max(self.latency_ms.1),
            ),
        };
        let sum = f.fault_5xx_before + f.fault_5xx_after + f.fault_drop + f.fault_stall;
        if sum > 1.0 {
            f.fault_5xx_before /= sum;
            f.fault_5xx_after /= sum;
            f.fault_drop /= sum;
            f.fault_stall /= sum;
        }
        f
    }

    /// Checks that each probability is in `[0, 1]`, their sum at most 1, and the latency range
    /// ordered: a typo in a test or on the command line should fail loudly, not skew the draws.
    pub fn validate(&self) -> anyhow::Result<()> {
        let named = [
            ("fault_5xx_before", self.fault_5xx_before),
            ("fault_5xx_after", self.fault_5xx_after),
            ("fault_drop", self.fault_drop),
            ("fault_stall", self.fault_stall),
        ];
        for (name, p) in named {
            if !(0.0..=1.0).contains(&p) {
                anyhow::bail!("{name} must be a probability between 0 and 1, got {p}");
            }
        }
        let sum: f64 = named.iter().map(|(_, p)| p).sum();
        if sum > 1.0 + 1e-9 {
            anyhow::bail!("fault probabilities add up to {sum}, more than 1");
        }
        if self.latency_ms.0 > self.latency_ms.1 {
            anyhow::bail!(
                "latency range {}..{} ms is reversed",
                self.latency_ms.0,
                self.latency_ms.1
            );
        }
        Ok(())
    }
}

/// The account's cap on Basic users (Zoom lets an account limit them): a downgrade that would
/// pass it is refused with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicCap {
    /// Basic users the account may hold; a downgrade is refused once this many exist.
    pub max: usize,
    /// Zoom's answer: 3412 (the cap "{$maxAllowedNumber}" is reached) or 2033 (the older
    /// "maximum basic user limit"); the spec documents both for this call.
    pub code: u16,
}

/// Everything that defines a simulated Zoom account. See the module doc for how to build one.
#[derive(Clone)]
pub struct SimConfig {
    /// Port to bind on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// The account's plan, which sets the per-second and daily ceilings (default Pro).
    pub plan: Plan,
    /// Overrides the plan's Light per-second ceiling.
    pub light_per_second: Option<u32>,
    /// Overrides the plan's Medium per-second ceiling.
    pub medium_per_second: Option<u32>,
    /// Overrides the plan's Light daily limit (`None`: the plan's, which only Free has).
    pub light_per_day: Option<u64>,
    /// Overrides the plan's Medium daily limit.
    pub medium_per_day: Option<u64>,
    /// How the per-second limit is enforced.
    pub limit_model: LimitModel,
    /// Send 429s without `X-RateLimit-*` / `Retry-After` headers, as Zoom sometimes does.
    pub omit_rate_headers: bool,
    /// Send `Retry-After: 1` with per-second 429s too. Zoom documents a Retry-After for the daily
    /// limit only, but a gateway in front of it, or a stricter server, may send one with every
    /// 429: a whole second, rounded up from the rest of the window.
    pub qps_retry_after: bool,
    /// Another app on the account using this many Light requests every second.
    pub neighbour_light_per_second: u32,
    /// Users (emails or ids, any case) every API call about whom answers 500 before any side
    /// effect: one user failing while the rest of the account is fine.
    pub failing_users: Vec<String>,
    /// The account's users.
    pub users: SimUsers,
    /// Seeds user generation and every fault and latency draw.
    pub seed: u64,
    /// Uniform latency range (ms) added before answering API calls.
    pub latency_ms: (u64, u64),
    /// Uniform transit range (ms): how long after its arrival a request's rate-limit window
    /// counts it, as on a distant server behind a jittery path. A request arriving just before
    /// a window edge may count in the next window. Independent of `latency_ms` (drawn from its
    /// own RNG seeded from `seed`, so the fault draws do not change with it); default `(0, 0)`.
    pub transit_ms: (u64, u64),
    /// Stops the simulator's clock: time then moves only by [`crate::sim::Sim::advance`], so a
    /// test can place requests in rate windows whatever the machine's load (sleeps such as
    /// latency and transit still take real time, but move no window). Default `false`.
    pub frozen_clock: bool,
    /// See [`Faults::fault_5xx_before`].
    pub fault_5xx_before: f64,
    /// See [`Faults::fault_5xx_after`].
    pub fault_5xx_after: f64,
    /// See [`Faults::fault_drop`].
    pub fault_drop: f64,
    /// See [`Faults::fault_stall`].
    pub fault_stall: f64,
    /// How long a stalled response is held (default 120 s, longer than any sane client timeout).
    pub stall: Duration,
    /// Windows (measured from start) in which every `/v2` API call answers 503 before any
    /// other check (paths the simulator does not serve still answer 404).
    pub outages: Vec<Range<Duration>>,
    /// `expires_in` of issued OAuth tokens (default 3600 s; tests use 1–2 s).
    pub token_ttl: Duration,
    /// Lifetime of `next_page_token`s (default 15 minutes, as Zoom documents).
    pub page_token_ttl: Duration,
    /// The account changes between pages: before each continued page (one asked for with a
    /// `next_page_token`, or a `page_number` over 1) is served, the first inactive user becomes active again, as a returning
    /// employee does mid-listing. Lists are served by position, so every later user moves down
    /// one place and the last user of the previous page comes again at the top of the next: a
    /// client must list each user once all the same.
    pub list_churn: bool,
    /// How `page_number` is treated (default: served, as Zoom does today).
    pub page_numbers: PageNumbers,
    /// Scopes granted to every token (default `user:write:admin`, `user:read:admin`).
    pub scopes: Vec<String>,
    /// The account id the token endpoint expects.
    pub account_id: String,
    /// The client id the token endpoint expects.
    pub client_id: String,
    /// The client secret the token endpoint expects (redacted in `Debug`).
    pub client_secret: String,
    /// A never-expiring bearer token accepted as is (for `ZOOM_ACCESS_TOKEN` users and curl).
    pub static_token: Option<String>,
    /// The account's cap on Basic users (default none); [`crate::sim::Sim::set_basic_cap`]
    /// changes it at runtime.
    pub basic_cap: Option<BasicCap>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            port: 0,
            plan: Plan::Pro,
            light_per_second: None,
            medium_per_second: None,
            light_per_day: None,
            medium_per_day: None,
            limit_model: LimitModel::Window,
            omit_rate_headers: false,
            qps_retry_after: false,
            neighbour_light_per_second: 0,
            failing_users: Vec::new(),
            users: SimUsers::default(),
            seed: 1,
            latency_ms: (0, 0),
            transit_ms: (0, 0),
            frozen_clock: false,
            fault_5xx_before: 0.0,
            fault_5xx_after: 0.0,
            fault_drop: 0.0,
            fault_stall: 0.0,
            stall: Duration::from_secs(120),
            outages: Vec::new(),
            token_ttl: Duration::from_secs(3600),
            page_token_ttl: Duration::from_secs(15 * 60),
            list_churn: false,
            page_numbers: PageNumbers::Served,
            scopes: vec!["user:write:admin".into(), "user:read:admin".into()],
            account_id: "sim-account".into(),
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            static_token: None,
            basic_cap: None,
        }
    }
}

impl SimConfig {
    /// The per-second ceiling for `label`: the override if set, else the plan's.
    pub fn per_second(&self, label: Label) -> u32 {
        let over = match label {
            Label::Light => self.light_per_second,
            Label::Medium => self.medium_per_second,
        };
        over.unwrap_or_else(|| self.plan.per_second(label))
    }

    /// The daily limit for `label`: the override if set, else the plan's (`None`: unlimited).
    pub fn per_day(&self, label: Label) -> Option<u64> {
        let over = match label {
            Label::Light => self.light_per_day,
            Label::Medium => self.medium_per_day,
        };
        over.or_else(|| self.plan.per_day(label))
    }

    /// The fault and latency part of the config, as [`crate::sim::Sim::set_faults`] takes it.
    pub fn faults(&self) -> Faults {
        Faults {
            fault_5xx_before: self.fault_5xx_before,
            fault_5xx_after: self.fault_5xx_after,
            fault_drop: self.fault_drop,
            fault_stall: self.fault_stall,
            latency_ms: self.latency_ms,
        }
    }

    /// Rejects configs that cannot describe a Zoom account, before any socket is bound.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.faults().validate()?;
        if let Some(r) = self.outages.iter().find(|r| r.start >= r.end) {
            anyhow::bail!("outage window {r:?} is empty or reversed");
        }
        if self.transit_ms.0 > self.transit_ms.1 {
            anyhow::bail!(
                "transit range {}..{} ms is reversed",
                self.transit_ms.0,
                self.transit_ms.1
            );
        }
        if self.token_ttl.is_zero() {
            anyhow::bail!("token_ttl must be positive");
        }
        if let Some(cap) = self.basic_cap
            && ![2033, 3412].contains(&cap.code)
        {
            anyhow::bail!(
                "basic_cap code {} is not one of Zoom's codes for the cap (2033, 3412)",
                cap.code
            );
        }
        Ok(())
    }
}

/// Redacts the client secret and the static token, so a config can be logged whole.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("port", &self.port)
            .field("plan", &self.plan)
            .field("light_per_second", &self.light_per_second)
            .field("medium_per_second", &self.medium_per_second)
            .field("light_per_day", &self.light_per_day)
            .field("medium_per_day", &self.medium_per_day)
            .field("limit_model", &self.limit_model)
            .field("omit_rate_headers", &self.omit_rate_headers)
            .field("qps_retry_after", &self.qps_retry_after)
            .field(
                "neighbour_light_per_second",
                &self.neighbour_light_per_second,
            )
            .field("users", &UsersSummary(&self.users))
            .field("seed", &self.seed)
            .field("faults", &self.faults())
            .field("transit_ms", &self.transit_ms)
            .field("frozen_clock", &self.frozen_clock)
            .field("stall", &self.stall)
            .field("outages", &self.outages)
            .field("token_ttl", &self.token_ttl)
            .field("page_token_ttl", &self.page_token_ttl)
            .field("list_churn", &self.list_churn)
            .field("page_numbers", &self.page_numbers)
            .field("scopes", &self.scopes)
            .field("account_id", &self.account_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"(redacted)")
            .field(
                "static_token",
                &self.static_token.as_ref().map(|_| "(redacted)"),
            )
            .field("basic_cap", &self.basic_cap)
            .finish()
    }
}

/// Prints a user list as its length: a config with 100,000 users should not flood a log line.
struct UsersSummary<'a>(&'a SimUsers);

impl fmt::Debug for UsersSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SimUsers::Generated(n) => write!(f, "Generated({n})"),
            SimUsers::List(v) => write!(f, "List({} users)", v.len()),
        }
    }
}
