//! The simulated account's users: generation, CSV loading, and the live directory.
//!
//! Generated users follow a fixed pattern that tests and fixtures rely on: emails
//! `user00001@example.com`, `user00002@example.com`, … (1-based, zero padded to 5 digits, so
//! user 100000 is `user100000@example.com`); ids are 22-character base64url strings like Zoom's,
//! drawn from a RNG seeded with the config's seed. User `i` (1-based) is Pending when
//! `i % 50 == 0`, else Inactive when `i % 20 == 0`, else Active.
//!
//! Roles and offboarding traits follow the index too (checked in this order for roles):
//! - role: user 1 is the account Owner (`"0"`), users with `i % 25 == 10` Admins (`"1"`; one of
//!   four, user 60, is inactive; none is pending, so pending users can be unlinked), users with
//!   `i % 40 == 13` hold one of two custom roles ([`CUSTOM_ROLES`]), everyone else is a Member;
//! - `login_types`: user 1 `[101, 100]`; `i % 10 == 3` Zoom work email only `[100]`;
//!   `i % 30 == 7` Google and work email `[1, 100]`; `i % 45 == 29` Apple `[24]`; else SSO `[101]`;
//! - `managed_domain` when `i % 12 == 5`; `zoom_events` when `i % 33 == 8`;
//! - `type` Basic (1) when `i % 7 == 0`, else Licensed (2); no generated user is a Zoom Room's
//!   or holds a webinar licence (tests set those with the [`crate::sim::Sim`] controls or in a
//!   users CSV), so that generated accounts keep their deactivations and transfers unrefused.
//!
//! The [`Directory`] is the ground truth the handlers mutate: statuses, removals (delete and
//! disassociate take a user off the account: later lookups answer 404), and the per-user counts
//! and transfers the tests assert on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::Context as _;
use base64::Engine as _;
use rand::{Rng as _, SeedableRng as _};

use crate::sim::config::BasicCap;
use crate::sim::state::{Removal, Transfer, TransferKind, UserTruth};

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
    /// Role id: "0" owner, "1" admin, "2" member, anything else a custom role.
    pub role_id: String,
    /// The role's name, as `GET /users/{id}` shows it ("Owner", "Admin", "Member" or the
    /// custom role's name).
    pub role_name: String,
    /// Zoom's `login_types` codes (101 SSO, 100 Zoom work email, 1 Google, 24 Apple, ...): who
    /// signs in how decides whether a revoke alone logs them out for good.
    pub login_types: Vec<u8>,
    /// The email is on a domain the account manages: Zoom refuses to disassociate (1107).
    pub managed_domain: bool,
    /// The user has Zoom Events: no deactivation (300), no downgrade to Basic (300) and no
    /// delete without a transfer target.
    pub zoom_events: bool,
    /// A Zoom Room's user: Zoom refuses to make it Basic (`PATCH` type 1 → 400 code 200).
    pub zoom_room: bool,
    /// Holds a webinar licence, and so may host webinars: a transfer of its webinars needs a
    /// target that holds one too (else Zoom answers 300).
    pub webinar_licence: bool,
    /// Known to Zoom but on another account: invisible to lookups and listings (404/1001), a
    /// revoke answers 1010 and a delete 400 code 200 ("Cannot delete a user out of your account.").
    pub other_account: bool,
    /// RFC 3339 time of the last login; `None` for users who never logged in.
    pub last_login_time: Option<String>,
}

/// The custom roles generated users get: (role id, role name). Zoom gives custom roles opaque ids.
pub const CUSTOM_ROLES: [(&str, &str); 2] = [
    ("kG3pLq0TSdKx1m4QpWz7Nw", "Help Desk"),
    ("Rj8vH2bcQ8yqN0T5lE3aXg", "Billing Manager"),
];

/// The `login_types` codes Zoom's spec allows (schema `user`, `login_types` items).
pub const LOGIN_TYPES: [u8; 12] = [0, 1, 11, 21, 23, 24, 27, 97, 98, 99, 100, 101];

/// Zoom's name of a built-in role id, `None` for a custom role.
pub fn builtin_role_name(role_id: &str) -> Option<&'static str> {
    match role_id {
        "0" => Some("Owner"),
        "1" => Some("Admin"),
        "2" => Some("Member"),
        _ => None,
    }
}

impl SimUser {
    /// Role id `"0"`: the account owner, whom offboarding never touches.
    pub fn is_owner(&self) -> bool {
        self.role_id == "0"
    }

    /// Role id `"1"`: an Admin, whom Zoom refuses to deactivate or disassociate.
    pub fn is_admin(&self) -> bool {
        self.role_id == "1"
    }

    /// Role id `"2"`: what the offboarding safety rules call a plain user.
    pub fn is_member(&self) -> bool {
        self.role_id == "2"
    }

