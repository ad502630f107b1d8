//! The switchboard: takes messages and timer ticks, answers through the
//! transaction layer, and reports what to send and what to persist.

mod admission;
mod announce;
mod attended;
mod authorization;
mod call_input;
mod call_map;
mod calls;
mod claims;
mod comeback;
mod ending;
mod forks;
mod in_dialog;
mod lamps;
mod late_requests;
mod message;
mod operator;
mod park;
mod park_alerts;
mod parker_probes;
mod probes;
mod refer;
mod refusal_log;
mod replaces;
mod reporting;
mod resume;
mod retrieve;
mod subscribe;
mod transfer;
mod trunk_auth;
mod trunk_registration;

use crate::auth::Authenticator;
use crate::config::SwitchConfig;
use crate::ids::Ids;
use crate::output::Output;
use crate::peer::Peer;
use crate::ports::Ports;
use crate::registrar::Registrar;
use crate::respond;
use crate::time::Now;
use accounts::{Binding, Directory};
use admission::Admission;
use bytes::Bytes;
use calls::CallTable;
pub use claims::{PositionClaim, PositionLookup};
pub use operator::{LiveCall, MoveAnswer, MoveRefusal, MoveStarted, SendRefusal};
pub use park::ParkedInfo;
pub use resume::Resumed;
use sip::transaction::{Incoming, Layer, Output as TxOut, ServerKey};
use sip::validate::{check_structure, Capabilities};
use sip::{Message, Method, Name, ParseError, Request, Response, SipHeaders};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;
use tracing::{debug, info, warn};

/// Methods the switch implements today.
const METHODS: [Method; 11] = [
    Method::Invite,
    Method::Subscribe,
    Method::Message,
    Method::Update,
    Method::Refer,
    Method::Notify,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Options,
    Method::Register,
];

/// Counters for metrics and the admin API.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Stats {
    /// Requests received (including retransmissions).
    pub requests: u64,
    /// Responses received.
    pub responses: u64,
    /// Messages that failed to parse.
    pub parse_errors: u64,
    /// Responses sent (first transmissions and retransmissions).
    pub sent: u64,
    /// Successful registrations (including refreshes).
    pub registrations: u64,
    /// Authentication failures.
    pub auth_failures: u64,
    /// Requests refused with 503 because a transaction limit was reached.
    pub overload_refusals: u64,
    /// New INVITEs and SUBSCRIBEs refused with 503 because they had waited
    /// longer than [`SwitchConfig::max_request_wait`] to be read.
    pub late_refusals: u64,
    /// New requests answered without a transaction (challenges, refusals,
    /// OPTIONS, 481): what a flood of strangers costs.
    pub stateless_answers: u64,
    /// Requests received by method, in the order of [`METHOD_LABELS`].
    #[serde(skip)]
    pub requests_by_method: [u64; METHOD_LABELS.len()],
    /// Responses sent by class (1xx to 6xx).
    #[serde(skip)]
    pub responses_by_class: [u64; 6],
}

/// A tenant's parked calls and registered contacts now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantLoad {
    /// Tenant name.
    pub tenant: String,
    /// Calls in its lot.
    pub parked: usize,
    /// Registered contacts.
    pub registrations: usize,
}

/// The methods counted apart, as metric labels; anything else is `other`.
pub const METHOD_LABELS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "INFO",
    "UPDATE",
    "PRACK",
    "REFER",
    "NOTIFY",
    "SUBSCRIBE",
    "MESSAGE",
    "PUBLISH",
    "other",
];

/// A method's slot in [`Stats::requests_by_method`].
fn method_slot(method: &Method) -> usize {
    METHOD_LABELS
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(METHOD_LABELS.len() - 1)
}

