//! offboard against the simulator: waves, transfers per row and the fallback, every safety
//! rule and Zoom refusal (never sent, ground truth unchanged), the lost-delete rule, dry runs
//! with zero writes, exit codes. Each test reads both the report and the simulator's truth.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::revoke_support::*;
use tokio_util::sync::CancellationToken;
use zoom_offboard::app::{Context, offboard};
use zoom_offboard::cli::{OffboardArgs, RevokeArgs};
use zoom_offboard::config::OffboardSettings;
use zoom_offboard::exit::Exit;
use zoom_offboard::report::{Row, Status};
use zoom_offboard::sim::{Removal, Sim, SimConfig, SimUser, SimUsers, UserStatus};
use zoom_offboard::step::Step;

/// A member with SSO, active, on this account.
pub fn person(n: u32, email: &str) -> SimUser {
    SimUser {
        id: format!("OffUser{n:015}"),
        email: email.to_string(),
        first_name: "First".into(),
        last_name: format!("Last{n}"),
        user_type: 2,
        status: UserStatus::Active,
        role_id: "2".into(),
        role_name: "Member".into(),
        login_types: vec![101],
        managed_domain: false,
        zoom_events: false,
        zoom_room: false,
        webinar_licence: false,
        other_account: false,
        last_login_time: Some("2026-01-01T00:00:00Z".into()),
    }
}

/// The account every test starts from: leavers, managers, and one of each special case.
pub fn account() -> Vec<SimUser> {
    let mut users = vec![{
        let mut o = person(1, "owner@example.com");
        o.role_id = "0".into();
        o.role_name = "Owner".into();
        o
    }];
    for i in 0..20 {
        users.push(person(10 + i, &format!("leaver{i:02}@example.com")));
    }
    for (n, email) in [(40, "mgr.a@example.com"), (41, "mgr.b@example.com")] {
        users.push(person(n, email));
    }
    let mut admin = person(50, "admin@example.com");
    admin.role_id = "1".into();
    admin.role_name = "Admin".into();
    let mut custom = person(51, "helpdesk@example.com");
    custom.role_id = "Hd7x".into();
    custom.role_name = "Help Desk".into();
    let mut off = person(52, "gone.mgr@example.com");
    off.status = UserStatus::Inactive;
    let mut events = person(53, "events@example.com");
    events.zoom_events = true;
    let mut managed = person(54, "managed@example.com");
    managed.managed_domain = true;
    let mut password = person(55, "password@example.com");
    password.login_types = vec![100];
    let mut asleep = person(56, "asleep@example.com");
    asleep.status = UserStatus::Inactive;
    users.extend([admin, custom, off, events, managed, password, asleep]);
    users
}

pub fn sim_config(users: Vec<SimUser>) -> SimConfig {
    SimConfig {
        light_per_second: Some(2000),
        medium_per_second: Some(2000),
        users: SimUsers::List(users),
        ..SimConfig::default()
    }
}

/// An offboard command line against `sim`, reading `input`, reporting to `report`.
pub fn ob_args(sim: &Sim, input: &Path, report: &Path, steps: &str) -> OffboardArgs {
    OffboardArgs {
        steps: Some(steps.into()),
        run: RevokeArgs {
            rate: Some(500.0),
            ..args(sim, input, report)
        },
        ..OffboardArgs::default()
    }
}

/// Runs offboard in-process with the simulator's credentials.
pub async fn run_ob(sim: &Sim, a: &OffboardArgs) -> Exit {
    let env = s2s_env(sim);
    let e2 = env.clone();
    // A settings error (a bad step list, a removal with nowhere for the data) is exit 2, as in
    // the binary.
    let Ok(settings) = OffboardSettings::resolve(a, &move |k: &str| e2(k), chrono::Utc::now())
    else {
        return Exit::Usage;
    };
    let ctx = Context {
        env: Box::new(move |k: &str| env(k)),
        cancel: CancellationToken::new(),
        stdin_is_terminal: false,
        confirm: None,
        progress_terminal: false,
    };
    offboard(settings, &ctx).await
}

/// The last row per (lower-cased user, step).
pub type LastRows = HashMap<(String, Option<Step>), Row>;

/// The last row per (user, step), and every row.
pub fn by_step(report: &Path) -> (LastRows, Vec<Row>) {
    let all = rows(report);
    let mut last = HashMap::new();
    for r in &all {
        last.insert((r.user.to_lowercase(), r.step), r.clone());
    }
    (last, all)
}

