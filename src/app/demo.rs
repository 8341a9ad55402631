//! `zoom-offboard demo`: the simulator in-process and a real run against it: a revoke of the
//! fixture, or (`--offboard`) a dry run and then a real offboard of a slice of its users.

use std::path::{Path, PathBuf};

use super::{Context, offboard, revoke, usage};
use crate::cli::{ConnectionArgs, DemoArgs, OffboardArgs, RevokeArgs};
use crate::config::{OffboardSettings, Settings};
use crate::exit::Exit;
use crate::logging;
use crate::sim::{Sim, SimConfig, SimState, SimUser, SimUsers, UserStatus};

/// How many of the simulator's first generated users `demo --offboard` takes out. The generated
/// mix (see [`crate::sim::users`]) puts among the first 60 the account owner, three admins (one
/// inactive), two custom roles, a pending invitation, inactive users, managed-domain users and
/// Zoom Events hosts: every safety rule and most of Zoom's refusals show up in one small run.
pub const OFFBOARD_SLICE: usize = 60;

/// The steps `demo --offboard` runs: everything but `delete`, so the demo never deletes data
/// even in a simulator, and its transfers show where a leaver's data goes.
const OFFBOARD_STEPS: &str = "revoke,deactivate,disassociate";

/// The steps of `demo --offboard --downgrade`: the licence freed by a downgrade to Basic (the
/// generated Basic users among the slice show "already Basic: no call made").
const DOWNGRADE_STEPS: &str = "revoke,downgrade,disassociate";

/// `zoom-offboard demo`: the simulator in-process and a real revoke against it.
pub(super) async fn demo(args: DemoArgs, ctx: &Context) -> Exit {
    if args.offboard {
        return demo_offboard(&args, ctx).await;
    }
    if args.reconcile {
        return super::demo_reconcile::demo_reconcile(&args, ctx).await;
    }
    let input = match demo_input(&args.input) {
        Ok(p) => p,
        Err(e) => return usage(&e),
    };
    let cfg = sim_config(args.sim_users);
    let sim = match Sim::start(cfg.clone()).await {
        Ok(s) => s,
        Err(e) => return usage(&format!("cannot start the simulator: {e:#}")),
    };
    let report = args
        .report
        .clone()
        .unwrap_or_else(|| temp_report("zoom-offboard-demo"));
    logging::eprint_line(&format!(
        "demo: simulator on {} (Business plan, 80/s Light, another app using 20/s, \
         latency 30-120 ms, a few 5xx and dropped connections)\n\
         demo: revoking the users in {} -> report {}",
        sim.base_url(),
        input.display(),
        report.display()
    ));
    let rargs = RevokeArgs {
        inputs: vec![input],
        report: Some(report.clone()),
        yes: true,
        conn: sim_conn(&sim),
        output: args.output.clone(),
        ..RevokeArgs::default()
    };
    let settings = match Settings::resolve(&rargs, &sim_env(&cfg), chrono::Utc::now()) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let exit = revoke(settings, ctx).await;
    let state = sim.state();
    logging::eprint_line(&format!(
        "demo: the simulator saw {} requests, {} tokens revoked, {} answered 429.\n\
         demo: revoke's exit code would be {} ({}). Open the report: {}\n\
         demo: the one-page summary for a ticket (open it in a browser): {}",
        state.requests.len(),
        state.total_revocations(),
        throttled(&state),
        exit.code(),
        match exit {
            Exit::Success => "every user revoked",
            Exit::SomeFailed => "some users not found or invalid, as the fixture intends",
            Exit::Usage => "nothing done",
            Exit::Stopped => "stopped early",
        },
        report.display(),
        crate::evidence::html_path(&report).display()
    ));
    sim.shutdown().await;
    Exit::for_demo(exit)
}

/// `zoom-offboard demo --offboard`: a dry run, then the real run, of the simulator's first
/// [`OFFBOARD_SLICE`] users, with their data going to an active Member outside the batch.
async fn demo_offboard(args: &DemoArgs, ctx: &Context) -> Exit {
    let cfg = sim_config(args.sim_users);
    let sim = match Sim::start(cfg.clone()).await {
        Ok(s) => s,
        Err(e) => return usage(&format!("cannot start the simulator: {e:#}")),
    };
    let exit = offboard_runs(args, ctx, &sim, &cfg).await;
    sim.shutdown().await;
    Exit::for_demo(exit)
}

