//! B2BUA call control: INVITE in, forks out, first answer wins, CANCEL,
//! BYE either way, re-INVITE hold/resume handled in the switch (music to the
//! held party), timers, and call records.

use super::Switch;
use crate::authorize::{self, CallRequest, Caller, Decision, Route};
use crate::call::{other, Call, CallId, Fork, Leg, OkRetransmit, Phase, Side};
use crate::deadlines::Deadlines;
use crate::output::{MediaCommand, Output, StoreOp};
use crate::peer::{Peer, Transport};
use crate::respond;
use crate::time::Now;
use accounts::{CallRecord, Outcome, Tenant};
use bytes::Bytes;
use media::sdp::{self, Audio, Direction};
use media::Codec;
use sip::dialog::Dialog;
use sip::transaction::{ClientKey, ServerKey};
use sip::{Method, Name, Request, Response, SipHeaders, Uri};
use std::collections::HashMap;
use std::net::SocketAddr;
use tracing::{debug, info, warn};

/// Dialog lookup key: Call-ID, our tag, their tag.
type DialogKey = (String, String, String);

/// Every live call and the indexes that find them.
#[derive(Default)]
pub struct CallTable {
    pub(super) calls: HashMap<CallId, Call>,
    pub(super) by_invite: HashMap<ServerKey, CallId>,
    pub(super) by_fork: HashMap<ClientKey, CallId>,
    pub(super) by_dialog: HashMap<DialogKey, (CallId, Side)>,
    pub(super) by_port: HashMap<u16, (CallId, Side)>,
    /// Forks of ended calls still awaiting a final answer: a late 2xx gets ACK and BYE.
    pub(super) orphans: HashMap<ClientKey, (Request, Peer)>,
    pub(super) deadlines: Deadlines<CallId>,
    pub(super) lot: crate::parking::Lot,
    pub(super) next_id: CallId,
}

impl CallTable {
    /// Number of live calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }
}

const RFC_OUR_METHODS: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, REFER, NOTIFY";

pub(super) fn dialog_key_of(req: &Request) -> Option<DialogKey> {
    let call_id = String::from_utf8_lossy(req.call_id()?).into_owned();
    let ours = req.callee().ok()?.tag()?.to_string();
    let theirs = req.caller().ok()?.tag().unwrap_or_default().to_string();
    Some((call_id, ours, theirs))
}

/// A `Session-Expires` value: interval and refresher (RFC 4028 §4).
fn session_expires(req_or_resp: &sip::Headers) -> Option<(u32, Option<String>)> {
    let v = req_or_resp.get(Name::SessionExpires)?;
    let text = String::from_utf8_lossy(v);
    let mut parts = text.split(';');
    let secs = sip::validate::parse_delta(parts.next()?.as_bytes())?;
    let refresher = parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("refresher"))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    Some((secs, refresher))
}

/// Whether the request's Supported (or Require) lists `timer`.
fn supports_timer(h: &sip::Headers) -> bool {
    h.values(Name::Supported)
        .iter()
        .chain(h.values(Name::Require).iter())
        .any(|t| t.eq_ignore_ascii_case(b"timer"))
}

/// A `name-addr` for a party: quoted display name (if any) and number.
pub(super) fn identity_header(display: &str, number: &str, domain: &str) -> String {
    if display.is_empty() {
        format!("<sip:{number}@{domain}>")
    } else {
        format!(
            "{} <sip:{number}@{domain}>",
            sip::grammar::quote(display),
            domain = domain
        )
    }
}

/// One outgoing INVITE to send.
pub(super) struct OutgoingInvite<'a> {
    pub uri: Uri,
    pub target: Peer,
    pub from: &'a str,
    pub to: String,
    pub max_forwards: u32,
    pub body: Bytes,
}

/// The codec the caller gets: the callee's if the caller offered it (no
/// transcoding), otherwise the caller's first choice.
fn codec_for_caller(offer: &Audio, callee: Codec) -> (Codec, u8) {
    offer
        .codecs
        .iter()
        .find(|(c, _)| *c == callee)
        .or(offer.codecs.first())
        .copied()
        .unwrap_or((Codec::Pcmu, 0))
}

/// Everything a new call starts from.
struct NewCall {
    peer: Peer,
    key: ServerKey,
    req: Request,
    tenant: Tenant,
    caller: Caller,
    caller_id: String,
    offer: Audio,
    route: Route,
    pa: u16,
    pb: u16,
}

/// Rank of a final failure when choosing what to tell the caller (lower wins).
fn failure_rank(status: u16) -> u16 {
    match status {
        600..=699 => 0,
        486 => 1,
        480 => 2,
        404 => 3,
        408 => 4,
        487 => 9,
        _ => 5,
    }
}

fn outcome_for(status: u16) -> Outcome {
    match status {
        486 | 600 => Outcome::Busy,
        408 | 480 => Outcome::NoAnswer,
        487 => Outcome::Cancelled,
        _ => Outcome::Failed,
    }
}

impl Switch {
    pub(super) fn via(&mut self, peer: Peer) -> String {
        let transport = if peer.is_reliable() { "TCP" } else { "UDP" };
        format!(
            "SIP/2.0/{transport} {};branch={};rport",
            self.cfg.local_sip,
            self.ids.branch()
        )
    }

    pub(super) fn contact(&self, peer: Peer) -> String {
        match peer.transport {
            Transport::Udp => format!("<sip:parkline@{}>", self.cfg.local_sip),
            Transport::Tcp(_) => format!("<sip:parkline@{};transport=tcp>", self.cfg.local_sip),
        }
    }

