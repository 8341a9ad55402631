//! `zoom-offboard users`: the account's users on stdout, each exactly once.
//!
//! The settings resolve like every other command's ([`UsersSettings::resolve`]); the listing
//! goes through the request policy with its own Medium-rate pacer; each user listed is
//! filtered here (`--role`, `--inactive-days`) and written as it arrives, flushed, so a pipe
//! into `revoke` sees users as they come.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Context, connect, usage};
use crate::cli::{RoleFilter, UsersArgs};
use crate::config::UsersSettings;
use crate::exit::{Ending, Exit};
use crate::logging;
use crate::pacing::Pacer;
use crate::request::{Control, Requester, RetryPolicy, Stats};
use crate::users::{ListError, ListStats, RowWriter};
use crate::zoom::ZoomUser;

/// `zoom-offboard users`: every user with a status (and the `--role` and `--inactive-days`
/// asked for), on `out`, each exactly once.
pub async fn users(args: &UsersArgs, ctx: &Context, out: &mut dyn Write) -> Exit {
    users_at(args, ctx, out, Utc::now()).await
}

/// [`users`] with `now` as the reference time of `--inactive-days`, so tests are deterministic.
pub async fn users_at(
    args: &UsersArgs,
    ctx: &Context,
    out: &mut dyn Write,
    now: DateTime<Utc>,
) -> Exit {
    let settings = match UsersSettings::resolve(args, &*ctx.env) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    for w in &settings.conn.warnings {
        tracing::warn!("{w}");
    }
    let requester = match lister(&settings, ctx).await {
        Ok(r) => r,
        Err(msg) => return usage(&msg),
    };
    // The one row writer of every listing (`reconcile` writes its candidates with it too).
    let mut sink = match RowWriter::new(settings.format, out, &[]) {
        Ok(s) => s,
        Err(e) => return usage(&format!("cannot write to stdout: {e}")),
    };
    let filter = Filter::new(&settings.roles, settings.inactive_days, now);
    let mut listed = Listed::default();
    let result = crate::users::list_all(
        &requester,
        settings.status.as_str(),
        0,
        &mut |u: &ZoomUser| {
            listed.seen += 1;
            if !filter.keeps(u) {
                return Ok(());
            }
            listed.kept += 1;
            // Flushed per user: a pipe into `revoke` sees users as they arrive.
            sink.write(u, &[]).and_then(|()| sink.flush())
        },
    )
    .await;
    // A closed pipe is no error here: the listing already said so.
    let _ = sink.flush();
    ending(&result, &listed)
}

/// Connects (a read scope is enough) and builds the listing's requester at its own rate.
async fn lister(settings: &UsersSettings, ctx: &Context) -> Result<Requester, String> {
    let Some(creds) = &settings.conn.credentials else {
        return Err("no credentials: set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and \
                    ZOOM_CLIENT_SECRET, or ZOOM_ACCESS_TOKEN"
            .into());
    };
    let pacer = Pacer::new(settings.rate).map_err(|e| format!("--rate: {e}"))?;
    // A connection for each page in flight (crate::users::in_flight).
    let pool = crate::users::in_flight(pacer.max_rate());
    let api = connect(&settings.conn, pool, creds, &[super::DRY_RUN_SCOPES]).await?;
    Ok(Requester::new(
        api,
        Arc::new(pacer),
        RetryPolicy::new(settings.conn.max_retries),
        Control::with_outage_wait(&ctx.cancel, settings.conn.outage_wait),
        Arc::new(Stats::default()),
    ))
}

/// Users the listing returned, and those the filters kept.
#[derive(Debug, Default)]
struct Listed {
    /// Users listed by Zoom (filtered out or not): whether the listing got anywhere.
    seen: u64,
    /// Users written.
    kept: u64,
}

/// How the listing ended: the log line, the error message, and the exit code. Refused
/// credentials, a missing scope or an unreachable API before any user was listed did nothing
/// (exit 2); any other failure leaves an incomplete list (exit 3).
fn ending(result: &Result<ListStats, ListError>, listed: &Listed) -> Exit {
    let nothing_done = match result {
        Ok(stats) => {
            tracing::info!(
                users = stats.users,
                written = listed.kept,
                pages = stats.pages,
                restarts = stats.restarts,
                throttled = stats.throttled,
                "listed users"
            );
            false
        }
        Err(e) => {
            let nothing_done = e.stop_reason().is_configuration() && listed.seen == 0;
            logging::eprint_line(&if nothing_done {
                format!("zoom-offboard: error: users: {e}")
            } else {
                format!("zoom-offboard: users: {e}; the list is incomplete")
            });
            nothing_done
        }
    };
    Exit::decide(&Ending {
        nothing_done,
        stopped: result.is_err(),
        final_counts: &BTreeMap::new(),
    })
}

