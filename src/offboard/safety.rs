//! The safety rules of offboarding, as pure functions: what a guarded step does for one user,
//! given what the lookups found. No I/O here, so every rule has its own unit test.
//!
//! Rules, in order (the contract's `offboard` section):
//! - the account owner (`role_id` "0") is never deactivated, disassociated or deleted;
//! - an admin or custom role (`role_id` other than "2") only with `--include-admins`;
//! - `deactivate`: a user already `inactive` is `deactivated` without a call;
//! - `downgrade`: a user already Basic (`type` 1) is `downgraded` without a call;
//! - `disassociate`/`delete`: the transfer target (the user's own cell, else `--transfer-to`)
//!   must exist, be `active`, not be the user itself, and not be removed by this same run; no
//!   target and no `--no-transfer` is refused (no target); `--no-transfer` moves nothing.
//!   The target is always sent as the email its lookup returned;
//! - the target must be able to receive what it is given: with `recording` among the kinds, a
//!   Basic target (`type` 1) is refused before sending, since Zoom answers 300 for it (a paid
//!   licence is needed to hold recordings). Webinars need a webinar licence, which the lookup
//!   does not show: Zoom's 300 for that is `refused` when it comes.
//!
//! A lookup that found nobody ends the chain (`not_found`), unless the report already shows the
//! user existed and this is the removal: then an earlier attempt's answer was lost, and the user
//! is already gone.

use std::collections::HashSet;

use crate::step::Step;
use crate::transfer::{TransferKind, TransferKinds};
use crate::zoom::{ErrorInfo, Transfer, ZoomUser};

/// Zoom's error codes that no retry can cure on these steps: `refused`, with Zoom's code and
/// message. 200 (admin, Zoom Room, not on this account), 300 (Zoom Events, the target itself,
/// a target that cannot receive), 1000 (call-queue manager or auto-receptionist operator),
/// 1107 (managed domain: delete instead), 1117 (admins cannot be disassociated), 1120
/// (pending user whose invitation expired).
pub const ZOOM_REFUSALS: [i64; 6] = [200, 300, 1000, 1107, 1117, 1120];

/// Zoom's codes for the account's cap on Basic users (spec, `userUpdate` and `userStatus`):
/// `refused` on a `downgrade`, since no retry frees a place under the cap.
pub const BASIC_CAP_REFUSALS: [i64; 2] = [2033, 3412];

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
    /// `downgrade` of a user already Basic: `downgraded`, no call.
    AlreadyBasic,
    /// The removal of a user gone since the report saw them: `deleted`/`disassociated`.
    AlreadyGone,
    /// A safety rule says no: `refused`, never sent.
    Refuse(Refusal),
    /// The lookup found nobody: `not_found`.
    NotFound(ErrorInfo),
    /// The lookup failed: `failed` (resume looks the user up again).
    Failed(String),
}

/// Why a step was refused: by a safety rule (never sent), or by Zoom itself. The reason is a
/// value, so the plan groups refusals by [`Refusal::group`], not by the words of a message;
/// the words live in the [`std::fmt::Display`] impls below, once.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The account owner (`role_id` "0"): never deactivated, disassociated or deleted.
    Owner {
        /// The step refused.
        step: Step,
        /// Zoom's role name, if it gave one.
        role_name: Option<String>,
    },
    /// Not a Member, and no `--include-admins`.
    NotMember {
        /// The step refused.
        step: Step,
        /// Zoom's `role_id`.
        role_id: String,
        /// Zoom's role name, if it gave one.
        role_name: Option<String>,
    },
    /// A removal with no transfer target (blank cell, no `--transfer-to`, no `--no-transfer`).
    NoTarget,
    /// The transfer target does not exist on this account.
    TargetMissing {
        /// The target as given.
        target: String,
    },
    /// The transfer target is not active.
    TargetInactive {
        /// The target as given.
        target: String,
        /// Its Zoom status, if known.
        status: Option<String>,
    },
    /// The transfer target is the leaver.
    TargetIsUser {
        /// The target as given.
        target: String,
    },
    /// The transfer target is removed by this same run.
    TargetRemoved {
        /// The target as given.
        target: String,
    },
    /// The transfer target is Basic and recordings are among the kinds handed over: Zoom
    /// moves recordings only to a licensed user (it answers 300), so the removal waits.
    TargetCannotHoldRecordings {
        /// The target as given.
        target: String,
    },
    /// Zoom answered 404 about the transfer target (a lookup showed the user exists).
    TargetNotFoundAtZoom {
        /// Zoom's message.
        message: String,
    },
    /// Zoom's own refusal that no retry cures ([`ZOOM_REFUSALS`]).
    Zoom {
        /// Zoom's error code.
        code: i64,
        /// Zoom's message.
        message: String,
    },
}

