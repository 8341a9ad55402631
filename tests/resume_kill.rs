//! Stopping and resuming the real binary: SIGKILL at seeded points, SIGINT, the daily limit.

use std::path::Path;
use std::time::Duration;

use crate::common::bin::{BinRun, Running};
use crate::common::wait_until;
use crate::revoke_support::*;
use zoom_offboard::report::Status;
use zoom_offboard::sim::{Sim, SimConfig};

/// Starts the binary on `input` against `sim`, reporting to `report`.
fn spawn(sim: &Sim, input: &Path, report: &Path, extra: &[&str]) -> Running {
    revoke_cmd(sim, input, report)
        .args(["-q", "--plan", "business"])
        .args(extra)
        .spawn()
}

/// Waits (bounded) until the simulator has revoked `n` users.
async fn until_revoked(sim: &Sim, n: u64) {
    wait_until(&format!("{n} revocations"), Duration::from_secs(30), || {
        sim.state().total_revocations() >= n
    })
    .await;
}

/// Runs to the end: the exit code (-1 for a signal) and stderr.
async fn wait(run: Running) -> (i32, String) {
    let BinRun { code, stderr, .. } = run.wait().await;
    (code.unwrap_or(-1), stderr)
}

fn input_file(sim: &Sim, dir: &Path, n: usize) -> std::path::PathBuf {
    let mut lines = vec!["email".to_string()];
    lines.extend(active_emails(sim, n));
    write_input(dir, "users.csv", &lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_seeded_points_then_resume_revokes_everyone_once() {
    const USERS: usize = 120;
    const CONCURRENCY: usize = 4;
    for seed in 1..=5u64 {
        let sim = Sim::start(SimConfig {
            light_per_second: Some(2000),
            latency_ms: (5, 25),
            seed,
            users: zoom_offboard::sim::SimUsers::Generated(1000),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let input = input_file(&sim, dir.path(), USERS);
        let report = dir.path().join("out.csv");
        let conc = CONCURRENCY.to_string();
        // Fast enough that five seeds take a few seconds, slow enough that the kill lands
        // mid-run (the latest point leaves 25 users, about 125 ms of work).
        let extra = ["--rate", "200", "--concurrency", conc.as_str()];

        let child = spawn(&sim, &input, &report, &extra);
        // Kill at a point chosen by the seed: after 10..100 revocations.
        until_revoked(&sim, 10 + seed * 17).await;
        let killed = child.kill().await;
        assert_eq!(killed.code, None, "seed {seed}: still running when killed");
        let revoked_before = sim.state().total_revocations();
        assert!(
            revoked_before < USERS as u64,
            "seed {seed}: killed too late"
        );

        let (code, err) = wait(spawn(
            &sim,
            &input,
            &report,
            &[&extra[..], &["--resume"]].concat(),
        ))
        .await;
        assert_eq!(code, 0, "seed {seed}: resume exit code; stderr: {err}");

        let state = sim.state();
        assert_eq!(
            state.revocations.len(),
            USERS,
            "seed {seed}: everyone revoked"
        );
        let twice = state.revocations.values().filter(|&&n| n > 1).count();
        assert!(
            twice <= CONCURRENCY,
            "seed {seed}: {twice} users revoked twice; only those in flight at the kill may be"
        );
        let last = last_status(&report);
        assert_eq!(last.len(), USERS);
        assert!(last.values().all(|s| *s == Status::Revoked), "seed {seed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_leaves_pending_rows_and_exit_3() {
    let sim = Sim::start(SimConfig {
        light_per_second: Some(2000),
        latency_ms: (5, 25),
        users: zoom_offboard::sim::SimUsers::Generated(1000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = input_file(&sim, dir.path(), 150);
    let report = dir.path().join("out.csv");
    let child = spawn(&sim, &input, &report, &["--rate", "50"]);
    until_revoked(&sim, 20).await;
    child.signal(libc::SIGINT);
    let (code, err) = wait(child).await;
    assert_eq!(code, 3, "stderr: {err}");
    let last = last_status(&report);
    assert_eq!(last.len(), 150, "every user has a row");
    let pending = last.values().filter(|s| **s == Status::Pending).count();
    let revoked = last.values().filter(|s| **s == Status::Revoked).count();
    assert!(pending > 0);
    assert_eq!(revoked + pending, 150);
    assert_eq!(revoked, sim.state().revocations.len());
    assert!(
        err.contains("--resume"),
        "the summary says how to continue: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_limit_stop_resumes_the_next_day() {
    let sim = Sim::start(SimConfig {
        light_per_second: Some(2000),
        light_per_day: Some(70),
        users: zoom_offboard::sim::SimUsers::Generated(1000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = input_file(&sim, dir.path(), 120);
    let report = dir.path().join("out.csv");
    let (code, err) = wait(spawn(&sim, &input, &report, &["--rate", "500"])).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("daily"), "{err}");
    assert_eq!(sim.state().total_revocations(), 70);

    sim.new_day();
    let (code, err) = wait(spawn(&sim, &input, &report, &["--rate", "500", "--resume"])).await;
    assert_eq!(code, 0, "{err}");
    let state = sim.state();
    assert_eq!(state.revocations.len(), 120);
    assert!(state.revocations.values().all(|&n| n == 1));
}

#[tokio::test]
async fn no_terminal_and_no_yes_refuses_with_exit_2() {
    let sim = Sim::start(SimConfig {
        users: zoom_offboard::sim::SimUsers::Generated(1000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = input_file(&sim, dir.path(), 3);
    let report = dir.path().join("out.csv");
    // revoke_cmd passes --yes; this is the same command line without it.
    let cfg = sim.config();
    let out = crate::common::bin::Bin::new()
        .arg("revoke")
        .arg(&input)
        .arg("--report")
        .arg(&report)
        .args([
            "--base-url",
            &sim.base_url(),
            "--oauth-url",
            &sim.oauth_url(),
        ])
        .args(["--config", "/dev/null"])
        .env("ZOOM_ACCOUNT_ID", &cfg.account_id)
        .env("ZOOM_CLIENT_ID", &cfg.client_id)
        .env("ZOOM_CLIENT_SECRET", &cfg.client_secret)
        .run()
        .await;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(
        sim.state().requests.len(),
        0,
        "nothing sent, not even a token request"
    );
    assert!(!report.exists(), "no report left behind");
}
