//! A min-heap of (deadline, key) with lazy invalidation: the owner re-checks
//! its own timers when a key comes due, so stale entries cost no work. They
//! do cost memory until they come due, which for a parked call's comeback
//! is the park timeout (an hour, say) after a retrieval a second later: the
//! owner has them dropped once they outnumber the live keys.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Stale entries a heap may hold beyond twice its live keys.
pub const STALE_SLACK: usize = 1024;

/// Deadlines keyed by `K`.
#[derive(Debug)]
pub struct Deadlines<K: Ord + Copy> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Copy> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> Deadlines<K> {
    /// Schedules `key` at `at`.
    pub fn schedule(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Entries held, stale ones included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only the entries `live` says are still wanted, once the heap
    /// holds more than twice `keys` entries (the owner's live keys) plus
    /// [`STALE_SLACK`]: each pass costs one walk over the heap and happens
    /// after at least `keys + STALE_SLACK` new entries, so its cost per
    /// entry is constant.
    pub fn drop_stale(&mut self, keys: usize, mut live: impl FnMut(Instant, K) -> bool) {
        if self.heap.len() > 2 * keys + STALE_SLACK {
            self.heap.retain(|Reverse((at, key))| live(*at, *key));
        }
    }

    /// Removes and returns the keys due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        while let Some(Reverse((at, key))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            due.push(key);
        }
        // A key scheduled twice for the same moment fires once.
        due.sort_unstable();
        due.dedup();
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_of_keys_long_gone_are_dropped_once_they_outnumber_the_live() {
        let t0 = Instant::now();
        let hour = t0 + Duration::from_secs(3600);
        let mut d = Deadlines::<u64>::default();
        // 100 keys live at any time, each scheduled an hour ahead and gone
        // a moment later (a park retrieved at once).
        for key in 0..100_000u64 {
            d.schedule(hour, key);
            d.drop_stale(100, |_, k| k + 100 > key);
            assert!(d.len() <= 2 * 100 + STALE_SLACK + 1, "{} entries", d.len());
        }
        let live: Vec<u64> = (99_900..100_000).collect();
        assert!(d.pop_due(hour).ends_with(&live), "no live key was dropped");
    }

    #[test]
    fn below_the_slack_nothing_is_dropped() {
        let t0 = Instant::now();
        let mut d = Deadlines::<u64>::default();
        for key in 0..STALE_SLACK as u64 {
            d.schedule(t0, key);
        }
        d.drop_stale(0, |_, _| false);
        assert_eq!(d.len(), STALE_SLACK);
    }

    #[test]
    fn due_keys_come_once_in_order_and_later_ones_stay() {
        let t0 = Instant::now();
        let mut d = Deadlines::<u64>::default();
        d.schedule(t0 + Duration::from_secs(2), 7);
        d.schedule(t0 + Duration::from_secs(1), 3);
        d.schedule(t0 + Duration::from_secs(1), 3);
        d.schedule(t0 + Duration::from_secs(5), 9);
        assert_eq!(d.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(d.pop_due(t0 + Duration::from_secs(2)), vec![3, 7]);
        assert_eq!(d.next(), Some(t0 + Duration::from_secs(5)));
    }
}
