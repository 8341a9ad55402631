//! The one request policy: every Zoom API call and every token fetch goes through [`drive`].
//!
//! A bulk run is thousands of calls against a budget shared with other apps, so what happens
//! between attempts matters more than any single call. It is decided here, once, for every
//! caller (revoke, dry-run lookups, offboarding steps, `users` paging, the token endpoint),
//! after the AWS SDKs' single retry strategy:
//! - **pacer feedback**: every answer that is not a throttle counts as getting through
//!   ([`Pacer::on_success`]); a per-second 429 slows the whole run ([`Pacer::on_throttle`]),
//!   and this caller then waits for its next slot like everyone else, no extra sleep;
//! - **Retry-After**: a usable hint from the server is honoured (capped by the classifier);
//! - **backoff**: 5xx, timeouts and dropped connections wait a full-jitter exponential backoff;
//! - **concurrent-request 429**: about one user, not the account, so only this call waits
//!   (1-2 s, or the hint), the pacer is not cut;
//! - **token renewal**: a 124 renews the shared token once per call (single flight across
//!   workers by token generation); a 124 for a token issued after that renewal stops the run;
//! - **retry limit**: `max_retries` retries per call, then the call has given up;
//! - **outages**: when most recent calls of the run fail with 5xx, timeouts or dropped
//!   connections, the account is down, not the users: calls wait while one probe at a time
//!   checks, and such failures are not charged to anyone ([`outage`]);
//! - **unreachable**: a run whose very first answer is a failure to connect at all (name
//!   resolution, connection refused, TLS) stops at once: that is configuration, not weather;
//! - **stops**: the daily limit, a missing scope or rejected credentials stop the whole run
//!   through [`Control::halt`], so the caller only writes the row.
//!
//! A new kind of Zoom call is therefore a description ([`crate::zoom::ZoomCall`]) plus what
//! its answers mean for a row: it needs no retry code.

pub mod outage;
pub mod tokens;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::evidence::timeline::{Event, Timeline};
use crate::pacing::{Pacer, backoff};
use crate::zoom::{ErrorInfo, FatalKind, Outcome, RetryKind, ZoomCall, ZoomClient};
pub use tokens::{AuthError, TokenSource};

/// How many times a call is tried again, and how long it waits between tries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries per call for 429s, 5xx, timeouts and dropped connections (`--max-retries`).
    pub max_retries: u32,
    /// Base of the full-jitter backoff for 5xx and network errors.
    pub backoff_base: Duration,
    /// Cap of that backoff.
    pub backoff_cap: Duration,
}

impl RetryPolicy {
    /// The API's policy: `max_retries` retries, backoff from 200 ms up to 10 s.
    pub fn new(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(10),
        }
    }

    /// The token endpoint's policy: three retries, backoff from 500 ms up to 4 s. A token
    /// endpoint that stays down for longer is reported rather than waited out: without a
    /// token no call can be made.
    pub fn token_endpoint() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(4),
        }
    }
}

/// Counters shared by every caller of one run, read by the progress bar and the summary.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP requests sent (including retries).
    pub requests: AtomicU64,
    /// 429s received (per-second, concurrent and daily).
    pub throttled: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
    /// Requests, 429s and failed answers per second since the run started, for the run log and
    /// the HTML chart (second 0 begins when the counters are made, at the run's start).
    pub timeline: Timeline,
}

impl Stats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why a run stopped before every user was done.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// Zoom's daily limit for the label is used up.
    DailyLimit {
        /// When Zoom says calls may resume.
        retry_at: Option<DateTime<Utc>>,
    },
    /// A scope is missing: no call of this kind can succeed.
    MissingScope(String),
    /// Credentials rejected (a 124 a new token did not cure, a static token rejected, 401/403,
    /// or the token endpoint refusing).
    Credentials(String),
    /// The report could not be written: going on would lose track of users.
    Report(String),
    /// Zoom was down for longer than `--outage-wait`.
    Outage {
        /// How long the outage had lasted.
        lasted: Duration,
    },
    /// The very first call could not reach the API at all.
    Unreachable(String),
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// A call the run cannot go on without (a listing's page) kept failing: its words.
    GaveUp(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::DailyLimit { retry_at: Some(t) } => write!(
                f,
                "Zoom's daily API limit is used up; calls may resume at {} (Retry-After)",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            StopReason::DailyLimit { retry_at: None } => f.write_str(
                "Zoom's daily API limit is used up (no Retry-After given; it resets at midnight UTC)",
            ),
            StopReason::MissingScope(s) => write!(
                f,
                "the app's token lacks a required scope: {s}. Add it to the Server-to-Server \
                 OAuth app (Zoom Marketplace > your app > Scopes) and run again"
            ),
            StopReason::Credentials(m) => write!(f, "credentials rejected: {m}"),
            StopReason::Report(m) => write!(f, "cannot write the report: {m}"),
            StopReason::Outage { lasted } => write!(
                f,
                "Zoom has been failing (5xx, timeouts, dropped connections) for {}, longer \
                 than --outage-wait",
                humantime::format_duration(Duration::from_secs(lasted.as_secs()))
            ),
            StopReason::Unreachable(m) => write!(f, "cannot reach the Zoom API: {m}"),
            StopReason::Interrupted => f.write_str("interrupted"),
            StopReason::GaveUp(m) => f.write_str(m),
        }
    }
}

