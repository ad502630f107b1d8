//! Comeback: a parked call nobody retrieved rings the parker back, then the
//! tenant's fallback, then says goodbye.

use super::Switch;
use crate::call::{other, CallEvent, CallId, Forking, Phase, RingBack, Side};
use crate::media_security::LegSecurity;
use crate::output::{MediaCommand, Output, StoreOp};
use crate::time::Now;
use media::sdp::Direction;
use media::Codec;
use tracing::info;

/// Whether a due comeback may ring its parker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParkerLine {
    /// Not in a call: ring.
    Free,
    /// In another call: the comeback waits (re-armed).
    Deferred,
    /// Still in another call when the comeback's time is over: the
    /// fallback, without ringing the parker.
    Busy,
}

impl Switch {
    /// Nobody retrieved the call in time: take it out of the lot and ring
    /// the parker back (unless the parker is in another call: then the
    /// comeback waits, re-armed every `park_rearm_s`, until its ring time
    /// is over too, and then goes to the fallback).
    pub(super) fn start_comeback(&mut self, now: Now, id: CallId) {
        let line = self.parker_line(now, id);
        if line == ParkerLine::Deferred {
            return;
        }
        let Some((tenant, pos, parked)) = self.calls.lot.remove_call(id) else {
            return;
        };
        self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
            tenant: tenant.clone(),
            position: pos.label(),
        }));
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        // Until the parker's phone rings (or the fallback's), a comeback
        // that rings nobody and gives up now.
        let nothing_rings = Phase::Comeback(Forking {
            forks: Vec::new(),
            deadline: now.mono,
        });
        let parker = match std::mem::replace(&mut call.phase, nothing_rings) {
            Phase::Parked(comeback) => comeback.to,
            _ => parked.parker.clone(),
        };
        let waited = now.mono.saturating_duration_since(parked.since);
        call.events.push(CallEvent::ComebackRinging {
            to: parker.clone(),
            after_ms: waited.as_millis() as u64,
        });
        info!(call = id, %tenant, %parker, "parked call comes back");
        let party = call.leg(parked.side).identity.clone();
        let end = super::park_alerts::ParkEnd::ComingBack;
        self.alert_parker(now, (&tenant, &parked), &party, end, waited);
        if line == ParkerLine::Busy {
            if let Some(call) = self.calls.calls.get_mut(&id) {
                call.events
                    .push(CallEvent::ComebackParkerBusy { to: parker });
            }
            return self.comeback_failed(now, id);
        }
        if !self.ring_back(now, id, parked.side, &parker) {
            self.comeback_failed(now, id);
        }
    }

    /// Whether parked call `id`, due to come back, may ring its parker;
    /// re-arms the comeback when the parker is busy and time is left.
    fn parker_line(&mut self, now: Now, id: CallId) -> ParkerLine {
        let Some(parked) = self.calls.lot.of_call(id) else {
            return ParkerLine::Free;
        };
        let since = parked.since;
        let Some(call) = self.calls.calls.get(&id) else {
            return ParkerLine::Free;
        };
        let (Phase::Parked(comeback), Some(tenant)) = (&call.phase, self.dir.tenant(&call.tenant))
        else {
            return ParkerLine::Free;
        };
        if !self.is_busy(&tenant.name, &comeback.to) {
            return ParkerLine::Free;
        }
        let secs = |s: u32| std::time::Duration::from_secs(u64::from(s));
        let limit = since + secs(tenant.park_timeout_s) + secs(tenant.park_comeback_ring_s);
        if now.mono >= limit {
            return ParkerLine::Busy;
        }
        let at = (now.mono + secs(tenant.park_rearm_s)).min(limit);
        let to = comeback.to.clone();
        info!(call = id, parker = %to, "comeback deferred: the parker is busy");
        self.with_call(now, id, |call, _| {
            call.phase = Phase::Parked(crate::call::Comeback { at, to: to.clone() });
            call.events.push(CallEvent::ComebackDeferred { to });
        });
        ParkerLine::Deferred
    }

    /// Rings `extension` for the parked party on `parked_side`; false if it
    /// cannot ring (not registered, no port).
    pub(super) fn ring_back(
        &mut self,
        now: Now,
        id: CallId,
        parked_side: Side,
        extension: &str,
    ) -> bool {
        let Some(call) = self.calls.calls.get(&id) else {
            return false;
        };
        let Some(tenant) = self.dir.tenant(&call.tenant).cloned() else {
            return false;
        };
        let Some(ext) = self.dir.extension(&tenant.name, extension).cloned() else {
            return false;
        };
        // Phones that missed their last probe are not rung: with none left,
        // the comeback goes on (to the fallback) at once.
        let contacts: Vec<_> = self
            .registrar
            .lookup(&tenant.name, extension)
            .iter()
            .filter(|b| !self.is_unreachable(&tenant.name, extension, &b.contact))
            .cloned()
            .collect();
        if contacts.is_empty() {
            info!(call = id, %extension, "no reachable phone to ring back");
            return false;
        }
        let Some(port) = self.ports.take() else {
            return false;
        };
        self.outputs
            .push_back(Output::Media(MediaCommand::Open(port)));
        let _gone = other(parked_side);
        let parked = call.leg(parked_side);
        let shown = format!("Parked: {}", parked.identity.name_or_number());
        let from = crate::call::Identity::new(shown, parked.identity.number.clone())
            .name_addr(&tenant.domain);
        let mut codecs: Vec<(Codec, u8)> = parked
            .codec
            .map(|(c, _)| (c, c.payload_type()))
            .into_iter()
            .collect();
        for c in [Codec::Pcmu, Codec::Pcma] {
            if !codecs.iter().any(|(k, _)| *k == c) {
                codecs.push((c, c.payload_type()));
            }
        }
        let sdp_ids = crate::call::SdpOrigin::new(self.ids.number());
        let policy = tenant.srtp.unwrap_or(self.cfg.srtp);
        let mut forks = Vec::new();
        for b in &contacts {
            let to = format!("<sip:{extension}@{}>", tenant.domain);
            let Some(target) = self.contact_target(b, to) else {
                continue;
            };
            let security = LegSecurity::offering(policy, target.peer, &mut self.keys);
            let (profile, crypto) = security.sdp_parts();
            let body = bytes::Bytes::from(media::sdp::write(&media::sdp::Offer {
                session_id: sdp_ids.session_id,
                version: 1,
                address: self.cfg.media_address,
                port,
                codecs: &codecs,
                telephone_event: Some(self.cfg.telephone_event_pt),
                direction: Direction::SendRecv,
                profile,
                crypto,
            }));
            let out = super::calls::OutgoingInvite {
                target,
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
        let ring = std::time::Duration::from_secs(u64::from(tenant.park_comeback_ring_s));
        let ring = RingBack {
            extension: extension.to_string(),
            identity: crate::call::Identity::new(ext.name.clone(), extension),
            port,
            sdp: sdp_ids,
            forks,
            deadline: now.mono + ring,
        };
        if self
            .with_call(now, id, |call, ctx| call.ring_back(ctx, ring))
            .is_none()
        {
            self.release_port(port);
            return false;
        }
        true
    }

    /// The parker (or the fallback) answered the comeback: a normal call again.
    pub(super) fn comeback_answered(
        &mut self,
        now: Now,
        id: CallId,
        key: &sip::transaction::ClientKey,
        resp: &sip::Response,
    ) {
        let Some(parked) = self.calls.calls.get(&id).map(|c| c.parked_side()) else {
            return;
        };
        self.with_call(now, id, |call, ctx| {
            call.handle_comeback_answer(ctx, key, resp)
        });
        if self
            .calls
            .calls
            .get(&id)
            .is_some_and(|c| matches!(c.phase, Phase::Established))
        {
            self.tell_connected(now, id, parked);
        }
    }

    /// Nobody answered the comeback: the tenant's fallback, or goodbye.
    pub(super) fn comeback_failed(&mut self, now: Now, id: CallId) {
        let Some(rang) = self.with_call(now, id, |call, ctx| call.give_up_comeback(ctx)) else {
            return;
        };
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let parked_side = call.parked_side();
        let fallback = self
            .dir
            .tenant(&call.tenant)
            .and_then(|t| t.park_fallback.clone())
            .filter(|f| *f != rang && !call.fallback_tried);
        call.fallback_tried = true;
        if let Some(f) = fallback {
            call.events
                .push(CallEvent::ComebackToFallback { to: f.clone() });
            if self.ring_back(now, id, parked_side, &f) {
                return;
            }
        }
        self.with_call(now, id, |call, ctx| call.say_goodbye(ctx));
    }
}
