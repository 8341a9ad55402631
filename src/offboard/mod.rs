//! Offboarding in waves: every user's step is finished before anyone's next step starts.
//!
//! The whole batch is logged out first (so it is logged out as early as the account's budget
//! allows), then looked up (each user and each distinct transfer target once), then
//! deactivated or downgraded, then disassociated or deleted. A user goes on only if its previous step
//! succeeded; otherwise its later steps are `skipped`. Every wave runs through the one worker
//! pool ([`crate::run::execute`]) with the one pacer, token and `--concurrency`, and a user is in
//! at most one wave at a time, so no two calls for one user are ever in flight.
//!
//! What a guarded step does for a user is decided by [`safety`] from the lookups, before any
//! call; what an answer means is decided here from the request policy's verdict. A removal is
//! announced by a write-ahead row that is on disk before the call goes out, so a resume after a
//! kill can tell "already gone" from "never existed".

pub mod safety;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::input::UserId;
use crate::report::{ResumeState, Row, Status};
use crate::request::{Requester, Settled, Verdict};
use crate::run::{self, Rows, info_row, pending_row, settled_row};
use crate::step::{Step, Steps};
use crate::sync::lock;
use crate::transfer::TransferKinds;
use crate::zoom::{ErrorInfo, Transfer, ZoomCall, ZoomUser};
use safety::{BASIC_CAP_REFUSALS, Decision, Looked, Refusal, RefusalGroup, Rules, ZOOM_REFUSALS};

/// What the operator asked of this run, besides the users.
#[derive(Debug, Clone)]
pub struct Options {
    /// The steps, in run order.
    pub steps: Steps,
    /// `--transfer-to`: the target of users whose own cell is blank.
    pub transfer_to: Option<UserId>,
    /// `--no-transfer`.
    pub no_transfer: bool,
    /// `--transfer-kinds`: what a removal with a target hands over (all eight by default).
    pub transfer_kinds: TransferKinds,
    /// `--include-admins`.
    pub include_admins: bool,
    /// `--dry-run`: lookups only, `would_*` rows.
    pub dry_run: bool,
    /// `--concurrency`.
    pub concurrency: usize,
}

/// One user of the run and where each of its steps stands.
#[derive(Debug)]
pub struct Leaver {
    /// The user as given.
    pub user: UserId,
    /// Its own transfer target (the `--transfer-column` cell), if any.
    pub target: Option<UserId>,
    /// The report shows the user existed at Zoom (a step succeeded, or a write-ahead row).
    pub existed: bool,
    /// The last known status of each step ([`Step::ALL`] order): from the report, then from
    /// this run.
    state: [Option<Status>; STEPS],
}

/// Steps a user can have: one status slot each.
const STEPS: usize = Step::ALL.len();

fn slot(step: Step) -> usize {
    step.index()
}

/// What Zoom never moves, said wherever a removal is planned or done: a leaver's meetings on
/// their personal meeting ID stay with the user (Zoom support KB0067925).
pub const PMI_NOTE: &str =
    "meetings scheduled on the user's personal meeting ID (PMI) are not transferred by Zoom";

impl Leaver {
    /// A user, with what `resume` (the report being continued) says of it.
    pub fn new(user: UserId, target: Option<UserId>, resume: Option<&ResumeState>) -> Leaver {
        let key = user.key();
        let mut state = [None; STEPS];
        let mut existed = false;
        if let Some(r) = resume {
            for step in Step::ALL {
                state[slot(step)] = r.state(&key, step).map(|s| s.status);
            }
            existed = r.known_to_exist(&key).is_some();
        }
        Leaver {
            user,
            target,
            existed,
            state,
        }
    }

    /// True when the report already has `step` done for this user (the one resume rule).
    pub fn is_done(&self, step: Step, dry_run: bool) -> bool {
        self.state[slot(step)].is_some_and(|s| s.is_done(dry_run))
    }

    /// The last known status of `step`.
    pub fn status(&self, step: Step) -> Option<Status> {
        self.state[slot(step)]
    }
}

/// What happened, per step, for the summary and the dry-run plan.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Rows per step and status written by this run.
    pub per_step: BTreeMap<Step, BTreeMap<Status, u64>>,
    /// Why steps were refused, with how many users each.
    pub refusals: BTreeMap<RefusalGroup, u64>,
    /// Who receives data, with how many leavers each (`(none)` for `--no-transfer`).
    pub destinations: BTreeMap<String, u64>,
    /// Users whose lookup shows no SSO sign-in.
    pub not_sso: u64,
    /// Calls a real run makes for what this run found (for the dry run's estimate): the
    /// lookups and every `would_*` that needs a call.
    pub calls: u64,
}

