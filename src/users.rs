//! Listing the account's users (`GET /users`, Medium label), for `zoom-offboard users`,
//! `reconcile` and dry runs of large batches: one paging path for all three.
//!
//! A listing is paced by the Medium rate, not by round trips: page 1 is asked for without a token
//! (300 users), and its `page_count` and `total_records` say how many pages follow. Pages 2 to
//! the last are asked for by `page_number`, [`in_flight`] of them at once, each through the one
//! request policy and the Medium pacer, and emitted in page order. The first few of them
//! ([`ahead`]: what the rate allows in 100 ms, but no more than the users the caller expects
//! would fill) go out right behind page 1, before its counts are known, so that the rate is not
//! idle for page 1's round trip; on an account smaller than expected those few calls come back
//! empty and are dropped, and `users`, which expects nothing, sends none. Asked one after the other (each
//! `next_page_token` comes with the page before it) a 50,000-user listing took 15.2 s at 60/s
//! with 30-120 ms of latency, against 2.8 s for 167 pages at the rate (BENCHMARKS.md).
//!
//! Zoom marks `page_number` deprecated, so its answers are checked before they are trusted: every
//! page must echo the number asked for and page 1's `total_records`, no user may come twice, and
//! the users listed must number `total_records`. When a check fails, or Zoom refuses
//! `page_number` (a 4xx that is neither a rate limit nor a credentials problem), the rest is
//! listed by the `next_page_token` chain from page 1's token, skipping every user already emitted
//! ([`Fallback`], logged once). A Zoom that drops `page_number` still lists right, only slower; a
//! listing whose users change between pages (which moves users across page boundaries) shows
//! up as a changed `total_records` and is finished by the chain, each user once.
//!
//! A `next_page_token` expires 15 minutes after it was issued. A long listing (or one paused by
//! 429s) can outlive it: then the chain restarts from the first page and skips every user already
//! emitted, so the output has each user exactly once.

use std::collections::HashSet;
use std::fmt;
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;

use crate::request::{Requester, StopReason, Verdict};
use crate::zoom::{ErrorInfo, UsersPage, ZoomCall, ZoomUser};

/// Page size: 300 is what every Zoom doc and client agrees on (the 2026 spec allows 2000).
pub const PAGE_SIZE: u32 = 300;

/// The slowest answer a numbered listing still keeps the rate busy through: pages in flight are
/// the rate times this. Half a second is four times the simulator's worst latency; a second (60
/// pages in flight at Business' 60/s) was no faster on reconcile-50k, and lets twice as many
/// answered pages wait in memory for a slow earlier one.
const WORST_LATENCY: Duration = Duration::from_millis(500);

/// Numbered pages in flight at most, whatever the rate (also the most answered pages that can
/// wait in memory for an earlier one).
const MAX_IN_FLIGHT: usize = 64;

/// Pages a numbered listing keeps in flight at `rate` requests per second: enough that the pacer,
/// not the round trips, sets the pace while answers take up to [`WORST_LATENCY`]; at least 2, at
/// most [`MAX_IN_FLIGHT`]. Also the HTTP connection pool a listing needs.
pub fn in_flight(rate: f64) -> usize {
    let n = (rate * WORST_LATENCY.as_secs_f64()).ceil();
    calls_within(n, 2, MAX_IN_FLIGHT as u64) as usize
}

/// `n` calls (already rounded) within `least..=most`; `least` when `n` is not a number.
fn calls_within(n: f64, least: u64, most: u64) -> u64 {
    if n.is_finite() && n > least as f64 {
        (n as u64).min(most)
    } else {
        least
    }
}

/// How long page 1's answer is expected to take: while it is on its way, the numbered pages
/// that the rate allows in that time are asked for already ([`speculative`]).
const FIRST_ANSWER: Duration = Duration::from_millis(100);

/// Numbered pages asked for ahead of page 1's answer at most, whatever the rate: the calls an
/// account of one page can spend past its last page.
const MAX_SPECULATIVE: u64 = 8;