    /// The live peer for a binding's source (`udp:IP:PORT` / `tcp:IP:PORT`).
    pub(super) fn peer_for(&self, source: &str) -> Option<Peer> {
        let (proto, addr) = source.split_once(':')?;
        let addr: SocketAddr = addr.parse().ok()?;
        Some(match proto {
            "tcp" => self.tcp_peers.get(&addr).copied().unwrap_or(Peer {
                transport: Transport::Udp,
                addr,
            }),
            _ => Peer {
                transport: Transport::Udp,
                addr,
            },
        })
    }

    pub(super) fn new_record(
        &self,
        now: Now,
        req: &Request,
        tenant: &str,
        caller: &str,
    ) -> CallRecord {
        CallRecord {
            id: String::from_utf8_lossy(req.call_id().unwrap_or_default()).into_owned(),
            tenant: tenant.to_string(),
            caller: caller.to_string(),
            callee: req.uri.user_decoded().unwrap_or_default(),
            routed_to: String::new(),
            started_ms: now.unix_ms,
            answered_ms: None,
            ended_ms: now.unix_ms,
            outcome: Outcome::Refused,
            status: 0,
            cause: String::new(),
            features: String::new(),
            events: String::new(),
        }
    }

    /// Refuses a new call and records it.
    fn refuse_call(
        &mut self,
        now: Now,
        key: &ServerKey,
        req: &Request,
        (tenant, caller): (&str, &str),
        status: u16,
        reason: &str,
    ) {
        let resp = self.response(req, status, Some(reason));
        self.reply(now, key, resp);
        let mut record = self.new_record(now, req, tenant, caller);
        record.outcome = if status == 480 || status == 404 {
            Outcome::Failed
        } else {
            Outcome::Refused
        };
        record.status = status;
        record.cause = reason.to_string();
        info!(tenant, caller, callee = %record.callee, status, reason, "call refused");
        self.outputs
            .push_back(Output::Store(StoreOp::SaveCallRecord(Box::new(record))));
    }

    /// A new INVITE (no To tag).
    pub(super) fn handle_invite(&mut self, now: Now, peer: Peer, key: ServerKey, req: Request) {
        let trunk = match peer.transport {
            Transport::Udp => self.dir.trunk_by_address(&peer.addr.to_string()).cloned(),
            Transport::Tcp(_) => None,
        };
        let (caller, tenant) = match trunk {
            Some(t) => {
                let tenant = self.dir.tenant(&t.tenant).cloned();
                (Caller::Trunk(t), tenant)
            }
            None => match self.authenticate(now, peer, &key, &req, Name::ProxyAuthenticate) {
                Ok(ext) => {
                    let tenant = self.dir.tenant(&ext.tenant).cloned();
                    (Caller::Extension(ext), tenant)
                }
                Err(Some(reason)) => {
                    let mut record = self.new_record(
                        now,
                        &req,
                        "",
                        &req.caller()
                            .map(|c| c.uri.user_decoded().unwrap_or_default())
                            .unwrap_or_default(),
                    );
                    record.status = 403;
                    record.cause = format!("authentication failed: {reason}");
                    self.outputs
                        .push_back(Output::Store(StoreOp::SaveCallRecord(Box::new(record))));
                    return;
                }
                Err(None) => return,
            },
        };
        let caller_id = match &caller {
            Caller::Extension(e) => e.number.clone(),
            Caller::Trunk(_) => req
                .caller()
                .ok()
                .and_then(|c| c.uri.user_decoded())
                .unwrap_or_default(),
        };
        let Some(tenant) = tenant else {
            return self.refuse_call(now, &key, &req, ("", &caller_id), 404, "Not Found");
        };
        let offer = match sdp::parse_audio(&req.body) {
            Ok(a) if !a.codecs.is_empty() && a.port != 0 => a,
            _ => {
                return self.refuse_call(
                    now,
                    &key,
                    &req,
                    (&tenant.name, &caller_id),
                    488,
                    "Not Acceptable Here",
                )
            }
        };
        if let Some((se, _)) = session_expires(&req.headers) {
            if u64::from(se) < self.cfg.min_se.as_secs() {
                let mut resp = self.response(&req, 422, Some("Session Interval Too Small"));
                resp.headers
                    .push(Name::MinSE, self.cfg.min_se.as_secs().to_string());
                return self.reply(now, &key, resp);
            }
        }
        let dialed = req.uri.user_decoded().unwrap_or_default();
        if let Caller::Extension(ext) = &caller {
            if let Some(feature) =
                crate::parking::parse(&dialed, &tenant.park_prefix, &tenant.release_prefix)
            {
                let fc = super::parking::FeatureCall {
                    peer,
                    key,
                    req,
                    tenant,
                    ext: ext.clone(),
                    offer,
                };
                return self.handle_feature(now, fc, feature);
            }
        }
        let decision = authorize::decide(
            &self.dir,
            &self.registrar,
            &CallRequest {
                tenant: &tenant,
                caller: &caller,
                dialed: &dialed,
            },
        );
        let route = match decision {
            Decision::Refuse(status, reason) => {
                return self.refuse_call(
                    now,
                    &key,
                    &req,
                    (&tenant.name, &caller_id),
                    status,
                    reason,
                )
            }
            Decision::Route(r) => r,
        };
        let (pa, pb) = match (self.ports.take(), self.ports.take()) {
            (Some(pa), Some(pb)) => (pa, pb),
            (one, _) => {
                if let Some(p) = one {
                    self.ports.give_back(p);
                }
                warn!("out of RTP ports");
                let who = (tenant.name.as_str(), caller_id.as_str());
                return self.refuse_call(now, &key, &req, who, 503, "No media ports available");
            }
        };
        self.start_call(
            now,
            NewCall {
                peer,
                key,
                req,
                tenant,
                caller,
                caller_id,
                offer,
                route,
                pa,
                pb,
            },
        );
    }

