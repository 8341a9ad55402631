//! zoom-offboard: offboard Zoom users in bulk (log out, deactivate, disassociate or delete with
//! their data handed over), as fast as the account's rate limit allows.
//!
//! "The contract" in comments throughout is `docs/contract.md` (flags, input rules, report,
//! statuses, exit codes); Zoom's behaviour that the code relies on, with sources, is
//! `docs/zoom-api.md`; Zoom's OpenAPI spec is in `spec/`.
//!
//! # Layout
//! - [`cli`]: clap types, raw flags only.
//! - [`config`]: flags + environment + config file resolved once into [`config::Settings`].
//! - [`input`]: reading, validating and de-duplicating the users to revoke.
//! - [`zoom`]: the HTTP client, one attempt at a call or at the token endpoint
//!   ([`zoom::oauth`]), and answer classification. It depends on nothing above it.
//! - [`request`]: the one request policy (retries, backoff, Retry-After, token renewal, pacer
//!   feedback, stops) that every Zoom call and token fetch goes through, and the one token
//!   source ([`request::tokens`]) that hands each attempt its token.
//! - [`pacing`]: the shared rate limiter and the account-wide slow-down on 429s.
//! - [`run`]: the worker pool: a permit per task, the first call alone, `pending` rows on a stop.
//! - [`offboard`]: offboarding in waves (revoke, lookups, deactivate, remove) and its safety
//!   rules ([`offboard::safety`]).
//! - [`dryrun`]: dry-run lookups, per user or by listing the account.
//! - [`users`]: listing the account's users, one paging path for `users`, `reconcile` and
//!   large dry runs: pages by number in parallel at the Medium rate, checked, with the
//!   `next_page_token` chain as the fallback.
//! - [`reconcile`]: the account's users against the HR roster: leaver candidates and the guard.
//! - [`report`]: the per-user report (CSV or JSONL): its encoder, its writer (on a thread of its
//!   own during a run), its resume reader and the run summary.
//! - [`evidence`]: the report's chain, the run log, `verify` and the HTML summary.
//! - [`app`]: the commands wired together; [`exit`]: exit codes; [`logging`]: logs and the bar.
//! - [`plan`]: Zoom plans and rate-limit labels (Light, Medium) with their ceilings.
//! - [`step`]: the offboarding steps (revoke, deactivate or downgrade, disassociate, delete)
//!   and `--steps`.
//! - [`transfer`]: the kinds of data a removal hands over, and `--transfer-kinds`.
//! - [`sim`]: a Zoom API simulator on loopback, used by every network test and by `demo`.
//! - [`sync`]: the one poison-tolerant lock.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod app;
pub mod cli;
pub mod config;
pub mod dryrun;
pub mod evidence;
pub mod exit;
pub mod input;
pub mod logging;
pub mod offboard;
pub mod pacing;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod request;
pub mod run;
pub mod sim;
pub mod step;
pub mod sync;
pub mod transfer;
pub mod users;
pub mod zoom;

pub use app::main_entry;
