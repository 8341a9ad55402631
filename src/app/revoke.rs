//! `zoom-offboard revoke`: each user of the input logged out, through the shared skeleton
//! ([`super::pipeline`]). What is its own: a user is one item, and a dry run with credentials
//! looks users up either one by one or by listing the account, whichever is cheaper.

use std::sync::Arc;
use std::time::Duration;

use super::Context;
use super::pipeline::{self, Done, Running, UserCommand, Work, WorkDone};
use super::session::Session;
use crate::config::Settings;
use crate::exit::Exit;
use crate::input::{Batch, UserId};
use crate::pacing::Pacer;
use crate::plan::Label;
use crate::report::{ReportKind, ResumeState, Row, Status};
use crate::request::Requester;
use crate::run;
use crate::step::Step;

/// `zoom-offboard revoke` (and its dry run).
pub async fn revoke(settings: Settings, ctx: &Context) -> Exit {
    pipeline::run(Revoke { settings }, ctx).await
}

/// The `revoke` command: its settings are the run's.
struct Revoke {
    settings: Settings,
}

impl UserCommand for Revoke {
    type Item = UserId;
    const KIND: ReportKind = ReportKind::Revoke;

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn items(&self, batch: Batch, resume: Option<&ResumeState>, done: &mut Done) -> Vec<UserId> {
        let mut todo = batch.users;
        // Without a report to resume nothing is done yet: no key to make for every user.
        if let Some(r) = resume {
            let dry_run = self.settings.dry_run;
            todo.retain(|u| match r.state(&u.key(), Step::Revoke) {
                Some(s) if s.status.is_done(dry_run) => {
                    done.row(s.status);
                    false
                }
                _ => true,
            });
        }
        todo
    }

    fn rows_per_item(&self) -> u64 {
        1
    }

    fn confirmation(&self, work: &Work<UserId>) -> (String, String) {
        let s = &self.settings;
        let n = work.items.len();
        let prompt = format!(
            "About to log {n} users out of Zoom ({} excluded, {} invalid and skipped), at {:.1} \
             requests/s (about {}):\n  {}\nReport: {}\nType the number of users ({n}) to go on: ",
            work.excluded,
            work.invalid,
            s.rate,
            duration_at(n, s.rate),
            pipeline::sample(work.items.iter().map(UserId::as_str), n),
            s.report.display(),
        );
        (prompt, n.to_string())
    }

    fn validated(&mut self, items: Vec<UserId>) -> impl Iterator<Item = Row> + Send {
        pipeline::validated_rows(items.into_iter().map(|u| (u, Status::WouldRevoke, None)))
    }

    async fn execute(&mut self, todo: Vec<UserId>, run: &Running) -> Result<bool, String> {
        let s = &self.settings;
        let Some(creds) = &s.conn.credentials else {
            return Ok(false);
        };
        let needs = if s.dry_run {
            super::DRY_RUN_SCOPES
        } else {
            super::REVOKE_SCOPES
        };
        let light = run.light(s, creds, &[needs]).await?;
        if s.dry_run
            && let Some(medium) = listing_requester(s, &light, todo.len()).await
        {
            by_listing(&medium, &todo, &run.session).await;
            return Ok(false);
        }
        let dry = s.dry_run;
        let res = run::execute(
            todo,
            s.concurrency,
            run.control.clone(),
            run.session.rows(),
            move |user| {
                let light = light.clone();
                async move {
                    Some(if dry {
                        crate::dryrun::lookup_one(light, user).await
                    } else {
                        crate::offboard::revoke_one(light, user).await
                    })
                }
            },
            |user| Some(run::pending_row(user.as_str(), 0)),
        )
        .await;
        Ok(res.stopped_on_first_call)
    }

    fn extra(&self, work: &WorkDone) -> String {
        let mut extra = String::new();
        let already_done = work.done.rows + work.done.whole;
        if already_done > 0 {
            extra.push_str(&format!(
                "\n  resumed: {already_done} users were already done in earlier runs"
            ));
        }
        if self.settings.dry_run {
            extra.push_str(&dry_run_estimate(work.items, &self.settings));
        }
        extra
    }
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
    let medium_rate = f64::from(settings.conn.plan.per_second(Label::Medium)) * 0.8;
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
        if settings.conn.credentials.is_none() {
            " Without credentials, users were validated but not looked up."
        } else {
            ""
        }
    )
}
