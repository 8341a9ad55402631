//! `reconcile`'s settings: its flags, and the `[reconcile]` keys of the config file under them.
//!
//! A scheduled reconciliation keeps its choices in the config file (`roster_column`, `domain`,
//! `max_share`), so that the timer's command line stays short and the choices are reviewed like
//! any other change. As everywhere, a flag wins over the file: a `--roster-column` on the command
//! line replaces the file's list rather than adding to it, so what runs is what the command says.

use std::path::PathBuf;

use crate::cli::{ListFormat, ReconcileArgs, ReconcileStatus, UserStatusFilter};
use crate::config::{ConfigError, Connection, Env, resolve_listing};
use crate::input::Delimiter;
use crate::reconcile::MaxShare;

/// A key that takes one value or a list: `domain = "example.com"` or
/// `domain = ["example.com", "example.co.uk"]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values, in order.
    pub fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// `[reconcile]` in the config file. Every key is optional.
#[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileReconcile {
    /// `--roster-column`: a column name or a list of them.
    pub roster_column: Option<OneOrMany>,
    /// `--domain`: a domain or a list of them.
    pub domain: Option<OneOrMany>,
    /// `--max-share`: a percentage from 0 to 100.
    pub max_share: Option<f64>,
}

/// Everything `reconcile` needs, resolved and checked once.
#[derive(Debug)]
pub struct ReconcileSettings {
    /// Where and how to reach Zoom, as every command resolves it.
    pub conn: Connection,
    /// List requests per second (Medium label).
    pub rate: f64,
    /// `--exclude`, from the flag or the config file's `exclude`.
    pub exclude: Option<PathBuf>,
    /// The reconciliation's own choices.
    pub choices: Choices,
}

impl ReconcileSettings {
    /// Resolves the connection like every command's, the listing's rate like `users`', and the
    /// choices from the flags over the `[reconcile]` keys.
    pub fn resolve(args: &ReconcileArgs, env: Env<'_>) -> Result<ReconcileSettings, ConfigError> {
        let (conn, file, rate) = resolve_listing(&args.listing, args.outage_wait, env)?;
        Ok(ReconcileSettings {
            rate,
            exclude: args.exclude.clone().or(file.exclude),
            choices: Choices::resolve(args, &file.reconcile)?,
            conn,
        })
    }
}

/// What `reconcile` does, resolved from its flags and the `[reconcile]` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Choices {
    /// The roster files, in order (`-` is stdin).
    pub rosters: Vec<PathBuf>,
    /// Roster columns holding emails (empty: each file's detected user column).
    pub roster_columns: Vec<String>,
    /// The statuses listed, one listing each.
    pub statuses: Vec<UserStatusFilter>,
    /// Considered domains (empty: the roster's own).
    pub domains: Vec<String>,
    /// `--max-share`.
    pub max_share: MaxShare,
    /// `--missing FILE`.
    pub missing: Option<PathBuf>,
    /// Output format.
    pub format: ListFormat,
    /// `--delimiter`, for the roster and the exclude list.
    pub delimiter: Option<Delimiter>,
}

impl Choices {
    /// Resolves the choices: flag, else the file's key, else the default.
    pub fn resolve(args: &ReconcileArgs, file: &FileReconcile) -> Result<Choices, ConfigError> {
        let from_file = |flag: &[String], key: &Option<OneOrMany>| {
            if flag.is_empty() {
                key.as_ref().map(OneOrMany::values).unwrap_or_default()
            } else {
                flag.to_vec()
            }
        };
        let (pct, source_name) = match (args.max_share, file.max_share) {
            (Some(p), _) => (p, "--max-share"),
            (None, Some(p)) => (p, "max_share in the config file"),
            (None, None) => (MaxShare::DEFAULT.pct(), "--max-share"),
        };
        let max_share = MaxShare::new(pct).map_err(|detail| ConfigError::Value {
            source_name: source_name.into(),
            detail,
        })?;
        Ok(Choices {
            rosters: args.roster.clone(),
            roster_columns: from_file(&args.roster_column, &file.roster_column),
            statuses: args.status.listed().to_vec(),
            domains: from_file(&args.domain, &file.domain),
            max_share,
            missing: args.missing.clone(),
            format: args.listing.format,
            delimiter: args.delimiter,
        })
    }
}

impl ReconcileStatus {
    /// The statuses to list, one `GET /users` listing each.
    pub fn listed(self) -> &'static [UserStatusFilter] {
        match self {
            ReconcileStatus::Active => &[UserStatusFilter::Active],
            ReconcileStatus::Inactive => &[UserStatusFilter::Inactive],
            ReconcileStatus::Pending => &[UserStatusFilter::Pending],
            ReconcileStatus::All => &[
                UserStatusFilter::Active,
                UserStatusFilter::Inactive,
                UserStatusFilter::Pending,
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileReconcile {
        #[derive(serde::Deserialize)]
        struct Wrap {
            reconcile: FileReconcile,
        }
        toml::from_str::<Wrap>(text).unwrap().reconcile
    }

    #[test]
    fn keys_take_a_string_or_a_list_and_flags_win() {
        let f = file(
            "[reconcile]\nroster_column = [\"work_email\", \"alias\"]\ndomain = \"example.com\"\nmax_share = 25\n",
        );
        let args = ReconcileArgs::default();
        let c = Choices::resolve(&args, &f).unwrap();
        assert_eq!(c.roster_columns, ["work_email", "alias"]);
        assert_eq!(c.domains, ["example.com"]);
        assert_eq!(c.max_share.pct(), 25.0);
        let args = ReconcileArgs {
            roster_column: vec!["email".into()],
            domain: vec!["a.com".into(), "b.com".into()],
            max_share: Some(100.0),
            ..ReconcileArgs::default()
        };
        let c = Choices::resolve(&args, &f).unwrap();
        assert_eq!(c.roster_columns, ["email"]);
        assert_eq!(c.domains, ["a.com", "b.com"]);
        assert_eq!(c.max_share.pct(), 100.0);
        let c = Choices::resolve(&ReconcileArgs::default(), &FileReconcile::default()).unwrap();
        assert_eq!(
            (c.max_share, c.roster_columns.len()),
            (MaxShare::DEFAULT, 0)
        );
    }

    #[test]
    fn a_bad_share_names_its_source() {
        let e = Choices::resolve(
            &ReconcileArgs::default(),
            &file("[reconcile]\nmax_share = 150\n"),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("max_share in the config file:"),
            "{e}"
        );
        let args = ReconcileArgs {
            max_share: Some(-1.0),
            ..ReconcileArgs::default()
        };
        let e = Choices::resolve(&args, &FileReconcile::default()).unwrap_err();
        assert!(e.to_string().starts_with("--max-share:"), "{e}");
    }
}
