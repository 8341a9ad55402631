//! Listing the account's users (`GET /users`, Medium label), for `zoom-offboard users` and for
//! dry runs of large batches.
//!
//! Zoom pages with `next_page_token`, which expires 15 minutes after it was issued. A long
//! listing (or one paused by 429s) can outlive it: then the listing restarts from the first page
//! and skips every user already emitted, so the output has each user exactly once.

use std::collections::HashSet;
use std::time::Duration;

use crate::pacing::{Pacer, backoff};
use crate::zoom::{ErrorInfo, FatalKind, Outcome, RetryKind, ZoomClient, ZoomUser};

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
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(String),
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
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
}

/// The key a listed user is de-duplicated by: its id, or for pending users its email.
fn user_key(u: &ZoomUser) -> String {
    match &u.id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => u.email.to_ascii_lowercase(),
    }
}

/// Lists every user with `status`, calling `emit` once per user.
pub async fn list_all(
    client: &ZoomClient,
    pacer: &Pacer,
    status: &str,
    max_retries: u32,
    cancel: &tokio_util::sync::CancellationToken,
    mut emit: impl FnMut(&ZoomUser) -> Result<(), String>,
) -> Result<ListStats, ListError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stats = ListStats::default();
    let mut page_token: Option<String> = None;
    let mut renewed = false;
    loop {
        let mut attempts = 0u32;
        let page = loop {
            if cancel.is_cancelled() {
                return Err(ListError::Interrupted);
            }
            tokio::select! {
                _ = pacer.acquire() => {}
                _ = cancel.cancelled() => return Err(ListError::Interrupted),
            }
            attempts += 1;
            let answer = client
                .list_users(status, PAGE_SIZE, page_token.as_deref())
                .await
                .map_err(|e| ListError::Credentials(e.to_string()))?;
            match answer.outcome {
                Outcome::Done { .. } => {
                    pacer.on_success();
                    renewed = false;
                    break answer.body.unwrap_or_default();
                }
                Outcome::Failed(info)
                    if page_token.is_some()
                        && info.http_status == Some(400)
                        && info.message.to_ascii_lowercase().contains("token") =>
                {
                    // The page token expired (15 minutes): start over, skipping what we have.
                    tracing::warn!(
                        emitted = stats.users,
                        "page token expired: restarting the listing from the first page"
                    );
                    stats.restarts += 1;
                    page_token = None;
                    attempts = 0;
                    if stats.restarts > 5 {
                        return Err(ListError::Failed { attempts, info });
                    }
                }
                Outcome::TokenRejected(info) => {
                    if renewed || !client.auth().renewable() {
                        return Err(ListError::Credentials(info.message));
                    }
                    client
                        .auth()
                        .renew(answer.token_generation)
                        .await
                        .map_err(|e| ListError::Credentials(e.to_string()))?;
                    renewed = true;
                }
                Outcome::Fatal {
                    kind: FatalKind::MissingScope(s),
                    ..
                } => return Err(ListError::MissingScope(s)),
                Outcome::Fatal { info, .. } => return Err(ListError::Credentials(info.message)),
                Outcome::DailyLimit { retry_at, .. } => {
                    return Err(ListError::DailyLimit(
                        retry_at
                            .map(|t| format!("; calls may resume at {}", t.to_rfc3339()))
                            .unwrap_or_default(),
                    ));
                }
                Outcome::Retry {
                    kind,
                    retry_after,
                    info,
                } => {
                    if attempts > max_retries {
                        return Err(ListError::Failed { attempts, info });
                    }
                    let wait = match kind {
                        RetryKind::Throttled | RetryKind::Concurrent => {
                            stats.throttled += 1;
                            pacer.on_throttle(retry_after);
                            Duration::ZERO
                        }
                        _ => retry_after.unwrap_or_else(|| {
                            backoff(
                                attempts,
                                Duration::from_millis(200),
                                Duration::from_secs(10),
                            )
                        }),
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return Err(ListError::Interrupted),
                    }
                }
                Outcome::NotFound(info) | Outcome::Failed(info) => {
                    return Err(ListError::Failed { attempts, info });
                }
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
