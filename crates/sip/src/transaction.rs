//! The transaction layer (RFC 3261 §17): server and client transactions for
//! INVITE and non-INVITE, matched by branch, driven by events and deadlines.
//! No IO: the caller passes `now`, feeds messages and collects what to send.

mod churn_map;
mod client_invite;
mod client_non_invite;
mod key;
mod lingering;
mod server_invite;
mod server_non_invite;
mod timers;

use churn_map::ChurnMap;
pub use client_invite::ClientInvite;
pub use client_non_invite::ClientNonInvite;
pub use key::{ClientKey, ServerKey};
use lingering::LingerTable;
pub use lingering::{ClientLinger, Linger};
pub use server_invite::ServerInvite;
pub use server_non_invite::ServerNonInvite;
pub use timers::Timers;

use crate::message::{Request, Response, SipHeaders};
use crate::method::Method;
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a single transaction asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxOutput {
    /// Send these bytes to the transaction's peer.
    Transmit(Bytes),
    /// The transaction timed out (B, F or H).
    Timeout,
}

/// What the layer tells the transaction user (TU) and the transport.
#[derive(Clone, Debug)]
pub enum Output<P> {
    /// Send bytes to a peer.
    Transmit(P, Bytes),
    /// A server transaction's final response was never acknowledged (timer H).
    ServerTimeout(ServerKey),
    /// A client transaction got no final response (timer B or F).
    ClientTimeout(ClientKey),
    /// A server transaction has its final answer: it ended, or only a
    /// compact record of it waits to absorb retransmissions. Its first
    /// request came from this peer (per-source counts of the work in
    /// progress end here).
    ServerEnded(P),
}

/// How the layer classified an incoming request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A new request: the TU must answer it via [`Layer::respond`].
    New(ServerKey),
    /// A retransmission, handled by the layer.
    Retransmission,
    /// An ACK that matched an INVITE transaction with a non-2xx final: absorbed.
    AckAbsorbed,
    /// An ACK for a 2xx (or unknown): goes to the TU/dialog, no transaction.
    AckForDialog,
}

