//! Call parking, the flows: park the caller's held call under a position
//! (releasing the caller's leg so the phone is free, the parked party stays
//! on music without a gap), confirm with an announcement that speaks the
//! retrieval number, retrieve from any phone of the tenant by joining a new
//! leg to the parked one, and answer every mistake with an announcement.

use super::calls::clone_media;
use super::Switch;
use crate::call::{other, Call, CallFeature, CallId, Leg, OkRetransmit, Phase, Side};
use crate::feature_refusal::FeatureRefusal;
use crate::media_security::LegSecurity;
use crate::output::{MediaCommand, Output, StoreOp};
use crate::parking::{fresh_code, Feature, Parked, Position};
use crate::peer::Peer;
use crate::prompts::{spoken, Prompt};
use crate::respond;
use crate::time::Now;
use accounts::ParkedCall;
use accounts::{Extension, Tenant};
use media::sdp::{Audio, Direction};
use media::Codec;
use sip::dialog::Dialog;
use sip::transaction::ServerKey;
use sip::{Name, Request};
use std::net::SocketAddr;
use tracing::{info, warn};

/// How an announcement call is recorded.
impl Switch {
    /// A feature code dialed by an extension.
    pub(super) fn handle_feature(&mut self, now: Now, call: FeatureCall, feature: Feature) {
        if let Err(refusal) =
            crate::authorize::decide_feature(&self.dir, &call.tenant, &call.ext, &feature)
        {
            return self.refuse_feature(now, call, refusal);
        }
        match feature {
            Feature::RetrieveOwn => {
                let pos = Position::Extension(call.ext.number.clone());
                self.retrieve_request(now, call, pos)
            }
            Feature::Retrieve(pos) => self.retrieve_request(now, call, pos),
            park => self.park_request(now, call, park),
        }
    }

    fn park_request(&mut self, now: Now, call: FeatureCall, feature: Feature) {
        let tenant = call.tenant.clone();
        let pos = match feature {
            Feature::ParkAt(e) if self.dir.extension(&tenant.name, &e).is_some() => {
                Position::Extension(e)
            }
            Feature::ParkRandom => {
                let ids = &mut self.ids;
                match fresh_code(
                    &self.calls.lot,
                    &tenant.name,
                    tenant.park_code_length,
                    || ids.number(),
                ) {
                    Some(code) => Position::Code(code),
                    None => return self.refuse_feature(now, call, FeatureRefusal::NoFreeCode),
                }
            }
            _ => return self.refuse_feature(now, call, FeatureRefusal::NotAnExtension),
        };
        let Some((held, holder)) = self.find_held(&tenant.name, &call.ext.number) else {
            return self.refuse_feature(now, call, FeatureRefusal::NoHeldCall);
        };
        if self.calls.lot.is_taken(&tenant.name, &pos) {
            let label = pos.label();
            return self.refuse_feature(now, call, FeatureRefusal::PositionTaken { label });
        }
        let retrieval = pos.retrieval_number(&tenant.release_prefix);
        self.park(now, held, holder, &tenant, pos, &call.ext.number);
        let mut prompts = vec![Prompt::CallParked, Prompt::ToRetrieveDial];
        prompts.extend(spoken(&retrieval));
        let pai = format!("\"Parked {retrieval}\" <sip:{retrieval}@{}>", tenant.domain);
        info!(tenant = %tenant.name, parker = %call.ext.number, %retrieval, "parked");
        self.announce(now, call, prompts, Some(pai), None);
    }

    /// The most recently held call in which `extension` holds the other party.
    fn find_held(&self, tenant: &str, extension: &str) -> Option<(CallId, Side)> {
        self.calls
            .calls
            .iter()
            .filter(|(_, c)| c.tenant == tenant && c.phase == Phase::Established)
            .flat_map(|(id, c)| [Side::A, Side::B].map(|s| (*id, s, c.leg(s))))
            .filter(|(_, _, l)| {
                l.holding && l.dialog.is_some() && l.extension.as_deref() == Some(extension)
            })
            .max_by_key(|(_, _, l)| l.held_at)
            .map(|(id, s, _)| (id, s))
    }