    fn start_call(&mut self, now: Now, new: NewCall) {
        let NewCall {
            peer,
            key,
            req,
            tenant,
            caller,
            caller_id,
            offer,
            route,
            pa,
            pb,
        } = new;
        let id = self.calls.next_id;
        self.calls.next_id += 1;
        for port in [pa, pb] {
            self.outputs
                .push_back(Output::Media(MediaCommand::Open(port)));
        }
        let trying = self.response(&req, 100, None);
        self.reply(now, &key, trying);
        let a_tag = respond::tag_for(&self.cfg.secret, &req);
        let leg = |port, peer, sdp| Leg {
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
            identity: (String::new(), String::new()),
            held_at: None,
        };
        let mut a = leg(pa, peer, (self.ids.number(), 1));
        a.telephone_event = offer.telephone_event;
        a.remote_media = offer.address.map(|ip| SocketAddr::new(ip, offer.port));
        let mut b = leg(pb, peer, (self.ids.number(), 1));
        if let Caller::Extension(e) = &caller {
            a.extension = Some(e.number.clone());
        }
        if let Route::Extension { number, name, .. } = &route {
            b.extension = Some(number.clone());
            b.identity = (name.clone(), number.clone());
        } else if let Route::Trunk { number, .. } = &route {
            b.identity = (String::new(), number.clone());
        }
        let mut record = self.new_record(now, &req, &tenant.name, &caller_id);
        record.outcome = Outcome::Failed;
        let mut call = Call {
            tenant: tenant.name.clone(),
            a_invite: req.clone(),
            a_key: key.clone(),
            a_offer: offer,
            a_tag,
            a,
            b,
            forks: Vec::new(),
            phase: Phase::Ringing,
            ring_deadline: Some(now.mono + self.cfg.no_answer_timeout),
            ok: None,
            ringing_sent: false,
            record,
            features: Default::default(),
            comeback: None,
            fallback_tried: false,
        };
        let (display, from_user) = match &caller {
            Caller::Extension(e) => (e.name.clone(), e.number.clone()),
            Caller::Trunk(_) => {
                let from = req.caller().ok();
                (
                    from.as_ref()
                        .and_then(|f| f.display.clone())
                        .unwrap_or_default(),
                    caller_id.clone(),
                )
            }
        };
        call.a.identity = (display.clone(), from_user.clone());
        let targets: Vec<(Uri, Peer, String)> = match &route {
            Route::Extension {
                number, contacts, ..
            } => {
                call.record.routed_to = number.clone();
                contacts
                    .iter()
                    .filter_map(|b| {
                        let uri = Uri::parse(b.contact.as_bytes()).ok()?;
                        Some((
                            uri,
                            self.peer_for(&b.source)?,
                            format!("<sip:{number}@{}>", tenant.domain),
                        ))
                    })
                    .collect()
            }
            Route::Trunk { trunk, number } => {
                call.record.routed_to = format!("trunk:{}", trunk.name);
                let addr: Option<SocketAddr> = trunk.address.parse().ok();
                addr.and_then(|addr| {
                    let uri = Uri::parse(format!("sip:{number}@{addr}").as_bytes()).ok()?;
                    Some((
                        uri,
                        Peer {
                            transport: Transport::Udp,
                            addr,
                        },
                        format!("<sip:{number}@{addr}>"),
                    ))
                })
                .into_iter()
                .collect()
            }
        };
        let max_forwards = req
            .headers
            .get(Name::MaxForwards)
            .and_then(|v| sip::validate::parse_delta(v))
            .map_or(70, |m| m.saturating_sub(1).min(70));
        let from = identity_header(&display, &from_user, &tenant.domain);
        let body = self.offer_to_b(&call);
        for (uri, target, to) in targets {
            let out = OutgoingInvite {
                uri,
                target,
                from: &from,
                to,
                max_forwards,
                body: body.clone(),
            };
            if let Some(fork) = self.send_fork(now, id, out) {
                call.forks.push(fork);
            }
        }
        self.drain_layer();
        info!(call = id, tenant = %call.tenant, caller = %caller_id, dialed = %call.record.callee, forks = call.forks.len(), "call ringing");
        let no_forks = call.forks.is_empty();
        self.calls.by_invite.insert(key, id);
        self.calls.by_port.insert(pa, (id, Side::A));
        self.calls.by_port.insert(pb, (id, Side::B));
        self.calls
            .deadlines
            .schedule(call.deadline().unwrap_or(now.mono), id);
        self.calls.calls.insert(id, call);
        if no_forks {
            self.fail_call(now, id, 480, "Temporarily Unavailable");
        }
    }

    /// Sends one outgoing INVITE of call `id` and indexes its transaction.
    pub(super) fn send_fork(&mut self, now: Now, id: CallId, out: OutgoingInvite) -> Option<Fork> {
        let OutgoingInvite {
            uri,
            target,
            from,
            to,
            max_forwards,
            body,
        } = out;
        let mut headers = sip::Headers::default();
        headers.push(Name::Via, self.via(target));
        headers.push(Name::MaxForwards, max_forwards.to_string());
        headers.push(Name::From, format!("{from};tag={}", self.ids.tag()));
        headers.push(Name::To, to);
        headers.push(Name::CallId, self.ids.call_id());
        headers.push(Name::CSeq, "1 INVITE");
        headers.push(Name::Contact, self.contact(target));
        headers.push(Name::Allow, RFC_OUR_METHODS);
        headers.push(Name::Supported, "timer");
        headers.push(
            Name::SessionExpires,
            format!("{};refresher=uas", self.cfg.session_expires.as_secs()),
        );
        headers.push(Name::UserAgent, self.cfg.server_name.clone());
        headers.push(Name::ContentType, "application/sdp");
        let invite = Request {
            method: Method::Invite,
            uri,
            headers,
            body,
        };
        let ck = self
            .layer
            .send_request(now.mono, invite.clone(), target, target.is_reliable())?;
        self.calls.by_fork.insert(ck.clone(), id);
        Some(Fork {
            key: ck,
            invite,
            peer: target,
            final_status: None,
        })
    }

