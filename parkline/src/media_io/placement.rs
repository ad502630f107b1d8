//! Which media thread (shard) holds which port: new endpoints go to the
//! least loaded shard, and a bridge whose legs are on two shards moves one
//! leg to the other's, so that every relayed packet is handled by one
//! thread without locks. A port reopened on another shard than the one
//! that last closed it waits for that shard (which may not have closed its
//! sockets yet: each shard takes its own queue at its own pace). Plain
//! bookkeeping, no threads: the router of [`super::MediaRouter`] acts on
//! its answers.

use std::collections::HashMap;

/// What a bridge of two ports needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BridgePlan {
    /// Both legs are on this shard.
    Local(usize),
    /// Leg `port` moves from shard `from` to shard `to` first.
    Move { port: u16, from: usize, to: usize },
    /// A leg is not open (its open failed): the shard of the other, if any.
    Unknown(Option<usize>),
}

/// Where a port opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opening {
    /// The shard that opens it.
    pub shard: usize,
    /// The shard that closed it last, when another: the open must wait
    /// until that shard has closed it.
    pub after: Option<usize>,
}

/// The shard of every open port, and how many each shard holds.
#[derive(Debug)]
pub struct Placement {
    shard_of: HashMap<u16, usize>,
    /// The shard each closed port was closed on (at most one entry per
    /// port of the range).
    closed_on: HashMap<u16, usize>,
    load: Vec<usize>,
}

impl Placement {
    /// `shards` threads (at least one).
    pub fn new(shards: usize) -> Placement {
        Placement {
            shard_of: HashMap::new(),
            closed_on: HashMap::new(),
            load: vec![0; shards.max(1)],
        }
    }

    /// Places a new endpoint on the least loaded shard (the lowest index
    /// among equals); an open port keeps its shard.
    pub fn open(&mut self, port: u16) -> Opening {
        if let Some(&shard) = self.shard_of.get(&port) {
            return Opening { shard, after: None };
        }
        let (shard, _) = self
            .load
            .iter()
            .enumerate()
            .min_by_key(|(i, n)| (**n, *i))
            .expect("at least one shard");
        self.load[shard] += 1;
        self.shard_of.insert(port, shard);
        let after = self.closed_on.remove(&port).filter(|&s| s != shard);
        Opening { shard, after }
    }

    /// Forgets a closed port, remembering its shard; the shard it was on.
    pub fn close(&mut self, port: u16) -> Option<usize> {
        let shard = self.shard_of.remove(&port)?;
        self.load[shard] -= 1;
        self.closed_on.insert(port, shard);
        Some(shard)
    }

    /// The shard of an open port.
    pub fn shard(&self, port: u16) -> Option<usize> {
        self.shard_of.get(&port).copied()
    }

    /// What bridging `a` and `b` takes; a move is booked at once (`b`
    /// joins `a`'s shard), so later commands for `b` go to its new shard.
    pub fn bridge(&mut self, a: u16, b: u16) -> BridgePlan {
        match (self.shard(a), self.shard(b)) {
            (Some(sa), Some(sb)) if sa == sb => BridgePlan::Local(sa),
            (Some(sa), Some(sb)) => {
                self.load[sb] -= 1;
                self.load[sa] += 1;
                self.shard_of.insert(b, sa);
                BridgePlan::Move {
                    port: b,
                    from: sb,
                    to: sa,
                }
            }
            (sa, sb) => BridgePlan::Unknown(sa.or(sb)),
        }
    }

    /// Endpoints per shard.
    #[cfg(test)]
    pub fn load(&self) -> &[usize] {
        &self.load
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_endpoints_spread_and_closed_ones_free_their_shard() {
        let mut p = Placement::new(2);
        assert_eq!(
            [p.open(10), p.open(12), p.open(14)].map(|o| o.shard),
            [0, 1, 0]
        );
        assert_eq!(p.open(10).shard, 0, "an open port keeps its shard");
        assert_eq!(p.close(10), Some(0));
        assert_eq!(p.close(10), None);
        assert_eq!(p.open(16).shard, 0, "shard 0 has room again");
        assert_eq!(p.load(), &[2, 1]);
    }

    #[test]
    fn a_port_reopened_elsewhere_waits_for_the_shard_that_closed_it() {
        let mut p = Placement::new(2);
        assert_eq!(
            p.open(10),
            Opening {
                shard: 0,
                after: None
            }
        );
        assert_eq!(p.open(12).shard, 1);
        assert_eq!(p.close(10), Some(0));
        assert_eq!([p.open(14).shard, p.open(16).shard], [0, 0]);
        // 10 comes back while shard 1 is the less loaded.
        assert_eq!(
            p.open(10),
            Opening {
                shard: 1,
                after: Some(0)
            }
        );
        assert_eq!(p.close(10), Some(1));
        assert_eq!(p.close(12), Some(1));
        // Back on the shard that closed it: its own queue keeps the order.
        assert_eq!(
            p.open(12),
            Opening {
                shard: 1,
                after: None
            }
        );
        assert_eq!(
            p.open(10),
            Opening {
                shard: 1,
                after: None
            }
        );
    }

    #[test]
    fn a_bridge_across_shards_moves_the_second_leg() {
        let mut p = Placement::new(2);
        let (a, b) = (10, 12);
        assert_eq!((p.open(a).shard, p.open(b).shard), (0, 1));
        assert_eq!(
            p.bridge(a, b),
            BridgePlan::Move {
                port: b,
                from: 1,
                to: 0
            }
        );
        assert_eq!(p.shard(b), Some(0));
        assert_eq!(p.load(), &[2, 0]);
        assert_eq!(p.bridge(a, b), BridgePlan::Local(0), "together now");
        assert_eq!(p.bridge(b, a), BridgePlan::Local(0));
        assert_eq!(p.bridge(a, 99), BridgePlan::Unknown(Some(0)));
        assert_eq!(p.open(14).shard, 1, "new endpoints fill the emptied shard");
    }

    #[test]
    fn one_shard_never_moves() {
        let mut p = Placement::new(1);
        let ports: Vec<u16> = (0..50).map(|i| 10_000 + 2 * i).collect();
        for &port in &ports {
            assert_eq!(p.open(port).shard, 0);
        }
        for w in ports.windows(2) {
            assert_eq!(p.bridge(w[0], w[1]), BridgePlan::Local(0));
        }
    }
}
