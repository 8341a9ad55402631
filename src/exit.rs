//! Exit codes (contract): one enum, and one function, [`Exit::decide`], that every command's
//! ending goes through (xh and fd decide them in one place too).

use std::collections::BTreeMap;

use crate::report::Status;

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: every user revoked, excluded or (dry run) would be revoked.
    Success = 0,
    /// 1: the run finished, but some rows are `failed`, `not_found`, `invalid`, `refused` or
    /// `skipped`.
    SomeFailed = 1,
    /// 2: nothing was done: usage, config, credentials or input error before the first API call.
    Usage = 2,
    /// 3: stopped early with users `pending`; `--resume` continues.
    Stopped = 3,
}

/// How a command ended, as far as its exit code is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    /// Nothing was done: the command stopped before its first successful call (bad usage,
    /// input, config or credentials, or a first call that was refused).
    pub nothing_done: bool,
    /// The command stopped early (a stop reason: daily limit, credentials, Ctrl-C, report).
    pub stopped: bool,
    /// The final status of every row the command is answerable for: for a resumed run, the
    /// last row in the report of every user (and step) of its input, not only what it did.
    pub final_counts: &'a BTreeMap<Status, u64>,
}

impl Exit {
    /// The one decision of the exit code for every command: 2 when nothing was done, 3 when
    /// it stopped early or rows are `pending`, 1 when rows failed, 0 otherwise.
    pub fn decide(ending: &Ending<'_>) -> Exit {
        if ending.nothing_done {
            Exit::Usage
        } else if ending.stopped {
            Exit::Stopped
        } else {
            Exit::from_counts(ending.final_counts)
        }
    }

    /// The exit code of `demo`: the fixture holds missing and invalid users on purpose, so a
    /// run that ends with 1 is the demo working as intended; anything else is a real problem.
    pub fn for_demo(run: Exit) -> Exit {
        match run {
            Exit::Success | Exit::SomeFailed => Exit::Success,
            other => other,
        }
    }

    /// The exit code for a finished run, from the final status of every user.
    pub fn from_counts(counts: &BTreeMap<Status, u64>) -> Exit {
        let n = |s: Status| counts.get(&s).copied().unwrap_or(0);
        if n(Status::Pending) > 0 {
            Exit::Stopped
        } else if n(Status::Failed)
            + n(Status::NotFound)
            + n(Status::Invalid)
            + n(Status::Refused)
            + n(Status::Skipped)
            > 0
        {
            Exit::SomeFailed
        } else {
            Exit::Success
        }
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_to_codes() {
        let mut c = BTreeMap::new();
        assert_eq!(Exit::from_counts(&c), Exit::Success);
        c.insert(Status::Revoked, 3);
        c.insert(Status::Excluded, 1);
        c.insert(Status::WouldRevoke, 1);
        assert_eq!(Exit::from_counts(&c), Exit::Success);
        c.insert(Status::Invalid, 1);
        assert_eq!(Exit::from_counts(&c), Exit::SomeFailed);
        c.insert(Status::Pending, 1);
        assert_eq!(Exit::from_counts(&c), Exit::Stopped);
        assert_eq!(Exit::Stopped.code(), 3);
    }
}
