//! Command-line types (clap). Raw flags only: defaults from the environment and the config file
//! are resolved later, once, in [`crate::config`] (ripgrep's lowargs → hiargs split).
//! The `///` comments double as `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Offboard Zoom users in bulk: log them out, deactivate them, disassociate or delete them with
/// their data handed over, at the account's rate limit, with a resumable report per user.
#[derive(Debug, Parser)]
#[command(name = "zoom-offboard", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log users out of Zoom: DELETE /v2/users/{user}/token for each user in the input.
    Revoke(Box<RevokeArgs>),
    /// Take users out of Zoom in one paced, resumable run: log out, deactivate, then
    /// disassociate or delete them with their data handed over (default steps: revoke,deactivate).
    Offboard(Box<OffboardArgs>),
    /// List the account's users (GET /v2/users) as CSV or JSONL on stdout, e.g. to pipe every
    /// active user into `revoke` after a security incident.
    Users(Box<UsersArgs>),
    /// List the account's users who are not on the HR roster (leaver candidates), with a reason,
    /// to pipe into `offboard`. Refuses (exit 2, nothing written) when the roster is empty or
    /// the candidates are more than --max-share of the users considered.
    Reconcile(Box<ReconcileArgs>),
    /// Serve the built-in Zoom API simulator on loopback (for trying the tool and for tests).
    Sim(Box<crate::sim::SimArgs>),
    /// Run a real revoke of fixtures/users.csv against the built-in simulator: the first run.
    /// With --offboard: a dry run, then a real offboard of 60 of the simulator's users.
    Demo(DemoArgs),
    /// Print shell completions: `zoom-offboard completions bash > /etc/bash_completion.d/zoom-offboard`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `zoom-offboard man > zoom-offboard.1`.
    Man,
    /// Check a report's chain and its run log: is it the file the runs wrote? Exit 0 intact, 1
    /// not intact (naming the first line that fails and how), 2 no such report or no chain.
    Verify(VerifyArgs),
    /// Rebuild a report's HTML summary from the report and its run log (every run of a resumed
    /// report).
    Summary(SummaryArgs),
}

/// `zoom-offboard verify`.
#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    /// The report (.csv, .jsonl or .ndjson); its run log is REPORT.runs.jsonl.
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// The chain head recorded elsewhere (the ticket, the summary's `chain head` line): the
    /// report's last row must have it.
    #[arg(long, value_name = "HEX")]
    pub head: Option<String>,
}

