//! The run: a bounded pool of workers taking users from the validated list, one shared pacer,
//! one shared token source, and one collector that owns the report.
//!
//! Design (mini-redis, oha):
//! - The permit for a worker slot is taken BEFORE its task is spawned, so there are never more
//!   tasks than `--concurrency`, even for a million users.
//! - The first user goes alone; the pool fans out only once it has an answer. Bad credentials or
//!   a missing scope then cost exactly one call, and the run exits 2 having done nothing.
//! - Workers send finished rows down one channel; the collector (in [`crate::app`]) writes them.
//! - Stop conditions: the daily limit, a fatal auth answer, a report that cannot be written, or
//!   the caller's `cancel` token (Ctrl-C). New requests stop at once; requests already on the
//!   wire are allowed to finish (drain); every user not finished gets a `pending` row.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::input::UserId;
use crate::pacing::{Pacer, backoff};
use crate::report::{Row, Status};
use crate::zoom::{AuthError, ErrorInfo, FatalKind, Outcome, RetryKind, ZoomClient, ZoomUser};

/// What each worker does for its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `DELETE /users/{id}/token`.
    Revoke,
    /// `GET /users/{id}` (dry run with credentials): `would_revoke` or `not_found`.
    Lookup,
}

/// Knobs for one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Revoke or look up.
    pub mode: Mode,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Retries per user for transient failures.
    pub max_retries: u32,
    /// Base for the full-jitter backoff of 5xx and network errors.
    pub backoff_base: Duration,
    /// Cap for that backoff.
    pub backoff_cap: Duration,
}

impl RunOptions {
    /// Options with the contract's defaults for `mode`.
    pub fn new(mode: Mode, concurrency: usize, max_retries: u32) -> RunOptions {
        RunOptions {
            mode,
            concurrency: concurrency.max(1),
            max_retries,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(10),
        }
    }
}

/// Why a run stopped before every user was done.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// Zoom's daily limit for the Light label is used up.
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
    /// Ctrl-C or SIGTERM.
    Interrupted,
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
            StopReason::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// Counters shared by all workers, read by the collector and the summary.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP requests sent (including retries).
    pub requests: AtomicU64,
    /// 429s received (per-second, concurrent and daily).
    pub throttled: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
}

/// What a finished run reports back.
#[derive(Debug)]
pub struct RunResult {
    /// Why it stopped early, if it did.
    pub stop: Option<StopReason>,
    /// True when the stop came from the very first call: then nothing was done (exit 2).
    pub stopped_on_first_call: bool,
}

/// State shared by the workers of one run.
struct Shared {
    client: ZoomClient,
    pacer: Arc<Pacer>,
    opts: RunOptions,
    stats: Arc<Stats>,
    rows: mpsc::Sender<Row>,
    /// Cancelled when the run must stop starting requests (any stop reason).
    stop: CancellationToken,
    /// The first stop reason wins.
    reason: Mutex<Option<StopReason>>,
}

impl Shared {
    async fn halt(&self, reason: StopReason) {
        let mut r = self.reason.lock().await;
        if r.is_none() {
            tracing::warn!(reason = %reason, "stopping the run");
            *r = Some(reason);
        }
        self.stop.cancel();
    }

    async fn send(&self, row: Row) {
        if self.rows.send(row).await.is_err() {
            // The collector is gone: it only leaves when the report failed; it set the reason.
            self.stop.cancel();
        }
    }
}

