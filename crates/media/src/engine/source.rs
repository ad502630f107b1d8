//! What an endpoint sends its party: nothing, another endpoint's input
//! (a bridge), the music, its prompts, or the music until a new partner's
//! first packet (a handover without a silent gap).

use super::EndpointId;

/// What an endpoint sends to its party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Nothing.
    Silence,
    /// What another endpoint receives (a bridged call).
    Relay(EndpointId),
    /// The shared music-on-hold stream.
    Music,
    /// The endpoint's own prompt sequence.
    Prompt,
    /// Music still, until the first packet from `from` (then what it
    /// receives, as [`Source::Relay`]), for at most `frames_left` more
    /// music frames: a parked or held party hears no silent gap while the
    /// phone it is joined to starts sending.
    Handover {
        /// The endpoint it will relay from.
        from: EndpointId,
        /// Music frames left before it relays anyway.
        frames_left: u8,
    },
}

/// Music frames (20 ms each) a handover waits for the new party's first
/// packet at most: 1 s.
pub(super) const HANDOVER_FRAMES: u8 = 50;

impl Source {
    /// The endpoint whose input this source relays (or will, at handover).
    pub(super) fn relayed(self) -> Option<EndpointId> {
        match self {
            Source::Relay(from) | Source::Handover { from, .. } => Some(from),
            _ => None,
        }
    }
}
