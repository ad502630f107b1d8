//! A session timer (RFC 4028) a party refreshes.

use std::time::{Duration, Instant};

/// The interval agreed with a party and when the session expires unless
/// it refreshes (a re-INVITE or UPDATE) before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    /// The agreed `Session-Expires`.
    pub interval: Duration,
    /// The session ends at.
    pub expires: Instant,
}

impl SessionTimer {
    /// A session agreed at `now`.
    pub fn new(interval: Duration, now: Instant) -> SessionTimer {
        SessionTimer {
            interval,
            expires: now + interval,
        }
    }

    /// A refresh at `now`.
    pub fn refresh(&mut self, now: Instant) {
        self.expires = now + self.interval;
    }
}
