//! Every media thread's latest stream checkpoints, and their union, which
//! is what the store holds.

use std::collections::HashSet;
use store::MediaCheckpoint;

/// The latest checkpoints of each media thread.
#[derive(Default)]
pub struct Checkpoints {
    /// Per media thread: when its latest came (a count of arrivals, so
    /// later is larger) and its streams.
    shards: Vec<Latest>,
    arrivals: u64,
}

/// One media thread's latest checkpoints.
#[derive(Default)]
struct Latest {
    arrival: u64,
    streams: Vec<MediaCheckpoint>,
}

impl Checkpoints {
    /// Replaces media thread `shard`'s checkpoints and returns the union to
    /// store. A port in two threads' checkpoints (it moved to the thread of
    /// the leg it was bridged to, and the thread it left has not reported
    /// since) is taken from the thread that reported last.
    pub fn keep(&mut self, shard: usize, streams: Vec<MediaCheckpoint>) -> Vec<MediaCheckpoint> {
        if self.shards.len() <= shard {
            self.shards.resize_with(shard + 1, Latest::default);
        }
        self.arrivals += 1;
        self.shards[shard] = Latest {
            arrival: self.arrivals,
            streams,
        };
        self.union()
    }

    fn union(&self) -> Vec<MediaCheckpoint> {
        let mut newest_first: Vec<&Latest> = self.shards.iter().collect();
        newest_first.sort_by_key(|l| std::cmp::Reverse(l.arrival));
        let mut seen = HashSet::new();
        newest_first
            .iter()
            .flat_map(|l| &l.streams)
            .filter(|c| seen.insert(c.port))
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(port: u16, seq: u16) -> MediaCheckpoint {
        MediaCheckpoint {
            port,
            ssrc: 7,
            seq,
            ts: 0,
            roc: 0,
            at_ms: 0,
        }
    }

    fn seqs(mut union: Vec<MediaCheckpoint>) -> Vec<(u16, u16)> {
        union.sort_by_key(|c| c.port);
        union.iter().map(|c| (c.port, c.seq)).collect()
    }

    #[test]
    fn the_union_holds_each_port_once_from_the_thread_that_reported_last() {
        let mut c = Checkpoints::default();
        assert_eq!(
            seqs(c.keep(1, vec![at(10, 1), at(12, 1)])),
            [(10, 1), (12, 1)]
        );
        // Port 12 moved to thread 0, which reports before thread 1 does.
        assert_eq!(
            seqs(c.keep(0, vec![at(12, 5), at(14, 1)])),
            [(10, 1), (12, 5), (14, 1)]
        );
        // Thread 1 reports again, without 12.
        assert_eq!(
            seqs(c.keep(1, vec![at(10, 2)])),
            [(10, 2), (12, 5), (14, 1)]
        );
        // A thread that reports nothing drops its ports.
        assert_eq!(seqs(c.keep(0, vec![])), [(10, 2)]);
    }
}
