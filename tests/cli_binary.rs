//! The real binary's surface: report refusal and lock, file mode, first-call errors, help output.

use std::process::{Command, Stdio};

use crate::revoke_support::*;
use zoom_offboard::sim::{Sim, SimConfig, SimUsers};

fn revoke_fast(sim: &Sim, input: &std::path::Path, report: &std::path::Path) -> Command {
    let mut c = revoke_cmd(sim, input, report);
    c.args(["--rate", "500"]);
    c
}

async fn started(cfg: SimConfig) -> Sim {
    Sim::start(SimConfig {
        users: SimUsers::Generated(200),
        light_per_second: Some(2000),
        ..cfg
    })
    .await
    .unwrap()
}

fn input(sim: &Sim, dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let mut lines = vec!["email".to_string()];
    lines.extend(active_emails(sim, n));
    write_input(dir, "users.csv", &lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_report_is_never_overwritten_and_is_created_0600() {
    let sim = started(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let input = input(&sim, dir.path(), 5);
    let report = dir.path().join("out.csv");
    let out = revoke_fast(&sim, &input, &report).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&report).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the report lists people");
    }
    let before = std::fs::read(&report).unwrap();
    let out = revoke_fast(&sim, &input, &report).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
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
    let sim = started(SimConfig {
        latency_ms: (200, 200),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = input(&sim, dir.path(), 40);
    let report = dir.path().join("out.csv");
    let mut first = revoke_fast(&sim, &input, &report)
        .args(["--concurrency", "1"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run is under way (it holds the lock from before its first call).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sim.state().count("DELETE", "/token", None) < 1 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let out = revoke_fast(&sim, &input, &report)
        .arg("--resume")
        .output()
        .unwrap();
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("another"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_missing_on_the_first_call_is_named_and_exits_2() {
    let sim = started(SimConfig {
        scopes: vec!["user:read:admin".into()],
        static_token: Some("static-abc".into()),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = input(&sim, dir.path(), 5);
    let report = dir.path().join("out.csv");
    let out = revoke_fast(&sim, &input, &report)
        .env_remove("ZOOM_CLIENT_SECRET")
        .env_remove("ZOOM_CLIENT_ID")
        .env_remove("ZOOM_ACCOUNT_ID")
        .env("ZOOM_ACCESS_TOKEN", "static-abc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("user:delete:token:admin"),
        "the scope is named: {err}"
    );
    assert_eq!(sim.state().count("DELETE", "/token", None), 1);
}

#[test]
fn usage_errors_exit_2_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "revoke",
            "/nonexistent/users.csv",
            "--dry-run",
            "--config",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/users.csv"));

    let out = bin()
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
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain http"));

    let out = bin()
        .args([
            "revoke",
            "-u",
            "a@example.com",
            "--yes",
            "--config",
            "/dev/null",
        ])
        .env_remove("ZOOM_ACCESS_TOKEN")
        .env_remove("ZOOM_CLIENT_SECRET")
        .env_remove("ZOOM_ACCOUNT_ID")
        .env_remove("ZOOM_CLIENT_ID")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no credentials"));
}

#[test]
fn completions_and_man_page_come_from_the_clap_types() {
    let out = bin().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--dry-run"));
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH zoom-offboard"));
}

#[test]
fn the_standalone_simulator_stops_on_sigterm() {
    use std::io::BufRead;
    let mut child = bin()
        .args(["sim", "--port", "0", "--users", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the banner: the server is up and the signal watcher installed.
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("Serving until")));
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sim ignored SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