/// Numbered pages asked for before page 1 has said how many pages there are, at `rate`
/// requests per second: the pacer's sends during [`FIRST_ANSWER`] (0 below 10/s, 6 at 60/s, at
/// most [`MAX_SPECULATIVE`]). Without them the rate sits idle for page 1's round trip; with
/// them, an account with fewer pages spends the calls sent past its last page before page 1
/// answered (empty answers, never emitted; those not sent yet are dropped).
pub fn speculative(rate: f64) -> u64 {
    let n = (rate * FIRST_ANSWER.as_secs_f64()).floor();
    calls_within(n, 0, MAX_SPECULATIVE)
}

/// Numbered pages asked for before page 1 answers, for a listing the caller expects to hold
/// `expected_users`: [`speculative`], but never past the pages those users would fill. A caller
/// that does not know (`users`, a status other than active) passes 0 and so spends no call past
/// an account's last page; `reconcile` passes its roster's size, a dry run its input's.
pub fn ahead(rate: f64, expected_users: u64) -> u64 {
    let expected_pages = expected_users.div_ceil(u64::from(PAGE_SIZE));
    speculative(rate).min(expected_pages.saturating_sub(1))
}

/// Why a listing stopped.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The token endpoint or the API refused the credentials.
    #[error("credentials rejected: {0}")]
    Credentials(String),
    /// The token lacks the scope to list users.
    #[error(
        "the app's token lacks the scope to list users: {0}. Add user:read:list_users:admin \
         (or user:read:admin) to the app"
    )]
    MissingScope(String),
    /// Zoom's daily limit for the Medium label is used up.
    #[error("Zoom's daily limit for listing users is used up{0}")]
    DailyLimit(String),
    /// A page kept failing.
    #[error("listing users failed after {attempts} attempts: {}", .info.message)]
    Failed {
        /// Attempts made for the page.
        attempts: u32,
        /// The last answer.
        info: ErrorInfo,
    },
    /// Zoom was down for longer than `--outage-wait`.
    #[error("{0}")]
    Unavailable(String),
    /// The very first call could not reach the API at all (configuration).
    #[error("{0}")]
    Unreachable(String),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(String),
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
}

impl ListError {
    /// The listing's error for the run's stop (`None`: interrupted).
    fn stopped(reason: Option<StopReason>) -> ListError {
        match reason {
            Some(StopReason::MissingScope(s)) => ListError::MissingScope(s),
            Some(StopReason::DailyLimit { retry_at }) => ListError::DailyLimit(
                retry_at
                    .map(|t| format!("; calls may resume at {}", t.to_rfc3339()))
                    .unwrap_or_default(),
            ),
            Some(StopReason::Credentials(m)) => ListError::Credentials(m),
            Some(StopReason::Report(m)) => ListError::Output(m),
            Some(r @ (StopReason::Outage { .. } | StopReason::GaveUp(_))) => {
                ListError::Unavailable(r.to_string())
            }
            Some(r @ StopReason::Unreachable(_)) => ListError::Unreachable(r.to_string()),
            Some(StopReason::Interrupted) | None => ListError::Interrupted,
        }
    }

    /// The run's stop for a listing that ended with this error. An error that came from the
    /// run's own stop (daily limit, outage, unreachable API, interrupt) names that stop, which
    /// [`crate::request::Control::halt`] keeps as the first reason.
    pub fn stop_reason(&self) -> StopReason {
        match self {
            ListError::Credentials(m) => StopReason::Credentials(m.clone()),
            ListError::MissingScope(s) => StopReason::MissingScope(s.clone()),
            ListError::Output(m) => StopReason::Report(m.clone()),
            ListError::Unreachable(m) => StopReason::Unreachable(m.clone()),
            ListError::Interrupted => StopReason::Interrupted,
            ListError::DailyLimit(_) | ListError::Failed { .. } | ListError::Unavailable(_) => {
                StopReason::GaveUp(self.to_string())
            }
        }
    }
}

/// Zoom's error code for an invalid or expired `next_page_token` (a 400; docs/zoom-api.md,
/// "All users"): the listing starts over from the first page.
const EXPIRED_PAGE_TOKEN: i64 = 300;

