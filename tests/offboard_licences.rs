//! offboard's issue-20 behaviour against the simulator's ground truth: every kind of data
//! arrives at the target, `--transfer-kinds` sends exactly its kinds, a Basic target's removal is
//! refused unsent (the logout and the licence step still done), and the `downgrade` step
//! (type changed, idempotent on a Basic user, Zoom's refusals, its scope, its usage rule, resume).

use std::path::PathBuf;

use crate::offboard::{account, by_step, ob_args, run_ob, sim_config};
use crate::revoke_support::write_input;
use zoom_offboard::exit::Exit;
use zoom_offboard::offboard::PMI_NOTE;
use zoom_offboard::report::Status;
use zoom_offboard::sim::{BasicCap, Sim, SimConfig, TransferKind};
use zoom_offboard::step::Step;

/// A simulator with the offboard tests' account, an input of `lines` and a report path.
async fn world(cfg: SimConfig, lines: &[&str]) -> (Sim, tempfile::TempDir, PathBuf, PathBuf) {
    let sim = Sim::start(cfg).await.expect("start sim");
    let dir = tempfile::tempdir().expect("temp dir");
    let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let input = write_input(dir.path(), "leavers.csv", &lines);
    let report = dir.path().join("out.csv");
    (sim, dir, input, report)
}

/// The status and message of `user`'s `step` row.
fn row_of(last: &crate::offboard::LastRows, user: &str, step: Step) -> (Status, String) {
    let r = last
        .get(&(user.to_string(), Some(step)))
        .unwrap_or_else(|| panic!("no {step} row for {user}"));
    (r.status, r.message.to_string())
}

/// The query of every removal (`DELETE /users/{id}?...`) the simulator received.
fn removal_queries(sim: &Sim) -> Vec<String> {
    sim.state()
        .requests
        .iter()
        .filter(|r| r.method == "DELETE" && !r.path.contains("/token"))
        .filter_map(|r| r.path.split_once('?').map(|(_, q)| q.to_string()))
        .collect()
}

const LEAVERS: [&str; 4] = [
    "leaver00@example.com",
    "leaver01@example.com",
    "leaver02@example.com",
    "leaver03@example.com",
];

fn input_lines() -> Vec<&'static str> {
    let mut lines = vec!["email"];
    lines.extend(LEAVERS);
    lines
}

#[tokio::test]
async fn every_kind_of_data_arrives_at_the_target_for_every_removed_user() {
    let (sim, _dir, input, report) = world(sim_config(account()), &input_lines()).await;
    let mut a = ob_args(&sim, &input, &report, "revoke,deactivate,delete");
    a.transfer_to = Some("mgr.a@example.com".into());
    assert_eq!(run_ob(&sim, &a).await, Exit::Success);
    let st = sim.state();
    for leaver in LEAVERS {
        assert_eq!(
            st.kinds_received("mgr.a@example.com", leaver),
            TransferKind::ALL.to_vec(),
            "{leaver}"
        );
    }
    let (last, _) = by_step(&report);
    for leaver in LEAVERS {
        let (status, message) = row_of(&last, leaver, Step::Delete);
        assert_eq!(status, Status::Deleted);
        assert!(
            message.contains("clips, notes, visitors and docs"),
            "{message}"
        );
        assert!(message.contains(PMI_NOTE), "the PMI note: {message}");
    }
}

#[tokio::test]
async fn transfer_kinds_send_exactly_those_kinds_as_true() {
    let (sim, _dir, input, report) = world(sim_config(account()), &input_lines()).await;
    let mut a = ob_args(&sim, &input, &report, "disassociate");
    a.transfer_to = Some("mgr.b@example.com".into());
    a.transfer_kinds = Some("meeting,recording".into());
    assert_eq!(run_ob(&sim, &a).await, Exit::Success);
    let queries = removal_queries(&sim);
    assert_eq!(queries.len(), LEAVERS.len());
    for q in &queries {
        let flags: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .filter(|(k, _)| k.starts_with("transfer_") && k != "transfer_email")
            .collect();
        let on: Vec<&str> = flags
            .iter()
            .filter(|(_, v)| v == "true")
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(on, ["transfer_meeting", "transfer_recording"], "{q}");
        assert_eq!(flags.len(), 8, "every flag sent, the rest false: {q}");
    }
    let st = sim.state();
    for leaver in LEAVERS {
        assert_eq!(
            st.kinds_received("mgr.b@example.com", leaver),
            [TransferKind::Meeting, TransferKind::Recording]
        );
    }
    // --no-transfer sends no flag at all; an unknown kind is a usage error.
    let mut bad = ob_args(&sim, &input, &report, "disassociate");
    bad.transfer_to = Some("mgr.b@example.com".into());
    bad.transfer_kinds = Some("meeting,chat".into());
    assert_eq!(run_ob(&sim, &bad).await, Exit::Usage);
}