/// The sans-IO switch.
pub struct Switch {
    cfg: SwitchConfig,
    dir: Directory,
    layer: Layer<Peer>,
    registrar: Registrar,
    auth: Authenticator,
    caps: Capabilities,
    outputs: VecDeque<Output>,
    next_sweep: Option<Instant>,
    stats: Stats,
    /// When refusals at the transaction limit were last logged, and the
    /// refusal count then.
    overload_logged: refusal_log::RefusalLog,
    /// When late requests were last logged, and the count then.
    late_logged: refusal_log::RefusalLog,
    calls: CallTable,
    ports: Ports,
    ids: Ids,
    /// The connection (TCP or TLS) each stream peer's address last used,
    /// so requests to a phone go back over its connection.
    stream_peers: HashMap<SocketAddr, Peer>,
    /// The address of each connection in `stream_peers`, by connection id
    /// (to forget it when the connection closes).
    stream_addrs: HashMap<u64, SocketAddr>,
    /// The switch's SRTP keys.
    keys: crate::media_security::KeyMint,
    /// TLS connections whose client certificate names a trunk, by id.
    trunk_connections: HashMap<u64, String>,
    /// Server transactions in progress per source IP.
    per_source: HashMap<std::net::IpAddr, usize>,
    timed_out: Vec<sip::transaction::ClientKey>,
    retrieve_failures: crate::rate_limit::RateLimit<(String, std::net::IpAddr)>,
    outbound: crate::outbound::OutboundGuard,
    trunk_registrations: trunk_registration::TrunkRegistrations,
    /// Busy-lamp subscriptions the switch notifies.
    subs: crate::subscriptions::Subscriptions,
    /// Whether parkers' phones answer (so a comeback rings no ghost).
    reachability: crate::reachability::Reachability,
    /// Parking claims on their way to the shared store.
    claims: claims::Claims,
    /// Questions for the operator's authorization service, if one decides.
    authorizations: Option<crate::external_authorization::Authorizations<authorization::Suspended>>,
}

impl Switch {
    /// A switch with its settings and account directory.
    pub fn new(cfg: SwitchConfig, dir: Directory) -> Switch {
        let authorizations = cfg
            .authorization
            .clone()
            .map(crate::external_authorization::Authorizations::new);
        let registrar = Registrar::new(
            cfg.min_expires,
            cfg.max_expires,
            cfg.default_expires,
            cfg.max_contacts_per_extension,
        );
        let auth = Authenticator::new(
            cfg.digest_algorithms.clone(),
            &cfg.secret,
            cfg.nonce_lifetime_s,
            cfg.nonce_seed,
            cfg.guessing,
        );
        let ports = Ports::new(
            cfg.rtp_ports.0,
            cfg.rtp_ports.1,
            cfg.nonce_seed ^ 0x9E37_79B9_7F4A_7C15,
        );
        let ids = Ids::new(&cfg.secret, cfg.nonce_seed);
        let cfg_srtp_seed = cfg.srtp_seed;
        let cfg_subs = (cfg.max_subscriptions, cfg.max_subscriptions_per_extension);
        let cfg_retrieve = (
            cfg.max_retrieve_failures_per_minute,
            cfg.max_retrieve_failure_sources,
        );
        Switch {
            layer: Layer::new(cfg.timers),
            caps: Capabilities {
                methods: METHODS.to_vec(),
                extensions: vec!["timer", "replaces"],
                content_types: vec!["application/sdp", "multipart/mixed"],
            },
            cfg,
            dir,
            registrar,
            auth,
            outputs: VecDeque::new(),
            next_sweep: None,
            stats: Stats::default(),
            overload_logged: Default::default(),
            late_logged: Default::default(),
            calls: CallTable::default(),
            ports,
            ids,
            stream_peers: HashMap::new(),
            stream_addrs: HashMap::new(),
            trunk_connections: HashMap::new(),
            keys: crate::media_security::KeyMint::new(cfg_srtp_seed),
            per_source: HashMap::new(),
            timed_out: Vec::new(),
            retrieve_failures: crate::rate_limit::RateLimit::new(
                cfg_retrieve.0,
                60,
                cfg_retrieve.1,
            ),
            outbound: Default::default(),
            trunk_registrations: Default::default(),
            subs: crate::subscriptions::Subscriptions::new(cfg_subs.0, cfg_subs.1),
            reachability: Default::default(),
            claims: Default::default(),
            authorizations,
        }
    }

    /// Replaces the account directory (after provisioning changes).
    pub fn set_directory(&mut self, dir: Directory) {
        self.dir = dir;
    }

    /// Restores bindings from the store at start.
    pub fn restore_bindings(&mut self, bindings: Vec<Binding>, now: Now) {
        for op in self.registrar.restore(bindings, now.unix_s()) {
            self.outputs.push_back(Output::Store(op));
        }
    }

    /// Current bindings.
    pub fn bindings(&self) -> Vec<Binding> {
        let mut v: Vec<_> = self.registrar.all().cloned().collect();
        v.sort_by(|a, b| {
            (&a.tenant, &a.extension, &a.contact).cmp(&(&b.tenant, &b.extension, &b.contact))
        });
        v
    }