/// A refusal's reason without its per-user parts: what the plan counts refusals by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefusalGroup {
    /// [`Refusal::Owner`].
    Owner,
    /// [`Refusal::NotMember`].
    NotMember,
    /// [`Refusal::NoTarget`].
    NoTarget,
    /// [`Refusal::TargetMissing`].
    TargetMissing,
    /// [`Refusal::TargetInactive`].
    TargetInactive,
    /// [`Refusal::TargetIsUser`].
    TargetIsUser,
    /// [`Refusal::TargetRemoved`].
    TargetRemoved,
    /// [`Refusal::TargetCannotHoldRecordings`].
    TargetCannotHoldRecordings,
    /// [`Refusal::TargetNotFoundAtZoom`].
    TargetNotFoundAtZoom,
    /// [`Refusal::Zoom`], by Zoom's code.
    Zoom(i64),
}

impl Refusal {
    /// The group the plan counts this refusal in.
    pub fn group(&self) -> RefusalGroup {
        match self {
            Refusal::Owner { .. } => RefusalGroup::Owner,
            Refusal::NotMember { .. } => RefusalGroup::NotMember,
            Refusal::NoTarget => RefusalGroup::NoTarget,
            Refusal::TargetMissing { .. } => RefusalGroup::TargetMissing,
            Refusal::TargetInactive { .. } => RefusalGroup::TargetInactive,
            Refusal::TargetIsUser { .. } => RefusalGroup::TargetIsUser,
            Refusal::TargetRemoved { .. } => RefusalGroup::TargetRemoved,
            Refusal::TargetCannotHoldRecordings { .. } => RefusalGroup::TargetCannotHoldRecordings,
            Refusal::TargetNotFoundAtZoom { .. } => RefusalGroup::TargetNotFoundAtZoom,
            Refusal::Zoom { code, .. } => RefusalGroup::Zoom(*code),
        }
    }
}

/// The row's message: the reason in full, with the user's own parts.
impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let role = |name: &Option<String>| {
            name.as_deref()
                .filter(|n| !n.is_empty())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        };
        match self {
            Refusal::Owner { step, role_name } => write!(
                f,
                "refused, never sent: the account owner{} is never touched by {step} (safety \
                 rule)",
                role(role_name)
            ),
            Refusal::NotMember {
                step,
                role_id,
                role_name,
            } => write!(
                f,
                "refused, never sent: role_id {role_id:?}{} is not a Member: {step} of admins \
                 and custom roles needs --include-admins (or demote the user first)",
                role(role_name)
            ),
            Refusal::NoTarget => f.write_str(
                "refused, never sent: no transfer target: the transfer column is blank for this \
                 user and there is no --transfer-to (or pass --no-transfer to let the data go \
                 with the user)",
            ),
            Refusal::TargetMissing { target } => write!(
                f,
                "refused, never sent: transfer target {target} does not exist on this account"
            ),
            Refusal::TargetInactive { target, status } => write!(
                f,
                "refused, never sent: transfer target {target} is {} (it must be active to \
                 receive data)",
                status.as_deref().unwrap_or("of unknown status")
            ),
            Refusal::TargetIsUser { target } => write!(
                f,
                "refused, never sent: transfer target {target} is the user itself"
            ),
            Refusal::TargetRemoved { target } => write!(
                f,
                "refused, never sent: transfer target {target} is itself being removed in this \
                 run: its data would go too"
            ),
            Refusal::TargetCannotHoldRecordings { target } => write!(
                f,
                "refused, never sent: {}: {target} is a Basic user, and Zoom moves recordings \
                 only to a licensed user (license the target, choose another one, or leave \
                 recordings out with --transfer-kinds)",
                RefusalGroup::TargetCannotHoldRecordings
            ),
            Refusal::TargetNotFoundAtZoom { message } => write!(
                f,
                "Zoom answered 404 about the transfer target, not the user: {message}"
            ),
            Refusal::Zoom { code, message } => write!(f, "Zoom refused (code {code}): {message}"),
        }
    }
}

/// The plan's line for a group of refusals.
impl std::fmt::Display for RefusalGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefusalGroup::Owner => f.write_str("the account owner is never touched"),
            RefusalGroup::NotMember => f.write_str("not a Member (needs --include-admins)"),
            RefusalGroup::NoTarget => f.write_str("no transfer target"),
            RefusalGroup::TargetMissing => f.write_str("transfer target does not exist"),
            RefusalGroup::TargetInactive => f.write_str("transfer target is not active"),
            RefusalGroup::TargetIsUser => f.write_str("transfer target is the user itself"),
            RefusalGroup::TargetRemoved => f.write_str("transfer target is removed in this run"),
            RefusalGroup::TargetCannotHoldRecordings => {
                f.write_str("transfer target has no licence for recordings")
            }
            RefusalGroup::TargetNotFoundAtZoom => f.write_str("Zoom: transfer target not found"),
            RefusalGroup::Zoom(code) => write!(f, "Zoom refused (code {code})"),
        }
    }
}

