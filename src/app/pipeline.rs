//! The one path of every command that touches users: open the run, the resume filter, the
//! confirmation, the command's strategy, the finish. Cargo's and ripgrep's subcommands share
//! one such path and differ only in the part that is theirs; so do ours.
//!
//! A command is a [`UserCommand`]: the report it writes, how the input's users become its
//! items (leaving out what the resumed report has done), how it asks to go on, and how it runs
//! its items. Everything around that is here, once, in this order ([`run`]):
//! 1. open: the input read and checked whole, credentials and a way to confirm, the report
//!    opened ([`super::ending::open_run`]); any problem is exit 2 before any request;
//! 2. the work ([`Work`]): the rows known without a call (invalid, excluded) and the command's
//!    items, each left out when the report has it done by the one resume rule;
//! 3. the confirmation, for a real run without `--yes`;
//! 4. the start ([`start`]): the run's control, counters and session (report collector, bar).
//!    Whatever must happen before the first request goes there;
//! 5. the strategy: validate only (no credentials: a dry run that looks nobody up), else the
//!    command's own ([`UserCommand::execute`]);
//! 6. the finish: a [`RunRecord`] of the counts, stats and stop, from which the summary, the
//!    stop message and the exit code come ([`RunRecord::finish`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::ending::{Opened, RunRecord, excluded_row, invalid_row, open_run};
use super::session::Session;
use super::{Context, run_id, usage};
use crate::config::{Credentials, Settings};
use crate::evidence::record::{Record, RunInfo};
use crate::exit::Exit;
use crate::input::{self, Batch};
use crate::pacing::Pacer;
use crate::report::{ReportKind, ResumeState, Row, Status};
use crate::request::{Control, Requester, RetryPolicy, Stats};
use crate::step::Step;

/// What a command that touches users is, besides the skeleton every such command shares.
pub(super) trait UserCommand {
    /// One unit of the command's work: a user for `revoke`, a leaver and its steps for
    /// `offboard`.
    type Item: Send + 'static;

    /// The report this command writes.
    const KIND: ReportKind;

    /// The run settings (input, report, pace, connection).
    fn settings(&self) -> &Settings;

    /// The input column of each user's transfer target, if the command reads one.
    fn transfer_column(&self) -> Option<String> {
        None
    }

    /// Turns the input's users into items, leaving out what `resume` has done (each counted
    /// into `done`, by the one resume rule).
    fn items(&self, batch: Batch, resume: Option<&ResumeState>, done: &mut Done)
    -> Vec<Self::Item>;

    /// Rows one item writes (for the bar's total): 1 per user, or one per step.
    fn rows_per_item(&self) -> u64;

    /// The confirmation prompt of a real run and the answer it wants.
    fn confirmation(&self, work: &Work<Self::Item>) -> (String, String);

    /// The rows of a dry run without credentials: every item validated only, looked up by
    /// nobody ([`validated_rows`]).
    fn validated(&mut self, items: Vec<Self::Item>) -> impl Iterator<Item = Row> + Send;

    /// Runs the items against Zoom. `Ok(true)` when the very first call stopped the run for a
    /// configuration reason (nothing was done); `Err` when no connection could be made (a usage
    /// error: nothing was sent).
    async fn execute(&mut self, items: Vec<Self::Item>, run: &Running) -> Result<bool, String>;

