//! revoke under faults: 5xx, dropped connections, stalls, token expiry, scope loss, daily limit.

use std::time::Duration;

use crate::revoke_support::*;
use tokio_util::sync::CancellationToken;
use zoom_offboard::exit::Exit;
use zoom_offboard::report::Status;
use zoom_offboard::sim::SimConfig;

#[tokio::test]
async fn server_errors_drops_and_stalls_are_retried_to_success() {
    let t = setup(
        SimConfig {
            fault_5xx_before: 0.15,
            fault_5xx_after: 0.05,
            fault_drop: 0.05,
            fault_stall: 0.03,
            stall: Duration::from_secs(30),
            seed: 7,
            ..fast_sim()
        },
        60,
    )
    .await;
    let (sim, report) = (&t.sim, &t.report);
    let mut a = t.args();
    a.max_retries = Some(20);
    a.conn.timeout = Some(0.5);
    let exit = run(sim, &a).await;
    assert_eq!(exit, Exit::Success);
    let rows = rows(report);
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().all(|r| r.status == Status::Revoked));
    let state = sim.state();
    // Every user revoked at least once; a 5xx after the side effect can make it twice.
    assert_eq!(state.revocations.len(), 60);
    assert!(
        state.count("DELETE", "/token", Some(0)) > 0,
        "drops happened"
    );
    assert!(
        state.requests.iter().any(|r| r.status >= 500),
        "5xx happened"
    );
    assert!(
        rows.iter().any(|r| r.attempts > 1),
        "some users needed retries"
    );
}

#[tokio::test]
async fn retries_run_out_into_failed_with_zoom_details() {
    let t = setup(
        SimConfig {
            fault_5xx_before: 1.0,
            ..fast_sim()
        },
        3,
    )
    .await;
    let (sim, report) = (&t.sim, &t.report);
    let mut a = t.args();
    a.max_retries = Some(2);
    let exit = run(sim, &a).await;
    assert_eq!(exit, Exit::SomeFailed);
    let rows = rows(report);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r.status, Status::Failed);
        assert_eq!(r.attempts, 3);
        assert!(r.http_status.is_some_and(|s| s >= 500));
        assert!(r.tracking_id.is_some(), "tracking id kept for support");
    }
    assert_eq!(sim.state().count("DELETE", "/token", None), 9);
}

#[tokio::test]
async fn expired_token_is_renewed_once_for_all_workers() {
    let t = setup(
        SimConfig {
            latency_ms: (20, 40),
            ..fast_sim()
        },
        150,
    )
    .await;
    let sim = &t.sim;
    let mut a = t.args();
    a.rate = Some(100.0);
    a.concurrency = Some(8);
    let s2 = sim.config().clone();
    let _ = s2;
    let run_fut = run(sim, &a);
    let expire = async {
        // Expire every token once the run is well under way.
        while sim.state().total_revocations() < 40 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sim.expire_all_tokens();
    };
    let (exit, ()) = tokio::join!(run_fut, expire);
    assert_eq!(exit, Exit::Success);
    let state = sim.state();
    assert_eq!(
        state.tokens_issued, 2,
        "one initial token, one renewal for all 8 workers"
    );
    assert_eq!(state.revocations.len(), 150);
    assert!(
        state.requests.iter().any(|r| r.status == 401),
        "some calls saw the expiry"
    );
}

#[tokio::test]
async fn short_lived_tokens_are_renewed_ahead_of_expiry() {
    let t = setup(
        SimConfig {
            token_ttl: Duration::from_secs(2),
            ..fast_sim()
        },
        100,
    )
    .await;
    let sim = &t.sim;
    let mut a = t.args();
    a.rate = Some(25.0); // ~4 s: two token lifetimes
    let exit = run(sim, &a).await;
    assert_eq!(exit, Exit::Success);
    let state = sim.state();
    assert!(state.tokens_issued >= 2, "{}", state.tokens_issued);
    assert_eq!(state.revocations.len(), 100);
}

#[tokio::test]
async fn missing_scope_on_the_first_call_costs_one_call_and_exits_2() {
    let t = setup(
        SimConfig {
            scopes: vec!["user:read:admin".into()],
            static_token: Some("static-test-token".into()),
            ..fast_sim()
        },
        20,
    )
    .await;
    let (sim, report) = (&t.sim, &t.report);
    let a = t.args();
    let exit = run_with(
        &a,
        static_env("static-test-token".into()),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(exit, Exit::Usage);
    let state = sim.state();
    assert_eq!(state.count("DELETE", "/token", None), 1, "exactly one call");
    assert!(
        !report.exists(),
        "nothing was done: no report left to block the rerun"
    );
}

#[tokio::test]
async fn missing_scope_seen_in_the_token_costs_no_call() {
    let t = setup(
        SimConfig {
            scopes: vec!["user:read:admin".into()],
            ..fast_sim()
        },
        5,
    )
    .await;
    let (sim, report) = (&t.sim, &t.report);
    let exit = run(sim, &t.args()).await;
    assert_eq!(exit, Exit::Usage);
    assert_eq!(sim.state().count("DELETE", "/token", None), 0);
    assert!(!report.exists());
}

#[tokio::test]
async fn scope_lost_mid_run_stops_within_concurrency_calls_with_exit_3() {
    let t = setup(
        SimConfig {
            latency_ms: (10, 20),
            ..fast_sim()
        },
        200,
    )
    .await;
    let (sim, report) = (&t.sim, &t.report);
    let mut a = t.args();
    a.concurrency = Some(6);
    a.rate = Some(200.0);
    let revoke_fut = run(sim, &a);
    let lose = async {
        while sim.state().total_revocations() < 30 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sim.set_scopes(vec!["user:read:admin".into()]);
    };
    let (exit, ()) = tokio::join!(revoke_fut, lose);
    assert_eq!(exit, Exit::Stopped);
    let state = sim.state();
    let scope_errors = state.count("DELETE", "/token", Some(400));
    assert!(
        (1..=6).contains(&scope_errors),
        "{scope_errors} calls after the scope was lost"
    );
    let last = last_status(report);
    assert_eq!(last.len(), 200, "every user has a row");
    let pending = last.values().filter(|s| **s == Status::Pending).count();
    assert!(pending >= 200 - state.revocations.len() - 1);
    assert_eq!(
        last.values().filter(|s| **s == Status::Revoked).count(),
        state.revocations.len()
    );
}

#[tokio::test]
async fn daily_limit_stops_at_once_and_leaves_the_rest_pending() {
    let t = setup(
        SimConfig {
            light_per_day: Some(30),
            ..fast_sim()
        },
        100,
    )
    .await;
    let (sim, report) = (&t.sim, &t.report);
    let mut a = t.args();
    a.concurrency = Some(4);
    let exit = run(sim, &a).await;
    assert_eq!(exit, Exit::Stopped);
    let state = sim.state();
    assert_eq!(state.total_revocations(), 30);
    assert!(
        state.rejected_daily >= 1 && state.rejected_daily <= 4,
        "{}",
        state.rejected_daily
    );
    let last = last_status(report);
    assert_eq!(last.len(), 100);
    assert_eq!(last.values().filter(|s| **s == Status::Revoked).count(), 30);
    assert_eq!(last.values().filter(|s| **s == Status::Pending).count(), 70);
}
