//! revoke through an account-wide outage: nobody `failed` for it, few wasted calls, a bounded
//! wait (`--outage-wait`), and an API that cannot be reached at all stopping at once (exit 2).

use std::time::Duration;

use crate::revoke_support::*;
use zoom_offboard::exit::Exit;
use zoom_offboard::report::Status;
use zoom_offboard::sim::SimConfig;

#[tokio::test]
async fn a_13_second_outage_costs_no_failed_row_and_few_calls() {
    // 400 users at 100/s: about 4 s of work, with every call answered 503 from second 1 to
    // second 14 (the simulator's clock).
    let t = setup(
        SimConfig {
            outages: vec![Duration::from_secs(1)..Duration::from_secs(14)],
            ..fast_sim()
        },
        400,
    )
    .await;
    let mut a = t.args();
    a.rate = Some(100.0);
    a.max_retries = Some(3);
    let exit = run(&t.sim, &a).await;
    assert_eq!(exit, Exit::Success);
    let rows = rows(&t.report);
    assert_eq!(rows.len(), 400);
    assert!(rows.iter().all(|r| r.status == Status::Revoked), "{rows:?}");
    let state = t.sim.state();
    assert_eq!(state.total_revocations(), 400, "each revoked once");
    let wasted = state.count("DELETE", "/token", Some(503));
    assert!(
        (1..=40).contains(&wasted),
        "{wasted} calls answered 503: the outage was probed, not hammered"
    );
    assert!(
        t.sim.elapsed() >= Duration::from_secs(14),
        "the run waited the outage out"
    );
}

#[tokio::test]
async fn an_outage_longer_than_outage_wait_stops_with_pending_rows() {
    // The outage starts (on the simulator's clock) once 30 users are revoked, whenever that is
    // on a busy machine, and lasts longer than the run is allowed to wait (3 s).
    let outage = Duration::from_secs(60)..Duration::from_secs(600);
    let t = setup(
        SimConfig {
            outages: vec![outage.clone()],
            ..fast_sim()
        },
        300,
    )
    .await;
    let mut a = t.args();
    a.rate = Some(100.0);
    a.outage_wait = Some(3);
    let started = std::time::Instant::now();
    let (exit, ()) = tokio::join!(run(&t.sim, &a), outage_after(&t.sim, 30, outage.start));
    assert_eq!(exit, Exit::Stopped);
    let rows = rows(&t.report);
    assert_eq!(rows.len(), 300);
    assert!(
        rows.iter().all(|r| r.status != Status::Failed),
        "nobody failed for an outage"
    );
    let revoked = rows.iter().filter(|r| r.status == Status::Revoked).count();
    let pending = rows.iter().filter(|r| r.status == Status::Pending).count();
    assert_eq!(revoked + pending, 300);
    assert!(
        pending > 0 && revoked >= 30,
        "{revoked} revoked, {pending} pending"
    );
    assert_eq!(t.sim.state().total_revocations() as usize, revoked);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped after about 3 s of outage, not at its end: {:?}",
        started.elapsed()
    );
}

/// Moves the simulator's clock to `start` (an outage's first moment) once `revoked` users are
/// revoked: the outage then begins mid-run however slowly the run got going. A run that never
/// gets that far leaves the clock alone after a minute (and fails the test's assertions).
async fn outage_after(sim: &zoom_offboard::sim::Sim, revoked: u64, start: Duration) {
    let reached = tokio::time::timeout(Duration::from_secs(60), async {
        while sim.state().total_revocations() < revoked {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    if reached.is_ok() {
        sim.advance(start.saturating_sub(sim.elapsed()));
    }
}

#[tokio::test]
async fn an_api_that_cannot_be_reached_stops_at_once_with_exit_2() {
    // Nothing listens on port 9 of loopback: connection refused on the very first call.
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), "u.csv", &["a@example.com".to_string()]);
    let report = dir.path().join("r.csv");
    let out = revoke_cmd_with_base(&input, &report, "http://127.0.0.1:9/v2")
        .env("ZOOM_ACCESS_TOKEN", "unreachable-test-token")
        .run()
        .await;
    out.assert_clean();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("http://127.0.0.1:9/v2"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("connect"),
        "names the cause: {}",
        out.stderr
    );
    assert!(
        out.elapsed < Duration::from_secs(5),
        "at once: {:?}",
        out.elapsed
    );
    assert!(!report.exists(), "nothing was done: no report left behind");
}