    /// Moves the held party of call `id` into the lot and releases the
    /// holder's leg (BYE), so the parker's phone is free.
    fn park(
        &mut self,
        now: Now,
        id: CallId,
        holder: Side,
        tenant: &Tenant,
        pos: Position,
        parker: &str,
    ) {
        let parked_side = other(holder);
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let leg = call.leg_mut(holder);
        let (dialog, peer, port) = (leg.dialog.take(), leg.peer, leg.port);
        leg.port = 0;
        leg.holding = false;
        leg.session = None;
        leg.extension = None;
        call.phase = Phase::Parked;
        call.ok = None;
        call.features.insert(CallFeature::Park);
        let comeback_at =
            now.mono + std::time::Duration::from_secs(u64::from(tenant.park_timeout_s));
        call.comeback = Some((comeback_at, parker.to_string()));
        self.calls.deadlines.schedule(comeback_at, id);
        let parked_port = call.leg(parked_side).port;
        let retrieval = pos.retrieval_number(&tenant.release_prefix);
        call.record
            .events
            .push_str(&format!("parked by {parker} at {retrieval}\n"));
        if let Some(mut d) = dialog {
            self.calls.by_dialog.remove(&(
                d.id.call_id.clone(),
                d.id.local_tag.clone(),
                d.id.remote_tag.clone(),
            ));
            let bye = self.bye(&mut d, peer, "SIP;cause=200;text=\"Call parked\"");
            self.layer
                .send_request(now.mono, bye, peer, peer.is_reliable());
            self.drain_layer();
        }
        self.release_port(port);
        self.outputs
            .push_back(Output::Media(MediaCommand::Music(parked_port)));
        self.outputs
            .push_back(Output::Media(MediaCommand::WatchIdle(parked_port, false)));
        let party = self
            .calls
            .calls
            .get(&id)
            .map(|c| c.leg(parked_side).identity.clone())
            .unwrap_or_default();
        let deadline_ms = now.unix_ms + u64::from(tenant.park_timeout_s) * 1000;
        self.outputs
            .push_back(Output::Store(StoreOp::SaveParked(Box::new(ParkedCall {
                tenant: tenant.name.clone(),
                position: pos.label(),
                retrieval: retrieval.clone(),
                parker: parker.to_string(),
                parked_party: if party.0.is_empty() {
                    party.1
                } else {
                    format!("{} <{}>", party.0, party.1)
                },
                since_ms: now.unix_ms,
                deadline_ms,
            }))));
        let parked = Parked {
            call: id,
            side: parked_side,
            parker: parker.to_string(),
            since: now.mono,
            since_ms: now.unix_ms,
            retrieval,
            position: pos.clone(),
        };
        self.calls.lot.park(&tenant.name, pos, parked);
    }

