//! Settings: flags, environment, config file and defaults resolved and checked once.
//!
//! Precedence is flag > environment > config file > default (contract). The environment is
//! passed in as a function so tests can supply their own without touching the process's.
//!
//! Environment variables: credentials `ZOOM_ACCESS_TOKEN`, `ZOOM_ACCOUNT_ID`, `ZOOM_CLIENT_ID`,
//! `ZOOM_CLIENT_SECRET`; settings `ZOOM_OFFBOARD_PLAN`, `ZOOM_OFFBOARD_RATE`,
//! `ZOOM_OFFBOARD_CONCURRENCY`, `ZOOM_OFFBOARD_MAX_RETRIES`, `ZOOM_OFFBOARD_OUTAGE_WAIT`,
//! `ZOOM_OFFBOARD_TIMEOUT`, `ZOOM_OFFBOARD_BASE_URL`, `ZOOM_OFFBOARD_OAUTH_URL`,
//! `ZOOM_OFFBOARD_CONFIG`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use crate::cli::{
    ConnectionArgs, ListFormat, ListingArgs, LogFormat, OffboardArgs, OutputArgs, RevokeArgs,
    RoleFilter, UserStatusFilter, UsersArgs,
};
use crate::evidence::record::HtmlTarget;
use crate::input::UserId;
use crate::plan::Label;
use crate::plan::Plan;
use crate::step::Steps;
use crate::transfer::TransferKinds;
use crate::zoom::oauth::S2sCredentials;

pub mod offboard;
pub use offboard::FileOffboard;

/// The default API base.
pub const DEFAULT_BASE_URL: &str = "https://api.zoom.us/v2";
/// The default token endpoint.
pub const DEFAULT_OAUTH_URL: &str = "https://zoom.us/oauth/token";
/// The config file looked for in the working directory when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "zoom-offboard.toml";

/// A settings problem: always exit 2, before any API call.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read or parsed.
    #[error("config file {path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column for TOML errors).
        detail: String,
    },
    /// A value is out of range or malformed.
    #[error("{source_name}: {detail}")]
    Value {
        /// Where the value came from: `--rate`, `ZOOM_OFFBOARD_RATE`, `rate in zoom-offboard.toml`.
        source_name: String,
        /// What is wrong.
        detail: String,
    },
    /// S2S credentials given only in part.
    #[error(
        "incomplete Server-to-Server OAuth credentials: missing {0}. Set ZOOM_ACCOUNT_ID, \
         ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET (or [auth] in the config file, or \
         --client-secret-file), or ZOOM_ACCESS_TOKEN"
    )]
    IncompleteCredentials(String),
    /// Flags that do not go together, said in full.
    #[error("{0}")]
    Usage(String),
}

/// The config file, as written by an operator. Every key is optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Account plan: free, pro, business (business plus, education, enterprise).
    pub plan: Option<String>,
    /// Requests per second.
    pub rate: Option<f64>,
    /// Requests in flight at most.
    pub concurrency: Option<usize>,
    /// Retries per user.
    pub max_retries: Option<u32>,
    /// Seconds an account-wide outage is waited out.
    pub outage_wait: Option<u64>,
    /// Per-request timeout in seconds.
    pub timeout: Option<f64>,
    /// API base URL.
    pub base_url: Option<String>,
    /// Token endpoint.
    pub oauth_url: Option<String>,
    /// Default `--exclude` file (break-glass admins), relative to the working directory.
    pub exclude: Option<PathBuf>,
    /// Default log format.
    pub log_format: Option<LogFormat>,
    /// Credentials.
    #[serde(default)]
    pub auth: FileAuth,
    /// `[reconcile]`: the reconciliation's choices.
    #[serde(default)]
    pub reconcile: crate::reconcile::settings::FileReconcile,
    /// `offboard`'s choices for scheduled runs.
    #[serde(default)]
    pub offboard: FileOffboard,
}

/// `[auth]` in the config file.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAuth {
    /// Zoom account id.
    pub account_id: Option<String>,
    /// S2S app client id.
    pub client_id: Option<String>,
    /// S2S app client secret. Prefer `client_secret_file`; the config file must then be 0600.
    pub client_secret: Option<SecretString>,
    /// A file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for FileAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAuth")
            .field("account_id", &self.account_id)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "(redacted)"),
            )
            .field("client_secret_file", &self.client_secret_file)
            .finish()
    }
}

