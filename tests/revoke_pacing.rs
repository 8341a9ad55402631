//! revoke's pacing against the simulator's rate limits: ceilings, 429 storms, shared budgets.

use crate::revoke_support::*;
use zoom_offboard::exit::Exit;
use zoom_offboard::report::Status;
use zoom_offboard::sim::{Sim, SimConfig};

#[tokio::test]
async fn no_one_second_window_above_the_rate_when_the_server_allows_more() {
    let sim = Sim::start(SimConfig {
        light_per_second: Some(500),
        latency_ms: (5, 30),
        users: zoom_offboard::sim::SimUsers::Generated(1000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users = active_emails(&sim, 70);
    let mut lines = vec!["email".to_string()];
    lines.extend(users);
    let input = write_input(dir.path(), "users.csv", &lines);
    let report = dir.path().join("out.csv");
    let mut a = args(&sim, &input, &report);
    a.rate = Some(25.0);
    let exit = run(&sim, &a).await;
    assert_eq!(exit, Exit::Success);
    let state = sim.state();
    let peak = state.peak_starts_per_second("DELETE", "/token");
    assert!(
        peak <= 25,
        "peak {peak} requests in one second at --rate 25"
    );
    assert!(peak >= 20, "and it does use the rate: peak {peak}");
    assert_eq!(state.rejected_qps, 0);
}

#[tokio::test]
async fn a_neighbour_taking_half_the_budget_is_survived_with_few_429s() {
    let sim = Sim::start(SimConfig {
        light_per_second: Some(40),
        neighbour_light_per_second: 20,
        latency_ms: (5, 30),
        seed: 3,
        users: zoom_offboard::sim::SimUsers::Generated(1000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users = active_emails(&sim, 90);
    let mut lines = vec!["email".to_string()];
    lines.extend(users);
    let input = write_input(dir.path(), "users.csv", &lines);
    let report = dir.path().join("out.csv");
    let mut a = args(&sim, &input, &report);
    a.rate = Some(40.0); // told the full budget: only the 429s can teach it otherwise
    a.max_retries = Some(10);
    let exit = run(&sim, &a).await;
    assert_eq!(exit, Exit::Success);
    assert!(rows(&report).iter().all(|r| r.status == Status::Revoked));
    let state = sim.state();
    let calls = state.count("DELETE", "/token", None);
    let throttled = state.count("DELETE", "/token", Some(429));
    assert!(throttled > 0, "the neighbour must have caused some 429s");
    assert!(
        (throttled as f64) < 0.10 * calls as f64,
        "{throttled} of {calls} calls throttled"
    );
    assert_eq!(state.revocations.len(), 90);
}

#[tokio::test]
async fn a_retry_after_on_a_per_second_429_is_honoured_by_the_throttled_call() {
    // A stricter server than Zoom sends `Retry-After: 1` with every per-second 429. Each
    // throttled user must wait that second before its next request (the run as a whole reads
    // such a hint as no hint: src/pacing.rs, unit-tested there).
    let sim = Sim::start(SimConfig {
        light_per_second: Some(20),
        qps_retry_after: true,
        latency_ms: (5, 30),
        seed: 5,
        users: zoom_offboard::sim::SimUsers::Generated(1000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec!["email".to_string()];
    lines.extend(active_emails(&sim, 60));
    let input = write_input(dir.path(), "users.csv", &lines);
    let report = dir.path().join("out.csv");
    let mut a = args(&sim, &input, &report);
    a.rate = Some(30.0); // over the server's 20/s: 429s are certain
    a.max_retries = Some(10);
    let exit = run(&sim, &a).await;
    assert_eq!(exit, Exit::Success);
    assert!(rows(&report).iter().all(|r| r.status == Status::Revoked));
    let state = sim.state();
    assert_eq!(state.revocations.len(), 60);
    let deletes: Vec<_> = state
        .requests
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.ends_with("/token"))
        .collect();
    let mut checked = 0;
    for (i, r) in deletes.iter().enumerate().filter(|(_, r)| r.status == 429) {
        let next = deletes[i + 1..]
            .iter()
            .find(|n| n.user == r.user)
            .expect("a throttled user is tried again");
        assert!(
            next.at_ms >= r.at_ms + 1000,
            "{:?}: retried {} ms after a 429 that said Retry-After: 1",
            r.user,
            next.at_ms - r.at_ms
        );
        checked += 1;
    }
    assert!(checked > 0, "the test needs 429s to check");
}