/// Why the pages asked for by number were not trusted, so that the rest of the listing came from
/// the `next_page_token` chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Zoom refused `page_number` (a 4xx other than a rate limit or a credentials problem).
    Refused {
        /// The page asked for.
        page: u64,
        /// Zoom's HTTP status.
        http_status: Option<u16>,
        /// Zoom's error code.
        code: Option<i64>,
    },
    /// The answer for a page said it was another page, or did not say: `page_number` ignored.
    Ignored {
        /// The page asked for.
        asked: u64,
        /// The `page_number` the answer carried.
        answered: Option<u64>,
    },
    /// A page's `total_records` differed from page 1's: users changed between pages.
    Changed {
        /// The page that said so.
        page: u64,
        /// Page 1's count.
        first: u64,
        /// This page's count.
        now: Option<u64>,
    },
    /// A user came on two pages.
    Repeated {
        /// The page that repeated a user.
        page: u64,
    },
    /// Every page checked out, but the users listed do not number `total_records`.
    Miscounted {
        /// Users listed.
        listed: u64,
        /// Page 1's `total_records`.
        total: u64,
    },
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |v: Option<String>| v.unwrap_or_else(|| "none".into());
        match *self {
            Fallback::Refused {
                page,
                http_status,
                code,
            } => write!(
                f,
                "Zoom refused page_number {page} (HTTP {}, code {})",
                or_none(http_status.map(|s| s.to_string())),
                or_none(code.map(|c| c.to_string()))
            ),
            Fallback::Ignored { asked, answered } => write!(
                f,
                "Zoom ignored page_number: asked for page {asked}, the answer is page {}",
                or_none(answered.map(|n| n.to_string()))
            ),
            Fallback::Changed { page, first, now } => write!(
                f,
                "the users changed during the listing: page 1 counted {first}, page {page} {}",
                or_none(now.map(|n| n.to_string()))
            ),
            Fallback::Repeated { page } => {
                write!(f, "page {page} repeats a user listed on another page")
            }
            Fallback::Miscounted { listed, total } => write!(
                f,
                "the numbered pages held {listed} users where Zoom counted {total}"
            ),
        }
    }
}

/// What a listing did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListStats {
    /// Users emitted.
    pub users: u64,
    /// Pages fetched (including re-fetches after a restart).
    pub pages: u64,
    /// Restarts after an expired page token.
    pub restarts: u64,
    /// 429s seen.
    pub throttled: u64,
    /// Why the numbered pages were not trusted, when they were not.
    pub fallback: Option<Fallback>,
}

/// The key a listed user is de-duplicated by: its id, or for pending users its email.
fn user_key(u: &ZoomUser) -> String {
    match &u.id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => u.email.to_ascii_lowercase(),
    }
}

/// Lists every user with `status`, calling `emit` once per user, in page order. Each page is one
/// call through the request policy (`requester` carries the Medium pacer); this function only
/// pages (see the module doc). `expected_users` is how many users the caller expects (0: no
/// idea): it bounds the pages asked for before page 1 answers ([`ahead`]).
pub async fn list_all(
    requester: &Requester,
    status: &str,
    expected_users: u64,
    emit: impl FnMut(&ZoomUser) -> Result<(), String>,
) -> Result<ListStats, ListError> {
    let throttled = || requester.stats().throttled.load(Ordering::Relaxed);
    let throttled_before = throttled();
    let mut listing = Listing {
        requester,
        status,
        expected_users,
        seen: HashSet::new(),
        stats: ListStats::default(),
        emit,
    };
    let listed = listing.run().await;
    listing.stats.throttled = throttled().saturating_sub(throttled_before);
    listed.map(|()| listing.stats)
}

/// One listing under way.
struct Listing<'a, E> {
    /// Sends each page through the one request policy, at the Medium pace.
    requester: &'a Requester,
    /// Zoom's `status` filter.
    status: &'a str,
    /// Users the caller expects (0: unknown), for [`ahead`].
    expected_users: u64,
    /// Keys of the users emitted so far ([`user_key`]).
    seen: HashSet<String>,
    /// What the listing did so far.
    stats: ListStats,
    /// Where each user goes, once.
    emit: E,
}

/// One page's final answer, as the listing reads it.
enum Answer {
    /// A page.
    Page(UsersPage),
    /// A 4xx (other than 429 and credentials, which stop the run): the call as asked is refused.
    Refused {
        /// Attempts made.
        attempts: u32,
        /// Zoom's answer.
        info: ErrorInfo,
    },
}