impl Tally {
    /// One row of `step` with `status`.
    pub fn count(&mut self, step: Step, status: Status) {
        *self
            .per_step
            .entry(step)
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
}

/// How the waves ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ending {
    /// The very first call of the run stopped it: nothing was done.
    pub stopped_on_first_call: bool,
}

/// Shared by the workers of all waves.
struct Waves {
    light: Requester,
    rows: Rows,
    opts: Options,
    /// Lookup results by the looked-up value's key.
    looked: Mutex<HashMap<String, Looked>>,
    /// Everyone the removal step is for, by key and by looked-up id/email.
    removed: Mutex<HashSet<String>>,
    /// The leavers' keys (to tell them from transfer targets among the lookups).
    leaver_keys: HashSet<String>,
    /// Statuses written by this run, by leaver index and step slot.
    statuses: Mutex<Vec<[Option<Status>; STEPS]>>,
    tally: Mutex<Tally>,
}

/// Runs every step of every leaver, wave by wave. Each (leaver, step) not already done gets
/// exactly one final row (or `pending` if the run stops), plus a write-ahead row before a
/// removal call.
pub async fn execute(
    leavers: Vec<Leaver>,
    opts: Options,
    light: Requester,
    rows: Rows,
) -> (Ending, Tally) {
    let dry = opts.dry_run;
    let leavers = Arc::new(leavers);
    let waves = Arc::new(Waves {
        light,
        rows,
        statuses: Mutex::new(leavers.iter().map(|l| l.state).collect()),
        opts,
        looked: Mutex::new(HashMap::new()),
        removed: Mutex::new(HashSet::new()),
        leaver_keys: leavers.iter().map(|l| l.user.key()).collect(),
        tally: Mutex::new(Tally::default()),
    });
    let mut ending = Ending::default();
    let mut first_wave = true;
    let mut looked_up = false;
    let steps: Vec<Step> = waves.opts.steps.iter().collect();
    for (si, &step) in steps.iter().enumerate() {
        let prev = si.checked_sub(1).map(|i| steps[i]);
        // Lookups go before the first guarded step (and, in a dry run, before everything).
        if !looked_up && (dry || step.is_guarded()) {
            looked_up = true;
            let wanted = lookups_wanted(&leavers, &waves, &steps[si..]);
            if !wanted.is_empty() {
                let res = lookup_wave(&waves, wanted).await;
                if first_wave {
                    ending.stopped_on_first_call = res.stopped_on_first_call;
                    first_wave = false;
                }
            }
        }
        let eligible = waves.eligible(&leavers, step, prev).await;
        if eligible.is_empty() {
            continue;
        }
        let res = step_wave(&waves, &leavers, step, eligible).await;
        if first_wave {
            ending.stopped_on_first_call = res.stopped_on_first_call;
            first_wave = false;
        }
    }
    let tally = lock(&waves.tally).clone();
    (ending, tally)
}

/// One step's wave through the pool: each eligible leaver's step decided and done, its row
/// recorded for the next wave.
async fn step_wave(
    waves: &Arc<Waves>,
    leavers: &Arc<Vec<Leaver>>,
    step: Step,
    eligible: Vec<usize>,
) -> run::RunResult {
    let (w, ls) = (waves.clone(), leavers.clone());
    run::execute(
        eligible,
        waves.opts.concurrency,
        waves.light.control().clone(),
        waves.rows.clone(),
        move |i: usize| {
            let (w, ls) = (w.clone(), ls.clone());
            async move {
                let row = w.step(&ls[i], step).await;
                w.record(i, step, &row);
                Some(row)
            }
        },
        |i: &usize| Some(pending_step_row(&leavers[*i], step)),
    )
    .await
}

fn pending_step_row(l: &Leaver, step: Step) -> Row {
    let mut row = pending_row(l.user.as_str(), 0);
    row.step = Some(step);
    row
}

