//! `zoom-offboard users`: the account's users on stdout, each exactly once.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Context, connect, usage};
use crate::cli::{ListFormat, RevokeArgs, UsersArgs};
use crate::config::Settings;
use crate::exit::{Ending, Exit};
use crate::logging;
use crate::pacing::Pacer;
use crate::request::{Control, Requester, RetryPolicy, Stats};

use chrono::{DateTime, TimeDelta, Utc};

use crate::cli::RoleFilter;
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
    // The connection settings resolve exactly like revoke's.
    let as_revoke = RevokeArgs {
        conn: args.conn.clone(),
        dry_run: true,
        report: Some(PathBuf::from("-")),
        output: args.output.clone(),
        ..RevokeArgs::default()
    };
    let settings = match Settings::resolve(&as_revoke, &*ctx.env, now) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let Some(creds) = &settings.credentials else {
        return usage(
            "no credentials: set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET, or \
             ZOOM_ACCESS_TOKEN",
        );
    };
    let rate = args
        .rate
        .unwrap_or_else(|| f64::from(settings.plan.per_second(crate::plan::Label::Medium)) * 0.8);
    let pacer = match Pacer::new(rate) {
        Ok(p) => p,
        Err(e) => return usage(&format!("--rate: {e}")),
    };
    // `settings` was resolved as a dry run, so `connect` checks for a read scope.
    let client = match connect(&settings, creds, &[super::DRY_RUN_SCOPES]).await {
        Ok(c) => c,
        Err(msg) => return usage(&msg),
    };
    let columns = [
        "id",
        "email",
        "first_name",
        "last_name",
        "type",
        "status",
        "role_id",
        "last_login_time",
    ];
    enum Sink<'a> {
        Csv(Box<csv::Writer<&'a mut dyn Write>>),
        Jsonl(&'a mut dyn Write),
    }
    let mut sink = match args.format {
        ListFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            // The header goes out first, so even an empty account gives a well-formed CSV.
            if let Err(e) = w.write_record(columns) {
                return usage(&format!("cannot write to stdout: {e}"));
            }
            Sink::Csv(Box::new(w))
        }
        ListFormat::Jsonl => Sink::Jsonl(&mut *out),
    };
    let filter = Filter::new(&args.role, args.inactive_days, now);
    // Users listed by Zoom (filtered out or not): whether the listing got anywhere.
    let mut emitted = 0u64;
    let mut kept = 0u64;
    let mut emit = |u: &ZoomUser| -> Result<(), String> {
        emitted += 1;
        if !filter.keeps(u) {
            return Ok(());
        }
        kept += 1;
        let values = [
            u.id.clone().unwrap_or_default(),
            u.email.clone(),
            u.first_name.clone().unwrap_or_default(),
            u.last_name.clone().unwrap_or_default(),
            u.user_type.map(|t| t.to_string()).unwrap_or_default(),
            u.status.clone().unwrap_or_default(),
            u.role_id.clone().unwrap_or_default(),
            u.last_login_time.clone().unwrap_or_default(),
        ];
        match &mut sink {
            Sink::Csv(w) => {
                w.write_record(&values).map_err(|e| e.to_string())?;
                // Flushed per user: a pipe into `revoke` sees users as they arrive.
                w.flush().map_err(|e| e.to_string())
            }
            Sink::Jsonl(w) => {
                let obj: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .zip(values.iter())
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
                    .collect();
                writeln!(w, "{}", serde_json::Value::Object(obj)).map_err(|e| e.to_string())
            }
        }
    };
    let requester = Requester::new(
        client,
        Arc::new(pacer),
        RetryPolicy::new(args.max_retries),
        Control::new(&ctx.cancel),
        Arc::new(Stats::default()),
    );
    let result = crate::users::list_all(&requester, args.status.as_str(), &mut emit).await;
    match &mut sink {
        Sink::Csv(w) => {
            let _ = w.flush();
        }
        Sink::Jsonl(w) => {
            let _ = w.flush();
        }
    }
    drop(sink);
    let nothing_done = match &result {
        Ok(stats) => {
            tracing::info!(
                users = stats.users,
                written = kept,
                pages = stats.pages,
                restarts = stats.restarts,
                throttled = stats.throttled,
                "listed users"
            );
            false
        }
        Err(e) => {
            // Refused credentials or a missing scope before any user was listed: nothing was done.
            let refused = matches!(
                e,
                crate::users::ListError::Credentials(_)
                    | crate::users::ListError::MissingScope(_)
                    | crate::users::ListError::Unreachable(_)
            );
            let nothing_done = refused && emitted == 0;
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
