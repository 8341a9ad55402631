//! The real binary's surface: report refusal and lock, file mode, first-call errors, help output.

use std::time::Duration;

use crate::common::bin::Bin;
use crate::common::wait_until;
use crate::revoke_support::*;
use zoom_offboard::sim::{Sim, SimConfig};

fn revoke_fast(sim: &Sim, input: &std::path::Path, report: &std::path::Path) -> Bin {
    revoke_cmd(sim, input, report).args(["--rate", "500"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_report_is_never_overwritten_and_is_created_0600() {
    let sim = started_with(200, SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let input = emails_file(&sim, dir.path(), 5);
    let report = dir.path().join("out.csv");
    let out = revoke_fast(&sim, &input, &report).run().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&report).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the report lists people");
    }
    let before = std::fs::read(&report).unwrap();
    let out = revoke_fast(&sim, &input, &report).run().await;
    assert_eq!(out.code, Some(2));
    let err = &out.stderr;
    assert!(
        err.contains("--resume"),
        "the refusal says what to do: {err}"
    );
    assert_eq!(std::fs::read(&report).unwrap(), before, "untouched");
    assert_eq!(
        sim.state().total_revocations(),
        5,
        "the second run sent nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_in_use_by_another_run_is_refused() {
    let sim = started_with(
        200,
        SimConfig {
            latency_ms: (200, 200),
            ..SimConfig::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = emails_file(&sim, dir.path(), 40);
    let report = dir.path().join("out.csv");
    let first = revoke_fast(&sim, &input, &report)
        .args(["--concurrency", "1"])
        .spawn();
    // Wait until the first run is under way (it holds the lock from before its first call).
    wait_until(
        "the first run's first call",
        Duration::from_secs(20),
        || sim.state().count("DELETE", "/token", None) >= 1,
    )
    .await;
    let out = revoke_fast(&sim, &input, &report)
        .arg("--resume")
        .run()
        .await;
    let first = first.kill().await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("another"),
        "{}",
        out.stderr
    );
    assert_eq!(first.code, None, "the first run was still going: {first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_missing_on_the_first_call_is_named_and_exits_2() {
    let sim = started_with(
        200,
        SimConfig {
            scopes: vec!["user:read:admin".into()],
            static_token: Some("static-abc".into()),
            ..SimConfig::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = emails_file(&sim, dir.path(), 5);
    let report = dir.path().join("out.csv");
    let out = revoke_fast(&sim, &input, &report)
        .env_remove("ZOOM_CLIENT_SECRET")
        .env_remove("ZOOM_CLIENT_ID")
        .env_remove("ZOOM_ACCOUNT_ID")
        .env("ZOOM_ACCESS_TOKEN", "static-abc")
        .run()
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let err = &out.stderr;
    assert!(
        err.contains("user:delete:token:admin"),
        "the scope is named: {err}"
    );
    assert_eq!(sim.state().count("DELETE", "/token", None), 1);
}

#[tokio::test]
async fn usage_errors_exit_2_with_clear_messages() {
    let out = Bin::new()
        .args([
            "revoke",
            "/nonexistent/users.csv",
            "--dry-run",
            "--config",
            "/dev/null",
        ])
        .run()
        .await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("/nonexistent/users.csv"),
        "{}",
        out.stderr
    );

    let out = Bin::new()
        .args([
            "revoke",
            "-u",
            "a@example.com",
            "--yes",
            "--config",
            "/dev/null",
        ])
        .args(["--base-url", "http://api.example.com/v2"])
        .env("ZOOM_ACCESS_TOKEN", "t")
        .run()
        .await;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("plain http"), "{}", out.stderr);

    // No credentials in the (cleared) environment, and none in a config file.
    let out = Bin::new()
        .args([
            "revoke",
            "-u",
            "a@example.com",
            "--yes",
            "--config",
            "/dev/null",
        ])
        .run()
        .await;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("no credentials"), "{}", out.stderr);
}

#[tokio::test]
async fn completions_and_man_page_come_from_the_clap_types() {
    let out = Bin::new().args(["completions", "bash"]).run().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("--dry-run"));
    let out = Bin::new().arg("man").run().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains(".TH zoom-offboard"));
}

#[tokio::test]
async fn the_standalone_simulator_stops_on_sigterm() {
    let mut sim = Bin::new()
        .args(["sim", "--port", "0", "--users", "10"])
        .limit(Duration::from_secs(20))
        .spawn();
    // Wait for the banner: the server is up and the signal watcher installed.
    sim.until_stdout("Serving until").await;
    sim.signal(libc::SIGTERM);
    let out = sim.wait().await;
    assert_eq!(out.code, Some(0), "SIGTERM is a clean stop: {out:?}");
}

#[tokio::test]
async fn the_standalone_simulator_writes_its_workforce_roster() {
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("hr.csv");
    let mut sim = Bin::new()
        .args([
            "sim",
            "--port",
            "0",
            "--users",
            "40",
            "--workforce",
            "--roster-out",
        ])
        .arg(roster.to_str().unwrap())
        .limit(Duration::from_secs(20))
        .spawn();
    sim.until_stdout("Serving until").await;
    sim.signal(libc::SIGTERM);
    let out = sim.wait().await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("HR roster: "), "{}", out.stdout);
    let written = std::fs::read_to_string(&roster).unwrap();
    assert_eq!(written, zoom_offboard::sim::workforce(40, 1).roster);
}

/// The number `demo` printed just before `label` in its "the simulator saw ..." line.
fn demo_count(stderr: &str, label: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("demo: the simulator saw"))
        .unwrap_or_else(|| panic!("no ground-truth line: {stderr}"));
    let before = line
        .split(label)
        .next()
        .filter(|b| b.len() < line.len())
        .unwrap_or_else(|| panic!("no {label:?} in {line}"));
    before
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before {label:?} in {line}"))
}

