//! The simulator's rate limits: window and bucket models, neighbour load, daily limit, header
//! omission, same-user concurrency.
//!
//! Bursts are sent right after a window edge (`common::at_window_start`), leaving ~950 ms for a
//! burst that takes a few ms, and bucket tests refill slowly (1 token/s), so no result depends
//! on scheduling luck.

use std::time::Duration;

use serde_json::json;
use zoom_offboard::plan::Plan;
use zoom_offboard::sim::{LimitModel, Sim, SimConfig};

use crate::common::{self, at_window_start, bearer, burst, header, json, n_of, revoke};

const QPS_MESSAGE: &str =
    "You have reached the maximum per-second rate limit for this API. Try again later.";

async fn get_user(c: &reqwest::Client, sim: &Sim, id: &str, auth: &str) -> reqwest::Response {
    c.get(format!("{}/users/{id}", sim.base_url()))
        .header("Authorization", auth)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn window_model_admits_the_plan_ceiling_per_window() {
    let sim = common::start(SimConfig {
        plan: Plan::Free,
        ..SimConfig::default()
    })
    .await;
    let c = common::client();
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 12);
    at_window_start(&sim).await;
    let statuses = burst(&sim, &ids[..10], &auth).await;
    assert_eq!(n_of(&statuses, 204), 4, "{statuses:?}");
    assert_eq!(n_of(&statuses, 429), 6, "{statuses:?}");
    assert_eq!(sim.state().peak_starts_per_second("DELETE", "/token"), 10);

    // Same window: Light is spent (every Light endpoint shares it), Medium is not.
    let r = get_user(&c, &sim, &ids[10], &auth).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-ratelimit-category"), "Light");
    assert_eq!(header(&r, "x-ratelimit-type"), "QPS");
    assert_eq!(header(&r, "x-ratelimit-limit"), "4");
    assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&r, "retry-after"), "");
    assert_eq!(header(&r, "content-type"), "application/json");
    assert!(!header(&r, "x-zm-trackingid").is_empty());
    assert_eq!(json(r).await, json!({"code": 429, "message": QPS_MESSAGE}));
    let r = c
        .get(format!("{}/users", sim.base_url()))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        sim.elapsed().as_millis() % 1000 < 900,
        "test stayed in one window"
    );

    // The next window has a fresh budget.
    at_window_start(&sim).await;
    assert_eq!(revoke(&c, &sim, &ids[11], &auth).await.status(), 204);

    let st = sim.state();
    assert_eq!(st.rejected_qps, 7);
    assert_eq!(st.total_revocations(), 5);
    assert_eq!(st.count("DELETE", "/token", Some(429)), 6);
}

#[tokio::test]
async fn medium_label_has_its_own_ceiling() {
    let sim = common::start(SimConfig {
        medium_per_second: Some(2),
        ..SimConfig::default()
    })
    .await;
    let c = common::client();
    let auth = bearer(&sim);
    at_window_start(&sim).await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let r = c
            .get(format!("{}/users?page_size=1", sim.base_url()))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        last = Some(r);
    }
    assert_eq!(statuses, [200, 200, 429]);
    let r = last.unwrap();
    assert_eq!(header(&r, "x-ratelimit-category"), "Medium");
    assert_eq!(header(&r, "x-ratelimit-limit"), "2");
}

#[tokio::test]
async fn neighbour_load_shrinks_the_window_budget() {
    let sim = common::start(SimConfig {
        light_per_second: Some(10),
        neighbour_light_per_second: 7,
        ..SimConfig::default()
    })
    .await;
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 20);
    at_window_start(&sim).await;
    let statuses = burst(&sim, &ids[..10], &auth).await;
    assert_eq!(n_of(&statuses, 204), 3, "{statuses:?}");

    sim.set_neighbour_light_per_second(0);
    at_window_start(&sim).await;
    let statuses = burst(&sim, &ids[10..], &auth).await;
    assert_eq!(n_of(&statuses, 204), 10, "{statuses:?}");
    assert_eq!(sim.state().rejected_qps, 7);
}

#[tokio::test]
async fn token_bucket_admits_its_capacity_then_refills() {
    // Capacity 5, refill (5 - 4) = 1 token per second: a burst taking well under a second
    // gets exactly the 5 tokens the full bucket holds.
    let sim = common::start(SimConfig {
        limit_model: LimitModel::TokenBucket,
        light_per_second: Some(5),
        neighbour_light_per_second: 4,
        ..SimConfig::default()
    })
    .await;
    let c = common::client();
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 11);
    let statuses = burst(&sim, &ids[..10], &auth).await;
    assert_eq!(n_of(&statuses, 204), 5, "{statuses:?}");
    assert_eq!(n_of(&statuses, 429), 5, "{statuses:?}");
    sim.advance(Duration::from_millis(1100));
    let r = revoke(&c, &sim, &ids[10], &auth).await;
    assert_eq!(r.status(), 204, "one token refilled");
    assert_eq!(sim.state().rejected_qps, 5);
}

