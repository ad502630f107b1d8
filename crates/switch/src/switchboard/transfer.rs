//! Blind transfer (RFC 3515), the switchboard's part: a REFER to any number
//! the transferor could dial is authorized as a call from the transferor,
//! its target rung on behalf of the transferee (whose identity the target
//! sees), and the call told how it goes.

use super::calls::OutgoingInvite;
use super::Switch;
use crate::authorize::{self, CallRequest, Caller, Decision, Route};
use crate::call::{CallId, Leg, SdpOrigin, Side, TransferEnd};
use crate::media_security::LegSecurity;
use crate::output::{MediaCommand, Output};
use crate::time::Now;
use accounts::{Extension, Outcome, Tenant};
use bytes::Bytes;
use media::sdp::Direction;
use media::Codec;
use sip::transaction::ServerKey;
use sip::Request;
use tracing::info;

/// A blind transfer the rules route: what waits for the operator's
/// service, when one decides.
pub(super) struct RoutedTransfer {
    pub id: CallId,
    pub side: Side,
    pub ext: Extension,
    pub key: ServerKey,
    pub req: Request,
    pub tenant: Tenant,
    pub number: String,
    pub route: Route,
}

impl Switch {
    /// REFER to `number` from the party on `side` (the transferor, the
    /// extension `ext`): the other party is connected to it.
    pub(super) fn blind_transfer(
        &mut self,
        now: Now,
        id: CallId,
        (side, ext): (Side, Extension),
        (key, req): (ServerKey, Request),
        (tenant, number): (Tenant, String),
    ) {
        let refuse = |sw: &mut Switch, status: u16, reason: &str| {
            info!(call = id, status, reason, "transfer refused");
            let resp = sw.response(&req, status, Some(reason));
            sw.reply(now, &key, resp);
        };
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        // Answered but not yet acknowledged counts: the caller's ACK may
        // still be on its way when the callee presses Transfer.
        if !call.phase.is_two_party() {
            return refuse(self, 491, "Request Pending");
        }
        let caller = Caller::Extension(ext.clone());
        let request = CallRequest {
            tenant: &tenant,
            caller: &caller,
            dialed: &number,
        };
        let route = match authorize::decide(&self.dir, &self.registrar, &request) {
            Decision::Refuse(status, reason) => return refuse(self, status, reason),
            Decision::Route(r) => r,
        };
        let transfer = RoutedTransfer {
            id,
            side,
            ext,
            key,
            req,
            tenant,
            number,
            route,
        };
        if self.authorizations.is_some() {
            let question = (
                crate::external_authorization::AuthorizationKind::Transfer,
                transfer.tenant.name.clone(),
                transfer.ext.number.clone(),
                transfer.number.clone(),
            );
            let held = super::authorization::Suspended::Transfer(Box::new(transfer));
            return self.ask_operator(now, question, held);
        }
        self.transfer_routed(now, transfer);
    }

