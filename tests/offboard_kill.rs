//! The real binary's `offboard --steps revoke,deactivate,delete` SIGKILLed in the middle of each
//! wave (revoke, lookups, deactivate, delete), resumed after each kill, then resumed to the end;
//! checked against the report and the simulator's ground truth after every kill and at the end.
//!
//! Each kill freezes the process first (SIGSTOP), lets the simulator finish the calls it has in
//! flight, then SIGKILLs it: every call on the wire at that moment is applied and its answer is
//! lost with the process, so the "applied, never recorded" case the resume must handle is there
//! at every kill, not only when the timing happens to catch one.
//!
//! The helpers at the top (the command line, the account, the map from a request to its user
//! and step) are shared with the offboard case of `chaos`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::common::bin::{Bin, Running};
use crate::common::wait_until;
use crate::offboard::person;
use crate::revoke_support::write_input;
use zoom_offboard::input::dedupe_key;
use zoom_offboard::report::{Existence, ResumeState, Row, Status, read_report, read_rows};
use zoom_offboard::sim::{Removal, RequestRecord, Sim, SimConfig, SimState, SimUser, SimUsers};
use zoom_offboard::step::Step;

/// Held by each test of this module for its whole run: two 300-leaver binaries frozen and
/// killed at once on a small machine starve each other, and a kill then finds nothing on the
/// wire. The tests of this module take turns instead.
static ONE_KILL_TEST_AT_A_TIME: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Who receives every leaver's data: an active member, not in the input.
pub const MANAGER: &str = "manager@example.com";

/// The account: `leavers` members (`leaver0000@example.com`, ...), the manager, and a few
/// bystanders that no call may touch.
pub fn leavers_account(leavers: usize) -> (Vec<SimUser>, Vec<String>) {
    let mut users = vec![person(1, MANAGER)];
    for i in 0..5 {
        users.push(person(2 + i, &format!("bystander{i}@example.com")));
    }
    let emails: Vec<String> = (0..leavers)
        .map(|i| format!("leaver{i:04}@example.com"))
        .collect();
    for (i, e) in emails.iter().enumerate() {
        let n = u32::try_from(100 + i).expect("a small account");
        users.push(person(n, e));
    }
    (users, emails)
}

/// Writes the input file (an `email` header, then the leavers) in `dir`.
pub fn leavers_input(dir: &Path, emails: &[String]) -> PathBuf {
    let mut lines = vec!["email".to_string()];
    lines.extend(emails.iter().cloned());
    write_input(dir, "leavers.csv", &lines)
}

/// `zoom-offboard offboard INPUT --steps revoke,deactivate,delete --transfer-to MANAGER --yes`
/// against `sim` with its S2S credentials, reporting to `report`.
pub fn offboard_cmd(sim: &Sim, input: &Path, report: &Path) -> Bin {
    offboard_steps_cmd(sim, input, report, "revoke,deactivate,delete")
}

/// [`offboard_cmd`] with other `--steps`.
pub fn offboard_steps_cmd(sim: &Sim, input: &Path, report: &Path, steps: &str) -> Bin {
    let cfg = sim.config();
    Bin::new()
        .arg("offboard")
        .arg(input)
        .arg("--report")
        .arg(report)
        .args(["--steps", steps])
        .args(["--transfer-to", MANAGER])
        .args([
            "--base-url",
            &sim.base_url(),
            "--oauth-url",
            &sim.oauth_url(),
        ])
        .args(["--yes", "--no-progress", "-q", "--config", "/dev/null"])
        .args(["--plan", "business"])
        .env("ZOOM_ACCOUNT_ID", &cfg.account_id)
        .env("ZOOM_CLIENT_ID", &cfg.client_id)
        .env("ZOOM_CLIENT_SECRET", &cfg.client_secret)
}

/// The wave a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wave {
    /// `DELETE /users/{id}/token`
    Revoke,
    /// `GET /users/{id}`
    Lookup,
    /// `PUT /users/{id}/status`
    Deactivate,
    /// `PATCH /users/{id}`
    Downgrade,
    /// `DELETE /users/{id}?action=delete`
    Delete,
}

