//! The `o=` line of the SDP the switch sends a party (RFC 4566 §5.2).

use serde::{Deserialize, Serialize};

/// Session id and version of our SDP towards one party: the id stays for
/// the call, the version grows with every new offer or answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdpOrigin {
    /// Session id (random per leg).
    pub session_id: u64,
    /// Version.
    pub version: u64,
}

impl SdpOrigin {
    /// A new session's origin, version 1.
    pub fn new(session_id: u64) -> SdpOrigin {
        SdpOrigin {
            session_id,
            version: 1,
        }
    }

    /// The next version (a changed SDP).
    pub fn bump(&mut self) {
        self.version += 1;
    }
}