/// What the rules need to know besides the lookups.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// `--include-admins`.
    pub include_admins: bool,
    /// `--no-transfer`.
    pub no_transfer: bool,
    /// The kinds of data a removal hands over (`--transfer-kinds`, all eight by default).
    pub kinds: TransferKinds,
    /// Keys (lower-cased emails, ids) of everyone this run's removal step is for, by input
    /// value and by what their lookups returned: a target among them is refused.
    pub removed: &'a HashSet<String>,
}

/// The role rules, shared by every guarded step.
fn role_refusal(step: Step, u: &ZoomUser, include_admins: bool) -> Option<Refusal> {
    let role_name = u.role_name.clone();
    match u.role_id.as_deref().unwrap_or("") {
        "0" => Some(Refusal::Owner { step, role_name }),
        "2" => None,
        _ if include_admins => None,
        other => Some(Refusal::NotMember {
            step,
            role_id: other.to_owned(),
            role_name,
        }),
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
    licence_step(Step::Deactivate, looked, rules)
}

/// `downgrade` for a user whose lookup is `looked`: the same rules as `deactivate`, with
/// "already Basic" in place of "already inactive".
pub fn downgrade(looked: Option<&Looked>, rules: &Rules<'_>) -> Decision {
    licence_step(Step::Downgrade, looked, rules)
}

/// The step of the licence wave (`deactivate` or `downgrade`) for a user whose lookup is
/// `looked`: owner and role rules, then whether the step is already done.
fn licence_step(step: Step, looked: Option<&Looked>, rules: &Rules<'_>) -> Decision {
    let u = match found(looked) {
        Ok(u) => u,
        Err(d) => return d,
    };
    if let Some(why) = role_refusal(step, u, rules.include_admins) {
        return Decision::Refuse(why);
    }
    if step == Step::Deactivate && u.status.as_deref() == Some("inactive") {
        return Decision::AlreadyInactive;
    }
    if step == Step::Downgrade && u.user_type == Some(1) {
        return Decision::AlreadyBasic;
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
        None => return Decision::Refuse(Refusal::NoTarget),
        Some(t) => match target_looked {
            Some(Looked::Found(tu)) => {
                if let Some(why) = target_refusal(u, tu, t, rules) {
                    return Decision::Refuse(why);
                }
                Transfer::To {
                    email: tu.email.clone(),
                    kinds: rules.kinds,
                }
            }
            Some(Looked::Missing(_)) => {
                return Decision::Refuse(Refusal::TargetMissing { target: t.into() });
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

fn target_refusal(u: &ZoomUser, tu: &ZoomUser, t: &str, rules: &Rules<'_>) -> Option<Refusal> {
    let target = t.to_owned();
    let same_id = matches!((&u.id, &tu.id), (Some(a), Some(b)) if !a.is_empty() && a == b);
    if same_id || u.email.eq_ignore_ascii_case(&tu.email) {
        return Some(Refusal::TargetIsUser { target });
    }
    if tu.status.as_deref() != Some("active") {
        return Some(Refusal::TargetInactive {
            target,
            status: tu.status.clone(),
        });
    }
    let keys = [
        Some(tu.email.to_ascii_lowercase()),
        tu.id.clone().filter(|i| !i.is_empty()),
    ];
    if keys.iter().flatten().any(|k| rules.removed.contains(k)) {
        return Some(Refusal::TargetRemoved { target });
    }
    if rules.kinds.contains(TransferKind::Recording) && tu.user_type == Some(1) {
        return Some(Refusal::TargetCannotHoldRecordings { target });
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
            kinds: TransferKinds::all(),
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
            Decision::Refuse(Refusal::Owner { .. })
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
                transfer: Transfer::To {
                    email: "mgr@x.com".into(),
                    kinds: TransferKinds::all()
                },
                zoom_id: "U1".into()
            }
        );
        // By id: still sent as the email the lookup returned.
        let d = removal(Step::Delete, Some(&u), false, Some("M1"), Some(&mgr), &r);
        assert!(
            matches!(d, Decision::Send { transfer: Transfer::To { email, .. }, .. } if email == "mgr@x.com")
        );
        let missing = Looked::Missing(ErrorInfo::default());
        let inactive = found(user("M2", "old@x.com", "2", "inactive"));
        let leaving = found(user("L1", "leaver2@x.com", "2", "active"));
        let removed2: HashSet<String> = ["leaver2@x.com".to_string()].into();
        let r2 = rules(&removed2);
        for (t, tl, rules, why, words) in [
            (
                "nobody@x.com",
                &missing,
                &r,
                RefusalGroup::TargetMissing,
                "does not exist",
            ),
            (
                "old@x.com",
                &inactive,
                &r,
                RefusalGroup::TargetInactive,
                "inactive",
            ),
            (
                "u@x.com",
                &u,
                &r,
                RefusalGroup::TargetIsUser,
                "the user itself",
            ),
            (
                "leaver2@x.com",
                &leaving,
                &r2,
                RefusalGroup::TargetRemoved,
                "being removed",
            ),
        ] {
            let d = removal(Step::Delete, Some(&u), false, Some(t), Some(tl), rules);
            assert!(
                matches!(&d, Decision::Refuse(why_not) if why_not.group() == why
                    && why_not.to_string().contains(words) && why_not.to_string().contains(t)),
                "{t}: {d:?}"
            );
        }
        // No target at all.
        assert!(matches!(
            removal(Step::Disassociate, Some(&u), false, None, None, &r),
            Decision::Refuse(Refusal::NoTarget)
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
    fn a_basic_target_cannot_receive_recordings() {
        let none = HashSet::new();
        let u = found(user("U1", "u@x.com", "2", "active"));
        let mut basic = user("M1", "mgr@x.com", "2", "active");
        basic.user_type = Some(1);
        let basic = found(basic);
        let d = removal(
            Step::Delete,
            Some(&u),
            false,
            Some("mgr@x.com"),
            Some(&basic),
            &rules(&none),
        );
        assert!(
            matches!(&d, Decision::Refuse(Refusal::TargetCannotHoldRecordings { target }) if target == "mgr@x.com"),
            "{d:?}"
        );
        // Without recordings among the kinds, a Basic target receives the rest.
        let kinds: TransferKinds = "meeting,docs".parse().unwrap();
        let r = Rules {
            kinds,
            ..rules(&none)
        };
        let d = removal(
            Step::Disassociate,
            Some(&u),
            false,
            Some("mgr@x.com"),
            Some(&basic),
            &r,
        );
        assert!(
            matches!(&d, Decision::Send { transfer: Transfer::To { kinds: k, .. }, .. } if *k == kinds),
            "{d:?}"
        );
    }

    #[test]
    fn downgrade_follows_the_deactivate_rules_and_skips_basic_users() {
        let none = HashSet::new();
        let mut basic = user("U1", "u@x.com", "2", "active");
        basic.user_type = Some(1);
        assert_eq!(
            downgrade(Some(&found(basic)), &rules(&none)),
            Decision::AlreadyBasic
        );
        let mut licensed = user("U2", "v@x.com", "2", "inactive");
        licensed.user_type = Some(2);
        assert!(matches!(
            downgrade(Some(&found(licensed)), &rules(&none)),
            Decision::Send { .. }
        ));
        let owner = found(user("O1", "boss@x.com", "0", "active"));
        let admin = found(user("A1", "adm@x.com", "1", "active"));
        assert!(matches!(
            downgrade(
                Some(&owner),
                &Rules {
                    include_admins: true,
                    ..rules(&none)
                }
            ),
            Decision::Refuse(Refusal::Owner {
                step: Step::Downgrade,
                ..
            })
        ));
        assert!(matches!(
            downgrade(Some(&admin), &rules(&none)),
            Decision::Refuse(Refusal::NotMember {
                step: Step::Downgrade,
                ..
            })
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

    /// The plan counts refusals by their reason, whatever the user's own parts (targets,
    /// roles, Zoom's message) say.
    #[test]
    fn refusals_group_by_reason_not_by_words() {
        let a = Refusal::TargetMissing {
            target: "a@x.com".into(),
        };
        let b = Refusal::TargetMissing {
            target: "does not exist@x".into(),
        };
        assert_eq!(a.group(), b.group());
        assert_ne!(a.to_string(), b.to_string());
        let zoom = |code, message: &str| Refusal::Zoom {
            code,
            message: message.into(),
        };
        assert_eq!(zoom(300, "x").group(), zoom(300, "account owner").group());
        assert_ne!(zoom(300, "x").group(), zoom(200, "x").group());
        assert_eq!(
            zoom(1107, "m").group().to_string(),
            "Zoom refused (code 1107)"
        );
        let owner = Refusal::Owner {
            step: Step::Delete,
            role_name: Some("Owner".into()),
        };
        assert_eq!(
            owner.to_string(),
            "refused, never sent: the account owner (Owner) is never touched by delete (safety rule)"
        );
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
