//! Counts events per key in fixed one-minute windows.

use std::collections::HashMap;
use std::hash::Hash;

/// A fixed-window counter per key with a size bound.
#[derive(Debug)]
pub struct RateLimit<K> {
    limit: u32,
    window_s: u64,
    max_keys: usize,
    counts: HashMap<K, (u64, u32)>,
}

impl<K: Hash + Eq + Clone> RateLimit<K> {
    /// `limit` events per `window_s` seconds; at most `max_keys` keys tracked.
    pub fn new(limit: u32, window_s: u64, max_keys: usize) -> Self {
        RateLimit {
            limit,
            window_s,
            max_keys,
            counts: HashMap::new(),
        }
    }

    /// Whether `key` has reached its limit in the current window.
    pub fn is_limited(&self, key: &K, now_s: u64) -> bool {
        self.counts
            .get(key)
            .is_some_and(|&(start, n)| now_s < start + self.window_s && n >= self.limit)
    }

    /// Records one event for `key`.
    pub fn record(&mut self, key: K, now_s: u64) {
        if self.counts.len() >= self.max_keys {
            let window = self.window_s;
            self.counts.retain(|_, (start, _)| now_s < *start + window);
        }
        let entry = self.counts.entry(key).or_insert((now_s, 0));
        if now_s >= entry.0 + self.window_s {
            *entry = (now_s, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let mut r = RateLimit::new(2, 60, 10);
        r.record("a", 0);
        assert!(!r.is_limited(&"a", 1));
        r.record("a", 1);
        assert!(r.is_limited(&"a", 2));
        assert!(!r.is_limited(&"b", 2));
        assert!(!r.is_limited(&"a", 61));
    }
}
