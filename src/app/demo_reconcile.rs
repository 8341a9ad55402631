//! `zoom-offboard demo --reconcile`: the nightly reconciliation against the built-in simulator.
//!
//! The simulator holds a [`crate::sim::workforce`]: users on the company's domain, a
//! subsidiary's and a contractors' agency, with an HR roster that misses this night's leavers
//! and is as noisy as real exports (case, spaces, new addresses with the Zoom one as an alias).
//! The demo writes that roster, runs a real `reconcile` over HTTP, then pipes its candidates
//! into `offboard --dry-run --steps revoke,deactivate`: the whole scheduled job, with no write.

use std::path::{Path, PathBuf};

use super::demo::{sim_config, sim_conn, sim_env, temp_report};
use super::{Context, offboard, reconcile, usage};
use crate::cli::{DemoArgs, ListingArgs, OffboardArgs, ReconcileArgs, RevokeArgs};
use crate::config::OffboardSettings;
use crate::exit::Exit;
use crate::logging;
use crate::sim::{Sim, SimConfig, SimUsers, workforce};

/// `demo --reconcile`: see the module doc.
pub(super) async fn demo_reconcile(args: &DemoArgs, ctx: &Context) -> Exit {
    let w = workforce(args.sim_users, 42);
    let cfg = SimConfig {
        users: SimUsers::List(w.users.clone()),
        ..sim_config(args.sim_users)
    };
    let sim = match Sim::start(cfg.clone()).await {
        Ok(s) => s,
        Err(e) => return usage(&format!("cannot start the simulator: {e:#}")),
    };
    let exit = runs(args, ctx, &sim, &cfg, &w.roster).await;
    sim.shutdown().await;
    exit
}

/// Writes the roster, reconciles, and plans the offboarding of the candidates.
async fn runs(args: &DemoArgs, ctx: &Context, sim: &Sim, cfg: &SimConfig, roster: &str) -> Exit {
    let report = args
        .report
        .clone()
        .unwrap_or_else(|| temp_report("zoom-offboard-demo-reconcile"));
    let (roster_path, candidates) = (beside(&report, "roster"), beside(&report, "candidates"));
    if let Err(e) = std::fs::write(&roster_path, roster) {
        return usage(&format!("cannot write {}: {e}", roster_path.display()));
    }
    logging::eprint_line(&format!(
        "demo: simulator on {} with {} users on three domains; the HR roster {} misses this \
         night's leavers and a contractors' agency.\n\
         demo: zoom-offboard reconcile --roster {} --roster-column work_email --roster-column \
         alias > {}",
        sim.base_url(),
        args.sim_users,
        roster_path.display(),
        roster_path.display(),
        candidates.display()
    ));
    let rargs = ReconcileArgs {
        roster: vec![roster_path.clone()],
        roster_column: vec!["work_email".into(), "alias".into()],
        listing: ListingArgs {
            conn: sim_conn(sim),
            output: args.output.clone(),
            ..ListingArgs::default()
        },
        ..ReconcileArgs::default()
    };
    let mut out = Vec::new();
    let env = sim_env(cfg);
    let rctx = Context {
        env: Box::new(env),
        cancel: ctx.cancel.clone(),
        stdin_is_terminal: true,
        confirm: None,
        progress_terminal: ctx.progress_terminal,
    };
    let found = reconcile(&rargs, &rctx, &mut out, &mut std::io::empty()).await;
    if found != Exit::Success {
        return found;
    }
    if let Err(e) = std::fs::write(&candidates, &out) {
        return usage(&format!("cannot write {}: {e}", candidates.display()));
    }
    plan(args, ctx, sim, cfg, &candidates, &report).await
}

/// `offboard --dry-run --steps revoke,deactivate` of the candidates file.
async fn plan(
    args: &DemoArgs,
    ctx: &Context,
    sim: &Sim,
    cfg: &SimConfig,
    candidates: &Path,
    report: &Path,
) -> Exit {
    logging::eprint_line(&format!(
        "demo: zoom-offboard offboard {} --steps revoke,deactivate --dry-run -> report {}",
        candidates.display(),
        report.display()
    ));
    let oargs = OffboardArgs {
        steps: Some("revoke,deactivate".into()),
        run: RevokeArgs {
            inputs: vec![candidates.to_path_buf()],
            dry_run: true,
            report: Some(report.to_path_buf()),
            conn: sim_conn(sim),
            output: args.output.clone(),
            ..RevokeArgs::default()
        },
        ..OffboardArgs::default()
    };
    let settings = match OffboardSettings::resolve(&oargs, &sim_env(cfg), chrono::Utc::now()) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let exit = offboard(settings, ctx).await;
    let writes = sim
        .state()
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/v2/") && r.method != "GET")
        .count();
    logging::eprint_line(&format!(
        "demo: the simulator saw {writes} write requests (a reconciliation and a dry run send \
         none). Scheduled, the same two commands run nightly without --dry-run: see \
         \"Scheduled reconciliation\" in the README. Files: {}, {}",
        candidates.display(),
        report.display()
    ));
    Exit::for_demo(exit)
}

/// A file next to the report: `out.csv` → `out-roster.csv`.
fn beside(report: &Path, what: &str) -> PathBuf {
    let stem = report
        .file_stem()
        .map_or_else(|| "demo".into(), |s| s.to_string_lossy());
    report.with_file_name(format!("{stem}-{what}.csv"))
}
