//! B2BUA call setup: the table of live calls and its indexes, a new INVITE
//! (caller identification, SDP offer, authorization and routing, parking
//! feature codes), the two anchored RTP ports, and one outgoing INVITE per
//! registered contact. What follows lives beside it: `forks` (their
//! answers), `in_dialog` (CANCEL, ACK, BYE, holds), `ending` (teardown,
//! timers, media events), and the parking flows (`park`, `retrieve`,
//! `announce`, `comeback`, `refer`).

use super::Switch;
use crate::authorize::{self, CallRequest, Caller, Decision, Route};
use crate::call::{Call, CallId, Fork, Leg, Phase, Setup, Side};
use crate::deadlines::Deadlines;
use crate::media_security::LegSecurity;
use crate::output::{MediaCommand, Output, StoreOp};
use crate::peer::{Peer, Transport};
use crate::respond;
use crate::time::Now;
use accounts::{CallRecord, Outcome, Tenant};
use bytes::Bytes;
use media::sdp::{self, Audio, Direction};
use media::Codec;
use sip::transaction::{ClientKey, ServerKey};
use sip::{Method, Name, Request, SipHeaders, Uri};
use std::collections::HashMap;
use std::net::SocketAddr;
use tracing::{info, warn};

/// Dialog lookup key: Call-ID, our tag, their tag.
pub(super) type DialogKey = (String, String, String);

/// Every live call and the indexes that find them.
#[derive(Default)]
pub struct CallTable {
    pub(super) calls: super::call_map::CallMap,
    pub(super) by_invite: HashMap<ServerKey, CallId>,
    pub(super) by_fork: HashMap<ClientKey, CallId>,
    /// Our in-dialog OPTIONS probes awaiting an answer.
    pub(super) by_probe: HashMap<ClientKey, CallId>,
    pub(super) by_dialog: HashMap<DialogKey, (CallId, Side)>,
    pub(super) by_port: HashMap<u16, (CallId, Side)>,
    /// Forks of ended calls still awaiting a final answer: a late 2xx gets ACK and BYE.
    pub(super) orphans: HashMap<ClientKey, (Request, Peer)>,
    pub(super) deadlines: Deadlines<CallId>,
    pub(super) lot: crate::lot::Lot,
    pub(super) next_id: CallId,
    /// When the changed calls' snapshots are due (set by the first change
    /// after a save).
    pub(super) save_due: Option<std::time::Instant>,
    /// Calls with a snapshot in the store (so an end removes it).
    pub(super) persisted: std::collections::HashSet<CallId>,
}

impl CallTable {
    /// Number of live calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Schedules call `id`'s timer at `at` (the call has noted it in
    /// `scheduled`), dropping entries no call waits for any more.
    pub(super) fn schedule(&mut self, at: std::time::Instant, id: CallId) {
        self.deadlines.schedule(at, id);
        let calls = &self.calls;
        self.deadlines.drop_stale(calls.len(), |at, id| {
            calls.get(&id).is_some_and(|c| c.scheduled == Some(at))
        });
    }
}

pub(super) fn dialog_key_of(req: &Request) -> Option<DialogKey> {
    let call_id = String::from_utf8_lossy(req.call_id()?).into_owned();
    let ours = req.callee().ok()?.tag()?.to_string();
    let theirs = req.caller().ok()?.tag().unwrap_or_default().to_string();
    Some((call_id, ours, theirs))
}

/// One outgoing INVITE to send.
pub(super) struct OutgoingInvite<'a> {
    /// Where it goes: Request-URI, peer, `To`, `Route`s.
    pub target: Target,
    pub from: &'a str,
    pub max_forwards: u32,
    pub body: Bytes,
    /// The media protection `body` offers.
    pub security: LegSecurity,
    /// Sent to another node on the caller's behalf: carries the proof.
    pub to_node: bool,
}

/// One place a request goes: a registered contact, another node, a trunk.
pub(super) struct Target {
    /// Request-URI.
    pub uri: Uri,
    /// Where the request is sent.
    pub peer: Peer,
    /// `To` value.
    pub to: String,
    /// `Route` values: the Path the callee registered through.
    pub route: Vec<String>,
}

