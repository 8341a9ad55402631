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
