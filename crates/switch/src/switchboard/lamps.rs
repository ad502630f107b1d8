//! Busy lamps: what an extension or park position shows now, and, after
//! each input, a NOTIFY to every subscription whose resource it changed.

use super::Switch;
use crate::lamp::{DialogState, Direction, Lamp, LampDialog};
use crate::subscriptions::Resource;
use crate::time::Now;
use std::collections::HashSet;

impl Switch {
    /// Tells the watchers of every extension and position the last input
    /// touched what changed. Nothing to do while nobody watches.
    pub(super) fn update_lamps(&mut self, now: Now) {
        if self.subs.is_empty() {
            return;
        }
        let mut resources: HashSet<Resource> = HashSet::new();
        for (tenant, number) in self.calls.calls.take_touched() {
            resources.insert(Resource::Extension { tenant, number });
        }
        for (tenant, position) in self.calls.lot.take_touched() {
            resources.insert(Resource::Position { tenant, position });
        }
        for resource in resources {
            for id in self.subs.watching(&resource) {
                self.show_changes(now, id);
            }
        }
    }

    /// What `resource` shows now.
    pub(super) fn lamp_of(&self, resource: &Resource) -> Lamp {
        match resource {
            Resource::Extension { tenant, number } => {
                let identities = self.shows_identities(tenant);
                let mut dialogs = Vec::new();
                for (id, call) in self.calls.calls.iter() {
                    if call.tenant == *tenant {
                        call.lamp_dialogs(*id, number, identities, &mut dialogs);
                    }
                }
                Lamp::of(dialogs)
            }
            Resource::Position { tenant, position } => {
                let Some(parked) = self.calls.lot.at(tenant, position) else {
                    return Lamp::default();
                };
                let remote = self
                    .calls
                    .calls
                    .get(&parked.call)
                    .filter(|_| self.shows_identities(tenant))
                    .map(|c| c.leg(parked.side).identity.clone());
                Lamp::of(vec![LampDialog {
                    id: format!("{}p", parked.call),
                    state: DialogState::Confirmed,
                    direction: Direction::Recipient,
                    remote,
                }])
            }
        }
    }

    /// Whether an extension is in a call (ringing or talking).
    pub(super) fn is_busy(&self, tenant: &str, number: &str) -> bool {
        self.lamp_of(&Resource::Extension {
            tenant: tenant.to_string(),
            number: number.to_string(),
        })
        .is_busy()
    }

    fn shows_identities(&self, tenant: &str) -> bool {
        self.dir.tenant(tenant).is_none_or(|t| t.lamp_identities)
    }
}
