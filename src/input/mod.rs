//! Reading, validating and de-duplicating the users to revoke.
//!
//! The whole input is read before the first request (contract: "Input"), so a typo on line 90,000
//! stops nothing half-way: bad *files* (unreadable, not UTF-8, no user column) are an
//! [`InputError`] and exit 2; bad *values* are [`InvalidEntry`]s that become `invalid` report rows
//! while the rest proceeds, as ripgrep reports a bad file and goes on.
//!
//! Layout: [`user`] decides what a user is; [`dialect`] reads exports as spreadsheets and HR
//! systems write them (delimiter, `sep=` line, UTF-16); [`table`] turns one file into rows with
//! physical line numbers; [`roster`] reads the HR roster `reconcile` compares Zoom with; [`transfer`] keeps each user's transfer target (`--transfer-column`); this module
//! combines sources, the exclude list and de-duplication into a [`Batch`].
//!
//! Sources are read in order: the INPUT files (and stdin) as given, then the `--user` values.
//! With neither, stdin is read, as the contract says. De-duplication keeps the first occurrence.

mod dialect;
mod handoff;
mod keyset;
mod roster;
mod table;
mod transfer;
mod user;

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub use dialect::Delimiter;
pub use roster::{Roster, read_roster};
pub use table::KNOWN_HEADERS;
pub use user::{InvalidUser, MAX_LEN, UserId, dedupe_key};

use crate::evidence::chain::StreamDigest;
use crate::evidence::runlog::InputDigest;
use keyset::{KeySet, Packed};
use table::{Entry, Target, read_table};
use transfer::{TransferBuilder, Transfers};
pub(crate) use user::key_of;

/// Where an entry came from, for messages and `invalid` rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The path as given, `<stdin>` for `-`, or `--user` for the flag.
    pub file: String,
    /// Physical 1-based line in the file; for `--user`, which occurrence of the flag (1-based).
    pub line: u64,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.file == CLI_NAME {
            write!(f, "--user #{}", self.line)
        } else {
            write!(f, "{} line {}", self.file, self.line)
        }
    }
}

/// One INPUT argument. `-` on the command line is [`InputSource::Stdin`], so a file named `-`
/// needs `./-`, as with most tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputSource {
    /// A CSV or plain-list file.
    Path(PathBuf),
    /// Standard input, read through the `stdin` parameter of [`load`] so tests can feed it.
    Stdin,
}

impl InputSource {
    /// Maps a command-line argument: `-` is stdin, anything else a path.
    pub fn from_arg(arg: &std::path::Path) -> InputSource {
        if arg.as_os_str() == "-" {
            InputSource::Stdin
        } else {
            InputSource::Path(arg.to_path_buf())
        }
    }
}

/// Options that change how files are read.
#[derive(Clone, Debug, Default)]
pub struct InputOptions {
    /// `--column`: the header (trimmed, any case) of the column holding the users, overriding
    /// [`KNOWN_HEADERS`]. Applies to every INPUT file, not to the exclude file.
    pub column: Option<String>,
    /// `--transfer-column`: the header (trimmed, any case) of the column holding each user's
    /// transfer target. Every INPUT file must then have a header row naming it (a plain list is
    /// a usage error). A blank cell, or a row too short to have one, means no target (the caller
    /// falls back to `--transfer-to`); `--user` values never have one.
    pub transfer_column: Option<String>,
    /// `--delimiter`: the field delimiter of every file (users and exclude list), instead of
    /// the `sep=` line or detection (see [`dialect`]).
    pub delimiter: Option<Delimiter>,
}

/// A value that is not a user: it gets an `invalid` report row and is never sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidEntry {
    /// The value, trimmed; for a row with no usable cell, the row's cells joined by `,`.
    pub raw: String,
    /// Its first occurrence.
    pub origin: Origin,
    /// What is wrong, e.g. `contains '/'`. For [`InvalidPart::Transfer`] a whole sentence naming
    /// the target value (and, for two targets, both lines).
    pub reason: String,
    /// Which value of the row is at fault.
    pub part: InvalidPart,
}

/// Which value made an entry invalid. `raw` is always the user, so the report row is the user's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InvalidPart {
    /// The user value itself.
    #[default]
    User,
    /// A valid user whose transfer-column cell is not a user, or who is given two different
    /// targets: sending it to either target could hand one person's data to the wrong manager.
    Transfer,
}

