//! `zoom-offboard offboard`: input → report → confirmation → the waves → summary and plan.
//!
//! `revoke` is `offboard --steps revoke` in what it does to Zoom; it keeps its own command
//! (and its report keeps no `step` column), while both share the input, report, session,
//! request policy and pool.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::ending::{Opened, RunEnd, excluded_row, finish, invalid_row, light_requester, open_run};
use super::revoke::duration_at;
use super::session::Session;
use super::{Context, run_id, usage};
use crate::cli::OffboardArgs;
use crate::config::Settings;
use crate::exit::Exit;
use crate::input::{self, UserId};
use crate::offboard::{self, Leaver, Options, Tally};
use crate::report::{ReportKind, Row, Status};
use crate::request::{Control, Stats};
use crate::step::{Step, Steps};

/// Resolves the offboarding flags on top of `revoke`'s settings: a bad step list, a removal
/// with no transfer target and no `--no-transfer`, or a bad `--transfer-to` is a usage error.
pub fn options(args: &OffboardArgs, settings: &Settings) -> Result<Options, String> {
    if args.run.lookup == crate::dryrun::Lookup::List {
        return Err(
            "--lookup list is for revoke's dry runs: offboard looks each user up with \
                    GET /users/{id}, because its safety rules need each user's role name and \
                    sign-in types, which the account listing does not return"
                .to_owned(),
        );
    }
    let steps: Steps = match &args.steps {
        Some(s) => s
            .parse()
            .map_err(|e: crate::step::StepsError| e.to_string())?,
        None => "revoke,deactivate"
            .parse()
            .map_err(|e: crate::step::StepsError| e.to_string())?,
    };
    let transfer_to = match &args.transfer_to {
        Some(t) => Some(UserId::parse(t).map_err(|e| format!("--transfer-to {t:?}: {e}"))?),
        None => None,
    };
    if let Some(removal) = steps.removal()
        && transfer_to.is_none()
        && args.transfer_column.is_none()
        && !args.no_transfer
    {
        return Err(format!(
            "--steps {steps} includes {removal}: say where each leaver's meetings, webinars, \
             recordings and whiteboards go with --transfer-to EMAIL or --transfer-column NAME, \
             or pass --no-transfer to let the data go with the user"
        ));
    }
    if steps.removal().is_none() && (transfer_to.is_some() || args.no_transfer) {
        tracing::warn!(
            "--transfer-to and --no-transfer only matter with a disassociate or delete step"
        );
    }
    Ok(Options {
        steps,
        transfer_to,
        no_transfer: args.no_transfer,
        include_admins: args.include_admins,
        dry_run: settings.dry_run,
        concurrency: settings.concurrency,
    })
}

