//! Reconciliation: which of the account's users are no longer on the HR roster.
//!
//! Pure: the listing (`app::reconcile`) feeds every listed user to a [`Reconciliation`], one at a
//! time, and [`Reconciliation::finish`] decides. Each user falls in exactly one [`Class`], checked
//! in this order:
//! 1. an email domain the run does not consider ([`Class::OtherDomain`]): counted, never listed.
//!    The considered domains are `--domain`'s, else every domain that appears in the roster, so a
//!    contractor agency's or a subsidiary's accounts are not leavers just because HR does not
//!    hold them;
//! 2. the account owner ([`Class::Owner`]): never a candidate;
//! 3. an `--exclude`d account, by email or id ([`Class::Excluded`]): never a candidate;
//! 4. on the roster: their email, trimmed and without case, equals a roster value;
//! 5. otherwise a [`Class::Candidate`].
//!
//! The guard ([`Refusal`]) is what makes the pipe safe to leave unattended: an HR export that
//! comes out empty, or cut in half, would otherwise turn the company into leavers. An empty roster
//! is refused before anything is listed; candidates over `--max-share` of the considered users
//! are refused after the listing, with the counts that show why.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

pub mod settings;

use crate::input::{Roster, dedupe_key};
use crate::zoom::ZoomUser;

/// Why a user is a leaver candidate: the `reason` column of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Their email matches no roster value.
    NotOnRoster,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::NotOnRoster => "not_on_roster",
        })
    }
}

/// Where one listed user stands (see the module doc for the order of the checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Their email domain is not considered.
    OtherDomain,
    /// The account owner (`role_id` `"0"`).
    Owner,
    /// In the `--exclude` list.
    Excluded,
    /// Considered, and on the roster.
    OnRoster,
    /// Considered, and not on the roster: listed with a [`Reason`].
    Candidate,
}

/// `--max-share PCT`: the most candidates a run lists, as a percentage of the considered users.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaxShare(f64);

impl MaxShare {
    /// The default: one in ten. A night's real leavers are a few; a tenth is an export gone wrong.
    pub const DEFAULT: MaxShare = MaxShare(10.0);

    /// A percentage from 0 to 100 (100 lifts the guard).
    pub fn new(pct: f64) -> Result<MaxShare, String> {
        if pct.is_finite() && (0.0..=100.0).contains(&pct) {
            Ok(MaxShare(pct))
        } else {
            Err(format!("{pct} is not a percentage from 0 to 100"))
        }
    }

    /// The percentage.
    pub fn pct(self) -> f64 {
        self.0
    }

    /// Whether `candidates` of `considered` is more than this share allows.
    fn exceeded(self, candidates: u64, considered: u64) -> bool {
        candidates as f64 * 100.0 > self.0 * considered as f64
    }
}

impl Default for MaxShare {
    fn default() -> MaxShare {
        MaxShare::DEFAULT
    }
}

/// Why a reconciliation writes nothing (exit 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The roster has no value at all.
    #[error(
        "refusing: the roster is empty (no value in {files}): an empty HR export would make every \
         user a leaver. Check the export; nothing was listed"
    )]
    EmptyRoster {
        /// The roster files, as given.
        files: String,
    },
    /// More candidates than `--max-share` allows.
    #[error(
        "refusing: {candidates} of {considered} considered users ({share:.1}%) are not on the \
         roster, more than --max-share {max}% allows: is the HR export truncated or from the \
         wrong system? Nothing was written; --max-share 100 lifts the guard",
        share = share(*.candidates, *.considered),
        max = .max_share.pct()
    )]
    OverShare {
        /// Candidates found.
        candidates: u64,
        /// Users considered.
        considered: u64,
        /// The limit.
        max_share: MaxShare,
    },
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The counts a reconciliation ends with on stderr (contract: "stderr ends with the counts").
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Every user the listing returned.
    pub listed: u64,
    /// Of the considered domains, less the owner and excluded accounts.
    pub considered: u64,
    /// Considered and on the roster.
    pub on_roster: u64,
    /// Considered and not on the roster.
    pub candidates: u64,
    /// Not considered: another email domain.
    pub other_domains: u64,
    /// Excluded accounts of the considered domains.
    pub excluded: u64,
    /// The owner, when of a considered domain.
    pub owner: u64,
    /// Roster values that no listed user's email matches.
    pub missing: u64,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "listed {}, considered {}, on the roster {}, candidates {}, not considered (other \
             domains) {}, excluded {}, owner {}, roster entries with no Zoom user {}",
            self.listed,
            self.considered,
            self.on_roster,
            self.candidates,
            self.other_domains,
            self.excluded,
            self.owner,
            self.missing
        )
    }
}