    /// A role other than the three built-in ones.
    pub fn has_custom_role(&self) -> bool {
        builtin_role_name(&self.role_id).is_none()
    }

    /// Whether the user signs in with SSO (login type 101), the sign-in a revoke ends.
    pub fn uses_sso(&self) -> bool {
        self.login_types.contains(&101)
    }
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
            let role = match i {
                1 => ("0", "Owner"),
                _ if i % 25 == 10 => ("1", "Admin"),
                _ if i % 40 == 13 => CUSTOM_ROLES[(i / 40) % CUSTOM_ROLES.len()],
                _ => ("2", "Member"),
            };
            SimUser {
                id,
                email: format!("user{i:05}@example.com"),
                first_name: first.to_string(),
                last_name: last.to_string(),
                user_type: if i % 7 == 0 { 1 } else { 2 },
                status,
                role_id: role.0.to_string(),
                role_name: role.1.to_string(),
                login_types: match i {
                    1 => vec![101, 100],
                    _ if i % 10 == 3 => vec![100],
                    _ if i % 30 == 7 => vec![1, 100],
                    _ if i % 45 == 29 => vec![24],
                    _ => vec![101],
                },
                managed_domain: i % 12 == 5,
                zoom_events: i % 33 == 8,
                zoom_room: false,
                webinar_licence: false,
                other_account: false,
                last_login_time,
            }
        })
        .collect()
}

/// The columns a users CSV may have; `id` and `email` are required.
const CSV_COLUMNS: [&str; 14] = [
    "id",
    "email",
    "status",
    "type",
    "zoom_room",
    "webinar_licence",
    "first_name",
    "last_name",
    "role_id",
    "role_name",
    "login_types",
    "managed_domain",
    "zoom_events",
    "other_account",
];

/// Reads users from a CSV with a header naming `id` and `email` and optionally any of `status`,
/// `type` (1 Basic, 2 Licensed or 4 Unassigned; default 2), `first_name`, `last_name`,
/// `role_id` (default `2`), `role_name` (default: the built-in role's name, else "Custom
/// role"), `login_types` (codes separated by `;`, space or `,`; default `101`),
/// `managed_domain`, `zoom_events`, `zoom_room`, `webinar_licence`, `other_account`
/// (`true`/`false`, `1`/`0`, `yes`/`no`; default false), in any order. Errors name the file and
/// the line.
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
    let cols = csv_layout(&header).with_context(|| format!("{shown}: line 1"))?;
    let mut users = Vec::new();
    let (mut seen_ids, mut seen_emails) = (HashSet::new(), HashSet::new());
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow::anyhow!("{shown}: line {line}: {e}")
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let at = || format!("{shown}: line {line}");
        let cell = |name: &str| {
            CSV_COLUMNS
                .iter()
                .position(|c| *c == name)
                .and_then(|k| cols[k])
                .and_then(|c| rec.get(c))
                .unwrap_or("")
        };
        let user = sim_user(&cell).with_context(at)?;
        if !seen_ids.insert(user.id.clone()) {
            anyhow::bail!("{}: duplicate id {:?}", at(), user.id);
        }
        if !seen_emails.insert(user.email.to_lowercase()) {
            anyhow::bail!("{}: duplicate email {:?}", at(), user.email);
        }
        users.push(user);
    }
    Ok(users)
}

/// Where each of [`CSV_COLUMNS`] is in the header; an unknown column, or no `id` or `email`,
/// is an error.
fn csv_layout(header: &csv::StringRecord) -> anyhow::Result<Vec<Option<usize>>> {
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    if let Some(bad) = header
        .iter()
        .find(|h| !CSV_COLUMNS.iter().any(|k| h.eq_ignore_ascii_case(k)))
    {
        anyhow::bail!(
            "unknown column {bad:?}: expected id,email and optionally {}",
            CSV_COLUMNS[2..].join(",")
        );
    }
    if col("id").is_none() || col("email").is_none() {
        anyhow::bail!("the header must name the columns id and email");
    }
    Ok(CSV_COLUMNS.iter().map(|c| col(c)).collect())
}

