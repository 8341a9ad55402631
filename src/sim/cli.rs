//! `zoom-offboard sim`: serve the simulator on loopback for manual runs, curl and demos.
//!
//! Raw flags ([`SimArgs`]) become a checked [`SimConfig`] in one place ([`SimArgs::to_config`]),
//! so `demo` and tests can reuse the conversion. On start the command prints everything needed
//! to point the real client at it (URLs, test credentials, a curl line); these are simulator
//! credentials, so printing them is fine.

use std::io::Write as _;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use rand::Rng as _;

use crate::plan::Plan;
use crate::sim::Sim;
use crate::sim::config::{LimitModel, PageNumbers, SimConfig, SimUsers};
use crate::sim::roster::{Workforce, workforce};
use crate::sim::users::{SimUser, UserStatus, load_users_csv};

/// Flags of `zoom-offboard sim`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 picks a free one; the URL printed on start names it)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Account plan, which sets the rate ceilings: free, pro or business
    #[arg(long, default_value = "pro", value_parser = parse_plan)]
    pub plan: Plan,
    /// Number of generated users (user00001@example.com …) [default: 100]
    #[arg(long, value_name = "N", conflicts_with = "users_file")]
    pub users: Option<usize>,
    /// CSV of users with a header `id,email` and optional columns status, first_name, last_name,
    /// type, role_id, role_name, login_types, managed_domain, zoom_events, zoom_room,
    /// webinar_licence, other_account
    #[arg(long, value_name = "PATH")]
    pub users_file: Option<PathBuf>,
    /// Generate the users as a workforce for `reconcile`: on three email domains (example.com,
    /// a subsidiary's example.co.uk, a contractors' agency.example.net), with an HR roster that
    /// misses some leavers (see --roster-out)
    #[arg(long, conflicts_with = "users_file")]
    pub workforce: bool,
    /// With --workforce: write its HR roster here on start (CSV `employee_id,name,work_email,alias`,
    /// noisy as real exports: case, spaces, new addresses with the Zoom one as an alias)
    #[arg(long, value_name = "PATH", requires = "workforce")]
    pub roster_out: Option<PathBuf>,
    /// Change the account between list pages: before each page after the first, one inactive
    /// user becomes active again, so later users move down a place
    #[arg(long)]
    pub list_churn: bool,
    /// How GET /users' deprecated page_number is treated: served (as Zoom does today), ignored
    /// (the first page comes back) or rejected (400 code 300)
    #[arg(long, value_enum, value_name = "HOW", default_value_t)]
    pub page_numbers: PageNumbers,
    /// Light requests per second (overrides the plan's ceiling)
    #[arg(long, value_name = "N")]
    pub rate: Option<u32>,
    /// Medium requests per second (overrides the plan's ceiling)
    #[arg(long, value_name = "N")]
    pub medium_rate: Option<u32>,
    /// Light requests per day (overrides the plan's; only Free has one by default)
    #[arg(long, value_name = "N")]
    pub daily_limit: Option<u64>,
    /// How the per-second limit is enforced
    #[arg(long, value_enum, default_value_t = LimitModel::Window)]
    pub limit_model: LimitModel,
    /// Latency added to API calls, in ms: a range `20..80` or a single number
    #[arg(long, value_name = "MS", default_value = "0", value_parser = parse_latency)]
    pub latency_ms: (u64, u64),
    /// Delay between a call's arrival and the moment its rate-limit window counts it, in ms
    /// (a range `30..120` or a single number): window-edge jitter of a distant server
    #[arg(long, value_name = "MS", default_value = "0", value_parser = parse_latency)]
    pub transit_ms: (u64, u64),
    /// Probability of a 5xx before the side effect (not revoked)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub fault_5xx: f64,
    /// Probability of a 5xx after the side effect (revoked, but the client sees an error)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub fault_5xx_after: f64,
    /// Probability of closing the connection without an answer
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub fault_drop: f64,
    /// Probability of stalling the answer for --stall-secs
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub fault_stall: f64,
    /// How long a stalled answer is held
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub stall_secs: u64,
    /// Light requests per second another app on the account uses
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub neighbour: u32,
    /// Lifetime of issued OAuth tokens
    #[arg(long, value_name = "SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub token_ttl: u64,
    /// Granted scopes, comma-separated [default: user:write:admin,user:read:admin]
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Send 429s without X-RateLimit-* and Retry-After headers
    #[arg(long)]
    pub omit_rate_headers: bool,
    /// Send `Retry-After: 1` with per-second 429s too (Zoom sends it with the daily limit only)
    #[arg(long)]
    pub qps_retry_after: bool,
    /// Seed for user generation and every fault and latency draw
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A never-expiring bearer token to accept (default: a random one, printed on start)
    #[arg(long, value_name = "TOKEN")]
    pub static_token: Option<String>,
    /// An outage window in seconds since start, e.g. `30..45`, where every call answers 503
    #[arg(long, value_name = "SECS..SECS", value_parser = parse_outage)]
    pub outage: Vec<Range<Duration>>,
}

