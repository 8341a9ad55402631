//! The seven bugs of issue 17, each with the test that shows it: written before the fix, failing
//! on the code that had the bug.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use zoom_offboard::exit::Exit;
use zoom_offboard::report::Status;
use zoom_offboard::sim::{SimConfig, SimUsers};
use zoom_offboard::step::Step;

use crate::common::bin::Bin;
use crate::offboard::{by_step, ob_args, run_ob};
use crate::revoke_support::*;

/// Asserts that `report` exists and every user in it is `pending`, `users` of them.
fn all_pending(report: &std::path::Path, users: usize) {
    assert!(report.exists(), "the report was removed");
    let last = last_status(report);
    assert_eq!(last.len(), users, "{last:?}");
    assert!(last.values().all(|s| *s == Status::Pending), "{last:?}");
}

/// Bug 1: a daily-limit 429 on the very first call is a stop a later run cures: exit 3, the
/// report kept with every user `pending` (it was exit 2 with the fresh report deleted).
#[tokio::test]
async fn bug1_daily_limit_on_the_first_call_is_exit_3_with_the_report_kept() {
    let t = setup(
        SimConfig {
            light_per_day: Some(0),
            ..fast_sim()
        },
        5,
    )
    .await;
    assert_eq!(run(&t.sim, &t.args()).await, Exit::Stopped);
    all_pending(&t.report, 5);
}

/// Bug 1, for `offboard`: the same stop in its first wave.
#[tokio::test]
async fn bug1_offboard_daily_limit_on_the_first_call_is_exit_3_with_the_report_kept() {
    let t = setup(
        SimConfig {
            light_per_day: Some(0),
            ..fast_sim()
        },
        4,
    )
    .await;
    let a = ob_args(&t.sim, &t.input, &t.report, "revoke,deactivate");
    assert_eq!(run_ob(&t.sim, &a).await, Exit::Stopped);
    let (last, _) = by_step(&t.report);
    assert_eq!(last.len(), 8, "every user and step has a row: {last:?}");
    assert!(last.values().all(|r| r.status == Status::Pending));
}

/// Bug 1, an outage from the first call on that outlasts `--outage-wait`: exit 3, report kept.
#[tokio::test]
async fn bug1_outage_from_the_first_call_is_exit_3_with_the_report_kept() {
    let t = setup(
        SimConfig {
            outages: vec![Duration::ZERO..Duration::from_secs(600)],
            ..fast_sim()
        },
        5,
    )
    .await;
    let mut a = t.args();
    a.outage_wait = Some(0);
    a.max_retries = Some(20);
    assert_eq!(run(&t.sim, &a).await, Exit::Stopped);
    all_pending(&t.report, 5);
}

/// Bug 1, Ctrl-C before the first call: exit 3, report kept, every user `pending`.
#[tokio::test]
async fn bug1_interrupt_before_the_first_call_is_exit_3_with_the_report_kept() {
    let t = setup(fast_sim(), 5).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let exit = run_with(&t.args(), s2s_env(&t.sim), cancel).await;
    assert_eq!(exit, Exit::Stopped);
    all_pending(&t.report, 5);
}

/// The `requests` figure of a run's summary on stderr.
fn summary_requests(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("requests"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no requests line in: {stderr}"))
}

/// Calls of `GET /v2/users` (the listing, any page) the simulator received.
fn list_calls(sim: &zoom_offboard::sim::Sim) -> usize {
    let state = sim.state();
    let listing = |p: &str| p.split('?').next().is_some_and(|p| p.ends_with("/users"));
    state
        .requests
        .iter()
        .filter(|r| r.method == "GET" && listing(&r.path))
        .count()
}

/// Bug 2: a `--lookup list` dry run counts each page once in the summary's `requests`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug2_listing_dry_run_counts_each_page_once() {
    let t = setup(
        SimConfig {
            users: SimUsers::Generated(700),
            ..fast_sim()
        },
        5,
    )
    .await;
    let out = revoke_cmd(&t.sim, &t.input, &t.report)
        .args(["--dry-run", "--lookup", "list"])
        .run()
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let pages = list_calls(&t.sim) as u64;
    assert!(pages >= 2, "{pages} pages");
    assert_eq!(summary_requests(&out.stderr), pages, "{}", out.stderr);
}