/// Sends `call` and reads its answer; a stop of the run, a page that kept failing or an answer
/// that is no page is the listing's error.
async fn fetch(requester: &Requester, call: ZoomCall) -> Result<Answer, ListError> {
    let settled = requester.send(&call).await;
    let attempts = settled.attempts;
    match settled.verdict {
        Verdict::Done { .. } => {
            settled
                .json()
                .map(Answer::Page)
                .map_err(|message| ListError::Failed {
                    attempts,
                    info: ErrorInfo {
                        message,
                        ..ErrorInfo::default()
                    },
                })
        }
        Verdict::NotFound(info) | Verdict::Rejected(info) => Ok(Answer::Refused { attempts, info }),
        Verdict::GaveUp(info) => Err(ListError::Failed { attempts, info }),
        Verdict::Halted(_) | Verdict::Interrupted => {
            Err(ListError::stopped(requester.control().reason()))
        }
    }
}

/// A page's `next_page_token`, when there is a next page.
fn next_token(page: &UsersPage) -> Option<String> {
    page.next_page_token.clone().filter(|t| !t.is_empty())
}

/// The call for page `n` of a listing: page 1 without `page_number` (its answer carries the
/// `next_page_token` a fallback continues from), every later page by number.
fn page_call(status: &str, n: u64) -> ZoomCall {
    if n <= 1 {
        ZoomCall::list_users(status, PAGE_SIZE, None)
    } else {
        ZoomCall::list_users_page(status, PAGE_SIZE, n)
    }
}

/// Which pages are asked for next, and how many may be in flight.
struct Window {
    /// The next page to ask for.
    next: u64,
    /// The last page to ask for: page 1 plus [`ahead`] until page 1 says how many.
    last: u64,
    /// Pages in flight at most ([`in_flight`]).
    width: usize,
}

impl Window {
    fn new(width: usize, last: u64) -> Window {
        Window {
            next: 1,
            last,
            width,
        }
    }

    /// Asks for the next pages, up to `last`, while fewer than `width` are in flight.
    fn fill<F: Future>(&mut self, pages: &mut FuturesOrdered<F>, ask: &impl Fn(u64) -> F) {
        while self.next <= self.last && pages.len() < self.width {
            pages.push_back(ask(self.next));
            self.next += 1;
        }
    }
}

/// What page 1 says the numbered pages must agree with.
#[derive(Debug, Clone, Copy)]
struct Expected {
    /// Pages in the listing (page 1 included).
    count: u64,
    /// Users in the listing.
    total: u64,
}

impl Expected {
    /// From page 1: `None` when it is the only page, or when Zoom's counts are missing or do not
    /// add up (pages of page 1's size must hold `total_records`): the chain lists the rest then.
    fn of(first: &UsersPage) -> Option<Expected> {
        let (count, total) = (first.page_count?, first.total_records?);
        let size = first.users.len() as u64;
        let adds_up = size > 0 && total.div_ceil(size) == count;
        (count >= 2 && adds_up).then_some(Expected { count, total })
    }

    /// Why page `n`'s answer cannot be trusted, if it cannot: it must echo `n` and page 1's
    /// total, and hold no user listed before (nor one twice).
    fn check(&self, n: u64, page: &UsersPage, seen: &HashSet<String>) -> Option<Fallback> {
        if page.page_number != Some(n) {
            return Some(Fallback::Ignored {
                asked: n,
                answered: page.page_number,
            });
        }
        if page.total_records != Some(self.total) {
            return Some(Fallback::Changed {
                page: n,
                first: self.total,
                now: page.total_records,
            });
        }
        let mut keys = HashSet::with_capacity(page.users.len());
        let repeats = page.users.iter().any(|u| {
            let key = user_key(u);
            seen.contains(&key) || !keys.insert(key)
        });
        repeats.then_some(Fallback::Repeated { page: n })
    }
}

