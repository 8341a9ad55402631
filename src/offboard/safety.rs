//! The safety rules of offboarding, as pure functions: what a guarded step does for one user,
//! given what the lookups found. No I/O here, so every rule has its own unit test.
//!
//! Rules, in order (the contract's `offboard` section):
//! - the account owner (`role_id` "0") is never deactivated, disassociated or deleted;
//! - an admin or custom role (`role_id` other than "2") only with `--include-admins`;
//! - `deactivate`: a user already `inactive` is `deactivated` without a call;
//! - `disassociate`/`delete`: the transfer target (the user's own cell, else `--transfer-to`)
//!   must exist, be `active`, not be the user itself, and not be removed by this same run; no
//!   target and no `--no-transfer` is refused (no target); `--no-transfer` moves nothing.
//!   The target is always sent as the email its lookup returned.
//!
//! A lookup that found nobody ends the chain (`not_found`), unless the report already shows the
//! user existed and this is the removal: then an earlier attempt's answer was lost, and the user
//! is already gone.

use std::collections::HashSet;

use crate::step::Step;
use crate::zoom::{ErrorInfo, Transfer, ZoomUser};

/// Zoom's error codes that no retry can cure on these steps: `refused`, with Zoom's code and
/// message. 200 (admin, Zoom Room, not on this account), 300 (Zoom Events, the target itself,
/// a target that cannot receive), 1000 (call-queue manager or auto-receptionist operator),
/// 1107 (managed domain: delete instead), 1117 (admins cannot be disassociated), 1120
/// (pending user whose invitation expired).
pub const ZOOM_REFUSALS: [i64; 6] = [200, 300, 1000, 1107, 1117, 1120];

/// What a lookup (`GET /users/{id}`) came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Looked {
    /// The user exists.
    Found(Box<ZoomUser>),
    /// 404/1001 (or 1010/1120): nobody by that id or email on this account.
    Missing(ErrorInfo),
    /// The lookup failed (retries ran out, or an answer no retry cures).
    Failed(ErrorInfo),
}

/// What one guarded step does for one user.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send the call.
    Send {
        /// For removals: where the data goes.
        transfer: Transfer,
        /// The Zoom id the lookup returned (the email for a pending user), for write-ahead.
        zoom_id: String,
    },
    /// `deactivate` of a user already inactive: `deactivated`, no call.
    AlreadyInactive,
    /// The removal of a user gone since the report saw them: `deleted`/`disassociated`.
    AlreadyGone,
    /// A safety rule says no: `refused`, never sent.
    Refuse(String),
    /// The lookup found nobody: `not_found`.
    NotFound(ErrorInfo),
    /// The lookup failed: `failed` (resume looks the user up again).
    Failed(String),
}

/// What the rules need to know besides the lookups.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// `--include-admins`.
    pub include_admins: bool,
    /// `--no-transfer`.
    pub no_transfer: bool,
    /// Keys (lower-cased emails, ids) of everyone this run's removal step is for, by input
    /// value and by what their lookups returned: a target among them is refused.
    pub removed: &'a HashSet<String>,
}

/// The role rules, shared by every guarded step.
fn role_refusal(step: Step, u: &ZoomUser, include_admins: bool) -> Option<String> {
    let role = u.role_id.as_deref().unwrap_or("");
    let name = u
        .role_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    match role {
        "0" => Some(format!(
            "the account owner{name} is never touched by {step} (safety rule)"
        )),
        "2" => None,
        _ if include_admins => None,
        other => Some(format!(
            "role_id {other:?}{name} is not a Member: {step} of admins and custom roles needs \
             --include-admins (or demote the user first)"
        )),
    }
}

/// The lookup part every guarded step shares: found, or why not.
fn found(looked: Option<&Looked>) -> Result<&ZoomUser, Decision> {
    match looked {
        Some(Looked::Found(u)) => Ok(u),
        Some(Looked::Missing(info)) => Err(Decision::NotFound(info.clone())),
        Some(Looked::Failed(info)) => Err(Decision::Failed(format!(
            "the lookup before this step failed: {}",
            info.message
        ))),
        None => Err(Decision::Failed(
            "the user was not looked up before this step".into(),
        )),
    }
}