impl StopReason {
    /// True when the stop is about how the tool is set up (credentials, a scope, the API's
    /// address): nothing can be done until the operator fixes it, so a stop on the very first
    /// call did nothing (exit 2, the fresh report removed). Every other stop is cured by a later
    /// run (the daily limit resets, the outage ends, the operator's interrupt, space freed for
    /// the report): even on the first call it keeps its report, every user `pending`, exit 3.
    pub fn is_configuration(&self) -> bool {
        match self {
            StopReason::MissingScope(_)
            | StopReason::Credentials(_)
            | StopReason::Unreachable(_) => true,
            StopReason::DailyLimit { .. }
            | StopReason::Report(_)
            | StopReason::Outage { .. }
            | StopReason::Interrupted
            | StopReason::GaveUp(_) => false,
        }
    }
}

/// The stop switch of one run, shared by every caller and the pool.
///
/// `stop` is a child of the operator's cancel token (Ctrl-C), so either an operator or a
/// [`Control::halt`] stops new requests at once; the first reason given wins and is what the
/// summary prints.
#[derive(Debug)]
pub struct Control {
    /// Cancelled when no new request may start (any stop reason, or Ctrl-C).
    stop: CancellationToken,
    /// The operator's own token, to tell an interrupt from a halt.
    operator: CancellationToken,
    /// The first stop reason.
    reason: Mutex<Option<StopReason>>,
    /// The account's health, judged from every call of the run.
    health: outage::Health,
    /// Set by the first answer from a server (any HTTP status): after it, failing to connect
    /// is weather (an outage), before it, configuration.
    answered: AtomicBool,
}

impl Control {
    /// A control stopped by `operator` (Ctrl-C) as well as by [`Control::halt`], waiting
    /// out outages for the default 600 s.
    pub fn new(operator: &CancellationToken) -> Arc<Control> {
        Control::with_outage_wait(operator, Duration::from_secs(600))
    }

    /// Like [`Control::new`], waiting out outages for up to `outage_wait` (`--outage-wait`).
    pub fn with_outage_wait(operator: &CancellationToken, outage_wait: Duration) -> Arc<Control> {
        Arc::new(Control {
            stop: operator.child_token(),
            operator: operator.clone(),
            reason: Mutex::new(None),
            health: outage::Health::new(outage_wait),
            answered: AtomicBool::new(false),
        })
    }

    /// The account's health as this run sees it.
    pub fn health(&self) -> &outage::Health {
        &self.health
    }

    /// Stops the run for `reason` (the first reason given is kept).
    pub fn halt(&self, reason: StopReason) {
        {
            let mut r = crate::sync::lock(&self.reason);
            if r.is_none() {
                tracing::warn!(reason = %reason, "stopping the run");
                *r = Some(reason);
            }
        }
        self.stop.cancel();
    }

    /// The report could not be written: stops the run, and this precise cause replaces the
    /// generic one the pool's watcher gave when the writer went away.
    pub fn report_failed(&self, message: String) {
        {
            let mut r = crate::sync::lock(&self.reason);
            if r.is_none() || matches!(*r, Some(StopReason::Report(_))) {
                *r = Some(StopReason::Report(message));
            }
        }
        self.stop.cancel();
    }

    /// True once no new request may start.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Resolves once no new request may start.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }

    /// True when the operator stopped the run (Ctrl-C, SIGTERM).
    pub fn operator_stopped(&self) -> bool {
        self.operator.is_cancelled()
    }