/// The users and transfer targets to look up: users with a step still to do from `rest` on,
/// and the targets of those with a removal still to do.
fn lookups_wanted(leavers: &[Leaver], waves: &Waves, rest: &[Step]) -> Vec<UserId> {
    let dry = waves.opts.dry_run;
    let removal = rest.iter().copied().find(|s| s.removes_user());
    let mut seen = HashSet::new();
    let mut wanted = Vec::new();
    let mut removed = lock(&waves.removed);
    for l in leavers {
        if !rest.iter().any(|s| !l.is_done(*s, dry)) {
            continue;
        }
        if seen.insert(l.user.key()) {
            wanted.push(l.user.clone());
        }
        if let Some(r) = removal
            && !l.is_done(r, dry)
        {
            removed.insert(l.user.key());
        }
    }
    if removal.is_some() {
        for l in leavers {
            if let Some(t) = l.target.as_ref().or(waves.opts.transfer_to.as_ref())
                && seen.insert(t.key())
            {
                wanted.push(t.clone());
            }
        }
    }
    wanted
}

/// Looks every value up once, through the pool; the answers go to `waves.looked`, no rows.
async fn lookup_wave(waves: &Arc<Waves>, wanted: Vec<UserId>) -> run::RunResult {
    let w = waves.clone();
    run::execute(
        wanted,
        waves.opts.concurrency,
        waves.light.control().clone(),
        waves.rows.clone(),
        move |user: UserId| {
            let w = w.clone();
            async move {
                let settled = w.light.send(&ZoomCall::get_user(&user)).await;
                let looked = match settled.verdict {
                    Verdict::Done { .. } => match settled.json::<ZoomUser>() {
                        Ok(u) => Some(Looked::Found(Box::new(u))),
                        Err(message) => Some(Looked::Failed(ErrorInfo {
                            message,
                            ..ErrorInfo::default()
                        })),
                    },
                    Verdict::NotFound(info) => Some(Looked::Missing(info)),
                    Verdict::Rejected(info) | Verdict::GaveUp(info) => Some(Looked::Failed(info)),
                    Verdict::Halted(_) | Verdict::Interrupted => None,
                };
                if let Some(l) = looked {
                    if let Looked::Found(u) = &l
                        && lock(&w.removed).contains(&user.key())
                    {
                        let mut removed = lock(&w.removed);
                        removed.insert(u.email.to_ascii_lowercase());
                        if let Some(id) = u.id.clone().filter(|i| !i.is_empty()) {
                            removed.insert(id);
                        }
                    }
                    let mut t = lock(&w.tally);
                    t.calls += 1;
                    if let Looked::Found(u) = &l
                        && safety::not_sso(u)
                        && w.leaver_keys.contains(&user.key())
                    {
                        t.not_sso += 1;
                    }
                    drop(t);
                    lock(&w.looked).insert(user.key(), l);
                }
                None
            }
        },
        |_| None,
    )
    .await
}

impl Waves {
    /// The leavers whose `step` goes out in this wave: not done yet, and (after the first
    /// step) whose previous step succeeded. The others get their row here: `pending` when the
    /// previous step is, `skipped` when it did not succeed.
    async fn eligible(&self, leavers: &[Leaver], step: Step, prev: Option<Step>) -> Vec<usize> {
        let mut eligible = Vec::new();
        for (i, l) in leavers.iter().enumerate() {
            if l.is_done(step, self.opts.dry_run) {
                continue;
            }
            let prev_status = prev.and_then(|p| lock(&self.statuses)[i][slot(p)]);
            match prev_status {
                _ if prev.is_none() => eligible.push(i),
                Some(s) if s.is_success() => eligible.push(i),
                Some(Status::Pending) | None => self.emit(pending_step_row(l, step)).await,
                Some(s) => {
                    let mut row = Row::new(l.user.as_str(), Status::Skipped);
                    row.message = format!(
                        "not sent: the earlier step {} ended {s}",
                        prev.map_or("", Step::as_str)
                    )
                    .into();
                    self.emit_step(i, step, row).await;
                }
            }
        }
        eligible
    }

    /// Sends a row about the whole run's bookkeeping (no leaver index).
    async fn emit(&self, row: Row) {
        self.count(&row, None);
        self.rows.send(row).await;
    }

    /// Sends a (leaver, step) row written without a call and records its status.
    async fn emit_step(&self, i: usize, step: Step, mut row: Row) {
        row.step = Some(step);
        self.record(i, step, &row);
        self.rows.send(row).await;
    }