    /// Takes a call out of the lot when it ends there (its party hung up).
    pub(super) fn unpark(&mut self, now: Now, id: CallId, call: &mut Call) {
        if let Some((tenant, pos, parked)) = self.calls.lot.remove_call(id) {
            let secs = now
                .mono
                .saturating_duration_since(parked.since)
                .as_secs_f64();
            info!(%tenant, position = %pos.label(), "parked party hung up");
            self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
                tenant,
                position: pos.label(),
            }));
            call.record.events.push_str(&format!(
                "abandoned at {} after {secs:.1} s\n",
                parked.retrieval
            ));
        }
    }

    fn retrieve_request(&mut self, now: Now, call: FeatureCall, pos: Position) {
        let tenant = call.tenant.clone();
        let retrieval = pos.retrieval_number(&tenant.release_prefix);
        let who = (
            format!("{}/{}", tenant.name, call.ext.number),
            call.peer.addr.ip(),
        );
        let limited = self.retrieve_failures.is_limited(&who, now.unix_s());
        let parked = if limited {
            None
        } else {
            self.calls.lot.take(&tenant.name, &pos)
        };
        let Some(parked) = parked else {
            self.retrieve_failures.record(who, now.unix_s());
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
    fn attach(&mut self, now: Now, fc: FeatureCall, parked: Parked) {
        let id = parked.call;
        if !self.calls.calls.contains_key(&id) {
            // A lot entry whose call is gone: forget it, and tell the
            // retriever there is nothing there (never leave it unanswered).
            warn!(call = id, position = %parked.position.label(), "lot entry without a call: dropped");
            self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
                tenant: fc.tenant.name.clone(),
                position: parked.position.label(),
            }));
            let retrieval = parked.retrieval.clone();
            return self.refuse_feature(now, fc, FeatureRefusal::NothingParked { retrieval });
        }
        let Some(port) = self.ports.take() else {
            let tenant = fc.tenant.name.clone();
            let pos = parked.position.clone();
            self.calls.lot.park(&tenant, pos, parked);
            let resp = self.response(&fc.req, 503, Some("No media ports available"));
            return self.reply(now, &fc.key, resp);
        };
        let Some(call) = self.calls.calls.get(&id) else {
            self.ports.give_back(port);
            return;
        };
        let parked_leg = clone_media(call.leg(parked.side));
        let domain = fc.tenant.domain.clone();
        self.outputs
            .push_back(Output::Media(MediaCommand::Open(port)));
        let mut leg = self.answered_leg(&fc, port, parked_leg.codec.map(|c| c.0));
        leg.extension = Some(fc.ext.number.clone());
        leg.identity = (fc.ext.name.clone(), fc.ext.number.clone());
        let (display, number) = parked_leg.identity.clone();
        let pai = super::calls::identity_header(&display, &number, &domain);
        let wire = self.answer_with(now, &fc, &leg, Some(pai));
        let side = other(parked.side);
        let secs = now
            .mono
            .saturating_duration_since(parked.since)
            .as_secs_f64();
        let transcoding = leg.codec.map(|c| c.0) != parked_leg.codec.map(|c| c.0);
        let dkey = leg.dialog.as_ref().map(|d| {
            (
                d.id.call_id.clone(),
                d.id.local_tag.clone(),
                d.id.remote_tag.clone(),
            )
        });
        let media_leg = clone_media(&leg);
        let call = self.calls.calls.get_mut(&id).expect("checked above");
        *call.leg_mut(side) = leg;
        call.phase = Phase::Established;
        call.comeback = None;
        call.ok = (!fc.peer.is_reliable()).then(|| OkRetransmit {
            side,
            peer: fc.peer,
            wire,
            next: now.mono + self.cfg.timers.t1,
            interval: self.cfg.timers.t1,
            give_up: now.mono + self.cfg.timers.t1x64(),
        });
        if transcoding {
            call.features.insert(CallFeature::Transcoding);
        }
        call.note_security();
        call.record.events.push_str(&format!(
            "retrieved by {} after {secs:.1} s\n",
            fc.ext.number
        ));
        if let Some(at) = call.deadline() {
            self.calls.deadlines.schedule(at, id);
        }
        self.configure(&media_leg);
        self.outputs
            .push_back(Output::Media(MediaCommand::Bridge(port, parked_leg.port)));
        self.outputs
            .push_back(Output::Media(MediaCommand::WatchIdle(port, true)));
        self.outputs
            .push_back(Output::Media(MediaCommand::WatchIdle(
                parked_leg.port,
                true,
            )));
        self.calls.by_port.insert(port, (id, side));
        if let Some(k) = dkey {
            self.calls.by_dialog.insert(k, (id, side));
        }
        info!(call = id, retriever = %fc.ext.number, "retrieved");
    }

    /// A leg for an INVITE the switch answers itself, on `port`.
    fn answered_leg(&mut self, fc: &FeatureCall, port: u16, prefer: Option<Codec>) -> Leg {
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
            sdp: (self.ids.number(), 1),
            holding: false,
            session: None,
            extension: None,
            identity: (String::new(), String::new()),
            held_at: None,
            security: fc.security.clone(),
        }
    }

    /// Sends the 200 with our SDP (and P-Asserted-Identity); returns the bytes.
    fn answer_with(
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
        ok.body = self.sdp_for(leg, Direction::SendRecv);
        let wire = ok.encode();
        self.reply(now, &fc.key, ok);
        wire
    }

    /// Answers a refused feature call with its announcement, then hangs up.
    fn refuse_feature(&mut self, now: Now, fc: FeatureCall, refusal: FeatureRefusal) {
        let prompts = refusal.prompts();
        self.announce(now, fc, prompts, None, Some(refusal));
    }

    /// Answers a feature call, plays `prompts`, then hangs up. A refusal is
    /// recorded as one.
    fn announce(
        &mut self,
        now: Now,
        fc: FeatureCall,
        prompts: Vec<Prompt>,
        pai: Option<String>,
        refused: Option<FeatureRefusal>,
    ) {
        let Some(port) = self.ports.take() else {
            let resp = self.response(&fc.req, 503, Some("No media ports available"));
            return self.reply(now, &fc.key, resp);
        };
        self.outputs
            .push_back(Output::Media(MediaCommand::Open(port)));
        let mut leg = self.answered_leg(&fc, port, None);
        leg.extension = Some(fc.ext.number.clone());
        leg.identity = (fc.ext.name.clone(), fc.ext.number.clone());
        let wire = self.answer_with(now, &fc, &leg, pai);
        let media_leg = clone_media(&leg);
        self.configure(&media_leg);
        self.outputs
            .push_back(Output::Media(MediaCommand::Play(port, prompts)));
        let id = self.calls.next_id;
        self.calls.next_id += 1;
        let mut record = self.new_record(now, &fc.req, &fc.tenant.name, &fc.ext.number);
        record.answered_ms = Some(now.unix_ms);
        if let Some(r) = &refused {
            let (status, cause) = (r.status(), r.cause());
            info!(tenant = %fc.tenant.name, extension = %fc.ext.number, status, %cause, "feature refused");
            record.status = status;
            record.cause = cause;
        }
        let dkey = leg.dialog.as_ref().map(|d| {
            (
                d.id.call_id.clone(),
                d.id.local_tag.clone(),
                d.id.remote_tag.clone(),
            )
        });
        let mut features = std::collections::BTreeSet::new();
        features.insert(if refused.is_some() {
            CallFeature::FeatureRefused
        } else {
            CallFeature::ParkRequest
        });
        let call = Call {
            tenant: fc.tenant.name.clone(),
            a_invite: fc.req.clone(),
            a_key: fc.key.clone(),
            a_tag: respond::tag_for(&self.cfg.secret, &fc.req),
            a_offer: fc.offer.clone(),
            a: leg,
            b: Leg {
                dialog: None,
                peer: fc.peer,
                port: 0,
                codec: None,
                telephone_event: None,
                remote_media: None,
                sdp: (0, 0),
                holding: false,
                session: None,
                extension: None,
                identity: (String::new(), String::new()),
                held_at: None,
                security: LegSecurity::Plain,
            },
            forks: Vec::new(),
            phase: Phase::Announcing,
            ring_deadline: None,
            ok: (!fc.peer.is_reliable()).then(|| OkRetransmit {
                side: Side::A,
                peer: fc.peer,
                wire,
                next: now.mono + self.cfg.timers.t1,
                interval: self.cfg.timers.t1,
                give_up: now.mono + self.cfg.timers.t1x64(),
            }),
            ringing_sent: true,
            record,
            features,
            comeback: None,
            fallback_tried: false,
            outbound_by: None,
        };
        if let Some(at) = call.deadline() {
            self.calls.deadlines.schedule(at, id);
        }
        self.calls.calls.insert(id, call);
        self.calls.by_port.insert(port, (id, Side::A));
        if let Some(k) = dkey {
            self.calls.by_dialog.insert(k, (id, Side::A));
        }
    }

    /// Number of parked calls.
    pub fn parked_count(&self) -> usize {
        self.calls.lot.len()
    }

    /// Calls parked now: (tenant, position, retrieval number, parker, parked since in Unix ms).
    pub fn parked(&self) -> Vec<(String, String, String, String, u64)> {
        self.calls
            .lot
            .list(None)
            .into_iter()
            .map(|(t, p, parked)| {
                (
                    t.to_string(),
                    p.label(),
                    parked.retrieval.clone(),
                    parked.parker.clone(),
                    parked.since_ms,
                )
            })
            .collect()
    }
}