impl SimArgs {
    /// The checked config these flags describe (reads `--users-file`; generates a static token
    /// when none was given).
    pub fn to_config(&self) -> anyhow::Result<SimConfig> {
        let users = match (&self.users_file, self.workforce()) {
            (Some(path), _) => SimUsers::List(load_users_csv(path)?),
            (None, Some(w)) => SimUsers::List(w.users),
            (None, None) => SimUsers::Generated(self.user_count()),
        };
        let defaults = SimConfig::default();
        let scopes: Vec<String> = self
            .scopes
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let static_token = self.static_token.clone().unwrap_or_else(|| {
            let bytes: [u8; 24] = rand::rng().random();
            format!(
                "sim_static_{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
            )
        });
        let cfg = SimConfig {
            port: self.port,
            plan: self.plan,
            light_per_second: self.rate,
            medium_per_second: self.medium_rate,
            light_per_day: self.daily_limit,
            limit_model: self.limit_model,
            omit_rate_headers: self.omit_rate_headers,
            qps_retry_after: self.qps_retry_after,
            neighbour_light_per_second: self.neighbour,
            users,
            seed: self.seed,
            latency_ms: self.latency_ms,
            transit_ms: self.transit_ms,
            fault_5xx_before: self.fault_5xx,
            fault_5xx_after: self.fault_5xx_after,
            fault_drop: self.fault_drop,
            fault_stall: self.fault_stall,
            stall: Duration::from_secs(self.stall_secs),
            outages: self.outage.clone(),
            token_ttl: Duration::from_secs(self.token_ttl),
            list_churn: self.list_churn,
            page_numbers: self.page_numbers,
            scopes: if scopes.is_empty() {
                defaults.scopes.clone()
            } else {
                scopes
            },
            static_token: Some(static_token),
            ..defaults
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// `--users N`, or the default 100.
    fn user_count(&self) -> usize {
        self.users.unwrap_or(100)
    }

    /// With `--workforce`: the users and their roster (deterministic from `--seed`, so the
    /// roster written on start matches the users served).
    pub fn workforce(&self) -> Option<Workforce> {
        self.workforce
            .then(|| workforce(self.user_count(), self.seed))
    }

    /// Writes the workforce's roster to `--roster-out`, if asked; returns where.
    fn write_roster(&self) -> anyhow::Result<Option<&PathBuf>> {
        let (Some(path), Some(w)) = (&self.roster_out, self.workforce()) else {
            return Ok(None);
        };
        std::fs::write(path, &w.roster)
            .with_context(|| format!("--roster-out {}: cannot write", path.display()))?;
        Ok(Some(path))
    }
}

/// What `sim` prints on start: URLs, ready-to-paste credentials, a curl line, example users.
pub fn banner(sim: &Sim) -> String {
    let cfg = sim.config();
    let users = sim.users();
    let example = users
        .iter()
        .find(|u| u.status == UserStatus::Active)
        .or(users.first());
    let token = cfg.static_token.as_deref().unwrap_or("<token>");
    let mut out = format!(
        "Zoom API simulator listening on {addr} (plan {plan}, {n} users)\n\
         base URL:  {base}\n\
         token URL: {oauth}\n\n\
         export ZOOM_ACCOUNT_ID={acct} ZOOM_CLIENT_ID={cid} ZOOM_CLIENT_SECRET={secret}\n\
         export ZOOM_ACCESS_TOKEN={token}\n",
        addr = sim.addr(),
        plan = cfg.plan,
        n = users.len(),
        base = sim.base_url(),
        oauth = sim.oauth_url(),
        acct = cfg.account_id,
        cid = cfg.client_id,
        secret = cfg.client_secret,
    );
    if let Some(u) = example {
        out += &format!(
            "\ncurl -X DELETE -H \"Authorization: Bearer {token}\" {}/users/{}/token\n",
            sim.base_url(),
            u.id
        );
    }
    let emails: Vec<&str> = users
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .take(3)
        .map(|u| u.email.as_str())
        .collect();
    if !emails.is_empty() {
        out += &format!("example users: {}\n", emails.join(", "));
    }
    out += &roles_and_special_users(&users);
    out += &format!("ground truth: curl http://{}/_sim/state\n", sim.addr());
    out
}

/// Picks users of one kind, for the banner.
type Pick = fn(&SimUser) -> bool;

/// The banner's lines about roles and users the offboarding rules treat specially, each with
/// an example email, so a person can try every refusal by hand.
fn roles_and_special_users(users: &[SimUser]) -> String {
    let count = |f: Pick| users.iter().filter(|u| f(u)).count();
    let mut out = format!(
        "roles: {} owner, {} admins, {} custom, {} members\n",
        count(SimUser::is_owner),
        count(SimUser::is_admin),
        count(SimUser::has_custom_role),
        count(SimUser::is_member),
    );
    let kinds: [(&str, Pick); 9] = [
        ("owner", SimUser::is_owner),
        ("admin", SimUser::is_admin),
        ("custom role", SimUser::has_custom_role),
        ("pending", |u| u.status == UserStatus::Pending),
        ("inactive", |u| u.status == UserStatus::Inactive),
        ("managed domain", |u| u.managed_domain),
        ("Zoom Events", |u| u.zoom_events),
        ("no SSO login", |u| !u.uses_sso()),
        ("on another account", |u| u.other_account),
    ];
    for (name, f) in kinds {
        if let Some(u) = users.iter().find(|u| f(u)) {
            out += &format!("  {name}: {} (e.g. {})\n", count(f), u.email);
        }
    }
    out
}

/// Runs `zoom-offboard sim`: serves until Ctrl-C.
pub async fn run_cli(args: SimArgs) -> anyhow::Result<()> {
    let sim = Sim::start(args.to_config()?).await?;
    let roster = args.write_roster()?;
    {
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "{}", banner(&sim))?;
        if let Some(path) = roster {
            writeln!(
                stdout,
                "HR roster: {} (zoom-offboard reconcile --roster {} --roster-column work_email \
                 --roster-column alias)",
                path.display(),
                path.display()
            )?;
        }
        writeln!(stdout, "Serving until Ctrl-C.")?;
        stdout.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    s.parse::<Plan>().map_err(|e| e.to_string())
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

/// `20..80` or `50` (milliseconds).
fn parse_latency(s: &str) -> Result<(u64, u64), String> {
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("{s:?} is not a latency: use MS or MIN..MAX, e.g. 20..80"))
    };
    let (lo, hi) = match s.split_once("..") {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(s)?;
            (n, n)
        }
    };
    if lo > hi {
        return Err(format!("latency range {s:?} is reversed"));
    }
    Ok((lo, hi))
}

/// `30..45` (seconds since start, fractions allowed).
fn parse_outage(s: &str) -> Result<Range<Duration>, String> {
    let bad = || format!("{s:?} is not an outage window: use START..END in seconds, e.g. 30..45");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let secs = |t: &str| {
        t.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(bad)
    };
    let (start, end) = (secs(a)?, secs(b)?);
    if start >= end {
        return Err(format!("outage window {s:?} is empty or reversed"));
    }
    Ok(start..end)
}