impl Wave {
    /// The step whose call this is (lookups are no step).
    pub fn step(self) -> Option<Step> {
        match self {
            Wave::Revoke => Some(Step::Revoke),
            Wave::Lookup => None,
            Wave::Deactivate => Some(Step::Deactivate),
            Wave::Downgrade => Some(Step::Downgrade),
            Wave::Delete => Some(Step::Delete),
        }
    }
}

/// Maps the simulator's requests to (user, wave), users as lower-cased emails whether the
/// path names them by email or by Zoom id (a deleted user no longer resolves in the log).
pub struct Calls {
    email_of_id: HashMap<String, String>,
}

impl Calls {
    /// For the users of `account`.
    pub fn new(account: &[SimUser]) -> Calls {
        Calls {
            email_of_id: account
                .iter()
                .map(|u| (u.id.clone(), dedupe_key(&u.email)))
                .collect(),
        }
    }

    /// The user (dedupe key of its email) and wave of `r`, if it is a `/v2/users/{id}` call.
    pub fn of(&self, r: &RequestRecord) -> Option<(String, Wave)> {
        let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
        let rest = path.strip_prefix("/v2/users/")?;
        let (seg, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let wave = match (r.method.as_str(), tail) {
            ("DELETE", "token") => Wave::Revoke,
            ("GET", "") => Wave::Lookup,
            ("PUT", "status") => Wave::Deactivate,
            ("PATCH", "") => Wave::Downgrade,
            ("DELETE", "") if query.contains("action=delete") => Wave::Delete,
            _ => return None,
        };
        let seg = percent_decode_str(seg).decode_utf8_lossy();
        let user = if seg.contains('@') {
            dedupe_key(&seg)
        } else {
            self.email_of_id.get(seg.as_ref())?.clone()
        };
        Some((user, wave))
    }

    /// The calls of `wave` among `requests`, as (user, answered status).
    pub fn of_wave<'a>(
        &'a self,
        requests: &'a [RequestRecord],
        wave: Wave,
    ) -> impl Iterator<Item = (String, u16)> + 'a {
        requests.iter().filter_map(move |r| {
            self.of(r)
                .filter(|(_, w)| *w == wave)
                .map(|(u, _)| (u, r.status))
        })
    }
}

/// The success status of `step`.
pub fn success(step: Step) -> Status {
    Status::success(step)
}

/// True when `state` has `step` of `user` at its success status.
pub fn recorded(state: &ResumeState, user: &str, step: Step) -> bool {
    state.last_step(user, Some(step)).map(|r| r.status) == Some(success(step))
}

/// After kill `k` (its report `state`), the calls in `later` (every request of the runs after
/// it) that send a step again whose success row `state` already held: must be none.
pub fn assert_nothing_done_sent_again(
    calls: &Calls,
    k: usize,
    state: &ResumeState,
    later: &[RequestRecord],
) {
    for wave in [
        Wave::Revoke,
        Wave::Deactivate,
        Wave::Downgrade,
        Wave::Delete,
    ] {
        let step = wave.step().expect("a step's wave");
        let again: Vec<String> = calls
            .of_wave(later, wave)
            .filter(|(u, _)| recorded(state, u, step))
            .map(|(u, _)| u)
            .collect();
        assert!(
            again.is_empty(),
            "after kill {k}: {step} sent again for users whose {step} row was in the report: \
             {again:?}"
        );
    }
}

