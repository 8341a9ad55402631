//! Dry runs (both lookup strategies, no credentials) and `users` listing, against the simulator.

use std::time::Duration;

use crate::common::bin::Bin;
use crate::common::wait_until;
use crate::revoke_support::*;
use tokio_util::sync::CancellationToken;
use zoom_offboard::app::{Context, users, users_at};
use zoom_offboard::cli::{ConnectionArgs, ListingArgs, RoleFilter, UsersArgs};
use zoom_offboard::dryrun::Lookup;
use zoom_offboard::exit::Exit;
use zoom_offboard::report::Status;
use zoom_offboard::sim::{PageNumbers, Sim, SimConfig, SimUser, SimUsers, UserStatus};

fn with_ghosts(sim: &Sim, dir: &std::path::Path, n: usize, ghosts: usize) -> std::path::PathBuf {
    let mut lines = vec!["email".to_string()];
    lines.extend(active_emails(sim, n));
    lines.extend((0..ghosts).map(|i| format!("ghost{i}@example.com")));
    write_input(dir, "users.csv", &lines)
}

#[tokio::test]
async fn dry_run_looks_each_user_up_and_sends_no_write() {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = with_ghosts(&sim, dir.path(), 15, 5);
    let report = dir.path().join("dry.csv");
    let mut a = args(&sim, &input, &report);
    a.dry_run = true;
    a.lookup = Lookup::Auto; // 20 users: under a page, so one GET each
    let exit = run(&sim, &a).await;
    assert_eq!(exit, Exit::SomeFailed, "ghosts are not_found");
    let rows = rows(&report);
    assert_eq!(rows.len(), 20);
    let would: Vec<_> = rows
        .iter()
        .filter(|r| r.status == Status::WouldRevoke)
        .collect();
    assert_eq!(would.len(), 15);
    assert!(
        would
            .iter()
            .all(|r| r.name.is_some() && r.zoom_status.as_deref() == Some("active"))
    );
    assert_eq!(
        rows.iter().filter(|r| r.status == Status::NotFound).count(),
        5
    );
    let state = sim.state();
    assert_eq!(
        state.count("DELETE", "", None),
        0,
        "a dry run sends no write request"
    );
    assert_eq!(
        state.requests.iter().filter(|r| r.method == "GET").count(),
        20
    );
    assert_eq!(state.total_revocations(), 0);
}

#[tokio::test]
async fn dry_run_by_listing_pages_the_account_instead() {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = with_ghosts(&sim, dir.path(), 600, 3);
    let report = dir.path().join("dry.csv");
    let mut a = args(&sim, &input, &report);
    a.dry_run = true;
    a.rate = Some(24.0); // Pro's default: 603 lookups would take 25 s; listing takes a few pages
    a.lookup = Lookup::Auto;
    let exit = run(&sim, &a).await;
    assert_eq!(exit, Exit::SomeFailed);
    let rows = rows(&report);
    assert_eq!(rows.len(), 603);
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == Status::WouldRevoke)
            .count(),
        600
    );
    assert_eq!(
        rows.iter().filter(|r| r.status == Status::NotFound).count(),
        3
    );
    let state = sim.state();
    let per_user_gets = state
        .requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v2/users/"))
        .count();
    assert_eq!(
        per_user_gets, 0,
        "auto chose listing for a large share of the account"
    );
    let list_calls = state
        .requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v2/users?"))
        .count();
    assert!((4..=10).contains(&list_calls), "{list_calls} list calls");
    assert_eq!(state.count("DELETE", "", None), 0);
}

#[tokio::test]
async fn dry_run_without_credentials_validates_only() {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = with_ghosts(&sim, dir.path(), 4, 1);
    let report = dir.path().join("dry.csv");
    let mut a = args(&sim, &input, &report);
    a.dry_run = true;
    let exit = run_with(
        &a,
        std::sync::Arc::new(|_: &str| None),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(exit, Exit::Success);
    let rows = rows(&report);
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.status == Status::WouldRevoke));
    assert!(rows[0].message.contains("no credentials"));
    assert_eq!(sim.state().requests.len(), 0);
}

pub(crate) fn users_ctx(sim: &Sim) -> Context {
    let env = s2s_env(sim);
    Context {
        env: Box::new(move |k: &str| env(k)),
        cancel: CancellationToken::new(),
        stdin_is_terminal: false,
        confirm: None,
        progress_terminal: false,
    }
}

pub(crate) fn users_args(sim: &Sim) -> UsersArgs {
    UsersArgs {
        listing: ListingArgs {
            conn: ConnectionArgs {
                base_url: Some(sim.base_url()),
                oauth_url: Some(sim.oauth_url()),
                config: Some("/dev/null".into()),
                ..ConnectionArgs::default()
            },
            rate: Some(200.0),
            max_retries: Some(6),
            ..ListingArgs::default()
        },
        ..UsersArgs::default()
    }
}