/// One user from its row's cells (`cell(column)`, blank when absent), defaults filled in.
fn sim_user<'a>(cell: &impl Fn(&str) -> &'a str) -> anyhow::Result<SimUser> {
    let (id, email) = (cell("id"), cell("email"));
    if id.is_empty() {
        anyhow::bail!("empty id");
    }
    if !email.contains('@') {
        anyhow::bail!("{email:?} is not an email address");
    }
    let status = match cell("status") {
        "" => UserStatus::Active,
        s => s.parse()?,
    };
    let role_id = match cell("role_id") {
        "" => "2",
        r => r,
    };
    let role_name = match (cell("role_name"), builtin_role_name(role_id)) {
        ("", Some(name)) => name,
        ("", None) => "Custom role",
        (name, _) => name,
    };
    let local = email.split('@').next().unwrap_or(email);
    Ok(SimUser {
        id: id.to_string(),
        email: email.to_string(),
        first_name: Some(cell("first_name"))
            .filter(|s| !s.is_empty())
            .unwrap_or(local)
            .to_string(),
        last_name: cell("last_name").to_string(),
        user_type: parse_type(cell("type"))?,
        status,
        role_id: role_id.to_string(),
        role_name: role_name.to_string(),
        login_types: parse_login_types(cell("login_types"))?,
        managed_domain: parse_flag("managed_domain", cell("managed_domain"))?,
        zoom_events: parse_flag("zoom_events", cell("zoom_events"))?,
        zoom_room: parse_flag("zoom_room", cell("zoom_room"))?,
        webinar_licence: parse_flag("webinar_licence", cell("webinar_licence"))?,
        other_account: parse_flag("other_account", cell("other_account"))?,
        last_login_time: None,
    })
}

/// `101`, `100;101`, `1 100`: codes from [`LOGIN_TYPES`]; blank means SSO only.
fn parse_login_types(cell: &str) -> anyhow::Result<Vec<u8>> {
    if cell.is_empty() {
        return Ok(vec![101]);
    }
    cell.split([';', ' ', ','])
        .filter(|t| !t.is_empty())
        .map(|t| match t.parse::<u8>() {
            Ok(n) if LOGIN_TYPES.contains(&n) => Ok(n),
            _ => anyhow::bail!("login_types: {t:?} is not one of Zoom's codes {LOGIN_TYPES:?}"),
        })
        .collect()
}

/// The user types a `PATCH /users/{id}` may set (the spec's `type` enum, less the withdrawn 99).
pub const USER_TYPES: [u8; 3] = [1, 2, 4];

/// A `type` cell: one of [`USER_TYPES`]; blank is Licensed (2).
fn parse_type(cell: &str) -> anyhow::Result<u8> {
    match cell.parse::<u8>() {
        _ if cell.is_empty() => Ok(2),
        Ok(t) if USER_TYPES.contains(&t) => Ok(t),
        _ => anyhow::bail!("type: {cell:?} is not one of Zoom's user types {USER_TYPES:?}"),
    }
}

/// A yes/no cell; blank is false.
fn parse_flag(name: &str, cell: &str) -> anyhow::Result<bool> {
    match cell.to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" => Ok(false),
        "true" | "1" | "yes" => Ok(true),
        _ => anyhow::bail!("{name}: {cell:?} is not true or false"),
    }
}

