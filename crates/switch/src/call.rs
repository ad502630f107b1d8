//! The B2BUA call model: a call joins the caller's leg (A) and the callee's
//! leg (B), each its own dialog with its own tags, Call-ID, CSeq, route set
//! and RTP port on the switch. While ringing, B is a set of forks (one per
//! registered contact); the first to answer becomes B.

use crate::media_security::LegSecurity;
use crate::peer::Peer;
use accounts::CallRecord;
use bytes::Bytes;
use media::sdp::Audio;
use sip::transaction::{ClientKey, ServerKey};
use sip::Request;
mod comeback;
mod connected;
mod context;
mod ending;
mod event;
mod feature;
mod forking;
mod hold;
mod identity;
mod join;
mod lamp;
mod leg;
mod park;
mod probe;
mod refer;
mod retrieve;
mod sdp_origin;
pub mod session_timer;
mod time_limit;
mod timers;
mod transfer;

pub use comeback::RingBack;
pub use context::{CallCtx, Report};
pub use ending::{Ended, Ending};
pub use event::CallEvent;
pub use feature::CallFeature;
pub use forking::{cancel_of, ForkOutcome, ALLOW};
pub use identity::Identity;
pub use leg::{allows_update, Leg};
pub use probe::Probe;
pub use retrieve::{Joining, Retriever};
pub use sdp_origin::SdpOrigin;
pub use session_timer::SessionTimer;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
pub use time_limit::TimeLimit;
pub use timers::Due;
pub use transfer::TransferEnd;

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

/// The caller's side of call set-up, needed only until the call is
/// answered (or fails): its INVITE, transaction, offer and our tag.
#[derive(Debug)]
pub struct Setup {
    /// The caller's INVITE.
    pub invite: Request,
    /// Its server transaction.
    pub key: ServerKey,
    /// The caller's SDP offer.
    pub offer: Audio,
    /// Our To tag towards the caller.
    pub tag: String,
    /// The INVITE had no SDP (a delayed offer): `offer` is what the switch
    /// offers, in its 2xx; the caller answers in its ACK.
    pub delayed: bool,
}

/// Contacts being rung: our INVITEs and when ringing gives up.
#[derive(Debug)]
pub struct Forking {
    /// One INVITE per contact.
    pub forks: Vec<Fork>,
    /// Ringing gives up at.
    pub deadline: Instant,
}

/// A new call ringing the callee's contacts.
#[derive(Debug)]
pub struct Ringing {
    /// What answering the caller needs.
    pub setup: Setup,
    /// The callee's contacts ringing.
    pub forking: Forking,
    /// Whether the caller was told it rings (one 180, or a 183).
    pub told_ringing: bool,
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
    /// Given up as unreachable (a dead phone) if nothing at all answers by
    /// then, not even `100 Trying`; `None` once anything did.
    pub reply_by: Option<Instant>,
}

/// Where a call is in its life, carrying what is valid only there.
#[derive(Debug)]
pub enum Phase {
    /// The callee's contacts ring (boxed: the other phases are small, and
    /// most calls spend most of their life in them).
    Ringing(Box<Ringing>),
    /// B answered; waiting for A's ACK of our 2xx.
    Answered,
    /// Both sides talk (or hold).
    Established,
    /// One party waits in the parking lot (its position is the lot's);
    /// the other leg is gone. It comes back as this says.
    Parked(Comeback),
    /// The switch answered to play an announcement, then hangs up.
    Announcing,
    /// A parked call nobody retrieved rings the parker (or the fallback).
    Comeback(Forking),
    /// A party asked (REFER) that the other be connected to a target,
    /// whose phones ring; the two talk on until the target answers.
    Transferring(Box<Transfer>),
}

/// A blind transfer under way (RFC 3515).
#[derive(Debug)]
pub struct Transfer {
    /// The side that asked: its leg stays until the target answers.
    pub transferor: Side,
    /// Whether the transferor is still on (it may hang up meanwhile).
    pub transferor_on: bool,
    /// The leg towards the target: its port is taken; its dialog comes
    /// with the answer.
    pub target: Leg,
    /// What was dialed.
    pub number: String,
    /// Our INVITEs to the target's contacts.
    pub forking: Forking,
}

impl Phase {
    /// Whether the callee's contacts ring (a new call).
    pub fn is_ringing(&self) -> bool {
        matches!(self, Phase::Ringing(_))
    }

