//! `zoom-offboard demo`: the simulator in-process and a real revoke of the fixture against it.

use std::path::PathBuf;

use super::{Context, revoke, usage};
use crate::cli::{ConnectionArgs, DemoArgs, RevokeArgs};
use crate::config::Settings;
use crate::exit::Exit;
use crate::logging;

/// `zoom-offboard demo`: the simulator in-process and a real revoke against it.
pub(super) async fn demo(args: DemoArgs, ctx: &Context) -> Exit {
    let cfg = crate::sim::SimConfig {
        plan: crate::plan::Plan::Business,
        users: crate::sim::SimUsers::Generated(args.sim_users),
        seed: 42,
        latency_ms: (30, 120),
        fault_5xx_before: 0.01,
        fault_5xx_after: 0.005,
        fault_drop: 0.005,
        neighbour_light_per_second: 20,
        ..crate::sim::SimConfig::default()
    };
    let sim = match crate::sim::Sim::start(cfg.clone()).await {
        Ok(s) => s,
        Err(e) => return usage(&format!("cannot start the simulator: {e:#}")),
    };
    let report = args.report.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "zoom-offboard-demo-{}.csv",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    });
    logging::eprint_line(&format!(
        "demo: simulator on {} (Business plan, 80/s Light, another app using 20/s, \
         latency 30-120 ms, a few 5xx and dropped connections)\n\
         demo: revoking the users in {} -> report {}",
        sim.base_url(),
        args.input.display(),
        report.display()
    ));
    let rargs = RevokeArgs {
        inputs: vec![args.input.clone()],
        report: Some(report.clone()),
        yes: true,
        conn: ConnectionArgs {
            plan: Some("business".into()),
            base_url: Some(sim.base_url()),
            oauth_url: Some(sim.oauth_url()),
            config: Some(PathBuf::from("/dev/null")),
            ..ConnectionArgs::default()
        },
        output: args.output.clone(),
        ..RevokeArgs::default()
    };
    let (acc, cid, secret) = (
        cfg.account_id.clone(),
        cfg.client_id.clone(),
        cfg.client_secret.clone(),
    );
    let env = move |k: &str| match k {
        "ZOOM_ACCOUNT_ID" => Some(acc.clone()),
        "ZOOM_CLIENT_ID" => Some(cid.clone()),
        "ZOOM_CLIENT_SECRET" => Some(secret.clone()),
        _ => None,
    };
    let settings = match Settings::resolve(&rargs, &env, chrono::Utc::now()) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let exit = revoke(settings, ctx).await;
    let state = sim.state();
    logging::eprint_line(&format!(
        "demo: the simulator saw {} requests, {} tokens revoked, {} answered 429.\n\
         demo: revoke's exit code would be {} ({}). Open the report: {}",
        state.requests.len(),
        state.total_revocations(),
        state.rejected_qps + state.rejected_daily + state.rejected_concurrent,
        exit.code(),
        match exit {
            Exit::Success => "every user revoked",
            Exit::SomeFailed => "some users not found or invalid, as the fixture intends",
            Exit::Usage => "nothing done",
            Exit::Stopped => "stopped early",
        },
        report.display()
    ));
    sim.shutdown().await;
    Exit::for_demo(exit)
}
