//! The two clocks the core is given: monotonic for timers, wall for expiries.

use std::time::Instant;

/// The current time, passed in by the caller on every event.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic time, for transaction timers and deadlines.
    pub mono: Instant,
    /// Seconds since the Unix epoch, for nonces and binding expiry.
    pub unix_s: u64,
    /// Milliseconds since the Unix epoch, for call records.
    pub unix_ms: u64,
}