/// How the tool authenticates.
#[derive(Debug)]
pub enum Credentials {
    /// `ZOOM_ACCESS_TOKEN`, used as is.
    Static(SecretString),
    /// Server-to-Server OAuth.
    S2s(S2sCredentials),
}

/// Logging and progress settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSettings {
    /// -v count.
    pub verbose: u8,
    /// -q.
    pub quiet: bool,
    /// text or json.
    pub format: LogFormat,
    /// Progress bar allowed (it still needs a terminal).
    pub progress: bool,
}

impl LogSettings {
    /// From the shared output flags (no config file: used by `sim`, `demo`).
    pub fn from_args(o: &OutputArgs) -> LogSettings {
        LogSettings {
            verbose: o.verbose,
            quiet: o.quiet,
            format: o.log_format.unwrap_or_default(),
            progress: !o.no_progress,
        }
    }
}

/// What every command that talks to Zoom resolves the same way: the plan, the request
/// policy's bounds, where Zoom is, the credentials and logging. `revoke` and `offboard` hold it
/// in their [`Settings`], `users` in its [`UsersSettings`]: one resolution, so flag >
/// environment > config file > default holds for every command alike.
#[derive(Debug)]
pub struct Connection {
    /// The account plan.
    pub plan: Plan,
    /// Retries per call (`--max-retries`).
    pub max_retries: u32,
    /// `--outage-wait`: how long an account-wide outage is waited out before the run stops.
    pub outage_wait: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// API base URL (no trailing slash).
    pub base_url: String,
    /// Token endpoint.
    pub oauth_url: String,
    /// Credentials, if any were given (a dry run can go without).
    pub credentials: Option<Credentials>,
    /// Logging.
    pub log: LogSettings,
    /// Warnings found while resolving (printed once logging is up).
    pub warnings: Vec<String>,
}

/// The request policy's flags: every command that talks to Zoom has them (or will), each in
/// its own argument struct.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyFlags {
    /// `--max-retries`.
    pub max_retries: Option<u32>,
    /// `--outage-wait`.
    pub outage_wait: Option<u64>,
}