enum Server {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

enum Client {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

struct Entry<T, P, K> {
    tx: T,
    /// Where responses go (the latest source, for a server transaction).
    peer: P,
    /// Where the first request came from (reported when a server
    /// transaction ends, so that per-source counts can be kept).
    origin: P,
    key: K,
}

/// All transactions of one switch core.
///
/// A server transaction is whole while the TU owes it an answer (or it
/// resends a non-2xx until the ACK); once it only absorbs retransmissions
/// it becomes a record in the lingering table, which at a high call rate
/// holds most of them. [`Layer::bytes`] says what all of it costs.
pub struct Layer<P: Clone> {
    timers: Timers,
    lingering: LingerTable<Linger>,
    client_lingering: LingerTable<ClientLinger<P>>,
    servers: ChurnMap<ServerKey, u64>,
    clients: ChurnMap<ClientKey, u64>,
    // Entries are boxed so that growing a map with hundreds of thousands of
    // transactions (3,000 calls/s keep ~300,000 alive for RFC 3261's 32 s)
    // moves 16-byte slots, not whole entries: no stall of tens of ms.
    server_entries: ChurnMap<u64, Box<Entry<Server, P, ServerKey>>>,
    client_entries: ChurnMap<u64, Box<Entry<Client, P, ClientKey>>>,
    requests: ChurnMap<u64, Request>,
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    next_id: u64,
    outputs: Vec<Output<P>>,
    scratch: Vec<TxOutput>,
}

impl<P: Clone> Layer<P> {
    /// An empty layer.
    pub fn new(timers: Timers) -> Layer<P> {
        Layer {
            timers,
            lingering: LingerTable::new(),
            client_lingering: LingerTable::new(),
            servers: ChurnMap::new(),
            clients: ChurnMap::new(),
            server_entries: ChurnMap::new(),
            client_entries: ChurnMap::new(),
            requests: ChurnMap::new(),
            deadlines: BinaryHeap::new(),
            next_id: 0,
            outputs: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Number of server transactions (whole and lingering) and client
    /// transactions.
    pub fn len(&self) -> (usize, usize) {
        (
            self.server_entries.len() + self.lingering.len(),
            self.client_entries.len() + self.client_lingering.len(),
        )
    }

    /// Server transactions the TU has not answered yet (or that resend a
    /// non-2xx until its ACK): the work in progress.
    pub fn in_progress(&self) -> usize {
        self.server_entries.len()
    }

    /// Whether there are no transactions.
    pub fn is_empty(&self) -> bool {
        self.server_entries.is_empty()
            && self.client_entries.is_empty()
            && self.lingering.len() == 0
            && self.client_lingering.len() == 0
    }

    /// An estimate of the memory the transactions hold, bytes: the tables
    /// (allocated, so at least twice their entries), the lingering records
    /// exactly, whole transactions by their fixed size, their keys' text
    /// and the responses and requests they keep.
    pub fn bytes(&self) -> usize {
        let server = std::mem::size_of::<Entry<Server, P, ServerKey>>() + KEY_TEXT_BYTES;
        let client = std::mem::size_of::<Entry<Client, P, ClientKey>>() + KEY_TEXT_BYTES;
        self.lingering.bytes()
            + self.client_lingering.bytes()
            + self.servers.table_bytes()
            + self.clients.table_bytes()
            + self.server_entries.table_bytes()
            + self.client_entries.table_bytes()
            + self.requests.table_bytes()
            + self.server_entries.len() * server
            + self.client_entries.len() * client
            + self.requests.len() * REQUEST_BYTES
    }

    /// Classifies a received request, creating a server transaction if new.
    pub fn handle_request(
        &mut self,
        now: Instant,
        req: &Request,
        peer: P,
        reliable: bool,
    ) -> Option<Incoming> {
        let key = ServerKey::of(req)?;
        if let Some(linger) = self.lingering.get(&key) {
            return Some(match (linger, &req.method) {
                (Linger::Accepted, Method::Ack) => Incoming::AckForDialog,
                (Linger::Confirmed, Method::Ack) => Incoming::AckAbsorbed,
                (Linger::Answered(resp), _) => {
                    self.outputs.push(Output::Transmit(peer, resp.clone()));
                    Incoming::Retransmission
                }
                (Linger::Accepted | Linger::Confirmed, _) => Incoming::Retransmission,
            });
        }
        if let Some(&id) = self.servers.get(&key) {
            let entry = self.server_entries.get_mut(&id)?;
            let incoming = match (&mut entry.tx, &req.method) {
                (Server::Invite(tx), Method::Ack) => {
                    if tx.absorbs_ack() {
                        tx.handle_ack(now, &self.timers);
                        Incoming::AckAbsorbed
                    } else {
                        Incoming::AckForDialog
                    }
                }
                (Server::Invite(tx), _) => {
                    tx.handle_retransmission(&mut self.scratch);
                    Incoming::Retransmission
                }
                (Server::NonInvite(tx), _) => {
                    tx.handle_retransmission(&mut self.scratch);
                    Incoming::Retransmission
                }
            };
            entry.peer = peer;
            self.flush_server(now, id);
            self.schedule_server(id);
            return Some(incoming);
        }
        if req.method == Method::Ack {
            return Some(Incoming::AckForDialog);
        }
        let id = self.alloc_id();
        let tx = if req.method == Method::Invite {
            Server::Invite(ServerInvite::new(reliable))
        } else {
            Server::NonInvite(ServerNonInvite::new(reliable))
        };
        self.servers.insert(key.clone(), id);
        self.server_entries.insert(
            id,
            Box::new(Entry {
                tx,
                origin: peer.clone(),
                peer,
                key: key.clone(),
            }),
        );
        Some(Incoming::New(key))
    }

    /// Whether a server transaction exists (e.g. the INVITE a CANCEL targets).
    pub fn has_server(&self, key: &ServerKey) -> bool {
        self.servers.contains_key(key) || self.lingering.contains(key)
    }

    /// The TU answers a server transaction.
    pub fn respond(&mut self, now: Instant, key: &ServerKey, resp: &Response) {
        let Some(&id) = self.servers.get(key) else {
            return;
        };
        let wire = resp.encode();
        if let Some(entry) = self.server_entries.get_mut(&id) {
            match &mut entry.tx {
                Server::Invite(tx) => {
                    tx.respond(now, &self.timers, resp.status, wire, &mut self.scratch)
                }
                Server::NonInvite(tx) => {
                    tx.respond(now, &self.timers, resp.status, wire, &mut self.scratch)
                }
            }
        }
        self.flush_server(now, id);
        self.schedule_server(id);
    }

    /// Starts a client transaction for a request the TU sends.
    pub fn send_request(
        &mut self,
        now: Instant,
        req: Request,
        peer: P,
        reliable: bool,
    ) -> Option<ClientKey> {
        let key = ClientKey::of_request(&req)?;
        let wire = req.encode();
        let id = self.alloc_id();
        let tx = if req.method == Method::Invite {
            Client::Invite(ClientInvite::start(
                now,
                &self.timers,
                reliable,
                wire,
                &mut self.scratch,
            ))
        } else {
            Client::NonInvite(ClientNonInvite::start(
                now,
                &self.timers,
                reliable,
                wire,
                &mut self.scratch,
            ))
        };
        self.clients.insert(key.clone(), id);
        self.client_entries.insert(
            id,
            Box::new(Entry {
                tx,
                origin: peer.clone(),
                peer,
                key: key.clone(),
            }),
        );
        self.requests.insert(id, req);
        self.flush_client(now, id);
        self.schedule_client(id);
        Some(key)
    }

    /// Matches a response; returns its transaction key if the TU should see it.
    pub fn handle_response(&mut self, now: Instant, resp: &Response) -> Option<ClientKey> {
        let key = ClientKey::of_response(resp)?;
        let Some(&id) = self.clients.get(&key) else {
            return match self.client_lingering.get(&key)? {
                ClientLinger::Accepted => (200..300).contains(&resp.status).then_some(key),
                ClientLinger::Acked(peer, ack) => {
                    if resp.status >= 300 {
                        self.outputs
                            .push(Output::Transmit(peer.clone(), ack.clone()));
                    }
                    None
                }
                ClientLinger::Answered => None,
            };
        };
        let entry = self.client_entries.get_mut(&id)?;
        let up = match &mut entry.tx {
            Client::Invite(tx) => {
                let req = self.requests.get(&id);
                tx.handle_response(
                    now,
                    &self.timers,
                    resp.status,
                    || ack_for(req, resp),
                    &mut self.scratch,
                )
            }
            Client::NonInvite(tx) => tx.handle_response(now, &self.timers, resp.status),
        };
        if resp.status >= 200 {
            // Only the ACK of a non-2xx needed the parsed request; it is built.
            self.requests.remove(&id);
        }
        self.flush_client(now, id);
        self.schedule_client(id);
        up.then_some(key)
    }

    /// The earliest deadline of any transaction.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let whole = self.deadlines.peek().map(|Reverse((at, _))| *at);
        [
            whole,
            self.lingering.next_expiry(),
            self.client_lingering.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Drops stale entries (a transaction ended or its deadline moved) from
    /// the top of the deadline heap, so its top is always a live deadline.
    /// Called after every change of a transaction's deadline.
    fn tidy(&mut self) {
        while let Some(Reverse((at, id))) = self.deadlines.peek().copied() {
            let live = self.deadline_of(id);
            if live == Some(at) {
                return;
            }
            self.deadlines.pop();
            if let Some(d) = live {
                self.deadlines.push(Reverse((d, id)));
            }
        }
    }

    fn deadline_of(&self, id: u64) -> Option<Instant> {
        if let Some(e) = self.server_entries.get(&id) {
            return match &e.tx {
                Server::Invite(t) => t.deadline(),
                Server::NonInvite(t) => t.deadline(),
            };
        }
        self.client_entries.get(&id).and_then(|e| match &e.tx {
            Client::Invite(t) => t.deadline(),
            Client::NonInvite(t) => t.deadline(),
        })
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.lingering.expire(now);
        self.client_lingering.expire(now);
        while let Some(Reverse((at, id))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if let Some(e) = self.server_entries.get_mut(&id) {
                match &mut e.tx {
                    Server::Invite(t) => t.handle_timeout(now, &self.timers, &mut self.scratch),
                    Server::NonInvite(t) => t.handle_timeout(now),
                }
                self.flush_server(now, id);
                self.schedule_server(id);
            } else if let Some(e) = self.client_entries.get_mut(&id) {
                match &mut e.tx {
                    Client::Invite(t) => t.handle_timeout(now, &mut self.scratch),
                    Client::NonInvite(t) => t.handle_timeout(now, &self.timers, &mut self.scratch),
                }
                self.flush_client(now, id);
                self.schedule_client(id);
            }
        }
    }

    /// Takes the next output.
    pub fn poll_output(&mut self) -> Option<Output<P>> {
        if self.outputs.is_empty() {
            return None;
        }
        Some(self.outputs.remove(0))
    }

    /// Takes every pending output.
    pub fn drain_outputs(&mut self) -> std::vec::Drain<'_, Output<P>> {
        self.outputs.drain(..)
    }

    fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn flush_server(&mut self, now: Instant, id: u64) {
        let Some(e) = self.server_entries.get(&id) else {
            return;
        };
        for o in self.scratch.drain(..) {
            self.outputs.push(match o {
                TxOutput::Transmit(b) => Output::Transmit(e.peer.clone(), b),
                TxOutput::Timeout => Output::ServerTimeout(e.key.clone()),
            });
        }
        let (done, linger) = match &e.tx {
            Server::Invite(t) => (t.is_terminated(), t.linger(&self.timers)),
            Server::NonInvite(t) => (
                t.is_terminated(),
                t.linger().map(|l| (l, self.timers.t1x64())),
            ),
        };
        if done || linger.is_some() {
            if let Some(e) = self.server_entries.remove(&id) {
                self.servers.remove(&e.key);
                if let Some((linger, lifetime)) = linger {
                    self.lingering.insert(&e.key, linger, now, lifetime);
                }
                self.outputs.push(Output::ServerEnded(e.origin));
            }
        }
    }

    fn flush_client(&mut self, now: Instant, id: u64) {
        let Some(e) = self.client_entries.get(&id) else {
            return;
        };
        for o in self.scratch.drain(..) {
            self.outputs.push(match o {
                TxOutput::Transmit(b) => Output::Transmit(e.peer.clone(), b),
                TxOutput::Timeout => Output::ClientTimeout(e.key.clone()),
            });
        }
        let (done, linger) = match &e.tx {
            Client::Invite(t) => (t.is_terminated(), t.linger(now, e.peer.clone())),
            Client::NonInvite(t) => (t.is_terminated(), t.linger(now)),
        };
        if done || linger.is_some() {
            if let Some(e) = self.client_entries.remove(&id) {
                self.clients.remove(&e.key);
                self.requests.remove(&id);
                if let Some((linger, lifetime)) = linger {
                    self.client_lingering.insert(&e.key, linger, now, lifetime);
                }
            }
        }
    }

    fn schedule_server(&mut self, id: u64) {
        if let Some(d) = self.deadline_of(id) {
            self.deadlines.push(Reverse((d, id)));
        }
        self.tidy();
    }

    fn schedule_client(&mut self, id: u64) {
        self.schedule_server(id);
    }
}

/// Heap bytes a whole transaction's key holds (branch, sent-by, method),
/// for [`Layer::bytes`]: typical lengths, rounded up to the allocator's sizes.
const KEY_TEXT_BYTES: usize = 96;

/// Bytes a client transaction's parsed request holds until its final
/// response, for [`Layer::bytes`]: a typical INVITE with SDP.
const REQUEST_BYTES: usize = 2048;

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3).
fn ack_for(req: Option<&Request>, resp: &Response) -> Bytes {
    use crate::header::{Headers, Name};
    let Some(req) = req else { return Bytes::new() };
    let mut headers = Headers::default();
    if let Some(top) = req.headers.values(Name::Via).first() {
        headers.push(Name::Via, Bytes::copy_from_slice(top));
    }
    headers.copy_from(&req.headers, Name::Route);
    headers.copy_from(&req.headers, Name::From);
    headers.copy_from(&resp.headers, Name::To);
    headers.copy_from(&req.headers, Name::CallId);
    let seq = req.cseq().map(|c| c.seq).unwrap_or(1);
    headers.push(Name::CSeq, format!("{seq} ACK"));
    headers.push(Name::MaxForwards, "70");
    Request {
        method: Method::Ack,
        uri: req.uri.clone(),
        headers,
        body: Bytes::new(),
    }
    .encode()
}

#[cfg(test)]
mod tests;