impl Target {
    /// Adds the target's `Route` headers (after `Via` and `Max-Forwards`).
    pub fn push_route(&self, headers: &mut sip::Headers) {
        for r in &self.route {
            headers.push(Name::Route, r.clone());
        }
    }
}

/// Everything a new call starts from.
pub(super) struct NewCall {
    peer: Peer,
    key: ServerKey,
    req: Request,
    tenant: Tenant,
    caller: Caller,
    caller_id: String,
    offer: Audio,
    a_security: LegSecurity,
    route: Route,
    pa: u16,
    pb: u16,
    time_limit: Option<std::time::Duration>,
}

/// A new call, authenticated and its offer taken, before it is routed:
/// what waits for the operator's service, when one decides.
pub(super) struct CallSetup {
    pub peer: Peer,
    pub key: ServerKey,
    pub req: Request,
    pub tenant: Tenant,
    pub caller: Caller,
    pub caller_id: String,
    pub offer: Audio,
    pub a_security: LegSecurity,
}

/// An extension's INVITE the switch answers itself.
enum SelfAnswered {
    /// It takes the place of a leg of the switch's (RFC 3891).
    Replaces(sip::Replaces),
    /// It dials a feature code (park, retrieve).
    Feature(crate::feature_code::Feature),
}

/// What the switch offers for a caller whose INVITE had no SDP (a delayed
/// offer): G.711 both laws and telephone-events. The caller's answer comes
/// in its ACK.
fn delayed_offer(telephone_event_pt: u8) -> Audio {
    Audio {
        address: None,
        port: 0,
        codecs: vec![(Codec::Pcmu, 0), (Codec::Pcma, 8)],
        telephone_event: Some(telephone_event_pt),
        direction: Direction::SendRecv,
        profile: media::sdp::Profile::Avp,
        crypto: None,
        offers_crypto: false,
    }
}

/// A refused call's status as a short code (bounded: metric labels).
fn refusal_code(status: u16) -> &'static str {
    match status {
        403 => "forbidden",
        404 => "not_found",
        480 => "unavailable",
        486 | 600 => "busy",
        488 => "not_acceptable",
        422 => "interval_too_small",
        503 => "overloaded",
        _ => "other",
    }
}

pub(super) fn outcome_for(status: u16) -> Outcome {
    match status {
        486 | 600 => Outcome::Busy,
        408 | 480 => Outcome::NoAnswer,
        487 => Outcome::Cancelled,
        _ => Outcome::Failed,
    }
}

impl Switch {
    pub(super) fn via(&mut self, peer: Peer) -> String {
        crate::addressing::via(&self.cfg, &mut self.ids, peer)
    }

    pub(super) fn contact(&self, peer: Peer) -> String {
        crate::addressing::contact(&self.cfg, peer)
    }

    /// Where a route's INVITEs go: each registered contact of an
    /// extension, another node, or the trunk.
    pub(super) fn targets(&self, route: &Route, tenant: &Tenant) -> Vec<Target> {
        match route {
            Route::Extension {
                number, contacts, ..
            } => contacts
                .iter()
                .filter_map(|b| self.contact_target(b, format!("<sip:{number}@{}>", tenant.domain)))
                .collect(),
            Route::Node { address, number } => {
                let to = format!("<sip:{number}@{}>", tenant.domain);
                let peer = Peer {
                    transport: Transport::Udp,
                    addr: *address,
                };
                Uri::parse(format!("sip:{number}@{}", tenant.domain).as_bytes())
                    .ok()
                    .map(|uri| Target {
                        uri,
                        peer,
                        to,
                        route: Vec::new(),
                    })
                    .into_iter()
                    .collect()
            }
            Route::Trunk { trunk, number } => {
                let addr: Option<SocketAddr> = trunk.address.parse().ok();
                addr.and_then(|addr| {
                    let uri = Uri::parse(format!("sip:{number}@{addr}").as_bytes()).ok()?;
                    let peer = Peer {
                        transport: Transport::Udp,
                        addr,
                    };
                    Some(Target {
                        uri,
                        peer,
                        to: format!("<sip:{number}@{addr}>"),
                        route: Vec::new(),
                    })
                })
                .into_iter()
                .collect()
            }
        }
    }