/// The settings of `revoke`, which are also the run settings `offboard` shares with it
/// ([`OffboardSettings::run`]): the input, the report, the pace and the connection.
#[derive(Debug)]
pub struct Settings {
    /// Where the HTML summary goes (`--html`, `--no-html`).
    pub html: HtmlTarget,
    /// Input files (`-` = stdin). Empty with no `users` means stdin.
    pub inputs: Vec<PathBuf>,
    /// `--user` values.
    pub users: Vec<String>,
    /// `--column`.
    pub column: Option<String>,
    /// `--delimiter`: forced on every input file and the exclude list.
    pub delimiter: Option<crate::input::Delimiter>,
    /// `--exclude`, from the flag or the config file.
    pub exclude: Option<PathBuf>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--lookup` (dry runs).
    pub lookup: crate::dryrun::Lookup,
    /// The report path.
    pub report: PathBuf,
    /// `--resume`.
    pub resume: bool,
    /// Requests per second.
    pub rate: f64,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// `--yes`.
    pub yes: bool,
    /// What every command resolves alike.
    pub conn: Connection,
}

/// The settings of `offboard`: the run's, as `revoke` resolves them, and the offboarding
/// options, checked (steps parsed, a removal's transfer named).
#[derive(Debug)]
pub struct OffboardSettings {
    /// Everything `revoke` takes.
    pub run: Settings,
    /// The steps, the transfer target and the safety switches.
    pub options: crate::offboard::Options,
    /// `--transfer-column`: the input column of each user's own transfer target.
    pub transfer_column: Option<String>,
}

/// The settings of `users`: the connection, the listing's own rate, and what is listed.
#[derive(Debug)]
pub struct UsersSettings {
    /// What every command resolves alike.
    pub conn: Connection,
    /// Listing requests per second (`--rate`, default 80% of the plan's Medium ceiling).
    pub rate: f64,
    /// `--status`.
    pub status: UserStatusFilter,
    /// `--role` (empty: any role).
    pub roles: Vec<RoleFilter>,
    /// `--inactive-days`.
    pub inactive_days: Option<u32>,
    /// `--format`.
    pub format: ListFormat,
}

/// Environment lookup, as the resolvers take it.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn env_nonempty(env: Env<'_>, key: &str) -> Option<String> {
    env(key).filter(|v| !v.trim().is_empty())
}

/// Reads a config file. `explicit` says whether the operator named it (then it must exist).
pub fn load_file(path: &Path, explicit: bool) -> Result<Option<FileConfig>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                detail: e.to_string(),
            });
        }
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            detail: e.to_string().trim_end().to_string(),
        })
}

/// Warns when a file holding a secret can be read by group or others.
pub fn secret_file_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o077 != 0).then(|| {
            format!(
                "{} holds a secret but is readable by group or others (mode {:o}); run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn read_secret_file(path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Value {
        source_name: format!("client secret file {}", path.display()),
        detail: e.to_string(),
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::Value {
            source_name: format!("client secret file {}", path.display()),
            detail: "the file is empty".into(),
        });
    }
    Ok(SecretString::from(trimmed.to_string()))
}

/// Checks a URL: absolute, https — or plain http only to a loopback host.
pub fn check_url(source_name: &str, raw: &str) -> Result<String, ConfigError> {
    let bad = |detail: String| ConfigError::Value {
        source_name: source_name.to_string(),
        detail,
    };
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(format!("{raw:?} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in the URL are not accepted".into()));
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if !loopback {
                return Err(bad(format!(
                    "{raw} uses plain http: only https is allowed, except to a loopback address \
                     (127.0.0.1, ::1, localhost)"
                )));
            }
        }
        other => return Err(bad(format!("{raw}: unsupported scheme {other:?}"))),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!(
            "{raw}: a query or fragment is not allowed here"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Picks the first value present among flag, environment and file, naming where it came from.
fn pick<T>(
    flag: Option<T>,
    flag_name: &str,
    env: Option<(String, &str)>,
    file: Option<T>,
    file_key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<(T, String)>, ConfigError> {
    if let Some(v) = flag {
        return Ok(Some((v, flag_name.to_string())));
    }
    if let Some((raw, name)) = env {
        return parse(&raw)
            .map(|v| Some((v, name.to_string())))
            .map_err(|detail| ConfigError::Value {
                source_name: name.to_string(),
                detail,
            });
    }
    Ok(file.map(|v| (v, format!("{file_key} in the config file"))))
}

fn parse_num<T: std::str::FromStr>(raw: &str) -> Result<T, String> {
    raw.trim()
        .parse::<T>()
        .map_err(|_| format!("{raw:?} is not a number"))
}

impl Connection {
    /// Resolves what every command shares, from its connection flags, policy flags and output
    /// flags; returns the config file too, for the command's own keys.
    pub fn resolve(
        conn: &ConnectionArgs,
        policy: PolicyFlags,
        output: &OutputArgs,
        env: Env<'_>,
    ) -> Result<(Connection, FileConfig), ConfigError> {
        let mut warnings = Vec::new();
        let (config_path, file) = config_file(conn, env)?;
        let plan = resolve_plan(conn, env, &file)?;
        let connection = Connection {
            plan,
            max_retries: resolve_max_retries(policy.max_retries, env, &file)?,
            outage_wait: resolve_outage_wait(policy.outage_wait, env, &file)?,
            timeout: resolve_timeout(conn, env, &file)?,
            base_url: resolve_url(UrlKey::Base, conn, env, &file)?,
            oauth_url: resolve_url(UrlKey::OAuth, conn, env, &file)?,
            credentials: resolve_credentials(conn, env, &file, &config_path, &mut warnings)?,
            log: LogSettings {
                format: output.log_format.or(file.log_format).unwrap_or_default(),
                ..LogSettings::from_args(output)
            },
            warnings,
        };
        Ok((connection, file))
    }
}

impl Settings {
    /// Resolves `revoke`'s settings (and the run part of `offboard`'s). `env` looks up
    /// environment variables; `now` names the default report.
    pub fn resolve(
        args: &RevokeArgs,
        env: Env<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Settings, ConfigError> {
        Settings::resolve_with_file(args, env, now).map(|(settings, _)| settings)
    }

    /// [`Settings::resolve`], and the config file it read, for the command's own keys.
    fn resolve_with_file(
        args: &RevokeArgs,
        env: Env<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(Settings, FileConfig), ConfigError> {
        let policy = PolicyFlags {
            max_retries: args.max_retries,
            outage_wait: args.outage_wait,
        };
        let (mut conn, file) = Connection::resolve(&args.conn, policy, &args.output, env)?;
        let rate = resolve_rate(args.rate, env, &file, conn.plan, &mut conn.warnings)?;
        let concurrency = resolve_concurrency(args.concurrency, env, &file)?;
        let settings = Settings {
            inputs: args.inputs.clone(),
            users: args.users.clone(),
            column: args.column.clone(),
            delimiter: args.delimiter,
            exclude: args.exclude.clone().or(file.exclude.clone()),
            dry_run: args.dry_run,
            lookup: args.lookup,
            report: args
                .report
                .clone()
                .unwrap_or_else(|| crate::report::default_report_path(now)),
            resume: args.resume,
            rate,
            concurrency,
            yes: args.yes,
            html: HtmlTarget::from_flags(args.html.clone(), args.no_html),
            conn,
        };
        Ok((settings, file))
    }
}

impl OffboardSettings {
    /// Resolves `offboard`'s settings: the run's as for `revoke`, then the offboarding flags
    /// over the config file's `[offboard]` (flags win: see [`offboard::merge`]). A bad step or
    /// kind list, `--lookup list`, a removal with no transfer target and no `--no-transfer`, or
    /// a bad `--transfer-to` is a usage error.
    pub fn resolve(
        args: &OffboardArgs,
        env: Env<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<OffboardSettings, ConfigError> {
        let (mut run, file) = Settings::resolve_with_file(&args.run, env, now)?;
        if run.lookup == crate::dryrun::Lookup::List {
            return Err(ConfigError::Usage(
                "--lookup list is for revoke's dry runs: offboard looks each user up with \
                 GET /users/{id}, because its safety rules need each user's role name and \
                 sign-in types, which the account listing does not return"
                    .to_owned(),
            ));
        }
        let choices = offboard::merge(args, &file.offboard)?;
        let steps: Steps = match &choices.steps {
            Some(c) => parse_chosen(c)?,
            None => Steps::default(),
        };
        let transfer_to = match &choices.transfer_to {
            Some(c) => Some(UserId::parse(&c.value).map_err(|e| ConfigError::Value {
                source_name: c.source.clone(),
                detail: format!("{:?}: {e}", c.value),
            })?),
            None => None,
        };
        check_transfer(
            &choices,
            &steps,
            transfer_to.is_some(),
            &mut run.conn.warnings,
        )?;
        let transfer_kinds: TransferKinds = match &choices.transfer_kinds {
            Some(c) => parse_chosen(c)?,
            None => TransferKinds::all(),
        };
        let options = crate::offboard::Options {
            steps,
            transfer_to,
            no_transfer: choices.no_transfer,
            transfer_kinds,
            include_admins: choices.include_admins,
            dry_run: run.dry_run,
            concurrency: run.concurrency,
        };
        Ok(OffboardSettings {
            run,
            options,
            transfer_column: choices.transfer_column,
        })
    }
}

/// Parses a list chosen from a flag (its error is a usage error, which names the flag) or from
/// the config file (named as the key in the file).
fn parse_chosen<T>(c: &offboard::Chosen<String>) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    c.value.parse().map_err(|e: T::Err| {
        if c.source.starts_with("--") {
            ConfigError::Usage(e.to_string())
        } else {
            ConfigError::Value {
                source_name: c.source.clone(),
                detail: e.to_string(),
            }
        }
    })
}

/// A removal needs to know where the data goes; a target without a removal is only a warning.
fn check_transfer(
    choices: &offboard::OffboardChoices,
    steps: &Steps,
    has_target: bool,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if let Some(removal) = steps.removal()
        && !has_target
        && choices.transfer_column.is_none()
        && !choices.no_transfer
    {
        return Err(ConfigError::Usage(format!(
            "--steps {steps} includes {removal}: say where each leaver's meetings, webinars, \
             recordings, whiteboards, clips, notes, visitors and docs go with --transfer-to \
             EMAIL or --transfer-column NAME, or pass --no-transfer to let the data go with the \
             user"
        )));
    }
    if steps.removal().is_none() && (has_target || choices.no_transfer) {
        warnings.push(
            "--transfer-to and --no-transfer only matter with a disassociate or delete step".into(),
        );
    }
    Ok(())
}

/// The rate of a listing (`users`, `reconcile`): `--rate`, else 80% of the plan's Medium ceiling,
/// leaving room for the other apps on the account.
pub fn listing_rate(flag: Option<f64>, plan: Plan) -> Result<f64, ConfigError> {
    match flag {
        Some(r) if !r.is_finite() || r <= 0.0 || r > 10_000.0 => Err(ConfigError::Value {
            source_name: "--rate".into(),
            detail: format!("{r} is not a rate: give requests per second above 0"),
        }),
        Some(r) => Ok(r),
        None => Ok(f64::from(plan.per_second(Label::Medium)) * 0.8),
    }
}

/// What a listing command (`users`, `reconcile`) resolves from its [`ListingArgs`]: the
/// connection exactly as every command resolves it, the config file (for the command's own
/// keys) and the listing's rate. `outage_wait` is the command's `--outage-wait`, if it has one.
pub fn resolve_listing(
    args: &ListingArgs,
    outage_wait: Option<u64>,
    env: Env<'_>,
) -> Result<(Connection, FileConfig, f64), ConfigError> {
    let policy = PolicyFlags {
        max_retries: args.max_retries,
        outage_wait,
    };
    let (conn, file) = Connection::resolve(&args.conn, policy, &args.output, env)?;
    let rate = listing_rate(args.rate, conn.plan)?;
    Ok((conn, file, rate))
}

impl UsersSettings {
    /// Resolves `users`' settings: the connection exactly as the other commands resolve it
    /// (so `ZOOM_OFFBOARD_MAX_RETRIES`, `outage_wait` in the config file and the rest apply),
    /// and the listing's rate.
    pub fn resolve(args: &UsersArgs, env: Env<'_>) -> Result<UsersSettings, ConfigError> {
        let (conn, _file, rate) = resolve_listing(&args.listing, None, env)?;
        Ok(UsersSettings {
            conn,
            rate,
            status: args.status,
            roles: args.role.clone(),
            inactive_days: args.inactive_days,
            format: args.listing.format,
        })
    }
}

/// The config file: `--config`, else `ZOOM_OFFBOARD_CONFIG` (both must exist), else
/// `zoom-offboard.toml` in the working directory if there is one.
fn config_file(conn: &ConnectionArgs, env: Env<'_>) -> Result<(PathBuf, FileConfig), ConfigError> {
    let (path, explicit) = match (&conn.config, env_nonempty(env, "ZOOM_OFFBOARD_CONFIG")) {
        (Some(p), _) => (p.clone(), true),
        (None, Some(p)) => (PathBuf::from(p), true),
        (None, None) => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let file = load_file(&path, explicit)?.unwrap_or_default();
    Ok((path, file))
}

/// The named environment variable, if set and not blank, with its name for messages.
fn env_var(env: Env<'_>, key: &'static str) -> Option<(String, &'static str)> {
    env_nonempty(env, key).map(|v| (v, key))
}

/// An out-of-range error for the value that came from `from`.
fn out_of_range(from: String, detail: String) -> ConfigError {
    ConfigError::Value {
        source_name: from,
        detail,
    }
}

fn resolve_plan(
    conn: &ConnectionArgs,
    env: Env<'_>,
    file: &FileConfig,
) -> Result<Plan, ConfigError> {
    let picked = pick(
        conn.plan.clone(),
        "--plan",
        env_var(env, "ZOOM_OFFBOARD_PLAN"),
        file.plan.clone(),
        "plan",
        |s| Ok(s.to_string()),
    )?;
    match picked {
        Some((name, from)) => name.parse::<Plan>().map_err(|e| ConfigError::Value {
            source_name: from,
            detail: e.to_string(),
        }),
        None => Ok(Plan::default()),
    }
}

/// `--rate`: above 0; above the plan's Light ceiling is allowed with a warning.
fn resolve_rate(
    flag: Option<f64>,
    env: Env<'_>,
    file: &FileConfig,
    plan: Plan,
    warnings: &mut Vec<String>,
) -> Result<f64, ConfigError> {
    let picked = pick(
        flag,
        "--rate",
        env_var(env, "ZOOM_OFFBOARD_RATE"),
        file.rate,
        "rate",
        parse_num::<f64>,
    )?;
    let Some((r, from)) = picked else {
        return Ok(plan.default_rate());
    };
    if !r.is_finite() || r <= 0.0 || r > 10_000.0 {
        return Err(out_of_range(
            from,
            format!("{r} is not a rate: give requests per second above 0"),
        ));
    }
    let ceiling = f64::from(plan.per_second(Label::Light));
    if r > ceiling {
        warnings.push(format!(
            "{from} {r}/s is above the {plan} plan's Light ceiling of {ceiling}/s: \
             expect 429s (is --plan right?)"
        ));
    }
    Ok(r)
}

/// Where a number may come from, in precedence order, with the names messages use for each.
struct NumberSource<T> {
    /// The flag's value, and its name.
    flag: (Option<T>, &'static str),
    /// The environment variable.
    env: &'static str,
    /// The config file's value, and its key.
    file: (Option<T>, &'static str),
}

/// A number from flag, environment or config file (the first present), that must satisfy
/// `ok` (else the error says `range`, naming where the value came from), or `default`.
fn resolve_number<T: std::str::FromStr + std::fmt::Display + Copy>(
    src: NumberSource<T>,
    env: Env<'_>,
    ok: impl Fn(T) -> bool,
    range: &str,
    default: T,
) -> Result<T, ConfigError> {
    let picked = pick(
        src.flag.0,
        src.flag.1,
        env_var(env, src.env),
        src.file.0,
        src.file.1,
        parse_num::<T>,
    )?;
    match picked {
        Some((v, from)) if !ok(v) => {
            Err(out_of_range(from, format!("{v} is out of range: {range}")))
        }
        Some((v, _)) => Ok(v),
        None => Ok(default),
    }
}

fn resolve_concurrency(
    flag: Option<usize>,
    env: Env<'_>,
    file: &FileConfig,
) -> Result<usize, ConfigError> {
    let src = NumberSource {
        flag: (flag, "--concurrency"),
        env: "ZOOM_OFFBOARD_CONCURRENCY",
        file: (file.concurrency, "concurrency"),
    };
    resolve_number(src, env, |c| (1..=1024).contains(&c), "1 to 1024", 16)
}

fn resolve_max_retries(
    flag: Option<u32>,
    env: Env<'_>,
    file: &FileConfig,
) -> Result<u32, ConfigError> {
    let src = NumberSource {
        flag: (flag, "--max-retries"),
        env: "ZOOM_OFFBOARD_MAX_RETRIES",
        file: (file.max_retries, "max_retries"),
    };
    resolve_number(src, env, |n| n <= 100, "0 to 100", 6)
}

fn resolve_outage_wait(
    flag: Option<u64>,
    env: Env<'_>,
    file: &FileConfig,
) -> Result<Duration, ConfigError> {
    let src = NumberSource {
        flag: (flag, "--outage-wait"),
        env: "ZOOM_OFFBOARD_OUTAGE_WAIT",
        file: (file.outage_wait, "outage_wait"),
    };
    let secs = resolve_number(src, env, |n| n <= 7 * 24 * 3600, "0 to 604800 seconds", 600)?;
    Ok(Duration::from_secs(secs))
}

fn resolve_timeout(
    conn: &ConnectionArgs,
    env: Env<'_>,
    file: &FileConfig,
) -> Result<Duration, ConfigError> {
    let src = NumberSource {
        flag: (conn.timeout, "--timeout"),
        env: "ZOOM_OFFBOARD_TIMEOUT",
        file: (file.timeout, "timeout"),
    };
    let ok = |t: f64| t.is_finite() && t > 0.0 && t <= 3600.0;
    let secs = resolve_number(src, env, ok, "more than 0 and at most 3600 seconds", 30.0)?;
    Ok(Duration::from_secs_f64(secs))
}

/// Which of the two URLs.
#[derive(Clone, Copy)]
enum UrlKey {
    /// The API base.
    Base,
    /// The token endpoint.
    OAuth,
}

fn resolve_url(
    key: UrlKey,
    conn: &ConnectionArgs,
    env: Env<'_>,
    file: &FileConfig,
) -> Result<String, ConfigError> {
    let (flag, flag_name, var, from_file, file_key, default) = match key {
        UrlKey::Base => (
            &conn.base_url,
            "--base-url",
            "ZOOM_OFFBOARD_BASE_URL",
            &file.base_url,
            "base_url",
            DEFAULT_BASE_URL,
        ),
        UrlKey::OAuth => (
            &conn.oauth_url,
            "--oauth-url",
            "ZOOM_OFFBOARD_OAUTH_URL",
            &file.oauth_url,
            "oauth_url",
            DEFAULT_OAUTH_URL,
        ),
    };
    let picked = pick(
        flag.clone(),
        flag_name,
        env_var(env, var),
        from_file.clone(),
        file_key,
        |s| Ok(s.to_string()),
    )?;
    match picked {
        Some((u, from)) => check_url(&from, &u),
        None => Ok(default.to_string()),
    }
}

fn resolve_credentials(
    conn: &ConnectionArgs,
    env: Env<'_>,
    file: &FileConfig,
    config_path: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<Credentials>, ConfigError> {
    let account_id = env_nonempty(env, "ZOOM_ACCOUNT_ID").or(file.auth.account_id.clone());
    let client_id = env_nonempty(env, "ZOOM_CLIENT_ID").or(file.auth.client_id.clone());
    let secret = if let Some(path) = &conn.client_secret_file {
        if let Some(w) = secret_file_warning(path) {
            warnings.push(w);
        }
        Some(read_secret_file(path)?)
    } else if let Some(s) = env_nonempty(env, "ZOOM_CLIENT_SECRET") {
        Some(SecretString::from(s))
    } else if let Some(s) = &file.auth.client_secret {
        if let Some(w) = secret_file_warning(config_path) {
            warnings.push(w);
        }
        Some(s.clone())
    } else if let Some(path) = &file.auth.client_secret_file {
        if let Some(w) = secret_file_warning(path) {
            warnings.push(w);
        }
        Some(read_secret_file(path)?)
    } else {
        None
    };
    let any_s2s = account_id.is_some() || client_id.is_some() || secret.is_some();

    if let Some(token) = env_nonempty(env, "ZOOM_ACCESS_TOKEN") {
        if any_s2s {
            warnings.push(
                "ZOOM_ACCESS_TOKEN is set: using it, and ignoring the Server-to-Server OAuth \
                 credentials also configured"
                    .into(),
            );
        }
        return Ok(Some(Credentials::Static(SecretString::from(
            token.trim().to_string(),
        ))));
    }
    if !any_s2s {
        return Ok(None);
    }
    match (account_id, client_id, secret) {
        (Some(account_id), Some(client_id), Some(client_secret)) => {
            Ok(Some(Credentials::S2s(S2sCredentials {
                account_id: account_id.trim().to_string(),
                client_id: client_id.trim().to_string(),
                client_secret,
            })))
        }
        (a, c, s) => {
            let mut missing = Vec::new();
            if a.is_none() {
                missing.push("account id (ZOOM_ACCOUNT_ID)");
            }
            if c.is_none() {
                missing.push("client id (ZOOM_CLIENT_ID)");
            }
            if s.is_none() {
                missing.push("client secret (ZOOM_CLIENT_SECRET)");
            }
            Err(ConfigError::IncompleteCredentials(missing.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }

    fn resolve(args: &RevokeArgs, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| map.get(k).cloned();
        Settings::resolve(args, &env, now())
    }

    fn with_config(text: &str) -> (tempfile::TempDir, RevokeArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        let mut args = RevokeArgs::default();
        args.conn.config = Some(path);
        (dir, args)
    }

    #[test]
    fn the_example_config_parses() {
        let cfg: FileConfig = toml::from_str(include_str!("../config.example.toml")).unwrap();
        assert_eq!(cfg.plan.as_deref(), Some("business"));
        assert_eq!(cfg.concurrency, Some(16));
        assert_eq!(cfg.outage_wait, Some(600));
        let roster_column = cfg.reconcile.roster_column.map(|c| c.values());
        assert_eq!(
            roster_column,
            Some(vec!["work_email".into(), "alias".into()])
        );
        assert_eq!(cfg.reconcile.max_share, Some(10.0));

        // Its [offboard] examples, uncommented, parse too.
        let text = include_str!("../config.example.toml");
        let (_, offboard) = text.split_once("[offboard]").unwrap();
        let keys: String = offboard
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let f: FileOffboard = toml::from_str(&keys).unwrap();
        assert_eq!(
            f.steps.map(|s| s.joined()).as_deref(),
            Some("revoke,deactivate,disassociate")
        );
        assert_eq!(
            f.transfer_kinds.map(|s| s.joined()).as_deref(),
            Some("meeting,recording,docs")
        );
        assert_eq!(
            (f.no_transfer, f.include_admins),
            (Some(false), Some(false))
        );
    }

    #[test]
    fn defaults() {
        let s = resolve(&RevokeArgs::default(), &[]).unwrap();
        assert_eq!(s.conn.plan, Plan::Pro);
        assert!((s.rate - 24.0).abs() < 1e-9);
        assert_eq!(s.concurrency, 16);
        assert_eq!(s.conn.max_retries, 6);
        assert_eq!(s.conn.timeout, Duration::from_secs(30));
        assert_eq!(s.conn.base_url, DEFAULT_BASE_URL);
        assert!(s.conn.credentials.is_none());
    }

    #[test]
    fn precedence_flag_env_file_default() {
        let (_d, mut args) = with_config("plan = \"free\"\nrate = 3\nconcurrency = 4\n");
        let s = resolve(&args, &[]).unwrap();
        assert_eq!((s.conn.plan, s.rate, s.concurrency), (Plan::Free, 3.0, 4));
        let s = resolve(
            &args,
            &[
                ("ZOOM_OFFBOARD_RATE", "2"),
                ("ZOOM_OFFBOARD_PLAN", "business"),
            ],
        )
        .unwrap();
        assert_eq!((s.conn.plan, s.rate), (Plan::Business, 2.0));
        args.rate = Some(1.0);
        let s = resolve(&args, &[("ZOOM_OFFBOARD_RATE", "2")]).unwrap();
        assert_eq!(s.rate, 1.0);
        // Plan sets the default rate when no rate is given anywhere.
        let (_d, args) = with_config("plan = \"Business Plus\"\n");
        assert!((resolve(&args, &[]).unwrap().rate - 64.0).abs() < 1e-9);
    }

    #[test]
    fn bad_values_name_their_source() {
        let e = resolve(&RevokeArgs::default(), &[("ZOOM_OFFBOARD_RATE", "fast")]).unwrap_err();
        assert!(e.to_string().starts_with("ZOOM_OFFBOARD_RATE:"), "{e}");
        let (_d, args) = with_config("concurrency = 0\n");
        let e = resolve(&args, &[]).unwrap_err();
        assert!(
            e.to_string().contains("concurrency in the config file"),
            "{e}"
        );
        let (_d, args) = with_config("colour = \"blue\"\n");
        let e = resolve(&args, &[]).unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let mut args = RevokeArgs::default();
        args.conn.config = Some("/nonexistent/x.toml".into());
        assert!(resolve(&args, &[]).is_err());
    }

    #[test]
    fn urls_must_be_https_unless_loopback() {
        assert!(check_url("--base-url", "http://127.0.0.1:8080/v2").is_ok());
        assert!(check_url("--base-url", "http://[::1]:8080/v2").is_ok());
        assert!(check_url("--base-url", "http://localhost:1/v2").is_ok());
        assert!(check_url("--base-url", "https://api.zoom.us/v2/").is_ok());
        assert!(check_url("--base-url", "http://api.zoom.us/v2").is_err());
        assert!(check_url("--base-url", "http://10.0.0.1/v2").is_err());
        assert!(check_url("--base-url", "ftp://x/").is_err());
        assert!(check_url("--base-url", "https://u:p@api.zoom.us/v2").is_err());
        assert_eq!(
            check_url("x", "https://api.zoom.us/v2/").unwrap(),
            "https://api.zoom.us/v2"
        );
    }

    #[test]
    fn credentials_resolution() {
        let all = [
            ("ZOOM_ACCOUNT_ID", "acc"),
            ("ZOOM_CLIENT_ID", "cid"),
            ("ZOOM_CLIENT_SECRET", "s3cr3t-value"),
        ];
        let s = resolve(&RevokeArgs::default(), &all).unwrap();
        assert!(matches!(s.conn.credentials, Some(Credentials::S2s(_))));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("s3cr3t-value"), "{dbg}");
        let e = resolve(&RevokeArgs::default(), &all[..2]).unwrap_err();
        assert!(e.to_string().contains("client secret"), "{e}");
        let s = resolve(&RevokeArgs::default(), &[("ZOOM_ACCESS_TOKEN", "tok-abc")]).unwrap();
        assert!(matches!(s.conn.credentials, Some(Credentials::Static(_))));
        assert!(!format!("{s:?}").contains("tok-abc"));
    }

    #[test]
    fn secret_in_config_file_is_redacted_and_warned_about() {
        let (d, args) = with_config(
            "[auth]\naccount_id = \"a\"\nclient_id = \"c\"\nclient_secret = \"file-secret-123\"\n",
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                d.path().join("c.toml"),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
        }
        let s = resolve(&args, &[]).unwrap();
        assert!(matches!(s.conn.credentials, Some(Credentials::S2s(_))));
        assert!(!format!("{s:?}").contains("file-secret-123"));
        #[cfg(unix)]
        assert!(
            s.conn.warnings.iter().any(|w| w.contains("chmod 600")),
            "{:?}",
            s.conn.warnings
        );
    }
}