    /// Records the final status of (leaver `i`, `step`) for the next wave, and tallies it.
    fn record(&self, i: usize, step: Step, row: &Row) {
        lock(&self.statuses)[i][slot(step)] = Some(row.status);
        self.count(row, Some(step));
    }

    fn count(&self, row: &Row, step: Option<Step>) {
        let Some(step) = step.or(row.step) else {
            return;
        };
        lock(&self.tally).count(step, row.status);
    }

    /// A dry run's `would_*` row that a real run makes a call for (the estimate's count).
    fn would_call(&self) {
        lock(&self.tally).calls += 1;
    }

    /// The `refused` row of `user` for `why` (with Zoom's details of the answer, if Zoom
    /// refused), counted in the plan under its group.
    fn refuse(&self, user: &str, why: Refusal, answer: Option<(&ErrorInfo, u32)>) -> Row {
        *lock(&self.tally).refusals.entry(why.group()).or_default() += 1;
        let mut row = match answer {
            Some((info, attempts)) => info_row(user, Status::Refused, info, attempts),
            None => Row::new(user, Status::Refused),
        };
        row.message = why.to_string().into();
        row
    }

    /// The row for a guarded step's answer: `success` on a 2xx, `refused` for Zoom's own
    /// refusals, and the shared rows for the rest.
    fn step_answer(
        &self,
        user: &str,
        step: Step,
        settled: &Settled,
        success: Status,
        message: &str,
    ) -> Row {
        match &settled.verdict {
            Verdict::Done { http_status } => {
                let mut row = Row::new(user, success);
                row.http_status = Some(*http_status);
                row.attempts = settled.attempts;
                row.message = message.to_string().into();
                row
            }
            Verdict::NotFound(info) | Verdict::Rejected(info) if is_refusal(step, info) => {
                let why = Refusal::Zoom {
                    code: info.code.unwrap_or(0),
                    message: info.message.clone(),
                };
                self.refuse(user, why, Some((info, settled.attempts)))
            }
            _ => settled_row(user, settled, |_| Status::Failed),
        }
    }

    /// Decides and does one step for one leaver; returns its final row.
    async fn step(&self, l: &Leaver, step: Step) -> Row {
        let mut row = match step {
            Step::Revoke => self.revoke(l).await,
            Step::Deactivate | Step::Downgrade => self.free_licence(l, step).await,
            Step::Disassociate | Step::Delete => self.removal(l, step).await,
        };
        row.step = Some(step);
        row
    }

    fn looked(&self, user: &UserId) -> Option<Looked> {
        lock(&self.looked).get(&user.key()).cloned()
    }

    async fn revoke(&self, l: &Leaver) -> Row {
        if !self.opts.dry_run {
            return revoke_one(self.light.clone(), l.user.clone()).await;
        }
        match self.looked(&l.user) {
            Some(Looked::Found(u)) if u.status.as_deref() == Some("pending") => {
                let mut row = Row::new(l.user.as_str(), Status::NotFound);
                row.message = "pending user (invitation not accepted): no session to revoke; a \
                               real revoke is answered 400/1120 (not_found)"
                    .into();
                row
            }
            Some(Looked::Found(u)) => {
                self.would_call();
                let mut row = Row::new(l.user.as_str(), Status::WouldRevoke);
                row.message = "found: a real run logs the user out".into();
                self.describe(&mut row, &u);
                row
            }
            Some(Looked::Missing(info)) => info_row(l.user.as_str(), Status::NotFound, &info, 0),
            Some(Looked::Failed(info)) => info_row(l.user.as_str(), Status::Failed, &info, 0),
            None => pending_row(l.user.as_str(), 0),
        }
    }

