//! The parking lot: where calls are parked (an extension of the PBX, or a
//! random code), per tenant, one call per position. Plain data, no IO.

use crate::call::{CallId, Side};
use std::collections::HashMap;
use std::time::Instant;

/// Where a call is parked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// Under an extension number of the tenant (`*70333`).
    Extension(String),
    /// Under a random code (`*70` → `*71*7250`).
    Code(String),
}

impl Position {
    /// The number to dial to retrieve it: release prefix + extension, or
    /// release prefix + `*` + code.
    pub fn retrieval_number(&self, release_prefix: &str) -> String {
        match self {
            Position::Extension(e) => format!("{release_prefix}{e}"),
            Position::Code(c) => format!("{release_prefix}*{c}"),
        }
    }

    /// The position a label names (the inverse of [`Position::label`]):
    /// `*7250` a code, anything else an extension.
    pub fn from_label(label: &str) -> Position {
        match label.strip_prefix('*') {
            Some(code) => Position::Code(code.to_string()),
            None => Position::Extension(label.to_string()),
        }
    }

    /// As shown in lists.
    pub fn label(&self) -> String {
        match self {
            Position::Extension(e) => e.clone(),
            Position::Code(c) => format!("*{c}"),
        }
    }
}

/// One parked call.
#[derive(Clone, Debug)]
pub struct Parked {
    /// The call (its parked party's leg is on `side`).
    pub call: CallId,
    /// Side of the parked party.
    pub side: Side,
    /// Extension that parked it.
    pub parker: String,
    /// When it was parked.
    pub since: Instant,
    /// Unix milliseconds of the same moment.
    pub since_ms: u64,
    /// Number that retrieves it.
    pub retrieval: String,
    /// Its position.
    pub position: Position,
}

/// Every parked call, by tenant and position.
#[derive(Debug, Default)]
pub struct Lot {
    slots: HashMap<(String, Position), Parked>,
    by_call: HashMap<CallId, (String, Position)>,
    /// Whether position lamps are watched (else `touched` stays empty).
    watching: bool,
    /// Positions taken or freed since [`Lot::take_touched`].
    touched: Vec<(String, Position)>,
}

impl Lot {
    /// Whether a position of a tenant is taken.
    pub fn is_taken(&self, tenant: &str, pos: &Position) -> bool {
        self.slots.contains_key(&(tenant.to_string(), pos.clone()))
    }

    /// Parks; refuses (returns false) when the position is taken.
    pub fn park(&mut self, tenant: &str, pos: Position, parked: Parked) -> bool {
        let key = (tenant.to_string(), pos);
        if self.slots.contains_key(&key) {
            return false;
        }
        self.by_call.insert(parked.call, key.clone());
        self.touch(&key);
        self.slots.insert(key, parked);
        true
    }

    fn touch(&mut self, key: &(String, Position)) {
        if self.watching {
            self.touched.push(key.clone());
        }
    }

    /// Starts (or stops) noting the positions taken and freed.
    pub fn watch(&mut self, on: bool) {
        self.watching = on;
        if !on {
            self.touched.clear();
        }
    }

    /// The positions (tenant, position) taken or freed since the last call.
    pub fn take_touched(&mut self) -> Vec<(String, Position)> {
        std::mem::take(&mut self.touched)
    }

    /// The call parked at a position of a tenant.
    pub fn at(&self, tenant: &str, pos: &Position) -> Option<&Parked> {
        self.slots.get(&(tenant.to_string(), pos.clone()))
    }

    /// Takes the call at a position (first claim wins: it is gone after).
    pub fn take(&mut self, tenant: &str, pos: &Position) -> Option<Parked> {
        let key = (tenant.to_string(), pos.clone());
        let parked = self.slots.remove(&key)?;
        self.by_call.remove(&parked.call);
        self.touch(&key);
        Some(parked)
    }

    /// Where a call is parked, if it is.
    pub fn of_call(&self, call: CallId) -> Option<&Parked> {
        let key = self.by_call.get(&call)?;
        self.slots.get(key)
    }

    /// Removes whatever a call has parked (its party hung up).
    pub fn remove_call(&mut self, call: CallId) -> Option<(String, Position, Parked)> {
        let key = self.by_call.remove(&call)?;
        let parked = self.slots.remove(&key)?;
        self.touch(&key);
        let (tenant, pos) = key;
        Some((tenant, pos, parked))
    }

    /// Parked calls, optionally of one tenant.
    pub fn list(&self, tenant: Option<&str>) -> Vec<(&str, &Position, &Parked)> {
        let mut v: Vec<_> = self
            .slots
            .iter()
            .filter(|((t, _), _)| tenant.is_none_or(|x| x == t))
            .map(|((t, p), parked)| (t.as_str(), p, parked))
            .collect();
        v.sort_by_key(|(_, _, p)| p.since);
        v
    }

    /// Number of parked calls.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
}

/// A random code of `len` digits not in use by the tenant. `draw` yields
/// random numbers (the caller's generator); codes are not sequential.
pub fn fresh_code(
    lot: &Lot,
    tenant: &str,
    len: u8,
    mut draw: impl FnMut() -> u64,
) -> Option<String> {
    let modulus = 10u64.pow(u32::from(len));
    for _ in 0..64 {
        let code = format!("{:0width$}", draw() % modulus, width = usize::from(len));
        if !lot.is_taken(tenant, &Position::Code(code.clone())) {
            return Some(code);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_holds_one_call_and_the_first_claim_wins() {
        let mut lot = Lot::default();
        let parked = |call| Parked {
            call,
            side: Side::A,
            parker: "333".into(),
            since: Instant::now(),
            since_ms: 0,
            retrieval: "*71333".into(),
            position: Position::Extension("333".into()),
        };
        let pos = Position::Extension("333".into());
        assert!(lot.park("acme", pos.clone(), parked(1)));
        assert!(
            !lot.park("acme", pos.clone(), parked(2)),
            "never two calls in one position"
        );
        assert!(
            lot.park("beta", pos.clone(), parked(3)),
            "positions are per tenant"
        );
        assert_eq!(lot.take("acme", &pos).unwrap().call, 1);
        assert!(
            lot.take("acme", &pos).is_none(),
            "a second claim finds nothing"
        );
        assert_eq!(lot.remove_call(3).unwrap().0, "beta");
        assert_eq!(lot.len(), 0);
    }

    #[test]
    fn random_codes_are_unique_and_sized() {
        let mut lot = Lot::default();
        let mut n = 0u64;
        let mut seen = std::collections::HashSet::new();
        for i in 0..50 {
            let code = fresh_code(&lot, "acme", 4, || {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                n >> 33
            })
            .unwrap();
            assert_eq!(code.len(), 4);
            assert!(seen.insert(code.clone()));
            let p = Parked {
                call: i,
                side: Side::A,
                parker: "1".into(),
                since: Instant::now(),
                since_ms: 0,
                retrieval: String::new(),
                position: Position::Code(code.clone()),
            };
            assert!(lot.park("acme", Position::Code(code), p));
        }
    }
}
