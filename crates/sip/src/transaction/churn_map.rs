//! A hash map for tables that churn at a steady size: as many entries
//! leave as arrive, hundreds of thousands a minute.
//!
//! The standard map leaves a deleted slot marked as such until the table
//! is rebuilt. When the marks have used up its spare room, it rebuilds in
//! place only if at most half its capacity is in use, and otherwise
//! doubles. A churning table that grew to just fit its steady size so
//! doubles once more, minutes into a steady load (at 2,000 calls/s: the
//! transaction tables after about two minutes, 15 MiB at a stroke). This
//! map keeps room for twice its entries whenever it grows, so that it
//! reaches its final size while the load ramps up and stays there.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// A map that grows to twice its entries whenever it grows.
#[derive(Debug)]
pub(super) struct ChurnMap<K, V, S = std::collections::hash_map::RandomState> {
    map: HashMap<K, V, S>,
    /// How many entries the table held room for right after it last grew
    /// (no deleted slots then): its capacity, which `HashMap::capacity`
    /// understates once deletions have marked slots.
    room: usize,
}

impl<K: Eq + Hash, V> ChurnMap<K, V> {
    pub(super) fn new() -> Self {
        ChurnMap {
            map: HashMap::new(),
            room: 0,
        }
    }
}

impl<K: Eq + Hash, V, S: BuildHasher> ChurnMap<K, V, S> {
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let wanted = 2 * (self.map.len() + 1);
        if wanted > self.room {
            self.map.reserve(wanted - self.map.len());
            self.room = self.map.capacity();
        }
        self.map.insert(key, value)
    }

    pub(super) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    pub(super) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_mut(key)
    }

    pub(super) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    pub(super) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key)
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes of the table itself (its slots and their control bytes, the
    /// slots being at most 7/8 of the allocation): what it costs beyond
    /// what its entries point to.
    pub(super) fn table_bytes(&self) -> usize {
        self.room * (std::mem::size_of::<(K, V)>() + 1) * 8 / 7
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys `0..size` in, then each new key in and the oldest out.
    struct Churn {
        map: ChurnMap<u64, u64>,
        size: u64,
        next: u64,
    }

    impl Churn {
        fn ramp(size: u64) -> Churn {
            let mut c = Churn {
                map: ChurnMap::new(),
                size,
                next: 0,
            };
            for _ in 0..size {
                c.map.insert(c.next, c.next);
                c.next += 1;
            }
            c
        }

        fn step(&mut self) {
            self.map.insert(self.next, self.next);
            assert!(self.map.remove(&(self.next - self.size)).is_some());
            self.next += 1;
        }
    }

    #[test]
    fn a_steady_churn_never_grows_the_table_after_the_ramp() {
        for size in [7, 100, 1_000, 30_000] {
            let mut c = Churn::ramp(size);
            c.step();
            let after_ramp = c.map.table_bytes();
            for _ in 0..20 * size {
                c.step();
            }
            assert_eq!(c.map.len() as u64, size);
            assert_eq!(c.map.table_bytes(), after_ramp, "size {size}");
        }
    }

    #[test]
    fn the_plain_map_it_replaces_does_grow_under_the_same_churn() {
        // Why the type exists: the same churn doubles a standard map that
        // just fits. (If the standard library changes its rule, this fails
        // and the type may go.)
        let size = 30_000u64;
        let mut map = HashMap::new();
        for k in 0..size {
            map.insert(k, k);
        }
        map.shrink_to_fit();
        let fitted = map.capacity();
        for k in size..size * 21 {
            map.insert(k, k);
            map.remove(&(k - size));
        }
        assert!(map.capacity() > fitted, "{} <= {fitted}", map.capacity());
    }

    #[test]
    fn room_is_at_least_twice_the_entries() {
        let mut map = ChurnMap::new();
        for k in 0..10_000u64 {
            map.insert(k, k);
            assert!(
                map.room >= 2 * map.len(),
                "{} entries, room {}",
                map.len(),
                map.room
            );
        }
        assert!(map.table_bytes() >= 2 * 10_000 * 17);
    }

    #[test]
    fn lookups_and_removals_behave_as_a_map() {
        let mut map = ChurnMap::new();
        assert!(map.is_empty());
        assert_eq!(map.insert("a".to_string(), 1), None);
        assert_eq!(map.insert("a".to_string(), 2), Some(1));
        assert_eq!(map.get("a"), Some(&2));
        *map.get_mut("a").expect("there") += 1;
        assert!(map.contains_key("a"));
        assert_eq!(map.remove("a"), Some(3));
        assert!(!map.contains_key("a"));
        assert_eq!(map.get("a"), None);
    }
}
