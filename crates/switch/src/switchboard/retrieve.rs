//! Retrieving a parked call: any phone of the tenant dialing its number
//! gets a new leg joined to the parked party (the first claim wins), or the
//! announcement that nothing is parked there.

use super::park::FeatureCall;
use super::Switch;
use crate::call::{other, CallId, Joining, Leg, OkRetransmit, Side};
use crate::feature_refusal::FeatureRefusal;
use crate::lot::{Parked, Position};
use crate::output::{MediaCommand, Output, StoreOp};
use crate::respond;
use crate::time::Now;
use media::sdp::Direction;
use media::Codec;
use sip::dialog::Dialog;
use sip::Name;
use std::net::SocketAddr;
use tracing::{info, warn};

/// Whom failed retrievals count against: the extension, from its address.
fn retriever(call: &FeatureCall) -> (String, std::net::IpAddr) {
    (
        format!("{}/{}", call.tenant.name, call.ext.number),
        call.peer.addr.ip(),
    )
}

impl Switch {
    /// Counts a retrieval that found nothing against the retriever (per
    /// extension and source address): guessing codes is rate limited.
    pub(super) fn retrieval_missed(&mut self, now: Now, call: &FeatureCall) {
        self.retrieve_failures.record(retriever(call), now.unix_s());
    }

    pub(super) fn retrieve_request(&mut self, now: Now, call: FeatureCall, pos: Position) {
        let tenant = call.tenant.clone();
        let retrieval = pos.retrieval_number(&tenant.release_prefix);
        let limited = self
            .retrieve_failures
            .is_limited(&retriever(&call), now.unix_s());
        let parked = if limited {
            None
        } else {
            self.calls.lot.take(&tenant.name, &pos)
        };
        // A shared lot: another node may hold it (a request a node sent on
        // a phone's behalf is never sent on again).
        let from_node = call.req.headers.get(sip::Name::ParklineNode).is_some();
        if parked.is_none() && !limited && self.cfg.shared_lot && !from_node {
            return self.locate_then_retrieve(now, call, pos);
        }
        let Some(parked) = parked else {
            self.retrieval_missed(now, &call);
            let refusal = if limited {
                FeatureRefusal::TooManyAttempts { retrieval }
            } else {
                FeatureRefusal::NothingParked { retrieval }
            };
            return self.refuse_feature(now, call, refusal);
        };
        self.attach(now, call, parked);
    }