impl std::fmt::Display for InvalidEntry {
    /// `users.csv line 12: "a b@x.com" is not an email address or Zoom user ID: contains a space`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.part {
            InvalidPart::User => write!(
                f,
                "{}: \"{}\" is not an email address or Zoom user ID: {}",
                self.origin, self.raw, self.reason
            ),
            InvalidPart::Transfer => {
                write!(f, "{}: user \"{}\": {}", self.origin, self.raw, self.reason)
            }
        }
    }
}

/// Everything the run needs from the input, decided before the first request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Users to request: valid, de-duplicated (first occurrence wins), not excluded, input order.
    pub users: Vec<UserId>,
    /// Each distinct invalid value once (compared by [`dedupe_key`]), input order.
    pub invalid: Vec<InvalidEntry>,
    /// Input users found in the exclude list, once each, input order.
    pub excluded: Vec<UserId>,
    /// User lines dropped because an earlier line had the same key (valid or invalid).
    pub duplicates: u64,
    /// Non-blank, non-comment user lines read (header rows not counted), `--user` values included.
    pub lines: u64,
    /// Each input file as read: its name, SHA-256 and user rows, for the run log.
    pub sources: Vec<crate::evidence::runlog::InputDigest>,
    /// Each user's transfer target from `--transfer-column` (empty without one). Private so that
    /// it always stays aligned with `users`.
    transfers: Transfers,
}

impl Batch {
    /// Distinct input users: each gets exactly one row in a fresh report.
    pub fn total_distinct(&self) -> usize {
        self.users.len() + self.invalid.len() + self.excluded.len()
    }

    /// The transfer target the input gives for `user` (compared by [`dedupe_key`]), or `None`
    /// when its cell is blank, there is no `--transfer-column`, or `user` is not in [`Batch::users`]:
    /// then `--transfer-to` applies. A user repeated in the input has the one target its lines
    /// agree on (blank lines aside); disagreeing lines made it `invalid` instead.
    pub fn transfer_for(&self, user: &UserId) -> Option<&UserId> {
        self.transfers.of(&self.users, user)
    }

    /// [`Batch::transfer_for`] by position in [`Batch::users`], for callers walking the list.
    pub fn transfer_at(&self, index: usize) -> Option<&UserId> {
        self.transfers.at(index)
    }

    /// Every distinct transfer target of [`Batch::users`], once (by [`dedupe_key`]), in order of
    /// first use: the list to look up before any destructive step.
    pub fn transfer_targets(&self) -> &[UserId] {
        self.transfers.targets()
    }
}

/// A problem with an input as a whole: nothing is requested (exit 2). Every message names the file
/// and, where there is one, the line and value.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file cannot be opened or read.
    #[error("cannot read {file}{}: {source}", at_line(*.line))]
    Unreadable {
        /// Display name of the file.
        file: String,
        /// The line being read when reading failed, if it got that far.
        line: Option<u64>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A cell the tool needs is not UTF-8 (often a file saved as Latin-1 or UTF-16 by a spreadsheet).
    #[error("{file} line {line}: not UTF-8: \"{value}\" (save the file as UTF-8 CSV)")]
    NotUtf8 {
        /// Display name of the file.
        file: String,
        /// Physical line.
        line: u64,
        /// The cell, with invalid bytes replaced.
        value: String,
    },
    /// The first row has several columns and none is a known user column header.
    #[error(
        "{file} line {line}: {} columns ({}) and none is a user column ({}): add a header row naming the user column, or pass --column NAME",
        .columns.len(), quoted_list(.columns), KNOWN_HEADERS.join(", ")
    )]
    NoKnownHeader {
        /// Display name of the file.
        file: String,
        /// Line of the first row.
        line: u64,
        /// The first row's cells.
        columns: Vec<String>,
    },
    /// `--column NAME` (or `--roster-column NAME`) is not in the file's first row.
    #[error("{file} line {line}: no column \"{column}\" ({flag}); the first row has {}", quoted_list(.available))]
    ColumnNotFound {
        /// Display name of the file.
        file: String,
        /// Line of the first row.
        line: u64,
        /// The flag (or config key) that named the column.
        flag: &'static str,
        /// The value naming the column.
        column: String,
        /// The first row's cells.
        available: Vec<String>,
    },
    /// `--transfer-column NAME` is not in a file's header row.
    #[error(
        "{file} line {line}: no column \"{column}\" (--transfer-column); the header has {}",
        quoted_list(.available)
    )]
    TransferColumnNotFound {
        /// Display name of the file.
        file: String,
        /// Line of the header row.
        line: u64,
        /// The `--transfer-column` value.
        column: String,
        /// The header row's cells.
        available: Vec<String>,
    },
    /// `--transfer-column` with a file that is a plain list: there is no column to take it from.
    #[error(
        "{file} line {line}: --transfer-column \"{column}\" needs a header row naming the user and transfer columns, and this file is a plain list of users without one"
    )]
    TransferWithoutHeader {
        /// Display name of the file.
        file: String,
        /// Line of the first row.
        line: u64,
        /// The `--transfer-column` value.
        column: String,
    },
    /// `--transfer-column` names the user column: every user would be their own target.
    #[error(
        "{file} line {line}: --transfer-column \"{column}\" is the column of the users themselves; name the column of their managers"
    )]
    TransferIsUserColumn {
        /// Display name of the file.
        file: String,
        /// Line of the header row.
        line: u64,
        /// The user column's header.
        column: String,
    },
    /// A quoted value never closes, which would swallow the rest of the file into one cell.
    #[error("{file} line {line}: a quoted value (\") opens here and never closes")]
    UnterminatedQuote {
        /// Display name of the file.
        file: String,
        /// Line where the record starts.
        line: u64,
    },
    /// An Excel `sep=X` first line names a delimiter the reader does not split at.
    #[error(
        "{file} line {line}: \"sep={value}\" names a delimiter this tool does not read (',', ';', tab or '|'); save the file as CSV, or pass --delimiter"
    )]
    UnsupportedSep {
        /// Display name of the file.
        file: String,
        /// Physical line.
        line: u64,
        /// The delimiter the line names.
        value: char,
    },
    /// An exclude-file entry is not a valid user. A protection list must be exact: a typo there
    /// would silently leave a break-glass admin unprotected.
    #[error(
        "{file} line {line}: \"{value}\" in the exclude list is not an email address or Zoom user ID: {reason}"
    )]
    InvalidExclude {
        /// Display name of the exclude file.
        file: String,
        /// Physical line.
        line: u64,
        /// The value (trimmed).
        value: String,
        /// What is wrong.
        reason: String,
    },
}