/// Runs `users` through the pool. Rows go to `rows`; `cancel` is the operator's stop (Ctrl-C).
/// Every user in `users` gets exactly one row: its final status, or `pending`.
pub async fn execute(
    users: Vec<UserId>,
    client: ZoomClient,
    pacer: Arc<Pacer>,
    opts: RunOptions,
    stats: Arc<Stats>,
    rows: mpsc::Sender<Row>,
    cancel: CancellationToken,
) -> RunResult {
    let stop = cancel.child_token();
    let shared = Arc::new(Shared {
        client,
        pacer,
        opts,
        stats,
        rows,
        stop: stop.clone(),
        reason: Mutex::new(None),
    });
    // The collector signals a report failure by closing its receiver.
    {
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shared.rows.closed() => {
                    shared.halt(StopReason::Report("the report writer stopped".into())).await;
                }
                _ = shared.stop.cancelled() => {}
            }
        });
    }

    let mut iter = users.into_iter();
    let mut stopped_on_first_call = false;

    // The first user alone.
    if let Some(first) = iter.next() {
        let row = process(&shared, first).await;
        let first_pending = row.status == Status::Pending;
        shared.send(row).await;
        if first_pending && shared.reason.lock().await.is_some() && !cancel.is_cancelled() {
            stopped_on_first_call = true;
        }
    }

    let slots = Arc::new(Semaphore::new(shared.opts.concurrency));
    let mut tasks = JoinSet::new();
    for user in iter.by_ref() {
        if shared.stop.is_cancelled() {
            shared.send(pending_row(&user, 0)).await;
            break;
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shared.stop.cancelled() => {
                shared.send(pending_row(&user, 0)).await;
                break;
            }
        };
        let shared2 = shared.clone();
        tasks.spawn(
            async move {
                let row = process(&shared2, user).await;
                shared2.send(row).await;
                drop(permit);
            }
            .in_current_span(),
        );
        while tasks.try_join_next().is_some() {}
    }
    // Drain: requests on the wire finish; waiting ones turn into pending rows.
    while tasks.join_next().await.is_some() {}
    for user in iter {
        shared.send(pending_row(&user, 0)).await;
    }
    if cancel.is_cancelled() {
        shared.halt(StopReason::Interrupted).await;
    }
    let stop = shared.reason.lock().await.clone();
    // Release the report watcher (it holds a sender; the collector ends when all are gone).
    shared.stop.cancel();
    RunResult {
        stop,
        stopped_on_first_call,
    }
}

fn pending_row(user: &UserId, attempts: u32) -> Row {
    let mut row = Row::new(user.as_str(), Status::Pending);
    row.attempts = attempts;
    row.message = if attempts == 0 {
        "not attempted: the run stopped early".into()
    } else {
        "not finished: the run stopped early".into()
    };
    row
}

fn info_row(user: &UserId, status: Status, info: &ErrorInfo, attempts: u32) -> Row {
    let mut row = Row::new(user.as_str(), status);
    row.http_status = info.http_status;
    row.error_code = info.code;
    row.message = info.message.clone();
    row.tracking_id = info.tracking_id.clone();
    row.attempts = attempts;
    row
}

fn lookup_row(user: &UserId, body: Option<&ZoomUser>, http: u16, attempts: u32) -> Row {
    let mut row = Row::new(user.as_str(), Status::WouldRevoke);
    row.http_status = Some(http);
    row.attempts = attempts;
    if let Some(u) = body {
        row.name = u.display_name();
        row.zoom_status = u.status.clone();
        row.last_login = u.last_login_time.clone();
        row.message = match u.status.as_deref() {
            Some("pending") => "found (pending user: has no session to revoke)".into(),
            Some(s) => format!("found ({s})"),
            None => "found".into(),
        };
    }
    row
}