    /// Joins the retriever's new leg to the parked party.
    pub(super) fn attach(&mut self, now: Now, fc: FeatureCall, parked: Parked) {
        let id = parked.call;
        let party = self
            .calls
            .calls
            .get(&id)
            .map(|c| c.leg(parked.side).identity.clone());
        let Some(parked_identity) = party else {
            // A lot entry whose call is gone: forget it, and tell the
            // retriever there is nothing there (never leave it unanswered).
            warn!(call = id, position = %parked.position.label(), "lot entry without a call: dropped");
            self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
                tenant: fc.tenant.name.clone(),
                position: parked.position.label(),
            }));
            let retrieval = parked.retrieval.clone();
            return self.refuse_feature(now, fc, FeatureRefusal::NothingParked { retrieval });
        };
        let Some(port) = self.ports.take() else {
            let tenant = fc.tenant.name.clone();
            let pos = parked.position.clone();
            self.calls.lot.park(&tenant, pos, parked);
            let resp = self.response(&fc.req, 503, Some("No media ports available"));
            return self.reply(now, &fc.key, resp);
        };
        let waited = now.mono.saturating_duration_since(parked.since);
        let joining = Joining::Retrieval { waited };
        let side = other(parked.side);
        if !self.join_answered(now, &fc, (id, side), port, joining) {
            return;
        }
        // Out of the lot for good: out of the stored lot too, so the CLI
        // and the API tell the same.
        self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
            tenant: fc.tenant.name.clone(),
            position: parked.position.label(),
        }));
        let by = super::park_alerts::ParkEnd::Retrieved { by: &fc.ext.number };
        let at = (fc.tenant.name.as_str(), &parked);
        self.alert_parker(now, at, &parked_identity, by, waited);
        info!(call = id, retriever = %fc.ext.number, "retrieved");
    }

    /// Answers `fc` with a new leg on `side` of call `id` (the switch's
    /// `port` facing it), joined to the party on the other side: its codec
    /// preferred, its identity shown (and the other party told who joined).
    /// False if the call is gone (the port is freed).
    pub(super) fn join_answered(
        &mut self,
        now: Now,
        fc: &FeatureCall,
        (id, side): (CallId, Side),
        port: u16,
        joining: Joining,
    ) -> bool {
        let Some((codec, identity)) = self.calls.calls.get(&id).map(|c| {
            let l = c.leg(other(side));
            (l.codec.map(|c| c.0), l.identity.clone())
        }) else {
            self.release_port(port);
            return false;
        };
        self.outputs
            .push_back(Output::Media(MediaCommand::Open(port)));
        let mut leg = self.answered_leg(fc, port, codec);
        leg.extension = Some(fc.ext.number.clone());
        leg.identity = crate::call::Identity::new(fc.ext.name.clone(), fc.ext.number.clone());
        let pai = identity.name_addr(&fc.tenant.domain);
        let wire = self.answer_with(now, fc, &leg, Some(pai));
        let ok = (!fc.peer.is_reliable()).then(|| OkRetransmit {
            side,
            peer: fc.peer,
            wire,
            next: now.mono + self.cfg.timers.t1,
            interval: self.cfg.timers.t1,
            give_up: now.mono + self.cfg.timers.t1x64(),
        });
        let retriever = crate::call::Retriever {
            leg,
            ok,
            extension: fc.ext.number.clone(),
            joining,
        };
        if self
            .with_call(now, id, |call, ctx| call.attach(ctx, side, retriever))
            .is_none()
        {
            self.release_port(port);
            return false;
        }
        self.tell_connected(now, id, other(side));
        true
    }

    /// A leg for an INVITE the switch answers itself, on `port`.
    pub(super) fn answered_leg(
        &mut self,
        fc: &FeatureCall,
        port: u16,
        prefer: Option<Codec>,
    ) -> Leg {
        let codec = prefer
            .and_then(|p| fc.offer.codecs.iter().find(|(c, _)| *c == p))
            .or(fc.offer.codecs.first())
            .copied();
        Leg {
            dialog: Dialog::as_uas(&fc.req, &respond::tag_for(&self.cfg.secret, &fc.req)).ok(),
            peer: fc.peer,
            port,
            codec,
            telephone_event: fc.offer.telephone_event,
            remote_media: fc
                .offer
                .address
                .map(|ip| SocketAddr::new(ip, fc.offer.port)),
            sdp: crate::call::SdpOrigin::new(self.ids.number()),
            holding: false,
            session: None,
            extension: None,
            identity: Default::default(),
            held_at: None,
            security: fc.security.clone(),
            offer_pending: false,
            probe: None,
            allows_update: crate::call::allows_update(&fc.req.headers),
        }
    }

    /// Sends the 200 with our SDP (and P-Asserted-Identity); returns the bytes.
    pub(super) fn answer_with(
        &mut self,
        now: Now,
        fc: &FeatureCall,
        leg: &Leg,
        pai: Option<String>,
    ) -> bytes::Bytes {
        let mut ok = self.response(&fc.req, 200, None);
        ok.headers.push(Name::Contact, self.contact(fc.peer));
        if let Some(p) = pai {
            ok.headers.push(Name::PAssertedIdentity, p);
        }
        ok.headers.push(Name::ContentType, "application/sdp");
        ok.body = leg.sdp(self.cfg.media_address, Direction::SendRecv);
        let wire = ok.encode();
        self.reply(now, &fc.key, ok);
        wire
    }
}
