//! The kinds of a leaver's data that a `delete` or `disassociate` can hand over, and the
//! `--transfer-kinds` list that picks some of them.
//!
//! Zoom's spec (operation `userDelete`) has eight `transfer_*` flags. Each one not sent as
//! `true` is data deleted with the user, so the tool sends all eight unless the operator asks
//! for fewer: a kind left out must be a decision, never a default. A [`TransferKind`] can only
//! be made by parsing a name or from [`TransferKind::ALL`], like a
//! [`UserId`](crate::input::UserId), so holding one proves it is a flag Zoom knows. The
//! simulator uses the same type for its ground truth, so a test compares like with like.

use std::fmt;
use std::str::FromStr;

/// One kind of a leaver's data (one `transfer_*` flag of `DELETE /users/{id}`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TransferKind {
    /// `transfer_meeting`: scheduled meetings (not those on the personal meeting ID).
    Meeting,
    /// `transfer_webinar`: webinars; the target needs a webinar licence.
    Webinar,
    /// `transfer_recording`: cloud recordings; the target needs a paid licence.
    Recording,
    /// `transfer_whiteboard`: Zoom Whiteboard boards.
    Whiteboard,
    /// `transfer_clipfiles`: Zoom Clips.
    Clipfiles,
    /// `transfer_notes`: Zoom Notes.
    Notes,
    /// `transfer_visitors`: visitor records (Zoom Workplace's visitor management).
    Visitors,
    /// `transfer_docs`: Zoom Docs.
    Docs,
}

impl TransferKind {
    /// Every kind, in the spec's parameter order.
    pub const ALL: [TransferKind; 8] = [
        TransferKind::Meeting,
        TransferKind::Webinar,
        TransferKind::Recording,
        TransferKind::Whiteboard,
        TransferKind::Clipfiles,
        TransferKind::Notes,
        TransferKind::Visitors,
        TransferKind::Docs,
    ];

    /// The name `--transfer-kinds` takes: the flag without its `transfer_` prefix.
    pub fn name(self) -> &'static str {
        match self {
            TransferKind::Meeting => "meeting",
            TransferKind::Webinar => "webinar",
            TransferKind::Recording => "recording",
            TransferKind::Whiteboard => "whiteboard",
            TransferKind::Clipfiles => "clipfiles",
            TransferKind::Notes => "notes",
            TransferKind::Visitors => "visitors",
            TransferKind::Docs => "docs",
        }
    }

    /// The query parameter that asks for this kind, e.g. `transfer_meeting`.
    pub fn param(self) -> &'static str {
        match self {
            TransferKind::Meeting => "transfer_meeting",
            TransferKind::Webinar => "transfer_webinar",
            TransferKind::Recording => "transfer_recording",
            TransferKind::Whiteboard => "transfer_whiteboard",
            TransferKind::Clipfiles => "transfer_clipfiles",
            TransferKind::Notes => "transfer_notes",
            TransferKind::Visitors => "transfer_visitors",
            TransferKind::Docs => "transfer_docs",
        }
    }

    /// What an operator calls this data, for plans and report messages.
    pub fn words(self) -> &'static str {
        match self {
            TransferKind::Meeting => "meetings",
            TransferKind::Webinar => "webinars",
            TransferKind::Recording => "recordings",
            TransferKind::Whiteboard => "whiteboards",
            TransferKind::Clipfiles => "clips",
            TransferKind::Notes => "notes",
            TransferKind::Visitors => "visitors",
            TransferKind::Docs => "docs",
        }
    }
}