#[tokio::test]
async fn a_basic_targets_removal_is_refused_unsent_after_logout_and_deactivation() {
    let (sim, _dir, input, report) = world(sim_config(account()), &input_lines()).await;
    assert!(sim.set_user_type("mgr.a@example.com", 1));
    let mut dry = ob_args(&sim, &input, &report, "revoke,deactivate,delete");
    dry.transfer_to = Some("mgr.a@example.com".into());
    dry.run.dry_run = true;
    assert_eq!(run_ob(&sim, &dry).await, Exit::SomeFailed);
    let (last, _) = by_step(&report);
    for leaver in LEAVERS {
        assert_eq!(
            row_of(&last, leaver, Step::Deactivate).0,
            Status::WouldDeactivate
        );
        let (status, message) = row_of(&last, leaver, Step::Delete);
        assert_eq!(status, Status::Refused);
        assert!(
            message.contains("transfer target has no licence for recordings"),
            "{message}"
        );
    }

    let mut a = dry.clone();
    a.run.dry_run = false;
    a.run.report = Some(report.with_file_name("real.csv"));
    assert_eq!(run_ob(&sim, &a).await, Exit::SomeFailed);
    let (last, _) = by_step(&report.with_file_name("real.csv"));
    let st = sim.state();
    for leaver in LEAVERS {
        assert_eq!(row_of(&last, leaver, Step::Revoke).0, Status::Revoked);
        assert_eq!(
            row_of(&last, leaver, Step::Deactivate).0,
            Status::Deactivated
        );
        assert_eq!(row_of(&last, leaver, Step::Delete).0, Status::Refused);
        let truth = st
            .offboarded
            .values()
            .find(|t| t.email == leaver)
            .expect("deactivated");
        assert_eq!((truth.deactivations, truth.removed), (1, None));
    }
    assert!(removal_queries(&sim).is_empty(), "no removal was sent");

    // Without recordings among the kinds, the Basic target receives the rest.
    let mut b = a.clone();
    b.transfer_kinds = Some("meeting,whiteboard,docs".into());
    b.run.resume = true;
    assert_eq!(run_ob(&sim, &b).await, Exit::Success);
    assert_eq!(
        sim.state().kinds_received("mgr.a@example.com", LEAVERS[0]),
        [
            TransferKind::Meeting,
            TransferKind::Whiteboard,
            TransferKind::Docs
        ]
    );
}

/// The account of these tests with a Zoom Room user and a Basic leaver.
fn downgrade_world_cfg() -> SimConfig {
    let mut users = account();
    for u in &mut users {
        if u.email == "leaver02@example.com" {
            u.user_type = 1;
        }
        if u.email == "leaver03@example.com" {
            u.zoom_room = true;
        }
    }
    sim_config(users)
}

