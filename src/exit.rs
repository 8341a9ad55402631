//! Exit codes (contract): one enum, one place that maps outcomes to codes.

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

impl Exit {
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
