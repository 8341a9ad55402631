//! Zoom API simulator: a loopback HTTP server that answers like Zoom's Users API.
//!
//! Every network test, `zoom-offboard sim` and `demo` run against it. It enforces Zoom's rate
//! limits (per account and label, window or token-bucket model, daily limits, a neighbour app
//! sharing the budget), Server-to-Server OAuth with expiring tokens and scopes, and injects
//! seeded faults (latency, 5xx before or after the side effect, dropped connections, stalls,
//! outage windows). It records ground truth — who was revoked, deactivated, disassociated or
//! deleted how often, who received whose data, every request with its arrival time and answer —
//! for tests to assert on ([`Sim::state`], `GET /_sim/state`).
//!
//! # Layout
//! - [`config`]: [`SimConfig`] and friends: what a simulated account looks like.
//! - [`users`]: generated / CSV users and the live directory.
//! - [`roster`]: users on several domains and the HR roster that goes with them (reconcile).
//! - `auth`: the token endpoint, bearer and scope checks.
//! - `limits`: per-second and daily budgets, per-user concurrency.
//! - `faults`: seeded latency and fault draws.
//! - `paging`, `render`: `GET /users` pages and Zoom-shaped JSON bodies.
//! - `routes`: dispatch and the order of checks (documented there); `handlers`: side effects;
//!   `offboard`: the status and delete calls' rules; `respond`: answers and 429 headers.
//! - `server`: the accept loop on hyper, which can drop a connection without answering.
//! - [`state`]: [`SimState`], the recorded ground truth.
//! - [`cli`]: `zoom-offboard sim`.

pub mod cli;
pub mod config;
pub mod roster;
pub mod state;
pub mod users;

mod auth;
mod faults;
mod handlers;
mod limits;
mod offboard;
mod paging;
mod render;
mod respond;
mod routes;
mod server;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use cli::{SimArgs, run_cli};
pub use config::{BasicCap, Faults, LimitModel, PageNumbers, SimConfig, SimUsers};
pub use roster::{Workforce, workforce};
pub use state::{Removal, RequestRecord, SimState, Transfer, TransferKind, UserTruth};
pub use users::{SimUser, UserStatus, generate_users, load_users_csv};

/// The crate's poison-tolerant lock: a panicking handler must not take the simulator down with
/// it, and every critical section leaves the data consistent.
pub(crate) use crate::sync::lock;

/// State shared by the handle, the accept loop and every request. Each mutex guards one
/// concern and is never held across an `.await`.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The config the simulator started with.
    cfg: SimConfig,
    /// Simulator start: the origin of `at_ms`, rate windows and outage windows.
    start: Instant,
    /// How far tests moved the simulator's clock ahead ([`Sim::advance`]), in milliseconds.
    skew_ms: AtomicU64,
    /// The bound address.
    addr: SocketAddr,
    /// Issued tokens and granted scopes.
    tokens: Mutex<auth::Tokens>,
    /// Per-label budgets and rejection counters.
    limiter: Mutex<limits::Limiter>,
    /// Users with a mutating call in flight.
    busy: limits::Busy,
    /// The seeded RNG and fault rates.
    faults: Mutex<faults::FaultBox>,
    /// Users, statuses and revocation counts.
    dir: Mutex<users::Directory>,
    /// Outstanding page tokens.
    pages: Mutex<paging::Pages>,
    /// The request log.
    recorder: Mutex<state::Recorder>,
    /// Counter behind `x-zm-trackingid`.
    tracking: AtomicU64,
    /// `/v2` requests being handled now.
    in_flight: AtomicUsize,
    /// Most `/v2` requests ever handled at once.
    peak_in_flight: AtomicUsize,
    /// Cancelled when the simulator stops: ends the accept loop and every connection.
    shutdown: CancellationToken,
}