fn status_of(last: &LastRows, user: &str, step: Step) -> Status {
    last.get(&(user.to_string(), Some(step)))
        .unwrap_or_else(|| panic!("no {step} row for {user}"))
        .status
}

struct World {
    sim: Sim,
    _dir: tempfile::TempDir,
    input: PathBuf,
    report: PathBuf,
}

async fn world(users: Vec<SimUser>, lines: &[&str]) -> World {
    let sim = Sim::start(sim_config(users)).await.expect("start sim");
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let input = write_input(dir.path(), "leavers.csv", &lines);
    let report = dir.path().join("out.csv");
    World {
        sim,
        _dir: dir,
        input,
        report,
    }
}

fn id_of(_sim: &Sim, email: &str) -> String {
    account()
        .into_iter()
        .find(|u| u.email == email)
        .map(|u| u.id)
        .unwrap_or_else(|| panic!("{email} is not in the account"))
}

#[tokio::test]
async fn waves_log_everyone_out_before_anyone_is_deactivated_then_removed() {
    let mut lines = vec!["email"];
    let leavers: Vec<String> = (0..20)
        .map(|i| format!("leaver{i:02}@example.com"))
        .collect();
    lines.extend(leavers.iter().map(String::as_str));
    let w = world(account(), &lines).await;
    w.sim.set_faults(zoom_offboard::sim::Faults {
        latency_ms: (5, 30),
        ..Default::default()
    });
    let mut a = ob_args(&w.sim, &w.input, &w.report, "delete,revoke,deactivate");
    a.transfer_to = Some("mgr.a@example.com".into());
    assert_eq!(run_ob(&w.sim, &a).await, Exit::Success);

    let (last, all) = by_step(&w.report);
    for u in &leavers {
        assert_eq!(status_of(&last, u, Step::Revoke), Status::Revoked);
        assert_eq!(status_of(&last, u, Step::Deactivate), Status::Deactivated);
        assert_eq!(status_of(&last, u, Step::Delete), Status::Deleted);
    }
    // One final row per (user, step), plus one write-ahead row per delete before it.
    let finals = all.iter().filter(|r| r.status != Status::Pending).count();
    assert_eq!(finals, 60);
    assert_eq!(all.len(), 80);

    let state = w.sim.state();
    let at = |m: &str, f: &dyn Fn(&str) -> bool| -> Vec<u64> {
        state
            .requests
            .iter()
            .filter(|r| r.method == m && f(&r.path))
            .map(|r| r.at_ms)
            .collect()
    };
    let revokes = at("DELETE", &|p| p.ends_with("/token"));
    let lookups = at("GET", &|_| true);
    let deactivations = at("PUT", &|p| p.ends_with("/status"));
    let deletes = at("DELETE", &|p| !p.ends_with("/token"));
    assert_eq!(revokes.len(), 20);
    assert_eq!(lookups.len(), 21, "each leaver and the one target, once");
    assert_eq!(deactivations.len(), 20);
    assert_eq!(deletes.len(), 20);
    let max = |v: &[u64]| *v.iter().max().unwrap();
    let min = |v: &[u64]| *v.iter().min().unwrap();
    assert!(max(&revokes) <= min(&lookups), "everyone logged out first");
    assert!(
        max(&lookups) <= min(&deactivations),
        "looked up before deactivating"
    );
    assert!(
        max(&deactivations) <= min(&deletes),
        "deactivated before removing"
    );
    for u in &leavers {
        let t = &state.offboarded[&id_of(&w.sim, u)];
        assert_eq!((t.deactivations, t.deletions), (1, 1), "{u}");
        assert_eq!(t.removed, Some(Removal::Deleted));
    }
    assert_eq!(state.transfers.len(), 20);
    assert!(
        state
            .transfers
            .iter()
            .all(|t| t.to_email == "mgr.a@example.com")
    );
    // Nobody else touched.
    assert_eq!(state.total_revocations(), 20);
    assert!(state.offboarded.len() <= 20);
}

