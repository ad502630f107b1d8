//! Event subscriptions (RFC 6665) the switch serves as notifier: who
//! watches which extension or park position, in which dialog, until when,
//! and what it was last told. Bounded in total and per subscriber. Plain
//! data, no IO.

use crate::deadlines::Deadlines;
use crate::lamp::{Lamp, Package};
use crate::lot::Position;
use crate::peer::Peer;
use sip::dialog::Dialog;
use sip::transaction::ClientKey;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Identifies a subscription inside the switch.
pub type SubscriptionId = u64;

/// What a subscription watches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// An extension's calls.
    Extension {
        /// Tenant name.
        tenant: String,
        /// Extension number.
        number: String,
    },
    /// A park position.
    Position {
        /// Tenant name.
        tenant: String,
        /// The position.
        position: Position,
    },
}

/// The extension that subscribed (its tenant and number).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subscriber {
    /// Tenant name.
    pub tenant: String,
    /// Extension number.
    pub number: String,
}

/// One subscription.
#[derive(Debug)]
pub struct Subscription {
    /// Our dialog with the subscriber (we are its UAS).
    pub dialog: Dialog,
    /// Where NOTIFYs go.
    pub peer: Peer,
    /// Who subscribed.
    pub subscriber: Subscriber,
    /// What it watches.
    pub resource: Resource,
    /// The `entity` its documents name (the URI it subscribed to).
    pub entity: String,
    /// The tenant's domain, for identities in documents.
    pub domain: String,
    /// Which package.
    pub package: Package,
    /// It ends (unless refreshed) at.
    pub expires: Instant,
    /// Version of the next document (RFC 4235 §4.1: counts per subscription).
    pub version: u32,
    /// What the last NOTIFY said; `None` before the first.
    pub shown: Option<Lamp>,
    /// The NOTIFY awaiting its final response: the next waits for it
    /// (RFC 6665 §4.2.2), so bursts of changes coalesce.
    pub in_flight: Option<ClientKey>,
}

/// Why a subscription cannot be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The switch holds its maximum.
    Switch,
    /// The subscriber holds its maximum.
    Subscriber,
}

/// Every subscription and the indexes that find them.
#[derive(Debug)]
pub struct Subscriptions {
    by_id: HashMap<SubscriptionId, Subscription>,
    by_dialog: HashMap<sip::dialog::DialogId, SubscriptionId>,
    by_resource: HashMap<Resource, HashSet<SubscriptionId>>,
    per_subscriber: HashMap<Subscriber, usize>,
    by_notify: HashMap<ClientKey, SubscriptionId>,
    deadlines: Deadlines<SubscriptionId>,
    next_id: SubscriptionId,
    max: usize,
    max_per_subscriber: usize,
}

impl Subscriptions {
    /// An empty table holding at most `max`, `max_per_subscriber` each.
    pub fn new(max: usize, max_per_subscriber: usize) -> Subscriptions {
        Subscriptions {
            by_id: HashMap::new(),
            by_dialog: HashMap::new(),
            by_resource: HashMap::new(),
            per_subscriber: HashMap::new(),
            by_notify: HashMap::new(),
            deadlines: Deadlines::default(),
            next_id: 1,
            max,
            max_per_subscriber,
        }
    }

    /// Whether nothing is watched (so nobody needs to look for changes).
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Number of subscriptions.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Adds a subscription, or says which limit it would pass.
    pub fn add(&mut self, sub: Subscription) -> Result<SubscriptionId, Full> {
        if self.by_id.len() >= self.max {
            return Err(Full::Switch);
        }
        let count = self
            .per_subscriber
            .entry(sub.subscriber.clone())
            .or_default();
        if *count >= self.max_per_subscriber {
            return Err(Full::Subscriber);
        }
        *count += 1;
        let id = self.next_id;
        self.next_id += 1;
        self.by_dialog.insert(sub.dialog.id.clone(), id);
        self.by_resource
            .entry(sub.resource.clone())
            .or_default()
            .insert(id);
        self.deadlines.schedule(sub.expires, id);
        self.by_id.insert(id, sub);
        Ok(id)
    }

    /// Removes a subscription.
    pub fn remove(&mut self, id: SubscriptionId) -> Option<Subscription> {
        let sub = self.by_id.remove(&id)?;
        self.by_dialog.remove(&sub.dialog.id);
        if let Some(set) = self.by_resource.get_mut(&sub.resource) {
            set.remove(&id);
            if set.is_empty() {
                self.by_resource.remove(&sub.resource);
            }
        }
        if let Some(n) = self.per_subscriber.get_mut(&sub.subscriber) {
            *n -= 1;
            if *n == 0 {
                self.per_subscriber.remove(&sub.subscriber);
            }
        }
        if let Some(k) = &sub.in_flight {
            self.by_notify.remove(k);
        }
        Some(sub)
    }

    /// A subscription, to change.
    pub fn get_mut(&mut self, id: SubscriptionId) -> Option<&mut Subscription> {
        self.by_id.get_mut(&id)
    }

    /// The subscription of a dialog.
    pub fn by_dialog(&self, dialog: &sip::dialog::DialogId) -> Option<SubscriptionId> {
        self.by_dialog.get(dialog).copied()
    }

    /// The subscriptions watching `resource`.
    pub fn watching(&self, resource: &Resource) -> Vec<SubscriptionId> {
        self.by_resource
            .get(resource)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Moves a subscription's end to `at` (a refresh).
    pub fn extend(&mut self, id: SubscriptionId, at: Instant) {
        if let Some(s) = self.by_id.get_mut(&id) {
            s.expires = at;
            self.deadlines.schedule(at, id);
        }
    }

    /// Notes the NOTIFY `key` in flight for subscription `id`.
    pub fn notifying(&mut self, id: SubscriptionId, key: ClientKey) {
        if let Some(s) = self.by_id.get_mut(&id) {
            if let Some(old) = s.in_flight.replace(key.clone()) {
                self.by_notify.remove(&old);
            }
            self.by_notify.insert(key, id);
        }
    }

    /// The NOTIFY `key` has its final answer (or timed out): the
    /// subscription it was for, no longer waiting.
    pub fn notified(&mut self, key: &ClientKey) -> Option<SubscriptionId> {
        let id = self.by_notify.remove(key)?;
        if let Some(s) = self.by_id.get_mut(&id) {
            s.in_flight = None;
        }
        Some(id)
    }

    /// Whether `key` is one of our NOTIFYs.
    pub fn is_notify(&self, key: &ClientKey) -> bool {
        self.by_notify.contains_key(key)
    }

    /// The earliest time a subscription may expire.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// Subscriptions whose time is up at `now` (refreshed ones are skipped).
    pub fn expired(&mut self, now: Instant) -> Vec<SubscriptionId> {
        self.deadlines
            .pop_due(now)
            .into_iter()
            .filter(|id| self.by_id.get(id).is_some_and(|s| s.expires <= now))
            .collect()
    }
}
