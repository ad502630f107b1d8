//! The pool of RTP ports (even numbers; RTCP uses the next odd one).

use std::collections::VecDeque;

/// Free RTP ports, handed out least recently used first.
#[derive(Debug)]
pub struct Ports {
    free: VecDeque<u16>,
    total: usize,
    retired: std::collections::HashSet<u16>,
}

impl Ports {
    /// Every even port in `low..=high` whose RTCP neighbour is in range too.
    pub fn new(low: u16, high: u16) -> Ports {
        let first = low + (low % 2);
        let free: VecDeque<u16> = (first..high).step_by(2).collect();
        Ports {
            total: free.len(),
            free,
            retired: Default::default(),
        }
    }

    /// Takes a port.
    pub fn take(&mut self) -> Option<u16> {
        self.free.pop_front()
    }

    /// Returns a port (unless it was retired).
    pub fn give_back(&mut self, port: u16) {
        if !self.retired.contains(&port) {
            self.free.push_back(port);
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
        let mut p = Ports::new(20001, 20006);
        assert_eq!(p.take(), Some(20002));
        assert_eq!(p.take(), Some(20004));
        assert_eq!(p.take(), None, "20006 has no room for RTCP");
        p.give_back(20002);
        assert_eq!(p.in_use(), 1);
        p.retire(20004);
        p.give_back(20004);
        assert_eq!(p.in_use(), 0);
        assert_eq!(p.take(), Some(20002), "a retired port never comes back");
        assert_eq!(p.take(), None);
    }
}