#[tokio::test]
async fn each_leaver_s_data_goes_to_their_own_manager_or_the_fallback() {
    let w = world(
        account(),
        &[
            "email,manager",
            "leaver00@example.com,mgr.a@example.com",
            // By Zoom id: still sent as the email the lookup returned.
            &format!("leaver01@example.com,{}", "OffUser000000000000041"),
            "leaver02@example.com,",
            "leaver03@example.com,MGR.A@example.com",
        ],
    )
    .await;
    let mut a = ob_args(&w.sim, &w.input, &w.report, "disassociate");
    a.transfer_column = Some("manager".into());
    a.transfer_to = Some("mgr.b@example.com".into());
    assert_eq!(run_ob(&w.sim, &a).await, Exit::Success);
    let state = w.sim.state();
    let to: HashMap<&str, &str> = state
        .transfers
        .iter()
        .map(|t| (t.from_email.as_str(), t.to_email.as_str()))
        .collect();
    assert_eq!(to["leaver00@example.com"], "mgr.a@example.com");
    assert_eq!(to["leaver01@example.com"], "mgr.b@example.com");
    assert_eq!(
        to["leaver02@example.com"], "mgr.b@example.com",
        "blank cell: --transfer-to"
    );
    assert_eq!(to["leaver03@example.com"], "mgr.a@example.com");
    assert!(
        state
            .transfers
            .iter()
            .all(|t| t.action == Removal::Disassociated)
    );
    // Every DELETE carried action=disassociate explicitly and the four transfer flags.
    for r in state.requests.iter().filter(|r| r.method == "DELETE") {
        assert!(r.path.contains("action=disassociate"), "{}", r.path);
        for flag in ["meeting", "webinar", "recording", "whiteboard"] {
            assert!(
                r.path.contains(&format!("transfer_{flag}=true")),
                "{}",
                r.path
            );
        }
    }
}

#[tokio::test]
async fn safety_rules_refuse_before_sending_and_zoom_refusals_are_not_retried() {
    let w = world(
        account(),
        &[
            "email,manager",
            "owner@example.com,mgr.a@example.com",
            "admin@example.com,mgr.a@example.com",
            "helpdesk@example.com,mgr.a@example.com",
            "leaver00@example.com,nobody@example.com",
            "leaver01@example.com,gone.mgr@example.com",
            "leaver02@example.com,leaver03@example.com",
            "leaver03@example.com,mgr.a@example.com",
            "leaver04@example.com,leaver04@example.com",
            "leaver05@example.com,",
            "events@example.com,mgr.a@example.com",
            "asleep@example.com,mgr.a@example.com",
            "leaver06@example.com,mgr.a@example.com",
        ],
    )
    .await;
    let before = w.sim.users();
    let mut a = ob_args(&w.sim, &w.input, &w.report, "revoke,deactivate,delete");
    a.transfer_column = Some("manager".into());
    assert_eq!(run_ob(&w.sim, &a).await, Exit::SomeFailed);
    let (last, _) = by_step(&w.report);
    let st = |u: &str, s: Step| status_of(&last, u, s);
    // revoke logs everyone out, the owner and admins included.
    for u in [
        "owner@example.com",
        "admin@example.com",
        "helpdesk@example.com",
    ] {
        assert_eq!(st(u, Step::Revoke), Status::Revoked, "{u}");
        assert_eq!(st(u, Step::Deactivate), Status::Refused, "{u}");
        assert_eq!(st(u, Step::Delete), Status::Skipped, "{u}");
    }
    // Transfer targets: missing, inactive, removed in this run, the user itself, none.
    for u in [
        "leaver00@example.com",
        "leaver01@example.com",
        "leaver02@example.com",
        "leaver04@example.com",
        "leaver05@example.com",
    ] {
        assert_eq!(st(u, Step::Deactivate), Status::Deactivated, "{u}");
        assert_eq!(st(u, Step::Delete), Status::Refused, "{u}");
        let row = &last[&(u.to_string(), Some(Step::Delete))];
        assert!(row.message.contains("never sent"), "{u}: {}", row.message);
    }
    // Zoom's own refusal: an upcoming Zoom Events event (400/300), refused with Zoom's code.
    let ev = &last[&("events@example.com".to_string(), Some(Step::Deactivate))];
    assert_eq!(
        (ev.status, ev.error_code, ev.attempts),
        (Status::Refused, Some(300), 1)
    );
    // Already inactive: deactivated without a call; then deleted.
    assert_eq!(
        st("asleep@example.com", Step::Deactivate),
        Status::Deactivated
    );
    assert_eq!(st("asleep@example.com", Step::Delete), Status::Deleted);
    assert_eq!(st("leaver03@example.com", Step::Delete), Status::Deleted);
    assert_eq!(st("leaver06@example.com", Step::Delete), Status::Deleted);

    // Ground truth: no guarded call for any refused user, and nothing else changed.
    let state = w.sim.state();
    let never = [
        "owner@example.com",
        "admin@example.com",
        "helpdesk@example.com",
    ];
    for u in never {
        let id = before.iter().find(|x| x.email == u).unwrap().id.clone();
        assert!(
            !state.requests.iter().any(|r| r.user.as_deref() == Some(&id)
                && r.method != "GET"
                && !r.path.ends_with("/token")),
            "a guarded call was sent for {u}"
        );
    }
    // leaver00-06 and the events user; the inactive one needs no call.
    assert_eq!(
        state.count("PUT", "/status", None),
        8,
        "one deactivate per user sent"
    );
    let removed: Vec<&str> = state
        .offboarded
        .values()
        .filter(|t| t.removed.is_some())
        .map(|t| t.email.as_str())
        .collect();
    let mut removed = removed;
    removed.sort();
    assert_eq!(
        removed,
        [
            "asleep@example.com",
            "leaver03@example.com",
            "leaver06@example.com"
        ]
    );
    assert!(
        state
            .requests
            .iter()
            .filter(|r| r.method == "DELETE" && !r.path.ends_with("/token"))
            .count()
            == 3,
        "refused removals were never sent"
    );
}

