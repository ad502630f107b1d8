//! The persisted form of a call: everything needed to carry it on in a new
//! process (both legs' dialogs, the media each party gets, the parking
//! position and deadlines, the record so far), as plain serde data.
//!
//! Times are Unix milliseconds: a monotonic instant means nothing to the
//! next process. A snapshot is written whenever a call changes and removed
//! when it ends; [`crate::Switch::resume`] rebuilds calls from them.

use crate::call::{Call, CallEvent, CallFeature, Leg, Phase, Side};
use crate::lot::{Parked, Position};
use crate::media_security::{LegSecurity, SrtpLeg};
use crate::peer::{Peer, Transport};
use crate::time::Now;
use accounts::CallRecord;
use media::sdp::Profile;
use media::Codec;
use serde::{Deserialize, Serialize};
use sip::dialog::{Dialog, DialogId};
use sip::{NameAddr, Request, Uri};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Bumped when the layout changes incompatibly; a snapshot of another
/// version is not resumed (its calls are ended, as far as they can be).
pub const VERSION: u32 = 1;

/// One call as persisted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallSnapshot {
    /// [`VERSION`] when written.
    pub version: u32,
    /// The call's id in the switch (kept across the restart).
    pub id: u64,
    /// Tenant name.
    pub tenant: String,
    /// Where the call is.
    pub state: CallState,
    /// The record so far.
    pub record: CallRecord,
    /// Features used so far.
    pub features: Vec<CallFeature>,
    /// What happened so far.
    pub events: Vec<CallEvent>,
    /// The extension whose trunk call this is (toll-fraud accounting).
    pub outbound_by: Option<String>,
    /// When the time the operator's service granted runs out, Unix
    /// milliseconds (a call resumed after a restart keeps its limit).
    #[serde(default)]
    pub limit_ends_ms: Option<u64>,
}

/// What a resumed call needs, by where it was.
// A snapshot travels boxed whole (`StoreOp::SaveCall`): its variants' sizes
// do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum CallState {
    /// Not answered yet: it cannot be carried on (the transactions are
    /// gone), so it is ended cleanly: a final answer to the caller and a
    /// CANCEL to every phone still ringing.
    Ringing {
        /// The caller's INVITE, as received.
        invite: String,
        /// Where the caller's answers go.
        caller: PeerState,
        /// Our outgoing INVITEs still ringing, as sent.
        forks: Vec<ForkState>,
    },
    /// Both parties (talking or holding).
    Talking {
        /// The caller.
        a: LegState,
        /// The callee.
        b: LegState,
    },
    /// One party in the lot.
    Parked {
        /// The parked party.
        party: LegState,
        /// Its side in the call.
        side: Side,
        /// Where, by whom, since when, and when it comes back.
        lot: LotState,
        /// Whether the tenant's fallback has been tried already.
        fallback_tried: bool,
    },
    /// The switch answered to play an announcement: nothing to carry on.
    Announcing {
        /// The party hearing it.
        party: LegState,
    },
}

/// A leg's dialog, media and identity.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LegState {
    /// The dialog with the party.
    pub dialog: DialogState,
    /// Where its requests go.
    pub peer: PeerState,
    /// The switch's RTP port facing it.
    pub port: u16,
    /// Codec and payload type it receives.
    pub codec: Option<(CodecName, u8)>,
    /// Its telephone-event payload type.
    pub telephone_event: Option<u8>,
    /// Its RTP address.
    pub remote_media: Option<SocketAddr>,
    /// `o=` session id and version of our last SDP to it.
    pub sdp_origin: (u64, u64),
    /// Whether it holds the other party.
    pub holding: bool,
    /// Since when (Unix ms), if holding.
    pub held_at_ms: Option<u64>,
    /// Session timer it refreshes: interval (s) and expiry (Unix ms).
    pub session: Option<(u64, u64)>,
    /// The extension it is, if one of the tenant's phones.
    pub extension: Option<String>,
    /// Who it is.
    pub identity: crate::call::Identity,
    /// SRTP with it, if any.
    pub srtp: Option<SrtpState>,
    /// Whether it takes UPDATE (connected-line identity goes in one).
    #[serde(default)]
    pub allows_update: bool,
}

