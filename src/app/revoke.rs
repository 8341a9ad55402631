//! `zoom-offboard revoke`: input → report → confirmation → one strategy → summary.
//!
//! The strategy is one of three, chosen from the settings: validate only (a dry run without
//! credentials), look up by listing the account (a large dry run), or the worker pool (a real
//! run, or a dry run looking users up one by one).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::ending::{Opened, RunEnd, excluded_row, finish, invalid_row, light_requester, open_run};
use super::session::Session;
use super::{Context, run_id, usage};
use crate::config::Settings;
use crate::exit::Exit;
use crate::input::{self, Batch, UserId};
use crate::pacing::Pacer;
use crate::plan::Label;
use crate::report::{ReportKind, ResumeState, Row, Status};
use crate::request::{Control, Requester, Stats};
use crate::run;

/// `zoom-offboard revoke` (and its dry run).
pub async fn revoke(settings: Settings, ctx: &Context) -> Exit {
    // The summary's clock starts here: its wall time covers reading the input too.
    let started = Instant::now();
    let Opened {
        batch,
        writer,
        resume,
        mut fresh,
    } = match open_run(&settings, ctx, None, ReportKind::Revoke) {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    let duplicates = batch.duplicates;
    let plan = WorkPlan::build(batch, resume.as_ref(), settings.dry_run);
    drop(resume);
    if settings.resume {
        tracing::info!(
            already_done = plan.already_done,
            to_do = plan.todo.len(),
            "resuming {}",
            settings.report.display()
        );
    }
    if !settings.dry_run && !settings.yes && !plan.todo.is_empty() {
        let prompt = confirmation_text(&plan, &settings);
        let expected = plan.todo.len().to_string();
        let confirmed = ctx.confirm.as_ref().is_some_and(|c| c(&prompt, &expected));
        if !confirmed {
            return usage("not confirmed: nothing was done");
        }
    }

    let stats = Arc::new(Stats::default());
    let control = Control::with_outage_wait(&ctx.cancel, settings.outage_wait);
    let span = tracing::info_span!("run", run_id = %run_id());
    let total = (plan.todo.len() + plan.prewritten.len()) as u64;
    let session = Session::start(
        writer,
        &settings.log,
        ctx.progress_terminal,
        total,
        stats.clone(),
        span.clone(),
    );
    session.send_all(plan.prewritten).await;
    let to_request = plan.todo.len();
    let mut nothing_done = false;
    if !plan.todo.is_empty() {
        let strategy = Strategy::pick(&settings);
        let result = strategy
            .run(&settings, plan.todo, &session, &control, &stats)
            .instrument(span)
            .await;
        match result {
            Ok(first_call_stop) => nothing_done = first_call_stop,
            Err(msg) => return usage(&msg),
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

    let mut extra = String::new();
    if plan.already_done > 0 {
        extra.push_str(&format!(
            "\n  resumed: {} users were already done in earlier runs",
            plan.already_done
        ));
    }
    if settings.dry_run {
        extra.push_str(&dry_run_estimate(to_request, &settings));
    }
    finish(
        &settings,
        RunEnd {
            started,
            counts: collected.counts,
            done_counts: &plan.done_counts,
            stats: &stats,
            duplicates,
            stop,
            nothing_done,
            extra,
            kind: ReportKind::Revoke,
        },
    )
}

/// How the users of a run are requested.
enum Strategy {
    /// A dry run without credentials: every valid user is `would_revoke`, unchecked.
    ValidateOnly,
    /// Revoke (or, in a dry run, look up) each user through the worker pool.
    Pool,
}

impl Strategy {
    fn pick(settings: &Settings) -> Strategy {
        if settings.credentials.is_none() {
            Strategy::ValidateOnly
        } else {
            Strategy::Pool
        }
    }

    /// Runs the users; `Ok(true)` when the very first call stopped the run (nothing was done),
    /// `Err` when no connection could be made (a usage error: nothing was sent).
    async fn run(
        self,
        settings: &Settings,
        todo: Vec<UserId>,
        session: &Session,
        control: &Arc<Control>,
        stats: &Arc<Stats>,
    ) -> Result<bool, String> {
        let creds = match (self, &settings.credentials) {
            (Strategy::ValidateOnly, _) | (_, None) => {
                // Rows are decided as fast as they are made: the clock is read once per
                // channel-full of them, not per row (a twentieth of a million-row dry run).
                let mut at = crate::report::now();
                let stamps = (0..).map(move |i| {
                    if i % 1024 == 1023 {
                        at = crate::report::now();
                    }
                    at
                });
                let rows = todo.into_iter().zip(stamps);
                session
                    .send_all(rows.map(|(user, at)| validated_row(user, at)))
                    .await;
                return Ok(false);
            }
            (Strategy::Pool, Some(creds)) => creds,
        };
        let needs = if settings.dry_run {
            super::DRY_RUN_SCOPES
        } else {
            super::REVOKE_SCOPES
        };
        let light = light_requester(settings, creds, &[needs], control, stats).await?;
        if settings.dry_run
            && let Some(medium) = listing_requester(settings, &light, todo.len()).await
        {
            by_listing(&medium, &todo, session).await;
            return Ok(false);
        }
        let dry = settings.dry_run;
        let res = run::execute(
            todo,
            settings.concurrency,
            control.clone(),
            session.rows(),
            move |user| {
                let light = light.clone();
                async move {
                    Some(if dry {
                        run::lookup_one(light, user).await
                    } else {
                        run::revoke_one(light, user).await
                    })
                }
            },
            |user| Some(run::pending_row(user.as_str(), 0)),
        )
        .await;
        Ok(res.stopped_on_first_call)
    }
}

fn validated_row(user: UserId, at: DateTime<Utc>) -> Row {
    let mut row = Row::stamped(user, Status::WouldRevoke, at);
    row.message = "validated only: no credentials, so not looked up".into();
    row
}

/// A dry run looking users up by listing the account: rows for all, or `pending` if the
/// listing stopped (its reason is on the run's control).
async fn by_listing(medium: &Requester, todo: &[UserId], session: &Session) {
    let rows = session.rows();
    // The pages are already counted in the run's requests by the request policy.
    if let Err(e) = crate::dryrun::by_listing(medium, todo, &rows).await {
        medium.control().halt(e.stop_reason());
        session
            .send_all(todo.iter().map(|u| {
                let mut row = Row::new(u.as_str(), Status::Pending);
                row.message = "not looked up: the listing stopped".into();
                row
            }))
            .await;
    }
}

/// For a dry run, decides how to look users up: `Some` (the Medium label's requester) means
/// by listing the account.
async fn listing_requester(
    settings: &Settings,
    light: &Requester,
    users: usize,
) -> Option<Requester> {
    use crate::dryrun::Lookup;
    let medium_rate = f64::from(settings.plan.per_second(Label::Medium)) * 0.8;
    let medium = light.with_pacer(Arc::new(Pacer::new(medium_rate).ok()?));
    let chosen = match settings.lookup {
        Lookup::Each => Lookup::Each,
        Lookup::List => Lookup::List,
        Lookup::Auto => {
            let (pick, est) = crate::dryrun::choose(&medium, users, settings.rate).await;
            tracing::info!(
                each_secs = est.each_secs,
                list_secs = ?est.list_secs,
                "dry run: looking users up {}",
                if pick == Lookup::List { "by listing the account" } else { "one by one" }
            );
            pick
        }
    };
    (chosen == Lookup::List).then_some(medium)
}

/// What this invocation has to do, after input and resume state are known. It takes the
/// batch's users over (they are held once, not copied into a plan and again into the pool).
struct WorkPlan {
    /// Users to request, in input order.
    todo: Vec<UserId>,
    /// Rows known without any request (invalid, excluded), not already in the report.
    prewritten: Vec<Row>,
    /// Users skipped because the report already has them done.
    already_done: usize,
    /// Final statuses of those skipped users, for the exit code.
    done_counts: BTreeMap<Status, u64>,
    /// For the confirmation and the dry-run plan.
    excluded: usize,
    /// Likewise.
    invalid: usize,
}

impl WorkPlan {
    /// What is done is decided by the one resume rule, [`Status::is_done`].
    fn build(batch: Batch, resume: Option<&ResumeState>, dry_run: bool) -> WorkPlan {
        let mut done_counts = BTreeMap::new();
        let mut already_done = 0;
        let mut done = |key: &str| -> bool {
            match resume.and_then(|r| r.last(key)) {
                Some(row) if row.status.is_done(dry_run) => {
                    *done_counts.entry(row.status).or_insert(0) += 1;
                    already_done += 1;
                    true
                }
                _ => false,
            }
        };
        let (excluded, invalid) = (batch.excluded.len(), batch.invalid.len());
        let mut prewritten = Vec::new();
        for inv in batch.invalid {
            if done(&input::dedupe_key(&inv.raw)) {
                continue;
            }
            prewritten.push(invalid_row(&inv));
        }
        for u in &batch.excluded {
            if done(&u.key()) {
                continue;
            }
            prewritten.push(excluded_row(u));
        }
        let mut todo = batch.users;
        // Without a report to resume nothing is done yet: no key to make for every user.
        if resume.is_some() {
            todo.retain(|u| !done(&u.key()));
        }
        WorkPlan {
            todo,
            prewritten,
            already_done,
            done_counts,
            excluded,
            invalid,
        }
    }
}

fn confirmation_text(plan: &WorkPlan, settings: &Settings) -> String {
    let sample: Vec<&str> = plan.todo.iter().take(5).map(|u| u.as_str()).collect();
    let more = plan.todo.len().saturating_sub(sample.len());
    format!(
        "About to log {} users out of Zoom ({} excluded, {} invalid and skipped), at {:.1} \
         requests/s (about {}):\n  {}{}\nReport: {}\nType the number of users ({}) to go on: ",
        plan.todo.len(),
        plan.excluded,
        plan.invalid,
        settings.rate,
        duration_at(plan.todo.len(), settings.rate),
        sample.join("\n  "),
        if more > 0 {
            format!("\n  ... and {more} more")
        } else {
            String::new()
        },
        settings.report.display(),
        plan.todo.len()
    )
}

/// How long `calls` take at `rate` per second, for a person.
pub(super) fn duration_at(calls: usize, rate: f64) -> humantime::FormattedDuration {
    let secs = calls as f64 / rate;
    humantime::format_duration(Duration::from_secs(secs.ceil() as u64))
}

fn dry_run_estimate(to_request: usize, settings: &Settings) -> String {
    format!(
        "\n  dry run: no write request was sent. A real run would request {} users at {:.1}/s: \
         about {}.{}",
        to_request,
        settings.rate,
        duration_at(to_request, settings.rate),
        if settings.credentials.is_none() {
            " Without credentials, users were validated but not looked up."
        } else {
            ""
        }
    )
}