#[tokio::test]
async fn admins_need_the_flag_and_zoom_refusals_come_back_as_refused() {
    let w = world(
        account(),
        &[
            "email",
            "admin@example.com",
            "helpdesk@example.com",
            "managed@example.com",
            "owner@example.com",
        ],
    )
    .await;
    let mut a = ob_args(&w.sim, &w.input, &w.report, "disassociate");
    a.include_admins = true;
    a.no_transfer = true;
    assert_eq!(run_ob(&w.sim, &a).await, Exit::SomeFailed);
    let (last, _) = by_step(&w.report);
    let row = |u: &str| last[&(u.to_string(), Some(Step::Disassociate))].clone();
    // An admin cannot be disassociated (1117), a managed-domain user neither (1107): Zoom's
    // refusals, once each, never retried.
    assert_eq!(
        (
            row("admin@example.com").status,
            row("admin@example.com").error_code
        ),
        (Status::Refused, Some(1117))
    );
    assert_eq!(
        (
            row("managed@example.com").status,
            row("managed@example.com").error_code
        ),
        (Status::Refused, Some(1107))
    );
    assert_eq!(
        row("helpdesk@example.com").status,
        Status::Disassociated,
        "a custom role, with --include-admins"
    );
    assert_eq!(
        row("owner@example.com").status,
        Status::Refused,
        "the owner, even with --include-admins"
    );
    assert_eq!(row("owner@example.com").attempts, 0);
    let state = w.sim.state();
    assert_eq!(
        state.count("DELETE", "", None),
        3,
        "one call each, the owner none"
    );
    assert!(
        state.transfers.iter().all(|t| t.kinds.is_empty()),
        "--no-transfer moves nothing"
    );
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_is_deleted_not_not_found() {
    let mut lines = vec!["email"];
    let leavers: Vec<String> = (0..20)
        .map(|i| format!("leaver{i:02}@example.com"))
        .collect();
    lines.extend(leavers.iter().map(String::as_str));
    let w = world(account(), &lines).await;
    // Every third answer lost after the side effect: the retry of a delete then meets 404.
    w.sim.set_faults(zoom_offboard::sim::Faults {
        fault_5xx_after: 0.3,
        ..Default::default()
    });
    let mut a = ob_args(&w.sim, &w.input, &w.report, "delete");
    a.transfer_to = Some("mgr.a@example.com".into());
    a.run.max_retries = Some(10);
    assert_eq!(run_ob(&w.sim, &a).await, Exit::Success);
    let (last, _) = by_step(&w.report);
    let mut gone = 0;
    for u in &leavers {
        let r = &last[&(u.clone(), Some(Step::Delete))];
        assert_eq!(r.status, Status::Deleted, "{u}: {}", r.message);
        gone += usize::from(r.message.starts_with("already gone"));
    }
    assert!(
        gone > 0,
        "some answers were lost, so some users were already gone on retry"
    );
    let state = w.sim.state();
    for u in &leavers {
        assert_eq!(
            state.offboarded[&id_of(&w.sim, u)].deletions,
            1,
            "{u} deleted once"
        );
    }
    assert_eq!(state.transfers.len(), 20, "each leaver's data moved once");
}

#[tokio::test]
async fn a_dry_run_looks_up_and_writes_nothing() {
    let w = world(
        account(),
        &[
            "email,manager",
            "leaver00@example.com,mgr.a@example.com",
            "owner@example.com,mgr.a@example.com",
            "nobody@example.com,mgr.a@example.com",
            "password@example.com,mgr.b@example.com",
        ],
    )
    .await;
    let mut a = ob_args(&w.sim, &w.input, &w.report, "revoke,deactivate,delete");
    a.transfer_column = Some("manager".into());
    a.run.dry_run = true;
    assert_eq!(run_ob(&w.sim, &a).await, Exit::SomeFailed);
    let state = w.sim.state();
    assert!(
        state
            .requests
            .iter()
            .filter(|r| r.path.starts_with("/v2/"))
            .all(|r| r.method == "GET"),
        "no write at all"
    );
    assert_eq!(
        state.count("GET", "", None),
        6,
        "4 users and 2 targets, once each"
    );
    let (last, _) = by_step(&w.report);
    let st = |u: &str, s: Step| status_of(&last, u, s);
    assert_eq!(
        st("leaver00@example.com", Step::Revoke),
        Status::WouldRevoke
    );
    assert_eq!(
        st("leaver00@example.com", Step::Deactivate),
        Status::WouldDeactivate
    );
    assert_eq!(
        st("leaver00@example.com", Step::Delete),
        Status::WouldDelete
    );
    assert_eq!(st("owner@example.com", Step::Revoke), Status::WouldRevoke);
    assert_eq!(st("owner@example.com", Step::Deactivate), Status::Refused);
    assert_eq!(st("owner@example.com", Step::Delete), Status::Skipped);
    assert_eq!(st("nobody@example.com", Step::Revoke), Status::NotFound);
    assert_eq!(st("nobody@example.com", Step::Deactivate), Status::Skipped);
    let pw = &last[&("password@example.com".to_string(), Some(Step::Revoke))];
    assert!(
        pw.message.contains("does not sign in with SSO"),
        "{}",
        pw.message
    );
}

#[tokio::test]
async fn usage_errors_exit_2_before_any_call() {
    let w = world(account(), &["email", "leaver00@example.com"]).await;
    for (steps, why) in [
        ("revoke,suspend", "unknown step"),
        ("disassociate,delete", "both removals"),
        (
            "revoke,delete",
            "a removal with no target and no --no-transfer",
        ),
    ] {
        let a = ob_args(&w.sim, &w.input, &w.report, steps);
        assert_eq!(run_ob(&w.sim, &a).await, Exit::Usage, "{why}");
    }
    // Offboard's lookups must be one by one: the listing lacks role names and sign-in types.
    let mut a = ob_args(&w.sim, &w.input, &w.report, "revoke,deactivate");
    a.run.dry_run = true;
    a.run.lookup = zoom_offboard::dryrun::Lookup::List;
    assert_eq!(run_ob(&w.sim, &a).await, Exit::Usage, "--lookup list");
    assert!(w.sim.state().requests.is_empty());
    assert!(!w.report.exists());
}

#[tokio::test]
async fn a_resumed_run_sends_no_done_step_again_and_takes_refusals_up_again() {
    let w = world(
        account(),
        &["email", "leaver00@example.com", "admin@example.com"],
    )
    .await;
    let a = ob_args(&w.sim, &w.input, &w.report, "revoke,deactivate");
    assert_eq!(
        run_ob(&w.sim, &a).await,
        Exit::SomeFailed,
        "the admin is refused"
    );
    let calls = w.sim.state().requests.len();
    // The operator allows admins and resumes the same command: the admin's deactivate is taken
    // up again (Zoom refuses it itself: code 200), nothing done is sent again.
    let mut a = a.clone();
    a.include_admins = true;
    a.run.resume = true;
    assert_eq!(run_ob(&w.sim, &a).await, Exit::SomeFailed);
    let state = w.sim.state();
    let new: Vec<_> = state.requests[calls..]
        .iter()
        .filter(|r| r.path.starts_with("/v2/"))
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        new.len(),
        2,
        "a fresh lookup and the deactivate, for the admin only: {new:?}"
    );
    assert!(
        new.iter()
            .all(|(_, p)| p.contains(&id_of(&w.sim, "admin@example.com"))
                || p.contains("admin%40")
                || p.contains("admin@")),
        "{new:?}"
    );
    let (last, _) = by_step(&w.report);
    let row = &last[&("admin@example.com".to_string(), Some(Step::Deactivate))];
    assert_eq!((row.status, row.error_code), (Status::Refused, Some(200)));
    assert_eq!(
        status_of(&last, "leaver00@example.com", Step::Deactivate),
        Status::Deactivated
    );
}
