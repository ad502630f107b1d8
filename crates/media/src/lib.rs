//! Parkline's media core, sans-IO: RTP headers, G.711 with transcoding,
//! RFC 4733 telephone-events, the SDP the switch needs, audio clips, and the
//! relay/player engine. The shell owns the sockets and the clock.

#![warn(missing_docs)]

pub mod clip;
pub mod codec;
pub mod dtmf;
pub mod engine;
pub mod g711;
pub mod rtcp;
pub mod rtp;
pub mod sdes;
pub mod sdp;
pub mod srtp;

pub use clip::Clip;
pub use codec::Codec;
pub use engine::{EndpointId, Engine, Event, Source, Transmit};
