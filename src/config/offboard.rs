//! `[offboard]` in the config file: a scheduled run's choices (steps, where data goes, which
//! kinds, admins), merged with `offboard`'s flags before they are parsed.
//!
//! Flags win over the file, as everywhere. Where a flag and a file key say opposite things
//! about where data goes, the flag's side wins whole: `--transfer-to` (or `--transfer-column`)
//! on the command line sets aside `no_transfer = true` in the file, and `--no-transfer` sets
//! aside the file's `transfer_to`, `transfer_column` and `transfer_kinds`. Within the file,
//! `no_transfer = true` next to a target is a contradiction the operator must settle, not
//! something to guess: a config error.

use crate::cli::OffboardArgs;

use super::ConfigError;

/// `[offboard]` in the config file. Every key is optional.
#[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOffboard {
    /// `--steps`: `"revoke,deactivate"` or `["revoke", "deactivate"]`.
    pub steps: Option<NameList>,
    /// `--transfer-to`.
    pub transfer_to: Option<String>,
    /// `--transfer-column`.
    pub transfer_column: Option<String>,
    /// `--no-transfer`.
    pub no_transfer: Option<bool>,
    /// `--include-admins`.
    pub include_admins: Option<bool>,
    /// `--transfer-kinds`: `"meeting,recording"` or `["meeting", "recording"]`.
    pub transfer_kinds: Option<NameList>,
}

/// A list of names as a config file may write it: one comma-separated string, or a TOML list.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum NameList {
    /// `"revoke,deactivate"`.
    Joined(String),
    /// `["revoke", "deactivate"]`.
    List(Vec<String>),
}

impl NameList {
    /// The names as one comma-separated string, the form the flag takes.
    pub fn joined(&self) -> String {
        match self {
            NameList::Joined(s) => s.clone(),
            NameList::List(v) => v.join(","),
        }
    }
}

/// A value chosen for `offboard`, with where it came from (a flag or a config key), so that an
/// error names the place to fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen<T> {
    /// The value.
    pub value: T,
    /// `--steps`, or `[offboard] steps in the config file`.
    pub source: String,
}

impl<T> Chosen<T> {
    fn flag(value: T, name: &str) -> Chosen<T> {
        Chosen {
            value,
            source: name.to_owned(),
        }
    }

    fn file(value: T, key: &str) -> Chosen<T> {
        Chosen {
            value,
            source: format!("[offboard] {key} in the config file"),
        }
    }
}

/// `offboard`'s choices after flags and the file are merged; still unparsed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OffboardChoices {
    /// The step list, if the flag or the file gave one.
    pub steps: Option<Chosen<String>>,
    /// The one transfer target.
    pub transfer_to: Option<Chosen<String>>,
    /// The input column of per-row targets.
    pub transfer_column: Option<String>,
    /// Move nothing.
    pub no_transfer: bool,
    /// Let the guarded steps touch admins and custom roles.
    pub include_admins: bool,
    /// The kinds handed over, if the flag or the file named them.
    pub transfer_kinds: Option<Chosen<String>>,
}

/// Whichever of the flag and the file key is given, the flag first.
fn either(
    flag: Option<&String>,
    name: &str,
    file: Option<String>,
    key: &str,
) -> Option<Chosen<String>> {
    flag.map(|v| Chosen::flag(v.clone(), name))
        .or_else(|| file.map(|v| Chosen::file(v, key)))
}

