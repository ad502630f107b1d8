//! The pool of RTP ports (even numbers; RTCP uses the next odd one).
//!
//! Ports are handed out at random among the free ones, so nobody can tell
//! from one call's port which port the next call will get (the media
//! engine also accepts packets only from the party; this makes aiming at
//! a call in setup a matter of spraying the whole range).
//!
//! A port given back cools first: it waits in a queue behind the ports
//! freed after it, and goes back into the free ones only when the queue is
//! full. So a port is not handed out again the moment its call ends: late
//! packets of the old call do not reach the new one, and the media thread
//! that held it has closed its sockets before another thread opens them
//! (media threads each take their own commands, in their own order).

use std::collections::{HashSet, VecDeque};

/// Ports that cool at most, however large the range.
pub const MAX_COOLING: usize = 4096;

/// Free RTP ports, handed out in random order.
#[derive(Debug)]
pub struct Ports {
    free: Vec<u16>,
    /// Ports given back, oldest first; at most `cooling_cap`.
    cooling: VecDeque<u16>,
    /// A quarter of the range, at most [`MAX_COOLING`]: with the default
    /// 11,000 pairs, a port cools while 2,750 others are given back (over
    /// half a second at 2,000 calls/s).
    cooling_cap: usize,
    total: usize,
    retired: HashSet<u16>,
    /// xorshift64* state (never zero).
    rng: u64,
}

impl Ports {
    /// Every even port in `low..=high` whose RTCP neighbour is in range too;
    /// `seed` starts the random order (pass a random value).
    pub fn new(low: u16, high: u16, seed: u64) -> Ports {
        let first = low + (low % 2);
        let free: Vec<u16> = (first..high).step_by(2).collect();
        Ports {
            total: free.len(),
            cooling: VecDeque::new(),
            cooling_cap: (free.len() / 4).min(MAX_COOLING),
            free,
            retired: HashSet::new(),
            rng: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Takes a free port at random; when none is free, the one that has
    /// cooled longest (a port is never refused while one is unused).
    pub fn take(&mut self) -> Option<u16> {
        if self.free.is_empty() {
            return self.cooling.pop_front();
        }
        let i = (self.next_random() % self.free.len() as u64) as usize;
        Some(self.free.swap_remove(i))
    }

    /// Takes these ports out of the free ones (calls resumed after a
    /// restart keep their ports); ports outside the range are ignored.
    pub fn claim(&mut self, ports: &HashSet<u16>) {
        self.free.retain(|p| !ports.contains(p));
        self.cooling.retain(|p| !ports.contains(p));
    }

    /// Returns a port (unless it was retired); it cools before it is
    /// handed out again.
    pub fn give_back(&mut self, port: u16) {
        if self.retired.contains(&port) {
            return;
        }
        self.cooling.push_back(port);
        if self.cooling.len() > self.cooling_cap {
            self.free.extend(self.cooling.pop_front());
        }
    }

    /// Takes a port out of circulation for good (another process holds it).
    pub fn retire(&mut self, port: u16) {
        self.retired.insert(port);
    }

    /// Ports retired for good.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }

    /// Ports in use (retired ones do not count).
    pub fn in_use(&self) -> usize {
        self.total - self.free.len() - self.cooling.len() - self.retired.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_with_rtcp_room() {
        let mut p = Ports::new(20001, 20006, 7);
        let mut got = vec![p.take().unwrap(), p.take().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [20002, 20004]);
        assert_eq!(p.take(), None, "20006 has no room for RTCP");
        p.give_back(20002);
        assert_eq!(p.in_use(), 1);
        p.retire(20004);
        p.give_back(20004);
        assert_eq!(p.in_use(), 0);
        assert_eq!(p.take(), Some(20002), "a retired port never comes back");
        assert_eq!(p.take(), None);
    }

    #[test]
    fn claimed_ports_are_not_handed_out() {
        let mut p = Ports::new(20000, 20010, 3);
        p.claim(&[20002, 20006, 30000].into_iter().collect());
        assert_eq!(p.in_use(), 2);
        let mut got: Vec<u16> = std::iter::from_fn(|| p.take()).collect();
        got.sort_unstable();
        assert_eq!(got, [20000, 20004, 20008]);
    }

    #[test]
    fn a_port_given_back_cools_behind_the_ports_freed_after_it() {
        // 40 pairs: 10 cool.
        let mut p = Ports::new(20000, 20080, 9);
        let first: Vec<u16> = (0..40).map(|_| p.take().unwrap()).collect();
        assert_eq!(p.take(), None);
        p.give_back(first[0]);
        assert_eq!(p.in_use(), 39);
        assert_eq!(p.take(), Some(first[0]), "none free: the coolest is used");
        for &port in &first {
            p.give_back(port);
        }
        // Every call ends and starts again: the last 10 ports given back
        // are not among the next 30 handed out.
        let again: HashSet<u16> = (0..30).map(|_| p.take().unwrap()).collect();
        assert!(first[30..].iter().all(|port| !again.contains(port)));
        let rest: HashSet<u16> = std::iter::from_fn(|| p.take()).collect();
        assert_eq!(rest, first[30..].iter().copied().collect());
        assert_eq!(p.in_use(), 40);
    }

    #[test]
    fn claimed_ports_leave_the_cooling_ones_too() {
        let mut p = Ports::new(20000, 20080, 5);
        let a = p.take().unwrap();
        p.give_back(a);
        p.claim(&[a].into_iter().collect());
        let all: HashSet<u16> = std::iter::from_fn(|| p.take()).collect();
        assert!(!all.contains(&a));
        assert_eq!(all.len(), 39);
    }

    #[test]
    fn the_next_port_cannot_be_told_from_the_last() {
        let mut p = Ports::new(20000, 29999, 12345);
        let taken: Vec<u16> = (0..200).map(|_| p.take().unwrap()).collect();
        let sequential = taken.windows(2).filter(|w| w[1] == w[0] + 2).count();
        assert!(
            sequential < 5,
            "{sequential} of 199 steps were the next port"
        );
        let distinct: HashSet<_> = taken.iter().collect();
        assert_eq!(distinct.len(), 200);
    }
}
