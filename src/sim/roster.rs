//! A workforce for reconciliation tests: Zoom users on several email domains, and the HR roster
//! that goes with them, noisy the way real exports are, with the leavers known in advance.
//!
//! [`workforce`] starts from [`crate::sim::generate_users`] (same ids, statuses and roles) and
//! gives user `i` (1-based) a domain: `example.co.uk` when `i % 5 == 2` (a subsidiary HR also
//! holds), `agency.example.net` when `i % 9 == 4` (contractors HR does not hold), `example.com`
//! otherwise. The roster holds every `example.com` and `example.co.uk` user except:
//! - the leavers: `i % 17 == 6` (HR has let them go; Zoom still has them);
//! - the owner (user 1), who is on no export here: a reconciliation never lists them anyway.
//!
//! Noise, by `i`: upper-case emails when `i % 3 == 0`, spaces around them when `i % 4 == 1`, and
//! when `i % 6 == 5` the `work_email` column holds a new address the user never got in Zoom,
//! with the Zoom email in the `alias` column: without `--roster-column alias` those users look
//! like leavers. A comment line and a blank line open the file, as HR exports often do.

use std::fmt::Write as _;

use crate::sim::users::{SimUser, UserStatus, generate_users};

/// The main domain, the subsidiary's (both on the roster) and the contractors' (not on it).
pub const DOMAINS: [&str; 3] = ["example.com", "example.co.uk", "agency.example.net"];

/// The users and roster of [`workforce`], with what a reconciliation should find.
#[derive(Debug, Clone)]
pub struct Workforce {
    /// The account's users, for `SimUsers::List`.
    pub users: Vec<SimUser>,
    /// The roster as a CSV file's text: `employee_id,name,work_email,alias`.
    pub roster: String,
    /// The leavers' Zoom emails (any status, any role but the owner), in directory order.
    pub leavers: Vec<String>,
    /// Zoom emails whose roster row has them only in the `alias` column.
    pub aliased: Vec<String>,
    /// The roster values (work emails, trimmed) that belong to no Zoom user.
    pub unknown_work_emails: Vec<String>,
}

/// The domain of user `i` (1-based): see the module doc.
fn domain(i: usize) -> &'static str {
    if i % 5 == 2 {
        DOMAINS[1]
    } else if i % 9 == 4 {
        DOMAINS[2]
    } else {
        DOMAINS[0]
    }
}

/// `n` users and their roster (see the module doc), deterministic for `seed`.
pub fn workforce(n: usize, seed: u64) -> Workforce {
    let mut users = generate_users(n, seed);
    let mut w = Workforce {
        users: Vec::new(),
        roster: String::from("# HR export, active workers\n\nemployee_id,name,work_email,alias\n"),
        leavers: Vec::new(),
        aliased: Vec::new(),
        unknown_work_emails: Vec::new(),
    };
    for (k, u) in users.iter_mut().enumerate() {
        let i = k + 1;
        let local = u.email.split('@').next().unwrap_or_default().to_owned();
        u.email = format!("{local}@{}", domain(i));
        w.roster_row(i, u);
    }
    w.users = users;
    w
}

impl Workforce {
    /// Adds user `i`'s roster row, or records them as a leaver.
    fn roster_row(&mut self, i: usize, u: &SimUser) {
        if domain(i) == DOMAINS[2] || u.is_owner() {
            return;
        }
        if i % 17 == 6 {
            self.leavers.push(u.email.clone());
            return;
        }
        let mut email = u.email.clone();
        if i.is_multiple_of(3) {
            email = email.to_uppercase();
        }
        if i % 4 == 1 {
            email = format!("  {email} ");
        }
        let (work, alias) = if i % 6 == 5 {
            self.aliased.push(u.email.clone());
            let new = format!("{}.{}{i}@{}", u.first_name, u.last_name, domain(i)).to_lowercase();
            self.unknown_work_emails.push(new.clone());
            (new, email)
        } else {
            (email, String::new())
        };
        let _ = writeln!(
            self.roster,
            "E{i:06},\"{}, {}\",{work},{alias}",
            u.last_name, u.first_name
        );
    }

    /// What `reconcile --roster-column work_email --roster-column alias` (status `active`, no
    /// `--domain`, nothing excluded) should list: the active leavers, in directory order.
    pub fn active_leavers(&self) -> Vec<String> {
        self.users
            .iter()
            .filter(|u| u.status == UserStatus::Active && self.leavers.contains(&u.email))
            .map(|u| u.email.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roster_holds_everyone_but_leavers_contractors_and_the_owner() {
        let w = workforce(600, 3);
        assert_eq!(w.users.len(), 600);
        for d in DOMAINS {
            assert!(w.users.iter().any(|u| u.email.ends_with(d)), "{d}");
        }
        let lower = w.roster.to_lowercase();
        for u in &w.users {
            let on = lower.contains(&format!(",{},", u.email))
                || lower.contains(&format!(" {} ", u.email));
            let expected =
                !u.email.ends_with(DOMAINS[2]) && !u.is_owner() && !w.leavers.contains(&u.email);
            assert_eq!(on || w.aliased.contains(&u.email), expected, "{}", u.email);
        }
        assert!(!w.leavers.is_empty() && !w.aliased.is_empty());
        assert!(
            w.active_leavers().len() < w.leavers.len(),
            "some leavers are not active"
        );
        assert_eq!(workforce(600, 3).roster, w.roster, "deterministic");
    }
}
