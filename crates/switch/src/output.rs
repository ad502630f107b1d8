//! What the core asks its shell to do.

use crate::peer::Peer;
use accounts::{Binding, CallRecord, ParkedCall};
use bytes::Bytes;
use media::Codec;
use std::net::{IpAddr, SocketAddr};

/// A write the shell must make to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Insert or refresh a binding.
    SaveBinding(Binding),
    /// Save a call record.
    SaveCallRecord(Box<CallRecord>),
    /// A call changed: its snapshot replaces the stored one.
    SaveCall(Box<crate::snapshot::CallSnapshot>),
    /// A call ended: its snapshot goes.
    RemoveCall(u64),
    /// A call was parked.
    SaveParked(Box<ParkedCall>),
    /// A parked call left the lot.
    RemoveParked {
        /// Tenant name.
        tenant: String,
        /// Position label.
        position: String,
    },
    /// Remove a binding.
    RemoveBinding {
        /// Tenant name.
        tenant: String,
        /// Extension number.
        extension: String,
        /// Contact URI.
        contact: String,
        /// `Some(t)`: it expired at `t` here, so it goes only while the
        /// stored copy expires by then (another node sharing the store may
        /// have taken a refresh meanwhile). `None`: it goes whatever.
        expired_by: Option<u64>,
    },
}

/// What the media engine must do. Endpoints are named by their RTP port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bind the port (and port + 1 for RTCP) and open an endpoint.
    Open(u16),
    /// Where and how the party behind the port takes media.
    Configure {
        /// Endpoint.
        port: u16,
        /// The party's RTP address (from its SDP).
        remote: SocketAddr,
        /// The IP the party's signalling comes from: media is accepted
        /// only from it or from `remote`'s IP.
        signalling: Option<IpAddr>,
        /// Codec and payload type it receives.
        codec: Codec,
        /// Payload type number of the codec.
        pt: u8,
        /// telephone-event payload type.
        telephone_event: Option<u8>,
        /// SRTP keys, when the leg is encrypted (boxed: keys are large and
        /// most legs are plain).
        srtp: Option<Box<media::engine::SrtpKeys>>,
    },
    /// Relay each endpoint's input to the other.
    Bridge(u16, u16),
    /// Play music on hold to the endpoint.
    Music(u16),
    /// Play prompts to the endpoint.
    Play(u16, Vec<crate::prompts::Prompt>),
    /// Send nothing.
    Silence(u16),
    /// Report (or not) silence from the party.
    WatchIdle(u16, bool),
    /// Close the endpoint and free the ports.
    Close(u16),
}

/// What the media engine reports, by endpoint port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key pressed by the party behind the endpoint.
    Dtmf(u16, char),
    /// The prompts finished.
    PromptDone(u16),
    /// The party sent no RTP for the idle timeout.
    Idle(u16),
    /// The port (or its RTCP neighbour) could not be opened: no media there.
    OpenFailed(u16, OpenFailure),
}

/// Why a media port could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenFailure {
    /// Something else holds the port (another process): it is retired.
    Taken,
    /// The process ran out of something (open files, memory): the port
    /// itself is fine and goes back to the pool.
    Exhausted,
}

/// One output of the core.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send bytes to a peer.
    Transmit(Peer, Bytes),
    /// Persist something.
    Store(StoreOp),
    /// Drive the media engine.
    Media(MediaCommand),
    /// A connection (TCP) carried an authenticated request or one of a
    /// dialog: keep it open while it is idle.
    TrustFlow(Peer),
    /// Something happened, for operators (boxed: events are larger than
    /// the other outputs).
    Event(Box<crate::switch_event::SwitchEvent>),
    /// Claim a parking position in the shared store; the answer comes
    /// back through `Switch::handle_claim` with the same id.
    Claim(Box<crate::switchboard::PositionClaim>),
    /// Ask the shared store which node holds a parking position; the
    /// answer comes back through `Switch::handle_located`.
    Locate(Box<crate::switchboard::PositionLookup>),
    /// Ask the operator's authorization service; its verdict comes back
    /// through `Switch::handle_verdict` with the same id.
    Authorize(Box<crate::external_authorization::AuthorizationRequest>),
    /// The outcome of an operator's move that waited for its claim in the
    /// shared store (`MoveStarted::Claiming`).
    MoveAnswered(Box<crate::switchboard::MoveAnswer>),
}