/// The email domain of `email`: lower-case, after the last `@`; empty without one.
fn domain_of(email: &str) -> String {
    email
        .trim()
        .rsplit_once('@')
        .map(|(_, d)| d.to_lowercase())
        .unwrap_or_default()
}

/// A `--domain` value as compared: trimmed, lower-case, without a leading `@`.
pub fn normalize_domain(d: &str) -> String {
    d.trim().trim_start_matches('@').to_lowercase()
}

/// A reconciliation under way: the roster, the choices, and what the listing gave so far.
#[derive(Debug)]
pub struct Reconciliation {
    /// The roster.
    roster: Roster,
    /// Considered email domains (normalized).
    domains: BTreeSet<String>,
    /// `--exclude`d accounts, as [`dedupe_key`]s (emails lower-case, ids as they are).
    exclude: HashSet<String>,
    /// Which roster values some listed user matched, by index.
    matched: Vec<bool>,
    /// Counts so far (`missing` is set by [`Reconciliation::finish`]).
    counts: Counts,
    /// Candidates in listing order, buffered: nothing is written before the listing is complete.
    candidates: Vec<ZoomUser>,
    /// Every user taken so far, by id (pending users: lower-case email): with `--status all`, a
    /// user whose status changes between two listings comes twice and counts once.
    seen: HashSet<String>,
}

/// What a finished reconciliation gives.
#[derive(Debug)]
pub struct Outcome {
    /// The counts.
    pub counts: Counts,
    /// The candidates in listing order (empty when refused).
    pub candidates: Vec<ZoomUser>,
    /// Roster values no listed user matched, in roster order.
    pub missing: Vec<String>,
    /// Why nothing may be written, if so.
    pub refusal: Option<Refusal>,
}