#[tokio::test]
async fn window_model_with_the_same_numbers_admits_only_the_spare_budget() {
    let sim = common::start(SimConfig {
        limit_model: LimitModel::Window,
        light_per_second: Some(5),
        neighbour_light_per_second: 4,
        ..SimConfig::default()
    })
    .await;
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 10);
    at_window_start(&sim).await;
    let statuses = burst(&sim, &ids, &auth).await;
    assert_eq!(n_of(&statuses, 204), 1, "{statuses:?}");
}

#[tokio::test]
async fn daily_limit_answers_retry_after_midnight_until_a_new_day() {
    let sim = common::start(SimConfig {
        light_per_day: Some(3),
        ..SimConfig::default()
    })
    .await;
    let c = common::client();
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 6);
    let mut statuses = Vec::new();
    let mut last = None;
    for id in &ids[..5] {
        let r = revoke(&c, &sim, id, &auth).await;
        statuses.push(r.status().as_u16());
        last = Some(r);
    }
    assert_eq!(statuses, [204, 204, 204, 429, 429]);
    let r = last.unwrap();
    assert_eq!(header(&r, "x-ratelimit-category"), "Light");
    assert_eq!(header(&r, "x-ratelimit-type"), "Daily-limit");
    assert_eq!(header(&r, "x-ratelimit-limit"), "3");
    assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
    let retry = chrono::DateTime::parse_from_rfc3339(&header(&r, "retry-after"))
        .expect("Retry-After is RFC 3339");
    let now = chrono::Utc::now();
    assert!(
        retry > now && retry <= now + chrono::Duration::hours(24),
        "{retry}"
    );
    assert_eq!(retry.format("%H:%M:%S").to_string(), "00:00:00");
    assert!(header(&r, "retry-after").ends_with('Z'));
    assert_eq!(
        json(r).await,
        json!({"code": 429, "message": "You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request."})
    );
    // Medium has no daily limit here.
    let r = c
        .get(format!("{}/users", sim.base_url()))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    sim.new_day();
    assert_eq!(revoke(&c, &sim, &ids[5], &auth).await.status(), 204);
    let st = sim.state();
    assert_eq!(st.rejected_daily, 2);
    assert_eq!(st.rejected_qps, 0);
    assert_eq!(st.total_revocations(), 4);
}

#[tokio::test]
async fn omitted_rate_headers_keep_the_body() {
    let sim = common::start(SimConfig {
        light_per_second: Some(1),
        light_per_day: Some(2),
        omit_rate_headers: true,
        ..SimConfig::default()
    })
    .await;
    let c = common::client();
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 4);
    at_window_start(&sim).await;
    assert_eq!(revoke(&c, &sim, &ids[0], &auth).await.status(), 204);
    let r = revoke(&c, &sim, &ids[1], &auth).await;
    assert_eq!(r.status(), 429);
    for h in [
        "x-ratelimit-category",
        "x-ratelimit-type",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "retry-after",
    ] {
        assert!(r.headers().get(h).is_none(), "{h} should be omitted");
    }
    assert!(!header(&r, "x-zm-trackingid").is_empty());
    assert_eq!(json(r).await["message"], QPS_MESSAGE);

    at_window_start(&sim).await;
    assert_eq!(revoke(&c, &sim, &ids[2], &auth).await.status(), 204);
    // Same window: the daily budget (checked first) is spent, so this is the daily 429.
    let r = revoke(&c, &sim, &ids[3], &auth).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    assert!(r.headers().get("x-ratelimit-type").is_none());
    assert!(json(r).await["message"].as_str().unwrap().contains("daily"));
}

#[tokio::test]
async fn concurrent_mutations_of_one_user_get_429() {
    let sim = common::start(SimConfig {
        latency_ms: (400, 400),
        ..common::roomy()
    })
    .await;
    let auth = bearer(&sim);
    let id = common::active_ids(&sim, 1).remove(0);
    let c = common::client();
    let url = format!("{}/users/{id}/token", sim.base_url());
    let send = || c.delete(&url).header("Authorization", &auth).send();
    let (a, b) = tokio::join!(send(), send());
    let (a, b) = (a.unwrap(), b.unwrap());
    let (ok, busy) = if a.status() == 204 { (a, b) } else { (b, a) };
    assert_eq!(ok.status(), 204);
    assert_eq!(busy.status(), 429);
    assert_eq!(header(&busy, "x-ratelimit-category"), "Light");
    assert_eq!(header(&busy, "x-ratelimit-type"), "QPS");
    assert_eq!(
        json(busy).await,
        json!({"code": 429, "message": "Too many concurrent requests."})
    );
    let st = sim.state();
    assert_eq!(st.rejected_concurrent, 1);
    assert_eq!(st.rejected_qps, 0);
    assert_eq!(st.revocations.get(&id), Some(&1));

    // Reads of one user, and mutations of different users, may overlap.
    let get = || {
        c.get(format!("{}/users/{id}", sim.base_url()))
            .header("Authorization", &auth)
            .send()
    };
    let (a, b) = tokio::join!(get(), get());
    assert_eq!(
        (a.unwrap().status().as_u16(), b.unwrap().status().as_u16()),
        (200, 200)
    );
    let ids = common::active_ids(&sim, 6);
    let statuses = burst(&sim, &ids[1..], &auth).await;
    assert_eq!(statuses, [204; 5]);
    assert_eq!(sim.state().peak_in_flight, 5);
    assert_eq!(sim.state().rejected_concurrent, 1);
}