    /// Why the run stopped: the halt reason, or [`StopReason::Interrupted`] for Ctrl-C.
    pub fn reason(&self) -> Option<StopReason> {
        let r = crate::sync::lock(&self.reason).clone();
        r.or_else(|| {
            self.operator
                .is_cancelled()
                .then_some(StopReason::Interrupted)
        })
    }
}

/// What one attempt produced: the client's, re-exported here where the loop consumes it.
pub use crate::zoom::Attempt;

/// What a call came to, after every retry the policy allows.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// 2xx.
    Done {
        /// The HTTP status.
        http_status: u16,
    },
    /// The user is not on the account (404/1001, 400/1120, 400/1010).
    NotFound(ErrorInfo),
    /// A 4xx that no retry can cure; the caller decides what it means (failed, refused).
    Rejected(ErrorInfo),
    /// Still failing (429, 5xx, timeouts, dropped connections) after `max_retries` retries.
    GaveUp(ErrorInfo),
    /// The run was halted by this call (daily limit, scope, credentials): see
    /// [`Control::reason`]. The answer that did it, if there was one.
    Halted(Option<ErrorInfo>),
    /// The run was stopped by someone else (another call's halt, Ctrl-C) before this call
    /// could finish.
    Interrupted,
}

/// A verdict with the attempts it took and the last answer's body.
#[derive(Debug)]
pub struct Settled {
    /// What the call came to.
    pub verdict: Verdict,
    /// Requests sent for this call.
    pub attempts: u32,
    /// The last answer's body (empty when none arrived).
    pub body: Vec<u8>,
}

impl Settled {
    /// Parses the body of a 2xx as JSON. A body that is not what Zoom documents is an error
    /// naming what failed, never a panic.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("unreadable answer from Zoom: {e}"))
    }
}

/// Everything [`drive`] needs besides the attempt itself. Optional parts are absent for the
/// token endpoint, which has no pacer, no token to renew and no run of its own.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Retries and backoff.
    pub policy: &'a RetryPolicy,
    /// The label's shared pacer: every attempt waits for a slot and feeds back what happened.
    pub pacer: Option<&'a Pacer>,
    /// The run's stop switch.
    pub control: Option<&'a Control>,
    /// The run's counters.
    pub stats: Option<&'a Stats>,
    /// The token source to renew on a 124.
    pub tokens: Option<&'a TokenSource>,
    /// Where the calls go, for the message when the API cannot be reached.
    pub url: Option<&'a str>,
}

