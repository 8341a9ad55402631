//! Dry runs with credentials: find out which users exist without touching any session.
//!
//! Two ways to look users up, and the cheaper one is chosen:
//! - **each**: `GET /users/{id}` per user (Light label, the run's own pacer and worker pool);
//!   cost ≈ users / Light rate.
//! - **list**: page through `GET /users` for every status (Medium label, 300 a page, its own
//!   pacer) and match locally; cost ≈ pages / Medium rate. Worth it when the batch is a large
//!   share of the account (an incident-wide logout), never for a handful of leavers.
//!
//! `auto` decides by asking for the first page of active users (one Medium call, which also
//! tells the account's size) only when the batch is at least a page long.

use std::collections::HashMap;

use crate::input::UserId;
use crate::report::{Row, Status};
use crate::request::{Requester, Verdict};
use crate::run::{Rows, settled_row};
use crate::users::{ListError, PAGE_SIZE, list_all};
use crate::zoom::{UsersPage, ZoomCall, ZoomUser};

/// How a dry run looks users up (`--lookup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lookup {
    /// Pick the cheaper of `each` and `list` from the batch and account sizes.
    #[default]
    Auto,
    /// One `GET /users/{id}` per user.
    Each,
    /// Page through `GET /users` and match locally.
    List,
}

/// Estimated seconds for each strategy.
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    /// Per-user lookups.
    pub each_secs: f64,
    /// Listing, if the account size is known.
    pub list_secs: Option<f64>,
}

/// Decides `auto`: `Each` for batches under a page, else compares the two costs using the
/// account's active-user count from one Medium call. Statuses other than active are assumed
/// to add a page each.
pub async fn choose(medium: &Requester, users: usize, light_rate: f64) -> (Lookup, Estimate) {
    let each_secs = users as f64 / light_rate;
    if users < PAGE_SIZE as usize {
        return (
            Lookup::Each,
            Estimate {
                each_secs,
                list_secs: None,
            },
        );
    }
    let first = medium
        .send(&ZoomCall::list_users("active", PAGE_SIZE, None))
        .await;
    let total = match first.verdict {
        Verdict::Done { .. } => first.json::<UsersPage>().ok().and_then(|p| p.total_records),
        _ => None,
    };
    let Some(total) = total else {
        return (
            Lookup::Each,
            Estimate {
                each_secs,
                list_secs: None,
            },
        );
    };
    let pages = (total as f64 / f64::from(PAGE_SIZE)).ceil() + 2.0;
    let list_secs = pages / medium.pacer().max_rate();
    let pick = if list_secs < each_secs {
        Lookup::List
    } else {
        Lookup::Each
    };
    (
        pick,
        Estimate {
            each_secs,
            list_secs: Some(list_secs),
        },
    )
}

/// Looks `users` up by listing the account, sending one row per user to `rows`:
/// `would_revoke` with name, Zoom status and last login, or `not_found`.
pub async fn by_listing(
    medium: &Requester,
    users: &[UserId],
    rows: &Rows,
) -> Result<u64, ListError> {
    let mut by_key: HashMap<String, ZoomUser> = HashMap::new();
    let mut calls = 0;
    for status in ["active", "inactive", "pending"] {
        // The input's users are mostly active ones: only that listing asks ahead for them.
        let expected = if status == "active" {
            users.len() as u64
        } else {
            0
        };
        let stats = list_all(medium, status, expected, |u| {
            if let Some(id) = u.id.as_ref().filter(|i| !i.is_empty()) {
                by_key.insert(id.clone(), u.clone());
            }
            by_key.insert(u.email.to_ascii_lowercase(), u.clone());
            Ok(())
        })
        .await?;
        calls += stats.pages;
    }
    for user in users {
        let found = by_key.get(&user.key());
        let row = match found {
            Some(u) => {
                let mut row = Row::new(user.as_str(), Status::WouldRevoke);
                u.describe(&mut row);
                row.message = match u.status.as_deref() {
                    Some("pending") => "listed (pending user: has no session to revoke)".into(),
                    Some(s) => format!("listed ({s})").into(),
                    None => "listed".into(),
                };
                row
            }
            None => {
                let mut row = Row::new(user.as_str(), Status::NotFound);
                row.message = "not in the account's user list (GET /users)".into();
                row
            }
        };
        if !rows.send(row).await {
            return Err(ListError::Output("the report writer stopped".into()));
        }
    }
    Ok(calls)
}

/// The dry-run lookup of one user: `would_revoke` with what Zoom knows of them, or `not_found`.
pub async fn lookup_one(requester: Requester, user: UserId) -> Row {
    let settled = requester.send(&ZoomCall::get_user(&user)).await;
    let Verdict::Done { http_status } = settled.verdict else {
        return settled_row(user.as_str(), &settled, |_| Status::Failed);
    };
    let mut row = Row::new(user.as_str(), Status::WouldRevoke);
    row.http_status = Some(http_status);
    row.attempts = settled.attempts;
    match settled.json::<ZoomUser>() {
        Ok(u) => {
            u.describe(&mut row);
            row.message = match u.status.as_deref() {
                Some("pending") => "found (pending user: has no session to revoke)".into(),
                Some(s) => format!("found ({s})").into(),
                None => "found".into(),
            };
        }
        Err(_) if settled.body.is_empty() => row.message = "found".into(),
        Err(e) => {
            row.status = Status::Failed;
            row.message = e.into();
        }
    }
    row
}