impl<E: FnMut(&ZoomUser) -> Result<(), String>> Listing<'_, E> {
    /// Page 1 with the first numbered pages right behind it, then the rest of the numbered
    /// pages once page 1 says how many there are; the token chain for whatever the numbered
    /// pages could not be trusted with.
    async fn run(&mut self) -> Result<(), ListError> {
        let (requester, status) = (self.requester, self.status);
        let rate = requester.pacer().max_rate();
        let ask = move |n: u64| async move { (n, fetch(requester, page_call(status, n)).await) };
        let mut window = Window::new(in_flight(rate), 1 + ahead(rate, self.expected_users));
        let mut pages = FuturesOrdered::new();
        window.fill(&mut pages, &ask);
        let mut expected = None;
        let mut token = None;
        while let Some((n, answer)) = pages.next().await {
            self.stats.pages += 1;
            if n == 1 {
                let first = self.first(answer?)?;
                token = next_token(&first);
                expected = Expected::of(&first);
                match expected {
                    Some(e) => window.last = e.count,
                    None => break,
                }
            } else if let Some(e) = expected.filter(|e| n <= e.count)
                && let Some(why) = self.numbered(n, answer?, e)?
            {
                tracing::warn!(
                    status = self.status,
                    emitted = self.stats.users,
                    "{why}: listing the rest by next_page_token"
                );
                self.stats.fallback = Some(why);
                break;
            }
            if expected.is_some_and(|e| n >= e.count) {
                // The last page: pages asked for ahead past it are dropped (unsent, if still
                // waiting for the pacer).
                break;
            }
            window.fill(&mut pages, &ask);
        }
        let Some(expected) = expected else {
            // One page, or no counts to check numbered pages against: the chain, if any.
            return match token {
                Some(t) => self.chain(Some(t)).await,
                None => Ok(()),
            };
        };
        if self.stats.fallback.is_none() {
            let listed = self.stats.users;
            if listed == expected.total {
                return Ok(());
            }
            let why = Fallback::Miscounted {
                listed,
                total: expected.total,
            };
            tracing::warn!(
                status = self.status,
                "{why}: listing the rest by next_page_token"
            );
            self.stats.fallback = Some(why);
        }
        self.chain(token).await
    }

    /// Page 1's answer: its users are emitted; a refusal is the listing's error.
    fn first(&mut self, answer: Answer) -> Result<UsersPage, ListError> {
        match answer {
            Answer::Page(page) => {
                self.take(&page.users)?;
                Ok(page)
            }
            Answer::Refused { attempts, info } => Err(ListError::Failed { attempts, info }),
        }
    }

    /// Numbered page `n`'s answer, checked against page 1 (see [`Expected::check`]) and emitted.
    /// `Some`: why the rest must come from the chain (nothing of this page is emitted then).
    fn numbered(
        &mut self,
        n: u64,
        answer: Answer,
        expected: Expected,
    ) -> Result<Option<Fallback>, ListError> {
        let page = match answer {
            Answer::Page(page) => page,
            Answer::Refused { info, .. } => {
                return Ok(Some(Fallback::Refused {
                    page: n,
                    http_status: info.http_status,
                    code: info.code,
                }));
            }
        };
        if let Some(why) = expected.check(n, &page, &self.seen) {
            return Ok(Some(why));
        }
        self.take(&page.users)?;
        Ok(None)
    }

    /// The `next_page_token` chain from `token` (`None`: from the first page), one page after
    /// the other; an expired token starts it over from the first page.
    async fn chain(&mut self, mut token: Option<String>) -> Result<(), ListError> {
        loop {
            let call = ZoomCall::list_users(self.status, PAGE_SIZE, token.as_deref());
            let page = match fetch(self.requester, call).await? {
                Answer::Page(page) => page,
                Answer::Refused { attempts, info } => {
                    if token.is_none() || !expired(&info) || self.stats.restarts >= 5 {
                        return Err(ListError::Failed { attempts, info });
                    }
                    // The page token expired (15 minutes): start over, skipping what we have.
                    tracing::warn!(
                        emitted = self.stats.users,
                        "page token expired: restarting the listing from the first page"
                    );
                    self.stats.restarts += 1;
                    token = None;
                    continue;
                }
            };
            self.stats.pages += 1;
            self.take(&page.users)?;
            token = next_token(&page);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// Emits the users not emitted yet.
    fn take(&mut self, users: &[ZoomUser]) -> Result<(), ListError> {
        for u in users {
            if self.seen.insert(user_key(u)) {
                (self.emit)(u).map_err(ListError::Output)?;
                self.stats.users += 1;
            }
        }
        Ok(())
    }
}

/// Zoom's answer to an invalid or expired `next_page_token`.
fn expired(info: &ErrorInfo) -> bool {
    info.http_status == Some(400) && info.code == Some(EXPIRED_PAGE_TOKEN)
}

/// The columns of a listed user, as `users` writes them and `reconcile` writes its candidates
/// (which add `reason`): `revoke` and `offboard` read the `email` column of either.
pub const USER_COLUMNS: [&str; 8] = [
    "id",
    "email",
    "first_name",
    "last_name",
    "type",
    "status",
    "role_id",
    "last_login_time",
];

/// A listed user as a row of [`USER_COLUMNS`]: Zoom's fields, absent ones empty.
pub fn user_row(u: &ZoomUser) -> [String; 8] {
    [
        u.id.clone().unwrap_or_default(),
        u.email.clone(),
        u.first_name.clone().unwrap_or_default(),
        u.last_name.clone().unwrap_or_default(),
        u.user_type.map(|t| t.to_string()).unwrap_or_default(),
        u.status.clone().unwrap_or_default(),
        u.role_id.clone().unwrap_or_default(),
        u.last_login_time.clone().unwrap_or_default(),
    ]
}

/// Writes listed users as CSV (with a header, written first so that even an empty list is a
/// well-formed file) or JSONL (one object per user, the same keys), with extra columns after
/// [`USER_COLUMNS`] (`reconcile`'s `reason`). One writer for every listing command, so their
/// outputs cannot drift apart.
pub struct RowWriter<'w> {
    /// Where the rows go, in the chosen format.
    sink: RowSink<'w>,
    /// The names of the extra columns, after [`USER_COLUMNS`].
    extra: &'static [&'static str],
}

