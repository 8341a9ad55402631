//! The simulated account's users: generation, CSV loading, and the live directory.
//!
//! Generated users follow a fixed pattern that tests and fixtures rely on: emails
//! `user00001@example.com`, `user00002@example.com`, … (1-based, zero padded to 5 digits, so
//! user 100000 is `user100000@example.com`); ids are 22-character base64url strings like Zoom's,
//! drawn from a RNG seeded with the config's seed. User `i` (1-based) is Pending when
//! `i % 50 == 0`, else Inactive when `i % 20 == 0`, else Active.
//!
//! The [`Directory`] is the ground truth the handlers mutate: statuses (PUT status) and the
//! revocation counts the tests assert on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::Context as _;
use base64::Engine as _;
use rand::{Rng as _, SeedableRng as _};

/// A user's account status, as Zoom's `status` field and `?status=` filter name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// A working user: can be revoked, listed under `status=active`.
    Active,
    /// A deactivated user: still exists, so revoking succeeds.
    Inactive,
    /// Invited but never joined: Zoom answers 400/1120 to a revoke, and lists them without `id`.
    Pending,
}

impl UserStatus {
    /// The lower-case name Zoom uses in JSON and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Inactive => "inactive",
            UserStatus::Pending => "pending",
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserStatus {
    type Err = anyhow::Error;

    /// Case-insensitive, so hand-written CSVs and query strings both work.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(UserStatus::Active),
            "inactive" => Ok(UserStatus::Inactive),
            "pending" => Ok(UserStatus::Pending),
            _ => anyhow::bail!("unknown status {s:?}: expected active, inactive or pending"),
        }
    }
}

/// One user of the simulated account: the fields Zoom's user objects carry that matter to us.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimUser {
    /// Zoom user id (22-char base64url for generated users); matched case-sensitively.
    pub id: String,
    /// Email address; matched case-insensitively, like Zoom does.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Zoom's plan `type`: 1 Basic, 2 Licensed, 4 Unassigned.
    pub user_type: u8,
    /// Account status; changed at runtime by `PUT /users/{id}/status`.
    pub status: UserStatus,
    /// Role id: "0" owner, "1" admin, "2" member.
    pub role_id: String,
    /// RFC 3339 time of the last login; `None` for users who never logged in.
    pub last_login_time: Option<String>,
}

const FIRST_NAMES: [&str; 16] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Radia",
    "Dennis",
    "Margaret",
    "Niklaus",
    "Hedy",
    "Tim",
    "Katherine",
    "Linus",
];
const LAST_NAMES: [&str; 16] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Ritchie",
    "Hamilton",
    "Wirth",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Torvalds",
];

/// `n` deterministic users for `seed` (see the module doc for the pattern).
pub fn generate_users(n: usize, seed: u64) -> Vec<SimUser> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut seen = HashSet::with_capacity(n);
    (1..=n)
        .map(|i| {
            let id = loop {
                let bytes: [u8; 16] = rng.random();
                let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
                if seen.insert(id.clone()) {
                    break id;
                }
            };
            let status = if i % 50 == 0 {
                UserStatus::Pending
            } else if i % 20 == 0 {
                UserStatus::Inactive
            } else {
                UserStatus::Active
            };
            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            let last_login_time = (status != UserStatus::Pending).then(|| {
                let day = rng.random_range(1..=28);
                let month = rng.random_range(1..=12);
                let secs = rng.random_range(0..86_400);
                format!(
                    "2025-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                )
            });
            SimUser {
                id,
                email: format!("user{i:05}@example.com"),
                first_name: first.to_string(),
                last_name: last.to_string(),
                user_type: if i % 7 == 0 { 1 } else { 2 },
                status,
                role_id: match i {
                    1 => "0",
                    _ if i % 25 == 0 => "1",
                    _ => "2",
                }
                .to_string(),
                last_login_time,
            }
        })
        .collect()
}