impl<'a> Context<'a> {
    /// A bare context: retries and backoff only.
    pub fn bare(policy: &'a RetryPolicy) -> Context<'a> {
        Context {
            policy,
            pacer: None,
            control: None,
            stats: None,
            tokens: None,
            url: None,
        }
    }

    fn url_hint(&self) -> &str {
        self.url.unwrap_or("the API")
    }

    fn stopped(&self) -> bool {
        self.control.is_some_and(Control::is_stopped)
    }

    async fn until_stopped(&self) {
        match self.control {
            Some(c) => c.stopped().await,
            None => std::future::pending().await,
        }
    }

    fn halt(&self, reason: StopReason, info: Option<ErrorInfo>) -> Verdict {
        if let Some(c) = self.control {
            c.halt(reason);
        }
        Verdict::Halted(info)
    }

    fn count(&self, pick: impl Fn(&Stats) -> &AtomicU64) {
        if let Some(s) = self.stats {
            Stats::bump(pick(s));
        }
    }

    /// Puts a request sent, or what its answer was, in the run's timeline: a 429 (per-second,
    /// concurrent or daily) is throttled; a 5xx, a timeout, a dropped or refused connection
    /// (the token endpoint down included) is a failed answer; anything else is neither.
    fn chart(&self, sent: Option<&Outcome>) {
        let Some(s) = self.stats else { return };
        let event = match sent {
            None => Some(Event::Sent),
            Some(
                Outcome::Retry {
                    kind: RetryKind::Throttled | RetryKind::Concurrent,
                    ..
                }
                | Outcome::DailyLimit { .. },
            ) => Some(Event::Throttled),
            Some(Outcome::Retry {
                kind:
                    RetryKind::Server | RetryKind::Timeout | RetryKind::Connection | RetryKind::Connect,
                ..
            }) => Some(Event::FailedAnswer),
            Some(_) => None,
        };
        if let Some(e) = event {
            s.timeline.record(e);
        }
    }
}

/// One call across its attempts: what the loop carries from one attempt to the next.
#[derive(Debug, Default)]
struct Call {
    /// Requests sent.
    attempts: u32,
    /// Retries charged to the call (outage failures are not).
    retries: u32,
    /// The token generation this call renewed from, until an answer shows the new one works.
    renewed_from: Option<u64>,
    /// The last answer's body.
    body: Vec<u8>,
}

impl Call {
    fn settled(self, verdict: Verdict) -> Settled {
        Settled {
            verdict,
            attempts: self.attempts,
            body: self.body,
        }
    }
}

/// What the loop does after an answer is classified.
enum Next {
    /// The call is over.
    Settle(Verdict),
    /// Send again at once (a renewed token).
    Again,
    /// A retryable failure: wait, then send again, if the policy allows.
    Retry {
        kind: RetryKind,
        retry_after: Option<Duration>,
        info: ErrorInfo,
    },
}

/// The attempt loop: calls `attempt` until its answer is final, applying the policy described
/// in the module doc between attempts. Each decision is a function of its own: [`admit`] (the
/// outage gate and the pacer), [`feedback`] (what the answer tells the run's health and the
/// pacer), [`decide`] (what the answer means for the call, with [`renew`] for a 124), and
/// [`wait_before_retry`]; this loop is the only one.
pub async fn drive<F, Fut>(cx: Context<'_>, mut attempt: F) -> Settled
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt, AuthError>>,
{
    let mut call = Call::default();
    loop {
        let admission = match admit(&cx).await {
            Ok(a) => a,
            Err(verdict) => return call.settled(verdict),
        };
        call.attempts += 1;
        cx.count(|s| &s.requests);
        cx.chart(None);
        let answer = match token_outage(attempt().await) {
            Ok(a) => a,
            Err(e) => {
                release(&cx, admission);
                call.attempts -= 1;
                return call.settled(cx.halt(StopReason::Credentials(e.to_string()), None));
            }
        };
        cx.chart(Some(&answer.outcome));
        let generation = answer.token_generation;
        let explained = match feedback(&cx, admission, &answer) {
            Ok(explained) => explained,
            Err(verdict) => {
                call.body = answer.body;
                return call.settled(verdict);
            }
        };
        call.body = answer.body;
        let (kind, retry_after, info) =
            match decide(&cx, &mut call, answer.outcome, generation).await {
                Next::Settle(verdict) => return call.settled(verdict),
                Next::Again => continue,
                Next::Retry {
                    kind,
                    retry_after,
                    info,
                } => (kind, retry_after, info),
            };
        let wait = wait_before_retry(&cx, kind, retry_after, call.retries);
        if explained {
            // The account is down, not this call: not charged, and the outage gate (not a
            // backoff of this call's own) decides when it goes again.
            tracing::debug!(?kind, attempt = call.attempts, "outage: {}", info.message);
            continue;
        }
        if call.retries >= cx.policy.max_retries {
            return give_up(call, info);
        }
        call.retries += 1;
        cx.count(|s| &s.retries);
        tracing::debug!(
            ?kind,
            attempt = call.attempts,
            wait_ms = wait.as_millis() as u64,
            "retrying: {}",
            info.message
        );
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cx.until_stopped() => return call.settled(Verdict::Interrupted),
            }
        }
    }
}

/// Whether an attempt may start: not stopped, let in by the outage gate (which stops the run
/// when an outage outlasts `--outage-wait`), then a slot from the pacer.
async fn admit(cx: &Context<'_>) -> Result<Option<outage::Admission>, Verdict> {
    if cx.stopped() {
        return Err(Verdict::Interrupted);
    }
    let admission = match cx.control {
        None => None,
        Some(c) => tokio::select! {
            a = c.health.admit() => match a {
                Ok(a) => Some(a),
                Err(too_long) => {
                    return Err(cx.halt(StopReason::Outage { lasted: too_long.lasted }, None));
                }
            },
            _ = c.stopped() => return Err(Verdict::Interrupted),
        },
    };
    if let Some(pacer) = cx.pacer {
        tokio::select! {
            _ = pacer.acquire() => {}
            _ = cx.until_stopped() => {
                release(cx, admission);
                return Err(Verdict::Interrupted);
            }
        }
    }
    Ok(admission)
}