/// The format a [`RowWriter`] writes in.
enum RowSink<'w> {
    Csv(Box<csv::Writer<&'w mut dyn std::io::Write>>),
    Jsonl(&'w mut dyn std::io::Write),
}

impl<'w> RowWriter<'w> {
    /// A writer of `format` on `out`; a CSV gets its header now.
    pub fn new(
        format: crate::cli::ListFormat,
        out: &'w mut dyn std::io::Write,
        extra: &'static [&'static str],
    ) -> Result<RowWriter<'w>, String> {
        let sink = match format {
            crate::cli::ListFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(USER_COLUMNS.iter().chain(extra))
                    .map_err(|e| e.to_string())?;
                RowSink::Csv(Box::new(w))
            }
            crate::cli::ListFormat::Jsonl => RowSink::Jsonl(out),
        };
        Ok(RowWriter { sink, extra })
    }

    /// Writes `u` with the values of the extra columns, in their order.
    pub fn write(&mut self, u: &ZoomUser, extra: &[&str]) -> Result<(), String> {
        let row = user_row(u);
        let values = row.iter().map(String::as_str).chain(extra.iter().copied());
        match &mut self.sink {
            RowSink::Csv(w) => w.write_record(values).map_err(|e| e.to_string()),
            RowSink::Jsonl(w) => {
                let obj: serde_json::Map<String, serde_json::Value> = USER_COLUMNS
                    .iter()
                    .chain(self.extra)
                    .zip(values)
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_owned())))
                    .collect();
                writeln!(w, "{}", serde_json::Value::Object(obj)).map_err(|e| e.to_string())
            }
        }
    }

    /// Flushes what was written (per user, so that a pipe sees users as they arrive).
    pub fn flush(&mut self) -> Result<(), String> {
        match &mut self.sink {
            RowSink::Csv(w) => w.flush(),
            RowSink::Jsonl(w) => w.flush(),
        }
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> ZoomUser {
        ZoomUser {
            id: Some(id.into()),
            email: format!("{id}@example.com"),
            ..ZoomUser::default()
        }
    }

    fn page(number: Option<u64>, total: Option<u64>, ids: &[&str]) -> UsersPage {
        UsersPage {
            users: ids.iter().map(|i| user(i)).collect(),
            total_records: total,
            page_number: number,
            page_count: total.map(|t| t.div_ceil(2)),
            ..UsersPage::default()
        }
    }

    #[test]
    fn page_one_decides_whether_numbered_pages_follow() {
        let e = Expected::of(&page(Some(1), Some(5), &["a", "b"])).unwrap();
        assert_eq!((e.count, e.total), (3, 5));
        assert!(
            Expected::of(&page(Some(1), Some(2), &["a", "b"])).is_none(),
            "one page"
        );
        assert!(
            Expected::of(&page(Some(1), None, &["a", "b"])).is_none(),
            "no counts"
        );
        let mut odd = page(Some(1), Some(5), &["a", "b"]);
        odd.page_count = Some(7);
        assert!(Expected::of(&odd).is_none(), "counts that do not add up");
        let mut empty = page(Some(1), Some(5), &[]);
        empty.page_count = Some(3);
        assert!(Expected::of(&empty).is_none(), "an empty first page");
    }

    #[test]
    fn a_numbered_page_must_echo_its_number_and_the_total_and_repeat_nobody() {
        let e = Expected { count: 3, total: 5 };
        let seen: HashSet<String> = ["a".to_string(), "b".to_string()].into();
        assert_eq!(
            e.check(2, &page(Some(2), Some(5), &["c", "d"]), &seen),
            None
        );
        assert_eq!(
            e.check(2, &page(Some(1), Some(5), &["c", "d"]), &seen),
            Some(Fallback::Ignored {
                asked: 2,
                answered: Some(1)
            })
        );
        assert_eq!(
            e.check(3, &page(None, Some(5), &["e"]), &seen),
            Some(Fallback::Ignored {
                asked: 3,
                answered: None
            })
        );
        assert_eq!(
            e.check(2, &page(Some(2), Some(6), &["c", "d"]), &seen),
            Some(Fallback::Changed {
                page: 2,
                first: 5,
                now: Some(6)
            })
        );
        let repeats = Some(Fallback::Repeated { page: 2 });
        assert_eq!(
            e.check(2, &page(Some(2), Some(5), &["b", "c"]), &seen),
            repeats
        );
        assert_eq!(
            e.check(2, &page(Some(2), Some(5), &["c", "c"]), &seen),
            repeats
        );
    }

    #[test]
    fn pages_in_flight_fill_the_rate_for_a_slow_answer_within_bounds() {
        assert_eq!(in_flight(60.0), 30);
        assert_eq!(in_flight(16.0), 8);
        assert_eq!(in_flight(0.5), 2);
        assert_eq!(in_flight(1000.0), MAX_IN_FLIGHT);
        assert_eq!(in_flight(f64::NAN), 2);
    }

    #[test]
    fn pages_asked_for_ahead_of_page_one_are_the_rate_for_100_ms() {
        assert_eq!(speculative(60.0), 6);
        assert_eq!(speculative(48.0), 4, "Business' default rate");
        assert_eq!(speculative(16.0), 1, "Pro's");
        assert_eq!(speculative(1.6), 0, "Free's: no call to spare");
        assert_eq!(speculative(1e6), MAX_SPECULATIVE);
        assert_eq!(speculative(f64::NAN), 0);
    }

    #[test]
    fn pages_asked_for_ahead_never_pass_the_pages_the_expected_users_fill() {
        assert_eq!(
            ahead(60.0, 0),
            0,
            "no idea of the size: no call past the last page"
        );
        assert_eq!(ahead(60.0, 300), 0, "one page expected");
        assert_eq!(ahead(60.0, 301), 1);
        assert_eq!(ahead(60.0, 1500), 4);
        assert_eq!(ahead(60.0, 50_000), 6, "the rate bounds it");
        assert_eq!(ahead(1.6, 50_000), 0, "Free's rate: none");
    }

    #[test]
    fn every_fallback_says_why_in_words() {
        let refused = Fallback::Refused {
            page: 2,
            http_status: Some(400),
            code: Some(300),
        };
        assert_eq!(
            refused.to_string(),
            "Zoom refused page_number 2 (HTTP 400, code 300)"
        );
        let miscounted = Fallback::Miscounted {
            listed: 599,
            total: 600,
        };
        assert_eq!(
            miscounted.to_string(),
            "the numbered pages held 599 users where Zoom counted 600"
        );
    }
}