    /// Lines after the summary: the plan, the estimate, the resume note.
    fn extra(&self, work: &WorkDone) -> String;
    /// The steps the command takes, in order, for the run log.
    fn steps(&self) -> Vec<String> {
        vec![Step::Revoke.as_str().to_owned()]
    }
    /// Where removed users' data went (target → users), for the run log and the page.
    fn destinations(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

/// What the report already had done, for a resumed run.
#[derive(Debug, Default)]
pub(super) struct Done {
    /// Final statuses of what was left out, for the exit code.
    pub counts: BTreeMap<Status, u64>,
    /// Items' rows left out (users for `revoke`, user steps for `offboard`).
    pub rows: usize,
    /// Invalid and excluded entries left out (their row is already in the report).
    pub whole: usize,
}

impl Done {
    /// One item's row left out with `status`.
    pub fn row(&mut self, status: Status) {
        *self.counts.entry(status).or_default() += 1;
        self.rows += 1;
    }

    fn entry(&mut self, status: Status) {
        *self.counts.entry(status).or_default() += 1;
        self.whole += 1;
    }
}

/// What one invocation has to do, once the input and the report's state are known.
pub(super) struct Work<T> {
    /// The command's items, in input order.
    pub items: Vec<T>,
    /// Rows known without any request (invalid, excluded), not already in the report.
    pub prewritten: Vec<Row>,
    /// What the report already had done.
    pub done: Done,
    /// Excluded entries of the input (for the confirmation).
    pub excluded: usize,
    /// Invalid entries of the input (likewise).
    pub invalid: usize,
    /// Input lines dropped as duplicates.
    pub duplicates: u64,
}

/// The work's size once it ran, for [`UserCommand::extra`].
#[derive(Debug)]
pub(super) struct WorkDone {
    /// Items this run had to do.
    pub items: usize,
    /// What the report already had done.
    pub done: Done,
}

/// What a strategy runs with: the run's control and counters, and the session.
pub(super) struct Running {
    /// The session: the report's collector and the bar.
    pub session: Session,
    /// The run's stop switch.
    pub control: Arc<Control>,
    /// The run's counters.
    pub stats: Arc<Stats>,
}

impl Running {
    /// Connects (checking that the token has one scope of each group of `scopes`) and builds
    /// the run's Light requester: `--rate`, the policy from `--max-retries`, the run's control
    /// and counters.
    pub async fn light(
        &self,
        s: &Settings,
        creds: &Credentials,
        scopes: &[&[&str]],
    ) -> Result<Requester, String> {
        let api = super::connect(&s.conn, s.concurrency, creds, scopes).await?;
        let pacer = Pacer::new(s.rate).map_err(|e| e.to_string())?;
        Ok(Requester::new(
            api,
            Arc::new(pacer),
            RetryPolicy::new(s.conn.max_retries),
            self.control.clone(),
            self.stats.clone(),
        ))
    }
}

/// Runs `cmd` through the skeleton: open, work, confirm, start, strategy, finish.
pub(super) async fn run<C: UserCommand>(mut cmd: C, ctx: &Context) -> Exit {
    // The summary's clock starts here: its wall time covers reading the input too.
    let started = Instant::now();
    let opened = match open_run(cmd.settings(), ctx, cmd.transfer_column(), C::KIND) {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    let Opened {
        mut batch,
        writer,
        resume,
        mut fresh,
    } = opened;
    let inputs = std::mem::take(&mut batch.sources);
    let work = plan(&cmd, batch, resume.as_ref());
    drop(resume);
    if let Err(exit) = confirm(&cmd, &work, ctx) {
        return exit;
    }
    let total = work.items.len() as u64 * cmd.rows_per_item() + work.prewritten.len() as u64;
    let id = run_id();
    let evidence = match begin_evidence(&cmd, &writer, &id, inputs) {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let (running, span) = start(cmd.settings(), ctx, writer, total, &id);
    let Work {
        items,
        prewritten,
        done,
        duplicates,
        ..
    } = work;
    running.session.send_all(prewritten).await;
    let to_do = items.len();
    let nothing_done = match execute(&mut cmd, items, &running, span).await {
        Ok(nothing_done) => nothing_done,
        Err(msg) => return usage(&msg),
    };
    let record = RunRecord::collect(
        C::KIND,
        started,
        running,
        done.counts.clone(),
        duplicates,
        nothing_done,
    )
    .await;
    let mut record = record;
    if !record.nothing_done {
        fresh.keep();
        record.record_evidence(evidence, cmd.destinations());
    }
    let extra = cmd.extra(&WorkDone { items: to_do, done });
    record.finish(cmd.settings(), &extra)
}

/// The run log's start entry, on disk before the first request: what runs, by whom, on which
/// input, and how the report stood. A run log that cannot be written is a usage error (exit 2):
/// nothing has been sent.
fn begin_evidence<C: UserCommand>(
    cmd: &C,
    writer: &crate::report::ReportWriter,
    id: &str,
    inputs: Vec<crate::evidence::runlog::InputDigest>,
) -> Result<Record, Exit> {
    let s = cmd.settings();
    let info = RunInfo {
        run_id: id.to_owned(),
        command: std::env::args().collect(),
        account_id: match &s.conn.credentials {
            Some(Credentials::S2s(c)) => Some(c.account_id.clone()),
            _ => None,
        },
        inputs,
        steps: cmd.steps(),
        dry_run: s.dry_run,
    };
    Record::begin(writer, info, s.html.clone()).map_err(|e| usage(&e.to_string()))
}

/// The resume filter: the rows known without a call, and the command's items, each left out
/// when the report has it done.
fn plan<C: UserCommand>(cmd: &C, batch: Batch, resume: Option<&ResumeState>) -> Work<C::Item> {
    let dry_run = cmd.settings().dry_run;
    let mut done = Done::default();
    // Invalid and excluded entries are about the user as a whole: their rows have no step.
    let mut whole_done = |key: &str| match resume.and_then(|r| r.whole(key)) {
        Some(s) if s.is_done(dry_run) => {
            done.entry(s);
            true
        }
        _ => false,
    };
    let mut prewritten = Vec::new();
    for inv in &batch.invalid {
        if !whole_done(&input::dedupe_key(&inv.raw)) {
            prewritten.push(invalid_row(inv));
        }
    }
    for u in &batch.excluded {
        if !whole_done(&u.key()) {
            prewritten.push(excluded_row(u));
        }
    }
    let (excluded, invalid, duplicates) =
        (batch.excluded.len(), batch.invalid.len(), batch.duplicates);
    let items = cmd.items(batch, resume, &mut done);
    if cmd.settings().resume {
        tracing::info!(
            already_done = done.rows + done.whole,
            to_do = items.len(),
            "resuming {}",
            cmd.settings().report.display()
        );
    }
    Work {
        items,
        prewritten,
        done,
        excluded,
        invalid,
        duplicates,
    }
}

/// A real run without `--yes` asks first; no answer, or a wrong one, is exit 2.
fn confirm<C: UserCommand>(cmd: &C, work: &Work<C::Item>, ctx: &Context) -> Result<(), Exit> {
    let s = cmd.settings();
    if s.dry_run || s.yes || work.items.is_empty() {
        return Ok(());
    }
    let (prompt, expected) = cmd.confirmation(work);
    if ctx.confirm.as_ref().is_some_and(|c| c(&prompt, &expected)) {
        Ok(())
    } else {
        Err(usage("not confirmed: nothing was done"))
    }
}

/// The run starts: its control (stopped by Ctrl-C and by the first stop reason), its counters,
/// and the session that owns the report and the bar. Nothing has been sent yet.
fn start(
    settings: &Settings,
    ctx: &Context,
    writer: crate::report::ReportWriter,
    total: u64,
    id: &str,
) -> (Running, tracing::Span) {
    let stats = Arc::new(Stats::default());
    let control = Control::with_outage_wait(&ctx.cancel, settings.conn.outage_wait);
    let span = tracing::info_span!("run", run_id = %id);
    let session = Session::start(
        writer,
        &settings.conn.log,
        ctx.progress_terminal,
        total,
        stats.clone(),
        span.clone(),
    );
    (
        Running {
            session,
            control,
            stats,
        },
        span,
    )
}

/// The strategy: validate only without credentials, else the command's own.
async fn execute<C: UserCommand>(
    cmd: &mut C,
    items: Vec<C::Item>,
    running: &Running,
    span: tracing::Span,
) -> Result<bool, String> {
    if items.is_empty() {
        return Ok(false);
    }
    if cmd.settings().conn.credentials.is_none() {
        running.session.send_all(cmd.validated(items)).await;
        return Ok(false);
    }
    cmd.execute(items, running).instrument(span).await
}

/// Rows of users validated but not looked up (a dry run without credentials): `(user, status,
/// step)` each. Rows are decided as fast as they are made, so the clock is read once per
/// channel-full of them, not per row (a twentieth of a million-row dry run).
pub(super) fn validated_rows<U: Into<String>>(
    items: impl Iterator<Item = (U, Status, Option<Step>)>,
) -> impl Iterator<Item = Row> {
    let mut at: DateTime<Utc> = crate::report::now();
    items.enumerate().map(move |(i, (user, status, step))| {
        if i % 1024 == 1023 {
            at = crate::report::now();
        }
        let mut row = Row::stamped(user, status, at);
        row.step = step;
        row.message = "validated only: no credentials, so not looked up".into();
        row
    })
}

/// The first users of a prompt, one a line, and how many more there are.
pub(super) fn sample<'a>(users: impl Iterator<Item = &'a str>, n: usize) -> String {
    let sample: Vec<&str> = users.take(5).collect();
    let more = n.saturating_sub(sample.len());
    format!(
        "{}{}",
        sample.join("\n  "),
        if more > 0 {
            format!("\n  ... and {more} more")
        } else {
            String::new()
        }
    )
}
