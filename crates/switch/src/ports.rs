//! The pool of RTP ports (even numbers; RTCP uses the next odd one).
//!
//! Ports are handed out at random among the free ones, so nobody can tell
//! from one call's port which port the next call will get (the media
//! engine also accepts packets only from the party; this makes aiming at
//! a call in setup a matter of spraying the whole range).

use std::collections::HashSet;

/// Free RTP ports, handed out in random order.
#[derive(Debug)]
pub struct Ports {
    free: Vec<u16>,
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

    /// Takes a free port at random.
    pub fn take(&mut self) -> Option<u16> {
        if self.free.is_empty() {
            return None;
        }
        let i = (self.next_random() % self.free.len() as u64) as usize;
        Some(self.free.swap_remove(i))
    }

    /// Takes these ports out of the free ones (calls resumed after a
    /// restart keep their ports); ports outside the range are ignored.
    pub fn claim(&mut self, ports: &HashSet<u16>) {
        self.free.retain(|p| !ports.contains(p));
    }

    /// Returns a port (unless it was retired).
    pub fn give_back(&mut self, port: u16) {
        if !self.retired.contains(&port) {
            self.free.push(port);
        }
    }

    /// Takes a port out of circulation for good (another process holds it).
    pub fn retire(&mut self, port: u16) {
        self.retired.insert(port);
    }

    /// Ports in use (retired ones do not count).
    pub fn in_use(&self) -> usize {
        self.total - self.free.len() - self.retired.len()
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