/// A codec by name.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum CodecName {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl CodecName {
    fn of((codec, pt): (Codec, u8)) -> (CodecName, u8) {
        let name = match codec {
            Codec::Pcmu => CodecName::Pcmu,
            Codec::Pcma => CodecName::Pcma,
        };
        (name, pt)
    }

    fn codec((name, pt): (CodecName, u8)) -> (Codec, u8) {
        let codec = match name {
            CodecName::Pcmu => Codec::Pcmu,
            CodecName::Pcma => Codec::Pcma,
        };
        (codec, pt)
    }
}

/// A dialog (RFC 3261 §12) as text.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DialogState {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The party's tag.
    pub remote_tag: String,
    /// Our name-addr (From of our requests).
    pub local: String,
    /// The party's name-addr.
    pub remote: String,
    /// Where in-dialog requests go.
    pub remote_target: String,
    /// Route header values, in sending order.
    pub route_set: Vec<String>,
    /// CSeq of our last request.
    pub local_seq: u32,
    /// CSeq of the party's last request.
    pub remote_seq: Option<u32>,
}

/// Where a party is reached. A connection does not survive a restart: a
/// party on TCP or TLS is reached again once it connects anew.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerState {
    /// `udp`, `tcp` or `tls`.
    pub transport: TransportKind,
    /// Its address.
    pub addr: SocketAddr,
}

/// A transport without its connection.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS.
    Tls,
}

/// One of our INVITEs still ringing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ForkState {
    /// The INVITE as sent.
    pub invite: String,
    /// Where it went.
    pub peer: PeerState,
}

/// An SRTP leg's keys, as SDES `a=crypto` values.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SrtpState {
    /// Whether the party used `RTP/SAVP`.
    pub savp: bool,
    /// Our line.
    pub ours: String,
    /// The party's line (same tag and suite), once known.
    pub theirs: Option<String>,
}

/// A parked call's place in the lot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LotState {
    /// Extension position, or `None` for a code.
    pub extension: Option<String>,
    /// Code position.
    pub code: Option<String>,
    /// The number that retrieves it.
    pub retrieval: String,
    /// Extension that parked it.
    pub parker: String,
    /// Parked since, Unix ms.
    pub since_ms: u64,
    /// When it rings the parker back, Unix ms.
    pub comeback_ms: u64,
    /// Who the comeback rings (the parker, or the fallback once tried).
    pub comeback_to: String,
}

impl LotState {
    /// The position it names.
    pub fn position(&self) -> Option<Position> {
        match (&self.extension, &self.code) {
            (Some(e), None) => Some(Position::Extension(e.clone())),
            (None, Some(c)) => Some(Position::Code(c.clone())),
            _ => None,
        }
    }
}

/// Converts between a monotonic instant and Unix milliseconds at `now`.
#[derive(Clone, Copy, Debug)]
pub struct Clock(pub Now);

impl Clock {
    /// The Unix milliseconds of `at`.
    pub fn unix_ms(self, at: Instant) -> u64 {
        let Now { mono, unix_ms } = self.0;
        if at >= mono {
            unix_ms + (at - mono).as_millis() as u64
        } else {
            unix_ms.saturating_sub((mono - at).as_millis() as u64)
        }
    }

    /// The instant of Unix milliseconds `ms` (a past moment is now).
    pub fn instant(self, ms: u64) -> Instant {
        let Now { mono, unix_ms } = self.0;
        mono + Duration::from_millis(ms.saturating_sub(unix_ms))
    }

    /// The instant of a past moment (for ordering holds), never in the future.
    pub fn past(self, ms: u64) -> Instant {
        let Now { mono, unix_ms } = self.0;
        let ago = Duration::from_millis(unix_ms.saturating_sub(ms));
        mono.checked_sub(ago).unwrap_or(mono)
    }
}

impl PeerState {
    /// Of a live peer.
    pub fn of(peer: Peer) -> PeerState {
        let transport = match peer.transport {
            Transport::Udp => TransportKind::Udp,
            Transport::Tcp(_) => TransportKind::Tcp,
            Transport::Tls(_) => TransportKind::Tls,
        };
        PeerState {
            transport,
            addr: peer.addr,
        }
    }

    /// A peer to send to: a stream party's old connection is gone, so it
    /// gets one that names no open connection (sends are dropped) until
    /// `live` knows its new one.
    pub fn peer(self, live: Option<Peer>) -> Peer {
        let transport = match self.transport {
            TransportKind::Udp => Transport::Udp,
            TransportKind::Tcp => return live.unwrap_or(self.closed(Transport::Tcp)),
            TransportKind::Tls => return live.unwrap_or(self.closed(Transport::Tls)),
        };
        Peer {
            transport,
            addr: self.addr,
        }
    }

