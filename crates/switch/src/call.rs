//! The B2BUA call model: a call joins the caller's leg (A) and the callee's
//! leg (B), each its own dialog with its own tags, Call-ID, CSeq, route set
//! and RTP port on the switch. While ringing, B is a set of forks (one per
//! registered contact); the first to answer becomes B.

use crate::media_security::LegSecurity;
use crate::peer::Peer;
use accounts::CallRecord;
use bytes::Bytes;
use media::sdp::Audio;
use media::Codec;
use sip::dialog::Dialog;
use sip::transaction::{ClientKey, ServerKey};
use sip::Request;
mod event;
mod feature;
mod identity;
mod sdp_origin;
mod session_timer;

pub use event::CallEvent;
pub use feature::CallFeature;
pub use identity::Identity;
pub use sdp_origin::SdpOrigin;
pub use session_timer::SessionTimer;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Identifies a call inside the switch.
pub type CallId = u64;

/// Which side of a call.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Side {
    /// The caller.
    A,
    /// The callee.
    B,
}

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
}

/// One outgoing INVITE while ringing.
#[derive(Debug)]
pub struct Fork {
    /// Its client transaction.
    pub key: ClientKey,
    /// What was sent (for CANCEL and the dialog).
    pub invite: Request,
    /// Where it went.
    pub peer: Peer,
    /// Final status received, if any.
    pub final_status: Option<u16>,
    /// Whether `invite` carries the trunk's credentials (a challenge is
    /// answered once).
    pub authenticated: bool,
    /// The media protection `invite` offered.
    pub security: LegSecurity,
}

/// Where a call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Forks are ringing.
    Ringing,
    /// B answered; waiting for A's ACK of our 2xx.
    Answered,
    /// Both sides talk (or hold).
    Established,
    /// One party waits in the parking lot; the other leg is gone.
    Parked,
    /// The switch answered to play an announcement, then hangs up.
    Announcing,
    /// A parked call nobody retrieved rings the parker (or the fallback) back.
    Comeback,
}

/// Our 2xx to A, retransmitted until A's ACK (RFC 3261 §13.3.1.4).
#[derive(Debug)]
pub struct OkRetransmit {
    /// The side whose ACK ends it.
    pub side: Side,
    /// Where it goes.
    pub peer: Peer,
    /// The response bytes.
    pub wire: Bytes,
    /// Next send.
    pub next: Instant,
    /// Current interval.
    pub interval: Duration,
    /// Give up (and hang up) at.
    pub give_up: Instant,
}

/// A call.
#[derive(Debug)]
pub struct Call {
    /// Tenant name.
    pub tenant: String,
    /// The caller's INVITE.
    pub a_invite: Request,
    /// Its server transaction.
    pub a_key: ServerKey,
    /// The caller's SDP offer.
    pub a_offer: Audio,
    /// Our To tag towards A.
    pub a_tag: String,
    /// The caller's leg.
    pub a: Leg,
    /// The callee's leg, once answered (its port is reserved from the start).
    pub b: Leg,
    /// Outgoing INVITEs while ringing.
    pub forks: Vec<Fork>,
    /// Phase.
    pub phase: Phase,
    /// Ringing gives up at.
    pub ring_deadline: Option<Instant>,
    /// 2xx retransmission towards A.
    pub ok: Option<OkRetransmit>,
    /// Whether A was told it rings.
    pub ringing_sent: bool,
    /// The record being written.
    pub record: CallRecord,
    /// Features used.
    pub features: BTreeSet<CallFeature>,
    /// What happened along the way, in order.
    pub events: Vec<CallEvent>,
    /// While parked: when the parker is rung back, and who parked it.
    pub comeback: Option<Comeback>,
    /// Whether the tenant's fallback has been tried for the comeback.
    pub fallback_tried: bool,
    /// The extension whose call out through a trunk this is: counted by the
    /// toll-fraud guard until the call ends.
    pub outbound_by: Option<String>,
}

impl Call {
    /// A leg by side.
    pub fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// A leg by side, mutable.
    pub fn leg_mut(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Notes SRTP among the features once a leg uses it.
    pub fn note_security(&mut self) {
        if self.a.security.is_keyed() || self.b.security.is_keyed() {
            self.features.insert(CallFeature::Srtp);
        }
    }

    /// The earliest of the call's own timers.
    pub fn deadline(&self) -> Option<Instant> {
        [
            self.ring_deadline,
            self.ok.as_ref().map(|o| o.next.min(o.give_up)),
            self.comeback.as_ref().map(|c| c.at),
            self.a.session.map(|s| s.expires),
            self.b.session.map(|s| s.expires),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// When a parked call rings back, and whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comeback {
    /// When.
    pub at: Instant,
    /// The extension it rings (the parker).
    pub to: String,
}

/// The other side.
pub fn other(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}
