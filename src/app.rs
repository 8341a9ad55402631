//! The commands, wired together: settings → input → report → credentials → run → summary.
//!
//! Errors before the first API call are [`Exit::Usage`] (2) with a message that names the file,
//! line, flag or variable at fault. After that, per-user problems are report rows and the exit
//! code comes from the users' final statuses ([`Exit::from_counts`]).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::cli::{Cli, Command, DemoArgs, ListFormat, RevokeArgs, UsersArgs};
use crate::config::{Credentials, LogSettings, Settings};
use crate::exit::Exit;
use crate::input::{self, Batch, InputOptions, InputSource};
use crate::logging;
use crate::pacing::Pacer;
use crate::report::{ReportWriter, ResumeState, Row, Status, Summary};
use crate::run::{self, Mode, RunOptions, Stats, StopReason};
use crate::zoom::{self, TokenSource, ZoomClient};

/// The process environment (`std::env::var`), as the settings resolver wants it.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Environment lookup: `std::env::var` in the process, a map in tests.
pub type EnvFn = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;
/// Asks the operator to confirm: shown the prompt, must answer the number of users.
pub type ConfirmFn = Box<dyn Fn(&str, u64) -> bool + Send + Sync>;

/// How a command talks to the world outside its arguments. Tests build their own.
pub struct Context {
    /// Environment lookup.
    pub env: EnvFn,
    /// Operator's stop (Ctrl-C / SIGTERM).
    pub cancel: CancellationToken,
    /// Whether stdin is a terminal (then reading users from it is a usage error).
    pub stdin_is_terminal: bool,
    /// Asks the operator to confirm a real run; `None` when there is no terminal to ask on.
    pub confirm: Option<ConfirmFn>,
    /// Whether a progress bar may be drawn (stderr is a terminal).
    pub progress_terminal: bool,
}

impl Context {
    /// The real process: environment, terminal on /dev/tty, stderr for the bar.
    pub fn process(cancel: CancellationToken) -> Context {
        Context {
            env: Box::new(process_env),
            cancel,
            stdin_is_terminal: std::io::stdin().is_terminal(),
            // ZOOM_OFFBOARD_NO_TTY=1 makes the tool behave as if it had no terminal to ask on
            // (for tests and for scripts run from an interactive shell).
            confirm: if process_env("ZOOM_OFFBOARD_NO_TTY").is_some_and(|v| v == "1") {
                None
            } else {
                tty_confirm()
            },
            progress_terminal: std::io::stderr().is_terminal(),
        }
    }
}

/// Entry point used by `src/main.rs`.
pub fn main_entry() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Usage.into();
        }
    };
    runtime.block_on(async move {
        let cancel = CancellationToken::new();
        watch_signals(cancel.clone());
        let ctx = Context::process(cancel);
        run_command(cli, ctx).await.into()
    })
}

/// Runs one parsed command line.
pub async fn run_command(cli: Cli, ctx: Context) -> Exit {
    match cli.command {
        Command::Revoke(args) => {
            let settings = match Settings::resolve(&args, &*ctx.env, chrono::Utc::now()) {
                Ok(s) => s,
                Err(e) => {
                    logging::init(&LogSettings::from_args(&args.output));
                    return usage(&e.to_string());
                }
            };
            logging::init(&settings.log);
            revoke(settings, &ctx).await
        }
        Command::Users(args) => {
            logging::init(&LogSettings::from_args(&args.output));
            let mut out = std::io::stdout().lock();
            users(&args, &ctx, &mut out).await
        }
        Command::Sim(args) => {
            logging::init(&LogSettings::default());
            match crate::sim::run_cli(args).await {
                Ok(()) => Exit::Success,
                Err(e) => usage(&format!("{e:#}")),
            }
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "zoom-offboard", &mut std::io::stdout());
            Exit::Success
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
                Ok(()) => Exit::Success,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Success,
                Err(e) => usage(&format!("cannot write the man page: {e}")),
            }
        }
        Command::Demo(args) => {
            logging::init(&LogSettings::from_args(&args.output));
            demo(args, &ctx).await
        }
    }
}