/// The steps of this demo: `--downgrade` frees licences by downgrading instead of deactivating.
fn demo_steps(args: &DemoArgs) -> &'static str {
    if args.downgrade {
        DOWNGRADE_STEPS
    } else {
        OFFBOARD_STEPS
    }
}

/// A transfer target for every kind of data: an active, Licensed Member (a Basic one could not
/// receive the leavers' recordings).
fn can_receive(u: &SimUser) -> bool {
    u.is_member() && u.status == UserStatus::Active && u.user_type == 2
}

/// The two runs of `demo --offboard` and what the simulator saw; returns the real run's exit
/// code (or the dry run's, when that one could not finish).
async fn offboard_runs(args: &DemoArgs, ctx: &Context, sim: &Sim, cfg: &SimConfig) -> Exit {
    let users = sim.users();
    let (batch, rest) = users.split_at(OFFBOARD_SLICE.min(users.len()));
    let steps = demo_steps(args);
    let Some(target) = rest.iter().find(|u| can_receive(u)) else {
        return usage(&format!(
            "demo --offboard needs more than {OFFBOARD_SLICE} simulated users (--sim-users), \
             so that an active Member outside the batch can receive the leavers' data"
        ));
    };
    let report = args
        .report
        .clone()
        .unwrap_or_else(|| temp_report("zoom-offboard-demo-offboard"));
    let plan = dry_run_path(&report);
    logging::eprint_line(&format!(
        "demo: simulator on {} (Business plan, 80/s Light, another app using 20/s, \
         latency 30-120 ms, a few 5xx and dropped connections)\n\
         demo: offboarding its first {} users (the owner, admins, custom roles, a pending \
         invitation, inactive, managed-domain and Zoom Events users among them): \
         --steps {steps} --transfer-to {}\n\
         demo: first the dry run -> report {}",
        sim.base_url(),
        batch.len(),
        target.email,
        plan.display()
    ));
    let env = sim_env(cfg);
    let oargs = |dry_run: bool, report: &Path| OffboardArgs {
        steps: Some(steps.into()),
        transfer_to: Some(target.email.clone()),
        run: RevokeArgs {
            users: batch.iter().map(|u| u.email.clone()).collect(),
            dry_run,
            report: Some(report.to_path_buf()),
            yes: true,
            conn: sim_conn(sim),
            output: args.output.clone(),
            ..RevokeArgs::default()
        },
        ..OffboardArgs::default()
    };

    let dry = oargs(true, &plan);
    let settings = match OffboardSettings::resolve(&dry, &env, chrono::Utc::now()) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let planned = offboard(settings, ctx).await;
    if matches!(planned, Exit::Usage | Exit::Stopped) {
        logging::eprint_line(&format!(
            "demo: the dry run did not finish (exit {}): no real run",
            planned.code()
        ));
        return planned;
    }
    let before = sim.state().requests.len();
    logging::eprint_line(&format!(
        "demo: the dry run sent {before} requests (a token and the lookups), none that \
         changes a user. Now the real run -> report {}",
        report.display()
    ));

    let real = oargs(false, &report);
    let settings = match OffboardSettings::resolve(&real, &env, chrono::Utc::now()) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let exit = offboard(settings, ctx).await;
    logging::eprint_line(&what_the_simulator_saw(
        &sim.state(),
        &target.email,
        exit,
        &plan,
        &report,
    ));
    exit
}

/// The last lines of `demo --offboard`: what the simulator saw, and what the exit code means.
fn what_the_simulator_saw(
    state: &SimState,
    target: &str,
    exit: Exit,
    plan: &Path,
    report: &Path,
) -> String {
    format!(
        "demo: the simulator saw {} requests in all: {} tokens revoked, {} users deactivated, \
         {} downgraded to Basic, {} removed (disassociated), {} data transfers to {}; Zoom \
         refused {} calls (400), {} answered 429.\n\
         demo: offboard's exit code would be {} ({}). Open the reports: {} (dry run), {}\n\
         demo: the one-page summaries (open them in a browser): {} (dry run), {}",
        state.requests.len(),
        state.total_revocations(),
        state.total_deactivations(),
        state.total_downgrades(),
        state.total_removals(),
        state.transfers_to(target).len(),
        target,
        zoom_refusals(state),
        throttled(state),
        exit.code(),
        match exit {
            Exit::Success => "every step of every user done",
            Exit::SomeFailed =>
                "some steps refused, skipped or not found, as the batch intends: the safety \
                 rules and Zoom's refusals at work",
            Exit::Usage => "nothing done",
            Exit::Stopped => "stopped early",
        },
        plan.display(),
        report.display(),
        crate::evidence::html_path(plan).display(),
        crate::evidence::html_path(report).display()
    )
}

