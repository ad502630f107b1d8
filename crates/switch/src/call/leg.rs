//! One party's leg of a call: its dialog, where it is reached, and the
//! media the switch exchanges with it.

use super::{Identity, SdpOrigin, SessionTimer};
use crate::media_security::LegSecurity;
use crate::output::MediaCommand;
use crate::peer::Peer;
use bytes::Bytes;
use media::sdp::{self, Direction};
use media::Codec;
use sip::dialog::Dialog;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// One party's leg.
#[derive(Debug)]
pub struct Leg {
    /// The dialog, once established.
    pub dialog: Option<Dialog>,
    /// Where requests to this party go.
    pub peer: Peer,
    /// The switch's RTP port facing this party.
    pub port: u16,
    /// Codec and payload type this party receives.
    pub codec: Option<(Codec, u8)>,
    /// telephone-event payload type of this party.
    pub telephone_event: Option<u8>,
    /// This party's RTP address.
    pub remote_media: Option<SocketAddr>,
    /// SDP `o=` session id and version of what we sent this party.
    pub sdp: SdpOrigin,
    /// Whether this party has put the other on hold.
    pub holding: bool,
    /// Session timer (RFC 4028) this party refreshes: interval, expiry.
    pub session: Option<SessionTimer>,
    /// The extension this party is, if it is one of the tenant's phones.
    pub extension: Option<String>,
    /// Who this party is.
    pub identity: Identity,
    /// When this party last put the other on hold.
    pub held_at: Option<Instant>,
    /// SRTP or plain RTP with this party.
    pub security: LegSecurity,
    /// Our 2xx to this party carried an offer (its INVITE had no SDP: a
    /// delayed offer): its ACK brings the answer.
    pub offer_pending: bool,
    /// Whether its phone is still there (see [`super::Probe`]).
    pub probe: Option<super::Probe>,
    /// Whether the party named UPDATE in its `Allow` (connected-line
    /// identity is sent in one).
    pub allows_update: bool,
}

/// Whether a message's `Allow` names UPDATE (RFC 3311).
pub fn allows_update(headers: &sip::Headers) -> bool {
    headers.values(sip::Name::Allow).iter().any(|v| {
        String::from_utf8_lossy(v)
            .split(',')
            .any(|m| m.trim() == "UPDATE")
    })
}

impl Leg {
    /// A leg towards `peer` on the switch's `port` (0: none), before any
    /// dialog or SDP of the party.
    pub fn new(peer: Peer, port: u16, sdp: SdpOrigin) -> Leg {
        Leg {
            dialog: None,
            peer,
            port,
            codec: None,
            telephone_event: None,
            remote_media: None,
            sdp,
            holding: false,
            session: None,
            extension: None,
            identity: Identity::default(),
            held_at: None,
            security: LegSecurity::Plain,
            offer_pending: false,
            probe: None,
            allows_update: false,
        }
    }
}

impl Leg {
    /// Our SDP towards this party (media at `address`), with the given
    /// direction.
    pub fn sdp(&self, address: IpAddr, direction: Direction) -> Bytes {
        let codecs: Vec<(Codec, u8)> = self.codec.into_iter().collect();
        self.sdp_of(address, direction, &codecs)
    }

    /// Our SDP towards this party offering `codecs` (in order of preference).
    pub fn sdp_of(&self, address: IpAddr, direction: Direction, codecs: &[(Codec, u8)]) -> Bytes {
        let (profile, crypto) = self.security.sdp_parts();
        Bytes::from(sdp::write(&sdp::Offer {
            session_id: self.sdp.session_id,
            version: self.sdp.version,
            address,
            port: self.port,
            codecs,
            telephone_event: self.telephone_event,
            direction,
            profile,
            crypto,
        }))
    }

    /// Takes this party's SDP answer (or offer) for its media: codec,
    /// telephone-event and address. False if it has no usable audio.
    pub fn take_sdp(&mut self, audio: &sdp::Audio) -> bool {
        let Some(codec) = audio.codecs.first().copied() else {
            return false;
        };
        if audio.port == 0 {
            return false;
        }
        self.codec = Some(codec);
        self.telephone_event = audio.telephone_event;
        self.remote_media = audio.address.map(|ip| SocketAddr::new(ip, audio.port));
        true
    }

    /// The media engine's settings for this leg: where and how its party
    /// takes media (nothing until its SDP named an address and a codec).
    pub fn media_config(&self) -> Option<MediaCommand> {
        let (Some(remote), Some((codec, pt))) = (self.remote_media, self.codec) else {
            return None;
        };
        Some(MediaCommand::Configure {
            port: self.port,
            remote,
            signalling: Some(self.peer.addr.ip()),
            codec,
            pt,
            telephone_event: self.telephone_event,
            srtp: self.security.engine_keys(),
        })
    }
}
