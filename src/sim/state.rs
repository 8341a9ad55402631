//! Ground truth: what the simulator received and did, for tests to assert on.
//!
//! Every request is recorded on arrival (so the log is in arrival order, 429s and dropped
//! connections included) and completed when its answer is known. A request whose connection was
//! closed before an answer — a drop fault, or a client that gave up — keeps status 0.

use std::collections::BTreeMap;

use crate::plan::Label;
use crate::sim::users::UserStatus;
pub use crate::transfer::TransferKind;

/// A snapshot of the simulator's ground truth (see [`crate::sim::Sim::state`]).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SimState {
    /// User id → number of successful revocations (side effect applied, whatever the client saw).
    pub revocations: BTreeMap<String, u32>,
    /// User id → what `PUT /users/{id}/status`, `PATCH /users/{id}` and `DELETE /users/{id}`
    /// did to that user (side effects applied, whatever the client saw); only users those calls
    /// changed are listed.
    pub offboarded: BTreeMap<String, UserTruth>,
    /// Every data transfer a delete or disassociate applied, in order: who received whose data.
    pub transfers: Vec<Transfer>,
    /// Every request, `/oauth/token` and 429s included, in arrival order.
    pub requests: Vec<RequestRecord>,
    /// Requests answered 429 because the per-second budget was spent.
    pub rejected_qps: u64,
    /// Requests answered 429 because the daily budget was spent.
    pub rejected_daily: u64,
    /// Mutating requests answered 429 because another one for the same user was in flight.
    pub rejected_concurrent: u64,
    /// The most `/v2` requests ever being handled at once.
    pub peak_in_flight: usize,
    /// OAuth tokens minted (token endpoint and [`crate::sim::Sim::issue_token`]).
    pub tokens_issued: u64,
    /// Requests to paths or methods the simulator does not serve (a client bug, usually).
    pub unexpected: Vec<RequestRecord>,
}

/// How a user left the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Removal {
    /// `DELETE /users/{id}?action=disassociate`: unlinked, keeps a free Zoom account.
    Disassociated,
    /// `DELETE /users/{id}?action=delete`: gone for good, with its data.
    Deleted,
}

/// What the offboarding calls did to one user: the counts tests use to prove nothing was done
/// twice, and where the user ended up.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UserTruth {
    /// The user's email (ids are opaque; tests often think in emails).
    pub email: String,
    /// The status now, or the last one before the user was removed.
    pub status: UserStatus,
    /// The user type now (1 Basic, 2 Licensed, 4 Unassigned), or the last one before removal.
    pub user_type: u8,
    /// Set once the user was deleted or disassociated.
    pub removed: Option<Removal>,
    /// Status changes active/pending → inactive.
    pub deactivations: u32,
    /// Status changes inactive → active.
    pub activations: u32,
    /// Status calls answered 200 that changed nothing (deactivating an inactive user, ...).
    pub repeated_status_calls: u32,
    /// Disassociations applied (at most 1: the user is gone afterwards).
    pub disassociations: u32,
    /// Deletions applied (at most 1).
    pub deletions: u32,
    /// Type changes to Basic (1) applied by `PATCH /users/{id}`.
    pub downgrades: u32,
    /// Other type changes applied by `PATCH /users/{id}` (back to Licensed, ...).
    pub type_changes: u32,
    /// `PATCH` calls answered 204 that changed no type (making a Basic user Basic, ...): a
    /// retry after a lost answer lands here, not in `downgrades`.
    pub repeated_type_calls: u32,
}

impl UserTruth {
    /// A user no call has changed yet.
    pub(crate) fn new(email: &str, status: UserStatus, user_type: u8) -> Self {
        UserTruth {
            email: email.to_string(),
            status,
            user_type,
            removed: None,
            deactivations: 0,
            activations: 0,
            repeated_status_calls: 0,
            disassociations: 0,
            deletions: 0,
            downgrades: 0,
            type_changes: 0,
            repeated_type_calls: 0,
        }
    }
}

/// One applied transfer: `from`'s data went to `to` when `from` was removed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Transfer {
    /// The leaver's user id.
    pub from: String,
    /// The leaver's email.
    pub from_email: String,
    /// The receiver's user id.
    pub to: String,
    /// The receiver's email, as the directory spells it.
    pub to_email: String,
    /// Whether the leaver was deleted or disassociated.
    pub action: Removal,
    /// What was asked to move, in the spec's parameter order (may be empty: a
    /// `transfer_email` alone still moves Zoom Events hub assets, as the spec says).
    pub kinds: Vec<TransferKind>,
}

/// One request as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RequestRecord {
    /// Arrival time, milliseconds since the simulator started.
    pub at_ms: u64,
    /// HTTP method, e.g. `DELETE`.
    pub method: String,
    /// The raw path as received (still percent-encoded), plus `?query` if any.
    pub path: String,
    /// The status answered; 0 if the connection closed without an answer.
    pub status: u16,
    /// When the answer left, milliseconds since the simulator started (latency, transit and
    /// stalls included); 0 while unanswered. With `at_ms` it times a listing from its first
    /// request's arrival to its last answer.
    pub answered_ms: u64,
    /// The rate-limit label of the endpoint, for `/v2` endpoints the simulator knows.
    pub label: Option<Label>,
    /// The user id the path resolved to, if it named a known user.
    pub user: Option<String>,
    /// The call carried an OAuth token that had expired (answered 401 code 124): lets a test
    /// tell a renewal's stragglers from calls that kept using a dead token.
    pub expired_token: bool,
}