/// Merges `offboard`'s flags with the file's `[offboard]` (see the module doc for the rules).
pub fn merge(args: &OffboardArgs, file: &FileOffboard) -> Result<OffboardChoices, ConfigError> {
    let steps = either(
        args.steps.as_ref(),
        "--steps",
        file.steps.as_ref().map(NameList::joined),
        "steps",
    );
    let include_admins = args.include_admins || file.include_admins.unwrap_or(false);
    let base = OffboardChoices {
        steps,
        include_admins,
        ..OffboardChoices::default()
    };
    if args.no_transfer {
        return Ok(OffboardChoices {
            no_transfer: true,
            transfer_column: args.transfer_column.clone(),
            ..base
        });
    }
    let flag_target = args.transfer_to.is_some() || args.transfer_column.is_some();
    let file_no_transfer = file.no_transfer.unwrap_or(false);
    if !flag_target && file_no_transfer {
        if file.transfer_to.is_some() || file.transfer_column.is_some() {
            return Err(ConfigError::Usage(
                "[offboard] in the config file sets no_transfer = true and a transfer target \
                 (transfer_to or transfer_column): keep one of them"
                    .to_owned(),
            ));
        }
        return Ok(OffboardChoices {
            no_transfer: true,
            ..base
        });
    }
    Ok(OffboardChoices {
        transfer_to: either(
            args.transfer_to.as_ref(),
            "--transfer-to",
            file.transfer_to.clone(),
            "transfer_to",
        ),
        transfer_column: args
            .transfer_column
            .clone()
            .or_else(|| file.transfer_column.clone()),
        transfer_kinds: either(
            args.transfer_kinds.as_ref(),
            "--transfer-kinds",
            file.transfer_kinds.as_ref().map(NameList::joined),
            "transfer_kinds",
        ),
        ..base
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(toml_text: &str) -> FileOffboard {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn the_file_fills_in_what_no_flag_gives() {
        let f = file(
            r#"steps = ["revoke", "downgrade", "delete"]
               transfer_to = "mgr@x.com"
               transfer_column = "manager"
               include_admins = true
               transfer_kinds = "meeting,recording""#,
        );
        let c = merge(&OffboardArgs::default(), &f).unwrap();
        let steps = c.steps.unwrap();
        assert_eq!(steps.value, "revoke,downgrade,delete");
        assert_eq!(steps.source, "[offboard] steps in the config file");
        assert_eq!(c.transfer_to.unwrap().value, "mgr@x.com");
        assert_eq!(c.transfer_column.as_deref(), Some("manager"));
        assert!(c.include_admins && !c.no_transfer);
        assert_eq!(c.transfer_kinds.unwrap().value, "meeting,recording");
        assert_eq!(
            file(r#"steps = "revoke,deactivate""#)
                .steps
                .unwrap()
                .joined(),
            "revoke,deactivate"
        );
    }

    #[test]
    fn flags_win_over_the_file() {
        let f = file(
            r#"steps = "revoke,deactivate"
               no_transfer = true
               transfer_kinds = ["docs"]"#,
        );
        let args = OffboardArgs {
            steps: Some("revoke,delete".into()),
            transfer_to: Some("boss@x.com".into()),
            ..OffboardArgs::default()
        };
        let c = merge(&args, &f).unwrap();
        assert_eq!(c.steps.unwrap().source, "--steps");
        assert!(!c.no_transfer, "--transfer-to beats no_transfer = true");
        assert_eq!(c.transfer_to.unwrap().value, "boss@x.com");
        assert_eq!(c.transfer_kinds.unwrap().value, "docs");

        let f = file(
            r#"transfer_to = "mgr@x.com"
               transfer_kinds = "meeting""#,
        );
        let args = OffboardArgs {
            no_transfer: true,
            ..OffboardArgs::default()
        };
        let c = merge(&args, &f).unwrap();
        assert!(c.no_transfer);
        assert_eq!((c.transfer_to, c.transfer_kinds), (None, None));
    }

    #[test]
    fn a_file_that_contradicts_itself_is_refused_and_unknown_keys_too() {
        let f = file(
            r#"no_transfer = true
               transfer_to = "mgr@x.com""#,
        );
        assert!(matches!(
            merge(&OffboardArgs::default(), &f),
            Err(ConfigError::Usage(m)) if m.contains("no_transfer = true")
        ));
        assert!(toml::from_str::<FileOffboard>("step = \"revoke\"").is_err());
        assert!(toml::from_str::<FileOffboard>("steps = 3").is_err());
        let c = merge(&OffboardArgs::default(), &file("no_transfer = true")).unwrap();
        assert!(c.no_transfer);
    }
}
