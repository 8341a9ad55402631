//! Offboarding steps: what one Zoom call does to one user, in the order a run takes them.
//!
//! A [`Step`] can only be made by parsing a step name or from the constants here, so a value of
//! this type proves it is one the tool knows. [`Steps`] is a parsed `--steps` list: always in the
//! contract's order (`revoke`, then at most one of `deactivate` and `downgrade`, then at most one
//! of `disassociate` and `delete`), whatever order the operator typed, because the order is what
//! makes the run safe: the whole batch is logged out before anyone is deactivated (or
//! downgraded), and deactivated before anyone is removed. `deactivate` and `downgrade` share one
//! wave: the first blocks the person and frees the licence, the second only frees the licence
//! and leaves a Basic account that can still sign in, so a run does one or the other.

use std::fmt;
use std::str::FromStr;

/// One offboarding step (the report's `step` column).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `DELETE /users/{id}/token`: ends the user's SSO sessions.
    Revoke,
    /// `PUT /users/{id}/status` `{"action":"deactivate"}`: frees the licence, blocks sign-in.
    Deactivate,
    /// `PATCH /users/{id}` `{"type":1}`: frees the paid licence; the user stays on the account
    /// as Basic and can still sign in (a contractor kept as a guest, an account kept for its
    /// data).
    Downgrade,
    /// `DELETE /users/{id}?action=disassociate`: unlinks the user, who keeps a free Zoom account.
    Disassociate,
    /// `DELETE /users/{id}?action=delete`: removes the user and their data for good.
    Delete,
}

impl Step {
    /// Every step, in the order a run takes them.
    pub const ALL: [Step; 5] = [
        Step::Revoke,
        Step::Deactivate,
        Step::Downgrade,
        Step::Disassociate,
        Step::Delete,
    ];