impl RequestRecord {
    fn matches(&self, method: &str, path_suffix: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path.ends_with(path_suffix)
    }
}

impl SimState {
    /// The most requests matching `method` and `path_suffix` that arrived within any sliding
    /// window `[t, t + 1000 ms)`: what the client's pacing promise ("never more than --rate
    /// started in any one-second window") is checked against.
    pub fn peak_starts_per_second(&self, method: &str, path_suffix: &str) -> usize {
        let times: Vec<u64> = self
            .requests
            .iter()
            .filter(|r| r.matches(method, path_suffix))
            .map(|r| r.at_ms)
            .collect();
        let mut peak = 0;
        let mut lo = 0;
        for hi in 0..times.len() {
            while times[hi] >= times[lo] + 1000 {
                lo += 1;
            }
            peak = peak.max(hi - lo + 1);
        }
        peak
    }

    /// Requests matching `method` and `path_suffix`, and `status` if given.
    pub fn count(&self, method: &str, path_suffix: &str, status: Option<u16>) -> usize {
        self.requests
            .iter()
            .filter(|r| r.matches(method, path_suffix))
            .filter(|r| status.is_none_or(|s| r.status == s))
            .count()
    }

    /// Successful revocations over all users (a user revoked twice counts twice).
    pub fn total_revocations(&self) -> u64 {
        self.revocations.values().map(|&n| u64::from(n)).sum()
    }

    /// Deactivations applied over all users.
    pub fn total_deactivations(&self) -> u64 {
        self.offboarded
            .values()
            .map(|t| u64::from(t.deactivations))
            .sum()
    }

    /// Downgrades to Basic applied over all users.
    pub fn total_downgrades(&self) -> u64 {
        self.offboarded
            .values()
            .map(|t| u64::from(t.downgrades))
            .sum()
    }

    /// Deletions and disassociations applied over all users.
    pub fn total_removals(&self) -> u64 {
        self.offboarded
            .values()
            .map(|t| u64::from(t.deletions) + u64::from(t.disassociations))
            .sum()
    }

    /// The kinds of `from_email`'s data that `to_email` received (emails in any case), over
    /// every applied transfer: the "who received which kinds of whose data" of a test.
    pub fn kinds_received(&self, to_email: &str, from_email: &str) -> Vec<TransferKind> {
        let mut kinds: Vec<TransferKind> = self
            .transfers
            .iter()
            .filter(|t| {
                t.to_email.eq_ignore_ascii_case(to_email)
                    && t.from_email.eq_ignore_ascii_case(from_email)
            })
            .flat_map(|t| t.kinds.iter().copied())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// The transfers whose receiver has this email (any case).
    pub fn transfers_to(&self, email: &str) -> Vec<&Transfer> {
        self.transfers
            .iter()
            .filter(|t| t.to_email.eq_ignore_ascii_case(email))
            .collect()
    }
}

/// The request log, appended on arrival and completed in place.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    /// Every request in arrival order.
    requests: Vec<RequestRecord>,
    /// Indices into `requests` of the unexpected ones.
    unexpected: Vec<usize>,
}

impl Recorder {
    /// Logs an arrival with status 0 and returns its index for [`Recorder::complete`].
    pub(crate) fn arrive(&mut self, at_ms: u64, method: &str, path: &str) -> usize {
        self.requests.push(RequestRecord {
            at_ms,
            method: method.to_string(),
            path: path.to_string(),
            status: 0,
            answered_ms: 0,
            label: None,
            user: None,
            expired_token: false,
        });
        self.requests.len() - 1
    }

    /// Notes the label and resolved user as soon as they are known (a dropped request keeps them).
    pub(crate) fn annotate(&mut self, idx: usize, label: Option<Label>, user: Option<String>) {
        if let Some(r) = self.requests.get_mut(idx) {
            r.label = label;
            r.user = user;
        }
    }

    /// Records the status answered, and when.
    pub(crate) fn complete(&mut self, idx: usize, status: u16, at_ms: u64) {
        if let Some(r) = self.requests.get_mut(idx) {
            r.status = status;
            r.answered_ms = at_ms;
        }
    }

    /// Notes that the request carried an expired OAuth token.
    pub(crate) fn expired_token(&mut self, idx: usize) {
        if let Some(r) = self.requests.get_mut(idx) {
            r.expired_token = true;
        }
    }

    /// Marks a request as one to a path or method the simulator does not serve.
    pub(crate) fn mark_unexpected(&mut self, idx: usize) {
        self.unexpected.push(idx);
    }

    /// Copies of the request log and of the unexpected requests.
    pub(crate) fn snapshot(&self) -> (Vec<RequestRecord>, Vec<RequestRecord>) {
        let unexpected = self
            .unexpected
            .iter()
            .filter_map(|&i| self.requests.get(i).cloned())
            .collect();
        (self.requests.clone(), unexpected)
    }
}
