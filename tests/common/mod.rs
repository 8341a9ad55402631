//! Helpers shared by the integration tests: a simulator, an HTTP client, tokens, and (in [`bin`])
//! the one way to run the real binary.
#![allow(dead_code)]

pub mod bin;

use std::time::Duration;

use zoom_offboard::sim::{RequestRecord, Sim, SimConfig, UserStatus};

/// A reqwest client; installs the ring crypto provider first (reqwest is built without one).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .expect("build reqwest client")
}

/// A client whose requests time out after `timeout`.
pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("build reqwest client")
}

/// Starts a simulator on an ephemeral port.
pub async fn start(cfg: SimConfig) -> Sim {
    Sim::start(cfg).await.expect("start simulator")
}

/// Starts a simulator with the default config.
pub async fn start_default() -> Sim {
    start(SimConfig::default()).await
}

/// `Authorization` header value for a freshly minted token.
pub fn bearer(sim: &Sim) -> String {
    format!("Bearer {}", sim.issue_token())
}

/// Waits until `cond` holds, looking every 2 ms, and fails the test naming `what` if it does not
/// within `limit`: for waiting on the simulator's state while a run goes on (the event itself,
/// bounded, instead of a guess at how long it takes).
pub async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {limit:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Moves the simulator's clock to just after the start of its next one-second rate window (no
/// sleep), so a burst sent now lands well inside one window (about 950 ms of margin).
pub async fn at_window_start(sim: &Sim) {
    let ms = sim.elapsed().as_millis() as u64;
    let next = (ms / 1000 + 1) * 1000 + 20;
    sim.advance(Duration::from_millis(next - ms));
}

/// `DELETE /users/{user}/token` with `auth` (an `Authorization` value).
pub async fn revoke(c: &reqwest::Client, sim: &Sim, user: &str, auth: &str) -> reqwest::Response {
    c.delete(format!("{}/users/{user}/token", sim.base_url()))
        .header("Authorization", auth)
        .send()
        .await
        .expect("revoke request")
}

/// Ids of the first `n` Active users.
pub fn active_ids(sim: &Sim, n: usize) -> Vec<String> {
    let ids: Vec<String> = sim
        .users()
        .into_iter()
        .filter(|u| u.status == UserStatus::Active)
        .take(n)
        .map(|u| u.id)
        .collect();
    assert_eq!(ids.len(), n, "not enough active users");
    ids
}

/// A config whose rate limits never get in the way (for tests that are not about limits).
pub fn roomy() -> SimConfig {
    SimConfig {
        light_per_second: Some(100_000),
        medium_per_second: Some(100_000),
        ..SimConfig::default()
    }
}

/// Revokes every user in `users` at once (distinct users, so no same-user 429) and returns the
/// statuses, sorted.
pub async fn burst(sim: &Sim, users: &[String], auth: &str) -> Vec<u16> {
    let c = client();
    let mut set = tokio::task::JoinSet::new();
    for user in users {
        let (c, url, auth) = (
            c.clone(),
            format!("{}/users/{user}/token", sim.base_url()),
            auth.to_string(),
        );
        set.spawn(async move {
            c.delete(url)
                .header("Authorization", auth)
                .send()
                .await
                .expect("burst request")
                .status()
                .as_u16()
        });
    }
    let mut out = set.join_all().await;
    out.sort_unstable();
    out
}

/// How many of `statuses` equal `status`.
pub fn n_of(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|&&s| s == status).count()
}

/// The JSON body of a response.
pub async fn json(resp: reqwest::Response) -> serde_json::Value {
    resp.json().await.expect("JSON body")
}

/// A header's value as a string ("" if absent).
pub fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The listing calls (`GET /v2/users?...`) the simulator saw, in arrival order.
pub fn list_calls(sim: &Sim) -> Vec<RequestRecord> {
    sim.state()
        .requests
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v2/users?"))
        .collect()
}