/// Reads users from a CSV with a header naming `id`, `email` and optionally `status`,
/// `first_name`, `last_name` (any order). Errors name the file and the line.
pub fn load_users_csv(path: &Path) -> anyhow::Result<Vec<SimUser>> {
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("{shown}: cannot open"))?;
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(file);
    let header = rdr
        .headers()
        .with_context(|| format!("{shown}: line 1: cannot read the header"))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    if let Some(bad) = header.iter().find(|h| {
        !["id", "email", "status", "first_name", "last_name"]
            .iter()
            .any(|k| h.eq_ignore_ascii_case(k))
    }) {
        anyhow::bail!(
            "{shown}: line 1: unknown column {bad:?}: expected id,email[,status,first_name,last_name]"
        );
    }
    let (Some(id_col), Some(email_col)) = (col("id"), col("email")) else {
        anyhow::bail!("{shown}: line 1: the header must name the columns id and email");
    };
    let (status_col, first_col, last_col) = (col("status"), col("first_name"), col("last_name"));
    let mut users = Vec::new();
    let (mut seen_ids, mut seen_emails) = (HashSet::new(), HashSet::new());
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow::anyhow!("{shown}: line {line}: {e}")
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let cell = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("");
        let id = cell(Some(id_col));
        let email = cell(Some(email_col));
        if id.is_empty() {
            anyhow::bail!("{shown}: line {line}: empty id");
        }
        if !email.contains('@') {
            anyhow::bail!("{shown}: line {line}: {email:?} is not an email address");
        }
        let status = match cell(status_col) {
            "" => UserStatus::Active,
            s => s.parse().with_context(|| format!("{shown}: line {line}"))?,
        };
        if !seen_ids.insert(id.to_string()) {
            anyhow::bail!("{shown}: line {line}: duplicate id {id:?}");
        }
        if !seen_emails.insert(email.to_lowercase()) {
            anyhow::bail!("{shown}: line {line}: duplicate email {email:?}");
        }
        let local = email.split('@').next().unwrap_or(email);
        users.push(SimUser {
            id: id.to_string(),
            email: email.to_string(),
            first_name: Some(cell(first_col))
                .filter(|s| !s.is_empty())
                .unwrap_or(local)
                .to_string(),
            last_name: cell(last_col).to_string(),
            user_type: 2,
            status,
            role_id: "2".to_string(),
            last_login_time: None,
        });
    }
    Ok(users)
}

/// The live user table: lookups by id or email, status changes and revocation counts.
#[derive(Debug)]
pub(crate) struct Directory {
    /// Users in their original order (list pages follow it).
    users: Vec<SimUser>,
    /// id → index into `users`.
    by_id: HashMap<String, usize>,
    /// lower-cased email → index into `users`.
    by_email: HashMap<String, usize>,
    /// user id → successful revocations so far (the side effect tests assert on).
    pub(crate) revocations: BTreeMap<String, u32>,
}

impl Directory {
    /// Builds the indexes; duplicate ids or emails (ignoring case) are an error, since Zoom
    /// could not have them either.
    pub(crate) fn new(users: Vec<SimUser>) -> anyhow::Result<Self> {
        let mut by_id = HashMap::with_capacity(users.len());
        let mut by_email = HashMap::with_capacity(users.len());
        for (i, u) in users.iter().enumerate() {
            if by_id.insert(u.id.clone(), i).is_some() {
                anyhow::bail!("duplicate user id {:?}", u.id);
            }
            if by_email.insert(u.email.to_lowercase(), i).is_some() {
                anyhow::bail!("duplicate user email {:?}", u.email);
            }
        }
        Ok(Directory {
            users,
            by_id,
            by_email,
            revocations: BTreeMap::new(),
        })
    }

    /// Resolves a decoded `{userId}` path segment: an exact id, else an email in any case.
    pub(crate) fn find(&self, key: &str) -> Option<usize> {
        self.by_id
            .get(key)
            .or_else(|| self.by_email.get(&key.to_lowercase()))
            .copied()
    }

    /// The user at `i` (an index from [`Directory::find`] or [`Directory::with_status`]).
    pub(crate) fn get(&self, i: usize) -> Option<&SimUser> {
        self.users.get(i)
    }

    /// Changes a user's status (PUT status).
    pub(crate) fn set_status(&mut self, i: usize, status: UserStatus) {
        if let Some(u) = self.users.get_mut(i) {
            u.status = status;
        }
    }

    /// Applies the revoke side effect and returns the user's new count.
    pub(crate) fn revoke(&mut self, i: usize) -> u32 {
        let Some(u) = self.users.get(i) else { return 0 };
        let n = self.revocations.entry(u.id.clone()).or_insert(0);
        *n += 1;
        *n
    }

    /// Indices of users with `status`, in directory order (the order list pages follow).
    pub(crate) fn with_status(&self, status: UserStatus) -> Vec<usize> {
        (0..self.users.len())
            .filter(|&i| self.users[i].status == status)
            .collect()
    }

    /// A copy of every user, with current statuses.
    pub(crate) fn all(&self) -> Vec<SimUser> {
        self.users.clone()
    }
}
