//! zoom-offboard: revoke Zoom SSO sessions in bulk, as fast as the account's rate limit allows.
//!
//! # Layout
//! - [`plan`]: Zoom plans and rate-limit labels (Light, Medium) with their ceilings.
//! - [`input`]: reading, validating and de-duplicating the users to revoke.
//! - [`report`]: the per-user report (CSV or JSONL), its resume reader and the run summary.
//! - [`sim`]: a Zoom API simulator on loopback, used by every network test and by `demo`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod input;
pub mod plan;
pub mod report;
pub mod sim;

/// Entry point used by `src/main.rs`.
pub fn main_entry() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