impl Switch {
    /// Nobody retrieved the call in time: take it out of the lot and ring
    /// the parker back.
    pub(super) fn start_comeback(&mut self, now: Now, id: CallId) {
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
        let parker = call
            .comeback
            .take()
            .map(|c| c.1)
            .unwrap_or(parked.parker.clone());
        let secs = now.mono.saturating_duration_since(parked.since).as_secs();
        call.record.events.push_str(&format!(
            "not retrieved in {secs} s: ringing {parker} back\n"
        ));
        info!(call = id, %tenant, %parker, "parked call comes back");
        if !self.ring_back(now, id, parked.side, &parker) {
            self.comeback_failed(now, id);
        }
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
        let contacts = self.registrar.lookup(&tenant.name, extension).to_vec();
        if contacts.is_empty() {
            return false;
        }
        let Some(port) = self.ports.take() else {
            return false;
        };
        self.outputs
            .push_back(Output::Media(MediaCommand::Open(port)));
        let gone = other(parked_side);
        let parked = clone_media(call.leg(parked_side));
        let (display, number) = parked.identity.clone();
        let shown = format!(
            "Parked: {}",
            if display.is_empty() {
                &number
            } else {
                &display
            }
        );
        let from = super::calls::identity_header(&shown, &number, &tenant.domain);
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
        let sdp_ids = (self.ids.number(), 1);
        let policy = tenant.srtp.unwrap_or(self.cfg.srtp);
        let mut forks = Vec::new();
        for b in &contacts {
            let (Ok(uri), Some(target)) = (
                sip::Uri::parse(b.contact.as_bytes()),
                self.peer_for(&b.source),
            ) else {
                continue;
            };
            let security = LegSecurity::offering(policy, target, &mut self.keys);
            let (profile, crypto) = security.sdp_parts();
            let body = bytes::Bytes::from(media::sdp::write(&media::sdp::Offer {
                session_id: sdp_ids.0,
                version: 1,
                address: self.cfg.media_address,
                port,
                codecs: &codecs,
                telephone_event: Some(self.cfg.telephone_event_pt),
                direction: Direction::SendRecv,
                profile,
                crypto,
            }));
            let to = format!("<sip:{extension}@{}>", tenant.domain);
            let out = super::calls::OutgoingInvite {
                uri,
                target,
                from: &from,
                to,
                max_forwards: 70,
                body,
                security,
            };
            if let Some(fork) = self.send_fork(now, id, out) {
                forks.push(fork);
            }
        }
        self.drain_layer();
        let ring = std::time::Duration::from_secs(u64::from(tenant.park_comeback_ring_s));
        let call = self.calls.calls.get_mut(&id).expect("checked above");
        let leg = call.leg_mut(gone);
        leg.port = port;
        leg.sdp = sdp_ids;
        leg.extension = Some(extension.to_string());
        leg.identity = (ext.name.clone(), extension.to_string());
        call.forks = forks;
        call.phase = Phase::Comeback;
        call.ring_deadline = Some(now.mono + ring);
        self.calls.deadlines.schedule(now.mono + ring, id);
        self.calls.by_port.insert(port, (id, gone));
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
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let Some(i) = call.forks.iter().position(|f| &f.key == key) else {
            return;
        };
        let (invite, peer) = (call.forks[i].invite.clone(), call.forks[i].peer);
        let mut security = call.forks[i].security.clone();
        // While the comeback rings, only the parked party's leg has a dialog.
        let parked_side = if call.a.dialog.is_some() {
            Side::A
        } else {
            Side::B
        };
        let gone = other(parked_side);
        let Ok(mut dialog) = Dialog::as_uac(&invite, resp) else {
            return;
        };
        self.send_ack(&mut dialog, peer);
        let answer = media::sdp::parse_audio(&resp.body)
            .ok()
            .filter(|a| !a.codecs.is_empty() && security.on_remote_sdp(a).is_ok());
        self.cancel_forks(now, id, Some(i));
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        call.forks[i].final_status = Some(resp.status);
        let dkey = (
            dialog.id.call_id.clone(),
            dialog.id.local_tag.clone(),
            dialog.id.remote_tag.clone(),
        );
        let leg = call.leg_mut(gone);
        leg.dialog = Some(dialog);
        leg.peer = peer;
        leg.security = security;
        if let Some(a) = &answer {
            leg.codec = a.codecs.first().copied();
            leg.telephone_event = a.telephone_event;
            leg.remote_media = a.address.map(|ip| SocketAddr::new(ip, a.port));
        }
        let who = leg.extension.clone().unwrap_or_default();
        let (mine, parked_port) = (leg.port, call.leg(parked_side).port);
        call.phase = Phase::Established;
        call.ring_deadline = None;
        call.record
            .events
            .push_str(&format!("comeback answered by {who}\n"));
        let media_leg = clone_media(call.leg(gone));
        self.calls.by_dialog.insert(dkey, (id, gone));
        self.configure(&media_leg);
        self.outputs
            .push_back(Output::Media(MediaCommand::Bridge(mine, parked_port)));
        self.outputs
            .push_back(Output::Media(MediaCommand::WatchIdle(mine, true)));
        self.outputs
            .push_back(Output::Media(MediaCommand::WatchIdle(parked_port, true)));
        info!(call = id, %who, "comeback answered");
    }