    /// Parked calls and registrations of every tenant (zero included, so a
    /// gauge falls back to 0).
    pub fn tenant_load(&self) -> Vec<TenantLoad> {
        let mut load: Vec<TenantLoad> = self
            .dir
            .tenants()
            .into_iter()
            .map(|t| TenantLoad {
                tenant: t.name.clone(),
                parked: 0,
                registrations: 0,
            })
            .collect();
        let slot =
            |load: &mut Vec<TenantLoad>, name: &str| load.iter().position(|l| l.tenant == name);
        for (tenant, _, _) in self.calls.lot.list(None) {
            if let Some(i) = slot(&mut load, tenant) {
                load[i].parked += 1;
            }
        }
        for b in self.registrar.all() {
            if let Some(i) = slot(&mut load, &b.tenant) {
                load[i].registrations += 1;
            }
        }
        load
    }

    /// Number of busy-lamp subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Number of bindings.
    pub fn binding_count(&self) -> usize {
        self.registrar.len()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Live (server, client) transactions, lingering ones included.
    pub fn transactions(&self) -> (usize, usize) {
        self.layer.len()
    }

    /// The transaction layer's memory, bytes (its estimate).
    pub fn transaction_bytes(&self) -> usize {
        self.layer.bytes()
    }

    /// Next output to carry out.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Earliest time [`Switch::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.layer.poll_timeout(),
            self.next_sweep,
            self.next_call_deadline(),
            self.calls.save_due,
            self.subs.poll_timeout(),
            self.authorization_deadline(),
            self.claim_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Now) {
        self.fire_timers(now);
        self.settle(now);
    }

    /// After each input: lamps that changed are notified, changed calls
    /// saved.
    fn settle(&mut self, now: Now) {
        self.report_call_events(now);
        self.update_lamps(now);
        self.save_changed_calls(now);
    }

    fn fire_timers(&mut self, now: Now) {
        self.layer.handle_timeout(now.mono);
        self.drain_layer();
        for key in std::mem::take(&mut self.timed_out) {
            if self.handle_notify_answer(now, &key, None) {
                continue;
            }
            if !self.handle_registration_timeout(now, &key) {
                self.handle_call_timeout(now, key);
            }
        }
        self.call_timers(now);
        self.expire_authorizations(now);
        self.expire_claims(now);
        self.expire_subscriptions(now);
        if self.next_sweep.is_none_or(|s| now.mono >= s) {
            let ops = self.registrar.sweep(now.unix_s());
            self.report_bindings(now, &ops);
            self.outputs.extend(ops.into_iter().map(Output::Store));
            self.auth.sweep(now.unix_s());
            self.sweep_trunk_registrations(now);
            self.probe_parkers(now);
            self.next_sweep = Some(now.mono + self.cfg.sweep_interval);
        }
    }

    /// A UDP datagram arrived at `arrived` (it is read now).
    pub fn handle_datagram(&mut self, now: Now, arrived: Instant, peer: Peer, data: Bytes) {
        match sip::parse_datagram(&data, &self.cfg.limits) {
            Ok(Some(msg)) => self.handle_message(now, arrived, peer, msg),
            Ok(None) => {}
            Err(e) => self.handle_parse_error(peer, e),
        }
    }

    /// A TLS connection presented a client certificate valid for the
    /// trunk named `trunk`: its requests are that trunk's.
    pub fn handle_connection_identified(&mut self, id: u64, trunk: String) {
        self.trunk_connections.insert(id, trunk);
    }

    /// The configured trunks.
    pub fn trunks(&self) -> &[accounts::Trunk] {
        self.dir.trunks()
    }

    /// A TCP or TLS connection closed: requests to its peer go over UDP
    /// (or a new connection of the peer's) from now on.
    pub fn handle_transport_closed(&mut self, id: u64) {
        self.trunk_connections.remove(&id);
        if let Some(addr) = self.stream_addrs.remove(&id) {
            if self
                .stream_peers
                .get(&addr)
                .is_some_and(|p| p.transport.connection() == Some(id))
            {
                self.stream_peers.remove(&addr);
            }
        }
    }

    /// A message that could not be parsed: answer requests statelessly
    /// (400/505/513) when they carry a usable Via, drop anything else.
    pub fn handle_parse_error(&mut self, peer: Peer, err: ParseError) {
        self.stats.parse_errors += 1;
        debug!(%peer, status = err.status, reason = err.reason, "unparseable message");
        if !err.is_request {
            return;
        }
        let Some(headers) = err.headers.as_ref() else {
            return;
        };
        self.stateless(peer, headers, err.status, err.reason);
    }

