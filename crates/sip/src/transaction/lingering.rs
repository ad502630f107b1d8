//! Transactions that are done and only wait out RFC 3261's timers (server:
//! J, L, I; client: M, D, K) to absorb retransmissions: compact records
//! instead of whole transactions.
//!
//! At thousands of calls per second most transactions are in this state
//! (32 s after a BYE's 200 or an INVITE's 2xx), so a record keeps only what
//! the remaining job needs: a 128-bit digest of the key, what to do with a
//! retransmission (the bytes to resend, if any) and when it expires. Expiries are kept in one first-in-first-out queue
//! per lifetime: every record of a queue lives equally long, so the queue
//! is in expiry order without a heap.

use super::churn_map::ChurnMap;
use bytes::Bytes;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, RandomState};
use std::time::{Duration, Instant};

/// What a lingering server transaction does with a retransmission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linger {
    /// A non-INVITE answered with a final response (timer J): a
    /// retransmitted request gets these bytes again.
    Answered(Bytes),
    /// An INVITE answered with a 2xx (RFC 6026 Accepted, timer L):
    /// retransmitted INVITEs are absorbed, ACKs belong to the dialog.
    Accepted,
    /// An INVITE whose non-2xx was acknowledged (Confirmed, timer I):
    /// retransmitted ACKs are absorbed.
    Confirmed,
}

/// What a lingering client transaction does with a retransmitted response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientLinger<P> {
    /// An INVITE answered with a 2xx (RFC 6026 Accepted, timer M): more
    /// 2xx (other forks', retransmissions) go up to the TU, which ACKs them.
    Accepted,
    /// An INVITE answered with a non-2xx (Completed, timer D): a
    /// retransmitted final response gets this ACK again, sent to this peer.
    Acked(P, Bytes),
    /// A non-INVITE with its final response (Completed, timer K):
    /// retransmitted responses are absorbed.
    Answered,
}

/// Bytes a record holds beyond its fixed size.
pub(super) trait Payload {
    fn payload(&self) -> usize;
}

impl Payload for Linger {
    fn payload(&self) -> usize {
        match self {
            Linger::Answered(b) => b.len(),
            Linger::Accepted | Linger::Confirmed => 0,
        }
    }
}

impl<P> Payload for ClientLinger<P> {
    fn payload(&self) -> usize {
        match self {
            ClientLinger::Acked(_, b) => b.len(),
            ClientLinger::Accepted | ClientLinger::Answered => 0,
        }
    }
}

/// A keyed 128-bit digest of a transaction key: the table's key. Two keys
/// collide with probability 2^-128 per pair, and a sender cannot aim for
/// a collision because the hash keys are drawn per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Digest(u64, u64);

struct Record<L> {
    linger: L,
    expires: Instant,
}

/// The records, their expiry queues and their memory.
pub(super) struct LingerTable<L> {
    records: ChurnMap<Digest, Record<L>>,
    /// One queue per lifetime, each in expiry order.
    queues: Vec<(Duration, VecDeque<(Instant, Digest)>)>,
    hash: (RandomState, RandomState),
    /// Bytes the records hold beyond their fixed size (the responses).
    payload: usize,
}

const QUEUE_ENTRY: usize = std::mem::size_of::<(Instant, Digest)>();

impl<L: Payload> LingerTable<L> {
    pub(super) fn new() -> LingerTable<L> {
        LingerTable {
            records: ChurnMap::new(),
            queues: Vec::new(),
            hash: (RandomState::new(), RandomState::new()),
            payload: 0,
        }
    }

    fn digest<K: Hash>(&self, key: &K) -> Digest {
        Digest(self.hash.0.hash_one(key), self.hash.1.hash_one(key))
    }

    /// Keeps `key` until `now + lifetime`. `now` never goes backwards
    /// between calls, so each lifetime's queue stays in order.
    pub(super) fn insert<K: Hash>(&mut self, key: &K, linger: L, now: Instant, lifetime: Duration) {
        let digest = self.digest(key);
        let expires = now + lifetime;
        self.payload += linger.payload();
        if let Some(old) = self.records.insert(digest, Record { linger, expires }) {
            self.payload -= old.linger.payload();
        }
        let queue = match self.queues.iter().position(|(l, _)| *l == lifetime) {
            Some(i) => &mut self.queues[i].1,
            None => {
                self.queues.push((lifetime, VecDeque::new()));
                &mut self.queues.last_mut().expect("just pushed").1
            }
        };
        queue.push_back((expires, digest));
    }

