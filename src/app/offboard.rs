//! `zoom-offboard offboard`: the waves of steps for each leaver, through the shared skeleton
//! ([`super::pipeline`]). What is its own: an item is a leaver with the steps it has left, the
//! prompt says what will be removed and where data goes, and the summary ends with the plan
//! per step.
//!
//! `revoke` is `offboard --steps revoke` in what it does to Zoom; it keeps its own command
//! (and its report keeps no `step` column), while both share the input, report, session,
//! request policy and pool.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Context;
use super::pipeline::{self, Done, Running, UserCommand, Work, WorkDone};
use super::revoke::duration_at;
use crate::config::{OffboardSettings, Settings};
use crate::exit::Exit;
use crate::input::{Batch, UserId};
use crate::offboard::{self, Leaver, Options, PMI_NOTE, Tally};
use crate::report::{ReportKind, ResumeState, Row, Status};
use crate::step::Step;
use crate::transfer::{TransferKind, TransferKinds};

/// `zoom-offboard offboard` (and its dry run).
pub async fn offboard(settings: OffboardSettings, ctx: &Context) -> Exit {
    let command = Offboard {
        settings,
        tally: Tally::default(),
    };
    pipeline::run(command, ctx).await
}

/// The `offboard` command: its settings, and what its waves found (for the plan).
struct Offboard {
    settings: OffboardSettings,
    /// Rows per step and status, refusals and where data goes, filled by the run.
    tally: Tally,
}

impl UserCommand for Offboard {
    type Item = Leaver;
    const KIND: ReportKind = ReportKind::Offboard;

    fn settings(&self) -> &Settings {
        &self.settings.run
    }

    fn transfer_column(&self) -> Option<String> {
        self.settings.transfer_column.clone()
    }

    fn items(&self, batch: Batch, resume: Option<&ResumeState>, done: &mut Done) -> Vec<Leaver> {
        let opts = &self.settings.options;
        let targets: Vec<Option<UserId>> = (0..batch.users.len())
            .map(|i| batch.transfer_at(i).cloned())
            .collect();
        let mut leavers: Vec<Leaver> = batch
            .users
            .into_iter()
            .zip(targets)
            .map(|(u, t)| Leaver::new(u, t, resume))
            .collect();
        for l in &leavers {
            for step in opts.steps.iter() {
                if l.is_done(step, opts.dry_run)
                    && let Some(s) = l.status(step)
                {
                    done.row(s);
                }
            }
        }
        leavers.retain(|l| opts.steps.iter().any(|s| !l.is_done(s, opts.dry_run)));
        leavers
    }

    fn rows_per_item(&self) -> u64 {
        self.settings.options.steps.iter().count() as u64
    }

    fn confirmation(&self, work: &Work<Leaver>) -> (String, String) {
        confirmation(work, &self.settings.options, &self.settings.run)
    }

    fn validated(&mut self, items: Vec<Leaver>) -> impl Iterator<Item = Row> + Send {
        let opts = self.settings.options.clone();
        let dry = opts.dry_run;
        let rows = pipeline::validated_rows(items.into_iter().flat_map(move |l| {
            let steps: Vec<Step> = opts.steps.iter().filter(|s| !l.is_done(*s, dry)).collect();
            steps
                .into_iter()
                .map(move |step| (l.user.clone(), Status::would(step), Some(step)))
        }));
        let tally = &mut self.tally;
        rows.inspect(move |row| {
            if let Some(step) = row.step {
                tally.count(step, row.status);
            }
        })
        .collect::<Vec<Row>>()
        .into_iter()
    }

    async fn execute(&mut self, leavers: Vec<Leaver>, run: &Running) -> Result<bool, String> {
        let opts = &self.settings.options;
        let Some(creds) = &self.settings.run.conn.credentials else {
            return Ok(false);
        };
        let light = run.light(&self.settings.run, creds, &scopes(opts)).await?;
        let (ending, tally) =
            offboard::execute(leavers, opts.clone(), light, run.session.rows()).await;
        self.tally = tally;
        Ok(ending.stopped_on_first_call)
    }

    fn steps(&self) -> Vec<String> {
        let steps = self.settings.options.steps.iter();
        steps.map(|s| s.as_str().to_owned()).collect()
    }

    fn destinations(&self) -> BTreeMap<String, u64> {
        self.tally.destinations.clone()
    }

    fn extra(&self, work: &WorkDone) -> String {
        let s = &self.settings;
        let mut extra = plan_text(&self.tally, &s.options, &s.run, work.items);
        if work.done.rows > 0 {
            let _ = write!(
                extra,
                "\n  resumed: {} steps were already done in earlier runs",
                work.done.rows
            );
        }
        extra
    }
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
                Step::Downgrade => super::UPDATE_SCOPES,
                Step::Disassociate | Step::Delete => super::DELETE_SCOPES,
            });
        }
    }
    needs
}

/// The prompt of a real run and the answer it wants: the user count, or `delete N` when data
/// will be deleted for good.
fn confirmation(work: &Work<Leaver>, opts: &Options, settings: &Settings) -> (String, String) {
    let (leavers, excluded, invalid) = (&work.items, work.excluded, work.invalid);
    let n = leavers.len();
    let destructive: Vec<&str> = opts
        .steps
        .iter()
        .filter(|s| s.is_guarded())
        .map(Step::as_str)
        .collect();
    let calls = n * (opts.steps.iter().count() + usize::from(opts.steps.any_guarded()));
    let mut prompt = format!(
        "About to offboard {n} users from Zoom, steps {} ({excluded} excluded, {invalid} \
         invalid and skipped), at {:.1} requests/s (about {}):\n  {}\n",
        opts.steps,
        settings.rate,
        duration_at(calls, settings.rate),
        pipeline::sample(leavers.iter().map(|l| l.user.as_str()), n),
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
        (Some(_), _, false) if opts.transfer_kinds.is_all() => {
            "Their data (all eight kinds) goes to each user's transfer target.\n"
        }
        (Some(_), _, false) => {
            "Only the kinds of --transfer-kinds go to each user's transfer \
                                target; the rest is lost with the user.\n"
        }
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
        let kinds = if opts.no_transfer {
            "nothing: --no-transfer".to_owned()
        } else {
            opts.transfer_kinds.words()
        };
        let _ = write!(out, "\n  data goes to ({kinds}):");
        let mut by_count: Vec<(&String, &u64)> = tally.destinations.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (to, n) in by_count.iter().take(10) {
            let _ = write!(out, "\n    {n:>6}  {to}");
        }
        if by_count.len() > 10 {
            let _ = write!(out, "\n    ... and {} more targets", by_count.len() - 10);
        }
    }
    if opts.steps.removal().is_some() {
        let _ = write!(
            out,
            "\n  note: {PMI_NOTE}: they stay with the leaver (and go with a delete)"
        );
        if !opts.no_transfer && !opts.transfer_kinds.is_all() {
            let left: TransferKinds = TransferKind::ALL
                .into_iter()
                .filter(|k| !opts.transfer_kinds.contains(*k))
                .collect();
            let _ = write!(
                out,
                "\n  note: not handed over (--transfer-kinds): {}",
                left.words()
            );
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
