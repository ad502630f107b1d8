//! What a tick generates: packets of music and prompts, each its own RTP
//! header plus a reference to a 20 ms frame of a shared clip. The frame is
//! not copied per listener, so a sender can point at it (an iovec) and
//! thousands of parked calls share the same bytes of one music frame.

use super::EndpointId;
use crate::codec::Codec;
use crate::rtp;
use std::net::SocketAddr;

/// Which clip a frame comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClipRef {
    /// The music on hold.
    Music,
    /// A prompt, by its index in the configured prompts.
    Prompt(u16),
}

/// A 20 ms frame of a clip in one codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The clip.
    pub clip: ClipRef,
    /// The encoding.
    pub codec: Codec,
    /// Frame number (modulo the clip's length).
    pub index: u32,
}

/// A generated packet: send `header` then the bytes of `frame`
/// ([`super::Engine::frame`]) from endpoint `from` to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Endpoint to send from.
    pub from: EndpointId,
    /// Its local port.
    pub from_port: u16,
    /// Destination.
    pub to: SocketAddr,
    /// The RTP header (RFC 3550 §5.1), this listener's own.
    pub header: [u8; rtp::HEADER_LEN],
    /// The payload.
    pub frame: Frame,
}

/// A generated packet for an SRTP party, encrypted whole (the frame cannot
/// be shared: each party's keystream differs): send bytes `range` of
/// [`super::Engine::sealed_bytes`] from endpoint `from` to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Endpoint to send from.
    pub from: EndpointId,
    /// Destination.
    pub to: SocketAddr,
    /// Its bytes.
    pub range: std::ops::Range<usize>,
}