    /// Nobody answered the comeback: the tenant's fallback, or goodbye.
    pub(super) fn comeback_failed(&mut self, now: Now, id: CallId) {
        self.cancel_forks(now, id, None);
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let parked_side = if call.a.dialog.is_some() {
            Side::A
        } else {
            Side::B
        };
        let gone = other(parked_side);
        let port = std::mem::replace(&mut call.leg_mut(gone).port, 0);
        let parked_port = call.leg(parked_side).port;
        let tenant = self.dir.tenant(&call.tenant).cloned();
        let parker = call.leg(gone).extension.clone().unwrap_or_default();
        let fallback = tenant
            .as_ref()
            .and_then(|t| t.park_fallback.clone())
            .filter(|f| *f != parker);
        let try_fallback = !call.fallback_tried && fallback.is_some();
        call.fallback_tried = true;
        self.release_port(port);
        if let (true, Some(f)) = (try_fallback, fallback) {
            if let Some(call) = self.calls.calls.get_mut(&id) {
                call.record
                    .events
                    .push_str(&format!("comeback unanswered: to fallback {f}\n"));
            }
            if self.ring_back(now, id, parked_side, &f) {
                return;
            }
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        call.record
            .events
            .push_str("comeback unanswered: goodbye\n");
        call.record.cause = "parked call not retrieved".into();
        call.record.status = 480;
        call.phase = Phase::Announcing;
        call.ring_deadline = None;
        info!(call = id, "comeback unanswered: goodbye");
        self.outputs.push_back(Output::Media(MediaCommand::Play(
            parked_port,
            vec![Prompt::Goodbye],
        )));
    }
}

impl Switch {
    /// REFER in a call (a phone's Park key): blind-transfer the other party
    /// to the park number. Only park transfers are supported; anything else
    /// is refused and the call stays as it is.
    pub(super) fn handle_refer(
        &mut self,
        now: Now,
        id: CallId,
        side: Side,
        key: ServerKey,
        req: Request,
    ) {
        let target = req
            .headers
            .get(Name::ReferTo)
            .and_then(|v| sip::NameAddr::parse(v).ok())
            .and_then(|a| a.uri.user_decoded());
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let tenant = self.dir.tenant(&call.tenant).cloned();
        let parker = call.leg(side).extension.clone();
        let ext = parker
            .as_ref()
            .zip(tenant.as_ref())
            .and_then(|(p, t)| self.dir.extension(&t.name, p).cloned());
        let feature = target
            .as_deref()
            .zip(tenant.as_ref())
            .and_then(|(t, ten)| crate::parking::parse(t, &ten.park_prefix, &ten.release_prefix));
        let (Some(tenant), Some(ext)) = (tenant, ext) else {
            let resp = self.response(&req, 403, Some("Only a PBX extension may transfer"));
            return self.reply(now, &key, resp);
        };
        const ONLY_PARK: &str = "Only transfers to the park number are supported";
        let phase = call.phase;
        let authorized: Result<(), (u16, String)> = match &feature {
            Some(f @ (Feature::ParkAt(_) | Feature::ParkRandom | Feature::ParkInvalid(_))) => {
                crate::authorize::decide_feature(&self.dir, &tenant, &ext, f)
                    .map_err(|r| (r.status(), r.cause()))
            }
            _ => Err((501, ONLY_PARK.into())),
        };
        let pos = match (phase, authorized, feature) {
            (p, _, _) if p != Phase::Established => Err((491, "Request Pending".into())),
            (_, Err(e), _) => Err(e),
            (_, Ok(()), Some(Feature::ParkAt(e))) => Ok(Position::Extension(e)),
            (_, Ok(()), Some(Feature::ParkRandom)) => {
                let ids = &mut self.ids;
                fresh_code(
                    &self.calls.lot,
                    &tenant.name,
                    tenant.park_code_length,
                    || ids.number(),
                )
                .map(Position::Code)
                .ok_or((486, "No free parking code".into()))
            }
            _ => Err((501, ONLY_PARK.into())),
        };
        let pos = match pos {
            Ok(p) if self.calls.lot.is_taken(&tenant.name, &p) => {
                Err((486, "Parking position taken".into()))
            }
            other => other,
        };
        let pos = match pos {
            Ok(p) => p,
            Err((status, reason)) => {
                info!(call = id, status, %reason, "REFER refused");
                if let Some(c) = self.calls.calls.get_mut(&id) {
                    c.record
                        .events
                        .push_str(&format!("park by transfer refused: {reason}\n"));
                }
                let resp = self.response(&req, status, Some(&reason));
                return self.reply(now, &key, resp);
            }
        };
        let accepted = self.response(&req, 202, None);
        self.reply(now, &key, accepted);
        self.notify_sipfrag(now, id, side, "SIP/2.0 100 Trying", "active;expires=60");
        let retrieval = pos.retrieval_number(&tenant.release_prefix);
        self.notify_sipfrag(
            now,
            id,
            side,
            "SIP/2.0 200 OK",
            "terminated;reason=noresource",
        );
        info!(call = id, parker = %ext.number, %retrieval, "parked by transfer");
        if let Some(c) = self.calls.calls.get_mut(&id) {
            c.features.insert(CallFeature::ParkByTransfer);
        }
        self.park(now, id, side, &tenant, pos, &ext.number);
    }