/// `--role` and `--inactive-days`, applied to each listed user before it is written. Zoom's
/// `GET /users` filters by status only (and by role_id, but one role per listing), so the
/// filters run here and the output format stays the same.
struct Filter {
    /// Empty: any role.
    roles: Vec<RoleFilter>,
    /// With `--inactive-days N`: users who logged in at or after this are left out.
    logged_in_before: Option<DateTime<Utc>>,
}

impl Filter {
    fn new(roles: &[RoleFilter], inactive_days: Option<u32>, now: DateTime<Utc>) -> Filter {
        Filter {
            roles: roles.to_vec(),
            // A cut-off before chrono's first date (N in the millions) leaves only users who
            // never logged in.
            logged_in_before: inactive_days.map(|n| {
                now.checked_sub_signed(TimeDelta::days(i64::from(n)))
                    .unwrap_or(DateTime::<Utc>::MIN_UTC)
            }),
        }
    }

    fn keeps(&self, u: &ZoomUser) -> bool {
        let role = u.role_id.as_deref().unwrap_or_default();
        if !self.roles.is_empty() && !self.roles.iter().any(|r| r.matches(role)) {
            return false;
        }
        let Some(before) = self.logged_in_before else {
            return true;
        };
        match u.last_login_time.as_deref().map(str::trim) {
            None | Some("") => true,
            Some(t) => match DateTime::parse_from_rfc3339(t) {
                Ok(t) => t < before,
                // Unreadable is not "never": a list that feeds deactivation leaves them out.
                Err(e) => {
                    tracing::warn!(
                        user = u.id.as_deref().unwrap_or(&u.email),
                        last_login_time = t,
                        "left out by --inactive-days: last_login_time is not RFC 3339: {e}"
                    );
                    false
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Option<&str>, login: Option<&str>) -> ZoomUser {
        ZoomUser {
            role_id: role.map(str::to_owned),
            last_login_time: login.map(str::to_owned),
            ..ZoomUser::default()
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-31T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn inactive_days_is_strictly_more_than_n_days_or_never() {
        let f = Filter::new(&[], Some(90), now());
        let keeps = |login| f.keeps(&user(Some("2"), login));
        assert!(keeps(Some("2025-12-31T11:59:59Z")), "90 days and a second");
        assert!(!keeps(Some("2025-12-31T12:00:00Z")), "exactly 90 days");
        assert!(!keeps(Some("2026-03-30T00:00:00+02:00")));
        assert!(keeps(None) && keeps(Some("")) && keeps(Some("  ")), "never");
        assert!(!keeps(Some("yesterday")), "unreadable is not never");
        let huge = Filter::new(&[], Some(u32::MAX), now());
        assert!(huge.keeps(&user(None, None)));
        assert!(!huge.keeps(&user(None, Some("1970-01-01T00:00:00Z"))));
    }

    #[test]
    fn roles_match_zoom_role_ids_and_custom_is_the_rest() {
        let f = Filter::new(&[RoleFilter::Member], None, now());
        assert!(f.keeps(&user(Some("2"), None)));
        assert!(!f.keeps(&user(Some("1"), None)) && !f.keeps(&user(Some("0"), None)));
        let f = Filter::new(&[RoleFilter::Admin, RoleFilter::Owner], None, now());
        assert!(f.keeps(&user(Some("1"), None)) && f.keeps(&user(Some("0"), None)));
        assert!(!f.keeps(&user(Some("2"), None)));
        assert!(
            !f.keeps(&user(Some("x7Hc9ab"), None)),
            "a custom role is not admin"
        );
        let f = Filter::new(&[RoleFilter::Custom], None, now());
        assert!(f.keeps(&user(Some("x7Hc9ab"), None)) && f.keeps(&user(None, None)));
        assert!(!f.keeps(&user(Some("2"), None)));
        // Both filters: both must hold.
        let f = Filter::new(&[RoleFilter::Member], Some(30), now());
        assert!(f.keeps(&user(Some("2"), None)));
        assert!(!f.keeps(&user(Some("1"), None)));
        assert!(!f.keeps(&user(Some("2"), Some("2026-03-30T00:00:00Z"))));
    }
}
