//! Whether the phones a parked call will ring back are still there. While
//! calls are parked, each parker's registered contacts get an OPTIONS every
//! probe interval; a contact whose probe goes unanswered for the probe
//! timeout counts as unreachable until it answers again, and a comeback
//! skips it — with no reachable contact left, the comeback goes straight
//! to the fallback instead of ringing a ghost. Plain data, no IO.

use sip::transaction::ClientKey;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// One registered contact of an extension.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContactKey {
    /// Tenant name.
    pub tenant: String,
    /// Extension number.
    pub extension: String,
    /// Contact URI as registered.
    pub contact: String,
}

/// What is known of one contact.
#[derive(Clone, Debug, Default)]
struct Contact {
    /// It missed its last probe (and has not answered since).
    unreachable: bool,
    /// The next probe goes at (`None`: now).
    next: Option<Instant>,
    /// The last probe sent (a late answer to it still counts).
    last: Option<ClientKey>,
    /// Silence until then means unreachable.
    waiting_until: Option<Instant>,
}

/// The contacts watched, and the probes out.
#[derive(Debug, Default)]
pub struct Reachability {
    contacts: HashMap<ContactKey, Contact>,
    by_probe: HashMap<ClientKey, ContactKey>,
}

impl Reachability {
    /// Watches exactly `wanted` (the parkers' contacts now): forgets the
    /// rest. Returns the contacts to probe now; note each sent with
    /// [`Reachability::probing`].
    pub fn due(&mut self, wanted: HashSet<ContactKey>, now: Instant) -> Vec<ContactKey> {
        self.contacts.retain(|k, _| wanted.contains(k));
        let contacts = &self.contacts;
        self.by_probe.retain(|_, k| contacts.contains_key(k));
        let mut due = Vec::new();
        for key in wanted {
            let c = self.contacts.entry(key.clone()).or_default();
            if c.waiting_until.is_some_and(|until| now >= until) {
                c.waiting_until = None;
                c.unreachable = true;
            }
            if c.waiting_until.is_none() && c.next.is_none_or(|at| now >= at) {
                due.push(key);
            }
        }
        due
    }

    /// A probe of `key` went out as `probe`; unanswered by `until` it says
    /// unreachable; the next goes `every` after this one.
    pub fn probing(
        &mut self,
        key: ContactKey,
        probe: ClientKey,
        now: Instant,
        (until, every): (Instant, Duration),
    ) {
        if let Some(c) = self.contacts.get_mut(&key) {
            if let Some(old) = c.last.replace(probe.clone()) {
                self.by_probe.remove(&old);
            }
            c.waiting_until = Some(until);
            c.next = Some(now + every);
            self.by_probe.insert(probe, key);
        }
    }

    /// A response to one of our probes: the contact is there. False if
    /// `probe` is not one of ours.
    pub fn answered(&mut self, probe: &ClientKey) -> bool {
        let Some(key) = self.by_probe.remove(probe) else {
            return false;
        };
        if let Some(c) = self.contacts.get_mut(&key) {
            c.unreachable = false;
            c.waiting_until = None;
        }
        true
    }

    /// Whether `key` missed its last probe.
    pub fn is_unreachable(&self, key: &ContactKey) -> bool {
        self.contacts.get(key).is_some_and(|c| c.unreachable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ContactKey {
        ContactKey {
            tenant: "acme".into(),
            extension: "333".into(),
            contact: "sip:333@10.0.0.1".into(),
        }
    }

    fn probe(n: u32) -> ClientKey {
        ClientKey {
            branch: format!("z9hG4bK{n}"),
            method: "OPTIONS".into(),
        }
    }

    #[test]
    fn a_silent_contact_is_unreachable_until_it_answers() {
        let mut r = Reachability::default();
        let t0 = Instant::now();
        let every = Duration::from_secs(60);
        let wanted = || HashSet::from([key()]);
        assert_eq!(r.due(wanted(), t0), vec![key()], "probed at once");
        r.probing(key(), probe(1), t0, (t0 + Duration::from_secs(8), every));
        assert!(r.due(wanted(), t0 + Duration::from_secs(7)).is_empty());
        assert!(!r.is_unreachable(&key()));
        r.due(wanted(), t0 + Duration::from_secs(8));
        assert!(r.is_unreachable(&key()), "no answer in 8 s");
        let later = t0 + every;
        assert_eq!(r.due(wanted(), later), vec![key()]);
        r.probing(
            key(),
            probe(2),
            later,
            (later + Duration::from_secs(8), every),
        );
        assert!(r.answered(&probe(2)));
        assert!(!r.is_unreachable(&key()), "it answered again");
        assert!(!r.answered(&probe(1)), "an old probe is forgotten");
    }

    #[test]
    fn contacts_no_longer_wanted_are_forgotten() {
        let mut r = Reachability::default();
        let t0 = Instant::now();
        r.due(HashSet::from([key()]), t0);
        r.probing(key(), probe(1), t0, (t0, Duration::from_secs(60)));
        r.due(HashSet::new(), t0);
        assert!(!r.answered(&probe(1)), "forgotten with its contact");
        assert!(!r.is_unreachable(&key()));
    }
}
