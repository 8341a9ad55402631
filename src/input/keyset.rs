//! The set of de-duplication keys seen so far, without a second copy of every key.
//!
//! A plain `HashSet<String>` of keys doubles the memory of a million-row input (the key is the
//! user again, or its lower-cased copy) and pushed a 1M-row file near the 200 MiB budget. Here the
//! set holds a 64-bit hash and a small reference to the entry that first had the key; the key of
//! that entry is recomputed only when hashes match, which is when the new line is a duplicate.
//! Two different keys with the same hash are still told apart exactly: the second goes to a small
//! overflow map of owned keys. So the result is exact, never probabilistic.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Keys seen so far; `R` refers to the entry that first had a key.
pub(crate) struct KeySet<R> {
    hasher: RandomState,
    /// Hash of a key → the first entry with that hash.
    first: HashMap<u64, R, BuildHasherDefault<PassThrough>>,
    /// Keys whose hash was already taken by a different key, with their first entry.
    overflow: HashMap<Box<str>, R>,
    /// Applied to every hash; tests set it to 0 to force collisions.
    mask: u64,
}

impl<R: Copy> KeySet<R> {
    pub(crate) fn new() -> KeySet<R> {
        KeySet {
            hasher: RandomState::new(),
            first: HashMap::default(),
            overflow: HashMap::new(),
            mask: u64::MAX,
        }
    }

    /// Adds `key` for entry `r` and returns `None`, or, if an equal key was there already, returns
    /// the entry that had it first (a repeat is compared with its first occurrence: two transfer
    /// targets for one user; or mapped to it: interning). `key_of(r)` gives the key of an earlier
    /// entry and is called only when hashes match.
    pub(crate) fn first_or_insert<'k>(
        &mut self,
        key: &str,
        r: R,
        key_of: impl Fn(R) -> Cow<'k, str>,
    ) -> Option<R> {
        let hash = self.hasher.hash_one(key) & self.mask;
        match self.first.entry(hash) {
            Entry::Vacant(slot) => {
                slot.insert(r);
                None
            }
            Entry::Occupied(slot) if key_of(*slot.get()) == key => Some(*slot.get()),
            Entry::Occupied(_) => match self.overflow.entry(key.into()) {
                Entry::Vacant(slot) => {
                    slot.insert(r);
                    None
                }
                Entry::Occupied(slot) => Some(*slot.get()),
            },
        }
    }
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with this; fold anything else rather than lose it.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_even_when_every_hash_collides() {
        let keys = ["a", "b", "a", "c", "b", "d"];
        let mut set = KeySet::new();
        set.mask = 0;
        let fresh: Vec<bool> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                set.first_or_insert(k, i, |r| Cow::Borrowed(keys[r]))
                    .is_none()
            })
            .collect();
        assert_eq!(fresh, [true, true, false, true, false, true]);
    }

    #[test]
    fn first_or_insert_names_the_first_entry_even_on_collisions() {
        let keys = ["a", "b", "a", "b", "c"];
        let mut set = KeySet::new();
        set.mask = 0;
        let first: Vec<Option<usize>> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| set.first_or_insert(k, i, |r| Cow::Borrowed(keys[r])))
            .collect();
        assert_eq!(first, [None, None, Some(0), Some(1), None]);
    }

    #[test]
    fn normal_hashing() {
        let keys: Vec<String> = (0..1000).map(|i| format!("k{}", i % 700)).collect();
        let mut set = KeySet::new();
        let fresh = keys
            .iter()
            .enumerate()
            .filter(|(i, k)| {
                set.first_or_insert(k, *i, |r| Cow::Borrowed(keys[r].as_str()))
                    .is_none()
            })
            .count();
        assert_eq!(fresh, 700);
    }
}
