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

/// `zoom-offboard users`: every user with a status, on `out`, each exactly once.
pub async fn users(args: &UsersArgs, ctx: &Context, out: &mut dyn Write) -> Exit {
    // The connection settings resolve exactly like revoke's.
    let as_revoke = RevokeArgs {
        conn: args.conn.clone(),
        dry_run: true,
        report: Some(PathBuf::from("-")),
        output: args.output.clone(),
        ..RevokeArgs::default()
    };
    let settings = match Settings::resolve(&as_revoke, &*ctx.env, chrono::Utc::now()) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let Some(creds) = &settings.credentials else {
        return usage(
            "no credentials: set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET, or              ZOOM_ACCESS_TOKEN",
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
    let client = match connect(&settings, creds).await {
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
    let mut emitted = 0u64;
    let mut emit = |u: &crate::zoom::ZoomUser| -> Result<(), String> {
        emitted += 1;
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