    fn closed(self, kind: fn(u64) -> Transport) -> Peer {
        Peer {
            transport: kind(CLOSED_CONNECTION),
            addr: self.addr,
        }
    }
}

/// A connection id the shell never hands out.
pub const CLOSED_CONNECTION: u64 = u64::MAX;

impl DialogState {
    /// Of a live dialog.
    pub fn of(d: &Dialog) -> DialogState {
        DialogState {
            call_id: d.id.call_id.clone(),
            local_tag: d.id.local_tag.clone(),
            remote_tag: d.id.remote_tag.clone(),
            local: d.local.to_string(),
            remote: d.remote.to_string(),
            remote_target: d.remote_target.to_string(),
            route_set: d
                .route_set
                .iter()
                .map(|r| String::from_utf8_lossy(r).into_owned())
                .collect(),
            local_seq: d.local_seq,
            remote_seq: d.remote_seq,
        }
    }

    /// The dialog again; `None` if any part no longer parses.
    pub fn dialog(&self) -> Option<Dialog> {
        Some(Dialog {
            id: DialogId {
                call_id: self.call_id.clone(),
                local_tag: self.local_tag.clone(),
                remote_tag: self.remote_tag.clone(),
            },
            local: NameAddr::parse(self.local.as_bytes()).ok()?,
            remote: NameAddr::parse(self.remote.as_bytes()).ok()?,
            remote_target: Uri::parse(self.remote_target.as_bytes()).ok()?,
            route_set: self
                .route_set
                .iter()
                .map(|r| bytes::Bytes::from(r.clone()))
                .collect(),
            local_seq: self.local_seq,
            remote_seq: self.remote_seq,
        })
    }
}

impl SrtpState {
    fn of(security: &LegSecurity) -> Option<SrtpState> {
        let LegSecurity::Srtp(leg) = security else {
            return None;
        };
        let theirs = leg.theirs.as_ref().map(|key| {
            media::sdes::Crypto {
                tag: leg.ours.tag,
                suite: leg.ours.suite,
                key: key.clone(),
            }
            .value()
        });
        Some(SrtpState {
            savp: leg.profile == Profile::Savp,
            ours: leg.ours.value(),
            theirs,
        })
    }

    fn security(&self) -> Option<LegSecurity> {
        let ours = media::sdes::parse(&self.ours).ok()?;
        let theirs = match &self.theirs {
            Some(t) => Some(media::sdes::parse(t).ok()?.key),
            None => None,
        };
        Some(LegSecurity::Srtp(SrtpLeg {
            profile: if self.savp {
                Profile::Savp
            } else {
                Profile::Avp
            },
            ours,
            theirs,
        }))
    }
}

impl LegState {
    /// Of a leg with a dialog (`None` without one: nothing to resume).
    pub fn of(leg: &Leg, clock: Clock) -> Option<LegState> {
        Some(LegState {
            dialog: DialogState::of(leg.dialog.as_ref()?),
            peer: PeerState::of(leg.peer),
            port: leg.port,
            codec: leg.codec.map(CodecName::of),
            telephone_event: leg.telephone_event,
            remote_media: leg.remote_media,
            sdp_origin: (leg.sdp.session_id, leg.sdp.version),
            holding: leg.holding,
            held_at_ms: leg.held_at.map(|t| clock.unix_ms(t)),
            session: leg
                .session
                .map(|s| (s.interval.as_secs(), clock.unix_ms(s.expires))),
            extension: leg.extension.clone(),
            identity: leg.identity.clone(),
            srtp: SrtpState::of(&leg.security),
            allows_update: leg.allows_update,
        })
    }

    /// The leg again, reached through `peer`; `None` if its dialog or keys
    /// no longer parse.
    pub fn leg(&self, peer: Peer, clock: Clock) -> Option<Leg> {
        let security = match &self.srtp {
            Some(s) => s.security()?,
            None => LegSecurity::Plain,
        };
        Some(Leg {
            dialog: Some(self.dialog.dialog()?),
            peer,
            port: self.port,
            codec: self.codec.map(CodecName::codec),
            telephone_event: self.telephone_event,
            remote_media: self.remote_media,
            sdp: crate::call::SdpOrigin {
                session_id: self.sdp_origin.0,
                version: self.sdp_origin.1,
            },
            holding: self.holding,
            session: self.session.map(|(secs, at)| crate::call::SessionTimer {
                interval: Duration::from_secs(secs),
                expires: clock.instant(at),
            }),
            extension: self.extension.clone(),
            identity: self.identity.clone(),
            held_at: self.held_at_ms.map(|ms| clock.past(ms)),
            security,
            offer_pending: false,
            probe: None,
            allows_update: self.allows_update,
        })
    }
}