    /// A transfer the rules (and the operator's service) allow: its target
    /// rings, if the call is still there to transfer.
    pub(super) fn transfer_routed(&mut self, now: Now, transfer: RoutedTransfer) {
        let RoutedTransfer {
            id,
            side,
            ext,
            key,
            req,
            tenant,
            number,
            route,
        } = transfer;
        let refuse = |sw: &mut Switch, status: u16, reason: &str| {
            info!(call = id, status, reason, "transfer refused");
            let resp = sw.response(&req, status, Some(reason));
            sw.reply(now, &key, resp);
        };
        let Some(call) = self.calls.calls.get(&id) else {
            return refuse(self, 481, "Call Leg/Transaction Does Not Exist");
        };
        if !call.phase.is_two_party() {
            return refuse(self, 491, "Request Pending");
        }
        let transferee = call.leg(crate::call::other(side));
        let (shown, codec) = (transferee.identity.clone(), transferee.codec);
        if let Route::Trunk { .. } = &route {
            if let Err(r) = self.outbound.admit(&tenant, &ext, now.unix_s()) {
                return refuse(self, 403, r.reason());
            }
            // Counted against the limits on live calls only while the call
            // lasts, and only once.
            match self.calls.calls.get_mut(&id) {
                Some(c) if c.outbound_by.is_none() => c.outbound_by = Some(ext.number.clone()),
                _ => self.outbound.ended(&tenant.name, &ext.number, now.unix_s()),
            }
        }
        let targets = self.targets(&route, &tenant);
        let Some(first) = targets.first().map(|t| t.peer) else {
            return refuse(self, 480, "Temporarily Unavailable");
        };
        let Some(port) = self.ports.take() else {
            return refuse(self, 503, "No media ports available");
        };
        let accepted = self.response(&req, 202, None);
        self.reply(now, &key, accepted);
        self.notify_sipfrag(now, id, side, "SIP/2.0 100 Trying", "active;expires=60");
        self.outputs
            .push_back(Output::Media(MediaCommand::Open(port)));
        // Its peer is the answering contact's, once one answers.
        let mut target = Leg::new(first, port, SdpOrigin::new(self.ids.number()));
        if let Route::Extension { number, name, .. } = &route {
            target.extension = Some(number.clone());
            target.identity = crate::call::Identity::new(name.clone(), number.clone());
        } else {
            target.identity = crate::call::Identity::new("", number.clone());
        }
        let from = shown.name_addr(&tenant.domain);
        let policy = tenant.srtp.unwrap_or(self.cfg.srtp);
        let mut forks = Vec::new();
        for to in targets {
            let security = LegSecurity::offering(policy, to.peer, &mut self.keys);
            let body = self.offer_for(codec, &target, &security);
            let out = OutgoingInvite {
                target: to,
                from: &from,
                max_forwards: 70,
                body,
                security,
                to_node: false,
            };
            if let Some(fork) = self.send_fork(now, id, out) {
                forks.push(fork);
            }
        }
        self.drain_layer();
        if forks.is_empty() {
            self.ports.give_back(port);
            self.outputs
                .push_back(Output::Media(MediaCommand::Close(port)));
            let frag = "SIP/2.0 480 Temporarily Unavailable";
            return self.notify_sipfrag(now, id, side, frag, "terminated;reason=noresource");
        }
        info!(call = id, transferor = %ext.number, to = %number, forks = forks.len(), "transfer ringing");
        let deadline = now.mono + self.cfg.no_answer_timeout;
        self.with_call(now, id, |call, ctx| {
            call.start_transfer(ctx, side, number, target, (forks, deadline))
        });
    }

    /// A transfer's target did not take the call.
    pub(super) fn transfer_failed(&mut self, now: Now, id: CallId, status: u16) {
        let end = self.with_call(now, id, |call, ctx| call.transfer_failed(ctx, status));
        if end == Some(TransferEnd::Ends) {
            let cause = "transfer target did not answer";
            self.end_call(now, id, None, Outcome::Answered, status, cause);
        }
    }

    /// Our offer for a leg towards a new party of a call whose other party
    /// receives `codec`: that codec first (no transcoding), then G.711 both
    /// laws, and telephone-events.
    fn offer_for(&self, codec: Option<(Codec, u8)>, leg: &Leg, security: &LegSecurity) -> Bytes {
        let mut codecs: Vec<(Codec, u8)> = codec
            .map(|(c, _)| (c, c.payload_type()))
            .into_iter()
            .collect();
        for c in [Codec::Pcmu, Codec::Pcma] {
            if !codecs.iter().any(|(k, _)| *k == c) {
                codecs.push((c, c.payload_type()));
            }
        }
        let (profile, crypto) = security.sdp_parts();
        Bytes::from(media::sdp::write(&media::sdp::Offer {
            session_id: leg.sdp.session_id,
            version: leg.sdp.version,
            address: self.cfg.media_address,
            port: leg.port,
            codecs: &codecs,
            telephone_event: Some(self.cfg.telephone_event_pt),
            direction: Direction::SendRecv,
            profile,
            crypto,
        }))
    }
}