/// `zoom-offboard offboard` (and its dry run).
pub async fn offboard(args: &OffboardArgs, settings: Settings, ctx: &Context) -> Exit {
    // The summary's clock starts here: its wall time covers reading the input too.
    let started = Instant::now();
    let opts = match options(args, &settings) {
        Ok(o) => o,
        Err(m) => return usage(&m),
    };
    let column = args.transfer_column.clone();
    let Opened {
        batch,
        writer,
        resume,
        mut fresh,
    } = match open_run(&settings, ctx, column, ReportKind::Offboard) {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    let dry = settings.dry_run;

    // What is left to do: rows known without a call, and each user's steps not yet done.
    let mut done_counts: BTreeMap<Status, u64> = BTreeMap::new();
    let mut prewritten = Vec::new();
    let whole_done = |key: &str| {
        resume
            .as_ref()
            .and_then(|r| r.last_step(key, None))
            .filter(|s| s.status.is_done(dry))
            .map(|s| s.status)
    };
    for inv in &batch.invalid {
        match whole_done(&input::dedupe_key(&inv.raw)) {
            Some(s) => *done_counts.entry(s).or_default() += 1,
            None => prewritten.push(invalid_row(inv)),
        }
    }
    for u in &batch.excluded {
        match whole_done(&u.key()) {
            Some(s) => *done_counts.entry(s).or_default() += 1,
            None => prewritten.push(excluded_row(u)),
        }
    }
    let targets: Vec<Option<UserId>> = (0..batch.users.len())
        .map(|i| batch.transfer_at(i).cloned())
        .collect();
    let (duplicates, excluded, invalid) =
        (batch.duplicates, batch.excluded.len(), batch.invalid.len());
    let mut leavers: Vec<Leaver> = batch
        .users
        .into_iter()
        .zip(targets)
        .map(|(u, t)| Leaver::new(u, t, resume.as_ref()))
        .collect();
    let mut already_done = 0usize;
    for l in &leavers {
        for step in opts.steps.iter() {
            if l.is_done(step, dry)
                && let Some(s) = l.status(step)
            {
                *done_counts.entry(s).or_default() += 1;
                already_done += 1;
            }
        }
    }
    leavers.retain(|l| opts.steps.iter().any(|s| !l.is_done(s, dry)));
    drop(resume);

    if !dry && !settings.yes && !leavers.is_empty() {
        let (prompt, expected) = confirmation(&leavers, &opts, &settings, excluded, invalid);
        if !ctx.confirm.as_ref().is_some_and(|c| c(&prompt, &expected)) {
            return usage("not confirmed: nothing was done");
        }
    }

    let stats = Arc::new(Stats::default());
    let control = Control::with_outage_wait(&ctx.cancel, settings.outage_wait);
    let span = tracing::info_span!("run", run_id = %run_id());
    let steps_n = opts.steps.iter().count();
    let total = (leavers.len() * steps_n + prewritten.len()) as u64;
    let session = Session::start(
        writer,
        &settings.log,
        ctx.progress_terminal,
        total,
        stats.clone(),
        span.clone(),
    );
    let prewritten_counts = counts_of(&prewritten);
    session.send_all(prewritten).await;
    let users_to_do = leavers.len();
    let mut nothing_done = false;
    let mut tally = Tally::default();
    if !leavers.is_empty() {
        match &settings.credentials {
            None => {
                // A dry run without credentials: validated only, nothing looked up.
                for l in &leavers {
                    for step in opts.steps.iter().filter(|s| !l.is_done(*s, dry)) {
                        let mut row = Row::new(l.user.as_str(), would(step));
                        row.step = Some(step);
                        row.message = "validated only: no credentials, so not looked up".into();
                        *tally
                            .per_step
                            .entry(step)
                            .or_default()
                            .entry(row.status)
                            .or_default() += 1;
                        session.send_all([row]).await;
                    }
                }
            }
            Some(creds) => {
                let needs = scopes(&opts);
                let light = match light_requester(&settings, creds, &needs, &control, &stats).await
                {
                    Ok(l) => l,
                    Err(msg) => return usage(&msg),
                };
                let (ending, t) = offboard::execute(leavers, opts.clone(), light, session.rows())
                    .instrument(span)
                    .await;
                nothing_done = ending.stopped_on_first_call;
                tally = t;
            }
        }
    }
    let collected = session.finish().await;
    if let Some(err) = &collected.error {
        control.report_failed(err.clone());
    }
    let stop = control.reason();
    if !nothing_done {
        fresh.keep();
    }

    // Final rows of this run (write-ahead rows are not final), plus what the report had done.
    let mut run_counts = prewritten_counts;
    for per in tally.per_step.values() {
        for (s, n) in per {
            *run_counts.entry(*s).or_default() += n;
        }
    }
    let mut extra = plan_text(&tally, &opts, &settings, users_to_do);
    if already_done > 0 {
        let _ = write!(
            extra,
            "\n  resumed: {already_done} steps were already done in earlier runs"
        );
    }
    finish(
        &settings,
        RunEnd {
            started,
            counts: run_counts,
            done_counts: &done_counts,
            stats: &stats,
            duplicates,
            stop,
            nothing_done,
            extra,
            kind: ReportKind::Offboard,
        },
    )
}

/// The scopes the token must have, one of each group: each step's, and the lookups'.
fn scopes(opts: &Options) -> Vec<&'static [&'static str]> {
    let mut needs = Vec::new();
    if opts.dry_run || opts.steps.any_guarded() {
        needs.push(super::READ_SCOPES);
    }
    if !opts.dry_run {
        for step in opts.steps.iter() {
            needs.push(match step {
                Step::Revoke => super::REVOKE_SCOPES,
                Step::Deactivate => super::STATUS_SCOPES,
                Step::Disassociate | Step::Delete => super::DELETE_SCOPES,
            });
        }
    }
    needs
}

