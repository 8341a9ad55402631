//! The commands, wired together: settings → input → report → credentials → run → summary.
//!
//! `revoke` lives in [`revoke`], `users` in [`users`], `reconcile` in [`reconcile`], `demo` in
//! [`demo`]; this module holds what they share: the [`Context`], the entry point, signals, and
//! connecting to Zoom.
//!
//! Errors before the first API call are [`Exit::Usage`] (2) with a message that names the file,
//! line, flag or variable at fault. After that, per-user problems are report rows and the exit
//! code comes from [`Exit::decide`], over the users' final statuses.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};
use crate::config::{
    ConfigError, Connection, Credentials, LogSettings, OffboardSettings, Settings,
};
use crate::exit::Exit;
use crate::input::{self, Batch, InputOptions, InputSource};
use crate::logging;
use crate::request::{Api, TokenSource};
use crate::zoom::{self, ZoomClient};

mod demo;
mod demo_reconcile;
mod ending;
mod offboard;
mod pipeline;
mod reconcile;
mod revoke;
mod session;
mod users;

pub use offboard::offboard;
pub use reconcile::reconcile;
pub use revoke::revoke;
pub use users::{users, users_at};

/// The process environment (`std::env::var`), as the settings resolver wants it.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Environment lookup: `std::env::var` in the process, a map in tests.
pub type EnvFn = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;
/// Asks the operator to confirm: shown the prompt, must type back the expected answer (the
/// number of users, or `delete N` when data will be deleted).
pub type ConfirmFn = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

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
    // One thread: the work is a few dozen HTTP requests a second, all waiting on the network.
    // A multi-thread runtime spent its CPU waking threads (4 futex calls per request): measured
    // with `cargo bench --bench throughput`, one thread uses 25-30% less CPU per request.
    let runtime = match tokio::runtime::Builder::new_current_thread()
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
                Err(e) => return usage_before_logging(&args.output, &e),
            };
            logging::init(&settings.conn.log);
            revoke(settings, &ctx).await
        }
        Command::Offboard(args) => {
            let settings = match OffboardSettings::resolve(&args, &*ctx.env, chrono::Utc::now()) {
                Ok(s) => s,
                Err(e) => return usage_before_logging(&args.run.output, &e),
            };
            logging::init(&settings.run.conn.log);
            offboard(settings, &ctx).await
        }
        Command::Users(args) => {
            logging::init(&LogSettings::from_args(&args.listing.output));
            let mut out = std::io::stdout().lock();
            users(&args, &ctx, &mut out).await
        }
        Command::Reconcile(args) => {
            let mut out = std::io::stdout().lock();
            let mut stdin = std::io::stdin().lock();
            reconcile(&args, &ctx, &mut out, &mut stdin).await
        }
        Command::Sim(args) => {
            logging::init(&LogSettings::default());
            // run_cli serves until Ctrl-C; SIGTERM (kill, systemd) reaches us through the
            // signal watcher's token instead, and dropping the simulator stops it.
            tokio::select! {
                r = crate::sim::run_cli(*args) => match r {
                    Ok(()) => Exit::Success,
                    Err(e) => usage(&format!("{e:#}")),
                },
                _ = ctx.cancel.cancelled() => Exit::Success,
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
        Command::Verify(args) => {
            logging::init(&LogSettings::default());
            crate::evidence::verify::command(&args.report, args.head.as_deref())
        }
        Command::Summary(args) => {
            logging::init(&LogSettings::default());
            crate::evidence::html::command(&args.report, args.html.as_deref())
        }
        Command::Demo(args) => {
            logging::init(&LogSettings::from_args(&args.output));
            demo::demo(args, &ctx).await
        }
    }
}

