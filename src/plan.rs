//! Zoom account plans and rate-limit labels.
//!
//! Zoom limits API calls per *account* and per *label*: every Light endpoint (revoke, get user,
//! user status, delete user) shares one budget, every Medium endpoint (list users) another. The
//! ceilings depend on the account's plan (see docs/zoom-api.md, "Rate limits"). Both the
//! client's pacing and the simulator read them from here, so the two can never disagree.

use std::fmt;
use std::str::FromStr;

/// The account's plan, which sets the per-second ceilings (and, for Free, daily limits).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Free accounts: 4/s Light with 6,000 a day, 2/s Medium with 2,000 a day.
    Free,
    /// Pro accounts: 30/s Light, 20/s Medium, no daily limit. The contract's default.
    #[default]
    Pro,
    /// Business, Business Plus, Education and Enterprise: 80/s Light, 60/s Medium.
    Business,
}

/// A Zoom rate-limit label: the budget an endpoint draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Label {
    /// Revoke SSO token, get user, user status, delete user.
    Light,
    /// List users.
    Medium,
}

impl Label {
    /// The value Zoom sends in `X-RateLimit-Category`.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Light => "Light",
            Label::Medium => "Medium",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Plan {
    /// Requests per second allowed for `label` on this plan.
    pub fn per_second(self, label: Label) -> u32 {
        match (self, label) {
            (Plan::Free, Label::Light) => 4,
            (Plan::Free, Label::Medium) => 2,
            (Plan::Pro, Label::Light) => 30,
            (Plan::Pro, Label::Medium) => 20,
            (Plan::Business, Label::Light) => 80,
            (Plan::Business, Label::Medium) => 60,
        }
    }

    /// Requests per day allowed for `label`, or `None` where the plan has no daily limit.
    pub fn per_day(self, label: Label) -> Option<u64> {
        match (self, label) {
            (Plan::Free, Label::Light) => Some(6_000),
            (Plan::Free, Label::Medium) => Some(2_000),
            _ => None,
        }
    }

    /// The default `--rate`: 80% of the Light ceiling, leaving room for the account's other apps.
    pub fn default_rate(self) -> f64 {
        f64::from(self.per_second(Label::Light)) * 0.8
    }

    /// The lower-case name used on the command line and in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Business => "business",
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a plan name that is not one of Zoom's plans.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown plan {0:?}: expected free, pro or business (business plus, education, enterprise)"
)]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;

    /// Accepts the contract's names, and the plans that share Business's limits by their own names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .collect();
        match norm.as_str() {
            "free" | "basic" => Ok(Plan::Free),
            "pro" => Ok(Plan::Pro),
            "business" | "businessplus" | "education" | "enterprise" => Ok(Plan::Business),
            _ => Err(UnknownPlan(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_and_ceilings() {
        assert_eq!("Business Plus".parse::<Plan>().ok(), Some(Plan::Business));
        assert_eq!("enterprise".parse::<Plan>().ok(), Some(Plan::Business));
        assert_eq!("PRO".parse::<Plan>().ok(), Some(Plan::Pro));
        assert!("gold".parse::<Plan>().is_err());
        assert_eq!(Plan::Free.per_second(Label::Light), 4);
        assert_eq!(Plan::Pro.per_second(Label::Light), 30);
        assert_eq!(Plan::Business.per_second(Label::Light), 80);
        assert_eq!(Plan::Free.per_day(Label::Light), Some(6_000));
        assert_eq!(Plan::Pro.per_day(Label::Light), None);
        assert!((Plan::Pro.default_rate() - 24.0).abs() < 1e-9);
    }
}