/// `deactivate` for a user whose lookup is `looked`.
pub fn deactivate(looked: Option<&Looked>, rules: &Rules<'_>) -> Decision {
    let u = match found(looked) {
        Ok(u) => u,
        Err(d) => return d,
    };
    if let Some(why) = role_refusal(Step::Deactivate, u, rules.include_admins) {
        return Decision::Refuse(why);
    }
    if u.status.as_deref() == Some("inactive") {
        return Decision::AlreadyInactive;
    }
    Decision::Send {
        transfer: Transfer::Nothing,
        zoom_id: zoom_id(u),
    }
}

/// `disassociate` or `delete` (`step`) for a user whose lookup is `looked`, with transfer
/// target `target` (its input value) looked up as `target_looked`. `existed`: the report
/// already shows the user as existing at Zoom.
pub fn removal(
    step: Step,
    looked: Option<&Looked>,
    existed: bool,
    target: Option<&str>,
    target_looked: Option<&Looked>,
    rules: &Rules<'_>,
) -> Decision {
    let u = match (looked, existed) {
        (Some(Looked::Missing(_)), true) => return Decision::AlreadyGone,
        (l, _) => match found(l) {
            Ok(u) => u,
            Err(d) => return d,
        },
    };
    if let Some(why) = role_refusal(step, u, rules.include_admins) {
        return Decision::Refuse(why);
    }
    let transfer = match target {
        None if rules.no_transfer => Transfer::Nothing,
        None => {
            return Decision::Refuse(
                "no transfer target: the transfer column is blank for this user and there is \
                 no --transfer-to (or pass --no-transfer to let the data go with the user)"
                    .into(),
            );
        }
        Some(t) => match target_looked {
            Some(Looked::Found(tu)) => {
                if let Some(why) = target_refusal(u, tu, t, rules) {
                    return Decision::Refuse(why);
                }
                Transfer::To(tu.email.clone())
            }
            Some(Looked::Missing(_)) => {
                return Decision::Refuse(format!(
                    "transfer target {t} does not exist on this account"
                ));
            }
            Some(Looked::Failed(info)) => {
                return Decision::Failed(format!(
                    "the lookup of transfer target {t} failed: {}",
                    info.message
                ));
            }
            None => {
                return Decision::Failed(format!("transfer target {t} was not looked up"));
            }
        },
    };
    Decision::Send {
        transfer,
        zoom_id: zoom_id(u),
    }
}

fn target_refusal(u: &ZoomUser, tu: &ZoomUser, t: &str, rules: &Rules<'_>) -> Option<String> {
    let same_id = matches!((&u.id, &tu.id), (Some(a), Some(b)) if !a.is_empty() && a == b);
    if same_id || u.email.eq_ignore_ascii_case(&tu.email) {
        return Some(format!("transfer target {t} is the user itself"));
    }
    if tu.status.as_deref() != Some("active") {
        return Some(format!(
            "transfer target {t} is {} (it must be active to receive data)",
            tu.status.as_deref().unwrap_or("of unknown status")
        ));
    }
    let keys = [
        Some(tu.email.to_ascii_lowercase()),
        tu.id.clone().filter(|i| !i.is_empty()),
    ];
    if keys.iter().flatten().any(|k| rules.removed.contains(k)) {
        return Some(format!(
            "transfer target {t} is itself being removed in this run: its data would go too"
        ));
    }
    None
}

/// The id a write-ahead row carries: Zoom's id, or the email of a pending user (who has none).
fn zoom_id(u: &ZoomUser) -> String {
    u.id.clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| u.email.clone())
}