impl fmt::Display for TransferKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`TransferKind::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown transfer kind \"{0}\" (expected meeting, webinar, recording, whiteboard, clipfiles, \
     notes, visitors or docs)"
)]
pub struct UnknownKind(pub String);

impl FromStr for TransferKind {
    type Err = UnknownKind;

    /// Any case, surrounding space ignored; the `transfer_` prefix is accepted too, since
    /// Zoom's documentation names the flags with it.
    fn from_str(s: &str) -> Result<TransferKind, UnknownKind> {
        let t = s.trim().to_ascii_lowercase();
        let bare = t.strip_prefix("transfer_").unwrap_or(&t);
        TransferKind::ALL
            .into_iter()
            .find(|k| k.name() == bare)
            .ok_or_else(|| UnknownKind(s.trim().to_owned()))
    }
}

/// A `--transfer-kinds` list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindsError {
    /// A name that is not a kind.
    #[error("--transfer-kinds: {0}")]
    Unknown(#[from] UnknownKind),
    /// Nothing listed: `--no-transfer` is how to move nothing.
    #[error(
        "--transfer-kinds: no kind given (expected a comma-separated list such as \
         meeting,recording; to move nothing, use --no-transfer)"
    )]
    Empty,
}

/// The kinds a run hands over: a set, always in the spec's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransferKinds {
    /// Bit `i` set: `TransferKind::ALL[i]` is handed over.
    bits: u8,
}

impl TransferKinds {
    /// All eight: what a run with a target hands over unless told otherwise.
    pub fn all() -> TransferKinds {
        TransferKinds { bits: u8::MAX }
    }

    fn bit(kind: TransferKind) -> u8 {
        let i = TransferKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default();
        1 << i
    }

    /// True when `kind` is handed over.
    pub fn contains(self, kind: TransferKind) -> bool {
        self.bits & Self::bit(kind) != 0
    }

    /// The kinds handed over, in the spec's order.
    pub fn iter(self) -> impl Iterator<Item = TransferKind> {
        TransferKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }

    /// True when all eight are handed over.
    pub fn is_all(self) -> bool {
        self == TransferKinds::all()
    }

    /// Every flag of the spec with its value: `true` for the kinds handed over, `false` for
    /// the rest, so that Zoom is told exactly what to move and nothing is left to its defaults.
    pub fn flags(self) -> impl Iterator<Item = (&'static str, bool)> {
        TransferKind::ALL
            .into_iter()
            .map(move |k| (k.param(), self.contains(k)))
    }

    /// "meetings, webinars and recordings": the kinds in an operator's words.
    pub fn words(self) -> String {
        let words: Vec<&str> = self.iter().map(TransferKind::words).collect();
        match words.split_last() {
            None => "nothing".to_owned(),
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        }
    }
}

impl Default for TransferKinds {
    fn default() -> TransferKinds {
        TransferKinds::all()
    }
}

impl FromIterator<TransferKind> for TransferKinds {
    fn from_iter<I: IntoIterator<Item = TransferKind>>(iter: I) -> TransferKinds {
        TransferKinds {
            bits: iter.into_iter().fold(0, |b, k| b | Self::bit(k)),
        }
    }
}

impl FromStr for TransferKinds {
    type Err = KindsError;

    fn from_str(s: &str) -> Result<TransferKinds, KindsError> {
        let kinds = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<TransferKind>, UnknownKind>>()?;
        if kinds.is_empty() {
            return Err(KindsError::Empty);
        }
        Ok(kinds.into_iter().collect())
    }
}

impl fmt::Display for TransferKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(TransferKind::name).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_by_name_in_any_order_and_case() {
        let k: TransferKinds = "Recording, meeting,transfer_docs,meeting".parse().unwrap();
        assert_eq!(k.to_string(), "meeting,recording,docs");
        assert_eq!(k.words(), "meetings, recordings and docs");
        assert!(k.contains(TransferKind::Recording));
        assert!(!k.contains(TransferKind::Webinar));
        assert!(!k.is_all());
        let flags: Vec<(&str, bool)> = k.flags().collect();
        assert_eq!(flags.len(), 8);
        assert_eq!(flags[0], ("transfer_meeting", true));
        assert_eq!(flags[1], ("transfer_webinar", false));
        assert_eq!(flags[7], ("transfer_docs", true));
    }

    #[test]
    fn all_is_the_default_and_names_every_flag() {
        let all = TransferKinds::default();
        assert!(all.is_all());
        assert_eq!(all.iter().count(), 8);
        assert!(all.flags().all(|(_, on)| on));
        assert_eq!(
            all.to_string(),
            "meeting,webinar,recording,whiteboard,clipfiles,notes,visitors,docs"
        );
        let parsed: TransferKinds = all.to_string().parse().unwrap();
        assert_eq!(parsed, all);
        assert_eq!(
            "webinar".parse::<TransferKinds>().unwrap().words(),
            "webinars"
        );
    }

    #[test]
    fn unknown_and_empty_lists_are_refused() {
        assert_eq!(
            "meeting,chat".parse::<TransferKinds>(),
            Err(KindsError::Unknown(UnknownKind("chat".into())))
        );
        assert_eq!(" , ".parse::<TransferKinds>(), Err(KindsError::Empty));
        assert!("meetings".parse::<TransferKind>().is_err());
    }
}