fn would(step: Step) -> Status {
    match step {
        Step::Revoke => Status::WouldRevoke,
        Step::Deactivate => Status::WouldDeactivate,
        Step::Disassociate => Status::WouldDisassociate,
        Step::Delete => Status::WouldDelete,
    }
}

fn counts_of(rows: &[Row]) -> BTreeMap<Status, u64> {
    let mut c = BTreeMap::new();
    for r in rows {
        *c.entry(r.status).or_default() += 1;
    }
    c
}

/// The prompt of a real run and the answer it wants: the user count, or `delete N` when data
/// will be deleted for good.
fn confirmation(
    leavers: &[Leaver],
    opts: &Options,
    settings: &Settings,
    excluded: usize,
    invalid: usize,
) -> (String, String) {
    let n = leavers.len();
    let destructive: Vec<&str> = opts
        .steps
        .iter()
        .filter(|s| s.is_guarded())
        .map(Step::as_str)
        .collect();
    let sample: Vec<&str> = leavers.iter().take(5).map(|l| l.user.as_str()).collect();
    let more = n.saturating_sub(sample.len());
    let calls = n * (opts.steps.iter().count() + usize::from(opts.steps.any_guarded()));
    let mut prompt = format!(
        "About to offboard {n} users from Zoom, steps {} ({excluded} excluded, {invalid} \
         invalid and skipped), at {:.1} requests/s (about {}):\n  {}{}\n",
        opts.steps,
        settings.rate,
        duration_at(calls, settings.rate),
        sample.join("\n  "),
        if more > 0 {
            format!("\n  ... and {more} more")
        } else {
            String::new()
        },
    );
    if !destructive.is_empty() {
        let _ = writeln!(
            prompt,
            "This will {} {n} users (after safety checks: owner, admins, transfer targets).",
            destructive.join(" and then ")
        );
    }
    let data = match (opts.steps.removal(), &opts.transfer_to, opts.no_transfer) {
        (Some(_), _, true) => "Their meetings, recordings and other data will NOT be moved.\n",
        (Some(_), _, false) => "Their data goes to each user's transfer target.\n",
        _ => "",
    };
    prompt.push_str(data);
    let _ = writeln!(prompt, "Report: {}", settings.report.display());
    let expected = if opts.steps.contains(Step::Delete) {
        format!("delete {n}")
    } else {
        n.to_string()
    };
    let _ = write!(
        prompt,
        "Type \"{expected}\" to go on{}: ",
        if opts.steps.contains(Step::Delete) {
            " (users and their data are deleted for good)"
        } else {
            ""
        }
    );
    (prompt, expected)
}

/// The plan per step (counts, refusals and why, where data goes), the SSO flag and, for a dry
/// run, how long the real run takes at the chosen rate.
fn plan_text(tally: &Tally, opts: &Options, settings: &Settings, users: usize) -> String {
    let mut out = String::new();
    let _ = write!(out, "\n  steps:");
    for step in opts.steps.iter() {
        let per = tally.per_step.get(&step);
        let parts: Vec<String> = per
            .into_iter()
            .flatten()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let _ = write!(
            out,
            "\n    {:<12} {}",
            step.as_str(),
            if parts.is_empty() {
                "nothing to do".to_string()
            } else {
                parts.join(", ")
            }
        );
    }
    if !tally.refusals.is_empty() {
        let _ = write!(out, "\n  refused:");
        for (why, n) in &tally.refusals {
            let _ = write!(out, "\n    {n:>6}  {why}");
        }
    }
    if !tally.destinations.is_empty() {
        let _ = write!(out, "\n  data goes to:");
        let mut by_count: Vec<(&String, &u64)> = tally.destinations.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (to, n) in by_count.iter().take(10) {
            let _ = write!(out, "\n    {n:>6}  {to}");
        }
        if by_count.len() > 10 {
            let _ = write!(out, "\n    ... and {} more targets", by_count.len() - 10);
        }
    }
    if tally.not_sso > 0 {
        let _ = write!(
            out,
            "\n  note: {} users do not sign in with SSO: a revoke may leave their other \
             sign-in open (deactivate closes it)",
            tally.not_sso
        );
    }
    if opts.dry_run {
        let _ = write!(
            out,
            "\n  dry run: no write request was sent. A real run makes about {} calls for {users} \
             users at {:.1}/s: about {}.",
            tally.calls,
            settings.rate,
            duration_at(tally.calls as usize, settings.rate)
        );
    }
    out
}