impl CallSnapshot {
    /// The snapshot of a call, with its lot entry when parked. `None` for a
    /// call with nothing to carry on or end (no dialog yet and no INVITE).
    pub fn of(id: u64, call: &Call, parked: Option<&Parked>, clock: Clock) -> Option<CallSnapshot> {
        let state = match &call.phase {
            Phase::Ringing(ringing) => CallState::Ringing {
                invite: String::from_utf8_lossy(&ringing.setup.invite.encode()).into_owned(),
                caller: PeerState::of(call.a.peer),
                forks: ringing
                    .forking
                    .forks
                    .iter()
                    .filter(|f| f.final_status.is_none())
                    .map(|f| ForkState {
                        invite: String::from_utf8_lossy(&f.invite.encode()).into_owned(),
                        peer: PeerState::of(f.peer),
                    })
                    .collect(),
            },
            // A transfer under way is not carried over a restart: the two
            // parties go on as before it.
            Phase::Answered | Phase::Established | Phase::Transferring(_) => CallState::Talking {
                a: LegState::of(&call.a, clock)?,
                b: LegState::of(&call.b, clock)?,
            },
            Phase::Parked(_) | Phase::Comeback(_) => {
                // While parked (and while the comeback rings) only the
                // parked party's leg has a dialog.
                let side = if call.a.dialog.is_some() {
                    Side::A
                } else {
                    Side::B
                };
                let comeback = match &call.phase {
                    Phase::Parked(c) => Some(c),
                    _ => None,
                };
                let (comeback_at, comeback_to) = match (comeback, parked) {
                    (Some(c), _) => (clock.unix_ms(c.at), c.to.clone()),
                    // The comeback rang when the process stopped: it rings
                    // again at once after the restart.
                    (None, Some(p)) => (clock.0.unix_ms, p.parker.clone()),
                    (None, None) => (
                        clock.0.unix_ms,
                        call.leg(crate::call::other(side))
                            .extension
                            .clone()
                            .unwrap_or_default(),
                    ),
                };
                let lot = LotState {
                    extension: parked.and_then(|p| match &p.position {
                        Position::Extension(e) => Some(e.clone()),
                        Position::Code(_) => None,
                    }),
                    code: parked.and_then(|p| match &p.position {
                        Position::Code(c) => Some(c.clone()),
                        Position::Extension(_) => None,
                    }),
                    retrieval: parked.map(|p| p.retrieval.clone()).unwrap_or_default(),
                    parker: parked
                        .map(|p| p.parker.clone())
                        .unwrap_or_else(|| comeback_to.clone()),
                    since_ms: parked.map_or(clock.0.unix_ms, |p| p.since_ms),
                    comeback_ms: comeback_at,
                    comeback_to,
                };
                CallState::Parked {
                    party: LegState::of(call.leg(side), clock)?,
                    side,
                    lot,
                    fallback_tried: call.fallback_tried,
                }
            }
            // A feature call's caller is on A; a parked party hearing the
            // comeback's goodbye may be on either side.
            Phase::Announcing => CallState::Announcing {
                party: LegState::of(&call.a, clock).or_else(|| LegState::of(&call.b, clock))?,
            },
        };
        Some(CallSnapshot {
            version: VERSION,
            id,
            tenant: call.tenant.clone(),
            state,
            record: call.record.clone(),
            features: call.features.iter().copied().collect(),
            events: call.events.clone(),
            outbound_by: call.outbound_by.clone(),
            limit_ends_ms: call.time_limit_deadline().map(|at| clock.unix_ms(at)),
        })
    }
}

/// A stored request parsed back.
pub fn request(text: &str) -> Option<Request> {
    let bytes = bytes::Bytes::copy_from_slice(text.as_bytes());
    match sip::parse_datagram(&bytes, &sip::Limits::default()) {
        Ok(Some(sip::Message::Request(r))) => Some(r),
        _ => None,
    }
}