/// First Ctrl-C (or SIGTERM): stop starting requests, drain, write `pending` rows, exit 3.
/// Second Ctrl-C: exit 3 at once (the report holds every row written so far).
fn watch_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            #[cfg(unix)]
            let got = async {
                match term.as_mut() {
                    Some(t) => {
                        tokio::select! {
                            r = tokio::signal::ctrl_c() => r.is_ok(),
                            r = t.recv() => r.is_some(),
                        }
                    }
                    None => tokio::signal::ctrl_c().await.is_ok(),
                }
            }
            .await;
            #[cfg(not(unix))]
            let got = tokio::signal::ctrl_c().await.is_ok();
            if !got {
                return;
            }
            if cancel.is_cancelled() {
                logging::eprint_line("zoom-offboard: second interrupt: exiting now");
                std::process::exit(i32::from(Exit::Stopped.code()));
            }
            logging::eprint_line(
                "zoom-offboard: stopping: finishing requests in flight, then writing pending \
                 rows (press Ctrl-C again to quit at once)",
            );
            cancel.cancel();
        }
    });
}

fn usage(message: &str) -> Exit {
    logging::eprint_line(&format!("zoom-offboard: error: {message}"));
    Exit::Usage
}

fn input_sources(paths: &[PathBuf]) -> Vec<InputSource> {
    paths
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                InputSource::Stdin
            } else {
                InputSource::Path(p.clone())
            }
        })
        .collect()
}

