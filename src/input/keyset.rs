//! The set of de-duplication keys seen so far, without a second copy of every key.
//!
//! A plain `HashSet<String>` of keys doubles the memory of a million-row input (the key is the
//! user again, or its lower-cased copy). A map from each key's hash to its entry still costs
//! 8 bytes of hash plus the reference per bucket, and a million keys need 2^21 buckets, twice
//! over while the table grows. So the table holds only a 4-byte reference to the entry that first
//! had a key: the hash is recomputed from that entry's key whenever the table needs it (probing
//! compares keys, growing rehashes them), and two different keys with the same hash are simply
//! two entries of the table. The result is exact, never probabilistic.
//!
//! A reference that does not fit in 4 bytes (more than 2^30 entries of one kind) goes, with its
//! key owned, to a small overflow map, so even that input stays exact.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

/// A reference to an entry that packs into the table's 4 bytes, or not.
pub(crate) trait Packed: Copy {
    /// `None` when the reference does not fit: the key then goes to the overflow map.
    fn pack(self) -> Option<u32>;
    /// The reference [`Packed::pack`] made `p` from.
    fn unpack(p: u32) -> Self;
}

impl Packed for u32 {
    fn pack(self) -> Option<u32> {
        Some(self)
    }

    fn unpack(p: u32) -> u32 {
        p
    }
}

/// Keys seen so far; `R` refers to the entry that first had a key.
pub(crate) struct KeySet<R> {
    hasher: RandomState,
    /// The first entry of every key, found by the key's hash, recomputed from the entry.
    table: HashTable<u32>,
    /// Keys whose first entry's reference does not pack, with that entry.
    overflow: HashMap<Box<str>, R>,
    /// Applied to every hash; tests set it to 0 to force collisions.
    mask: u64,
}

impl<R: Packed> KeySet<R> {
    pub(crate) fn new() -> KeySet<R> {
        KeySet {
            hasher: RandomState::default(),
            table: HashTable::new(),
            overflow: HashMap::new(),
            mask: u64::MAX,
        }
    }

    /// Makes room for `additional` more keys at once, when the caller can tell how many are
    /// coming: the table then grows once instead of doubling its way there.
    pub(crate) fn reserve<'k>(&mut self, additional: usize, key_of: impl Fn(R) -> Cow<'k, str>) {
        let (hasher, mask) = (&self.hasher, self.mask);
        self.table.reserve(additional, |p| {
            hasher.hash_one(&*key_of(R::unpack(*p))) & mask
        });
    }

    /// Adds `key` for entry `r` and returns `None`, or, if an equal key was there already, returns
    /// the entry that had it first (a repeat is compared with its first occurrence: two transfer
    /// targets for one user; or mapped to it: interning). `key_of(r)` gives the key of an earlier
    /// entry: for the entries whose hash matches, and for every entry when the table grows.
    pub(crate) fn first_or_insert<'k>(
        &mut self,
        key: &str,
        r: R,
        key_of: impl Fn(R) -> Cow<'k, str>,
    ) -> Option<R> {
        let (hasher, mask) = (&self.hasher, self.mask);
        let hash = hasher.hash_one(key) & mask;
        let entry = self.table.entry(
            hash,
            |p| key_of(R::unpack(*p)) == key,
            |p| hasher.hash_one(&*key_of(R::unpack(*p))) & mask,
        );
        match entry {
            Entry::Occupied(slot) => Some(R::unpack(*slot.get())),
            Entry::Vacant(slot) => {
                if let Some(first) = self.overflow.get(key) {
                    return Some(*first);
                }
                match r.pack() {
                    Some(p) => {
                        slot.insert(p);
                    }
                    None => {
                        self.overflow.insert(key.into(), r);
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference that packs only below a limit, to reach the overflow map with small inputs.
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Small(usize);

    impl Packed for Small {
        fn pack(self) -> Option<u32> {
            (self.0 < 2).then_some(self.0 as u32)
        }

        fn unpack(p: u32) -> Small {
            Small(p as usize)
        }
    }

    #[test]
    fn exact_even_when_every_hash_collides() {
        let keys = ["a", "b", "a", "c", "b", "d"];
        let mut set = KeySet::new();
        set.mask = 0;
        let fresh: Vec<bool> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                set.first_or_insert(k, i as u32, |r| Cow::Borrowed(keys[r as usize]))
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
        let first: Vec<Option<u32>> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| set.first_or_insert(k, i as u32, |r| Cow::Borrowed(keys[r as usize])))
            .collect();
        assert_eq!(first, [None, None, Some(0), Some(1), None]);
    }

    #[test]
    fn references_that_do_not_pack_overflow_exactly() {
        // Entries 0 and 1 pack; later ones go to the overflow map, repeats of either kind found.
        let keys = ["a", "b", "c", "a", "c", "d", "b", "d"];
        let mut set = KeySet::new();
        let first: Vec<Option<Small>> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| set.first_or_insert(k, Small(i), |r| Cow::Borrowed(keys[r.0])))
            .collect();
        let s = |i| Some(Small(i));
        assert_eq!(first, [None, None, None, s(0), s(2), None, s(1), s(5)]);
    }

    #[test]
    fn normal_hashing_through_growth_and_reserve() {
        let keys: Vec<String> = (0..1000).map(|i| format!("k{}", i % 700)).collect();
        let key_of = |r: u32| Cow::Borrowed(keys[r as usize].as_str());
        let mut set = KeySet::new();
        let mut fresh = 0;
        for (i, k) in keys.iter().enumerate() {
            if i == 300 {
                set.reserve(5000, key_of);
            }
            if set.first_or_insert(k, i as u32, key_of).is_none() {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 700);
    }
}