    fn stateless(&mut self, peer: Peer, headers: &sip::Headers, status: u16, reason: &str) {
        if let Some((resp, via)) =
            respond::stateless(headers, status, reason, &self.cfg.server_name)
        {
            let to = respond::response_peer(peer, via.as_ref());
            self.transmit(to, resp.encode());
        }
    }

    /// A parsed message arrived (UDP, or framed from a TCP stream) at
    /// `arrived`; it is read now.
    pub fn handle_message(&mut self, now: Now, arrived: Instant, peer: Peer, msg: Message) {
        self.dispatch(now, arrived, peer, msg);
        self.settle(now);
    }

    fn dispatch(&mut self, now: Now, arrived: Instant, peer: Peer, msg: Message) {
        match msg {
            Message::Request(req) => self.handle_request(now, arrived, peer, req),
            Message::Response(resp) => {
                self.stats.responses += 1;
                let key = self.layer.handle_response(now.mono, &resp);
                self.drain_layer();
                if let Some(key) = key {
                    if self.handle_notify_answer(now, &key, Some(&resp)) {
                        return;
                    }
                    if self.reachability.answered(&key) {
                        return;
                    }
                    if !self.handle_registration_response(now, &key, &resp) {
                        self.handle_call_response(now, key, resp);
                    }
                }
            }
        }
    }

    fn handle_request(&mut self, now: Now, arrived: Instant, peer: Peer, mut req: Request) {
        self.stats.requests += 1;
        self.stats.requests_by_method[method_slot(&req.method)] += 1;
        if let Some(id) = peer.transport.connection() {
            self.stream_peers.insert(peer.addr, peer);
            self.stream_addrs.insert(id, peer.addr);
        }
        if let Err(rej) = check_structure(&req) {
            debug!(%peer, status = rej.status, reason = rej.reason, "malformed request");
            if req.method != Method::Ack {
                self.stateless(peer, &req.headers.clone(), rej.status, rej.reason);
            }
            return;
        }
        respond::stamp_via(&mut req, peer);
        let top_via = req.top_via().ok();
        let resp_peer = respond::response_peer(peer, top_via.as_ref());
        let Some(key) = ServerKey::of(&req) else {
            return;
        };
        if req.method == Method::Ack || self.layer.has_server(&key) {
            // Retransmissions and ACKs: the layer absorbs or routes them.
            match self
                .layer
                .handle_request(now.mono, &req, resp_peer, peer.is_reliable())
            {
                Some(Incoming::AckForDialog) => self.handle_dialog_ack(now, &req),
                Some(_) => self.drain_layer(),
                None => {}
            }
            return;
        }
        let Some(admission) = self.admit(now, peer, resp_peer, &key, &req) else {
            self.stats.stateless_answers += 1;
            return;
        };
        if self.over_limits(peer) {
            self.refuse_overloaded(now, resp_peer, &req);
            return;
        }
        if let Some(Incoming::New(key)) =
            self.layer
                .handle_request(now.mono, &req, resp_peer, peer.is_reliable())
        {
            self.count_source(resp_peer);
            if peer.is_reliable() {
                self.outputs.push_back(Output::TrustFlow(peer));
            }
            let waited = now.mono.saturating_duration_since(arrived);
            if self.too_late(waited, &req, &admission) {
                return self.refuse_late(now, key, &req, waited);
            }
            self.handle_new_request(now, peer, key, req, admission);
        }
    }

    /// Whether a new transaction would pass the global limit or the
    /// source's own (trunks have none of their own).
    fn over_limits(&self, peer: Peer) -> bool {
        if self.layer.bytes() >= self.cfg.max_transaction_bytes {
            return true;
        }
        self.per_source.get(&peer.addr.ip()).copied().unwrap_or(0)
            >= self.cfg.max_transactions_per_source
            && self.trunk_of(peer).is_none()
            && !self.is_edge(peer)
    }