impl Reconciliation {
    /// Starts a reconciliation. `domains` are `--domain`'s (empty: the roster's own).
    pub fn new(roster: Roster, domains: &[String], exclude: HashSet<String>) -> Reconciliation {
        let domains = if domains.is_empty() {
            roster.domains()
        } else {
            domains.iter().map(|d| normalize_domain(d)).collect()
        };
        Reconciliation {
            matched: vec![false; roster.len()],
            roster,
            domains,
            exclude,
            counts: Counts::default(),
            candidates: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Distinct values on the roster (aliases included): roughly the active users the listing
    /// will find, which lets it ask for pages before the first page has said how many.
    pub fn roster_size(&self) -> u64 {
        self.roster.len() as u64
    }

    /// The refusal of an empty roster, checked before anything is listed. `files` names them.
    pub fn check_roster(roster: &Roster, files: &str) -> Result<(), Refusal> {
        if roster.is_empty() {
            return Err(Refusal::EmptyRoster {
                files: files.to_owned(),
            });
        }
        Ok(())
    }

    /// The domains considered, for the log.
    pub fn domains(&self) -> &BTreeSet<String> {
        &self.domains
    }

    /// Where `u` stands (see the module doc for the order).
    pub fn classify(&self, u: &ZoomUser) -> Class {
        if !self.domains.contains(&domain_of(&u.email)) {
            return Class::OtherDomain;
        }
        if u.role_id.as_deref().map(str::trim) == Some("0") {
            return Class::Owner;
        }
        let by_id = u.id.as_deref().is_some_and(|id| self.exclude.contains(id));
        if by_id || self.exclude.contains(&dedupe_key(&u.email)) {
            return Class::Excluded;
        }
        if self.roster.position(&u.email).is_some() {
            Class::OnRoster
        } else {
            Class::Candidate
        }
    }

    /// Takes one listed user into account (a user already taken is ignored).
    pub fn add(&mut self, u: &ZoomUser) {
        let key = match u.id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => id.to_owned(),
            None => Roster::key(&u.email),
        };
        if !self.seen.insert(key) {
            return;
        }
        self.counts.listed += 1;
        if let Some(i) = self.roster.position(&u.email)
            && let Some(m) = self.matched.get_mut(i)
        {
            *m = true;
        }
        let class = self.classify(u);
        let c = &mut self.counts;
        match class {
            Class::OtherDomain => c.other_domains += 1,
            Class::Owner => c.owner += 1,
            Class::Excluded => c.excluded += 1,
            Class::OnRoster => {
                c.considered += 1;
                c.on_roster += 1;
            }
            Class::Candidate => {
                c.considered += 1;
                c.candidates += 1;
                self.candidates.push(u.clone());
            }
        }
    }

    /// Decides, once the listing is complete: the candidates and the missing roster values, or
    /// the refusal when candidates are more than `max_share` of the considered users.
    pub fn finish(self, max_share: MaxShare) -> Outcome {
        let missing: Vec<String> = self
            .roster
            .values()
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| !**m)
            .map(|(v, _)| v.clone())
            .collect();
        let counts = Counts {
            missing: missing.len() as u64,
            ..self.counts
        };
        if max_share.exceeded(counts.candidates, counts.considered) {
            return Outcome {
                counts,
                candidates: Vec::new(),
                missing,
                refusal: Some(Refusal::OverShare {
                    candidates: counts.candidates,
                    considered: counts.considered,
                    max_share,
                }),
            };
        }
        Outcome {
            counts,
            candidates: self.candidates,
            missing,
            refusal: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, email: &str, role: &str) -> ZoomUser {
        ZoomUser {
            id: (!id.is_empty()).then(|| id.to_owned()),
            email: email.to_owned(),
            role_id: Some(role.to_owned()),
            ..ZoomUser::default()
        }
    }

    fn run(roster: &[&str], domains: &[&str], exclude: &[&str], users: &[ZoomUser]) -> Outcome {
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let exclude = exclude.iter().map(|e| dedupe_key(e)).collect();
        let mut r = Reconciliation::new(
            Roster::from_values(roster.iter().copied()),
            &domains,
            exclude,
        );
        users.iter().for_each(|u| r.add(u));
        r.finish(MaxShare::new(100.0).unwrap())
    }

    fn emails(o: &Outcome) -> Vec<&str> {
        o.candidates.iter().map(|u| u.email.as_str()).collect()
    }

    #[test]
    fn each_class_in_order() {
        let users = [
            user("o1", "boss@x.com", "0"),
            user("a1", " Ann@X.com", "2"),
            user("b1", "bob@x.com", "2"),
            user("c1", "carol@x.com", "1"),
            user("BrEaK", "glass@x.com", "1"),
            user("", "dave@x.com", "2"),
            user("e1", "eve@agency.io", "2"),
            user("f1", "frank@x.com", "2"),
            user("b1", "bob@x.com", "2"),
        ];
        let o = run(
            &["ann@x.com ", "CAROL@x.com", "zed@x.com"],
            &[],
            &["BrEaK", "FRANK@x.com"],
            &users,
        );
        assert_eq!(emails(&o), ["bob@x.com", "dave@x.com"]);
        assert_eq!(
            o.counts,
            Counts {
                listed: 8,
                considered: 4,
                on_roster: 2,
                candidates: 2,
                other_domains: 1,
                excluded: 2,
                owner: 1,
                missing: 1,
            }
        );
        assert_eq!(o.missing, ["zed@x.com"]);
    }

    #[test]
    fn domain_flag_replaces_the_roster_domains() {
        let users = [user("a", "a@x.com", "2"), user("b", "b@Y.org", "2")];
        let o = run(&["a@x.com"], &["@y.ORG "], &[], &users);
        assert_eq!(emails(&o), ["b@Y.org"]);
        assert_eq!((o.counts.other_domains, o.counts.missing), (1, 0));
    }

    #[test]
    fn the_guard_counts_against_the_considered_users() {
        let users: Vec<ZoomUser> = (0..20)
            .map(|i| user(&format!("u{i}"), &format!("u{i}@x.com"), "2"))
            .collect();
        let roster: Vec<String> = (0..18).map(|i| format!("u{i}@x.com")).collect();
        let roster = Roster::from_values(roster.iter().map(String::as_str));
        let finish = |pct: f64, roster: Roster| {
            let mut r = Reconciliation::new(roster, &[], HashSet::new());
            users.iter().for_each(|u| r.add(u));
            r.finish(MaxShare::new(pct).unwrap())
        };
        // 2 of 20 is exactly 10%: allowed.
        let o = finish(10.0, roster.clone());
        assert_eq!((o.refusal, o.candidates.len()), (None, 2));
        let o = finish(9.9, roster);
        assert!(
            matches!(
                o.refusal,
                Some(Refusal::OverShare {
                    candidates: 2,
                    considered: 20,
                    ..
                })
            ),
            "{:?}",
            o.refusal
        );
        assert!(o.candidates.is_empty());
        let half = Roster::from_values(["u0@x.com", "u1@x.com"]);
        assert!(finish(10.0, half.clone()).refusal.is_some());
        assert_eq!(finish(100.0, half).candidates.len(), 18);
    }

    #[test]
    fn an_empty_roster_is_refused_and_max_share_is_a_percentage() {
        let e = Reconciliation::check_roster(&Roster::default(), "hr.csv").unwrap_err();
        assert!(e.to_string().contains("roster is empty"), "{e}");
        assert!(Reconciliation::check_roster(&Roster::from_values(["a@x.com"]), "x").is_ok());
        assert!(MaxShare::new(100.0).is_ok() && MaxShare::new(0.0).is_ok());
        assert!(MaxShare::new(100.1).is_err() && MaxShare::new(f64::NAN).is_err());
    }
}