    /// The report spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Revoke => "revoke",
            Step::Deactivate => "deactivate",
            Step::Downgrade => "downgrade",
            Step::Disassociate => "disassociate",
            Step::Delete => "delete",
        }
    }

    /// The step's place in [`Step::ALL`]: an index for per-step arrays.
    pub fn index(self) -> usize {
        match self {
            Step::Revoke => 0,
            Step::Deactivate => 1,
            Step::Downgrade => 2,
            Step::Disassociate => 3,
            Step::Delete => 4,
        }
    }

    /// True for the steps that free the user's licence in the wave after the logout
    /// (`deactivate`, `downgrade`): a run has at most one of them.
    pub fn frees_licence(self) -> bool {
        matches!(self, Step::Deactivate | Step::Downgrade)
    }

    /// True for the steps the safety rules guard (everything but `revoke`, which logs out every
    /// valid user, the owner included: after an incident that is the point).
    pub fn is_guarded(self) -> bool {
        self != Step::Revoke
    }

    /// True for the steps that remove the user from the account (and may move their data).
    pub fn removes_user(self) -> bool {
        matches!(self, Step::Disassociate | Step::Delete)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step name that is not one of [`Step::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown step \"{0}\" (expected revoke, deactivate, downgrade, disassociate or delete)")]
pub struct UnknownStep(pub String);

impl FromStr for Step {
    type Err = UnknownStep;

    fn from_str(s: &str) -> Result<Step, UnknownStep> {
        let t = s.trim().to_ascii_lowercase();
        Step::ALL
            .into_iter()
            .find(|st| st.as_str() == t)
            .ok_or_else(|| UnknownStep(s.trim().to_owned()))
    }
}

/// A `--steps` list that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepsError {
    /// A name that is not a step.
    #[error("--steps: {0}")]
    Unknown(#[from] UnknownStep),
    /// `disassociate` and `delete` both: a user can be removed only once.
    #[error("--steps: choose at most one of disassociate and delete (a user is removed only once)")]
    BothRemovals,
    /// `deactivate` and `downgrade` both: they take the same wave, and a run frees a licence
    /// one way.
    #[error(
        "--steps: choose at most one of deactivate and downgrade (deactivate blocks the person \
         and frees the licence; downgrade frees the licence and keeps a Basic account that can \
         still sign in)"
    )]
    BothLicenceSteps,
    /// Nothing to do.
    #[error("--steps: no step given (expected a comma-separated list such as revoke,deactivate)")]
    Empty,
}

/// The steps of one run, de-duplicated and in run order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps(Vec<Step>);

impl Steps {
    /// `revoke` alone: what `zoom-offboard revoke` runs.
    pub fn revoke_only() -> Steps {
        Steps(vec![Step::Revoke])
    }

    /// The steps in run order.
    pub fn iter(&self) -> impl Iterator<Item = Step> + '_ {
        self.0.iter().copied()
    }

    /// True when the run includes `step`.
    pub fn contains(&self, step: Step) -> bool {
        self.0.contains(&step)
    }

    /// The removal step (`disassociate` or `delete`), if any.
    pub fn removal(&self) -> Option<Step> {
        self.iter().find(|s| s.removes_user())
    }

    /// True when any step is guarded by the safety rules (so users must be looked up first).
    pub fn any_guarded(&self) -> bool {
        self.iter().any(Step::is_guarded)
    }

    /// The step after `step` in this run, if any.
    pub fn next_after(&self, step: Step) -> Option<Step> {
        let i = self.0.iter().position(|s| *s == step)?;
        self.0.get(i + 1).copied()
    }
}

/// `revoke,deactivate`: the contract's default when neither `--steps` nor the config file
/// names the steps.
impl Default for Steps {
    fn default() -> Steps {
        Steps(vec![Step::Revoke, Step::Deactivate])
    }
}

impl FromStr for Steps {
    type Err = StepsError;

    fn from_str(s: &str) -> Result<Steps, StepsError> {
        let mut steps = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let step: Step = part.parse()?;
            if !steps.contains(&step) {
                steps.push(step);
            }
        }
        if steps.is_empty() {
            return Err(StepsError::Empty);
        }
        if steps.contains(&Step::Disassociate) && steps.contains(&Step::Delete) {
            return Err(StepsError::BothRemovals);
        }
        if steps.contains(&Step::Deactivate) && steps.contains(&Step::Downgrade) {
            return Err(StepsError::BothLicenceSteps);
        }
        steps.sort();
        Ok(Steps(steps))
    }
}

impl fmt::Display for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Step::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_into_run_order() {
        let s: Steps = "delete, revoke,DEACTIVATE,revoke".parse().unwrap();
        assert_eq!(s.to_string(), "revoke,deactivate,delete");
        assert_eq!(s.removal(), Some(Step::Delete));
        assert_eq!(s.next_after(Step::Revoke), Some(Step::Deactivate));
        assert_eq!(s.next_after(Step::Delete), None);
        assert!(s.any_guarded());
        assert!(!Steps::revoke_only().any_guarded());
        assert_eq!(Steps::default(), "revoke,deactivate".parse().unwrap());
    }

    #[test]
    fn bad_step_lists_are_refused() {
        assert_eq!(
            "revoke,suspend".parse::<Steps>(),
            Err(StepsError::Unknown(UnknownStep("suspend".into())))
        );
        assert_eq!(
            "delete,disassociate".parse::<Steps>(),
            Err(StepsError::BothRemovals)
        );
        assert_eq!(" , ".parse::<Steps>(), Err(StepsError::Empty));
        assert_eq!(
            "downgrade,revoke,deactivate".parse::<Steps>(),
            Err(StepsError::BothLicenceSteps)
        );
    }

    #[test]
    fn downgrade_takes_the_deactivate_wave() {
        let s: Steps = "delete,Downgrade,revoke".parse().unwrap();
        assert_eq!(s.to_string(), "revoke,downgrade,delete");
        assert_eq!(s.next_after(Step::Downgrade), Some(Step::Delete));
        assert!(Step::Downgrade.is_guarded() && Step::Downgrade.frees_licence());
        assert!(!Step::Downgrade.removes_user());
        for (i, step) in Step::ALL.into_iter().enumerate() {
            assert_eq!(step.index(), i);
        }
    }
}
