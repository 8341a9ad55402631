//! `reconcile` against the simulator: the exact candidates of a noisy roster, the guard, listings
//! that stop early, no write call, the pipe into `offboard --dry-run`, dialects, config keys.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use zoom_offboard::app::{Context, reconcile};
use zoom_offboard::cli::{ListFormat, ListingArgs, ReconcileArgs, ReconcileStatus};
use zoom_offboard::exit::Exit;
use zoom_offboard::sim::{Sim, SimConfig, SimUsers, UserStatus, Workforce, workforce};

use crate::common::bin::{Bin, BinRun};
use crate::revoke_support::{s2s_env, write_input};

/// A simulator holding `w`'s users, with room to list fast.
async fn sim_of(w: &Workforce, cfg: SimConfig) -> Sim {
    Sim::start(SimConfig {
        users: SimUsers::List(w.users.clone()),
        medium_per_second: Some(2000),
        ..cfg
    })
    .await
    .expect("start the simulator")
}

/// Arguments pointed at `sim`, reading `roster`.
fn args(sim: &Sim, roster: &Path) -> ReconcileArgs {
    ReconcileArgs {
        roster: vec![roster.to_path_buf()],
        listing: ListingArgs {
            rate: Some(1000.0),
            conn: crate::revoke_support::sim_conn(sim),
            output: crate::revoke_support::quiet_output(),
            ..ListingArgs::default()
        },
        ..ReconcileArgs::default()
    }
}

/// [`args`] reading a [`workforce`] roster's work emails and aliases.
fn wf_args(sim: &Sim, roster: &Path) -> ReconcileArgs {
    ReconcileArgs {
        roster_column: vec!["work_email".into(), "alias".into()],
        ..args(sim, roster)
    }
}

/// Whether `r` is an API call (not the token endpoint).
fn api(r: &zoom_offboard::sim::RequestRecord) -> bool {
    r.path.starts_with("/v2/")
}

/// Runs `reconcile` in-process; returns the exit and stdout.
async fn run(sim: &Sim, a: &ReconcileArgs) -> (Exit, String) {
    let env = s2s_env(sim);
    let ctx = Context {
        env: Box::new(move |k: &str| env(k)),
        cancel: CancellationToken::new(),
        stdin_is_terminal: false,
        confirm: None,
        progress_terminal: false,
    };
    let mut out = Vec::new();
    let exit = reconcile(a, &ctx, &mut out, &mut std::io::empty()).await;
    (exit, String::from_utf8(out).expect("UTF-8 output"))
}

/// The `email` column of a CSV output, and every row's `reason`.
fn emails(out: &str) -> Vec<String> {
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h = r.headers().expect("header").clone();
    assert_eq!(
        h.iter().collect::<Vec<_>>(),
        [
            "id",
            "email",
            "first_name",
            "last_name",
            "type",
            "status",
            "role_id",
            "last_login_time",
            "reason"
        ]
    );
    r.records()
        .map(|rec| {
            let rec = rec.expect("row");
            assert_eq!(&rec[8], "not_on_roster");
            rec[1].to_string()
        })
        .collect()
}

/// The binary's `reconcile` against `sim` with its credentials, in `dir`.
fn reconcile_cmd(sim: &Sim, dir: &Path) -> Bin {
    let cfg = sim.config();
    Bin::new()
        .arg("reconcile")
        .args([
            "--base-url",
            &sim.base_url(),
            "--oauth-url",
            &sim.oauth_url(),
        ])
        .args(["--plan", "business", "--rate", "1000", "--no-progress"])
        .current_dir(dir)
        .env("ZOOM_ACCOUNT_ID", &cfg.account_id)
        .env("ZOOM_CLIENT_ID", &cfg.client_id)
        .env("ZOOM_CLIENT_SECRET", &cfg.client_secret)
}

/// The last line of stderr: the counts.
fn counts_line(run: &BinRun) -> &str {
    run.stderr.lines().last().unwrap_or_default()
}