/// First Ctrl-C (or SIGTERM): stop starting requests, drain, write `pending` rows, exit 3.
/// Second Ctrl-C: exit 3 at once (the report holds every row written so far).
fn watch_signals(cancel: CancellationToken) {
    // The handlers are registered here, before any work starts, so that a signal arriving
    // early is caught rather than killing the process with the default action.
    #[cfg(unix)]
    let mut streams = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    tokio::spawn(async move {
        loop {
            #[cfg(unix)]
            let got = {
                let (int, term) = (&mut streams.0, &mut streams.1);
                tokio::select! {
                    r = async { match int { Some(s) => s.recv().await, None => std::future::pending().await } } => r.is_some(),
                    r = async { match term { Some(s) => s.recv().await, None => std::future::pending().await } } => r.is_some(),
                }
            };
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

/// A settings error: logging is started from the flags alone, to say it.
fn usage_before_logging(output: &crate::cli::OutputArgs, e: &ConfigError) -> Exit {
    logging::init(&LogSettings::from_args(output));
    usage(&e.to_string())
}

fn usage(message: &str) -> Exit {
    logging::eprint_line(&format!("zoom-offboard: error: {message}"));
    Exit::Usage
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
        Some(Box::new(move |prompt: &str, expected: &str| {
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
            line.trim() == expected
        }))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Reads and validates the whole input before any request (exit 2 naming the file, line and
/// value on a problem).
fn load_batch(
    settings: &Settings,
    ctx: &Context,
    transfer_column: Option<String>,
) -> Result<Batch, Exit> {
    let mut sources: Vec<InputSource> = settings
        .inputs
        .iter()
        .map(|p| InputSource::from_arg(p))
        .collect();
    if sources.is_empty() && settings.users.is_empty() {
        if ctx.stdin_is_terminal {
            return Err(usage(
                "no users given: pass INPUT files, --user ID, or pipe a list on stdin \
                 (stdin is a terminal)",
            ));
        }
        sources.push(InputSource::Stdin);
    }
    let opts = InputOptions {
        column: settings.column.clone(),
        transfer_column,
        delimiter: settings.delimiter,
    };
    let mut stdin = std::io::stdin().lock();
    input::load(
        &sources,
        &settings.users,
        settings.exclude.as_deref(),
        &opts,
        &mut stdin,
    )
    .map_err(|e| usage(&e.to_string()))
}

/// A real run needs credentials, and a terminal to confirm on unless `--yes`: both are checked
/// before the report is created.
fn check_can_run(settings: &Settings, ctx: &Context) -> Result<(), Exit> {
    if !settings.dry_run && settings.conn.credentials.is_none() {
        return Err(usage(
            "no credentials: set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET \
             (Server-to-Server OAuth), or ZOOM_ACCESS_TOKEN; or use --dry-run to validate only",
        ));
    }
    if !settings.dry_run && !settings.yes && ctx.confirm.is_none() {
        return Err(usage(
            "refusing to log users out without confirmation: there is no terminal to ask on. \
             Pass --yes to run unattended (check the plan first with --dry-run)",
        ));
    }
    Ok(())
}

/// A run id for the logs: the start time and a random suffix.
fn run_id() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random();
    format!("{}-{n:08x}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
}

/// Scopes for `GET /users/{id}` (lookups).
pub const READ_SCOPES: &[&str] = &["user:read:admin", "user:read:user:admin"];
/// Scopes for listing users.
pub const LIST_SCOPES: &[&str] = &[
    "user:read:admin",
    "user:write:admin",
    "user:read:list_users:admin",
];
/// Scopes any of which lets a dry run look users up one way or another (each or by listing).
pub const DRY_RUN_SCOPES: &[&str] = &[
    "user:read:admin",
    "user:write:admin",
    "user:read:user:admin",
    "user:read:list_users:admin",
];
/// Scopes for deactivating users.
pub const STATUS_SCOPES: &[&str] = &["user:write:admin", "user:update:status:admin"];
/// Scopes for downgrading users to Basic (`PATCH /users/{id}`).
pub const UPDATE_SCOPES: &[&str] = &["user:write:admin", "user:update:user:admin"];
/// Scopes for deleting or disassociating users.
pub const DELETE_SCOPES: &[&str] = &["user:write:admin", "user:delete:user:admin"];
/// Scopes for revoking SSO tokens.
pub const REVOKE_SCOPES: &[&str] = &["user:write:admin", "user:delete:token:admin"];

/// Fetches the first token and checks that it has one scope of each group in `needs`, so bad
/// credentials or a missing scope cost no API call.
async fn connect(
    conn: &Connection,
    concurrency: usize,
    creds: &Credentials,
    needs: &[&[&str]],
) -> Result<Api, String> {
    let http = zoom::http_client(conn.timeout, concurrency)
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let source = match creds {
        Credentials::Static(t) => TokenSource::from_static(t.clone()),
        Credentials::S2s(c) => TokenSource::s2s(
            zoom::oauth::S2sCredentials {
                account_id: c.account_id.clone(),
                client_id: c.client_id.clone(),
                client_secret: c.client_secret.clone(),
            },
            conn.oauth_url.clone(),
            http.clone(),
        ),
    };
    let source = Arc::new(source);
    if source.renewable() {
        source.token().await.map_err(|e| e.to_string())?;
        if let Some(granted) = source.granted_scopes().await {
            for needed in needs {
                if !granted.iter().any(|g| needed.contains(&g.as_str())) {
                    return Err(format!(
                        "the app's token lacks the scope this needs: one of {} (granted: {}). \
                         Add it to the Server-to-Server OAuth app in the Zoom Marketplace",
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
    }
    Ok(Api {
        client: ZoomClient::new(http, &conn.base_url),
        tokens: source,
    })
}