    /// What a retransmission of `key` gets, if `key` lingers.
    pub(super) fn get<K: Hash>(&self, key: &K) -> Option<&L> {
        self.records.get(&self.digest(key)).map(|r| &r.linger)
    }

    pub(super) fn contains<K: Hash>(&self, key: &K) -> bool {
        self.records.contains_key(&self.digest(key))
    }

    /// The earliest expiry.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.queues
            .iter()
            .filter_map(|(_, q)| q.front())
            .map(|(at, _)| *at)
            .min()
    }

    /// Forgets every record expired at `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        for (_, queue) in &mut self.queues {
            while let Some(&(at, digest)) = queue.front() {
                if at > now {
                    break;
                }
                queue.pop_front();
                // A key that lingered again since has a later expiry.
                if let Some(r) = self.records.get(&digest).filter(|r| r.expires == at) {
                    self.payload -= r.linger.payload();
                    self.records.remove(&digest);
                }
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Bytes held: the records' table, their responses and the queues'
    /// entries. The table stays allocated when the records expire.
    pub(super) fn bytes(&self) -> usize {
        let queued: usize = self.queues.iter().map(|(_, q)| q.len()).sum();
        self.records.table_bytes() + queued * QUEUE_ENTRY + self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::ServerKey;

    fn key(branch: &str) -> ServerKey {
        ServerKey {
            branch: branch.into(),
            sent_by: "127.0.0.1:5070".into(),
            method: "BYE".into(),
        }
    }

    #[test]
    fn records_expire_in_order_per_lifetime_and_release_their_bytes() {
        let t0 = Instant::now();
        let mut t = LingerTable::<Linger>::new();
        let long = Duration::from_secs(32);
        let short = Duration::from_secs(5);
        t.insert(
            &key("a"),
            Linger::Answered(Bytes::from(vec![0; 300])),
            t0,
            long,
        );
        t.insert(
            &key("b"),
            Linger::Confirmed,
            t0 + Duration::from_secs(1),
            short,
        );
        t.insert(
            &key("c"),
            Linger::Accepted,
            t0 + Duration::from_secs(2),
            long,
        );
        assert_eq!(t.len(), 3);
        assert_eq!(t.bytes(), t.records.table_bytes() + 3 * QUEUE_ENTRY + 300);
        assert_eq!(t.next_expiry(), Some(t0 + Duration::from_secs(6)));
        t.expire(t0 + Duration::from_secs(6));
        assert!(!t.contains(&key("b")) && t.contains(&key("a")));
        assert_eq!(t.next_expiry(), Some(t0 + long));
        t.expire(t0 + long);
        assert_eq!(t.get(&key("a")), None);
        assert_eq!(t.get(&key("c")), Some(&Linger::Accepted));
        t.expire(t0 + Duration::from_secs(34));
        assert_eq!(
            (t.len(), t.bytes(), t.next_expiry()),
            (0, t.records.table_bytes(), None),
            "only the empty table is left"
        );
    }

    #[test]
    fn a_key_that_lingers_again_keeps_its_later_expiry() {
        let t0 = Instant::now();
        let mut t = LingerTable::<Linger>::new();
        let life = Duration::from_secs(32);
        t.insert(&key("a"), Linger::Accepted, t0, life);
        t.insert(
            &key("a"),
            Linger::Answered(Bytes::from_static(b"x")),
            t0 + Duration::from_secs(10),
            life,
        );
        t.expire(t0 + life);
        assert_eq!(
            t.get(&key("a")),
            Some(&Linger::Answered(Bytes::from_static(b"x")))
        );
        t.expire(t0 + life + Duration::from_secs(10));
        assert_eq!((t.len(), t.bytes()), (0, t.records.table_bytes()));
    }

    #[test]
    fn keys_differing_in_any_part_are_different_records() {
        let t0 = Instant::now();
        let mut t = LingerTable::<Linger>::new();
        t.insert(&key("a"), Linger::Accepted, t0, Duration::from_secs(1));
        let mut other = key("a");
        other.method = "INVITE".into();
        assert!(!t.contains(&other));
        other = key("a");
        other.sent_by = "127.0.0.1:5071".into();
        assert!(!t.contains(&other));
    }
}