/// The final state every leaver must reach, from the report and from the ground truth: every
/// step's last row is its success, no row is `not_found` or `failed`; the simulator revoked
/// every leaver, deactivated each exactly once, deleted each exactly once with one transfer to
/// the manager, and never touched anyone else.
pub fn assert_everyone_offboarded(
    report: &Path,
    account: &[SimUser],
    emails: &[String],
    truth: &SimState,
) {
    let last = read_report(report).expect("the final report parses");
    for e in emails {
        let key = dedupe_key(e);
        for step in [Step::Revoke, Step::Deactivate, Step::Delete] {
            assert!(
                recorded(&last, &key, step),
                "{e}: last {step} row {:?}",
                last.last_step(&key, Some(step))
            );
        }
    }
    assert_eq!(
        last.len(),
        emails.len(),
        "rows about the input's users only"
    );
    let rows = read_rows(report).expect("the final report's rows");
    let bad: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.status, Status::NotFound | Status::Failed))
        .collect();
    assert!(bad.is_empty(), "not_found or failed rows: {bad:?}");

    let id_of: HashMap<String, &str> = account
        .iter()
        .map(|u| (dedupe_key(&u.email), u.id.as_str()))
        .collect();
    let wanted: BTreeSet<&str> = emails.iter().map(|e| id_of[&dedupe_key(e)]).collect();
    let revoked: BTreeSet<&str> = truth.revocations.keys().map(String::as_str).collect();
    assert_eq!(revoked, wanted, "the simulator revoked exactly the input");
    let touched: BTreeSet<&str> = truth.offboarded.keys().map(String::as_str).collect();
    assert_eq!(touched, wanted, "deactivated/deleted exactly the input");
    for (id, t) in &truth.offboarded {
        assert_eq!(
            (
                t.deactivations,
                t.deletions,
                t.disassociations,
                t.activations
            ),
            (1, 1, 0, 0),
            "{}: deactivated and deleted exactly once",
            t.email
        );
        assert_eq!(t.removed, Some(Removal::Deleted), "{id}");
    }
    let mut moved: BTreeMap<&str, u32> = BTreeMap::new();
    for t in &truth.transfers {
        assert!(
            t.to_email.eq_ignore_ascii_case(MANAGER),
            "{}'s data went to {}",
            t.from_email,
            t.to_email
        );
        assert_eq!(t.action, Removal::Deleted);
        *moved.entry(t.from.as_str()).or_default() += 1;
    }
    assert_eq!(moved.len(), emails.len(), "every leaver's data moved");
    assert!(
        moved.values().all(|&n| n == 1),
        "a leaver's data moved more than once: {moved:?}"
    );
}

/// What one frozen-then-killed run left.
struct Kill {
    /// The wave it was killed in.
    wave: Wave,
    /// Index in the request log of the run's first request.
    first_request: usize,
    /// The ground truth with the process frozen and every call in flight settled.
    truth: SimState,
    /// The report then.
    report: ResumeState,
    /// Users whose call of `wave` the simulator was still handling when the process froze.
    on_wire: BTreeSet<String>,
    /// Users whose call of `wave` this run sent and whose success row was not in the report at
    /// the kill: the calls on the wire, and those answered whose row had not reached the file
    /// yet (handed to the report's collector, or about to be). Their answers died with the
    /// process. For the lookup wave, which writes no row, the lookups on the wire.
    lost: BTreeSet<String>,
}

/// How many calls of `wave` the run starting at request `first` must have sent before the
/// freeze: well inside the wave, so that it is still going.
const INTO_WAVE: usize = 60;
/// Leavers: a few hundred, so every wave lasts long enough at this rate to be caught inside.
const LEAVERS: usize = 300;
/// `--concurrency`: the most calls that can be on the wire at a kill.
const CONCURRENCY: usize = 12;
/// The most answers a kill may lose: the calls on the wire (at most [`CONCURRENCY`]) and the
/// rows a worker has handed to the report's collector that are not written yet. The collector
/// writes whatever waits with one write, so that backlog is small (lost minus on the wire was
/// at most 5 over several runs, lost at most 12); twice the concurrency still fails a run that
/// loses a batch of rows.
const MOST_LOST: usize = 2 * CONCURRENCY;