/// Bug 3: a listing that fails for a reason other than credentials says so (here a page that
/// kept answering 5xx), not "credentials rejected".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug3_a_listing_that_gives_up_is_not_reported_as_rejected_credentials() {
    let t = setup(fast_sim(), 5).await;
    t.sim.set_faults(zoom_offboard::sim::Faults {
        fault_5xx_before: 1.0,
        ..Default::default()
    });
    let out = revoke_cmd(&t.sim, &t.input, &t.report)
        .args(["--dry-run", "--lookup", "list", "--max-retries", "1"])
        .run()
        .await;
    out.assert_clean();
    assert!(
        !out.stderr.contains("credentials rejected"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("listing users failed"),
        "{}",
        out.stderr
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    all_pending(&t.report, 5);
}

/// The binary's `users` against `sim`, with its credentials and no config file unless given.
fn users_cmd(sim: &zoom_offboard::sim::Sim) -> Bin {
    let cfg = sim.config();
    Bin::new()
        .arg("users")
        .args([
            "--base-url",
            &sim.base_url(),
            "--oauth-url",
            &sim.oauth_url(),
        ])
        .env("ZOOM_ACCOUNT_ID", &cfg.account_id)
        .env("ZOOM_CLIENT_ID", &cfg.client_id)
        .env("ZOOM_CLIENT_SECRET", &cfg.client_secret)
        .limit(Duration::from_secs(30))
}

/// Bug 4: `users` takes `ZOOM_OFFBOARD_MAX_RETRIES` from the environment (flag > env > file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug4_users_reads_max_retries_from_the_environment() {
    let t = setup(fast_sim(), 1).await;
    t.sim.set_faults(zoom_offboard::sim::Faults {
        fault_5xx_before: 1.0,
        ..Default::default()
    });
    let out = users_cmd(&t.sim)
        .args(["--config", "/dev/null"])
        .env("ZOOM_OFFBOARD_MAX_RETRIES", "1")
        .run()
        .await;
    out.assert_clean();
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    // Page 1, the only call `users` makes before page 1 answers.
    assert_eq!(
        crate::common::list_calls(&t.sim).len(),
        2,
        "one try, one retry"
    );
}

/// Bug 4: `users` takes `max_retries` and `outage_wait` from the config file: with many retries
/// and no outage wait, an account-wide outage stops the listing at once (exit 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug4_users_reads_outage_wait_and_max_retries_from_the_config_file() {
    let t = setup(fast_sim(), 1).await;
    t.sim.set_faults(zoom_offboard::sim::Faults {
        fault_5xx_before: 1.0,
        ..Default::default()
    });
    let config = t.dir.path().join("z.toml");
    std::fs::write(&config, "max_retries = 30\noutage_wait = 0\n").unwrap();
    let out = users_cmd(&t.sim).arg("--config").arg(&config).run().await;
    out.assert_clean();
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("Zoom has been failing"),
        "{}",
        out.stderr
    );
    let calls = list_calls(&t.sim);
    assert!(calls > 7, "more than the default's 7 tries: {calls}");
}

/// Bug 5: the message for missing credentials has no run of spaces from a broken line
/// continuation.
#[tokio::test]
async fn bug5_users_without_credentials_says_so_in_one_clean_line() {
    let out = Bin::new()
        .args(["users", "--config", "/dev/null"])
        .env_remove("ZOOM_ACCOUNT_ID")
        .env_remove("ZOOM_CLIENT_ID")
        .env_remove("ZOOM_CLIENT_SECRET")
        .env_remove("ZOOM_ACCESS_TOKEN")
        .run()
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("ZOOM_ACCESS_TOKEN"), "{}", out.stderr);
    assert!(!out.stderr.contains("  "), "{:?}", out.stderr);
}

/// Bug 7: one resume rule for both commands. A user `excluded` in an earlier run of the report
/// is not requested again by a resume, whether the report is `revoke`'s or `offboard`'s (the
/// contract: a user whose last row is `excluded` is not requested again).
#[tokio::test]
async fn bug7_offboard_resumes_an_excluded_user_like_revoke_does() {
    for offboard in [false, true] {
        let t = setup(fast_sim(), 3).await;
        let emails = active_emails(&t.sim, 3);
        let exclude = write_input(t.dir.path(), "exclude.txt", &emails[..1]);
        let mut first = t.args();
        first.exclude = Some(exclude);
        let mut again = t.args();
        again.resume = true;
        if offboard {
            let mut a = ob_args(&t.sim, &t.input, &t.report, "revoke");
            a.run.exclude = first.exclude.clone();
            assert_eq!(run_ob(&t.sim, &a).await, Exit::Success);
            a.run = again.clone();
            a.run.rate = Some(500.0);
            assert_eq!(run_ob(&t.sim, &a).await, Exit::Success);
            let (last, _) = by_step(&t.report);
            let key = (emails[0].to_lowercase(), None::<Step>);
            assert_eq!(last[&key].status, Status::Excluded);
        } else {
            assert_eq!(run(&t.sim, &first).await, Exit::Success);
            assert_eq!(run(&t.sim, &again).await, Exit::Success);
        }
        let excluded_id = t
            .sim
            .users()
            .into_iter()
            .find(|u| u.email == emails[0])
            .map(|u| u.id)
            .unwrap();
        let revoked = t.sim.state().revocations;
        assert!(
            !revoked.contains_key(&excluded_id),
            "offboard={offboard}: the excluded user was revoked on resume: {revoked:?}"
        );
        assert_eq!(revoked.len(), 2, "offboard={offboard}: {revoked:?}");
    }
}