fn at_line(line: Option<u64>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|c| format!("\"{c}\"")).collect();
    quoted.join(", ")
}

/// Display name of the `--user` flag in [`Origin`].
const CLI_NAME: &str = "--user";
/// Display name of stdin in [`Origin`].
const STDIN_NAME: &str = "<stdin>";
/// Read buffer: large enough that a million-row file is a few hundred reads.
const BUF_SIZE: usize = 64 * 1024;
/// Rows of a file read before the rest of it is estimated from their average length.
const SAMPLE_ROWS: u64 = 4096;

/// Reads every source, validates and de-duplicates, and sets aside excluded users.
///
/// The exclude file is read first, so a bad protection list fails before any input is read.
/// With no `inputs` and no `cli_users`, stdin is read (the caller refuses a terminal beforehand).
pub fn load(
    inputs: &[InputSource],
    cli_users: &[String],
    exclude: Option<&Path>,
    opts: &InputOptions,
    stdin: &mut dyn Read,
) -> Result<Batch, InputError> {
    let exclude = exclude
        .map(|path| read_exclude(path, opts.delimiter))
        .transpose()?;
    let mut b = Builder {
        exclude: exclude.as_ref(),
        seen: KeySet::new(),
        batch: Batch::default(),
        transfers: opts.transfer_column.as_deref().map(TransferBuilder::new),
    };
    let how = Dialect {
        delimiter: opts.delimiter,
        column: opts.column.as_deref(),
        transfer: opts.transfer_column.as_deref(),
    };
    let default = [InputSource::Stdin];
    let inputs = if inputs.is_empty() && cli_users.is_empty() {
        &default[..]
    } else {
        inputs
    };
    for source in inputs {
        match source {
            InputSource::Path(path) => {
                let name = path.display().to_string();
                let file = open(path, &name)?;
                // Only a hint for pre-sizing: a file whose size cannot be told is read all the same.
                let size = file.metadata().ok().map(|m| m.len());
                b.read_digested(&name, file, size, &how)?;
            }
            InputSource::Stdin => {
                b.read_digested(STDIN_NAME, &mut *stdin, None, &how)?;
            }
        }
    }
    for (i, raw) in cli_users.iter().enumerate() {
        let row = handoff::parse(Entry::Value(raw), Target::Blank);
        b.add_row(CLI_NAME, i as u64 + 1, row);
    }
    Ok(b.finish())
}

