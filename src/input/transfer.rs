//! Per-user transfer targets (`--transfer-column`): who receives each leaver's data.
//!
//! Memory: a 1,000,000-row input is benchmarked, and in a real export most rows name one of a
//! few hundred managers. So targets are interned (each distinct target stored once) and each
//! user holds a 4-byte index into them, in a vector parallel to [`Batch::users`]; a sorted
//! vector of (key hash, user index) for the users that have a target answers
//! [`Batch::transfer_for`]. That is about 4 bytes per user plus 16 per user with a target,
//! against roughly 60 for a map from each user's dedupe key to an owned target. Nothing is
//! allocated when no transfer column is given.
//!
//! While reading, each user also remembers the file and line its target came from (16 bytes a
//! user, dropped at the end), so that two different targets for one user can name both lines.
//!
//! [`Batch::users`]: super::Batch::users
//! [`Batch::transfer_for`]: super::Batch::transfer_for

use std::borrow::Cow;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use super::keyset::KeySet;
use super::table::Target;
use super::user::key_of;
use super::{InvalidEntry, InvalidPart, Origin, UserId};

/// No target (blank cell, short row, `--user` value, or no transfer column).
const NONE: u32 = u32::MAX;
/// The user turned out invalid (a bad or conflicting target): removed at the end of the load.
const DOOMED: u32 = u32::MAX - 1;

/// The transfer targets of a batch's users, decided with the batch (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Transfers {
    /// Distinct targets (by dedupe key), in order of first use, each spelled as first given.
    targets: Vec<UserId>,
    /// `of_user[i]` is the index in `targets` of user `i`'s target, or [`NONE`]. Empty when no
    /// transfer column was given.
    of_user: Vec<u32>,
    /// (hash of the user's dedupe key, user index) for each user with a target, sorted by hash.
    index: Vec<(u64, usize)>,
}

impl Transfers {
    /// The target of the user at `i` in the batch's users.
    pub(crate) fn at(&self, i: usize) -> Option<&UserId> {
        let t = *self.of_user.get(i)?;
        self.targets.get(usize::try_from(t).ok()?)
    }

    /// The target of `user`, found by its dedupe key among `users` (the batch's users).
    pub(crate) fn of(&self, users: &[UserId], user: &UserId) -> Option<&UserId> {
        let key = key_of(user.as_str());
        let hash = key_hash(&key);
        let start = self.index.partition_point(|(h, _)| *h < hash);
        self.index[start..]
            .iter()
            .take_while(|(h, _)| *h == hash)
            .find(|(_, i)| users.get(*i).is_some_and(|u| key_of(u.as_str()) == key))
            .and_then(|(_, i)| self.at(*i))
    }

    /// Every distinct target, once, in order of first use.
    pub(crate) fn targets(&self) -> &[UserId] {
        &self.targets
    }
}

