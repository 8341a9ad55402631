//! revoke under faults: 5xx, dropped connections, stalls, token expiry, scope loss, daily limit.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::wait_until;
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
    // One user whose every call fails while the rest of the account answers: not an outage,
    // so that user is `failed` after --max-retries, and nobody else is.
    let cfg = fast_sim();
    let users = zoom_offboard::sim::generate_users(1000, cfg.seed);
    let doomed = users[3].email.clone();
    let t = setup(
        SimConfig {
            failing_users: vec![doomed.clone()],
            ..cfg
        },
        20,
    )
    .await;
    let (sim, report) = (&t.sim, &t.report);
    let mut a = t.args();
    a.max_retries = Some(2);
    let exit = run(sim, &a).await;
    assert_eq!(exit, Exit::SomeFailed);
    let rows = rows(report);
    assert_eq!(rows.len(), 20);
    for r in &rows {
        if r.user.eq_ignore_ascii_case(&doomed) {
            assert_eq!(r.status, Status::Failed);
            assert_eq!(r.attempts, 3);
            assert!(r.http_status.is_some_and(|s| s >= 500));
            assert!(r.tracking_id.is_some(), "tracking id kept for support");
            assert!(
                r.message.starts_with("gave up after 3 attempts"),
                "{}",
                r.message
            );
        } else {
            assert_eq!(r.status, Status::Revoked, "{r:?}");
        }
    }
    assert_eq!(sim.state().count("DELETE", "/token", Some(500)), 3);
}

#[tokio::test]
async fn expired_token_is_renewed_once_for_all_workers() {
    const WORKERS: usize = 8;
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
    a.concurrency = Some(WORKERS);
    // Calls take 40 ms to reach the simulator, so several workers' calls are on their way with
    // the old token when it expires, and are refused together (the simulator checks the token
    // on arrival; with a direct connection, the first refusal is back before a second call
    // leaves, and a single worker would ever see the expiry).
    let api = slow_forwarder(sim.addr(), Duration::from_millis(40)).await;
    a.conn.base_url = Some(format!("http://{api}/v2"));
    let run_fut = run(sim, &a);
    let expire = async {
        // Expire every token once the run is well under way.
        wait_until("40 revocations", Duration::from_secs(30), || {
            sim.state().total_revocations() >= 40
        })
        .await;
        // Nothing runs between these two lines (one-thread runtime, no await): every request
        // logged from `cut` on arrived after the expiry.
        let cut = sim.state().requests.len();
        sim.expire_all_tokens();
        cut
    };
    let (exit, cut) = tokio::join!(run_fut, expire);
    assert_eq!(exit, Exit::Success);
    let state = sim.state();
    assert_eq!(
        state.tokens_issued, 2,
        "one initial token, one renewal for all {WORKERS} workers"
    );
    assert_eq!(state.revocations.len(), 150);
    assert!(state.revocations.values().all(|&n| n == 1));
    let api: Vec<_> = state
        .requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.path.starts_with("/v2/"))
        .collect();
    let stale: Vec<_> = api.iter().filter(|(_, r)| r.expired_token).collect();
    assert!(!stale.is_empty(), "some calls saw the expiry");
    assert!(
        api.iter().all(|(_, r)| r.status != 401 || r.expired_token),
        "every 401 was the expiry (no invalid token was ever sent)"
    );
    // After the expiry the old token is refused, so the first call accepted from `cut` on
    // carried the renewed token: from then on, nobody may use the expired one.
    let first_fresh = api
        .iter()
        .find(|(i, r)| *i >= cut && r.status != 401)
        .map(|(i, _)| *i)
        .expect("calls after the expiry succeeded");
    let late: Vec<_> = stale.iter().filter(|(i, _)| *i > first_fresh).collect();
    assert!(
        late.is_empty(),
        "calls with the expired token after the renewal was in use: {late:?}"
    );
    // Each worker learns of the expiry from at most one call of its own, and a user's retry
    // carries the new token.
    assert!(
        (2..=WORKERS).contains(&stale.len()),
        "{} calls with the expired token, {WORKERS} workers: several saw it, each once",
        stale.len()
    );
    let mut users: Vec<_> = stale.iter().map(|(_, r)| r.user.clone()).collect();
    users.sort();
    users.dedup();
    assert_eq!(
        users.len(),
        stale.len(),
        "a user retried with the expired token"
    );
}

#[tokio::test]
async fn short_lived_tokens_are_renewed_ahead_of_expiry() {
    const TTL: Duration = Duration::from_secs(2);
    let t = setup(
        SimConfig {
            token_ttl: TTL,
            ..fast_sim()
        },
        60,
    )
    .await;
    let sim = &t.sim;
    let mut a = t.args();
    a.rate = Some(25.0); // ~2.4 s: more than one token lifetime
    let exit = run(sim, &a).await;
    assert_eq!(exit, Exit::Success);
    let state = sim.state();
    assert_eq!(state.revocations.len(), 60);
    assert!(state.revocations.values().all(|&n| n == 1));
    // Ahead of expiry: no call ever carried an expired token (renewing only on a 124 would).
    assert_eq!(
        state.requests.iter().filter(|r| r.expired_token).count(),
        0,
        "a call was made with an expired token"
    );
    assert_eq!(state.count("DELETE", "/token", Some(401)), 0);
    // And renewed, not fetched per call: the run outlived a token, and each token served
    // most of its life.
    let fetched: Vec<u64> = state
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/oauth/token"))
        .map(|r| r.at_ms)
        .collect();
    assert!(fetched.len() >= 2, "renewed during the run: {fetched:?}");
    assert_eq!(fetched.len() as u64, state.tokens_issued);
    assert!(
        fetched
            .windows(2)
            .all(|w| w[1] - w[0] >= TTL.as_millis() as u64 / 2),
        "a token renewed long before it had to be: {fetched:?}"
    );
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
        wait_until("30 revocations", Duration::from_secs(30), || {
            sim.state().total_revocations() >= 30
        })
        .await;
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
    // Everyone not revoked is left `pending` for a rerun (the user whose call met the lost
    // scope too): nothing is `failed`, and the report's revoked rows are the simulator's.
    let pending = last.values().filter(|s| **s == Status::Pending).count();
    let revoked = last.values().filter(|s| **s == Status::Revoked).count();
    assert_eq!(revoked, state.revocations.len());
    assert!(state.revocations.values().all(|&n| n == 1));
    assert_eq!(pending + revoked, 200, "{last:?}");
    assert!(pending > 0);
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

/// A loopback TCP forwarder to `upstream` that holds every chunk the client sends for `delay`
/// (each request, even on a kept-alive connection): a slow endpoint in front of the simulator.
async fn slow_forwarder(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let up = async move {
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = from_client.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        tokio::time::sleep(delay).await;
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                };
                tokio::join!(up, down);
            });
        }
    });
    addr
}
