//! The core task: owns the sans-IO [`Switch`], feeds it events from the
//! sockets and timers, and carries out its outputs. One task owns all core
//! state, so the signalling path takes no locks.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use switch::{Now, Output, Peer, Switch, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

pub use crate::event::{Event, Query, Status};
use crate::event_stream::EventStream;
use crate::media_io::MediaRouter;
use crate::persist::{StoreMsg, StoreQueue};

fn status(sw: &Switch, tcp: usize, media: &MediaRouter, store: &StoreQueue) -> Status {
    let (server_transactions, client_transactions) = sw.transactions();
    Status {
        stats: sw.stats(),
        bindings: sw.binding_count(),
        server_transactions,
        client_transactions,
        transaction_bytes: sw.transaction_bytes(),
        tcp_connections: tcp,
        calls: sw.call_count(),
        rtp_ports_in_use: sw.ports_in_use(),
        media_endpoints: media.handle().totals().open,
        parked: sw.parked_count(),
        subscriptions: sw.subscription_count(),
        store_writes_dropped: store.dropped.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// The current time for the core.
pub fn now() -> Now {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Now {
        mono: Instant::now(),
        unix_ms: since.as_millis() as u64,
    }
}

/// The API's replies to operators' moves that wait for their claims in
/// the shared lot, by the move's request id.
#[derive(Default)]
struct PendingMoves {
    next: u64,
    waiting: HashMap<u64, MoveReply>,
}

type MoveReply = tokio::sync::oneshot::Sender<Result<switch::ParkedInfo, switch::MoveRefusal>>;

/// Where the core's outputs go besides the sockets.
pub struct Outlets {
    /// The store thread's queue.
    pub store: StoreQueue,
    /// The media threads.
    pub media: MediaRouter,
    /// Operators' event stream.
    pub stream: EventStream,
    /// The operator's authorization service, if one decides.
    pub authorizer: Option<crate::authorizer::Authorizer>,
    /// The shared lot's claims, when the store is shared.
    pub claims: Option<crate::claims::ClaimQueue>,
}

/// Runs the core until the event queue closes.
pub async fn run(
    mut sw: Switch,
    mut events: mpsc::Receiver<Event>,
    mut reports: mpsc::UnboundedReceiver<switch::MediaEvent>,
    udp: Vec<Arc<UdpSocket>>,
    outlets: Outlets,
) {
    let Outlets {
        store,
        media,
        stream,
        authorizer,
        claims,
    } = outlets;
    let udp: UdpSockets = udp
        .into_iter()
        .map(|s| (s.local_addr().map_or(true, |a| a.is_ipv4()), s))
        .collect();
    let mut tcp: Connections = HashMap::new();
    let mut moves = PendingMoves::default();
    let mut batch = Vec::with_capacity(64);
    let mut closed = Vec::new();
    // The first tick starts the core's periodic work (sweeps, the trunks'
    // registrations); later ones come from its deadlines.
    sw.handle_timeout(now());
    carry_out(
        &mut sw,
        &udp,
        &tcp,
        (&store, &media, &stream, &authorizer, &claims),
        &mut moves,
    );
    // Everything resumed is open now.
    media.handle().resume_done();
    loop {
        let deadline = sw.poll_timeout();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            n = events.recv_many(&mut batch, 64) => {
                if n == 0 {
                    return;
                }
                let now = now();
                let stop = batch.iter().any(|ev| matches!(ev, Event::Stop));
                for ev in batch.drain(..) {
                    match ev {
                        Event::Stop => {}
                        // After the batch's outputs: one of them may be the
                        // last answer on that connection (a 513, say).
                        Event::TcpClosed(id) => closed.push(id),
                        ev => handle(&mut sw, &mut tcp, now, ev, (&media, &store), &mut moves),
                    }
                }
                carry_out(&mut sw, &udp, &tcp, (&store, &media, &stream, &authorizer, &claims), &mut moves);
                for id in closed.drain(..) {
                    close_connection(&mut sw, &mut tcp, id);
                }
                if stop {
                    sw.flush(now);
                    carry_out(&mut sw, &udp, &tcp, (&store, &media, &stream, &authorizer, &claims), &mut moves);
                    return;
                }
            }
            Some(report) = reports.recv() => {
                sw.handle_media_event(now(), report);
                carry_out(&mut sw, &udp, &tcp, (&store, &media, &stream, &authorizer, &claims), &mut moves);
            }
            _ = sleep => {
                sw.handle_timeout(now());
                carry_out(&mut sw, &udp, &tcp, (&store, &media, &stream, &authorizer, &claims), &mut moves);
            }
        }
    }
}

/// Carries out everything the core asks for.
fn carry_out(
    sw: &mut Switch,
    udp: &UdpSockets,
    tcp: &Connections,
    (store, media, stream, authorizer, claims): (
        &StoreQueue,
        &MediaRouter,
        &EventStream,
        &Option<crate::authorizer::Authorizer>,
        &Option<crate::claims::ClaimQueue>,
    ),
    moves: &mut PendingMoves,
) {
    while let Some(out) = sw.poll_output() {
        match out {
            Output::Transmit(peer, data) => send(udp, tcp, peer, data),
            Output::Store(op) => {
                store.push(StoreMsg::Op(op));
            }
            Output::Media(cmd) => media.send(cmd),
            Output::Event(ev) => {
                crate::metrics::observe(&ev);
                stream.publish(&ev);
            }
            Output::Claim(claim) => match claims {
                Some(q) => q.push(crate::claims::LotQuestion::Claim(*claim)),
                // Claims come only from a core told its lot is shared.
                None => tracing::error!("a parking claim without a shared store"),
            },
            Output::Locate(lookup) => match claims {
                Some(q) => q.push(crate::claims::LotQuestion::Lookup(*lookup)),
                None => tracing::error!("a parking lookup without a shared store"),
            },
            Output::Authorize(request) => match authorizer {
                Some(a) => a.ask(*request),
                // Configured without a service: the core never asks.
                None => tracing::error!("an authorization question without a service"),
            },
            Output::MoveAnswered(answer) => {
                if let Some(reply) = moves.waiting.remove(&answer.request) {
                    let _ = reply.send(answer.result);
                }
            }
            Output::TrustFlow(peer) => {
                if let Some(id) = peer.transport.connection() {
                    if let Some(c) = tcp.get(&id) {
                        c.trusted.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

fn handle(
    sw: &mut Switch,
    tcp: &mut Connections,
    now: Now,
    ev: Event,
    (media, store): (&MediaRouter, &StoreQueue),
    moves: &mut PendingMoves,
) {
    match ev {
        Event::Datagram(peer, data, arrived) => sw.handle_datagram(now, arrived, peer, data),
        Event::Message(peer, msg, arrived) => sw.handle_message(now, arrived, peer, *msg),
        Event::ParseError(peer, err) => sw.handle_parse_error(peer, err),
        Event::Send(peer, data) => {
            if let Some(id) = peer.transport.connection() {
                if let Some(c) = tcp.get(&id) {
                    let _ = c.writer.try_send(data);
                }
            }
        }
        Event::TcpOpen(id, conn) => {
            let trunk = conn
                .client_cert
                .as_ref()
                .and_then(|c| crate::transport::tls::trunk_for(c, sw.trunks()));
            if let Some(t) = trunk {
                debug!(connection = id, trunk = %t.name, "TLS client certificate names a trunk");
                let name = t.name.clone();
                sw.handle_connection_identified(id, name);
            }
            tcp.insert(id, conn);
        }
        Event::TcpClosed(id) => close_connection(sw, tcp, id),
        Event::Stop => {}
        Event::Directory(dir) => sw.set_directory(*dir),
        Event::Query(Query::Bindings(reply)) => {
            let _ = reply.send(sw.bindings());
        }
        Event::Query(Query::Status(reply)) => {
            let _ = reply.send(status(sw, tcp.len(), media, store));
        }
        Event::Media(ev) => sw.handle_media_event(now, ev),
        Event::Verdict(id, verdict) => sw.handle_verdict(now, id, verdict),
        Event::Claimed(id, won) => sw.handle_claim(now, id, won),
        Event::Located(id, node) => sw.handle_located(now, id, node),
        Event::Query(Query::Metrics(reply)) => {
            let totals = media.handle().totals();
            let _ = reply.send(crate::event::MetricsSnapshot {
                status: status(sw, tcp.len(), media, store),
                tenants: sw.tenant_load(),
                music_streams: totals.music_streams,
                rtp_in: totals.rtp_in,
                rtp_out: totals.rtp_out,
                events_dropped: 0,
                webhook_delivered: 0,
                webhook_dropped: 0,
            });
        }
        Event::Query(Query::Parked(reply)) => {
            let _ = reply.send(sw.parked());
        }
        Event::Query(Query::MoveParked {
            tenant,
            from,
            to,
            reply,
        }) => {
            let (from, to) = (
                switch::Position::from_label(&from),
                switch::Position::from_label(&to),
            );
            moves.next += 1;
            let request = moves.next;
            match sw.move_parked(now, &tenant, &from, to, request) {
                Ok(switch::MoveStarted::Moved(info)) => {
                    let _ = reply.send(Ok(info));
                }
                Ok(switch::MoveStarted::Claiming) => {
                    moves.waiting.insert(request, reply);
                }
                Err(refusal) => {
                    let _ = reply.send(Err(refusal));
                }
            }
        }
        Event::Query(Query::SendParked {
            tenant,
            position,
            extension,
            reply,
        }) => {
            let position = switch::Position::from_label(&position);
            let _ = reply.send(sw.send_parked(now, &tenant, &position, &extension));
        }
        Event::Query(Query::Calls(reply)) => {
            let _ = reply.send(sw.live_calls());
        }
        Event::Query(Query::HangUp {
            call,
            tenant,
            reply,
        }) => {
            let _ = reply.send(sw.hang_up(now, call, tenant.as_deref()));
        }
    }
}

/// Forgets a closed TCP or TLS connection, in the shell and in the core.
fn close_connection(sw: &mut Switch, tcp: &mut Connections, id: u64) {
    tcp.remove(&id);
    sw.handle_transport_closed(id);
}

/// Open TCP connections by id.
type Connections = HashMap<u64, crate::event::Connection>;

/// UDP sockets with their address family, decided once at start.
type UdpSockets = Vec<(bool, Arc<UdpSocket>)>;

fn send(udp: &UdpSockets, tcp: &Connections, peer: Peer, data: Bytes) {
    match peer.transport {
        Transport::Udp => {
            let sock = udp
                .iter()
                .find(|(v4, _)| *v4 == peer.addr.is_ipv4())
                .map(|(_, s)| s);
            match sock {
                Some(s) => {
                    if let Err(e) = s.try_send_to(&data, peer.addr) {
                        debug!(%peer, "udp send failed: {e}");
                    }
                }
                None => warn!(%peer, "no UDP socket for this address family"),
            }
        }
        Transport::Tcp(id) | Transport::Tls(id) => match tcp.get(&id) {
            Some(c) => {
                if c.writer.try_send(data).is_err() {
                    warn!(%peer, "connection writer full or closed: message dropped");
                }
            }
            None => debug!(%peer, "connection gone: message dropped"),
        },
    }
}
