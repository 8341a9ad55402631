//! `zoom-offboard reconcile`: the account's users against the HR roster, leaver candidates on
//! stdout, the counts on stderr.
//!
//! The sequence: settings → roster and exclude list (input errors exit 2 before any call) → the
//! empty-roster guard → connect → list every considered status through the one paging path
//! ([`crate::users::list_all`], Medium pacer, the one request policy) into a
//! [`Reconciliation`] → the share guard → `--missing` → stdout → the counts.
//!
//! Nothing reaches stdout before the listing is complete and both guards have passed: the
//! candidates are buffered, because a half list piped into `offboard` would offboard the people
//! who happened to be on the pages that came back. A listing that stops early exits 3 (2 when the
//! credentials or scopes are refused: no retry cures those), writing nothing.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use super::{Context, connect, usage, usage_before_logging};
use crate::cli::ReconcileArgs;
use crate::exit::Exit;
use crate::input::{self, InputSource, Roster};
use crate::logging;
use crate::pacing::Pacer;
use crate::reconcile::settings::{Choices, ReconcileSettings};
use crate::reconcile::{Counts, Outcome, Reason, Reconciliation};
use crate::request::{Control, Requester, RetryPolicy, Stats};
use crate::users::{ListError, RowWriter};

/// The output's extra column after `users`' columns.
const EXTRA: &[&str] = &["reason"];

/// `zoom-offboard reconcile`, writing the candidates on `out` and reading a `-` roster from
/// `stdin`.
pub async fn reconcile(
    args: &ReconcileArgs,
    ctx: &Context,
    out: &mut dyn Write,
    stdin: &mut dyn Read,
) -> Exit {
    match run(args, ctx, out, stdin).await {
        Ok(counts) => {
            print_counts(&counts);
            Exit::Success
        }
        Err(exit) => exit,
    }
}

async fn run(
    args: &ReconcileArgs,
    ctx: &Context,
    out: &mut dyn Write,
    stdin: &mut dyn Read,
) -> Result<Counts, Exit> {
    let settings = resolve(args, ctx)?;
    let choices = &settings.choices;
    let roster = read_roster(choices, ctx, stdin)?;
    let exclude = read_exclude(settings.exclude.as_deref(), choices)?;
    if let Err(refusal) = Reconciliation::check_roster(&roster, &roster_names(choices)) {
        return Err(refuse(&refusal.to_string(), &Counts::default()));
    }
    let requester = open_listing(&settings, ctx).await?;
    let mut rec = Reconciliation::new(roster, &choices.domains, exclude);
    tracing::info!(domains = ?rec.domains(), "reconciling users of these email domains");
    let listed = list(&requester, choices, &mut rec).await;
    let outcome = match listed {
        Ok(()) => rec.finish(choices.max_share),
        Err(e) => return Err(stopped(&e, &rec.finish(choices.max_share).counts)),
    };
    if let Some(refusal) = &outcome.refusal {
        return Err(refuse(&refusal.to_string(), &outcome.counts));
    }
    write_missing(choices.missing.as_deref(), &outcome)?;
    write_candidates(choices, &outcome, out)?;
    Ok(outcome.counts)
}

/// The settings, with logging started (a settings error is exit 2, logged as such).
fn resolve(args: &ReconcileArgs, ctx: &Context) -> Result<ReconcileSettings, Exit> {
    match ReconcileSettings::resolve(args, &*ctx.env) {
        Ok(s) => {
            logging::init(&s.conn.log);
            for w in &s.conn.warnings {
                tracing::warn!("{w}");
            }
            Ok(s)
        }
        Err(e) => Err(usage_before_logging(&args.listing.output, &e)),
    }
}

/// The roster files, as the empty-roster refusal names them.
fn roster_names(choices: &Choices) -> String {
    let names: Vec<String> = choices
        .rosters
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    names.join(", ")
}

/// Reads every `--roster` (exit 2 naming the file, line and value on a problem).
fn read_roster(choices: &Choices, ctx: &Context, stdin: &mut dyn Read) -> Result<Roster, Exit> {
    let sources: Vec<InputSource> = choices
        .rosters
        .iter()
        .map(|p| InputSource::from_arg(p))
        .collect();
    if sources.contains(&InputSource::Stdin) && ctx.stdin_is_terminal {
        return Err(usage(
            "--roster -: stdin is a terminal; pipe the HR export in, or name the file",
        ));
    }
    input::read_roster(&sources, &choices.roster_columns, choices.delimiter, stdin)
        .map_err(|e| usage(&format!("roster: {e}")))
}