#[tokio::test]
async fn demo_runs_from_any_directory_with_the_users_built_into_the_binary() {
    // No fixtures/ here: the demo writes its built-in copy of fixtures/users.csv to the temp
    // folder and revokes those users, as it does from the repository.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("demo.csv");
    let out = Bin::new()
        .current_dir(dir.path())
        .args(["demo", "--no-progress", "--report"])
        .arg(&report)
        .run()
        .await;
    out.assert_clean();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("zoom-offboard-demo-users-")
            && out.stderr.contains("revoke's exit code would be 1"),
        "{}",
        out.stderr
    );
    let fixture = include_str!("../fixtures/users.csv");
    let rows = rows(&report);
    assert!(
        rows.len() > 390 && rows.len() < fixture.lines().count(),
        "every distinct fixture user has a row: {}",
        rows.len()
    );
}

#[tokio::test]
async fn demo_offboard_exits_0_and_the_simulator_removed_users() {
    use zoom_offboard::report::Status;
    use zoom_offboard::step::Step;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("demo.csv");
    let out = Bin::new()
        .args(["demo", "--offboard", "--no-progress", "--report"])
        .arg(&report)
        .run()
        .await;
    out.assert_clean();
    assert_eq!(
        out.code,
        Some(0),
        "refusals and skips are the demo working: {}",
        out.stderr
    );
    // What the simulator applied, as the demo printed it, against what the report says.
    let removed = demo_count(&out.stderr, "removed (disassociated)");
    let deactivated = demo_count(&out.stderr, "users deactivated");
    assert!(removed >= 40, "most of the 60 are removed: {}", out.stderr);
    let real = rows(&report);
    let final_rows = |step: Step, status: Status| {
        real.iter()
            .filter(|r| r.step == Some(step) && r.status == status)
            .count() as u64
    };
    assert_eq!(
        final_rows(Step::Disassociate, Status::Disassociated),
        removed
    );
    // Users already inactive are `deactivated` without a call: the simulator counts only the rest.
    let without_call = real
        .iter()
        .filter(|r| r.status == Status::Deactivated && r.message.starts_with("already inactive"))
        .count() as u64;
    assert!(without_call > 0, "the batch holds inactive users");
    assert_eq!(
        final_rows(Step::Deactivate, Status::Deactivated),
        deactivated + without_call
    );
    let owner = real
        .iter()
        .find(|r| r.user == "user00001@example.com" && r.step == Some(Step::Deactivate))
        .expect("the owner's deactivate row");
    assert_eq!(owner.status, Status::Refused, "{owner:?}");
    assert!(
        final_rows(Step::Disassociate, Status::Refused) > 0,
        "Zoom refuses managed-domain users: {}",
        out.stderr
    );
    // The dry run went first, next to the report, and sent no write.
    let plan = rows(&dir.path().join("demo-dry-run.csv"));
    assert!(plan.iter().any(|r| r.status == Status::WouldDisassociate));
    let changed = [
        Status::Revoked,
        Status::Deactivated,
        Status::Disassociated,
        Status::Deleted,
    ];
    assert!(
        plan.iter().all(|r| !changed.contains(&r.status)),
        "a dry run changes nobody"
    );
}
