//! Who may make the switch hold state. A new request gets a server
//! transaction only when it comes from a configured trunk, carries valid
//! credentials, or belongs to a dialog (or INVITE) the switch already has.
//! Everything else is answered statelessly, once, without a transaction:
//! challenges (the client retransmits; the switch never does, so a spoofed
//! source gets one response per request it sent), refusals, `481`, and
//! `503` at the limits. A flood of strangers therefore fills nothing, and
//! registered phones and trunks are never refused because of it.

use super::calls::dialog_key_of;
use super::Switch;
use crate::auth::AuthOutcome;
use crate::authorize::Caller;
use crate::output::{Output, StoreOp};
use crate::peer::{Peer, Transport};
use crate::tenancy;
use crate::time::Now;
use sip::transaction::ServerKey;
use sip::validate::validate_request;
use sip::{Method, Name, Request, Response, SipHeaders};

/// Why a new request may have a transaction.
#[derive(Clone, Debug)]
pub(super) enum Admission {
    /// An INVITE from a trunk, or one with an extension's valid credentials.
    Call(Caller),
    /// A REGISTER with valid credentials of this extension.
    Register(accounts::Extension),
    /// A request in a dialog the switch has.
    InDialog,
    /// A CANCEL for an INVITE the switch has.
    Cancel,
    /// A SUBSCRIBE to a package the switch serves, with an extension's
    /// valid credentials.
    Subscribe(accounts::Extension),
    /// A MESSAGE with an extension's valid credentials.
    Message(accounts::Extension),
}

impl Switch {
    /// The extension another node of the cluster sends this INVITE for:
    /// its proof (`X-Parkline-Node`) holds, and its From user is an
    /// extension of the tenant its Request-URI names.
    pub(super) fn node_caller(&self, req: &Request) -> Option<accounts::Extension> {
        let presented = req.headers.get(Name::ParklineNode)?;
        let call_id = req.call_id()?;
        if !crate::node_proof::verify(&self.cfg.secret, call_id, presented) {
            return None;
        }
        let tenant = tenancy::resolve(&self.dir, req, self.cfg.default_tenant.as_deref()).ok()?;
        let user = req.caller().ok()?.uri.user_decoded()?;
        self.dir.extension(&tenant.name, &user).cloned()
    }

    /// Whether `peer` is one of the cluster's SIP edges.
    pub(super) fn is_edge(&self, peer: Peer) -> bool {
        self.cfg.edges.contains(&peer.addr)
    }