/// `zoom-offboard summary`.
#[derive(Debug, Args, Clone)]
pub struct SummaryArgs {
    /// The report (.csv, .jsonl or .ndjson); its run log is REPORT.runs.jsonl.
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// Where to write the page (default: REPORT.html).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

/// Logging and progress options shared by the subcommands that talk to Zoom.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output: errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log line format on stderr.
    #[arg(long, value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Never show the progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `zoom-offboard offboard`: everything `revoke` takes, plus the steps and where data goes.
#[derive(Debug, Args, Clone, Default)]
pub struct OffboardArgs {
    /// Comma-separated steps, always run in this order: revoke (log out), then at most one of
    /// deactivate (free the licence, block sign-in) or downgrade (make the user Basic: frees the
    /// paid licence, the user can still sign in), then at most one of disassociate (unlink; the
    /// person keeps a free Zoom account) or delete (the user and their data, for good)
    /// [default: revoke,deactivate].
    #[arg(long, value_name = "LIST")]
    pub steps: Option<String>,
    /// Who receives a leaver's data on delete or disassociate: meetings, webinars, recordings,
    /// whiteboards, clips, notes, visitors and docs (an email or Zoom user id of an active user
    /// not being removed; a Basic user cannot receive recordings).
    #[arg(long, value_name = "EMAIL")]
    pub transfer_to: Option<String>,
    /// The input column holding each user's own transfer target (e.g. manager); a blank cell
    /// falls back to --transfer-to.
    #[arg(long, value_name = "NAME")]
    pub transfer_column: Option<String>,
    /// Delete or disassociate without moving any data: the data is lost with the user.
    #[arg(long, conflicts_with = "transfer_to")]
    pub no_transfer: bool,
    /// Hand over only these kinds of data (comma-separated: meeting, webinar, recording,
    /// whiteboard, clipfiles, notes, visitors, docs); the others are deleted with the user
    /// [default: all eight].
    #[arg(long, value_name = "LIST", conflicts_with = "no_transfer")]
    pub transfer_kinds: Option<String>,
    /// Let deactivate, disassociate and delete touch admins and custom roles (never the owner).
    #[arg(long)]
    pub include_admins: bool,
    /// Everything `revoke` takes.
    #[command(flatten)]
    pub run: RevokeArgs,
}

/// `zoom-offboard revoke`.
#[derive(Debug, Args, Clone, Default)]
pub struct RevokeArgs {
    /// CSV or plain-list files of users (emails or Zoom user ids); `-` is stdin.
    /// With no INPUT and no --user, stdin is read.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// A user on the command line (email or Zoom user id); repeatable.
    #[arg(short = 'u', long = "user", value_name = "ID")]
    pub users: Vec<String>,
    /// The CSV column that holds the users (default: a column named email, user, user_id, id...).
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,
    /// The field delimiter of every input file and the exclude list [default: ',' unless the
    /// first line has ';' or tabs and no ',', or an Excel `sep=X` first line says otherwise].
    #[arg(long, value_enum, value_name = "DELIM")]
    pub delimiter: Option<crate::input::Delimiter>,
    /// Users never to touch (break-glass admins): each gets status `excluded`.
    #[arg(long, value_name = "FILE")]
    pub exclude: Option<PathBuf>,
    /// Send no write request: validate, plan and (with credentials) look users up.
    #[arg(long)]
    pub dry_run: bool,
    /// How a dry run looks users up: one GET per user, by listing the account, or whichever
    /// is cheaper.
    #[arg(long, value_enum, default_value_t, requires = "dry_run")]
    pub lookup: crate::dryrun::Lookup,
    /// The report file: .csv or .jsonl [default: zoom-offboard-report-<UTC time>.csv]
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Continue the run recorded in --report: users already done are not requested again.
    #[arg(long, requires = "report")]
    pub resume: bool,
    /// Requests per second for this run [default: 80% of the plan's ceiling].
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Requests in flight at most [default: 16].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Retries per user for 429, 5xx, timeouts and dropped connections [default: 6].
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,
    /// How long to wait out an account-wide outage (most calls failing with 5xx, timeouts or
    /// dropped connections) before stopping with the rest `pending` (exit 3) [default: 600].
    #[arg(long, value_name = "SECS")]
    pub outage_wait: Option<u64>,
    /// Run without asking for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Write the HTML summary here instead of beside the report (REPORT.html).
    #[arg(long, value_name = "PATH", conflicts_with = "no_html")]
    pub html: Option<PathBuf>,
    /// Write no HTML summary (the run log and the chained report are written all the same).
    #[arg(long)]
    pub no_html: bool,
    /// Where and how to reach Zoom.
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Logging and progress.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where and how to reach Zoom: shared by every command that talks to Zoom, resolved by
/// [`crate::config::Connection::resolve`].
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectionArgs {
    /// The account's plan, which sets the rate ceilings: free (4/s Light, 2/s Medium), pro
    /// (30/s, 20/s), business (80/s, 60/s; also Business Plus, Education, Enterprise)
    /// [default: pro]
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<String>,
    /// Per-request timeout in seconds [default: 30].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// TOML config file [default: zoom-offboard.toml in the working directory, if present].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// API base URL [default: https://api.zoom.us/v2].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// OAuth token endpoint [default: https://zoom.us/oauth/token].
    #[arg(long, value_name = "URL")]
    pub oauth_url: Option<String>,
    /// Read the S2S OAuth client secret from this file (never pass secrets as arguments).
    #[arg(long, value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,
}

/// Which users `users` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum UserStatusFilter {
    /// Active users (the ones with sessions to revoke).
    #[default]
    Active,
    /// Deactivated users.
    Inactive,
    /// Invited users who have not joined yet (they have no id: their email is listed).
    Pending,
}

impl UserStatusFilter {
    /// The value of Zoom's `status` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatusFilter::Active => "active",
            UserStatusFilter::Inactive => "inactive",
            UserStatusFilter::Pending => "pending",
        }
    }
}

/// A Zoom role, as `users --role` filters on it (Zoom's `role_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleFilter {
    /// Members: role_id "2", the only role offboarding steps touch without --include-admins.
    Member,
    /// Admins: role_id "1" (Zoom's built-in Admin role only; custom roles are `custom`).
    Admin,
    /// The account owner: role_id "0".
    Owner,
    /// Any other role_id: a custom role (or a user whose role Zoom did not say).
    Custom,
}

impl RoleFilter {
    /// Whether a user with Zoom's `role_id` has this role. Custom roles have ids of their own,
    /// so they match only `custom`, never `admin` (even a custom role with admin rights).
    pub fn matches(self, role_id: &str) -> bool {
        match (self, role_id.trim()) {
            (RoleFilter::Owner, "0") | (RoleFilter::Admin, "1") | (RoleFilter::Member, "2") => true,
            (RoleFilter::Custom, id) => !matches!(id, "0" | "1" | "2"),
            _ => false,
        }
    }
}

/// Output formats of `users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    /// CSV with a header row: id,email,first_name,last_name,type,status,role_id,last_login_time.
    #[default]
    Csv,
    /// One JSON object per line with the same keys.
    Jsonl,
}