/// Reads `--exclude` (or the config file's `exclude`): every entry must be a valid user.
fn read_exclude(path: Option<&Path>, choices: &Choices) -> Result<HashSet<String>, Exit> {
    match path {
        None => Ok(HashSet::new()),
        Some(p) => input::read_exclude(p, choices.delimiter).map_err(|e| usage(&e.to_string())),
    }
}

/// Connects (a list scope is needed) and builds the requester with the Medium pacer.
async fn open_listing(settings: &ReconcileSettings, ctx: &Context) -> Result<Requester, Exit> {
    let conn = &settings.conn;
    let Some(creds) = &conn.credentials else {
        return Err(usage(
            "no credentials: set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET, or ZOOM_ACCESS_TOKEN",
        ));
    };
    let pacer = Pacer::new(settings.rate).map_err(|e| usage(&format!("--rate: {e}")))?;
    // A connection for each page in flight (crate::users::in_flight).
    let pool = crate::users::in_flight(pacer.max_rate());
    let api = connect(conn, pool, creds, &[super::LIST_SCOPES])
        .await
        .map_err(|m| usage(&m))?;
    Ok(Requester::new(
        api,
        Arc::new(pacer),
        RetryPolicy::new(conn.max_retries),
        Control::with_outage_wait(&ctx.cancel, conn.outage_wait),
        Arc::new(Stats::default()),
    ))
}

/// Lists every considered status into `rec`, through the one paging path.
async fn list(
    requester: &Requester,
    choices: &Choices,
    rec: &mut Reconciliation,
) -> Result<(), ListError> {
    for status in &choices.statuses {
        // People on the roster mostly have an active Zoom user: only that listing asks ahead.
        let expected = match status {
            crate::cli::UserStatusFilter::Active => rec.roster_size(),
            _ => 0,
        };
        let stats = crate::users::list_all(requester, status.as_str(), expected, |u| {
            rec.add(u);
            Ok(())
        })
        .await?;
        tracing::info!(
            status = status.as_str(),
            users = stats.users,
            pages = stats.pages,
            restarts = stats.restarts,
            throttled = stats.throttled,
            "listed users"
        );
    }
    Ok(())
}

/// A listing that stopped early: nothing is written; 2 when no retry can cure it, else 3.
fn stopped(e: &ListError, counts: &Counts) -> Exit {
    let exit = if e.stop_reason().is_configuration() {
        Exit::Usage
    } else {
        Exit::Stopped
    };
    logging::eprint_line(&format!(
        "zoom-offboard: error: reconcile: {e}; the listing is incomplete, so nothing was written \
         (a half list is never a list of leavers)"
    ));
    print_counts(counts);
    exit
}

/// A guard's refusal: exit 2, nothing on stdout, the counts on stderr.
fn refuse(message: &str, counts: &Counts) -> Exit {
    logging::eprint_line(&format!("zoom-offboard: reconcile: {message}"));
    print_counts(counts);
    Exit::Usage
}

/// The last line on stderr.
fn print_counts(counts: &Counts) {
    logging::eprint_line(&format!("zoom-offboard: reconcile: {counts}"));
}

/// `--missing FILE`: a CSV with the header `email` and one roster value a line, written before
/// stdout so that a path that cannot be written leaves stdout empty.
fn write_missing(path: Option<&Path>, outcome: &Outcome) -> Result<(), Exit> {
    let Some(path) = path else {
        return Ok(());
    };
    let fail = |e: &dyn std::fmt::Display| {
        usage(&format!("--missing {}: cannot write: {e}", path.display()))
    };
    let mut w = csv::Writer::from_path(path).map_err(|e| fail(&e))?;
    w.write_record(["email"]).map_err(|e| fail(&e))?;
    for value in &outcome.missing {
        w.write_record([value]).map_err(|e| fail(&e))?;
    }
    w.flush().map_err(|e| fail(&e))
}

/// The candidates on stdout, in listing order, each with its reason.
fn write_candidates(choices: &Choices, outcome: &Outcome, out: &mut dyn Write) -> Result<(), Exit> {
    let fail = |e: String| {
        logging::eprint_line(&format!(
            "zoom-offboard: error: cannot write to stdout: {e}"
        ));
        Exit::Stopped
    };
    let mut w = RowWriter::new(choices.format, out, EXTRA).map_err(fail)?;
    let reason = Reason::NotOnRoster.to_string();
    for u in &outcome.candidates {
        w.write(u, &[&reason]).map_err(fail)?;
    }
    w.flush().map_err(fail)
}