/// Reads an exclude file into a set of [`dedupe_key`]s, with the same file rules as inputs
/// (header detection, comments, quoting, dialects) but no `--column`. Any invalid entry is an
/// error.
pub fn read_exclude(
    path: &Path,
    delimiter: Option<Delimiter>,
) -> Result<HashSet<String>, InputError> {
    let name = path.display().to_string();
    let mut src = dialect::decoded(BufReader::with_capacity(BUF_SIZE, open(path, &name)?));
    let mut keys = HashSet::new();
    read_table(
        &name,
        &mut src,
        delimiter,
        None,
        None,
        &mut |line, entry, _| {
            let (value, reason) = match entry {
                Entry::Value(raw) => match UserId::parse(raw) {
                    Ok(user) => {
                        keys.insert(user.key());
                        return Ok(());
                    }
                    Err(e) => (raw.trim().to_owned(), e.reason),
                },
                Entry::Unusable { row, reason } => (row, reason),
            };
            Err(InputError::InvalidExclude {
                file: name.clone(),
                line,
                value,
                reason,
            })
        },
    )?;
    Ok(keys)
}

fn open(path: &Path, name: &str) -> Result<File, InputError> {
    File::open(path).map_err(|source| InputError::Unreadable {
        file: name.to_owned(),
        line: None,
        source,
    })
}

/// How the files of one load are read: the flags that shape [`read_table`].
struct Dialect<'o> {
    /// `--delimiter`.
    delimiter: Option<Delimiter>,
    /// `--column`.
    column: Option<&'o str>,
    /// `--transfer-column`.
    transfer: Option<&'o str>,
}

/// Accumulates a [`Batch`], one entry at a time.
struct Builder<'a> {
    exclude: Option<&'a HashSet<String>>,
    /// Keys of every entry kept so far (users, invalid and excluded alike).
    seen: KeySet<Kept>,
    batch: Batch,
    /// With `--transfer-column`: the users' targets, parallel to `batch.users`.
    transfers: Option<TransferBuilder>,
}

/// The key of the entry at `kept`.
fn key_at(batch: &Batch, kept: Kept) -> Cow<'_, str> {
    match kept {
        Kept::User(i) => key_of(batch.users[i].as_str()),
        Kept::Invalid(i) => key_of(&batch.invalid[i].raw),
        Kept::Excluded(i) => key_of(batch.excluded[i].as_str()),
    }
}

/// How many rows are likely left in a file of `size` bytes after `rows` rows took `consumed`
/// bytes, with a margin: a little too much costs little, one row too few doubles the table.
fn rows_left(size: u64, consumed: u64, rows: u64) -> usize {
    if consumed == 0 {
        return 0;
    }
    let left = u128::from(size.saturating_sub(consumed)) * u128::from(rows) / u128::from(consumed);
    usize::try_from(left + left / 16).unwrap_or(0)
}

/// A reader that counts the bytes taken from it, for [`rows_left`].
struct Counted<'a, 'c> {
    inner: &'a mut dyn BufRead,
    consumed: &'c Cell<u64>,
}

impl Read for Counted<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}

/// A reader that hashes what passes through it, for an input's digest in the run log.
struct Digested<R> {
    inner: R,
    digest: StreamDigest,
}

impl<R: Read> Read for Digested<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

impl BufRead for Counted<'_, '_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed.set(self.consumed.get() + amt as u64);
        self.inner.consume(amt);
    }
}

/// Where a kept entry is in the [`Batch`], so its key can be recomputed instead of stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kept {
    User(usize),
    Invalid(usize),
    Excluded(usize),
}

/// Bits of a packed [`Kept`] that hold the index; the two above them hold the kind.
const KEPT_INDEX_BITS: u32 = 30;

impl Packed for Kept {
    fn pack(self) -> Option<u32> {
        let (kind, i) = match self {
            Kept::User(i) => (0, i),
            Kept::Invalid(i) => (1, i),
            Kept::Excluded(i) => (2, i),
        };
        let i = u32::try_from(i)
            .ok()
            .filter(|i| i >> KEPT_INDEX_BITS == 0)?;
        Some(kind << KEPT_INDEX_BITS | i)
    }

    fn unpack(p: u32) -> Kept {
        let i = (p & ((1 << KEPT_INDEX_BITS) - 1)) as usize;
        match p >> KEPT_INDEX_BITS {
            0 => Kept::User(i),
            1 => Kept::Invalid(i),
            _ => Kept::Excluded(i),
        }
    }
}