/// Starts `cmd`, waits until it has sent [`INTO_WAVE`] calls of `wave`, freezes it, lets the
/// simulator answer what is on the wire, records everything, then SIGKILLs it.
async fn kill_in(sim: &Sim, calls: &Calls, cmd: Bin, wave: Wave, report: &Path) -> Kill {
    let first_request = sim.state().requests.len();
    let run: Running = cmd.spawn();
    wait_until(
        &format!("{INTO_WAVE} calls of the {wave:?} wave"),
        Duration::from_secs(30),
        || {
            calls
                .of_wave(&sim.state().requests[first_request..], wave)
                .count()
                >= INTO_WAVE
        },
    )
    .await;
    run.signal(libc::SIGSTOP);
    // SIGSTOP takes effect at once for a process of ours; a millisecond makes sure every call
    // still open at the simulator below was sent by a process that can no longer read answers.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let frozen = sim.state();
    let on_wire: BTreeSet<String> = calls
        .of_wave(&frozen.requests[first_request..], wave)
        .filter(|(_, status)| *status == 0)
        .map(|(u, _)| u)
        .collect();
    // The simulator finishes what it has (no faults here: nothing stays unanswered).
    wait_until(
        "the calls in flight to be answered",
        Duration::from_secs(10),
        || {
            sim.state().requests[first_request..]
                .iter()
                .all(|r| r.status != 0)
        },
    )
    .await;
    let truth = sim.state();
    let report_state = match read_report(report) {
        Ok(s) => s,
        Err(e) => panic!("killed in the {wave:?} wave: the report does not parse: {e}"),
    };
    let killed = run.kill().await;
    assert_eq!(
        killed.code, None,
        "the run killed in the {wave:?} wave had already ended; stderr: {}",
        killed.stderr
    );
    // The report read while frozen is the report the kill left.
    let after = read_report(report).expect("the report parses after the kill");
    assert_eq!(after.rows_read(), report_state.rows_read(), "{wave:?}");
    let lost = match wave.step() {
        None => on_wire.clone(),
        Some(step) => calls
            .of_wave(&truth.requests[first_request..], wave)
            .map(|(u, _)| u)
            .filter(|u| !recorded(&report_state, u, step))
            .collect(),
    };
    Kill {
        wave,
        first_request,
        truth,
        report: report_state,
        on_wire,
        lost,
    }
}

/// What a kill test runs against: [`LEAVERS`] leavers on a simulator slow enough that every
/// wave has calls on the wire at any moment, their input and report, and the request map.
struct KillWorld {
    account: Vec<SimUser>,
    emails: Vec<String>,
    sim: Sim,
    _dir: tempfile::TempDir,
    input: PathBuf,
    report: PathBuf,
    calls: Calls,
}

