//! Live calls by id, noting each call touched since the last save, so that
//! every change of a call reaches the store without each flow having to
//! remember to write it; and, while busy lamps are watched, the extensions
//! each touched call involved before and after, so that every lamp a change
//! may have changed is looked at.

use crate::call::{Call, CallId};
use std::collections::{HashMap, HashSet};

/// The calls, and the ids changed (or removed) since [`CallMap::take_changed`].
#[derive(Default)]
pub struct CallMap {
    map: HashMap<CallId, Call>,
    changed: HashSet<CallId>,
    /// Whether lamps are watched (else nothing below is noted).
    watching: bool,
    /// Calls touched since [`CallMap::take_touched`].
    touched: HashSet<CallId>,
    /// The extensions (tenant, number) touched calls involved before.
    touched_before: Vec<(String, String)>,
}

impl CallMap {
    /// A call, to read.
    pub fn get(&self, id: &CallId) -> Option<&Call> {
        self.map.get(id)
    }

    /// A call, to change: noted as changed.
    pub fn get_mut(&mut self, id: &CallId) -> Option<&mut Call> {
        let call = self.map.get_mut(id)?;
        self.changed.insert(*id);
        if self.watching && self.touched.insert(*id) {
            note_extensions(call, &mut self.touched_before);
        }
        Some(call)
    }

    /// Adds a call.
    pub fn insert(&mut self, id: CallId, call: Call) {
        self.changed.insert(id);
        if self.watching {
            self.touched.insert(id);
        }
        self.map.insert(id, call);
    }

    /// Removes a call.
    pub fn remove(&mut self, id: &CallId) -> Option<Call> {
        let call = self.map.remove(id)?;
        self.changed.insert(*id);
        if self.watching {
            note_extensions(&call, &mut self.touched_before);
        }
        Some(call)
    }

    /// Starts (or stops) noting the extensions of touched calls.
    pub fn watch(&mut self, on: bool) {
        self.watching = on;
        if !on {
            self.touched.clear();
            self.touched_before.clear();
        }
    }

    /// The extensions (tenant, number) whose lamps may have changed since
    /// the last call: those touched calls involved before and involve now.
    pub fn take_touched(&mut self) -> Vec<(String, String)> {
        let mut out = std::mem::take(&mut self.touched_before);
        for id in self.touched.drain() {
            if let Some(call) = self.map.get(&id) {
                note_extensions(call, &mut out);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every call.
    pub fn iter(&self) -> impl Iterator<Item = (&CallId, &Call)> {
        self.map.iter()
    }

    /// Number of calls.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether any call changed since the last [`CallMap::take_changed`].
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }

    /// Events calls gained since they were last asked for (from the calls
    /// changed since the last save: every new event comes with a change),
    /// each with its call's id and tenant.
    pub fn take_unreported(&mut self) -> Vec<(CallId, String, crate::call::CallEvent)> {
        let mut out = Vec::new();
        for id in &self.changed {
            let Some(call) = self.map.get_mut(id) else {
                continue;
            };
            let from = call.reported.min(call.events.len());
            for e in &call.events[from..] {
                out.push((*id, call.tenant.clone(), e.clone()));
            }
            call.reported = call.events.len();
        }
        out
    }

    /// The ids changed or removed since the last call, emptied.
    pub fn take_changed(&mut self) -> Vec<CallId> {
        self.changed.drain().collect()
    }
}

fn note_extensions(call: &Call, out: &mut Vec<(String, String)>) {
    for number in call.extensions() {
        out.push((call.tenant.clone(), number.to_string()));
    }
}