    /// Our offer to the callee: the caller's G.711 codecs first, then the
    /// other law (the switch transcodes), and telephone-events.
    fn offer_to_b(&self, call: &Call) -> Bytes {
        let mut codecs: Vec<(Codec, u8)> = call
            .a_offer
            .codecs
            .iter()
            .map(|(c, _)| (*c, c.payload_type()))
            .collect();
        codecs.dedup();
        for c in [Codec::Pcmu, Codec::Pcma] {
            if !codecs.iter().any(|(k, _)| *k == c) {
                codecs.push((c, c.payload_type()));
            }
        }
        Bytes::from(sdp::write(&sdp::Offer {
            session_id: call.b.sdp.0,
            version: call.b.sdp.1,
            address: self.cfg.media_address,
            port: call.b.port,
            codecs: &codecs,
            telephone_event: Some(101),
            direction: Direction::SendRecv,
        }))
    }

    /// The session interval agreed with the caller, if it supports timers
    /// (it refreshes: refresher=uac).
    pub(super) fn session_for_a(&self, invite: &Request) -> Option<std::time::Duration> {
        if !supports_timer(&invite.headers) {
            return None;
        }
        let asked = session_expires(&invite.headers).map(|(s, _)| u64::from(s));
        let secs = asked
            .unwrap_or(self.cfg.session_expires.as_secs())
            .max(self.cfg.min_se.as_secs());
        Some(std::time::Duration::from_secs(secs))
    }

    /// Our SDP towards a leg, with the given direction.
    pub(super) fn sdp_for(&self, leg: &Leg, direction: Direction) -> Bytes {
        let codecs: Vec<(Codec, u8)> = leg.codec.into_iter().collect();
        Bytes::from(sdp::write(&sdp::Offer {
            session_id: leg.sdp.0,
            version: leg.sdp.1,
            address: self.cfg.media_address,
            port: leg.port,
            codecs: &codecs,
            telephone_event: leg.telephone_event,
            direction,
        }))
    }

    pub(super) fn configure(&mut self, leg: &Leg) {
        if let (Some(remote), Some((codec, pt))) = (leg.remote_media, leg.codec) {
            self.outputs
                .push_back(Output::Media(MediaCommand::Configure {
                    port: leg.port,
                    remote,
                    codec,
                    pt,
                    telephone_event: leg.telephone_event,
                }));
        }
    }

    /// A response to one of our requests.
    pub(super) fn handle_call_response(&mut self, now: Now, key: ClientKey, resp: Response) {
        if key.method != "INVITE" {
            return; // BYE and CANCEL answers need no action
        }
        let Some(&id) = self.calls.by_fork.get(&key) else {
            return self.orphan_response(now, &key, &resp);
        };
        match resp.status {
            100 => {}
            101..=199 => self.fork_progress(now, id, &resp),
            200..=299 => self.fork_answered(now, id, &key, &resp),
            _ => self.fork_failed(now, id, &key, resp.status),
        }
    }

    fn orphan_response(&mut self, now: Now, key: &ClientKey, resp: &Response) {
        if resp.status < 200 {
            return;
        }
        let Some((invite, peer)) = self.calls.orphans.remove(key) else {
            return;
        };
        if resp.status < 300 {
            // Answered after the call ended: ACK and hang up at once.
            if let Ok(mut d) = Dialog::as_uac(&invite, resp) {
                self.send_ack(&mut d, peer);
                let bye = self.bye(&mut d, peer, "SIP;cause=487;text=\"Call already ended\"");
                self.layer
                    .send_request(now.mono, bye, peer, peer.is_reliable());
                self.drain_layer();
            }
        }
    }

    pub(super) fn send_ack(&mut self, d: &mut Dialog, peer: Peer) -> Bytes {
        let via = self.via(peer);
        let contact = self.contact(peer);
        let ack = d
            .request(Method::Ack, &via, &contact, Some(d.local_seq))
            .encode();
        self.transmit(peer, ack.clone());
        ack
    }

    pub(super) fn bye(&mut self, d: &mut Dialog, peer: Peer, reason: &str) -> Request {
        let via = self.via(peer);
        let contact = self.contact(peer);
        let mut bye = d.request(Method::Bye, &via, &contact, None);
        bye.headers.push(Name::Reason, reason.to_string());
        bye
    }