#[tokio::test]
async fn downgrade_makes_users_basic_once_and_zoom_refusals_are_refused() {
    let mut lines = input_lines();
    lines.extend([
        "events@example.com",
        "admin@example.com",
        "owner@example.com",
    ]);
    let (sim, _dir, input, report) = world(downgrade_world_cfg(), &lines).await;
    let a = ob_args(&sim, &input, &report, "revoke,downgrade");
    assert_eq!(run_ob(&sim, &a).await, Exit::SomeFailed);
    let (last, _) = by_step(&report);
    let st = sim.state();
    let truth = |email: &str| st.offboarded.values().find(|t| t.email == email).cloned();
    for leaver in &LEAVERS[..2] {
        assert_eq!(row_of(&last, leaver, Step::Downgrade).0, Status::Downgraded);
        let t = truth(leaver).expect("downgraded");
        assert_eq!(
            (t.user_type, t.downgrades, t.repeated_type_calls),
            (1, 1, 0)
        );
    }
    let (status, message) = row_of(&last, "leaver02@example.com", Step::Downgrade);
    assert_eq!(status, Status::Downgraded);
    assert!(message.starts_with("already Basic"), "{message}");
    assert!(
        truth("leaver02@example.com").is_none(),
        "no call for a Basic user"
    );
    for (user, code) in [("leaver03@example.com", 200), ("events@example.com", 300)] {
        let r = last
            .get(&(user.to_string(), Some(Step::Downgrade)))
            .expect("a row");
        assert_eq!(
            (r.status, r.error_code),
            (Status::Refused, Some(code)),
            "{user}"
        );
    }
    for user in ["admin@example.com", "owner@example.com"] {
        let (status, message) = row_of(&last, user, Step::Downgrade);
        assert_eq!(status, Status::Refused);
        assert!(message.starts_with("refused, never sent"), "{message}");
    }
    assert_eq!(
        sim.state().count("PATCH", "", None),
        4,
        "two done, two refused by Zoom"
    );

    // A resume sends nothing for the done users, and the refusals again.
    let mut again = a.clone();
    again.run.resume = true;
    assert_eq!(run_ob(&sim, &again).await, Exit::SomeFailed);
    let st = sim.state();
    assert_eq!(st.count("PATCH", "", None), 6, "the two Zoom refusals only");
    assert_eq!(st.total_downgrades(), 2);
}

#[tokio::test]
async fn the_basic_cap_refuses_the_downgrade_with_zooms_code() {
    let (sim, _dir, input, report) = world(downgrade_world_cfg(), &input_lines()).await;
    for code in [3412, 2033] {
        sim.set_basic_cap(Some(BasicCap { max: 1, code }));
        let mut a = ob_args(&sim, &input, &report, "downgrade");
        a.run.report = Some(report.with_file_name(format!("cap{code}.csv")));
        assert_eq!(run_ob(&sim, &a).await, Exit::SomeFailed);
        let (last, _) = by_step(&report.with_file_name(format!("cap{code}.csv")));
        let r = &last[&(LEAVERS[0].to_string(), Some(Step::Downgrade))];
        assert_eq!(
            (r.status, r.error_code),
            (Status::Refused, Some(i64::from(code)))
        );
        assert!(r.message.starts_with("Zoom refused"), "{}", r.message);
    }
    assert_eq!(sim.state().total_downgrades(), 0);
}

#[tokio::test]
async fn deactivate_with_downgrade_is_a_usage_error_and_the_scope_is_checked_first() {
    let (sim, _dir, input, report) = world(
        SimConfig {
            scopes: vec![
                "user:read:admin".into(),
                "user:delete:token:admin".into(),
                "user:update:status:admin".into(),
            ],
            ..sim_config(account())
        },
        &input_lines(),
    )
    .await;
    let both = ob_args(&sim, &input, &report, "revoke,deactivate,downgrade");
    assert_eq!(run_ob(&sim, &both).await, Exit::Usage);
    let a = ob_args(&sim, &input, &report, "revoke,downgrade");
    assert_eq!(
        run_ob(&sim, &a).await,
        Exit::Usage,
        "no user:update:user:admin"
    );
    let sent = sim
        .state()
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/v2/"))
        .count();
    assert_eq!(sent, 0, "the scope is checked before the first call");
    sim.set_scopes(vec![
        "user:read:admin".into(),
        "user:delete:token:admin".into(),
        "user:update:user:admin".into(),
    ]);
    assert_eq!(run_ob(&sim, &a).await, Exit::Success);
    assert_eq!(sim.state().total_downgrades(), LEAVERS.len() as u64);
}