async fn kill_world(seed: u64) -> KillWorld {
    let (account, emails) = leavers_account(LEAVERS);
    let sim = Sim::start(SimConfig {
        light_per_second: Some(2000),
        medium_per_second: Some(2000),
        users: SimUsers::List(account.clone()),
        latency_ms: (10, 30),
        seed,
        ..SimConfig::default()
    })
    .await
    .expect("start the simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let input = leavers_input(dir.path(), &emails);
    let report = dir.path().join("out.csv");
    let calls = Calls::new(&account);
    KillWorld {
        account,
        emails,
        sim,
        _dir: dir,
        input,
        report,
        calls,
    }
}

impl KillWorld {
    /// `offboard --steps STEPS` at the kill tests' rate and concurrency, `--resume` if asked.
    fn cmd(&self, steps: &str, resume: bool) -> Bin {
        let conc = CONCURRENCY.to_string();
        let c = offboard_steps_cmd(&self.sim, &self.input, &self.report, steps).args([
            "--rate",
            "800",
            "--concurrency",
            &conc,
        ]);
        if resume { c.arg("--resume") } else { c }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboard_killed_in_every_wave_then_resumed_offboards_everyone_once() {
    let _turn = ONE_KILL_TEST_AT_A_TIME.lock().await;
    let w = kill_world(21).await;
    let (account, emails, sim, report, calls) =
        (&w.account, &w.emails, &w.sim, &w.report, &w.calls);
    let cmd = |resume: bool| w.cmd("revoke,deactivate,delete", resume);

    let mut kills = Vec::new();
    for (i, wave) in [Wave::Revoke, Wave::Lookup, Wave::Deactivate, Wave::Delete]
        .into_iter()
        .enumerate()
    {
        kills.push(kill_in(sim, calls, cmd(i > 0), wave, report).await);
    }
    let last_first_request = sim.state().requests.len();
    let last = cmd(true).run().await;
    last.assert_clean();
    assert_eq!(
        last.code,
        Some(0),
        "the last --resume did not exit 0; stderr: {}",
        last.stderr
    );
    let truth = sim.state();
    let all = &truth.requests;
    let id_of: HashMap<String, &str> = account
        .iter()
        .map(|u| (dedupe_key(&u.email), u.id.as_str()))
        .collect();

    // Every leaver revoked, deactivated and deleted, each once, data moved once.
    assert_everyone_offboarded(report, account, emails, &truth);

    for (k, kill) in kills.iter().enumerate() {
        let later = kills
            .get(k + 1)
            .map_or(last_first_request, |n| n.first_request);
        let run = &all[kill.first_request..later];
        // Waves in order: nothing of a later wave was sent by the run killed in this one.
        let waves_sent: BTreeSet<Wave> = run
            .iter()
            .filter_map(|r| calls.of(r))
            .map(|(_, w)| w)
            .collect();
        assert_eq!(
            waves_sent.last(),
            Some(&kill.wave),
            "kill {k}: the run killed in the {:?} wave sent {waves_sent:?}",
            kill.wave
        );
        // Something was on the wire, no more than --concurrency; few answers lost.
        assert!(
            !kill.on_wire.is_empty() && kill.on_wire.len() <= CONCURRENCY,
            "kill {k} ({:?}): {} calls on the wire",
            kill.wave,
            kill.on_wire.len()
        );
        assert!(
            kill.on_wire.is_subset(&kill.lost) && kill.lost.len() <= MOST_LOST,
            "kill {k} ({:?}): {} answers lost, {} calls on the wire",
            kill.wave,
            kill.lost.len(),
            kill.on_wire.len()
        );
        // No step whose success row was on disk at this kill is ever sent again.
        assert_nothing_done_sent_again(calls, k, &kill.report, &all[later..]);
        // A success row is never a lie.
        for e in emails.iter() {
            let key = dedupe_key(e);
            let id = id_of[&key];
            if recorded(&kill.report, &key, Step::Revoke) {
                assert!(kill.truth.revocations.contains_key(id), "kill {k}: {e}");
            }
            let t = kill.truth.offboarded.get(id);
            if recorded(&kill.report, &key, Step::Deactivate) {
                assert!(t.is_some_and(|t| t.deactivations == 1), "kill {k}: {e}");
            }
            if recorded(&kill.report, &key, Step::Delete) {
                assert!(t.is_some_and(|t| t.removed.is_some()), "kill {k}: {e}");
            }
        }
    }

    // The revoke kill: the revokes whose answers the kill lost were applied with no row, so
    // the resume sent them again; nobody else was revoked twice.
    let revoke_kill = &kills[0];
    let twice: BTreeSet<String> = truth
        .revocations
        .iter()
        .filter(|(_, n)| **n > 1)
        .filter_map(|(id, _)| calls.email_of_id.get(id).cloned())
        .collect();
    assert_eq!(
        twice, revoke_kill.lost,
        "revoked twice: exactly the users whose revoke's answer the kill lost"
    );

    // The lookup kill: lookups only, no write of a guarded step yet.
    let lookup_kill = &kills[1];
    assert_eq!(
        (
            lookup_kill.truth.total_deactivations(),
            lookup_kill.truth.total_removals()
        ),
        (0, 0),
        "nothing deactivated or deleted before the lookups were done"
    );

    // The deactivate kill: the deactivations whose answers the kill lost were applied without
    // a row; the resume looked those users up, found them inactive and recorded them without a
    // second call (so no user was deactivated twice beyond those, and in fact not even them).
    let deact_kill = &kills[2];
    let repeated: u32 = truth
        .offboarded
        .values()
        .map(|t| t.repeated_status_calls)
        .sum();
    assert!(
        repeated as usize <= deact_kill.lost.len(),
        "{repeated} repeated status calls, more than the {} answers lost at the kill",
        deact_kill.lost.len()
    );
    let rows = read_rows(report).expect("the final report's rows");
    let last_row = |user: &str, step: Step| -> &Row {
        rows.iter()
            .rev()
            .find(|r| dedupe_key(&r.user) == user && r.step == Some(step))
            .unwrap_or_else(|| panic!("no {step} row for {user}"))
    };
    for u in &deact_kill.lost {
        let applied = deact_kill
            .truth
            .offboarded
            .get(id_of[u.as_str()])
            .is_some_and(|t| t.deactivations == 1);
        assert!(
            applied,
            "{u}: its deactivate was sent and answered, not applied"
        );
        let row = last_row(u, Step::Deactivate);
        assert!(
            row.status == Status::Deactivated && row.message.starts_with("already inactive"),
            "{u}: deactivated by the killed run, then {row:?}"
        );
    }

    // The delete kill: every delete sent had its write-ahead row on disk first; the deletes
    // whose answers the kill lost were applied, and the resume made them `deleted` ("already
    // gone"), never `not_found`.
    let delete_kill = &kills[3];
    let sent_before_kill: BTreeSet<String> = calls
        .of_wave(
            &delete_kill.truth.requests[delete_kill.first_request..],
            Wave::Delete,
        )
        .map(|(u, _)| u)
        .collect();
    for u in &sent_before_kill {
        assert_eq!(
            delete_kill.report.known_to_exist(u),
            Some(Existence::ZoomId(id_of[u.as_str()])),
            "{u}: a delete was sent without its write-ahead row on disk"
        );
    }
    for u in &delete_kill.lost {
        let t = &delete_kill.truth.offboarded[id_of[u.as_str()]];
        assert_eq!(t.removed, Some(Removal::Deleted), "{u}: sent, not applied");
        let row = last_row(u, Step::Delete);
        assert_eq!(row.status, Status::Deleted, "{u}: {row:?}");
        assert!(row.message.starts_with("already gone"), "{u}: {row:?}");
    }
    eprintln!(
        "offboard kill: {LEAVERS} leavers; at the kills (revoke, lookup, deactivate, delete) \
         calls on the wire {:?}, answers lost {:?}; revoked twice {}; repeated status calls \
         {repeated}; last run {:?}",
        kills.iter().map(|k| k.on_wire.len()).collect::<Vec<_>>(),
        kills.iter().map(|k| k.lost.len()).collect::<Vec<_>>(),
        twice.len(),
        last.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboard_killed_in_the_downgrade_wave_then_resumed_downgrades_everyone_once() {
    let _turn = ONE_KILL_TEST_AT_A_TIME.lock().await;
    let w = kill_world(22).await;
    let (account, emails, sim, report, calls) =
        (&w.account, &w.emails, &w.sim, &w.report, &w.calls);
    let cmd = |resume: bool| w.cmd("revoke,downgrade", resume);
    let kill = kill_in(sim, calls, cmd(false), Wave::Downgrade, report).await;
    // Usually a few calls are on the wire at the freeze; on a loaded machine there may be
    // none, and the answers lost are then those not yet written down. Either way, few.
    assert!(
        kill.on_wire.is_subset(&kill.lost) && kill.lost.len() <= MOST_LOST,
        "{} calls on the wire, {} answers lost",
        kill.on_wire.len(),
        kill.lost.len()
    );
    let resumed_from = sim.state().requests.len();
    let last = cmd(true).run().await;
    last.assert_clean();
    assert_eq!(last.code, Some(0), "stderr: {}", last.stderr);
    let truth = sim.state();
    assert_nothing_done_sent_again(calls, 0, &kill.report, &truth.requests[resumed_from..]);

    // Every leaver Basic, downgraded once; the answers the kill lost were applied, and the
    // resume found those users Basic and wrote them without a call.
    let final_state = read_report(report).expect("the final report parses");
    let id_of: HashMap<String, &str> = account
        .iter()
        .map(|u| (dedupe_key(&u.email), u.id.as_str()))
        .collect();
    for e in emails.iter() {
        let key = dedupe_key(e);
        assert!(recorded(&final_state, &key, Step::Downgrade), "{e}");
        let t = &truth.offboarded[id_of[key.as_str()]];
        assert_eq!(
            (t.user_type, t.downgrades, t.repeated_type_calls),
            (1, 1, 0),
            "{e}: downgraded once, no call repeated"
        );
    }
    assert_eq!(truth.offboarded.len(), emails.len(), "nobody else touched");
    let rows = read_rows(report).expect("the final report's rows");
    for u in &kill.lost {
        let row = rows
            .iter()
            .rev()
            .find(|r| dedupe_key(&r.user) == *u && r.step == Some(Step::Downgrade))
            .expect("a downgrade row");
        assert!(
            row.status == Status::Downgraded && row.message.starts_with("already Basic"),
            "{u}: downgraded by the killed run, then {row:?}"
        );
    }
}