#[tokio::test]
async fn the_exact_candidates_of_a_noisy_roster_with_aliases_domains_and_exclusions() {
    let w = workforce(400, 11);
    let sim = sim_of(&w, SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("hr.csv");
    std::fs::write(&roster, &w.roster).unwrap();
    // Two leavers are break-glass accounts: never listed.
    let active = w.active_leavers();
    let excluded = [active[0].clone(), active[3].to_uppercase()];
    let ex = write_input(
        dir.path(),
        "breakglass.csv",
        &["email".into(), excluded[0].clone(), excluded[1].clone()],
    );
    let mut a = wf_args(&sim, &roster);
    a.exclude = Some(ex);
    a.max_share = Some(100.0);
    let missing = dir.path().join("missing.csv");
    a.missing = Some(missing.clone());
    let (exit, out) = run(&sim, &a).await;
    assert_eq!(exit, Exit::Success);
    let expected: Vec<String> = active
        .iter()
        .filter(|e| !excluded.iter().any(|x| x.eq_ignore_ascii_case(e)))
        .cloned()
        .collect();
    assert!(expected.len() > 10, "{expected:?}");
    assert_eq!(emails(&out), expected);
    // The new work addresses of aliased people have no Zoom user: they are the missing ones.
    let mut r = csv::Reader::from_path(&missing).unwrap();
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), ["email"]);
    let listed_missing: Vec<String> = r.records().map(|x| x.unwrap()[0].to_string()).collect();
    let mut unknown = w.unknown_work_emails.clone();
    // Roster people who are not active in Zoom are missing from an active-only listing too.
    let inactive_on_roster = sim
        .users()
        .into_iter()
        .filter(|u| u.status != UserStatus::Active)
        .filter(|u| !u.email.ends_with("agency.example.net") && !u.is_owner())
        .filter(|u| !w.leavers.contains(&u.email))
        .count();
    unknown.sort();
    let mut got: Vec<String> = listed_missing
        .iter()
        .filter(|m| w.unknown_work_emails.contains(m))
        .cloned()
        .collect();
    got.sort();
    assert_eq!(got, unknown);
    assert_eq!(listed_missing.len(), unknown.len() + inactive_on_roster);

    // Without the alias column, the aliased active people look like leavers too.
    a.roster_column = vec!["work_email".into()];
    a.missing = None;
    let (_, out) = run(&sim, &a).await;
    let aliased_active = w
        .aliased
        .iter()
        .filter(|e| {
            sim.users()
                .iter()
                .any(|u| &&u.email == e && u.status == UserStatus::Active)
        })
        .count();
    assert_eq!(emails(&out).len(), expected.len() + aliased_active);
}