#[tokio::test]
async fn demo_offboard_downgrade_shows_the_downgrade() {
    use crate::common::bin::Bin;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("demo.csv");
    let out = Bin::new()
        .args([
            "demo",
            "--offboard",
            "--downgrade",
            "--no-progress",
            "--report",
        ])
        .arg(&report)
        .run()
        .await;
    out.assert_clean();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rows = crate::revoke_support::rows(&report);
    let downgraded = |already: bool| {
        rows.iter()
            .filter(|r| r.step == Some(Step::Downgrade) && r.status == Status::Downgraded)
            .filter(|r| r.message.starts_with("already Basic") == already)
            .count()
    };
    assert!(downgraded(false) > 20, "most of the slice is downgraded");
    assert!(downgraded(true) > 0, "the slice holds Basic users");
    let said = format!("{} downgraded to Basic", downgraded(false));
    assert!(out.stderr.contains(&said), "{said:?} in {}", out.stderr);
    assert!(rows.iter().all(|r| r.step != Some(Step::Deactivate)));
}

#[tokio::test]
async fn offboard_keys_in_the_config_file_are_used_and_flags_win() {
    let mut lines = input_lines();
    lines.push("admin@example.com");
    let (sim, dir, input, report) = world(sim_config(account()), &lines).await;
    let config = dir.path().join("zoom-offboard.toml");
    std::fs::write(
        &config,
        "[offboard]\n\
         steps = [\"revoke\", \"downgrade\", \"disassociate\"]\n\
         transfer_to = \"mgr.a@example.com\"\n\
         transfer_kinds = \"meeting,docs\"\n\
         include_admins = true\n",
    )
    .expect("write config");
    let mut a = ob_args(&sim, &input, &report, "unused");
    a.steps = None;
    a.run.conn.config = Some(config.clone());
    // The admin's disassociate is Zoom's refusal (1117): include_admins let it be sent.
    assert_eq!(run_ob(&sim, &a).await, Exit::SomeFailed);
    let (last, _) = by_step(&report);
    assert_eq!(
        row_of(&last, LEAVERS[0], Step::Downgrade).0,
        Status::Downgraded
    );
    assert_eq!(
        row_of(&last, LEAVERS[0], Step::Disassociate).0,
        Status::Disassociated
    );
    let admin = &last[&("admin@example.com".to_string(), Some(Step::Downgrade))];
    assert_eq!(admin.status, Status::Downgraded, "include_admins = true");
    assert_eq!(
        sim.state().kinds_received("mgr.a@example.com", LEAVERS[0]),
        [TransferKind::Meeting, TransferKind::Docs]
    );

    // Flags win: --transfer-to beats no_transfer = true, --steps and --transfer-kinds beat
    // the file's.
    std::fs::write(
        &config,
        "[offboard]\nsteps = \"revoke,deactivate\"\nno_transfer = true\n\
         transfer_kinds = [\"docs\"]\n",
    )
    .expect("write config");
    let again = dir.path().join("again.csv");
    let lines: Vec<String> = ["email", "leaver10@example.com"].map(String::from).to_vec();
    let one = write_input(dir.path(), "one.csv", &lines);
    let mut b = ob_args(&sim, &one, &again, "revoke,delete");
    b.run.conn.config = Some(config.clone());
    b.transfer_to = Some("mgr.b@example.com".into());
    b.transfer_kinds = Some("whiteboard".into());
    assert_eq!(run_ob(&sim, &b).await, Exit::Success);
    assert_eq!(
        sim.state()
            .kinds_received("mgr.b@example.com", "leaver10@example.com"),
        [TransferKind::Whiteboard]
    );
    let (last, _) = by_step(&again);
    assert!(last.keys().all(|(_, s)| *s != Some(Step::Deactivate)));

    // A file that contradicts itself, or names an unknown step, is refused before any call.
    let sent = sim.state().requests.len();
    std::fs::write(
        &config,
        "[offboard]\nno_transfer = true\ntransfer_to = \"mgr.a@example.com\"\n",
    )
    .expect("write config");
    let mut c = ob_args(&sim, &one, &dir.path().join("c.csv"), "revoke");
    c.steps = None;
    c.run.conn.config = Some(config.clone());
    assert_eq!(run_ob(&sim, &c).await, Exit::Usage);
    std::fs::write(&config, "[offboard]\nsteps = \"revoke,suspend\"\n").expect("write");
    assert_eq!(run_ob(&sim, &c).await, Exit::Usage);
    assert_eq!(sim.state().requests.len(), sent, "nothing sent");
}