    fn rules<'a>(&self, removed: &'a HashSet<String>) -> Rules<'a> {
        Rules {
            include_admins: self.opts.include_admins,
            no_transfer: self.opts.no_transfer,
            kinds: self.opts.transfer_kinds,
            removed,
        }
    }

    /// Name, Zoom status and last login from the lookup, and the SSO flag.
    fn describe(&self, row: &mut Row, u: &ZoomUser) {
        u.describe(row);
        if safety::not_sso(u) {
            let note = format!(
                "does not sign in with SSO (login types {:?}): a revoke may leave their \
                 other sign-in open, deactivating closes it",
                u.login_types.as_deref().unwrap_or_default()
            );
            let message = row.message.to_mut();
            // One sentence per note: "Zoom's words; our note", not "Zoom's words.; ...".
            let kept = message.trim_end().trim_end_matches('.').len();
            message.truncate(kept);
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&note);
        }
    }

    /// The licence wave's step (`deactivate` or `downgrade`) for one leaver.
    async fn free_licence(&self, l: &Leaver, step: Step) -> Row {
        let looked = self.looked(&l.user);
        let decision = {
            let removed = lock(&self.removed);
            match step {
                Step::Downgrade => safety::downgrade(looked.as_ref(), &self.rules(&removed)),
                _ => safety::deactivate(looked.as_ref(), &self.rules(&removed)),
            }
        };
        let user = l.user.as_str();
        let done = if self.opts.dry_run {
            Status::would(step)
        } else {
            Status::success(step)
        };
        let mut row = match decision {
            Decision::Refuse(why) => self.refuse(user, why, None),
            Decision::NotFound(info) => info_row(user, Status::NotFound, &info, 0),
            Decision::Failed(why) => failed(user, why),
            Decision::AlreadyGone => pending_row(user, 0),
            Decision::AlreadyInactive => no_call(user, done, "already inactive: no call made"),
            Decision::AlreadyBasic => no_call(
                user,
                done,
                "already Basic (type 1): no call made; the user holds no paid licence",
            ),
            Decision::Send { .. } if self.opts.dry_run => {
                self.would_call();
                let what = match step {
                    Step::Downgrade => {
                        "a real run makes the user Basic (frees the paid licence; the user can \
                         still sign in)"
                    }
                    _ => "a real run deactivates the user (frees the licence)",
                };
                no_call(user, done, what)
            }
            Decision::Send { .. } => {
                let (call, message) = match step {
                    Step::Downgrade => (
                        ZoomCall::downgrade(&l.user),
                        "downgraded to Basic: the paid licence is freed; the user stays on the \
                         account and can still sign in",
                    ),
                    _ => (
                        ZoomCall::deactivate(&l.user),
                        "deactivated: the licence is freed and sign-in blocked",
                    ),
                };
                let settled = self.light.send(&call).await;
                self.step_answer(user, step, &settled, done, message)
            }
        };
        if let Some(Looked::Found(u)) = &looked {
            row.step = Some(step);
            self.describe(&mut row, u);
        }
        row
    }

    async fn removal(&self, l: &Leaver, step: Step) -> Row {
        let user = l.user.as_str();
        let target = l.target.as_ref().or(self.opts.transfer_to.as_ref());
        let looked = self.looked(&l.user);
        let decision = {
            let removed = lock(&self.removed);
            let target_looked = target.and_then(|t| self.looked(t));
            safety::removal(
                step,
                looked.as_ref(),
                l.existed,
                target.map(UserId::as_str),
                target_looked.as_ref(),
                &self.rules(&removed),
            )
        };
        let (done, would) = (Status::success(step), Status::would(step));
        let (transfer, zoom_id) = match decision {
            Decision::Refuse(why) => return self.refuse(user, why, None),
            Decision::NotFound(info) => return info_row(user, Status::NotFound, &info, 0),
            Decision::Failed(why) => return failed(user, why),
            Decision::AlreadyGone => return already_gone(user, done, 0),
            Decision::AlreadyInactive | Decision::AlreadyBasic => return pending_row(user, 0),
            Decision::Send { transfer, zoom_id } => (transfer, zoom_id),
        };
        let data = match &transfer {
            Transfer::To { email, kinds } => format!("{} to {email}; {PMI_NOTE}", kinds.words()),
            Transfer::Nothing => format!("no data transferred (--no-transfer); {PMI_NOTE}"),
        };
        let row = self.send_removal(l, step, &transfer, &zoom_id, &data).await;
        if row.status == done || row.status == would {
            let destination = match &transfer {
                Transfer::To { email, .. } => email.clone(),
                Transfer::Nothing => "(none: --no-transfer)".into(),
            };
            *lock(&self.tally)
                .destinations
                .entry(destination)
                .or_default() += 1;
        }
        row
    }

    /// The removal call itself (or, in a dry run, what it would do), after the write-ahead row.
    async fn send_removal(
        &self,
        l: &Leaver,
        step: Step,
        transfer: &Transfer,
        zoom_id: &str,
        data: &str,
    ) -> Row {
        let user = l.user.as_str();
        let (done, would) = (Status::success(step), Status::would(step));
        if self.opts.dry_run {
            self.would_call();
            let mut row = Row::new(user, would);
            row.message = format!("a real run would {step} the user: {data}").into();
            return row;
        }
        // Write-ahead: on disk before the call, so a resume after a kill knows the user existed.
        if self.light.control().is_stopped() {
            return pending_row(user, 0);
        }
        if !self
            .rows
            .send_durable(Row::write_ahead(user, step, zoom_id))
            .await
        {
            return pending_row(user, 0);
        }
        let call = ZoomCall::remove(&l.user, step == Step::Delete, transfer);
        let settled = self.light.send(&call).await;
        match &settled.verdict {
            Verdict::NotFound(info) if !is_refusal(step, info) => {
                // About the user, or about the transfer target? A lookup of the user tells.
                let check = self.light.send(&ZoomCall::get_user(&l.user)).await;
                match check.verdict {
                    Verdict::NotFound(_) => already_gone(user, done, settled.attempts),
                    Verdict::Done { .. } => {
                        let why = Refusal::TargetNotFoundAtZoom {
                            message: info.message.clone(),
                        };
                        self.refuse(user, why, Some((info, settled.attempts)))
                    }
                    _ => settled_row(user, &check, |_| Status::Failed),
                }
            }
            _ => self.step_answer(user, step, &settled, done, &format!("{step}d: {data}")),
        }
    }
}