    /// 1xx from a fork: 183 with SDP bridges early media (announcements,
    /// ringback from the far end) and answers the caller with a 183 of our
    /// own; anything else becomes one 180 Ringing.
    fn fork_progress(&mut self, now: Now, id: CallId, resp: &Response) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if call.phase != Phase::Ringing {
            return;
        }
        let early = (resp.status == 183 && call.b.codec.is_none())
            .then(|| sdp::parse_audio(&resp.body).ok())
            .flatten()
            .filter(|a| !a.codecs.is_empty());
        if let Some(answer) = early {
            let (b_codec, b_pt) = answer.codecs[0];
            call.b.codec = Some((b_codec, b_pt));
            call.b.telephone_event = answer.telephone_event;
            call.b.remote_media = answer.address.map(|ip| SocketAddr::new(ip, answer.port));
            call.a.codec = Some(codec_for_caller(&call.a_offer, b_codec));
            call.ringing_sent = true;
            call.features.insert("early-media");
            let (leg_a, leg_b) = (clone_media(&call.a), clone_media(&call.b));
            let key = call.a_key.clone();
            let mut progress = respond::build(
                &call.a_invite,
                183,
                None,
                &self.cfg.secret,
                &self.cfg.server_name,
            );
            progress
                .headers
                .push(Name::Contact, self.contact(leg_a.peer));
            progress.headers.push(Name::ContentType, "application/sdp");
            progress.body = self.sdp_for(&leg_a, Direction::SendRecv);
            self.configure(&leg_a);
            self.configure(&leg_b);
            self.outputs
                .push_back(Output::Media(MediaCommand::Bridge(leg_a.port, leg_b.port)));
            debug!(call = id, "early media");
            return self.reply(now, &key, progress);
        }
        if call.ringing_sent {
            return;
        }
        call.ringing_sent = true;
        let ringing = respond::build(
            &call.a_invite,
            180,
            None,
            &self.cfg.secret,
            &self.cfg.server_name,
        );
        let key = call.a_key.clone();
        debug!(call = id, status = resp.status, "ringing");
        self.reply(now, &key, ringing);
    }

    fn fork_answered(&mut self, now: Now, id: CallId, key: &ClientKey, resp: &Response) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let Some(fork_i) = call.forks.iter().position(|f| &f.key == key) else {
            return;
        };
        if call.phase == Phase::Comeback {
            return self.comeback_answered(now, id, key, resp);
        }
        if call.phase != Phase::Ringing {
            let this = String::from_utf8_lossy(resp.call_id().unwrap_or_default()).into_owned();
            // The dialog this 2xx established, on whichever side it lives.
            let winner = [&call.a, &call.b]
                .into_iter()
                .filter_map(|l| l.dialog.as_ref())
                .find(|d| d.id.call_id == this && d.local_seq == 1)
                .cloned();
            let fork = &call.forks[fork_i];
            let (invite, peer) = (fork.invite.clone(), fork.peer);
            if let Some(mut d) = winner {
                // A retransmitted 2xx: our ACK was lost.
                self.send_ack(&mut d, peer);
            } else if let Ok(mut d) = Dialog::as_uac(&invite, resp) {
                self.send_ack(&mut d, peer);
                let bye = self.bye(
                    &mut d,
                    peer,
                    "SIP;cause=200;text=\"Call completed elsewhere\"",
                );
                self.layer
                    .send_request(now.mono, bye, peer, peer.is_reliable());
                self.drain_layer();
            }
            return;
        }
        let fork_peer = call.forks[fork_i].peer;
        let fork_invite = call.forks[fork_i].invite.clone();
        let Ok(mut dialog) = Dialog::as_uac(&fork_invite, resp) else {
            warn!(call = id, "2xx without a usable dialog");
            return self.fail_call(now, id, 502, "Bad Gateway");
        };
        self.send_ack(&mut dialog, fork_peer);
        let answer = sdp::parse_audio(&resp.body)
            .ok()
            .filter(|a| !a.codecs.is_empty());
        let Some(answer) = answer else {
            let bye = self.bye(
                &mut dialog,
                fork_peer,
                "SIP;cause=488;text=\"No usable SDP answer\"",
            );
            self.layer
                .send_request(now.mono, bye, fork_peer, fork_peer.is_reliable());
            self.drain_layer();
            return self.fail_call(now, id, 488, "Not Acceptable Here");
        };
        self.cancel_forks(now, id, Some(fork_i));
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        call.forks[fork_i].final_status = Some(resp.status);
        let (b_codec, b_pt) = answer.codecs[0];
        call.b.codec = Some((b_codec, b_pt));
        call.b.telephone_event = answer.telephone_event;
        call.b.remote_media = answer.address.map(|ip| SocketAddr::new(ip, answer.port));
        call.b.peer = fork_peer;
        if let Some((secs, Some(refresher))) = session_expires(&resp.headers) {
            if refresher == "uas" && secs > 0 {
                let interval = std::time::Duration::from_secs(u64::from(secs));
                call.b.session = Some((interval, now.mono + interval));
            }
        }
        // The caller gets the callee's codec if it offered it; otherwise its
        // own first choice, and the switch transcodes.
        let a_codec = codec_for_caller(&call.a_offer, b_codec);
        if a_codec.0 != b_codec {
            call.features.insert("transcoding");
        }
        call.a.codec = Some(a_codec);
        let dkey_b = (
            dialog.id.call_id.clone(),
            dialog.id.local_tag.clone(),
            dialog.id.remote_tag.clone(),
        );
        call.b.dialog = Some(dialog);
        let a_dialog = Dialog::as_uas(&call.a_invite, &call.a_tag).ok();
        let dkey_a = a_dialog.as_ref().map(|d| {
            (
                d.id.call_id.clone(),
                d.id.local_tag.clone(),
                d.id.remote_tag.clone(),
            )
        });
        call.a.dialog = a_dialog;
        call.phase = Phase::Answered;
        call.ring_deadline = None;
        call.record.answered_ms = Some(now.unix_ms);
        let (pa, pb) = (call.a.port, call.b.port);
        let a_invite = call.a_invite.clone();
        let a_key = call.a_key.clone();
        let a_peer = call.a.peer;
        let body = {
            let call = &self.calls.calls[&id];
            self.sdp_for(&call.a, Direction::SendRecv)
        };
        let call = &self.calls.calls[&id];
        let (leg_a, leg_b) = (clone_media(&call.a), clone_media(&call.b));
        self.configure(&leg_a);
        self.configure(&leg_b);
        self.outputs
            .push_back(Output::Media(MediaCommand::Bridge(pa, pb)));
        self.outputs
            .push_back(Output::Media(MediaCommand::WatchIdle(pa, true)));
        self.outputs
            .push_back(Output::Media(MediaCommand::WatchIdle(pb, true)));
        self.calls.by_dialog.insert(dkey_b, (id, Side::B));
        if let Some(k) = dkey_a {
            self.calls.by_dialog.insert(k, (id, Side::A));
        }
        let mut ok = respond::build(
            &a_invite,
            200,
            None,
            &self.cfg.secret,
            &self.cfg.server_name,
        );
        ok.headers.push(Name::Contact, self.contact(a_peer));
        ok.headers.push(Name::Allow, RFC_OUR_METHODS);
        if let Some(interval) = self.session_for_a(&a_invite) {
            ok.headers.push(Name::Require, "timer");
            ok.headers.push(
                Name::SessionExpires,
                format!("{};refresher=uac", interval.as_secs()),
            );
            if let Some(call) = self.calls.calls.get_mut(&id) {
                call.a.session = Some((interval, now.mono + interval));
            }
        }
        ok.headers.push(Name::ContentType, "application/sdp");
        ok.body = body;
        let wire = ok.encode();
        self.reply(now, &a_key, ok);
        let t1 = self.cfg.timers.t1;
        if let Some(call) = self.calls.calls.get_mut(&id) {
            call.ok = (!a_peer.is_reliable()).then(|| OkRetransmit {
                side: Side::A,
                peer: a_peer,
                wire,
                next: now.mono + t1,
                interval: t1,
                give_up: now.mono + t1 * 64,
            });
            if a_peer.is_reliable() {
                call.phase = Phase::Established;
            }
            info!(call = id, codec_a = ?a_codec.0, codec_b = ?b_codec, "call answered");
            let at = call.deadline();
            if let Some(at) = at {
                self.calls.deadlines.schedule(at, id);
            }
        }
    }

    /// A request of ours got no answer at all (timer B or F).
    pub(super) fn handle_call_timeout(&mut self, now: Now, key: ClientKey) {
        self.calls.orphans.remove(&key);
        if let Some(&id) = self.calls.by_fork.get(&key) {
            self.fork_failed(now, id, &key, 408);
        }
    }

    fn fork_failed(&mut self, now: Now, id: CallId, key: &ClientKey, status: u16) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if let Some(f) = call.forks.iter_mut().find(|f| &f.key == key) {
            f.final_status = Some(status);
        }
        self.calls.by_fork.remove(key);
        if call.forks.iter().any(|f| f.final_status.is_none()) {
            return;
        }
        if call.phase == Phase::Comeback {
            return self.comeback_failed(now, id);
        }
        if call.phase != Phase::Ringing {
            return;
        }
        let best = call
            .forks
            .iter()
            .filter_map(|f| f.final_status)
            .min_by_key(|&s| failure_rank(s))
            .unwrap_or(480);
        let reason = sip::reason_phrase(best);
        self.fail_call(now, id, best, reason);
    }

    /// Ends a call that was never answered: final response to A, record.
    fn fail_call(&mut self, now: Now, id: CallId, status: u16, reason: &str) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        if call.phase == Phase::Ringing {
            let resp = respond::build(
                &call.a_invite,
                status,
                Some(reason),
                &self.cfg.secret,
                &self.cfg.server_name,
            );
            let key = call.a_key.clone();
            self.reply(now, &key, resp);
        }
        self.end_call(now, id, None, outcome_for(status), status, reason);
    }

    pub(super) fn cancel_forks(&mut self, now: Now, id: CallId, except: Option<usize>) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let pending: Vec<(ClientKey, Request, Peer)> = call
            .forks
            .iter()
            .enumerate()
            .filter(|(i, f)| Some(*i) != except && f.final_status.is_none())
            .map(|(_, f)| (f.key.clone(), f.invite.clone(), f.peer))
            .collect();
        for (key, invite, peer) in pending {
            let mut headers = sip::Headers::default();
            if let Some(v) = invite.headers.values(Name::Via).first() {
                headers.push(Name::Via, Bytes::copy_from_slice(v));
            }
            headers.push(Name::MaxForwards, "70");
            for n in [Name::From, Name::To, Name::CallId] {
                headers.copy_from(&invite.headers, n);
            }
            headers.push(Name::CSeq, "1 CANCEL");
            headers.push(
                Name::Reason,
                "SIP;cause=200;text=\"Call completed elsewhere\"",
            );
            let cancel = Request {
                method: Method::Cancel,
                uri: invite.uri.clone(),
                headers,
                body: Bytes::new(),
            };
            self.layer
                .send_request(now.mono, cancel, peer, peer.is_reliable());
            self.calls.by_fork.remove(&key);
            self.calls.orphans.insert(key, (invite, peer));
        }
        self.drain_layer();
    }

    /// CANCEL from the caller.
    pub(super) fn handle_cancel(&mut self, now: Now, key: ServerKey, req: Request) {
        let invite_key = key.invite_of_cancel();
        let id = self.calls.by_invite.get(&invite_key).copied();
        let ringing = id
            .and_then(|id| self.calls.calls.get(&id))
            .is_some_and(|c| c.phase == Phase::Ringing);
        let status = if id.is_some() || self.layer.has_server(&invite_key) {
            200
        } else {
            481
        };
        let resp = self.response(&req, status, None);
        self.reply(now, &key, resp);
        if let (Some(id), true) = (id, ringing) {
            info!(call = id, "caller cancelled");
            self.cancel_forks(now, id, None);
            self.fail_call(now, id, 487, "Request Terminated");
        }
    }

    /// An ACK outside any transaction: the caller acknowledging our 2xx.
    pub(super) fn handle_dialog_ack(&mut self, req: &Request) {
        let Some(dkey) = dialog_key_of(req) else {
            return;
        };
        let Some(&(id, side)) = self.calls.by_dialog.get(&dkey) else {
            return;
        };
        if let Some(call) = self.calls.calls.get_mut(&id) {
            if call.ok.as_ref().is_some_and(|o| o.side == side) {
                call.ok = None;
            }
            if call.phase == Phase::Answered {
                call.phase = Phase::Established;
            }
        }
    }

    /// A request with a To tag: BYE, re-INVITE, or anything else in a dialog.
    pub(super) fn handle_in_dialog(&mut self, now: Now, key: ServerKey, req: Request) {
        let found = dialog_key_of(&req).and_then(|k| self.calls.by_dialog.get(&k).copied());
        let Some((id, side)) = found else {
            let resp = self.response(&req, 481, None);
            return self.reply(now, &key, resp);
        };
        let checked = self
            .calls
            .calls
            .get_mut(&id)
            .and_then(|c| c.leg_mut(side).dialog.as_mut())
            .map(|d| d.on_request(&req));
        if let Some(Err(e)) = checked {
            let resp = self.response(&req, 500, Some(e.0));
            return self.reply(now, &key, resp);
        }
        match req.method {
            Method::Bye => {
                let resp = self.response(&req, 200, None);
                self.reply(now, &key, resp);
                let who = if side == Side::A { "caller" } else { "callee" };
                info!(call = id, "{who} hung up");
                self.end_call(
                    now,
                    id,
                    Some(side),
                    Outcome::Answered,
                    200,
                    &format!("{who} hung up"),
                );
            }
            Method::Invite | Method::Update => self.handle_reinvite(now, id, side, key, req),
            Method::Refer => self.handle_refer(now, id, side, key, req),
            _ => {
                let resp = self.response(&req, 200, None);
                self.reply(now, &key, resp);
            }
        }
    }

    /// re-INVITE: hold, resume, or a new media address. Answered by the
    /// switch; never forwarded (the held party hears the switch's music).
    fn handle_reinvite(&mut self, now: Now, id: CallId, side: Side, key: ServerKey, req: Request) {
        let offer = if req.body.is_empty() {
            None
        } else {
            sdp::parse_audio(&req.body).ok()
        };
        if !req.body.is_empty() && offer.is_none() {
            let resp = self.response(&req, 488, None);
            return self.reply(now, &key, resp);
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let holding = offer.as_ref().is_some_and(Audio::is_hold);
        let direction = offer
            .as_ref()
            .map_or(Direction::SendRecv, |o| o.direction.answer());
        let direction = if holding && direction == Direction::SendRecv {
            Direction::Inactive
        } else {
            direction
        };
        let leg = call.leg_mut(side);
        if let Some(o) = &offer {
            if let Some(ip) = o.address.filter(|ip| !ip.is_unspecified()) {
                leg.remote_media = Some(SocketAddr::new(ip, o.port));
            }
            if let Some(te) = o.telephone_event {
                leg.telephone_event = Some(te);
            }
        }
        leg.sdp.1 += 1;
        let refreshed = leg.session.map(|(interval, _)| {
            leg.session = Some((interval, now.mono + interval));
            interval
        });
        let changed = leg.holding != holding;
        leg.holding = holding;
        if changed && holding {
            leg.held_at = Some(now.mono);
        }
        let (mine, theirs) = (call.leg(side).port, call.leg(other(side)).port);
        if holding {
            call.features.insert("hold");
        }
        let leg_media = clone_media(call.leg(side));
        let other_holding = call.leg(other(side)).holding;
        self.configure(&leg_media);
        if changed {
            if holding {
                info!(call = id, ?side, "hold: music to the other party");
                self.outputs
                    .push_back(Output::Media(MediaCommand::Music(theirs)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::Silence(mine)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::WatchIdle(mine, false)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::WatchIdle(theirs, false)));
            } else if !other_holding {
                info!(call = id, ?side, "resume");
                self.outputs
                    .push_back(Output::Media(MediaCommand::Bridge(mine, theirs)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::WatchIdle(mine, true)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::WatchIdle(theirs, true)));
            } else {
                self.outputs
                    .push_back(Output::Media(MediaCommand::Music(mine)));
            }
        }
        let body = self.sdp_for(&leg_media, direction);
        let mut ok = self.response(&req, 200, None);
        ok.headers.push(Name::Contact, self.contact(leg_media.peer));
        if let Some(interval) = refreshed {
            ok.headers.push(Name::Require, "timer");
            let refresher = if side == Side::A { "uac" } else { "uas" };
            ok.headers.push(
                Name::SessionExpires,
                format!("{};refresher={refresher}", interval.as_secs()),
            );
            if let Some(at) = self.calls.calls.get(&id).and_then(Call::deadline) {
                self.calls.deadlines.schedule(at, id);
            }
        }
        ok.headers.push(Name::ContentType, "application/sdp");
        ok.body = body;
        self.reply(now, &key, ok);
    }

    /// Ends a call: BYE to every established leg except `hung_up`, cancel
    /// what still rings, close media, write the record.
    pub(super) fn end_call(
        &mut self,
        now: Now,
        id: CallId,
        hung_up: Option<Side>,
        outcome: Outcome,
        status: u16,
        cause: &str,
    ) {
        self.cancel_forks(now, id, None);
        let Some(mut call) = self.calls.calls.remove(&id) else {
            return;
        };
        for side in [Side::A, Side::B] {
            let peer = call.leg(side).peer;
            if Some(side) == hung_up {
                continue;
            }
            if side == Side::A && call.phase == Phase::Ringing {
                continue;
            }
            if let Some(d) = call.leg(side).dialog.as_ref() {
                let mut d = d.clone();
                let reason = format!("SIP;cause={status};text=\"{cause}\"");
                let bye = self.bye(&mut d, peer, &reason);
                self.layer
                    .send_request(now.mono, bye, peer, peer.is_reliable());
            }
        }
        self.drain_layer();
        self.unpark(now, id, &mut call);
        for port in [call.a.port, call.b.port].into_iter().filter(|&p| p != 0) {
            self.outputs
                .push_back(Output::Media(MediaCommand::Close(port)));
            self.ports.give_back(port);
            self.calls.by_port.remove(&port);
        }
        self.calls.by_invite.remove(&call.a_key);
        for f in &call.forks {
            self.calls.by_fork.remove(&f.key);
        }
        for leg in [&call.a, &call.b] {
            if let Some(d) = &leg.dialog {
                self.calls.by_dialog.remove(&(
                    d.id.call_id.clone(),
                    d.id.local_tag.clone(),
                    d.id.remote_tag.clone(),
                ));
            }
        }
        let r = &mut call.record;
        r.ended_ms = now.unix_ms;
        r.outcome = if r.answered_ms.is_some() {
            Outcome::Answered
        } else {
            outcome
        };
        let refusal = call.phase == Phase::Announcing && r.status >= 300;
        if refusal {
            // A refusal (or a parked call's goodbye) keeps its own status and
            // cause, however the caller hangs up.
            r.outcome = if call.features.contains("park") {
                Outcome::NoAnswer
            } else {
                Outcome::Refused
            };
        } else {
            r.status = status;
            r.cause = cause.to_string();
        }
        r.features = call.features.iter().copied().collect::<Vec<_>>().join(",");
        info!(
            call = id,
            outcome = r.outcome.as_str(),
            status,
            cause,
            "call ended"
        );
        self.outputs
            .push_back(Output::Store(StoreOp::SaveCallRecord(Box::new(
                call.record,
            ))));
    }

    /// Call timers: no answer, 2xx retransmission and ACK timeout.
    pub(super) fn call_timers(&mut self, now: Now) {
        for id in self.calls.deadlines.pop_due(now.mono) {
            let Some(call) = self.calls.calls.get_mut(&id) else {
                continue;
            };
            if call.ring_deadline.is_some_and(|d| now.mono >= d) && call.phase == Phase::Ringing {
                info!(call = id, "no answer");
                self.fail_call(now, id, 480, "No Answer");
                continue;
            }
            if call.ring_deadline.is_some_and(|d| now.mono >= d) && call.phase == Phase::Comeback {
                call.ring_deadline = None;
                self.comeback_failed(now, id);
                continue;
            }
            if call.phase == Phase::Parked
                && call.comeback.as_ref().is_some_and(|c| now.mono >= c.0)
            {
                self.start_comeback(now, id);
                continue;
            }
            let expired = [call.a.session, call.b.session]
                .into_iter()
                .flatten()
                .any(|(_, at)| now.mono >= at);
            if expired && call.phase == Phase::Established {
                warn!(call = id, "session timer expired: hanging up");
                self.end_call(
                    now,
                    id,
                    None,
                    Outcome::Answered,
                    408,
                    "Session timer expired",
                );
                continue;
            }
            if let Some(ok) = call.ok.as_mut() {
                if now.mono >= ok.give_up {
                    call.ok = None;
                    warn!(call = id, "no ACK for our 2xx: hanging up");
                    self.end_call(
                        now,
                        id,
                        Some(Side::A),
                        Outcome::Failed,
                        408,
                        "No ACK from the caller",
                    );
                    continue;
                }
                if now.mono >= ok.next {
                    let wire = ok.wire.clone();
                    ok.interval = (ok.interval * 2).min(self.cfg.timers.t2);
                    ok.next = now.mono + ok.interval;
                    let peer = ok.peer;
                    self.transmit(peer, wire);
                }
            }
            if let Some(call) = self.calls.calls.get(&id) {
                if let Some(at) = call.deadline() {
                    self.calls.deadlines.schedule(at, id);
                }
            }
        }
    }

    /// The earliest call timer.
    pub(super) fn next_call_deadline(&self) -> Option<std::time::Instant> {
        self.calls.deadlines.next()
    }

    /// An event from the media engine.
    pub fn handle_media_event(&mut self, now: Now, event: crate::output::MediaEvent) {
        use crate::output::MediaEvent;
        match event {
            MediaEvent::Idle(port) => {
                let Some(&(id, side)) = self.calls.by_port.get(&port) else {
                    return;
                };
                let established = self
                    .calls
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.phase == Phase::Established);
                if established {
                    warn!(call = id, ?side, "no RTP from the party: hanging up");
                    self.end_call(now, id, None, Outcome::Answered, 408, "RTP timeout");
                }
            }
            MediaEvent::OpenFailed(port) => {
                let Some(&(id, _)) = self.calls.by_port.get(&port) else {
                    return;
                };
                warn!(
                    call = id,
                    port, "RTP port could not be bound: retired, ending the call"
                );
                self.ports.retire(port);
                let ringing = self
                    .calls
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.phase == Phase::Ringing);
                if ringing {
                    self.fail_call(now, id, 503, "Media port unavailable");
                } else {
                    self.end_call(
                        now,
                        id,
                        None,
                        Outcome::Failed,
                        503,
                        "Media port unavailable",
                    );
                }
            }
            MediaEvent::Dtmf(port, key) => debug!(port, %key, "DTMF"),
            MediaEvent::PromptDone(port) => {
                let Some(&(id, _)) = self.calls.by_port.get(&port) else {
                    return;
                };
                if self
                    .calls
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.phase == Phase::Announcing)
                {
                    self.end_call(now, id, None, Outcome::Answered, 200, "announcement played");
                }
            }
        }
    }

    /// Live calls.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// RTP ports in use.
    pub fn ports_in_use(&self) -> usize {
        self.ports.in_use()
    }
}

/// The media-relevant copy of a leg.
pub(super) fn clone_media(l: &Leg) -> Leg {
    Leg {
        dialog: None,
        peer: l.peer,
        port: l.port,
        codec: l.codec,
        telephone_event: l.telephone_event,
        remote_media: l.remote_media,
        sdp: l.sdp,
        holding: l.holding,
        session: l.session,
        extension: l.extension.clone(),
        identity: l.identity.clone(),
        held_at: l.held_at,
    }
}