/// One user from start to final row: requests, retries, renewals.
async fn process(shared: &Shared, user: UserId) -> Row {
    let mut attempts = 0u32;
    let mut retries = 0u32;
    let mut renewed_from: Option<u64> = None;
    loop {
        if shared.stop.is_cancelled() {
            return pending_row(&user, attempts);
        }
        tokio::select! {
            _ = shared.pacer.acquire() => {}
            _ = shared.stop.cancelled() => return pending_row(&user, attempts),
        }
        attempts += 1;
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let (outcome, generation, body) = match shared.opts.mode {
            Mode::Revoke => match shared.client.revoke(&user).await {
                Ok(a) => (a.outcome, a.token_generation, None),
                Err(e) => return auth_failure(shared, &user, attempts - 1, e).await,
            },
            Mode::Lookup => match shared.client.get_user(&user).await {
                Ok(a) => (a.outcome, a.token_generation, a.body),
                Err(e) => return auth_failure(shared, &user, attempts - 1, e).await,
            },
        };
        if !matches!(
            outcome,
            Outcome::Retry {
                kind: RetryKind::Throttled | RetryKind::Concurrent,
                ..
            } | Outcome::DailyLimit { .. }
        ) {
            shared.pacer.on_success();
        }
        match outcome {
            Outcome::Done { http_status } => {
                return match shared.opts.mode {
                    Mode::Revoke => {
                        let mut row = Row::new(user.as_str(), Status::Revoked);
                        row.http_status = Some(http_status);
                        row.attempts = attempts;
                        row.message = "SSO token revoked: the user is logged out".into();
                        row
                    }
                    Mode::Lookup => lookup_row(&user, body.as_ref(), http_status, attempts),
                };
            }
            Outcome::NotFound(info) => {
                return info_row(&user, Status::NotFound, &info, attempts);
            }
            Outcome::Failed(info) => {
                tracing::info!(user = %user, http = ?info.http_status, code = ?info.code,
                    tracking_id = ?info.tracking_id, "failed: {}", info.message);
                return info_row(&user, Status::Failed, &info, attempts);
            }
            Outcome::DailyLimit { retry_at, info } => {
                shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
                shared.halt(StopReason::DailyLimit { retry_at }).await;
                let mut row = info_row(&user, Status::Pending, &info, attempts);
                row.message = format!("daily limit reached: {}", info.message);
                return row;
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
                shared.halt(reason).await;
                return info_row(&user, Status::Pending, &info, attempts);
            }
            Outcome::TokenRejected(info) => {
                if !shared.client.auth().renewable() {
                    shared
                        .halt(StopReason::Credentials(format!(
                            "ZOOM_ACCESS_TOKEN was rejected (code 124: {}); it cannot be renewed",
                            info.message
                        )))
                        .await;
                    return info_row(&user, Status::Pending, &info, attempts);
                }
                if renewed_from.is_some_and(|g| generation > g) {
                    shared
                        .halt(StopReason::Credentials(format!(
                            "a freshly issued token was rejected too (code 124: {})",
                            info.message
                        )))
                        .await;
                    return info_row(&user, Status::Pending, &info, attempts);
                }
                tracing::debug!(user = %user, generation, "token rejected (124): renewing once");
                if let Err(e) = shared.client.auth().renew(generation).await {
                    return auth_failure(shared, &user, attempts, e).await;
                }
                renewed_from = Some(generation);
            }
            Outcome::Retry {
                kind,
                retry_after,
                info,
            } => {
                let wait = match kind {
                    RetryKind::Throttled => {
                        shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
                        shared.pacer.on_throttle(retry_after);
                        // The pacer pauses everyone; no extra wait for this user.
                        Duration::ZERO
                    }
                    RetryKind::Concurrent => {
                        shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
                        retry_after.unwrap_or_else(|| {
                            Duration::from_secs(1)
                                + backoff(0, Duration::from_secs(1), Duration::from_secs(1))
                        })
                    }
                    RetryKind::Server | RetryKind::Timeout | RetryKind::Connection => retry_after
                        .unwrap_or_else(|| {
                            backoff(retries, shared.opts.backoff_base, shared.opts.backoff_cap)
                        }),
                };
                if retries >= shared.opts.max_retries {
                    let mut row = info_row(&user, Status::Failed, &info, attempts);
                    row.message = format!(
                        "gave up after {attempts} attempts ({} retries): {}",
                        retries, info.message
                    );
                    tracing::info!(user = %user, tracking_id = ?info.tracking_id, "{}", row.message);
                    return row;
                }
                retries += 1;
                shared.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(user = %user, ?kind, attempt = attempts, wait_ms = wait.as_millis() as u64,
                    "retrying: {}", info.message);
                if !wait.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shared.stop.cancelled() => return pending_row(&user, attempts),
                    }
                }
            }
        }
    }
}

async fn auth_failure(shared: &Shared, user: &UserId, attempts: u32, e: AuthError) -> Row {
    let message = e.to_string();
    shared.halt(StopReason::Credentials(message.clone())).await;
    let mut row = pending_row(user, attempts);
    row.message = format!("not finished: {message}");
    row
}