impl Builder<'_> {
    /// Reads one source through a SHA-256 of its bytes (each byte hashed once, as the reader
    /// takes it), and records its digest and user rows in the batch.
    fn read_digested(
        &mut self,
        name: &str,
        source: impl Read,
        size: Option<u64>,
        how: &Dialect<'_>,
    ) -> Result<(), InputError> {
        let lines_before = self.batch.lines;
        let mut digested = Digested {
            inner: source,
            digest: StreamDigest::default(),
        };
        let mut src = dialect::decoded(BufReader::with_capacity(BUF_SIZE, &mut digested));
        self.read(name, &mut src, size, how)?;
        // Whatever the table reader left unread (nothing, normally) is part of the file too.
        std::io::copy(&mut src, &mut std::io::sink()).map_err(|source| InputError::Unreadable {
            file: name.to_owned(),
            line: None,
            source,
        })?;
        drop(src);
        self.batch.sources.push(InputDigest {
            path: name.to_owned(),
            sha256: digested.digest.finish(),
            rows: self.batch.lines - lines_before,
        });
        Ok(())
    }

    /// Makes room for `rows` more entries. Only a hint: if memory is short, growing later fails
    /// the same way it would have.
    fn reserve(&mut self, rows: usize) {
        let _ = self.batch.users.try_reserve(rows);
        let batch = &self.batch;
        self.seen.reserve(rows, |kept| key_at(batch, kept));
    }

    /// Adds one row read at `line` of `file` ([`handoff::parse`] validated it).
    fn add_row(&mut self, file: &str, line: u64, row: handoff::Row) {
        self.batch.lines += 1;
        match row {
            handoff::Row::User { user, target } => {
                self.add_user(user, file, line, target.as_target());
            }
            handoff::Row::Invalid { raw, reason } => {
                let origin = Origin {
                    file: file.to_owned(),
                    line,
                };
                self.add_invalid(raw, origin, reason, InvalidPart::User);
            }
        }
    }

    fn add_invalid(&mut self, raw: String, origin: Origin, reason: String, part: InvalidPart) {
        let at = Kept::Invalid(self.batch.invalid.len());
        if self.first_of(&key_of(&raw), at).is_some() {
            return;
        }
        self.batch.invalid.push(InvalidEntry {
            raw,
            origin,
            reason,
            part,
        });
    }

    /// Adds a valid user read at `line` of `file`. Its [`Origin`] is made only when kept, not
    /// for every line: a million owned copies of the file name were a malloc and free per row.
    fn add_user(&mut self, user: UserId, file: &str, line: u64, target: Target<'_>) {
        let origin = || Origin {
            file: file.to_owned(),
            line,
        };
        let key = key_of(user.as_str());
        if self.exclude.is_some_and(|x| x.contains(key.as_ref())) {
            // An excluded user is never touched, so its target does not matter.
            if self
                .first_of(&key, Kept::Excluded(self.batch.excluded.len()))
                .is_none()
            {
                self.batch.excluded.push(user);
            }
            return;
        }
        // Taken out for the duration, so that it and the batch can be changed together.
        let Some(mut transfers) = self.transfers.take() else {
            if self
                .first_of(&key, Kept::User(self.batch.users.len()))
                .is_none()
            {
                self.batch.users.push(user);
            }
            return;
        };
        let target = transfers.resolve(target);
        let at = match target {
            Ok(_) => Kept::User(self.batch.users.len()),
            Err(_) => Kept::Invalid(self.batch.invalid.len()),
        };
        match (self.first_of(&key, at), target) {
            (None, Ok(t)) => {
                transfers.push(t, line);
                self.batch.users.push(user);
            }
            (None, Err(reason)) => self.batch.invalid.push(InvalidEntry {
                raw: user.as_str().to_owned(),
                origin: origin(),
                reason,
                part: InvalidPart::Transfer,
            }),
            (Some(Kept::User(i)), target) => {
                if let Some(first) = self.batch.users.get(i) {
                    transfers.repeat(i, first, target, origin());
                }
            }
            // A repeat of an invalid or excluded entry changes nothing.
            (Some(_), _) => {}
        }
        self.transfers = Some(transfers);
    }

    /// Records `key` for the entry about to be pushed at `at` and returns `None`; if an entry had
    /// the key already, counts a duplicate and returns that entry.
    fn first_of(&mut self, key: &str, at: Kept) -> Option<Kept> {
        let batch = &self.batch;
        let first = self
            .seen
            .first_or_insert(key, at, |kept| key_at(batch, kept));
        if first.is_some() {
            self.batch.duplicates += 1;
        }
        first
    }

    fn finish(mut self) -> Batch {
        if let Some(t) = self.transfers {
            self.batch.transfers = t.finish(&mut self.batch.users, &mut self.batch.invalid);
        }
        self.batch
    }
}

#[cfg(test)]
mod tests;