/// `zoom-offboard users`.
#[derive(Debug, Args, Clone, Default)]
pub struct UsersArgs {
    /// Which users to list.
    #[arg(long, value_enum, default_value_t)]
    pub status: UserStatusFilter,
    /// Only users with this role (repeatable, or comma-separated: `--role admin,owner`):
    /// member (role_id 2), admin (1), owner (0), or custom (any other role_id). Custom roles
    /// match only `custom`, whatever rights they grant.
    #[arg(long, value_enum, value_name = "ROLE", value_delimiter = ',')]
    pub role: Vec<RoleFilter>,
    /// Only users who last logged in more than N days ago, or never (no last_login_time).
    /// Zoom updates last_login_time with a three-day buffer, so pick N well above 3.
    #[arg(long, value_name = "N")]
    pub inactive_days: Option<u32>,
    /// The output, the listing's pace and retries, and where and how to reach Zoom.
    #[command(flatten)]
    pub listing: ListingArgs,
}

/// What every command that lists the account's users takes (`users`, `reconcile`): one
/// declaration, so that their flags cannot drift apart.
#[derive(Debug, Args, Clone, Default)]
pub struct ListingArgs {
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
    /// List requests per second [default: 80% of the plan's Medium ceiling].
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Retries per page for 429, 5xx, timeouts and dropped connections [default: 6].
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,
    /// Where and how to reach Zoom.
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Logging.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Which of the account's users `reconcile` considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReconcileStatus {
    /// Active users: the ones who can still sign in.
    #[default]
    Active,
    /// Deactivated users (still holding their data and, for some plans, a licence).
    Inactive,
    /// Invited users who have not joined yet.
    Pending,
    /// All three.
    All,
}

/// `zoom-offboard reconcile`.
#[derive(Debug, Args, Clone, Default)]
pub struct ReconcileArgs {
    /// The HR roster: people who still work here (CSV or plain list; repeatable; `-` is stdin).
    #[arg(long, value_name = "FILE", required = true)]
    pub roster: Vec<PathBuf>,
    /// A roster column that holds emails (repeatable, e.g. work_email and alias)
    /// [default: the detected user column, e.g. email].
    #[arg(long, value_name = "NAME")]
    pub roster_column: Vec<String>,
    /// Which of the account's users to consider.
    #[arg(long, value_enum, default_value_t)]
    pub status: ReconcileStatus,
    /// Consider only Zoom users whose email domain is D (repeatable)
    /// [default: every domain in the roster]. Others are counted, never listed.
    #[arg(long, value_name = "D")]
    pub domain: Vec<String>,
    /// Accounts never listed (break-glass admins), same format as the roster.
    #[arg(long, value_name = "FILE")]
    pub exclude: Option<PathBuf>,
    /// Refuse when the candidates are more than PCT% of the users considered: a truncated HR
    /// export must never make the company leavers. 100 lifts the guard [default: 10].
    #[arg(long, value_name = "PCT")]
    pub max_share: Option<f64>,
    /// Also write the roster entries that have no Zoom user to FILE (CSV, header `email`).
    #[arg(long, value_name = "FILE")]
    pub missing: Option<PathBuf>,
    /// The field delimiter of the roster and exclude files [default: detected].
    #[arg(long, value_enum, value_name = "DELIM")]
    pub delimiter: Option<crate::input::Delimiter>,
    /// How long to wait out an account-wide outage before stopping (exit 3, nothing written)
    /// [default: 600].
    #[arg(long, value_name = "SECS")]
    pub outage_wait: Option<u64>,
    /// The output, the listing's pace and retries, and where and how to reach Zoom.
    #[command(flatten)]
    pub listing: ListingArgs,
}

/// The demo's default input: the repository's fixture of 404 users (some invalid, duplicated or
/// unknown on purpose).
pub const DEMO_INPUT: &str = "fixtures/users.csv";

/// `zoom-offboard demo`.
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// The users to revoke (run from elsewhere than the repository, the default is the copy
    /// built into the binary).
    #[arg(long, default_value = DEMO_INPUT)]
    pub input: PathBuf,
    /// Where to write the report [default: a fresh file in the system temp folder].
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Users the simulator knows (generated as user00001@example.com ...).
    #[arg(long, default_value_t = 1000)]
    pub sim_users: usize,
    /// Instead of the revoke: a dry run, then a real `offboard --steps
    /// revoke,deactivate,disassociate --transfer-to <an active member>` of the simulator's
    /// first 60 users (the owner, admins, custom roles, pending and inactive users among them),
    /// and what the simulator saw.
    #[arg(long, conflicts_with = "input")]
    pub offboard: bool,
    /// Instead of the revoke: the nightly reconciliation. The simulator's users sit on three
    /// domains and an HR roster misses this night's leavers; a real `reconcile` finds them, and
    /// its candidates go into an `offboard --dry-run --steps revoke,deactivate`.
    #[arg(long, conflicts_with_all = ["input", "offboard"])]
    pub reconcile: bool,

    /// With --offboard: downgrade the users to Basic (frees the paid licence, keeps the
    /// account) in place of deactivating them: `--steps revoke,downgrade,disassociate`.
    #[arg(long, requires = "offboard")]
    pub downgrade: bool,
    /// Logging and progress.
    #[command(flatten)]
    pub output: OutputArgs,
}