    fn uncount_source(&mut self, origin: Peer) {
        if let std::collections::hash_map::Entry::Occupied(mut e) =
            self.per_source.entry(origin.addr.ip())
        {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }

    fn count_source(&mut self, peer: Peer) {
        *self.per_source.entry(peer.addr.ip()).or_insert(0) += 1;
    }

    /// Answers 503 at the transaction limit, logged as [`refusal_log`] says.
    fn refuse_overloaded(&mut self, now: Now, peer: Peer, req: &Request) {
        self.stats.overload_refusals += 1;
        let total = self.stats.overload_refusals;
        if let Some(since) = self.overload_logged.due(now.mono, total) {
            warn!(
                %peer,
                limit_mib = self.cfg.max_transaction_bytes >> 20,
                refused = since,
                "transaction memory limit reached: answering 503 (sip.max_transaction_memory_mb)"
            );
        }
        let resp = self.unavailable(req, "Service Unavailable");
        self.answer_statelessly(peer, resp);
    }

    /// A 503 with `reason` and the configured `Retry-After`.
    fn unavailable(&self, req: &Request, reason: &str) -> Response {
        let mut resp = self.response(req, 503, Some(reason));
        resp.headers
            .push(Name::RetryAfter, self.cfg.retry_after_s.to_string());
        resp
    }

    fn handle_new_request(
        &mut self,
        now: Now,
        peer: Peer,
        key: ServerKey,
        req: Request,
        admission: Admission,
    ) {
        match admission {
            Admission::Register(ext) => self.handle_register(now, peer, key, req, ext),
            Admission::Cancel => self.handle_cancel(now, key, req),
            Admission::InDialog => self.handle_in_dialog(now, peer, key, req),
            Admission::Call(caller) => self.handle_invite(now, peer, key, req, caller),
            Admission::Subscribe(ext) => self.handle_subscribe(now, peer, key, req, ext),
            Admission::Message(ext) => self.handle_message_request(now, key, req, ext),
        }
    }

    fn advertise(&self, resp: &mut Response) {
        let allow = METHODS
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        resp.headers.push(Name::Allow, allow);
        resp.headers.push(Name::Accept, "application/sdp");
    }

    fn handle_register(
        &mut self,
        now: Now,
        peer: Peer,
        key: ServerKey,
        req: Request,
        ext: accounts::Extension,
    ) {
        let to = req.callee().ok();
        let aor_user = to.and_then(|t| t.uri.user_decoded()).unwrap_or_default();
        if aor_user != ext.number {
            let resp = self.response(&req, 403, Some("Not allowed to register this address"));
            return self.reply(now, &key, resp);
        }
        match self
            .registrar
            .register(&req, &ext.tenant, &ext.number, peer.flow(), now.unix_s())
        {
            Ok(ops) => {
                self.stats.registrations += 1;
                info!(tenant = %ext.tenant, extension = %ext.number, %peer, changes = ops.len(), "registered");
                self.report_bindings(now, &ops);
                self.outputs.extend(ops.into_iter().map(Output::Store));
                let mut resp = self.response(&req, 200, None);
                for c in self
                    .registrar
                    .contact_headers(&ext.tenant, &ext.number, now.unix_s())
                {
                    resp.headers.push(Name::Contact, c);
                }
                // RFC 3327 §5.3: the registrar returns the Path it stored.
                for p in crate::registrar::path_of(&req) {
                    resp.headers.push(Name::Path, p);
                }
                self.reply(now, &key, resp)
            }
            Err(e) => {
                let mut resp = self.response(&req, e.status, Some(e.reason));
                if let Some(m) = e.min_expires {
                    resp.headers.push(Name::MinExpires, m.to_string());
                }
                self.reply(now, &key, resp)
            }
        }
    }

    fn response(&self, req: &Request, status: u16, reason: Option<&str>) -> Response {
        respond::build(req, status, reason, &self.cfg.secret, &self.cfg.server_name)
    }

    fn reply(&mut self, now: Now, key: &ServerKey, resp: Response) {
        self.layer.respond(now.mono, key, &resp);
        self.drain_layer();
    }

    fn transmit(&mut self, peer: Peer, data: Bytes) {
        self.stats.sent += 1;
        if let Some(&[b'S', b'I', b'P', b'/', b'2', b'.', b'0', b' ', class]) = data.get(..9) {
            if let Some(slot) = class.checked_sub(b'1').filter(|c| *c < 6) {
                self.stats.responses_by_class[usize::from(slot)] += 1;
            }
        }
        self.outputs.push_back(Output::Transmit(peer, data));
    }

    fn drain_layer(&mut self) {
        let outs: Vec<_> = self.layer.drain_outputs().collect();
        for o in outs {
            match o {
                TxOut::Transmit(p, b) => self.transmit(p, b),
                TxOut::ServerTimeout(k) => {
                    debug!(branch = %k.branch, "final response never acknowledged")
                }
                TxOut::ServerEnded(origin) => self.uncount_source(origin),
                TxOut::ClientTimeout(k) => {
                    debug!(branch = %k.branch, "request timed out");
                    self.timed_out.push(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod authorization_tests;
#[cfg(test)]
mod call_tests;
#[cfg(test)]
mod claims_tests;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod late_requests_tests;
#[cfg(test)]
mod phone_tests;
#[cfg(test)]
mod tests;