/// True when the user does not sign in with SSO (no login type 101): revoking the SSO token
/// may leave their password or Google/Apple sign-in open (deactivating closes it).
pub fn not_sso(u: &ZoomUser) -> bool {
    u.login_types.as_ref().is_some_and(|t| !t.contains(&101))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, email: &str, role: &str, status: &str) -> ZoomUser {
        ZoomUser {
            id: Some(id.into()),
            email: email.into(),
            role_id: Some(role.into()),
            status: Some(status.into()),
            ..ZoomUser::default()
        }
    }

    fn found(u: ZoomUser) -> Looked {
        Looked::Found(Box::new(u))
    }

    fn rules(removed: &HashSet<String>) -> Rules<'_> {
        Rules {
            include_admins: false,
            no_transfer: false,
            removed,
        }
    }

    #[test]
    fn the_owner_is_never_touched_and_admins_need_the_flag() {
        let none = HashSet::new();
        let owner = found(user("O1", "boss@x.com", "0", "active"));
        let admin = found(user("A1", "adm@x.com", "1", "active"));
        let custom = found(user("C1", "help@x.com", "Hx7", "active"));
        for l in [&owner, &admin, &custom] {
            assert!(matches!(
                deactivate(Some(l), &rules(&none)),
                Decision::Refuse(_)
            ));
        }
        let lenient = Rules {
            include_admins: true,
            ..rules(&none)
        };
        assert!(matches!(
            deactivate(Some(&owner), &lenient),
            Decision::Refuse(m) if m.contains("owner")
        ));
        assert!(matches!(
            deactivate(Some(&admin), &lenient),
            Decision::Send { .. }
        ));
        assert!(matches!(
            deactivate(Some(&custom), &lenient),
            Decision::Send { .. }
        ));
    }

    #[test]
    fn inactive_users_need_no_call_and_missing_ones_end_the_chain() {
        let none = HashSet::new();
        let off = found(user("U1", "u@x.com", "2", "inactive"));
        assert_eq!(
            deactivate(Some(&off), &rules(&none)),
            Decision::AlreadyInactive
        );
        let gone = Looked::Missing(ErrorInfo::default());
        assert!(matches!(
            deactivate(Some(&gone), &rules(&none)),
            Decision::NotFound(_)
        ));
    }

    #[test]
    fn transfer_targets_must_exist_be_active_and_stay() {
        let u = found(user("U1", "u@x.com", "2", "active"));
        let mgr = found(user("M1", "mgr@x.com", "2", "active"));
        let removed: HashSet<String> = ["u@x.com".to_string(), "U1".to_string()].into();
        let r = rules(&removed);
        let d = removal(
            Step::Delete,
            Some(&u),
            false,
            Some("mgr@x.com"),
            Some(&mgr),
            &r,
        );
        assert_eq!(
            d,
            Decision::Send {
                transfer: Transfer::To("mgr@x.com".into()),
                zoom_id: "U1".into()
            }
        );
        // By id: still sent as the email the lookup returned.
        let d = removal(Step::Delete, Some(&u), false, Some("M1"), Some(&mgr), &r);
        assert!(matches!(d, Decision::Send { transfer: Transfer::To(e), .. } if e == "mgr@x.com"));
        let missing = Looked::Missing(ErrorInfo::default());
        let inactive = found(user("M2", "old@x.com", "2", "inactive"));
        let leaving = found(user("L1", "leaver2@x.com", "2", "active"));
        let removed2: HashSet<String> = ["leaver2@x.com".to_string()].into();
        let r2 = rules(&removed2);
        for (t, tl, rules, why) in [
            ("nobody@x.com", &missing, &r, "does not exist"),
            ("old@x.com", &inactive, &r, "inactive"),
            ("u@x.com", &u, &r, "the user itself"),
            ("leaver2@x.com", &leaving, &r2, "being removed"),
        ] {
            let d = removal(Step::Delete, Some(&u), false, Some(t), Some(tl), rules);
            assert!(
                matches!(&d, Decision::Refuse(m) if m.contains(why)),
                "{t}: {d:?}"
            );
        }
        // No target at all.
        assert!(matches!(
            removal(Step::Disassociate, Some(&u), false, None, None, &r),
            Decision::Refuse(m) if m.contains("no transfer target")
        ));
        let nt = Rules {
            no_transfer: true,
            ..r
        };
        assert!(matches!(
            removal(Step::Disassociate, Some(&u), false, None, None, &nt),
            Decision::Send {
                transfer: Transfer::Nothing,
                ..
            }
        ));
    }

    #[test]
    fn a_user_the_report_saw_and_zoom_no_longer_has_is_already_gone() {
        let none = HashSet::new();
        let gone = Looked::Missing(ErrorInfo::default());
        assert_eq!(
            removal(Step::Delete, Some(&gone), true, None, None, &rules(&none)),
            Decision::AlreadyGone
        );
        assert!(matches!(
            removal(Step::Delete, Some(&gone), false, None, None, &rules(&none)),
            Decision::NotFound(_)
        ));
    }

    #[test]
    fn sso_is_read_from_login_types() {
        let mut u = user("U1", "u@x.com", "2", "active");
        assert!(!not_sso(&u), "unknown: not flagged");
        u.login_types = Some(vec![100, 1]);
        assert!(not_sso(&u));
        u.login_types = Some(vec![101]);
        assert!(!not_sso(&u));
    }
}