/// Gives an admission back unused.
fn release(cx: &Context<'_>, admission: Option<outage::Admission>) {
    if let (Some(c), Some(a)) = (cx.control, admission) {
        c.health.release(a);
    }
}

/// The token endpoint down (after its own retries) is an outage like any other: a retryable
/// failure to connect. Any other token error stays an error (credentials).
fn token_outage(result: Result<Attempt, AuthError>) -> Result<Attempt, AuthError> {
    match result {
        Err(AuthError::Unavailable { url, detail }) => Ok(Attempt {
            outcome: Outcome::Retry {
                kind: RetryKind::Connection,
                retry_after: None,
                info: ErrorInfo {
                    message: format!("could not get a token from {url}: {detail}"),
                    ..ErrorInfo::default()
                },
            },
            body: Vec::new(),
            token_generation: None,
        }),
        other => other,
    }
}

/// What the answer tells the run: the account's health (`Ok(true)`: the failure is explained
/// by an outage, not charged to the call), that the API answers at all (a very first answer
/// that is a failure to connect stops the run: configuration, not weather), and the pacer
/// that a request got through.
fn feedback(
    cx: &Context<'_>,
    admission: Option<outage::Admission>,
    answer: &Attempt,
) -> Result<bool, Verdict> {
    let mut explained = false;
    if let (Some(c), Some(a)) = (cx.control, admission) {
        if let Outcome::Retry {
            kind: RetryKind::Connect,
            info,
            ..
        } = &answer.outcome
            && !c.answered.load(Ordering::Relaxed)
        {
            c.health.release(a);
            let reason = StopReason::Unreachable(format!("{}: {}", cx.url_hint(), info.message));
            return Err(cx.halt(reason, Some(info.clone())));
        }
        if !matches!(&answer.outcome, Outcome::Retry { info, .. } if info.http_status.is_none()) {
            c.answered.store(true, Ordering::Relaxed);
        }
        explained = c.health.report(a, is_weather(&answer.outcome));
    }
    let throttle = matches!(
        answer.outcome,
        Outcome::Retry {
            kind: RetryKind::Throttled | RetryKind::Concurrent,
            ..
        } | Outcome::DailyLimit { .. }
    );
    if let (Some(pacer), false) = (cx.pacer, throttle) {
        pacer.on_success();
    }
    Ok(explained)
}

/// A failure an outage explains: 5xx, timeouts, dropped or refused connections.
fn is_weather(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Retry {
            kind: RetryKind::Server
                | RetryKind::Timeout
                | RetryKind::Connection
                | RetryKind::Connect,
            ..
        }
    )
}

/// What the answer means for the call: final (done, not found, rejected), a stop of the run
/// (daily limit, scope, credentials), a renewed token to try again with, or a retryable failure.
async fn decide(
    cx: &Context<'_>,
    call: &mut Call,
    outcome: Outcome,
    generation: Option<u64>,
) -> Next {
    match outcome {
        Outcome::Done { http_status } => Next::Settle(Verdict::Done { http_status }),
        Outcome::NotFound(info) => Next::Settle(Verdict::NotFound(info)),
        Outcome::Failed(info) => Next::Settle(Verdict::Rejected(info)),
        Outcome::DailyLimit { retry_at, info } => {
            cx.count(|s| &s.throttled);
            Next::Settle(cx.halt(StopReason::DailyLimit { retry_at }, Some(info)))
        }
        Outcome::Fatal { kind, info } => {
            let reason = match kind {
                FatalKind::MissingScope(s) => StopReason::MissingScope(s),
                FatalKind::Unauthorized => StopReason::Credentials(format!(
                    "HTTP {} {}",
                    info.http_status.unwrap_or(0),
                    info.message
                )),
            };
            Next::Settle(cx.halt(reason, Some(info)))
        }
        Outcome::TokenRejected(info) => renew(cx, call, info, generation.unwrap_or(0)).await,
        Outcome::Retry {
            kind,
            retry_after,
            info,
        } => {
            // An answer from the server other than 124 means the renewed token was accepted: a
            // later expiry in this call's retries is renewed again, not taken for a fresh token
            // rejected.
            if info.http_status.is_some() {
                call.renewed_from = None;
            }
            Next::Retry {
                kind,
                retry_after,
                info,
            }
        }
    }
}