    /// Whether both parties are on (talking or holding), answered or not
    /// yet acknowledged.
    pub fn is_two_party(&self) -> bool {
        matches!(self, Phase::Answered | Phase::Established)
    }

    /// The INVITEs ringing, in a new call or a comeback.
    pub fn forks(&self) -> &[Fork] {
        match self {
            Phase::Ringing(r) => &r.forking.forks,
            Phase::Comeback(f) => &f.forks,
            Phase::Transferring(t) => &t.forking.forks,
            _ => &[],
        }
    }

    /// The INVITEs ringing, to change.
    pub fn forks_mut(&mut self) -> &mut [Fork] {
        match self {
            Phase::Ringing(r) => &mut r.forking.forks,
            Phase::Comeback(f) => &mut f.forks,
            Phase::Transferring(t) => &mut t.forking.forks,
            _ => &mut [],
        }
    }

    /// The set-up of a call still ringing.
    pub fn setup(&self) -> Option<&Setup> {
        match self {
            Phase::Ringing(r) => Some(&r.setup),
            _ => None,
        }
    }

    /// When this phase's own timer fires: ringing gives up, or the parked
    /// call comes back.
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Ringing(r) => Some(r.forking.deadline),
            Phase::Comeback(f) => Some(f.deadline),
            Phase::Transferring(t) => Some(t.forking.deadline),
            Phase::Parked(c) => Some(c.at),
            _ => None,
        }
    }
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
    /// The caller's leg.
    pub a: Leg,
    /// The callee's leg, once answered (its port is reserved from the start).
    pub b: Leg,
    /// Where it is, with what is valid only there.
    pub phase: Phase,
    /// Our INVITE whose 2xx made the last answered leg (a retransmission of
    /// that 2xx is acknowledged again).
    pub answered_by: Option<ClientKey>,
    /// 2xx retransmission towards A.
    pub ok: Option<OkRetransmit>,
    /// The record being written.
    pub record: CallRecord,
    /// Features used.
    pub features: BTreeSet<CallFeature>,
    /// What happened along the way, in order.
    pub events: Vec<CallEvent>,
    /// Whether the tenant's fallback has been tried for the comeback.
    pub fallback_tried: bool,
    /// The extension whose call out through a trunk this is: counted by the
    /// toll-fraud guard until the call ends.
    pub outbound_by: Option<String>,
    /// The deadline last put in the switchboard's timer heap for this
    /// call: the same one is not put twice (each input would add another).
    pub scheduled: Option<Instant>,
    /// How many of `events` were reported to operators (the rest are new).
    pub reported: usize,
    /// The time the operator's authorization service granted, if any.
    pub limit: Option<TimeLimit>,
}

impl Call {
    /// A new call whose callee's contacts will ring (their forks are added
    /// as they are sent) until `deadline`.
    pub fn ringing(
        tenant: String,
        (a, b): (Leg, Leg),
        setup: Setup,
        deadline: Instant,
        record: CallRecord,
    ) -> Call {
        let forking = Forking {
            forks: Vec::new(),
            deadline,
        };
        let phase = Phase::Ringing(Box::new(Ringing {
            setup,
            forking,
            told_ringing: false,
        }));
        Call::new(tenant, (a, b), phase, record)
    }

    /// A call the switch answered itself to play an announcement to the
    /// party on `a`; `ok` is our 2xx, resent until its ACK (UDP).
    pub fn announcement(
        tenant: String,
        a: Leg,
        ok: Option<OkRetransmit>,
        record: CallRecord,
    ) -> Call {
        let b = Leg::new(a.peer, 0, SdpOrigin::default());
        let mut call = Call::new(tenant, (a, b), Phase::Announcing, record);
        call.ok = ok;
        call
    }

    /// A call in `phase`, with nothing used or happened yet.
    pub fn new(tenant: String, (a, b): (Leg, Leg), phase: Phase, record: CallRecord) -> Call {
        Call {
            tenant,
            a,
            b,
            phase,
            answered_by: None,
            ok: None,
            record,
            features: BTreeSet::new(),
            events: Vec::new(),
            fallback_tried: false,
            outbound_by: None,
            scheduled: None,
            reported: 0,
            limit: None,
        }
    }

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
            self.phase.deadline(),
            self.ok.as_ref().map(|o| o.next.min(o.give_up)),
            self.a.session.map(|s| s.expires),
            self.b.session.map(|s| s.expires),
            self.probe_deadline(),
            self.silence_deadline(),
            self.time_limit_deadline(),
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

#[cfg(test)]
mod tests;
