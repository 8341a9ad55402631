//! The simulator's faults: 5xx before/after the side effect, dropped connections, stalls,
//! outage windows, latency, and their determinism per seed.
//!
//! Fault probabilities here are 0 or 1 (or a fixed seed compared with itself), so every
//! assertion is exact.

use std::error::Error as _;
use std::time::{Duration, Instant};

use zoom_offboard::sim::{Faults, SimConfig};

use crate::common::{self, bearer, header, json, revoke};

#[tokio::test]
async fn fault_5xx_before_does_not_revoke() {
    let sim = common::start(SimConfig {
        fault_5xx_before: 1.0,
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 6);
    for id in &ids {
        let r = revoke(&c, &sim, id, &auth).await;
        let status = r.status().as_u16();
        assert!([500, 502, 503].contains(&status), "{status}");
        assert!(!header(&r, "x-zm-trackingid").is_empty());
        assert_eq!(header(&r, "content-type"), "application/json");
        let v = json(r).await;
        assert_eq!(v["code"], status);
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let st = sim.state();
    assert!(st.revocations.is_empty());
    assert!(st.requests.iter().all(|r| r.status >= 500));
}

#[tokio::test]
async fn fault_5xx_after_revokes_anyway() {
    let sim = common::start(SimConfig {
        fault_5xx_after: 1.0,
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let id = common::active_ids(&sim, 1).remove(0);
    let r = revoke(&c, &sim, &id, &bearer(&sim)).await;
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(sim.state().revocations.get(&id), Some(&1));
}

#[tokio::test]
async fn fault_drop_closes_the_connection_without_an_answer() {
    let sim = common::start(SimConfig {
        fault_drop: 1.0,
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 2);
    let err = c
        .delete(format!("{}/users/{}/token", sim.base_url(), ids[0]))
        .header("Authorization", &auth)
        .send()
        .await
        .expect_err("a dropped connection is an error, not a status");
    assert!(err.status().is_none());
    assert!(!err.is_timeout());
    let mut chain = format!("{err}");
    let mut src = err.source();
    while let Some(s) = src {
        chain += &format!(" / {s}");
        src = s.source();
    }
    assert!(chain.contains("connection closed"), "{chain}");

    let st = sim.state();
    assert_eq!(st.requests.len(), 1);
    assert_eq!(
        st.requests[0].status, 0,
        "dropped requests are recorded with status 0"
    );
    assert_eq!(st.requests[0].user.as_deref(), Some(ids[0].as_str()));
    assert!(st.revocations.is_empty());

    // Faults off again: the next call succeeds on a new connection.
    sim.set_faults(Faults::default());
    assert_eq!(revoke(&c, &sim, &ids[1], &auth).await.status(), 204);
}

#[tokio::test]
async fn fault_stall_makes_the_client_time_out() {
    let sim = common::start(SimConfig {
        fault_stall: 1.0,
        stall: Duration::from_secs(30),
        ..common::roomy()
    })
    .await;
    let c = common::client_with_timeout(Duration::from_millis(300));
    let id = common::active_ids(&sim, 1).remove(0);
    let t0 = Instant::now();
    let err = c
        .delete(format!("{}/users/{id}/token", sim.base_url()))
        .header("Authorization", bearer(&sim))
        .send()
        .await
        .expect_err("stalled");
    assert!(err.is_timeout(), "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let st = sim.state();
    assert_eq!(st.requests[0].status, 0);
    assert!(st.revocations.is_empty());
    // Shutting down does not wait for the stall.
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .expect("shutdown ends stalled connections");
}

#[tokio::test]
async fn outage_window_answers_503_then_recovers() {
    let sim = common::start(SimConfig {
        outages: vec![Duration::ZERO..Duration::from_millis(1500)],
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let auth = bearer(&sim);
    let id = common::active_ids(&sim, 1).remove(0);
    let r = revoke(&c, &sim, &id, &auth).await;
    assert!(sim.elapsed() < Duration::from_millis(1500));
    assert_eq!(r.status(), 503);
    assert!(!header(&r, "x-zm-trackingid").is_empty());
    assert_eq!(json(r).await["code"], 503);
    let r = c
        .get(format!("{}/users", sim.base_url()))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(sim.state().revocations.is_empty());

    sim.advance(Duration::from_millis(1600).saturating_sub(sim.elapsed()));
    assert_eq!(revoke(&c, &sim, &id, &auth).await.status(), 204);
}

#[tokio::test]
async fn latency_delays_answers() {
    let sim = common::start(SimConfig {
        latency_ms: (250, 300),
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let id = common::active_ids(&sim, 1).remove(0);
    let t0 = Instant::now();
    assert_eq!(revoke(&c, &sim, &id, &bearer(&sim)).await.status(), 204);
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
}

async fn statuses_for_seed(seed: u64) -> Vec<u16> {
    let sim = common::start(SimConfig {
        seed,
        fault_5xx_before: 0.5,
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let auth = bearer(&sim);
    let mut out = Vec::new();
    for id in common::active_ids(&sim, 20) {
        out.push(revoke(&c, &sim, &id, &auth).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn faults_repeat_for_the_same_seed() {
    let a = statuses_for_seed(42).await;
    assert_eq!(a, statuses_for_seed(42).await);
    assert!(a.contains(&204) && a.iter().any(|&s| s >= 500), "{a:?}");
}

#[tokio::test]
async fn set_faults_makes_out_of_range_rates_valid() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 2);
    sim.set_faults(Faults {
        fault_5xx_before: 7.0,
        latency_ms: (20, 0),
        ..Faults::default()
    });
    assert!(
        revoke(&c, &sim, &ids[0], &auth)
            .await
            .status()
            .is_server_error()
    );
    assert!(
        zoom_offboard::sim::Sim::start(SimConfig {
            fault_drop: 0.7,
            fault_stall: 0.7,
            ..SimConfig::default()
        })
        .await
        .is_err(),
        "start refuses probabilities summing over 1"
    );
    sim.set_faults(Faults::default());
    assert_eq!(revoke(&c, &sim, &ids[1], &auth).await.status(), 204);
}

#[tokio::test]
async fn a_stalled_call_is_applied_only_if_its_client_waits() {
    let sim = common::start(SimConfig {
        fault_stall: 1.0,
        stall: Duration::from_millis(600),
        ..common::roomy()
    })
    .await;
    let ids = common::active_ids(&sim, 2);
    let auth = bearer(&sim);
    let impatient = common::client_with_timeout(Duration::from_millis(150));
    let err = revoke_err(&impatient, &sim, &ids[0], &auth).await;
    assert!(err.is_timeout(), "{err:?}");

    let patient = common::client_with_timeout(Duration::from_secs(10));
    let t0 = Instant::now();
    assert_eq!(revoke(&patient, &sim, &ids[1], &auth).await.status(), 204);
    assert!(t0.elapsed() >= Duration::from_millis(600));
    // By now the abandoned call's stall is long over: its connection closed, so it never ran.
    let st = sim.state();
    assert_eq!(st.requests[0].status, 0);
    assert!(!st.revocations.contains_key(&ids[0]));
    assert_eq!(st.revocations.get(&ids[1]), Some(&1));
}

async fn revoke_err(
    c: &reqwest::Client,
    sim: &zoom_offboard::sim::Sim,
    id: &str,
    auth: &str,
) -> reqwest::Error {
    c.delete(format!("{}/users/{id}/token", sim.base_url()))
        .header("Authorization", auth)
        .send()
        .await
        .expect_err("no answer expected")
}