impl Shared {
    /// The simulator's clock: real time (or its start, when frozen), plus what tests moved it
    /// ahead. Token and page-token expiry, rate windows and outage windows all read it.
    pub(crate) fn now(&self) -> Instant {
        let base = if self.cfg.frozen_clock {
            self.start
        } else {
            Instant::now()
        };
        base + Duration::from_millis(self.skew_ms.load(Ordering::Relaxed))
    }

    fn elapsed(&self) -> Duration {
        self.now().duration_since(self.start)
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn in_outage(&self) -> bool {
        let now = self.elapsed();
        self.cfg.outages.iter().any(|w| w.contains(&now))
    }

    fn snapshot(&self) -> SimState {
        let (requests, unexpected) = lock(&self.recorder).snapshot();
        let (rejected_qps, rejected_daily) = {
            let l = lock(&self.limiter);
            (l.rejected_qps, l.rejected_daily)
        };
        let (revocations, offboarded, transfers) = {
            let dir = lock(&self.dir);
            (
                dir.revocations.clone(),
                dir.offboarded.clone(),
                dir.transfers.clone(),
            )
        };
        SimState {
            revocations,
            offboarded,
            transfers,
            requests,
            rejected_qps,
            rejected_daily,
            rejected_concurrent: self.busy.rejected(),
            peak_in_flight: self.peak_in_flight.load(Ordering::SeqCst),
            tokens_issued: lock(&self.tokens).tokens_issued,
            unexpected,
        }
    }
}

/// A running simulator. Dropping it (or [`Sim::shutdown`]) stops the server and closes every
/// connection, stalled ones included.
pub struct Sim {
    /// Everything the server tasks share.
    shared: Arc<Shared>,
    /// The accept loop; awaited by [`Sim::shutdown`].
    task: Option<JoinHandle<()>>,
}

impl Sim {
    /// Binds `127.0.0.1:cfg.port` and serves on the current tokio runtime. Fails on an invalid
    /// config (bad probabilities, duplicate users) or a port in use.
    pub async fn start(cfg: SimConfig) -> anyhow::Result<Sim> {
        cfg.validate()?;
        let users = match &cfg.users {
            SimUsers::Generated(n) => generate_users(*n, cfg.seed),
            SimUsers::List(v) => v.clone(),
        };
        let mut dir = users::Directory::new(users)?;
        dir.basic_cap = cfg.basic_cap;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port))
            .await
            .with_context(|| format!("sim: cannot listen on 127.0.0.1:{}", cfg.port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            tokens: Mutex::new(auth::Tokens::new(&cfg)),
            limiter: Mutex::new(limits::Limiter::new(&cfg)),
            busy: limits::Busy::default(),
            faults: Mutex::new(faults::FaultBox::new(cfg.seed, cfg.faults())),
            dir: Mutex::new(dir),
            pages: Mutex::new(paging::Pages::new(cfg.page_token_ttl, cfg.page_numbers)),
            recorder: Mutex::new(state::Recorder::default()),
            tracking: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
            start: Instant::now(),
            skew_ms: AtomicU64::new(0),
            addr,
            cfg,
        });
        let task = tokio::spawn(server::serve(listener, shared.clone()));
        Ok(Sim {
            shared,
            task: Some(task),
        })
    }

    /// The bound address (the real port when `cfg.port` was 0).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The API base, `http://127.0.0.1:PORT/v2`, as `--base-url` takes it.
    pub fn base_url(&self) -> String {
        format!("http://{}/v2", self.shared.addr)
    }

    /// The token endpoint, `http://127.0.0.1:PORT/oauth/token`, as `--oauth-url` takes it.
    pub fn oauth_url(&self) -> String {
        format!("http://{}/oauth/token", self.shared.addr)
    }

    /// The config the simulator started with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.cfg
    }

    /// Time since start: the clock behind `at_ms`, rate windows and outages, so a test can wait
    /// for a fresh window instead of racing its edge.
    pub fn elapsed(&self) -> Duration {
        self.shared.elapsed()
    }

    /// The account's users with their current statuses; deleted and disassociated users are
    /// no longer among them (their record is in [`SimState::offboarded`]).
    pub fn users(&self) -> Vec<SimUser> {
        lock(&self.shared.dir).all()
    }

    /// A snapshot of the ground truth.
    pub fn state(&self) -> SimState {
        self.shared.snapshot()
    }

    /// Mints a valid OAuth token (counted in `tokens_issued`) without going through HTTP.
    pub fn issue_token(&self) -> String {
        lock(&self.shared.tokens).issue(self.shared.now())
    }

    /// Changes the scopes every token, existing or new, is granted (checked at call time).
    pub fn set_scopes(&self, scopes: Vec<String>) {
        lock(&self.shared.tokens).scopes = scopes;
    }

    /// Expires every OAuth token issued so far; the static token stays valid.
    pub fn expire_all_tokens(&self) {
        lock(&self.shared.tokens).expire_all(self.shared.now());
    }

    /// Moves the simulator's clock `by` ahead: tokens and page tokens age, and rate and outage
    /// windows pass, without the test sleeping (latency and transit stay real delays).
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.shared.skew_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Changes how `GET /users`' `page_number` is treated from now on (served, ignored,
    /// refused): lets one test list both ways against one simulator.
    pub fn set_page_numbers(&self, numbers: PageNumbers) {
        lock(&self.shared.pages).numbers = numbers;
    }

    /// Expires every outstanding `next_page_token`, as 15 minutes passing would: lets a test
    /// make one listing outlive its page token, once.
    pub fn expire_page_tokens(&self) {
        lock(&self.shared.pages).expire_all();
    }

    /// Starts the next "day": daily counters reset.
    pub fn new_day(&self) {
        lock(&self.shared.limiter).new_day();
    }

    /// Sets the type of the user with this id or email (1 Basic, 2 Licensed, 4 Unassigned), as
    /// an admin would in the web portal: not counted in the ground truth. False when no user on
    /// the account has that id or email.
    pub fn set_user_type(&self, user: &str, user_type: u8) -> bool {
        lock(&self.shared.dir).edit(user, |u| u.user_type = user_type)
    }

    /// Makes the user with this id or email a Zoom Room's user (or not): Zoom refuses to make
    /// those Basic. False when no user on the account has that id or email.
    pub fn set_zoom_room(&self, user: &str, zoom_room: bool) -> bool {
        lock(&self.shared.dir).edit(user, |u| u.zoom_room = zoom_room)
    }

    /// Gives the user with this id or email upcoming Zoom Events (or none): Zoom refuses their
    /// deactivation and downgrade. False when no user on the account has that id or email.
    pub fn set_zoom_events(&self, user: &str, zoom_events: bool) -> bool {
        lock(&self.shared.dir).edit(user, |u| u.zoom_events = zoom_events)
    }

    /// Gives the user with this id or email a webinar licence (or takes it away). False when no
    /// user on the account has that id or email.
    pub fn set_webinar_licence(&self, user: &str, licence: bool) -> bool {
        lock(&self.shared.dir).edit(user, |u| u.webinar_licence = licence)
    }

    /// Changes the account's cap on Basic users (`None`: no cap) from now on.
    pub fn set_basic_cap(&self, cap: Option<BasicCap>) {
        lock(&self.shared.dir).basic_cap = cap;
    }

    /// Changes how many Light requests per second the neighbour app uses.
    pub fn set_neighbour_light_per_second(&self, n: u32) {
        lock(&self.shared.limiter).neighbour_light = n;
    }

    /// Changes fault and latency rates from now on. Out-of-range values are made valid rather
    /// than refused (a test helper should not need error handling): each probability is clamped
    /// to `[0, 1]`, a sum over 1 is scaled down to 1, a reversed latency range is swapped.
    pub fn set_faults(&self, f: Faults) {
        lock(&self.shared.faults).set(f.normalized());
    }

    /// Stops accepting, closes every connection and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Address and config only: the user table and request log can be huge.
impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("addr", &self.shared.addr)
            .field("config", &self.shared.cfg)
            .finish_non_exhaustive()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