/// The live user table: lookups by id or email, status changes, removals and the ground truth
/// of what the calls did.
#[derive(Debug)]
pub(crate) struct Directory {
    /// Users in their original order (list pages follow it), removed ones included.
    users: Vec<SimUser>,
    /// Whether the user at that index was deleted or disassociated (off the account).
    removed: Vec<bool>,
    /// id → index into `users`, for users still on the account.
    by_id: HashMap<String, usize>,
    /// lower-cased email → index into `users`, for users still on the account.
    by_email: HashMap<String, usize>,
    /// user id → successful revocations so far (the side effect tests assert on).
    pub(crate) revocations: BTreeMap<String, u32>,
    /// user id → what status changes and removals did to that user (touched users only).
    pub(crate) offboarded: BTreeMap<String, UserTruth>,
    /// Data transfers applied by deletes and disassociations, in order.
    pub(crate) transfers: Vec<Transfer>,
    /// The account's cap on Basic users, if it has one (changeable at runtime).
    pub(crate) basic_cap: Option<BasicCap>,
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
            removed: vec![false; users.len()],
            users,
            by_id,
            by_email,
            revocations: BTreeMap::new(),
            offboarded: BTreeMap::new(),
            transfers: Vec::new(),
            basic_cap: None,
        })
    }

    /// Resolves a decoded `{userId}` path segment: an exact id, else an email in any case.
    /// Removed users are not found.
    pub(crate) fn find(&self, key: &str) -> Option<usize> {
        self.by_id
            .get(key)
            .or_else(|| self.by_email.get(&key.to_lowercase()))
            .copied()
    }

    /// Resolves an email only (as `transfer_email` is matched), in any case.
    pub(crate) fn find_email(&self, email: &str) -> Option<usize> {
        self.by_email.get(&email.to_lowercase()).copied()
    }

    /// The user at `i` (an index from [`Directory::find`] or [`Directory::with_status`]).
    pub(crate) fn get(&self, i: usize) -> Option<&SimUser> {
        self.users.get(i)
    }

    /// The ground-truth entry of the user at `i`, created on first touch.
    fn truth(&mut self, i: usize) -> Option<&mut UserTruth> {
        let u = self.users.get(i)?;
        Some(
            self.offboarded
                .entry(u.id.clone())
                .or_insert_with(|| UserTruth::new(&u.email, u.status, u.user_type)),
        )
    }

    /// Changes a user's status (PUT status) and counts it: a change to the status the user
    /// already has is counted as a repeat, not as a deactivation or activation.
    pub(crate) fn set_status(&mut self, i: usize, status: UserStatus) {
        let Some(old) = self.users.get(i).map(|u| u.status) else {
            return;
        };
        if let Some(u) = self.users.get_mut(i) {
            u.status = status;
        }
        if let Some(t) = self.truth(i) {
            t.status = status;
            match (old == status, status) {
                (true, _) => t.repeated_status_calls += 1,
                (false, UserStatus::Inactive) => t.deactivations += 1,
                (false, _) => t.activations += 1,
            }
        }
    }

    /// Changes a user's type (`PATCH /users/{id}`) and counts it: to Basic is a downgrade, to
    /// another type a type change, to the type the user already has a repeat.
    pub(crate) fn set_type(&mut self, i: usize, user_type: u8) {
        let Some(old) = self.users.get(i).map(|u| u.user_type) else {
            return;
        };
        if let Some(u) = self.users.get_mut(i) {
            u.user_type = user_type;
        }
        if let Some(t) = self.truth(i) {
            t.user_type = user_type;
            match (old == user_type, user_type) {
                (true, _) => t.repeated_type_calls += 1,
                (false, 1) => t.downgrades += 1,
                (false, _) => t.type_changes += 1,
            }
        }
    }

    /// Basic users on the account (pending ones included, as Zoom counts them against the cap).
    pub(crate) fn basic_users(&self) -> usize {
        self.users
            .iter()
            .zip(&self.removed)
            .filter(|(u, gone)| !**gone && !u.other_account && u.user_type == 1)
            .count()
    }

    /// Changes a user's fields without a call and without counting it: the tests' controls.
    /// False when no user on the account has that id or email.
    pub(crate) fn edit(&mut self, key: &str, change: impl FnOnce(&mut SimUser)) -> bool {
        let Some(i) = self.find(key) else {
            return false;
        };
        self.users.get_mut(i).map(change).is_some()
    }

    /// Takes the user at `i` off the account (delete or disassociate), recording the transfer
    /// of its data to the user at `target`, if any. Later lookups of the user answer 404.
    pub(crate) fn remove(
        &mut self,
        i: usize,
        how: Removal,
        transfer: Option<(usize, Vec<TransferKind>)>,
    ) {
        let Some(u) = self.users.get(i).cloned() else {
            return;
        };
        if let Some((to, kinds)) = transfer
            && let Some(target) = self.users.get(to)
        {
            self.transfers.push(Transfer {
                from: u.id.clone(),
                from_email: u.email.clone(),
                to: target.id.clone(),
                to_email: target.email.clone(),
                action: how,
                kinds,
            });
        }
        self.by_id.remove(&u.id);
        self.by_email.remove(&u.email.to_lowercase());
        if let Some(r) = self.removed.get_mut(i) {
            *r = true;
        }
        if let Some(t) = self.truth(i) {
            t.removed = Some(how);
            match how {
                Removal::Disassociated => t.disassociations += 1,
                Removal::Deleted => t.deletions += 1,
            }
        }
    }

    /// Applies the revoke side effect and returns the user's new count.
    pub(crate) fn revoke(&mut self, i: usize) -> u32 {
        let Some(u) = self.users.get(i) else { return 0 };
        let n = self.revocations.entry(u.id.clone()).or_insert(0);
        *n += 1;
        *n
    }

    /// Makes the first inactive user on the account active again (`list_churn`); returns it.
    /// Not an API call: no truth is recorded, as for a change made in Zoom's web portal.
    pub(crate) fn reactivate_first_inactive(&mut self) -> Option<usize> {
        let i = (0..self.users.len())
            .find(|&i| self.users[i].status == UserStatus::Inactive && !self.removed[i])?;
        self.users[i].status = UserStatus::Active;
        Some(i)
    }

    /// Indices of listed users (on the account, not of another account) with `status`, in
    /// directory order (the order list pages follow).
    pub(crate) fn with_status(&self, status: UserStatus) -> Vec<usize> {
        (0..self.users.len())
            .filter(|&i| {
                let u = &self.users[i];
                u.status == status && !u.other_account && !self.removed[i]
            })
            .collect()
    }

    /// A copy of every user still on the account, with current statuses.
    pub(crate) fn all(&self) -> Vec<SimUser> {
        self.users
            .iter()
            .zip(&self.removed)
            .filter(|(_, gone)| !**gone)
            .map(|(u, _)| u.clone())
            .collect()
    }
}