    /// Where and how requests to a registered contact go (`to`: their
    /// `To`): its URI, through its flow, along the Path it registered
    /// through; `None` when the contact is unusable or unreachable now.
    pub(super) fn contact_target(&self, b: &accounts::Binding, to: String) -> Option<Target> {
        Some(Target {
            uri: Uri::parse(b.contact.as_bytes()).ok()?,
            peer: self.peer_for(&b.source)?,
            to,
            route: b.path.clone(),
        })
    }

    /// The live peer for a binding's flow. A phone on TLS whose connection
    /// is gone cannot be reached (never in the clear over UDP) until it
    /// connects again; one on TCP is tried over UDP.
    pub(super) fn peer_for(&self, flow: &accounts::Flow) -> Option<Peer> {
        use accounts::FlowTransport;
        let addr = flow.addr;
        let udp = Peer {
            transport: Transport::Udp,
            addr,
        };
        Some(match flow.transport {
            FlowTransport::Tls => self.stream_peers.get(&addr).copied()?,
            FlowTransport::Tcp => self.stream_peers.get(&addr).copied().unwrap_or(udp),
            FlowTransport::Udp => udp,
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
            connected: String::new(),
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
    pub(super) fn refuse_call(
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
        let kind = crate::switch_event::EventKind::Refused {
            what: crate::switch_event::Refused::Call,
            status,
            cause: reason.to_string(),
            code: refusal_code(status),
        };
        self.emit(now, tenant, None, kind);
        self.outputs
            .push_back(Output::Store(StoreOp::SaveCallRecord(Box::new(record))));
    }

    /// A new INVITE (no To tag) from an admitted caller.
    pub(super) fn handle_invite(
        &mut self,
        now: Now,
        peer: Peer,
        key: ServerKey,
        req: Request,
        caller: Caller,
    ) {
        let tenant = match &caller {
            Caller::Trunk(t) => self.dir.tenant(&t.tenant).cloned(),
            Caller::Extension(e) => self.dir.tenant(&e.tenant).cloned(),
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
        let delayed = req.body.is_empty();
        let offer = match sdp::parse_audio(&req.body) {
            _ if delayed => delayed_offer(self.cfg.telephone_event_pt),
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
        let policy = tenant.srtp.unwrap_or(self.cfg.srtp);
        let a_security = match LegSecurity::answering(policy, &offer, &mut self.keys) {
            Ok(s) => s,
            Err(refusal) => {
                let who = (tenant.name.as_str(), caller_id.as_str());
                return self.refuse_call(now, &key, &req, who, 488, refusal.reason());
            }
        };
        if let Some((se, _)) = crate::call::session_timer::session_expires(&req.headers) {
            if u64::from(se) < self.cfg.min_se.as_secs() {
                let mut resp = self.response(&req, 422, Some("Session Interval Too Small"));
                resp.headers
                    .push(Name::MinSE, self.cfg.min_se.as_secs().to_string());
                return self.reply(now, &key, resp);
            }
        }
        let dialed = req.uri.user_decoded().unwrap_or_default();
        if let Caller::Extension(ext) = &caller {
            // What the switch answers itself: a leg's replacement or a
            // feature code. Its answer carries its own SDP, so it needs the
            // caller's offer.
            let own = match req
                .headers
                .get_str(Name::Replaces)
                .and_then(|v| sip::Replaces::parse(&v))
            {
                Some(r) => Some(SelfAnswered::Replaces(r)),
                None => {
                    crate::feature_code::parse(&dialed, &tenant.park_prefix, &tenant.release_prefix)
                        .map(SelfAnswered::Feature)
                }
            };
            if let Some(own) = own {
                if delayed {
                    let who = (tenant.name.as_str(), caller_id.as_str());
                    let reason = "Feature codes and Replaces need an SDP offer";
                    return self.refuse_call(now, &key, &req, who, 488, reason);
                }
                let fc = super::park::FeatureCall {
                    peer,
                    key,
                    req,
                    tenant,
                    ext: ext.clone(),
                    offer,
                    security: a_security,
                };
                return match own {
                    SelfAnswered::Replaces(r) => self.replace_by_invite(now, fc, r),
                    SelfAnswered::Feature(f) => self.handle_feature(now, fc, f),
                };
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
        let setup = CallSetup {
            peer,
            key,
            req,
            tenant,
            caller,
            caller_id,
            offer,
            a_security,
        };
        // The operator's service decides what the rules let through, and
        // numbers they do not know (it may route those).
        let ask = matches!(decision, Decision::Route(_) | Decision::Refuse(404, _));
        if self.authorizations.is_some() && ask {
            let question = (
                crate::external_authorization::AuthorizationKind::Call,
                setup.tenant.name.clone(),
                setup.caller_id.clone(),
                dialed.clone(),
            );
            let held = super::authorization::Suspended::Call {
                setup: Box::new(setup),
                dialed,
                embedded: decision,
            };
            return self.ask_operator(now, question, held);
        }
        self.follow_decision(now, setup, decision, None);
    }

    /// A call as `decision` says: refused, or along its route for
    /// `time_limit` once answered.
    pub(super) fn follow_decision(
        &mut self,
        now: Now,
        setup: CallSetup,
        decision: Decision,
        time_limit: Option<std::time::Duration>,
    ) {
        match decision {
            Decision::Refuse(status, reason) => {
                let who = (setup.tenant.name.as_str(), setup.caller_id.as_str());
                self.refuse_call(now, &setup.key, &setup.req, who, status, reason)
            }
            Decision::Route(route) => self.connect_routed(now, setup, route, time_limit),
        }
    }

    /// A call the rules (and the operator's service) let through: its
    /// ports, the toll-fraud guard for calls out, then its INVITEs.
    fn connect_routed(
        &mut self,
        now: Now,
        setup: CallSetup,
        route: Route,
        time_limit: Option<std::time::Duration>,
    ) {
        let CallSetup {
            peer,
            key,
            req,
            tenant,
            caller,
            caller_id,
            offer,
            a_security,
        } = setup;
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
        if let (Caller::Extension(ext), Route::Trunk { .. }) = (&caller, &route) {
            if let Err(refusal) = self.outbound.admit(&tenant, ext, now.unix_s()) {
                self.ports.give_back(pa);
                self.ports.give_back(pb);
                let who = (tenant.name.as_str(), caller_id.as_str());
                return self.refuse_call(now, &key, &req, who, 403, refusal.reason());
            }
        }
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
                a_security,
                route,
                pa,
                pb,
                time_limit,
            },
        );
    }

    pub(super) fn start_call(&mut self, now: Now, new: NewCall) {
        let NewCall {
            peer,
            key,
            req,
            tenant,
            caller,
            caller_id,
            offer,
            a_security,
            route,
            pa,
            pb,
            time_limit,
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
        let mut a = Leg::new(peer, pa, crate::call::SdpOrigin::new(self.ids.number()));
        a.security = a_security;
        a.telephone_event = offer.telephone_event;
        a.remote_media = offer.address.map(|ip| SocketAddr::new(ip, offer.port));
        let mut b = Leg::new(peer, pb, crate::call::SdpOrigin::new(self.ids.number()));
        a.allows_update = crate::call::allows_update(&req.headers);
        if let Caller::Extension(e) = &caller {
            a.extension = Some(e.number.clone());
        }
        if let Route::Extension { number, name, .. } = &route {
            b.extension = Some(number.clone());
            b.identity = crate::call::Identity::new(name.clone(), number.clone());
        } else if let Route::Trunk { number, .. } | Route::Node { number, .. } = &route {
            b.identity = crate::call::Identity::new("", number.clone());
        }
        let mut record = self.new_record(now, &req, &tenant.name, &caller_id);
        record.outcome = Outcome::Failed;
        let setup = Setup {
            delayed: req.body.is_empty(),
            invite: req.clone(),
            key: key.clone(),
            offer,
            tag: a_tag,
        };
        let deadline = now.mono + self.cfg.no_answer_timeout;
        let mut call = Call::ringing(tenant.name.clone(), (a, b), setup, deadline, record);
        call.limit = time_limit.map(crate::call::TimeLimit::Granted);
        call.outbound_by = match (&caller, &route) {
            (Caller::Extension(e), Route::Trunk { .. }) => Some(e.number.clone()),
            _ => None,
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
        call.a.identity = crate::call::Identity::new(display.clone(), from_user.clone());
        let started = crate::switch_event::EventKind::CallStarted {
            from: from_user.clone(),
            to: call.record.callee.clone(),
        };
        self.emit(now, &tenant.name, Some(id), started);
        call.record.routed_to = match &route {
            Route::Extension { number, .. } => number.clone(),
            Route::Trunk { trunk, .. } => format!("trunk:{}", trunk.name),
            Route::Node { address, .. } => format!("node:{address}"),
        };
        let targets = self.targets(&route, &tenant);
        let max_forwards = req
            .headers
            .get(Name::MaxForwards)
            .and_then(|v| sip::validate::parse_delta(v))
            .map_or(70, |m| m.saturating_sub(1).min(70));
        let from = call.a.identity.name_addr(&tenant.domain);
        let policy = tenant.srtp.unwrap_or(self.cfg.srtp);
        let mut forks = Vec::new();
        for target in targets {
            let security = LegSecurity::offering(policy, target.peer, &mut self.keys);
            let body = match call.phase.setup() {
                Some(setup) => self.offer_to_b(&setup.offer, &call.b, &security),
                None => Bytes::new(),
            };
            let out = OutgoingInvite {
                target,
                from: &from,
                max_forwards,
                body,
                security,
                to_node: matches!(route, Route::Node { .. }),
            };
            if let Some(fork) = self.send_fork(now, id, out) {
                forks.push(fork);
            }
        }
        self.drain_layer();
        let no_forks = forks.is_empty();
        info!(call = id, tenant = %call.tenant, caller = %caller_id, dialed = %call.record.callee, forks = forks.len(), "call ringing");
        if let Phase::Ringing(r) = &mut call.phase {
            r.forking.forks = forks;
        }
        self.calls.by_invite.insert(key, id);
        self.calls.by_port.insert(pa, (id, Side::A));
        self.calls.by_port.insert(pb, (id, Side::B));
        let at = call.deadline().unwrap_or(now.mono);
        call.scheduled = Some(at);
        // In the table first: scheduling drops entries of calls not in it.
        self.calls.calls.insert(id, call);
        self.calls.schedule(at, id);
        if no_forks {
            self.fail_call(now, id, 480, "Temporarily Unavailable");
        }
    }

    /// Sends one outgoing INVITE of call `id` and indexes its transaction.
    pub(super) fn send_fork(&mut self, now: Now, id: CallId, out: OutgoingInvite) -> Option<Fork> {
        let OutgoingInvite {
            target: to,
            from,
            max_forwards,
            body,
            security,
            to_node,
        } = out;
        let target = to.peer;
        let mut headers = sip::Headers::default();
        headers.push(Name::Via, self.via(target));
        headers.push(Name::MaxForwards, max_forwards.to_string());
        to.push_route(&mut headers);
        headers.push(Name::From, format!("{from};tag={}", self.ids.tag()));
        headers.push(Name::To, to.to.clone());
        let call_id = self.ids.call_id();
        if to_node {
            let proof = crate::node_proof::proof(&self.cfg.secret, call_id.as_bytes());
            headers.push(Name::ParklineNode, proof);
        }
        headers.push(Name::CallId, call_id);
        headers.push(Name::CSeq, "1 INVITE");
        headers.push(Name::Contact, self.contact(target));
        headers.push(Name::Allow, crate::call::ALLOW);
        headers.push(Name::Supported, "timer");
        headers.push(
            Name::SessionExpires,
            format!("{};refresher=uas", self.cfg.session_expires.as_secs()),
        );
        headers.push(Name::UserAgent, self.cfg.server_name.clone());
        headers.push(Name::ContentType, "application/sdp");
        let invite = Request {
            method: Method::Invite,
            uri: to.uri,
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
            reply_by: Some(now.mono + self.cfg.fork_reply_timeout),
            authenticated: false,
            security,
        })
    }

    /// Our offer to the callee: the caller's G.711 codecs first, then the
    /// other law (the switch transcodes), and telephone-events.
    pub(super) fn offer_to_b(&self, offer: &Audio, b: &Leg, security: &LegSecurity) -> Bytes {
        let mut codecs: Vec<(Codec, u8)> = offer
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
        let (profile, crypto) = security.sdp_parts();
        Bytes::from(sdp::write(&sdp::Offer {
            session_id: b.sdp.session_id,
            version: b.sdp.version,
            address: self.cfg.media_address,
            port: b.port,
            codecs: &codecs,
            telephone_event: Some(self.cfg.telephone_event_pt),
            direction: Direction::SendRecv,
            profile,
            crypto,
        }))
    }
}