/// The revoke of one user: `revoked`, or what the verdict says.
pub async fn revoke_one(requester: Requester, user: UserId) -> Row {
    let settled = requester.send(&ZoomCall::revoke(&user)).await;
    if let Verdict::Done { http_status } = settled.verdict {
        let mut row = Row::new(user.as_str(), Status::Revoked);
        row.http_status = Some(http_status);
        row.attempts = settled.attempts;
        row.message = "SSO token revoked: the user is logged out".into();
        return row;
    }
    settled_row(user.as_str(), &settled, |_| Status::Failed)
}

/// True when `info` is Zoom's refusal of `step` that no retry can cure: [`ZOOM_REFUSALS`] on
/// every guarded step, and the Basic cap's codes on `downgrade`.
fn is_refusal(step: Step, info: &ErrorInfo) -> bool {
    let cap = step == Step::Downgrade;
    info.http_status == Some(400)
        && info
            .code
            .is_some_and(|c| ZOOM_REFUSALS.contains(&c) || (cap && BASIC_CAP_REFUSALS.contains(&c)))
}

/// A row written without a call (already done, or a dry run's `would_*`).
fn no_call(user: &str, status: Status, message: &'static str) -> Row {
    let mut row = Row::new(user, status);
    row.message = message.into();
    row
}

fn failed(user: &str, why: String) -> Row {
    let mut row = Row::new(user, Status::Failed);
    row.message = why.into();
    row
}

fn already_gone(user: &str, done: Status, attempts: u32) -> Row {
    let mut row = Row::new(user, done);
    row.attempts = attempts;
    row.message = "already gone: an earlier attempt's answer was lost (or the run was killed \
                   while the call was in flight); Zoom no longer has the user"
        .into();
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_basic_targets_refusals_group_under_one_reason() {
        let groups: HashSet<RefusalGroup> = ["mgr.a@x.com", "mgr.b@x.com"]
            .into_iter()
            .map(|t| {
                Refusal::TargetCannotHoldRecordings {
                    target: t.to_owned(),
                }
                .group()
            })
            .collect();
        assert_eq!(groups.len(), 1);
        let why = Refusal::TargetCannotHoldRecordings {
            target: "mgr.a@x.com".into(),
        };
        assert_eq!(
            why.group().to_string(),
            "transfer target has no licence for recordings"
        );
        assert!(
            why.to_string()
                .starts_with("refused, never sent: transfer target has no licence for recordings")
        );
    }

    #[test]
    fn the_basic_cap_is_a_refusal_of_downgrade_only() {
        let info = |code| ErrorInfo {
            http_status: Some(400),
            code: Some(code),
            ..ErrorInfo::default()
        };
        for code in BASIC_CAP_REFUSALS {
            assert!(is_refusal(Step::Downgrade, &info(code)));
            assert!(!is_refusal(Step::Deactivate, &info(code)));
        }
        for step in [Step::Deactivate, Step::Downgrade, Step::Delete] {
            assert!(is_refusal(step, &info(300)), "{step}");
        }
        assert!(!is_refusal(Step::Downgrade, &info(1108)));
    }
}