#[tokio::test]
async fn transit_delays_the_moment_a_window_counts_a_request() {
    // 5 per window, each request counted 300 ms after it arrives. The simulator's clock is
    // frozen, so every request arrives at the moment the test set, however loaded the machine.
    let sim = common::start(SimConfig {
        light_per_second: Some(5),
        transit_ms: (300, 300),
        frozen_clock: true,
        ..SimConfig::default()
    })
    .await;
    let auth = bearer(&sim);
    let ids = common::active_ids(&sim, 6);
    at_window_start(&sim).await;
    // 800 ms into window k: without transit these 5 would fill window k; with it they are
    // counted around k + 1.1 s, in window k + 1 (100 ms early and 200 ms late to spare).
    sim.advance(Duration::from_millis(780));
    let sent = std::time::Instant::now();
    let statuses = burst(&sim, &ids[..5], &auth).await;
    assert_eq!(statuses, [204; 5]);
    assert!(
        sent.elapsed() >= Duration::from_millis(300),
        "answered after the transit, with no latency configured: {:?}",
        sent.elapsed()
    );
    // 300 ms later (the burst's transit, on the frozen clock): arrives early in window k + 1,
    // which the first five already fill (without transit it would be the first of a fresh
    // window: 204).
    sim.advance(Duration::from_millis(300));
    let r = revoke(&common::client(), &sim, &ids[5], &auth).await;
    assert_eq!(r.status(), 429);
    // Read from the recorded arrivals, not from how long the test took: the burst arrived in
    // one window and was counted in the next; the sixth was counted in that same next window.
    let at: Vec<u64> = sim.state().requests.iter().map(|r| r.at_ms).collect();
    let window = |ms: u64| ms / 1000;
    let counted = |ms: u64| (ms + 300) / 1000;
    assert!(
        at[..5]
            .iter()
            .all(|&a| window(a) == window(at[0]) && counted(a) == window(at[0]) + 1),
        "the burst arrived in one window and was counted in the next: {at:?}"
    );
    assert_eq!(
        counted(at[5]),
        counted(at[0]),
        "counted in the same window as the burst: {at:?}"
    );
    // Arrival times are recorded when requests arrive, before the transit.
    let st = sim.state();
    assert_eq!(st.rejected_qps, 1);
    assert_eq!(st.peak_starts_per_second("DELETE", "/token"), 6);
}

#[tokio::test]
async fn transit_draws_leave_the_fault_draws_unchanged() {
    // Same seed, faults on every other call on average: the transit RNG is separate, so the
    // same sequence of calls meets the same faults with and without transit.
    async fn statuses(transit_ms: (u64, u64)) -> Vec<u16> {
        let sim = common::start(SimConfig {
            transit_ms,
            fault_5xx_before: 0.5,
            seed: 42,
            ..common::roomy()
        })
        .await;
        let (c, auth) = (common::client(), bearer(&sim));
        let mut out = Vec::new();
        for id in common::active_ids(&sim, 12) {
            out.push(revoke(&c, &sim, &id, &auth).await.status().as_u16());
        }
        out
    }
    let plain = statuses((0, 0)).await;
    assert!(
        plain.contains(&204) && plain.iter().any(|s| *s >= 500),
        "{plain:?}"
    );
    assert_eq!(statuses((0, 3)).await, plain);
}

#[test]
fn transit_flag_parses_and_a_reversed_range_is_refused() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: zoom_offboard::sim::SimArgs,
    }
    let parse = |args: &[&str]| {
        Cli::try_parse_from(std::iter::once("sim").chain(args.iter().copied())).map(|c| c.sim)
    };
    let args = parse(&["--transit-ms", "30..120"]).unwrap();
    assert_eq!(args.to_config().unwrap().transit_ms, (30, 120));
    assert_eq!(parse(&[]).unwrap().to_config().unwrap().transit_ms, (0, 0));
    assert!(parse(&["--transit-ms", "120..30"]).is_err());
    let reversed = SimConfig {
        transit_ms: (120, 30),
        ..SimConfig::default()
    };
    assert!(reversed.validate().is_err());
}