pub(crate) fn listed(out: &[u8]) -> Vec<String> {
    let mut rdr = csv::Reader::from_reader(out);
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "id",
            "email",
            "first_name",
            "last_name",
            "type",
            "status",
            "role_id",
            "last_login_time"
        ]
    );
    rdr.records().map(|r| r.unwrap()[1].to_string()).collect()
}

#[tokio::test]
async fn users_pages_through_the_whole_account() {
    let sim = Sim::start(SimConfig {
        users: SimUsers::Generated(1000),
        medium_per_second: Some(1000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut out = Vec::new();
    let exit = users(&users_args(&sim), &users_ctx(&sim), &mut out).await;
    assert_eq!(exit, Exit::Success);
    let emails = listed(&out);
    let active = active_emails(&sim, 1000);
    assert_eq!(emails.len(), active.len());
    let mut unique = emails.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), emails.len(), "each user exactly once");
    // A call a page: `users` does not know the account's size, so it asks for no page
    // before page 1 has said how many there are.
    let calls = sim.state().count("GET", "", Some(200));
    let pages = active.len().div_ceil(300);
    assert_eq!(calls, pages);
}

#[tokio::test]
async fn users_survives_an_expired_page_token_by_restarting() {
    // page_number ignored: after page 1 the listing goes by the next_page_token chain.
    let sim = Sim::start(SimConfig {
        users: SimUsers::Generated(1000),
        medium_per_second: Some(1000),
        latency_ms: (20, 20),
        page_numbers: PageNumbers::Ignored,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut out = Vec::new();
    let mut a = users_args(&sim);
    a.listing.rate = Some(20.0);
    let ctx = users_ctx(&sim);
    let listing = users(&a, &ctx, &mut out);
    let expire = async {
        // After the second page, every outstanding page token expires (once).
        wait_until("the listing's second page", Duration::from_secs(20), || {
            sim.state().count("GET", "", Some(200)) >= 2
        })
        .await;
        sim.expire_page_tokens();
    };
    let (exit, ()) = tokio::join!(listing, expire);
    assert_eq!(exit, Exit::Success);
    let emails = listed(&out);
    let mut unique = emails.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        emails.len(),
        "no user twice after the restart"
    );
    assert_eq!(
        emails.len(),
        active_emails(&sim, 1000).len(),
        "and none missing"
    );
    assert_eq!(
        sim.state().count("GET", "", Some(400)),
        1,
        "one expired token seen"
    );
}

#[tokio::test]
async fn a_real_run_resuming_a_dry_run_report_revokes_the_would_revoke_users() {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = with_ghosts(&sim, dir.path(), 6, 1);
    let report = dir.path().join("plan.csv");
    let mut a = args(&sim, &input, &report);
    a.dry_run = true;
    assert_eq!(run(&sim, &a).await, Exit::SomeFailed);
    assert_eq!(sim.state().total_revocations(), 0);

    let mut a = args(&sim, &input, &report);
    a.resume = true;
    assert_eq!(
        run(&sim, &a).await,
        Exit::SomeFailed,
        "the ghost stays not_found"
    );
    let state = sim.state();
    assert_eq!(
        state.total_revocations(),
        6,
        "would_revoke is not done for a real run"
    );
    assert_eq!(
        state.count("DELETE", "/token", None),
        6,
        "the not_found ghost is not re-sent"
    );
    let last = last_status(&report);
    assert_eq!(last.values().filter(|s| **s == Status::Revoked).count(), 6);
}

#[tokio::test]
async fn users_without_the_list_scope_exits_2_having_listed_nothing() {
    let sim = Sim::start(SimConfig {
        scopes: vec!["user:delete:token:admin".into()],
        static_token: Some("static-list-test".into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let env = static_env("static-list-test".into());
    let ctx = Context {
        env: Box::new(move |k: &str| env(k)),
        cancel: CancellationToken::new(),
        stdin_is_terminal: false,
        confirm: None,
        progress_terminal: false,
    };
    let mut out = Vec::new();
    let exit = users(&users_args(&sim), &ctx, &mut out).await;
    assert_eq!(exit, Exit::Usage);
    assert_eq!(
        sim.state().count("GET", "", Some(400)),
        1,
        "one call, answered 4711"
    );
}

/// A small account for the `users` filters, with login times relative to `now`: who should a
/// `--role member --inactive-days 90` listing give? The `keep` ones.
fn team(now: chrono::DateTime<chrono::Utc>) -> (Vec<SimUser>, Vec<&'static str>) {
    let ago = |days: i64| {
        (now - chrono::TimeDelta::days(days))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let u = |n: u32, email: &str, role: &str, status: UserStatus, login: Option<String>| SimUser {
        id: format!("TeamUser{n:014}"),
        email: email.to_string(),
        first_name: "First".into(),
        last_name: "Last".into(),
        user_type: 2,
        status,
        role_id: role.into(),
        role_name: String::new(),
        login_types: vec![101],
        managed_domain: false,
        zoom_events: false,
        zoom_room: false,
        webinar_licence: false,
        other_account: false,
        last_login_time: login,
    };
    let active = UserStatus::Active;
    let users = vec![
        u(1, "owner@example.com", "0", active, Some(ago(400))),
        u(2, "old.member@example.com", "2", active, Some(ago(91))),
        u(3, "recent.member@example.com", "2", active, Some(ago(5))),
        u(4, "never.member@example.com", "2", active, None),
        u(5, "old.admin@example.com", "1", active, Some(ago(400))),
        u(
            6,
            "old.custom@example.com",
            "Kx7Hc9abQ",
            active,
            Some(ago(400)),
        ),
        u(7, "edge.member@example.com", "2", active, Some(ago(89))),
        u(
            8,
            "gone.member@example.com",
            "2",
            UserStatus::Inactive,
            Some(ago(400)),
        ),
        u(
            9,
            "blank.member@example.com",
            "2",
            active,
            Some(String::new()),
        ),
    ];
    let keep = vec![
        "old.member@example.com",
        "never.member@example.com",
        "blank.member@example.com",
    ];
    (users, keep)
}

async fn team_sim(now: chrono::DateTime<chrono::Utc>) -> (Sim, Vec<&'static str>) {
    let (users, keep) = team(now);
    let sim = Sim::start(SimConfig {
        users: SimUsers::List(users),
        medium_per_second: Some(1000),
        light_per_second: Some(1000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    (sim, keep)
}

#[tokio::test]
async fn users_filters_by_role_and_inactivity_at_a_given_time() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-31T12:00:00Z")
        .unwrap()
        .to_utc();
    let (sim, keep) = team_sim(now).await;
    let mut a = users_args(&sim);
    a.role = vec![RoleFilter::Member];
    a.inactive_days = Some(90);
    let mut out = Vec::new();
    assert_eq!(
        users_at(&a, &users_ctx(&sim), &mut out, now).await,
        Exit::Success
    );
    assert_eq!(
        listed(&out),
        keep,
        "Zoom's order, filtered; the format unchanged"
    );

    // Each filter alone, and a role list.
    let mut a = users_args(&sim);
    a.inactive_days = Some(90);
    let mut out = Vec::new();
    users_at(&a, &users_ctx(&sim), &mut out, now).await;
    assert_eq!(
        listed(&out),
        [
            "owner@example.com",
            "old.member@example.com",
            "never.member@example.com",
            "old.admin@example.com",
            "old.custom@example.com",
            "blank.member@example.com",
        ]
    );
    let mut a = users_args(&sim);
    a.role = vec![RoleFilter::Admin, RoleFilter::Owner];
    let mut out = Vec::new();
    users_at(&a, &users_ctx(&sim), &mut out, now).await;
    assert_eq!(
        listed(&out),
        ["owner@example.com", "old.admin@example.com"],
        "a custom role is not admin"
    );
    let mut a = users_args(&sim);
    a.role = vec![RoleFilter::Custom];
    let mut out = Vec::new();
    users_at(&a, &users_ctx(&sim), &mut out, now).await;
    assert_eq!(listed(&out), ["old.custom@example.com"]);
    // Filtering happens here, not in Zoom: one listing each time, one page each (`users`
    // asks for no page before page 1 has said how many there are).
    assert_eq!(crate::common::list_calls(&sim).len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_output_pipes_into_revoke_dry_run() {
    // The binary uses the real clock: the team's login times are relative to it, and none is
    // within a day of the 90-day edge.
    let (sim, keep) = team_sim(chrono::Utc::now()).await;
    let cfg = sim.config().clone();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("plan.csv");
    let creds = [
        ("ZOOM_ACCOUNT_ID", cfg.account_id.as_str()),
        ("ZOOM_CLIENT_ID", cfg.client_id.as_str()),
        ("ZOOM_CLIENT_SECRET", cfg.client_secret.as_str()),
    ];
    let urls = [
        "--base-url",
        &sim.base_url(),
        "--oauth-url",
        &sim.oauth_url(),
        "--config",
        "/dev/null",
    ];
    // `users` then `revoke` reading its output on stdin: the pipe of the README, its two
    // halves run one after the other (the output is complete before revoke reads it).
    let list = Bin::new()
        .args(["users", "--inactive-days", "90", "--role", "member"])
        .args(urls)
        .envs(&creds)
        .run()
        .await;
    assert_eq!(list.code, Some(0), "users: {}", list.stderr);
    let plan = Bin::new()
        .args(["revoke", "--dry-run", "--no-progress", "-q", "--report"])
        .arg(&report)
        .args(urls)
        .arg("-")
        .envs(&creds)
        .stdin(list.stdout.into_bytes())
        .run()
        .await;
    assert_eq!(plan.code, Some(0), "revoke: {}", plan.stderr);
    let rows = rows(&report);
    let planned: Vec<&str> = rows.iter().map(|r| r.user.as_str()).collect();
    assert_eq!(planned, keep);
    assert!(rows.iter().all(|r| r.status == Status::WouldRevoke));
    assert_eq!(sim.state().count("DELETE", "", None), 0, "a dry run");
}
