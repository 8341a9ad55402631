//! Listing the account's users (`GET /users`, Medium label), for `zoom-offboard users` and for
//! dry runs of large batches.
//!
//! Zoom pages with `next_page_token`, which expires 15 minutes after it was issued. A long
//! listing (or one paused by 429s) can outlive it: then the listing restarts from the first page
//! and skips every user already emitted, so the output has each user exactly once.

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::atomic::Ordering;

use crate::request::{Requester, StopReason, Verdict};
use crate::zoom::{ErrorInfo, UsersPage, ZoomCall, ZoomUser};

/// Page size: 300 is what every Zoom doc and client agrees on (the 2026 spec allows 2000).
pub const PAGE_SIZE: u32 = 300;

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
}

/// The key a listed user is de-duplicated by: its id, or for pending users its email.
fn user_key(u: &ZoomUser) -> String {
    match &u.id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => u.email.to_ascii_lowercase(),
    }
}

/// Lists every user with `status`, calling `emit` once per user. Each page is one call
/// through the request policy (`requester` carries the Medium pacer); this function only pages.
pub async fn list_all(
    requester: &Requester,
    status: &str,
    mut emit: impl FnMut(&ZoomUser) -> Result<(), String>,
) -> Result<ListStats, ListError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stats = ListStats::default();
    let mut page_token: Option<String> = None;
    loop {
        let throttled_before = requester.stats().throttled.load(Ordering::Relaxed);
        let settled = requester
            .send(&ZoomCall::list_users(
                status,
                PAGE_SIZE,
                page_token.as_deref(),
            ))
            .await;
        stats.throttled += requester
            .stats()
            .throttled
            .load(Ordering::Relaxed)
            .saturating_sub(throttled_before);
        let page: UsersPage = match settled.verdict {
            Verdict::Done { .. } => settled.json().map_err(|message| ListError::Failed {
                attempts: settled.attempts,
                info: ErrorInfo {
                    message,
                    ..ErrorInfo::default()
                },
            })?,
            Verdict::Rejected(info)
                if page_token.is_some()
                    && info.http_status == Some(400)
                    && info.code == Some(EXPIRED_PAGE_TOKEN) =>
            {
                // The page token expired (15 minutes): start over, skipping what we have.
                tracing::warn!(
                    emitted = stats.users,
                    "page token expired: restarting the listing from the first page"
                );
                stats.restarts += 1;
                page_token = None;
                if stats.restarts > 5 {
                    return Err(ListError::Failed {
                        attempts: settled.attempts,
                        info,
                    });
                }
                continue;
            }
            Verdict::NotFound(info) | Verdict::Rejected(info) | Verdict::GaveUp(info) => {
                return Err(ListError::Failed {
                    attempts: settled.attempts,
                    info,
                });
            }
            Verdict::Halted(_) | Verdict::Interrupted => {
                return Err(ListError::stopped(requester.control().reason()));
            }
        };
        stats.pages += 1;
        for u in &page.users {
            if seen.insert(user_key(u)) {
                emit(u).map_err(ListError::Output)?;
                stats.users += 1;
            }
        }
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(t) => page_token = Some(t),
            None => return Ok(stats),
        }
    }
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