#[tokio::test]
async fn a_reconciliation_sends_no_write_call_and_lists_once_per_page() {
    let w = workforce(700, 5);
    let sim = sim_of(&w, SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = write_input(dir.path(), "hr.csv", std::slice::from_ref(&w.roster));
    let mut a = wf_args(&sim, &roster);
    a.status = ReconcileStatus::All;
    a.max_share = Some(100.0);
    let (exit, _) = run(&sim, &a).await;
    assert_eq!(exit, Exit::Success);
    let state = sim.state();
    assert!(
        state
            .requests
            .iter()
            .filter(|r| api(r))
            .all(|r| r.method == "GET"),
        "only GETs"
    );
    assert!(state.offboarded.is_empty() && state.total_revocations() == 0);
    let listed = |s: &str| {
        sim.users()
            .iter()
            .filter(|u| u.status.as_str() == s)
            .count()
    };
    // A call a page of each status, and at most the numbered pages asked for behind page 1
    // (`speculative`, at args' 1000/s) past a status's last page.
    let ahead = zoom_offboard::users::speculative(1000.0) as usize;
    let pages: Vec<usize> = ["active", "inactive", "pending"]
        .iter()
        .map(|s| listed(s).div_ceil(300).max(1))
        .collect();
    let least: usize = pages.iter().sum();
    let most: usize = pages.iter().map(|p| (*p).max(1 + ahead)).sum();
    let calls = state.count("GET", "", Some(200));
    assert!(
        (least..=most).contains(&calls),
        "{calls} calls, {least}..={most}"
    );
}

#[tokio::test]
async fn the_guard_refuses_an_empty_and_a_truncated_roster_and_max_share_100_lifts_it() {
    let w = workforce(300, 7);
    let sim = sim_of(&w, SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // Empty: a header and a comment, nothing else. Refused before any call.
    std::fs::write(
        dir.path().join("empty.csv"),
        "# nightly export\nwork_email,alias\n",
    )
    .unwrap();
    let r = reconcile_cmd(&sim, dir.path())
        .args(["--roster", "empty.csv", "--roster-column", "work_email"])
        .args(["--max-share", "100"])
        .run()
        .await;
    r.assert_clean();
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("roster is empty"), "{}", r.stderr);
    assert!(counts_line(&r).contains("candidates 0"), "{}", r.stderr);
    assert_eq!(sim.state().requests.len(), 0, "no call for an empty roster");

    // Truncated: the first fifth of the export only.
    let lines: Vec<&str> = w.roster.lines().collect();
    let cut = lines[..lines.len() / 5].join("\n");
    std::fs::write(dir.path().join("cut.csv"), cut).unwrap();
    let base = [
        "--roster",
        "cut.csv",
        "--roster-column",
        "work_email",
        "--roster-column",
        "alias",
    ];
    let r = reconcile_cmd(&sim, dir.path()).args(base).run().await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.stdout, "", "nothing on stdout");
    assert!(r.stderr.contains("--max-share"), "{}", r.stderr);
    let last = counts_line(&r);
    for part in [
        "listed ",
        "considered ",
        "on the roster ",
        "candidates ",
        "not considered (other domains) ",
        "excluded ",
        "roster entries with no Zoom user ",
    ] {
        assert!(last.contains(part), "{part}: {last}");
    }
    let r = reconcile_cmd(&sim, dir.path())
        .args(base)
        .args(["--max-share", "100"])
        .run()
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let n = emails(&r.stdout).len();
    assert!(n > 100, "most of the company: {n}");
    assert!(
        counts_line(&r).contains(&format!("candidates {n},")),
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn a_listing_stopped_by_the_daily_limit_or_an_outage_writes_nothing() {
    let w = workforce(1000, 9);
    // The Medium daily limit runs out on the third page.
    let sim = sim_of(
        &w,
        SimConfig {
            medium_per_day: Some(2),
            ..SimConfig::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let roster = write_input(dir.path(), "hr.csv", std::slice::from_ref(&w.roster));
    let mut a = wf_args(&sim, &roster);
    a.max_share = Some(100.0);
    let (exit, out) = run(&sim, &a).await;
    assert_eq!(exit, Exit::Stopped);
    assert_eq!(out, "", "a half list is never a list of leavers");
    assert_eq!(sim.state().count("GET", "", Some(200)), 2);

    // An outage that outlasts --outage-wait 0, from the second page on.
    let sim = sim_of(
        &w,
        SimConfig {
            outages: vec![Duration::from_millis(1)..Duration::from_secs(600)],
            ..SimConfig::default()
        },
    )
    .await;
    let mut a = wf_args(&sim, &roster);
    a.max_share = Some(100.0);
    a.outage_wait = Some(0);
    a.listing.max_retries = Some(1);
    let (exit, out) = run(&sim, &a).await;
    assert_eq!(exit, Exit::Stopped);
    assert_eq!(out, "");
}

#[tokio::test]
async fn listing_under_5xx_drops_and_changing_pages_gives_each_user_once() {
    let w = workforce(1000, 13);
    let sim = sim_of(
        &w,
        SimConfig {
            fault_5xx_before: 0.3,
            fault_drop: 0.2,
            list_churn: true,
            seed: 4,
            ..SimConfig::default()
        },
    )
    .await;
    let expected = w.active_leavers();
    let dir = tempfile::tempdir().unwrap();
    let roster = write_input(dir.path(), "hr.csv", std::slice::from_ref(&w.roster));
    let mut a = wf_args(&sim, &roster);
    a.max_share = Some(100.0);
    a.listing.max_retries = Some(10);
    let inactive_before = sim
        .users()
        .into_iter()
        .filter(|u| u.status == UserStatus::Inactive)
        .count();
    let (exit, out) = run(&sim, &a).await;
    assert_eq!(exit, Exit::Success);
    // Returning users became active before their page was listed: they are not in the listing
    // (they were inactive when it started), and the users pushed down a page come once.
    assert_eq!(emails(&out), expected);
    let state = sim.state();
    let failed = state.requests.iter().filter(|r| api(r) && r.status != 200);
    assert!(failed.count() > 0, "faults happened");
    let inactive = sim
        .users()
        .into_iter()
        .filter(|u| u.status == UserStatus::Inactive);
    assert!(
        inactive.count() < inactive_before,
        "the pages changed between calls"
    );
}

#[tokio::test]
async fn the_pipe_into_offboard_dry_run_targets_only_the_candidates() {
    let w = workforce(300, 21);
    let sim = sim_of(
        &w,
        SimConfig {
            light_per_second: Some(2000),
            ..SimConfig::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hr.csv"), &w.roster).unwrap();
    let r = reconcile_cmd(&sim, dir.path())
        .args([
            "--roster",
            "hr.csv",
            "--roster-column",
            "work_email",
            "--roster-column",
            "alias",
        ])
        .run()
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let candidates = emails(&r.stdout);
    assert_eq!(candidates, w.active_leavers());
    let cfg = sim.config();
    let off = Bin::new()
        .args([
            "offboard",
            "--dry-run",
            "--steps",
            "revoke,deactivate",
            "--report",
            "plan.csv",
        ])
        .args([
            "--base-url",
            &sim.base_url(),
            "--oauth-url",
            &sim.oauth_url(),
        ])
        .args(["--plan", "business", "--no-progress", "-"])
        .current_dir(dir.path())
        .env("ZOOM_ACCOUNT_ID", &cfg.account_id)
        .env("ZOOM_CLIENT_ID", &cfg.client_id)
        .env("ZOOM_CLIENT_SECRET", &cfg.client_secret)
        .stdin(r.stdout.clone())
        .run()
        .await;
    off.assert_clean();
    let report = zoom_offboard::report::read_rows(&dir.path().join("plan.csv")).unwrap();
    let mut targeted: Vec<String> = report.iter().map(|row| row.user.clone()).collect();
    targeted.dedup();
    let mut want = candidates.clone();
    want.sort();
    targeted.sort();
    targeted.dedup();
    assert_eq!(targeted, want, "{}", off.stderr);
    assert!(
        sim.state()
            .requests
            .iter()
            .filter(|r| api(r))
            .all(|r| r.method == "GET")
    );
}

#[tokio::test]
async fn every_dialect_fixture_is_a_roster() {
    // The fixtures' five people, on a small account with one leaver.
    let people = [
        "zoe.muller@example.com",
        "jose.alvarez@example.com",
        "asa.lindstrom@example.com",
        "francois.dupre@example.com",
        "grace.hopper@example.com",
    ];
    let mut users = zoom_offboard::sim::generate_users(7, 1);
    for (u, e) in users
        .iter_mut()
        .skip(1)
        .zip(people.iter().chain(["left@example.com"].iter()))
    {
        u.email = e.to_string();
    }
    users[6].status = UserStatus::Active;
    let w = Workforce {
        users,
        roster: String::new(),
        leavers: vec![],
        aliased: vec![],
        unknown_work_emails: vec![],
    };
    let sim = sim_of(&w, SimConfig::default()).await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dialects");
    let cases: [(&str, &[&str]); 7] = [
        ("excel-csv-utf8.csv", &[]),
        ("excel-semicolon-cp1252.csv", &[]),
        ("excel-sep-line.csv", &[]),
        ("excel-unicode-text.txt", &[]),
        ("hr-utf16be.csv", &[]),
        ("workday-workers.csv", &["Work_Email", "Alias_Email"]),
        ("bamboohr-employees.csv", &["Work Email"]),
    ];
    for (name, columns) in cases {
        let mut a = args(&sim, &fixtures.join(name));
        a.roster_column = columns.iter().map(|c| c.to_string()).collect();
        a.max_share = Some(100.0);
        a.listing.format = ListFormat::Csv;
        let (exit, out) = run(&sim, &a).await;
        assert_eq!(exit, Exit::Success, "{name}");
        assert_eq!(emails(&out), ["left@example.com"], "{name}");
    }
    // Latin-1 in the column read is an error naming the file and line (exit 2).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("l1.csv"),
        b"email;name\nzo\xEB@example.com;Zo\xEB\n",
    )
    .unwrap();
    let r = reconcile_cmd(&sim, dir.path())
        .args(["--roster", "l1.csv"])
        .run()
        .await;
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("l1.csv line 2: not UTF-8"),
        "{}",
        r.stderr
    );
    // --delimiter forces one: read as ',' the ';' export has no email column.
    let r = reconcile_cmd(&sim, dir.path())
        .arg("--roster")
        .arg(fixtures.join("excel-sep-line.csv"))
        .args(["--delimiter", "tab", "--roster-column", "Email"])
        .run()
        .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("no column \"Email\" (--roster-column)"),
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn config_keys_are_used_and_flags_win() {
    let w = workforce(300, 17);
    let sim = sim_of(&w, SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hr.csv"), &w.roster).unwrap();
    std::fs::write(
        dir.path().join("zoom-offboard.toml"),
        "[reconcile]\nroster_column = [\"work_email\", \"alias\"]\ndomain = \"example.co.uk\"\nmax_share = 100\n",
    )
    .unwrap();
    let r = reconcile_cmd(&sim, dir.path())
        .args(["--roster", "hr.csv"])
        .run()
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let uk: Vec<String> = w
        .active_leavers()
        .into_iter()
        .filter(|e| e.ends_with("@example.co.uk"))
        .collect();
    assert!(!uk.is_empty());
    assert_eq!(emails(&r.stdout), uk, "the file's domain and columns");
    // Flags win: both roster domains, and a share that refuses.
    let r = reconcile_cmd(&sim, dir.path())
        .args([
            "--roster",
            "hr.csv",
            "--domain",
            "example.com",
            "--domain",
            "example.co.uk",
        ])
        .args(["--max-share", "1"])
        .run()
        .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    let r = reconcile_cmd(&sim, dir.path())
        .args([
            "--roster",
            "hr.csv",
            "--domain",
            "example.com",
            "--domain",
            "example.co.uk",
        ])
        .run()
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(emails(&r.stdout), w.active_leavers());
    // A flag column replaces the file's list: without alias, aliased people are candidates.
    let r = reconcile_cmd(&sim, dir.path())
        .args(["--roster", "hr.csv", "--roster-column", "work_email"])
        .run()
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(emails(&r.stdout).len() > uk.len());
}

#[tokio::test]
async fn the_demo_shows_a_reconciliation_piped_into_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let r = Bin::new()
        .args(["demo", "--reconcile", "--no-progress", "--sim-users", "400"])
        .arg("--report")
        .arg(dir.path().join("out.csv"))
        .run()
        .await;
    r.assert_clean();
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("saw 0 write requests"), "{}", r.stderr);
    let candidates = std::fs::read_to_string(dir.path().join("out-candidates.csv")).unwrap();
    let found = emails(&candidates);
    assert_eq!(found, workforce(400, 42).active_leavers());
    let plan = zoom_offboard::report::read_rows(&dir.path().join("out.csv")).unwrap();
    assert!(plan.iter().all(|row| found.contains(&row.user)));
}

#[tokio::test]
async fn a_roster_on_stdin_and_jsonl_candidates() {
    let w = workforce(300, 29);
    let sim = sim_of(&w, SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // Excel's "Unicode Text": UTF-16 LE with BOM, tab-separated, piped in.
    let text = w.roster.replace(',', "\t");
    let mut utf16 = vec![0xFF, 0xFE];
    text.encode_utf16()
        .for_each(|u| utf16.extend(u.to_le_bytes()));
    let r = reconcile_cmd(&sim, dir.path())
        .args([
            "--roster",
            "-",
            "--roster-column",
            "work_email",
            "--roster-column",
            "alias",
        ])
        .args(["--format", "jsonl"])
        .stdin(utf16)
        .run()
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rows: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object a line"))
        .collect();
    let got: Vec<&str> = rows
        .iter()
        .map(|v| v["email"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(got, w.active_leavers());
    assert!(
        rows.iter()
            .all(|v| v["reason"] == "not_on_roster" && v["id"].is_string())
    );
}

#[tokio::test]
async fn refused_credentials_or_scopes_are_exit_2_with_nothing_written() {
    let w = workforce(300, 31);
    let sim = sim_of(&w, SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = write_input(dir.path(), "hr.csv", std::slice::from_ref(&w.roster));
    // A token that cannot list users.
    sim.set_scopes(vec!["user:read:user:admin".into()]);
    let (exit, out) = run(&sim, &wf_args(&sim, &roster)).await;
    assert_eq!((exit, out.as_str()), (Exit::Usage, ""));
    // Credentials the token endpoint refuses.
    sim.set_scopes(vec!["user:read:admin".into()]);
    let r = reconcile_cmd(&sim, dir.path())
        .args(["--roster", "hr.csv", "--roster-column", "work_email"])
        .env("ZOOM_CLIENT_SECRET", "wrong")
        .run()
        .await;
    assert_eq!((r.code, r.stdout.as_str()), (Some(2), ""), "{}", r.stderr);
    let listed = sim
        .state()
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/v2/"))
        .count();
    assert_eq!(listed, 0, "nothing was listed");
}