/// A 124: the shared token is renewed once per expiry (single flight across workers by token
/// generation) and the call goes again. A static token, or a token issued after this call's
/// renewal rejected too, stops the run.
async fn renew(cx: &Context<'_>, call: &mut Call, info: ErrorInfo, generation: u64) -> Next {
    let Some(tokens) = cx.tokens else {
        return Next::Settle(Verdict::Rejected(info));
    };
    let stop = if !tokens.renewable() {
        Some(format!(
            "ZOOM_ACCESS_TOKEN was rejected (code 124: {}); it cannot be renewed",
            info.message
        ))
    } else if call.renewed_from.is_some_and(|g| generation > g) {
        Some(format!(
            "a freshly issued token was rejected too (code 124: {})",
            info.message
        ))
    } else {
        None
    };
    if let Some(m) = stop {
        return Next::Settle(cx.halt(StopReason::Credentials(m), Some(info)));
    }
    tracing::debug!(generation, "token rejected (124): renewing once");
    // Boxed: renewing fetches a token, which goes through this loop too.
    if let Err(e) = Box::pin(tokens.renew(generation)).await {
        return Next::Settle(cx.halt(StopReason::Credentials(e.to_string()), Some(info)));
    }
    call.renewed_from = Some(generation);
    Next::Again
}

/// How long a retryable failure waits: a per-second 429 tells the pacer (which decides whether
/// everyone pauses) and honours the server's hint itself, then queues for its next slot; a
/// concurrent-request 429 waits 1-2 s or its hint; the rest the hint or a full-jitter backoff.
fn wait_before_retry(
    cx: &Context<'_>,
    kind: RetryKind,
    retry_after: Option<Duration>,
    retries: u32,
) -> Duration {
    match (kind, cx.pacer) {
        (RetryKind::Throttled, Some(pacer)) => {
            cx.count(|s| &s.throttled);
            pacer.on_throttle(retry_after);
            retry_after.unwrap_or(Duration::ZERO)
        }
        (RetryKind::Concurrent, _) => {
            cx.count(|s| &s.throttled);
            retry_after.unwrap_or_else(|| {
                Duration::from_secs(1) + Duration::from_millis(rand::rng().random_range(0..=1000))
            })
        }
        _ => retry_after
            .unwrap_or_else(|| backoff(retries, cx.policy.backoff_base, cx.policy.backoff_cap)),
    }
}

/// The call used up its retries: given up, saying how many attempts it took.
fn give_up(call: Call, mut info: ErrorInfo) -> Settled {
    info.message = format!(
        "gave up after {} attempts ({} retries): {}",
        call.attempts, call.retries, info.message
    );
    tracing::info!(tracking_id = ?info.tracking_id, "{}", info.message);
    call.settled(Verdict::GaveUp(info))
}

/// Where a run's calls go: the HTTP client and the one token source every call of the process
/// shares (so that renewals are single-flight across labels too). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Api {
    /// The HTTP client and base URL.
    pub client: ZoomClient,
    /// The tokens every attempt carries.
    pub tokens: Arc<TokenSource>,
}

/// How one label's calls are sent: the client, that label's pacer, the policy, and the run's
/// control and counters. Cheap to clone; every worker of a run holds one.
#[derive(Debug, Clone)]
pub struct Requester {
    /// The HTTP client and the run's one token source.
    api: Api,
    /// The pacer of the label these calls count against (Light, or Medium for listing).
    pacer: Arc<Pacer>,
    /// Retries and backoff.
    policy: RetryPolicy,
    /// The run's stop switch.
    control: Arc<Control>,
    /// The run's counters.
    stats: Arc<Stats>,
}

impl Requester {
    /// Calls through `api`, paced by `pacer`, stopped by `control`, counted in `stats`.
    pub fn new(
        api: Api,
        pacer: Arc<Pacer>,
        policy: RetryPolicy,
        control: Arc<Control>,
        stats: Arc<Stats>,
    ) -> Requester {
        Requester {
            api,
            pacer,
            policy,
            control,
            stats,
        }
    }

    /// The same run's calls for another label (its own pacer, the same control and counters).
    pub fn with_pacer(&self, pacer: Arc<Pacer>) -> Requester {
        Requester {
            pacer,
            ..self.clone()
        }
    }

    /// Sends `call` under the policy until its answer is final.
    pub async fn send(&self, call: &ZoomCall) -> Settled {
        let cx = Context {
            policy: &self.policy,
            pacer: Some(&self.pacer),
            control: Some(&self.control),
            stats: Some(&self.stats),
            tokens: Some(&self.api.tokens),
            url: Some(self.api.client.base_url()),
        };
        drive(cx, || async {
            let token = self.api.tokens.token().await?;
            Ok(self.api.client.attempt(call, &token).await)
        })
        .await
    }