/// `zoom-offboard revoke` (and its dry run).
pub async fn revoke(settings: Settings, ctx: &Context) -> Exit {
    let started = Instant::now();
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }

    // 1. Input: read and validate everything before any request.
    let mut sources = input_sources(&settings.inputs);
    if sources.is_empty() && settings.users.is_empty() {
        if ctx.stdin_is_terminal {
            return usage(
                "no users given: pass INPUT files, --user ID, or pipe a list on stdin \
                 (stdin is a terminal)",
            );
        }
        sources.push(InputSource::Stdin);
    }
    let opts = InputOptions {
        column: settings.column.clone(),
    };
    let batch = {
        let mut stdin = std::io::stdin().lock();
        match input::load(
            &sources,
            &settings.users,
            settings.exclude.as_deref(),
            &opts,
            &mut stdin,
        ) {
            Ok(b) => b,
            Err(e) => return usage(&e.to_string()),
        }
    };

    // 2. Credentials must exist for a real run.
    if !settings.dry_run && settings.credentials.is_none() {
        return usage(
            "no credentials: set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET \
             (Server-to-Server OAuth), or ZOOM_ACCESS_TOKEN; or use --dry-run to validate only",
        );
    }
    // 3. Confirmation needs a terminal (checked before anything is written).
    if !settings.dry_run && !settings.yes && ctx.confirm.is_none() {
        return usage(
            "refusing to log users out without confirmation: there is no terminal to ask on. \
             Pass --yes to run unattended (check the plan first with --dry-run)",
        );
    }

    // 4. The report, opened before the first request (fail fast).
    let (writer, resume) = match ReportWriter::open(&settings.report, settings.resume) {
        Ok(x) => x,
        Err(e) => return usage(&e.to_string()),
    };
    let plan = WorkPlan::build(&batch, resume.as_ref());
    if settings.resume {
        tracing::info!(
            already_done = plan.already_done,
            to_do = plan.todo.len(),
            "resuming {}",
            settings.report.display()
        );
    }

    if !settings.dry_run && !settings.yes && !plan.todo.is_empty() {
        let prompt = confirmation_text(&plan, &settings);
        let asked = ctx
            .confirm
            .as_ref()
            .is_some_and(|c| c(&prompt, plan.todo.len() as u64));
        if !asked {
            drop(writer);
            if resume.as_ref().is_none_or(|r| r.is_empty()) {
                let _ = std::fs::remove_file(&settings.report);
            }
            return usage("not confirmed: nothing was done");
        }
    }

    // 5. Collector: owns the report file and the progress bar.
    let total = plan.todo.len() as u64 + plan.prewritten.len() as u64;
    let bar = progress_bar(&settings.log, ctx.progress_terminal, total);
    let stats = Arc::new(Stats::default());
    let (tx, rx) = mpsc::channel::<Row>(1024);
    let json_logs = settings.log.format == crate::cli::LogFormat::Json;
    let collector = tokio::spawn(collect(writer, rx, bar.clone(), stats.clone(), json_logs));
    for row in plan.prewritten.iter().cloned() {
        if tx.send(row).await.is_err() {
            break;
        }
    }

    let run_id = run_id();
    let span = tracing::info_span!("run", run_id = %run_id);
    let mut stop: Option<StopReason> = None;
    let mut first_call_stop = false;
    let mut requests_rate = settings.rate;

    if !plan.todo.is_empty() {
        match (&settings.credentials, settings.dry_run) {
            (None, _) => {
                // Only a dry run gets here without credentials (checked above).
                for u in &plan.todo {
                    let mut row = Row::new(u.as_str(), Status::WouldRevoke);
                    row.message = "validated only: no credentials, so not looked up".into();
                    if tx.send(row).await.is_err() {
                        break;
                    }
                }
            }
            (Some(creds), dry) => {
                let mode = if dry { Mode::Lookup } else { Mode::Revoke };
                match connect(&settings, creds).await {
                    Err(msg) => {
                        for u in &plan.todo {
                            let mut row = Row::new(u.as_str(), Status::Pending);
                            row.message = format!("not attempted: {msg}");
                            let _ = tx.send(row).await;
                        }
                        drop(tx);
                        let _ = collector.await;
                        if let Some(b) = &bar {
                            b.finish_and_clear();
                        }
                        logging::set_bar(None);
                        return usage(&msg);
                    }
                    Ok(client) => {
                        let pacer = match Pacer::new(settings.rate) {
                            Ok(p) => Arc::new(p),
                            Err(e) => return usage(&e.to_string()),
                        };
                        let opts =
                            RunOptions::new(mode, settings.concurrency, settings.max_retries);
                        let res = run::execute(
                            plan.todo.clone(),
                            client,
                            pacer.clone(),
                            opts,
                            stats.clone(),
                            tx.clone(),
                            ctx.cancel.clone(),
                        )
                        .instrument(span.clone())
                        .await;
                        stop = res.stop;
                        first_call_stop = res.stopped_on_first_call;
                        requests_rate = pacer.max_rate();
                    }
                }
            }
        }
    }
    drop(tx);
    let collected = match collector.await {
        Ok(c) => c,
        Err(e) => {
            logging::set_bar(None);
            logging::eprint_line(&format!("zoom-offboard: error: report writer failed: {e}"));
            return Exit::Stopped;
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    logging::set_bar(None);
    if let Some(err) = &collected.error {
        stop.get_or_insert(StopReason::Report(err.clone()));
    }

    // 6. Summary and exit code over every user's final state (resumed users included).
    let mut final_counts = collected.counts.clone();
    for (k, v) in &plan.done_counts {
        *final_counts.entry(*k).or_default() += v;
    }
    let summary = Summary {
        counts: collected.counts.clone(),
        wall: started.elapsed(),
        requests: stats.requests.load(Ordering::Relaxed),
        target_rate: requests_rate,
        throttled: stats.throttled.load(Ordering::Relaxed),
        retries: stats.retries.load(Ordering::Relaxed),
        duplicates: batch.duplicates,
        report_path: settings.report.clone(),
        dry_run: settings.dry_run,
        stop_reason: stop.as_ref().map(|s| s.to_string()),
    };
    if !settings.log.quiet {
        let mut text = summary.render();
        if plan.already_done > 0 {
            text.push_str(&format!(
                "\n  resumed: {} users were already done in earlier runs",
                plan.already_done
            ));
        }
        if settings.dry_run {
            text.push_str(&dry_run_estimate(&plan, &settings));
        }
        logging::eprint_line(&text);
    }
    if let Some(reason) = &stop {
        if first_call_stop {
            logging::eprint_line(&format!(
                "zoom-offboard: stopped on the first call, nothing was done: {reason}"
            ));
            return Exit::Usage;
        }
        logging::eprint_line(&format!(
            "zoom-offboard: stopped: {reason}. Users not finished are `pending` in {}; \
             continue with the same command plus --resume --report {}",
            settings.report.display(),
            settings.report.display()
        ));
        return Exit::Stopped;
    }
    Exit::from_counts(&final_counts)
}

/// What this invocation has to do, after input and resume state are known.
struct WorkPlan {
    /// Users to request, in order.
    todo: Vec<input::UserId>,
    /// Rows known without any request (invalid, excluded), not already in the report.
    prewritten: Vec<Row>,
    /// Users skipped because the report already has them done.
    already_done: usize,
    /// Final statuses of those skipped users, for the exit code.
    done_counts: BTreeMap<Status, u64>,
    /// For the confirmation and the dry-run plan.
    excluded: usize,
    invalid: usize,
}

impl WorkPlan {
    fn build(batch: &Batch, resume: Option<&ResumeState>) -> WorkPlan {
        let mut done_counts = BTreeMap::new();
        let mut already_done = 0;
        let mut done = |key: &str| -> bool {
            match resume.and_then(|r| r.last(key)) {
                Some(row) if row.status.is_terminal() && row.status != Status::Failed => {
                    *done_counts.entry(row.status).or_insert(0) += 1;
                    already_done += 1;
                    true
                }
                _ => false,
            }
        };
        let mut prewritten = Vec::new();
        for inv in &batch.invalid {
            if done(&input::dedupe_key(&inv.raw)) {
                continue;
            }
            let mut row = Row::new(inv.raw.clone(), Status::Invalid);
            row.message = format!(
                "{} line {}: {} (never sent)",
                inv.origin.file, inv.origin.line, inv.reason
            );
            prewritten.push(row);
        }
        for u in &batch.excluded {
            if done(&u.key()) {
                continue;
            }
            let mut row = Row::new(u.as_str(), Status::Excluded);
            row.message = "in the --exclude list: never touched".into();
            prewritten.push(row);
        }
        let todo: Vec<_> = batch
            .users
            .iter()
            .filter(|u| !done(&u.key()))
            .cloned()
            .collect();
        WorkPlan {
            todo,
            prewritten,
            already_done,
            done_counts,
            excluded: batch.excluded.len(),
            invalid: batch.invalid.len(),
        }
    }
}

fn confirmation_text(plan: &WorkPlan, settings: &Settings) -> String {
    let sample: Vec<&str> = plan.todo.iter().take(5).map(|u| u.as_str()).collect();
    let more = plan.todo.len().saturating_sub(sample.len());
    let secs = plan.todo.len() as f64 / settings.rate;
    format!(
        "About to log {} users out of Zoom ({} excluded, {} invalid and skipped), at {:.1} \
         requests/s (about {}):\n  {}{}\nReport: {}\nType the number of users ({}) to go on: ",
        plan.todo.len(),
        plan.excluded,
        plan.invalid,
        settings.rate,
        humantime::format_duration(Duration::from_secs(secs.ceil() as u64)),
        sample.join("\n  "),
        if more > 0 {
            format!("\n  ... and {more} more")
        } else {
            String::new()
        },
        settings.report.display(),
        plan.todo.len()
    )
}

fn dry_run_estimate(plan: &WorkPlan, settings: &Settings) -> String {
    let secs = plan.todo.len() as f64 / settings.rate;
    format!(
        "\n  dry run: no write request was sent. A real run would request {} users at {:.1}/s: \
         about {}.{}",
        plan.todo.len(),
        settings.rate,
        humantime::format_duration(Duration::from_secs(secs.ceil() as u64)),
        if settings.credentials.is_none() {
            " Without credentials, users were validated but not looked up."
        } else {
            ""
        }
    )
}

/// Asks on /dev/tty, so it works when the users come through a pipe on stdin.
fn tty_confirm() -> Option<ConfirmFn> {
    #[cfg(unix)]
    {
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let tty = std::sync::Mutex::new(tty);
        Some(Box::new(move |prompt: &str, n: u64| {
            let Ok(mut t) = tty.lock() else { return false };
            if t.write_all(prompt.as_bytes())
                .and_then(|_| t.flush())
                .is_err()
            {
                return false;
            }
            let mut line = String::new();
            let mut reader = std::io::BufReader::new(&mut *t);
            if reader.read_line(&mut line).is_err() {
                return false;
            }
            line.trim() == n.to_string()
        }))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Fetches the first token and checks its scopes, so bad credentials cost no API call.
async fn connect(settings: &Settings, creds: &Credentials) -> Result<ZoomClient, String> {
    let http = zoom::http_client(settings.timeout, settings.concurrency)
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let source = match creds {
        Credentials::Static(t) => TokenSource::from_static(t.clone()),
        Credentials::S2s(c) => TokenSource::s2s(
            zoom::auth::S2sCredentials {
                account_id: c.account_id.clone(),
                client_id: c.client_id.clone(),
                client_secret: c.client_secret.clone(),
            },
            settings.oauth_url.clone(),
            http.clone(),
        ),
    };
    let source = Arc::new(source);
    if source.renewable() {
        source.token().await.map_err(|e| e.to_string())?;
        if let Some(granted) = source.granted_scopes().await {
            let needed: &[&str] = if settings.dry_run {
                &[
                    "user:read:admin",
                    "user:write:admin",
                    "user:read:user:admin",
                    "user:read:list_users:admin",
                ]
            } else {
                &["user:write:admin", "user:delete:token:admin"]
            };
            if !granted.iter().any(|g| needed.contains(&g.as_str())) {
                return Err(format!(
                    "the app's token lacks the scope this needs: one of {} (granted: {}). Add \
                     it to the Server-to-Server OAuth app in the Zoom Marketplace",
                    needed.join(", "),
                    if granted.is_empty() {
                        "none".to_string()
                    } else {
                        granted.join(" ")
                    }
                ));
            }
        }
    }
    Ok(ZoomClient::new(http, &settings.base_url, source))
}

fn progress_bar(log: &LogSettings, terminal: bool, total: u64) -> Option<ProgressBar> {
    if !log.progress || !terminal || log.quiet {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} users  {per_sec}  ETA {eta}  {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    logging::set_bar(Some(bar.clone()));
    Some(bar)
}

/// Rows the collector writes with one flush at most (the row channel's capacity).
const COLLECT_BATCH: usize = 1024;

/// What the collector hands back.
struct Collected {
    counts: BTreeMap<Status, u64>,
    error: Option<String>,
}

/// The single owner of the report file and the bar: writes rows as they arrive, whatever is
/// waiting in the channel at once with one flush (a row per `write(2)` and a wake-up per row
/// made a million-row dry run take three times as long).
async fn collect(
    mut writer: ReportWriter,
    mut rx: mpsc::Receiver<Row>,
    bar: Option<ProgressBar>,
    stats: Arc<Stats>,
    json_logs: bool,
) -> Collected {
    let mut counts = BTreeMap::new();
    let mut error = None;
    let mut batch = Vec::with_capacity(COLLECT_BATCH);
    while rx.recv_many(&mut batch, COLLECT_BATCH).await > 0 {
        if let Err(e) = writer.write_rows(&batch) {
            error = Some(e.to_string());
            tracing::error!("cannot write the report: {e}");
            rx.close();
            // Count the rest so nothing is silently lost from the summary.
            for row in &batch {
                *counts.entry(row.status).or_insert(0) += 1;
            }
            while let Some(r) = rx.recv().await {
                *counts.entry(r.status).or_insert(0) += 1;
            }
            break;
        }
        let finished = batch.len() as u64;
        for row in batch.drain(..) {
            if json_logs {
                tracing::info!(user = %row.user, status = %row.status, http_status = ?row.http_status,
                    tracking_id = ?row.tracking_id, attempts = row.attempts, "user finished");
            } else {
                tracing::debug!(user = %row.user, status = %row.status, "{}", row.message);
            }
            *counts.entry(row.status).or_insert(0) += 1;
        }
        if let Some(b) = &bar {
            b.inc(finished);
            b.set_message(format!(
                "429s: {}  retries: {}",
                stats.throttled.load(Ordering::Relaxed),
                stats.retries.load(Ordering::Relaxed)
            ));
        }
    }
    if let Err(e) = writer.sync() {
        error.get_or_insert(e.to_string());
    }
    Collected { counts, error }
}

fn run_id() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random();
    format!("{}-{n:08x}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
}

/// `zoom-offboard demo`: the simulator in-process and a real revoke against it.
async fn demo(args: DemoArgs, ctx: &Context) -> Exit {
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
        plan: Some("business".into()),
        yes: true,
        base_url: Some(sim.base_url()),
        oauth_url: Some(sim.oauth_url()),
        config: Some(PathBuf::from("/dev/null")),
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
    // The fixture holds missing and invalid users on purpose, so revoke's exit 1 is the demo
    // working as intended; anything else is a real problem.
    match exit {
        Exit::Success | Exit::SomeFailed => Exit::Success,
        other => other,
    }
}

/// `zoom-offboard users`: every user with a status, on `out`, each exactly once.
pub async fn users(args: &UsersArgs, ctx: &Context, out: &mut dyn Write) -> Exit {
    // The connection settings resolve exactly like revoke's.
    let as_revoke = RevokeArgs {
        plan: args.plan.clone(),
        timeout: args.timeout,
        config: args.config.clone(),
        base_url: args.base_url.clone(),
        oauth_url: args.oauth_url.clone(),
        client_secret_file: args.client_secret_file.clone(),
        dry_run: true,
        report: Some(PathBuf::from("-")),
        output: args.output.clone(),
        ..RevokeArgs::default()
    };
    let settings = match Settings::resolve(&as_revoke, &*ctx.env, chrono::Utc::now()) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let Some(creds) = &settings.credentials else {
        return usage(
            "no credentials: set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET, or              ZOOM_ACCESS_TOKEN",
        );
    };
    let rate = args
        .rate
        .unwrap_or_else(|| f64::from(settings.plan.per_second(crate::plan::Label::Medium)) * 0.8);
    let pacer = match Pacer::new(rate) {
        Ok(p) => p,
        Err(e) => return usage(&format!("--rate: {e}")),
    };
    // `settings` was resolved as a dry run, so `connect` checks for a read scope.
    let client = match connect(&settings, creds).await {
        Ok(c) => c,
        Err(msg) => return usage(&msg),
    };
    let columns = [
        "id",
        "email",
        "first_name",
        "last_name",
        "type",
        "status",
        "role_id",
        "last_login_time",
    ];
    enum Sink<'a> {
        Csv(Box<csv::Writer<&'a mut dyn Write>>),
        Jsonl(&'a mut dyn Write),
    }
    let mut sink = match args.format {
        ListFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            // The header goes out first, so even an empty account gives a well-formed CSV.
            if let Err(e) = w.write_record(columns) {
                return usage(&format!("cannot write to stdout: {e}"));
            }
            Sink::Csv(Box::new(w))
        }
        ListFormat::Jsonl => Sink::Jsonl(&mut *out),
    };
    let mut emit = |u: &crate::zoom::ZoomUser| -> Result<(), String> {
        let values = [
            u.id.clone().unwrap_or_default(),
            u.email.clone(),
            u.first_name.clone().unwrap_or_default(),
            u.last_name.clone().unwrap_or_default(),
            u.user_type.map(|t| t.to_string()).unwrap_or_default(),
            u.status.clone().unwrap_or_default(),
            u.role_id.clone().unwrap_or_default(),
            u.last_login_time.clone().unwrap_or_default(),
        ];
        match &mut sink {
            Sink::Csv(w) => {
                w.write_record(&values).map_err(|e| e.to_string())?;
                // Flushed per user: a pipe into `revoke` sees users as they arrive.
                w.flush().map_err(|e| e.to_string())
            }
            Sink::Jsonl(w) => {
                let obj: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .zip(values.iter())
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
                    .collect();
                writeln!(w, "{}", serde_json::Value::Object(obj)).map_err(|e| e.to_string())
            }
        }
    };
    let result = crate::users::list_all(
        &client,
        &pacer,
        args.status.as_str(),
        args.max_retries,
        &ctx.cancel,
        &mut emit,
    )
    .await;
    match &mut sink {
        Sink::Csv(w) => {
            let _ = w.flush();
        }
        Sink::Jsonl(w) => {
            let _ = w.flush();
        }
    }
    drop(sink);
    match result {
        Ok(stats) => {
            tracing::info!(
                users = stats.users,
                pages = stats.pages,
                restarts = stats.restarts,
                throttled = stats.throttled,
                "listed users"
            );
            Exit::Success
        }
        Err(crate::users::ListError::Interrupted) => {
            logging::eprint_line("zoom-offboard: users: interrupted; the list is incomplete");
            Exit::Stopped
        }
        Err(e @ crate::users::ListError::DailyLimit(_)) => {
            logging::eprint_line(&format!(
                "zoom-offboard: users: {e}; the list is incomplete"
            ));
            Exit::Stopped
        }
        Err(e) => {
            logging::eprint_line(&format!("zoom-offboard: users: error: {e}"));
            Exit::Stopped
        }
    }
}

/// Where the demo's fixture lives relative to the crate (for tests).
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}
