//! Live calls by id, noting each call touched since the last save, so that
//! every change of a call reaches the store without each flow having to
//! remember to write it.

use crate::call::{Call, CallId};
use std::collections::{HashMap, HashSet};

/// The calls, and the ids changed (or removed) since [`CallMap::take_changed`].
#[derive(Default)]
pub struct CallMap {
    map: HashMap<CallId, Call>,
    changed: HashSet<CallId>,
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
        Some(call)
    }

    /// Adds a call.
    pub fn insert(&mut self, id: CallId, call: Call) {
        self.changed.insert(id);
        self.map.insert(id, call);
    }

    /// Removes a call.
    pub fn remove(&mut self, id: &CallId) -> Option<Call> {
        let call = self.map.remove(id)?;
        self.changed.insert(*id);
        Some(call)
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

    /// The ids changed or removed since the last call, emptied.
    pub fn take_changed(&mut self) -> Vec<CallId> {
        self.changed.drain().collect()
    }
}