    /// The run's stop switch.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// The run's counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// This label's pacer.
    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    /// The token source (for renewals and scope checks).
    pub fn tokens(&self) -> &TokenSource {
        &self.api.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    fn info(msg: &str) -> ErrorInfo {
        ErrorInfo {
            message: msg.into(),
            ..ErrorInfo::default()
        }
    }

    /// Drives a scripted sequence of outcomes; returns the verdict and how many were used.
    async fn script(policy: RetryPolicy, outcomes: Vec<Outcome>) -> (Settled, usize) {
        let left = RefCell::new(VecDeque::from(outcomes));
        let used = RefCell::new(0usize);
        let s = drive(Context::bare(&policy), || {
            *used.borrow_mut() += 1;
            let o = left.borrow_mut().pop_front();
            async move {
                Ok(Attempt {
                    outcome: o.unwrap_or(Outcome::Done { http_status: 204 }),
                    body: Vec::new(),
                    token_generation: None,
                })
            }
        })
        .await;
        let n = *used.borrow();
        (s, n)
    }

    fn server_error() -> Outcome {
        Outcome::Retry {
            kind: RetryKind::Server,
            retry_after: Some(Duration::from_millis(1)),
            info: info("HTTP 503"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_done_then_stops_at_the_limit() {
        let (s, n) = script(RetryPolicy::new(3), vec![server_error(), server_error()]).await;
        assert_eq!(s.verdict, Verdict::Done { http_status: 204 });
        assert_eq!((s.attempts, n), (3, 3));

        let (s, n) = script(RetryPolicy::new(2), vec![server_error(); 5]).await;
        match s.verdict {
            Verdict::GaveUp(i) => assert!(i.message.starts_with("gave up after 3 attempts")),
            other => panic!("{other:?}"),
        }
        assert_eq!(n, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn final_answers_are_not_retried() {
        let (s, n) = script(
            RetryPolicy::new(5),
            vec![Outcome::NotFound(info("User does not exist"))],
        )
        .await;
        assert!(matches!(s.verdict, Verdict::NotFound(_)));
        assert_eq!(n, 1);
        let (s, n) = script(RetryPolicy::new(5), vec![Outcome::Failed(info("nope"))]).await;
        assert!(matches!(s.verdict, Verdict::Rejected(_)));
        assert_eq!(n, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_waits_between_attempts() {
        let policy = RetryPolicy {
            max_retries: 1,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(2),
        };
        let start = tokio::time::Instant::now();
        let hinted = Outcome::Retry {
            kind: RetryKind::Server,
            retry_after: Some(Duration::from_secs(7)),
            info: info("HTTP 503"),
        };
        let (s, _) = script(policy, vec![hinted]).await;
        assert_eq!(s.verdict, Verdict::Done { http_status: 204 });
        // Retry-After wins over the backoff.
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_halt_stops_the_run_and_the_next_call() {
        let cancel = CancellationToken::new();
        let control = Control::new(&cancel);
        let policy = RetryPolicy::new(3);
        let cx = Context {
            control: Some(&control),
            ..Context::bare(&policy)
        };
        let s = drive(cx, || async {
            Ok(Attempt {
                outcome: Outcome::Fatal {
                    kind: FatalKind::MissingScope("user:write:admin".into()),
                    info: info("no scope"),
                },
                body: Vec::new(),
                token_generation: None,
            })
        })
        .await;
        assert!(matches!(s.verdict, Verdict::Halted(Some(_))));
        assert_eq!(
            control.reason(),
            Some(StopReason::MissingScope("user:write:admin".into()))
        );
        let calls = std::cell::Cell::new(0);
        let s = drive(cx, || {
            calls.set(calls.get() + 1);
            async { Err(AuthError::StaticRejected("never sent".into())) }
        })
        .await;
        assert_eq!(calls.get(), 0, "no request after a halt");
        assert_eq!((s.verdict, s.attempts), (Verdict::Interrupted, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn operator_cancel_reads_as_interrupted() {
        let cancel = CancellationToken::new();
        let control = Control::new(&cancel);
        cancel.cancel();
        assert!(control.is_stopped());
        assert_eq!(control.reason(), Some(StopReason::Interrupted));
    }
}