    /// Where a request really comes from: for a request from a configured
    /// edge, the address its `X-Parkline-Source` names (the edge removes
    /// any a sender put there and adds its own, and nothing but the edge
    /// sends from its address); otherwise the transport's peer.
    pub(super) fn origin(&self, peer: Peer, req: &Request) -> Peer {
        if !self.is_edge(peer) {
            return peer;
        }
        let vouched = req
            .headers
            .get(Name::ParklineSource)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<std::net::SocketAddr>().ok());
        match vouched {
            Some(addr) => Peer {
                transport: Transport::Udp,
                addr,
            },
            None => peer,
        }
    }

    /// Decides whether `req` (new, not an ACK) may have a transaction; if
    /// not, answers it statelessly to `resp_peer` and returns `None`.
    pub(super) fn admit(
        &mut self,
        now: Now,
        peer: Peer,
        resp_peer: Peer,
        key: &ServerKey,
        req: &Request,
    ) -> Option<Admission> {
        let peer = self.origin(peer, req);
        if let Err(rej) = validate_request(req, &self.caps) {
            let mut resp = self.response(req, rej.status, Some(rej.reason));
            for (name, value) in rej.headers {
                resp.headers.push(name, value);
            }
            self.answer_statelessly(resp_peer, resp);
            return None;
        }
        let in_dialog = req.callee().is_ok_and(|t| t.tag().is_some());
        let admitted = match req.method {
            Method::Cancel => {
                let invite = key.invite_of_cancel();
                (self.layer.has_server(&invite) || self.calls.by_invite.contains_key(&invite))
                    .then_some(Admission::Cancel)
            }
            _ if in_dialog => dialog_key_of(req)
                .is_some_and(|k| {
                    self.calls.by_dialog.contains_key(&k) || self.subscription_of(&k).is_some()
                })
                .then_some(Admission::InDialog),
            Method::Subscribe if super::subscribe::package_of(req).is_none() => {
                // RFC 6665 §4.2.1: say which packages are served.
                let mut resp = self.response(req, 489, Some("Bad Event"));
                resp.headers
                    .push(Name::AllowEvents, crate::lamp::Package::ALL);
                self.answer_statelessly(resp_peer, resp);
                return None;
            }
            Method::Subscribe => {
                return self
                    .authenticate(now, peer, resp_peer, req, Name::ProxyAuthenticate)
                    .map(Admission::Subscribe);
            }
            Method::Message => {
                return self
                    .authenticate(now, peer, resp_peer, req, Name::ProxyAuthenticate)
                    .map(Admission::Message);
            }
            Method::Options => {
                let mut resp = self.response(req, 200, None);
                self.advertise(&mut resp);
                self.answer_statelessly(resp_peer, resp);
                return None;
            }
            Method::Register if !req.callee().is_ok_and(|t| t.uri.is_sip()) => {
                let resp = self.response(req, 400, Some("Address-of-record must be a SIP URI"));
                self.answer_statelessly(resp_peer, resp);
                return None;
            }
            Method::Register => {
                return self
                    .authenticate(now, peer, resp_peer, req, Name::WwwAuthenticate)
                    .map(Admission::Register);
            }
            Method::Invite => {
                if let Some(ext) = self.node_caller(req) {
                    return Some(Admission::Call(Caller::Extension(ext)));
                }
                if let Some(trunk) = self.trunk_of(peer) {
                    return Some(Admission::Call(Caller::Trunk(trunk)));
                }
                return self
                    .authenticate(now, peer, resp_peer, req, Name::ProxyAuthenticate)
                    .map(|ext| Admission::Call(Caller::Extension(ext)));
            }
            _ => None,
        };
        if admitted.is_none() {
            let resp = self.response(req, 481, None);
            self.answer_statelessly(resp_peer, resp);
        }
        admitted
    }

    /// The trunk a request comes from: by its source address over UDP, by
    /// its client certificate over TLS.
    pub(super) fn trunk_of(&self, peer: Peer) -> Option<accounts::Trunk> {
        match peer.transport {
            Transport::Udp => self.dir.trunk_by_address(&peer.addr.to_string()).cloned(),
            Transport::Tls(id) => self
                .trunk_connections
                .get(&id)
                .and_then(|name| self.dir.trunk_named(name))
                .cloned(),
            Transport::Tcp(_) => None,
        }
    }

    /// Sends one response without a transaction.
    pub(super) fn answer_statelessly(&mut self, to: Peer, resp: Response) {
        self.transmit(to, resp.encode());
    }

    /// Authenticates a request; on anything but success answers it
    /// statelessly (401/407 challenge or 403) and returns `None`. A refused
    /// INVITE leaves a call record.
    fn authenticate(
        &mut self,
        now: Now,
        peer: Peer,
        resp_peer: Peer,
        req: &Request,
        challenge_header: Name,
    ) -> Option<accounts::Extension> {
        let resolved = tenancy::resolve(&self.dir, req, self.cfg.default_tenant.as_deref());
        let (tenant, realm) = match &resolved {
            Ok(t) => (Some((*t).clone()), t.domain.clone()),
            Err(realm) => (None, realm.clone()),
        };
        match self.auth.authenticate(
            req,
            tenant.as_ref(),
            &realm,
            &self.dir,
            peer.addr.ip(),
            now.unix_s(),
        ) {
            AuthOutcome::Authenticated(ext) => Some(ext),
            AuthOutcome::Challenge(values) => {
                let status = if challenge_header == Name::WwwAuthenticate {
                    401
                } else {
                    407
                };
                let mut resp = self.response(req, status, None);
                for v in values {
                    resp.headers.push(challenge_header, v);
                }
                self.answer_statelessly(resp_peer, resp);
                None
            }
            AuthOutcome::Forbidden(refusal) => {
                // Logged by the guessing guard, once per source per interval.
                self.stats.auth_failures += 1;
                let resp = self.response(req, 403, Some("Forbidden"));
                self.answer_statelessly(resp_peer, resp);
                if req.method == Method::Invite {
                    self.record_auth_refusal(now, req, refusal.reason());
                }
                None
            }
        }
    }

    fn record_auth_refusal(&mut self, now: Now, req: &Request, reason: &str) {
        let caller = req
            .caller()
            .map(|c| c.uri.user_decoded().unwrap_or_default())
            .unwrap_or_default();
        let mut record = self.new_record(now, req, "", &caller);
        record.status = 403;
        record.cause = format!("authentication failed: {reason}");
        let kind = crate::switch_event::EventKind::Refused {
            what: crate::switch_event::Refused::Call,
            status: 403,
            cause: record.cause.clone(),
            code: "authentication",
        };
        self.emit(now, "", None, kind);
        self.outputs
            .push_back(Output::Store(StoreOp::SaveCallRecord(Box::new(record))));
    }
}
