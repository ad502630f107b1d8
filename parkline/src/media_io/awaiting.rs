//! Endpoints on their way to a shard, and what came for them before they
//! did. A port can be booked to a shard again before its first trip there
//! has ended (here, away, and back, all still in the queues): each booking
//! is one arrival to wait for, and what was held for an earlier arrival is
//! carried out at that arrival, never lost or run against the wrong one.

use std::collections::{HashMap, VecDeque};

/// One entry of a port's queue.
#[derive(Debug, PartialEq)]
enum Step<T> {
    /// Something to carry out once the endpoint is here.
    Held(T),
    /// Another arrival is booked: what follows waits for it.
    NextArrival,
}

/// Ports awaited by one shard, each with what waits for it, in order.
#[derive(Debug)]
pub(super) struct Awaiting<T> {
    ports: HashMap<u16, VecDeque<Step<T>>>,
}

impl<T> Default for Awaiting<T> {
    fn default() -> Self {
        Awaiting {
            ports: HashMap::new(),
        }
    }
}

impl<T> Awaiting<T> {
    /// The endpoint on `port` is booked to come here (once more).
    pub fn expect(&mut self, port: u16) {
        match self.ports.get_mut(&port) {
            Some(steps) => steps.push_back(Step::NextArrival),
            None => {
                self.ports.insert(port, VecDeque::new());
            }
        }
    }

    /// Whether something for `port` must wait for an arrival.
    pub fn awaits(&self, port: u16) -> bool {
        self.ports.contains_key(&port)
    }

    /// Holds `item` for the last booked arrival of `port`; gives it back
    /// when nothing is awaited there (carry it out now).
    pub fn hold(&mut self, port: u16, item: T) -> Option<T> {
        match self.ports.get_mut(&port) {
            Some(steps) => {
                steps.push_back(Step::Held(item));
                None
            }
            None => Some(item),
        }
    }

    /// The endpoint on `port` has arrived (or its shard had none): what was
    /// held for this arrival, in order. What was held for a later booking
    /// stays, and the port stays awaited until that arrival.
    pub fn arrived(&mut self, port: u16) -> Vec<T> {
        let Some(steps) = self.ports.get_mut(&port) else {
            return Vec::new();
        };
        let mut now = Vec::new();
        while let Some(step) = steps.pop_front() {
            match step {
                Step::Held(item) => now.push(item),
                Step::NextArrival => return now,
            }
        }
        self.ports.remove(&port);
        now
    }

    /// Ports awaited.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ports.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_awaited_gives_the_item_back() {
        let mut a = Awaiting::default();
        assert_eq!(a.hold(4000, "play"), Some("play"));
        assert!(!a.awaits(4000));
        assert!(a.arrived(4000).is_empty());
    }

    #[test]
    fn what_came_first_is_carried_out_in_order_at_the_arrival() {
        let mut a = Awaiting::default();
        a.expect(4000);
        assert!(a.awaits(4000));
        assert_eq!(a.hold(4000, "configure"), None);
        assert_eq!(a.hold(4000, "bridge"), None);
        assert_eq!(a.hold(4002, "other"), Some("other"));
        assert_eq!(a.arrived(4000), vec!["configure", "bridge"]);
        assert!(!a.awaits(4000));
        assert_eq!(a.len(), 0);
    }

    #[test]
    fn a_second_booking_before_the_first_arrival_keeps_what_was_held() {
        // Booked here, sent on (held), booked here again: all before the
        // first arrival. The old map overwrote the first entry, so the
        // endpoint stayed here while the router thought it had gone on.
        let mut a = Awaiting::default();
        a.expect(4000);
        assert_eq!(a.hold(4000, "move on"), None);
        a.expect(4000);
        assert_eq!(a.hold(4000, "music"), None);
        assert_eq!(a.arrived(4000), vec!["move on"]);
        assert!(a.awaits(4000), "the second arrival is still awaited");
        assert_eq!(a.hold(4000, "close"), None);
        assert_eq!(a.arrived(4000), vec!["music", "close"]);
        assert!(!a.awaits(4000));
    }

    #[test]
    fn a_second_booking_with_nothing_held_waits_for_both_arrivals() {
        let mut a = Awaiting::<&str>::default();
        a.expect(4000);
        a.expect(4000);
        assert!(a.arrived(4000).is_empty());
        assert!(a.awaits(4000));
        assert!(a.arrived(4000).is_empty());
        assert!(!a.awaits(4000));
    }

    #[test]
    fn an_arrival_nobody_booked_changes_nothing() {
        let mut a = Awaiting::default();
        a.expect(4000);
        assert_eq!(a.hold(4000, "open"), None);
        assert!(a.arrived(4002).is_empty());
        assert_eq!(a.arrived(4000), vec!["open"]);
    }
}