    /// A NOTIFY with a sipfrag body in the leg's dialog (RFC 3515 §2.4.5).
    fn notify_sipfrag(&mut self, now: Now, id: CallId, side: Side, frag: &str, state: &str) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let peer = call.leg(side).peer;
        let Some(mut dialog) = call.leg(side).dialog.clone() else {
            return;
        };
        let via = self.via(peer);
        let contact = self.contact(peer);
        let mut notify = dialog.request(sip::Method::Notify, &via, &contact, None);
        notify.headers.push(Name::Event, "refer");
        notify
            .headers
            .push(Name::SubscriptionState, state.to_string());
        notify
            .headers
            .push(Name::ContentType, "message/sipfrag;version=2.0");
        notify.body = bytes::Bytes::from(format!("{frag}\r\n"));
        if let Some(call) = self.calls.calls.get_mut(&id) {
            call.leg_mut(side).dialog = Some(dialog);
        }
        self.layer
            .send_request(now.mono, notify, peer, peer.is_reliable());
        self.drain_layer();
    }
}

/// A feature request: the INVITE and what it was authenticated as.
pub(super) struct FeatureCall {
    pub peer: Peer,
    pub key: ServerKey,
    pub req: Request,
    pub tenant: Tenant,
    pub ext: Extension,
    pub offer: Audio,
    /// The caller's media protection, agreed from its offer.
    pub security: LegSecurity,
}