/// A stable hash (fixed keys): the sorted index needs no per-process state, and a sorted vector
/// does not degrade when hashes collide (equal hashes are adjacent and compared by key).
fn key_hash(key: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

/// Where a user's target came from, kept while reading for the "two targets" message.
#[derive(Clone, Copy)]
struct Slot {
    /// Index into the interned targets, [`NONE`] or [`DOOMED`].
    target: u32,
    /// Index into [`TransferBuilder::sources`].
    source: u32,
    /// Physical line.
    line: u64,
}

/// Collects targets while the batch is read; [`TransferBuilder::finish`] makes [`Transfers`].
pub(crate) struct TransferBuilder {
    /// `--transfer-column` as given, for messages.
    column: String,
    /// Interned targets, including some that may end up unused (a doomed user's).
    targets: Vec<UserId>,
    interned: KeySet<u32>,
    /// Parallel to the batch's users.
    slots: Vec<Slot>,
    /// Display names of the files read so far; the last is the current one.
    sources: Vec<String>,
    /// Users already in the batch that turned invalid, with their entry, in the order found.
    doomed: Vec<(usize, InvalidEntry)>,
}

impl TransferBuilder {
    pub(crate) fn new(column: &str) -> TransferBuilder {
        TransferBuilder {
            column: column.trim().to_owned(),
            targets: Vec::new(),
            interned: KeySet::new(),
            slots: Vec::new(),
            sources: Vec::new(),
            doomed: Vec::new(),
        }
    }

    /// Called before each file is read, so slots can name it.
    pub(crate) fn start_source(&mut self, name: &str) {
        self.sources.push(name.to_owned());
    }

    /// Validates and interns a row's target cell: `Ok(None)` for none, `Err(reason)` for a cell
    /// that makes the row's user `invalid`.
    pub(crate) fn resolve(&mut self, cell: Target<'_>) -> Result<Option<u32>, String> {
        let raw = match cell {
            Target::Blank => return Ok(None),
            Target::Value(raw) => raw,
            Target::NotUtf8(lossy) => {
                return Err(format!(
                    "transfer target \"{}\" (column \"{}\") is not UTF-8 (save the file as UTF-8 CSV)",
                    lossy.trim(),
                    self.column
                ));
            }
        };
        let target = UserId::parse(raw).map_err(|e| {
            format!(
                "transfer target \"{}\" (column \"{}\") is not an email address or Zoom user ID: {}",
                raw.trim(),
                self.column,
                e.reason
            )
        })?;
        // Never reached in practice (4 billion distinct targets do not fit in memory), but an
        // index that does not fit must not wrap onto another user's manager.
        let next = match u32::try_from(self.targets.len()) {
            Ok(n) if n < DOOMED => n,
            _ => return Err("too many distinct transfer targets".to_owned()),
        };
        let targets = &self.targets;
        let first = self.interned.first_or_insert(&target.key(), next, |r| {
            targets
                .get(r as usize)
                .map_or(Cow::Borrowed(""), |t| key_of(t.as_str()))
        });
        Ok(Some(match first {
            Some(existing) => existing,
            None => {
                self.targets.push(target);
                next
            }
        }))
    }

    /// Records the target of the user just pushed onto the batch's users.
    pub(crate) fn push(&mut self, target: Option<u32>, line: u64) {
        self.slots.push(Slot {
            target: target.unwrap_or(NONE),
            source: self.source(),
            line,
        });
    }

    /// A later line for `users[i]` (`user`): a first target fills a blank one; a different target,
    /// or a bad cell, makes the user invalid.
    pub(crate) fn repeat(
        &mut self,
        i: usize,
        user: &UserId,
        target: Result<Option<u32>, String>,
        origin: Origin,
    ) {
        let source = self.source();
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let reason = match target {
            _ if slot.target == DOOMED => return,
            Ok(None) => return,
            Ok(Some(t)) if slot.target == NONE => {
                *slot = Slot {
                    target: t,
                    source,
                    line: origin.line,
                };
                return;
            }
            Ok(Some(t)) if t == slot.target => return,
            Ok(Some(t)) => {
                let name = |t: u32| self.targets.get(t as usize).map_or("", UserId::as_str);
                let earlier = self
                    .sources
                    .get(slot.source as usize)
                    .map_or("", String::as_str);
                format!(
                    "two different transfer targets (column \"{}\"): \"{}\" at {} line {} and \"{}\" at {}",
                    self.column,
                    name(slot.target),
                    earlier,
                    slot.line,
                    name(t),
                    origin
                )
            }
            Err(reason) => reason,
        };
        slot.target = DOOMED;
        self.doomed.push((
            i,
            InvalidEntry {
                raw: user.as_str().to_owned(),
                origin,
                reason,
                part: InvalidPart::Transfer,
            },
        ));
    }

    fn source(&self) -> u32 {
        // Files are command-line arguments: far fewer than u32::MAX. Only messages use this.
        u32::try_from(self.sources.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// Moves doomed users from `users` to `invalid` and builds the compact [`Transfers`].
    pub(crate) fn finish(
        self,
        users: &mut Vec<UserId>,
        invalid: &mut Vec<InvalidEntry>,
    ) -> Transfers {
        let TransferBuilder {
            targets,
            mut slots,
            doomed,
            ..
        } = self;
        if !doomed.is_empty() {
            let mut i = 0;
            users.retain(|_| {
                let keep = slots.get(i).is_none_or(|s| s.target != DOOMED);
                i += 1;
                keep
            });
            slots.retain(|s| s.target != DOOMED);
            invalid.extend(doomed.into_iter().map(|(_, entry)| entry));
        }
        // Renumber the targets still in use, in order of first use.
        // Each old target, until moved to `kept`, and its new number once it is.
        let mut old: Vec<(Option<UserId>, u32)> =
            targets.into_iter().map(|t| (Some(t), NONE)).collect();
        let mut kept = Vec::new();
        let of_user: Vec<u32> = slots
            .iter()
            .map(|s| {
                let Some((target, new)) = old.get_mut(s.target as usize) else {
                    return NONE;
                };
                if let Some(t) = target.take() {
                    // No more than before, so this fits in u32 too.
                    *new = u32::try_from(kept.len()).unwrap_or(NONE);
                    kept.push(t);
                }
                *new
            })
            .collect();
        let mut index: Vec<(u64, usize)> = of_user
            .iter()
            .enumerate()
            .filter(|(_, t)| **t != NONE)
            .filter_map(|(i, _)| Some((key_hash(&key_of(users.get(i)?.as_str())), i)))
            .collect();
        index.sort_unstable();
        Transfers {
            targets: kept,
            of_user,
            index,
        }
    }
}
