//! The two clocks the core is given: monotonic for timers, wall for expiries.

use std::time::Instant;

/// The current time, passed in by the caller on every event.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic time, for transaction timers and deadlines.
    pub mono: Instant,
    /// Milliseconds since the Unix epoch: call records, expiries, anything
    /// that must mean the same to another process.
    pub unix_ms: u64,
}

impl Now {
    /// Whole seconds since the Unix epoch (nonces, binding expiry).
    pub fn unix_s(&self) -> u64 {
        self.unix_ms / 1000
    }
}