/// The demo's simulator: a Business account under a neighbour's load, with latency and a few
/// faults, so the run shows pacing and retries; seeded, so every demo meets the same account.
pub(super) fn sim_config(users: usize) -> SimConfig {
    SimConfig {
        plan: crate::plan::Plan::Business,
        users: SimUsers::Generated(users),
        seed: 42,
        latency_ms: (30, 120),
        fault_5xx_before: 0.01,
        fault_5xx_after: 0.005,
        fault_drop: 0.005,
        neighbour_light_per_second: 20,
        ..SimConfig::default()
    }
}

/// The simulator's test credentials, as the environment would give them.
pub(super) fn sim_env(cfg: &SimConfig) -> impl Fn(&str) -> Option<String> + Send + Sync + use<> {
    let (acc, cid, secret) = (
        cfg.account_id.clone(),
        cfg.client_id.clone(),
        cfg.client_secret.clone(),
    );
    move |k: &str| match k {
        "ZOOM_ACCOUNT_ID" => Some(acc.clone()),
        "ZOOM_CLIENT_ID" => Some(cid.clone()),
        "ZOOM_CLIENT_SECRET" => Some(secret.clone()),
        _ => None,
    }
}

/// Where the demo's runs reach the simulator; `/dev/null` as the config, so that a
/// `zoom-offboard.toml` in the working directory cannot change the demo.
pub(super) fn sim_conn(sim: &Sim) -> ConnectionArgs {
    ConnectionArgs {
        plan: Some("business".into()),
        base_url: Some(sim.base_url()),
        oauth_url: Some(sim.oauth_url()),
        config: Some(PathBuf::from("/dev/null")),
        ..ConnectionArgs::default()
    }
}

/// A fresh report path in the system temp folder.
/// The demo's users: `input` as given, or, for the default fixture when the binary runs outside
/// the repository (so that `zoom-offboard demo` works from anywhere), the copy built into the
/// binary, written to a fresh file in the temp folder.
fn demo_input(input: &Path) -> Result<PathBuf, String> {
    if input != Path::new(crate::cli::DEMO_INPUT) || input.exists() {
        return Ok(input.to_path_buf());
    }
    use std::io::Write as _;
    let copy = temp_report("zoom-offboard-demo-users");
    // A new file only: never through a link or over someone else's file in a shared folder.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&copy)
        .and_then(|mut f| f.write_all(include_str!("../../fixtures/users.csv").as_bytes()))
        .map_err(|e| format!("cannot write the demo's users to {}: {e}", copy.display()))?;
    Ok(copy)
}

pub(super) fn temp_report(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "{prefix}-{}.csv",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ))
}

/// The dry run's report next to the real one: `out.csv` → `out-dry-run.csv`.
fn dry_run_path(report: &Path) -> PathBuf {
    let stem = report
        .file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy());
    let name = match report.extension() {
        Some(ext) => format!("{stem}-dry-run.{}", ext.to_string_lossy()),
        None => format!("{stem}-dry-run.csv"),
    };
    report.with_file_name(name)
}

/// Requests the simulator answered 429, for whatever reason.
fn throttled(state: &SimState) -> u64 {
    state.rejected_qps + state.rejected_daily + state.rejected_concurrent
}

/// Zoom's refusals the simulator answered: 400s to deactivations and removals.
fn zoom_refusals(state: &SimState) -> usize {
    state
        .requests
        .iter()
        .filter(|r| r.status == 400)
        .filter(|r| {
            let path = r.path.split('?').next().unwrap_or_default();
            (r.method == "PUT" && path.ends_with("/status"))
                || (r.method == "DELETE" && !path.ends_with("/token"))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dry_run_report_sits_next_to_the_real_one() {
        assert_eq!(
            dry_run_path(Path::new("/tmp/out.jsonl")),
            PathBuf::from("/tmp/out-dry-run.jsonl")
        );
        assert_eq!(
            dry_run_path(Path::new("out")),
            PathBuf::from("out-dry-run.csv")
        );
    }
}
