//! Helpers for running `revoke` in-process against the simulator.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::bin::Bin;
use tokio_util::sync::CancellationToken;
use zoom_offboard::app::{Context, revoke};
use zoom_offboard::cli::{ConnectionArgs, RevokeArgs};
use zoom_offboard::config::Settings;
use zoom_offboard::exit::Exit;
use zoom_offboard::report::{Row, Status, read_report, read_rows};
use zoom_offboard::sim::{Sim, SimConfig};

/// An environment lookup shared with the revoke run.
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A simulator that allows a lot, so tests that are not about pacing run fast.
pub fn fast_sim() -> SimConfig {
    SimConfig {
        light_per_second: Some(2000),
        medium_per_second: Some(2000),
        users: zoom_offboard::sim::SimUsers::Generated(1000),
        ..SimConfig::default()
    }
}

/// Arguments pointed at `sim`, reading `input`, reporting to `report`, fast by default.
pub fn args(sim: &Sim, input: &Path, report: &Path) -> RevokeArgs {
    RevokeArgs {
        inputs: vec![input.to_path_buf()],
        report: Some(report.to_path_buf()),
        rate: Some(1000.0),
        yes: true,
        conn: sim_conn(sim),
        output: quiet_output(),
        ..RevokeArgs::default()
    }
}

/// Where and how the tests' runs reach `sim`: Business plan, no config file, a 5 s timeout.
pub fn sim_conn(sim: &Sim) -> ConnectionArgs {
    ConnectionArgs {
        base_url: Some(sim.base_url()),
        oauth_url: Some(sim.oauth_url()),
        plan: Some("business".into()),
        config: Some(PathBuf::from("/dev/null")),
        timeout: Some(5.0),
        ..ConnectionArgs::default()
    }
}

/// No progress bar, errors only: the tests' runs keep their output to themselves.
pub fn quiet_output() -> zoom_offboard::cli::OutputArgs {
    zoom_offboard::cli::OutputArgs {
        no_progress: true,
        quiet: true,
        ..Default::default()
    }
}

/// The simulator's S2S credentials as an environment.
pub fn s2s_env(sim: &Sim) -> Env {
    let c = sim.config().clone();
    Arc::new(move |k: &str| match k {
        "ZOOM_ACCOUNT_ID" => Some(c.account_id.clone()),
        "ZOOM_CLIENT_ID" => Some(c.client_id.clone()),
        "ZOOM_CLIENT_SECRET" => Some(c.client_secret.clone()),
        _ => None,
    })
}

/// A static-token environment.
pub fn static_env(token: String) -> Env {
    Arc::new(move |k: &str| (k == "ZOOM_ACCESS_TOKEN").then(|| token.clone()))
}

/// Runs revoke in-process with `env`, stopping on `cancel`.
pub async fn run_with(args: &RevokeArgs, env: Env, cancel: CancellationToken) -> Exit {
    let e2 = env.clone();
    let settings = Settings::resolve(args, &move |k: &str| e2(k), chrono::Utc::now())
        .expect("settings resolve");
    let ctx = Context {
        env: Box::new(move |k: &str| env(k)),
        cancel,
        stdin_is_terminal: false,
        confirm: None,
        progress_terminal: false,
    };
    revoke(settings, &ctx).await
}

/// Runs revoke in-process with the simulator's S2S credentials.
pub async fn run(sim: &Sim, args: &RevokeArgs) -> Exit {
    run_with(args, s2s_env(sim), CancellationToken::new()).await
}

/// Writes `lines` as a file in `dir`.
pub fn write_input(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").expect("write input");
    p
}

/// Emails of active users only (pending users answer 1120).
pub fn active_emails(sim: &Sim, n: usize) -> Vec<String> {
    sim.users()
        .into_iter()
        .filter(|u| matches!(u.status, zoom_offboard::sim::UserStatus::Active))
        .take(n)
        .map(|u| u.email)
        .collect()
}

/// All rows of a report, read by the product's reader (which unquotes formula-looking cells).
pub fn rows(report: &Path) -> Vec<Row> {
    read_rows(report).expect("read report")
}

/// The last row per user (lower-cased email key), via the product's own resume reader.
pub fn last_status(report: &Path) -> std::collections::HashMap<String, Status> {
    let state = read_report(report).expect("read report");
    state.iter().map(|(k, r)| (k.clone(), r.status)).collect()
}

/// `zoom-offboard revoke INPUT --report REPORT --yes` against `sim` with its S2S credentials.
pub fn revoke_cmd(sim: &Sim, input: &Path, report: &Path) -> Bin {
    let cfg = sim.config();
    Bin::new()
        .arg("revoke")
        .arg(input)
        .arg("--report")
        .arg(report)
        .args([
            "--base-url",
            &sim.base_url(),
            "--oauth-url",
            &sim.oauth_url(),
        ])
        .args(["--yes", "--no-progress", "--config", "/dev/null"])
        .env("ZOOM_ACCOUNT_ID", &cfg.account_id)
        .env("ZOOM_CLIENT_ID", &cfg.client_id)
        .env("ZOOM_CLIENT_SECRET", &cfg.client_secret)
}

/// The binary's revoke of `input` against `base` (no simulator), reporting to `report`.
pub fn revoke_cmd_with_base(input: &Path, report: &Path, base: &str) -> Bin {
    Bin::new()
        .arg("revoke")
        .arg(input)
        .arg("--report")
        .arg(report)
        .args(["--base-url", base])
        .args(["--yes", "--no-progress", "--config", "/dev/null"])
}

/// A simulator, a temp folder, an input of `users` active users (with an `email` header) and a
/// report path: the setup most revoke tests share.
pub struct Setup {
    /// The running simulator.
    pub sim: Sim,
    /// Holds the input and the report; removed on drop (kept alive by this field).
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
    /// The users file.
    pub input: PathBuf,
    /// Where the report goes.
    pub report: PathBuf,
}

/// Starts `cfg` and writes an input of its first `users` active users.
pub async fn setup(cfg: SimConfig, users: usize) -> Setup {
    let sim = Sim::start(cfg).await.expect("start the simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut lines = vec!["email".to_string()];
    lines.extend(active_emails(&sim, users));
    let input = write_input(dir.path(), "users.csv", &lines);
    let report = dir.path().join("out.csv");
    Setup {
        sim,
        dir,
        input,
        report,
    }
}

impl Setup {
    /// `args()` for this setup.
    pub fn args(&self) -> RevokeArgs {
        args(&self.sim, &self.input, &self.report)
    }
}

/// A simulator of `users` generated users that allows 2,000 Light calls a second, on top of
/// `cfg`: for tests about the binary's surface, not its pacing.
pub async fn started_with(users: usize, cfg: SimConfig) -> Sim {
    Sim::start(SimConfig {
        users: zoom_offboard::sim::SimUsers::Generated(users),
        light_per_second: Some(2000),
        ..cfg
    })
    .await
    .expect("start the simulator")
}

/// An input file in `dir` of `sim`'s first `n` active users, under an `email` header.
pub fn emails_file(sim: &Sim, dir: &Path, n: usize) -> PathBuf {
    let mut lines = vec!["email".to_string()];
    lines.extend(active_emails(sim, n));
    write_input(dir, "users.csv", &lines)
}
