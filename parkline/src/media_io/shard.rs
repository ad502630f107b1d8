//! One media thread (a shard): one `mio` poll over its RTP and RTCP
//! sockets, its sans-IO [`media::Engine`], and its tick (a [`Timer`], as precise as the
//! kernel's high-resolution timers; `epoll`'s own timeout has 1 ms steps).
//! Commands come from the core task through a channel and a waker; events
//! go back through its queue. Nothing on the packet path allocates or takes
//! a lock.

use super::awaiting::Awaiting;
use super::continuity::unix_ms;
use super::{Arrival, Continuity, Link, MediaMsg, MediaStats, Reports};
use crate::datagram_batch::{RecvBatch, SendBatch, BATCH};
use crate::event::Event;
use crate::raw_send::RawSender;
use crate::timer::Timer;
use media::engine::{Config as EngineConfig, EndpointId};
use media::Engine;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Instant;
use switch::{MediaCommand, MediaEvent, OpenFailure};
use tracing::{debug, info, warn};

/// The token of the waker that says the shard's queue has messages.
pub(super) const WAKE: Token = Token(usize::MAX);
const TICK: Token = Token(usize::MAX - 1);

/// How often a media thread records where its streams have got to.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The sockets of one endpoint. Its RTP socket is registered as token
/// `2 * id`, its RTCP socket as `2 * id + 1`, so a readiness event or an
/// engine output finds its socket by indexing, without a map lookup.
pub(super) struct Sockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

fn token(id: EndpointId, rtcp: bool) -> Token {
    Token(id as usize * 2 + usize::from(rtcp))
}

/// One media thread, before it runs.
pub(super) struct Shard {
    /// Its place among the shards (its checkpoints are stored under it).
    pub index: usize,
    pub address: IpAddr,
    pub raw_send: bool,
    pub engine: EngineConfig,
    pub events: Reports,
    pub stats: Arc<MediaStats>,
    pub continuity: Continuity,
}

struct State {
    index: usize,
    engine: Engine,
    /// Sockets by endpoint id (the engine reuses ids, so this stays dense).
    sockets: Vec<Option<Sockets>>,
    address: IpAddr,
    /// Ports that could not be opened, and why: reported to the core.
    failed: Vec<(u16, OpenFailure)>,
    /// Batched sending of generated media, when permitted.
    raw: Option<RawSender>,
    continuity: Continuity,
    /// Relayed packets: received in batches, sent on in batches.
    received: RecvBatch,
    relayed: SendBatch,
    /// Endpoints on their way from another shard, with what came for them
    /// first (carried out, in order, once they arrive).
    awaiting: Awaiting<Held>,
}

/// What waits for an endpoint on its way here.
enum Held {
    /// A command for it.
    Command(MediaCommand),
    /// It is to move on to another shard (the router booked a second move
    /// before the first had arrived).
    Depart(Link),
}

impl Shard {
    /// Runs the thread until the router is gone.
    pub(super) fn run(self, mut poll: Poll, rx: mpsc::Receiver<MediaMsg>) {
        let Shard {
            index,
            address,
            raw_send,
            engine,
            events,
            stats,
            continuity,
        } = self;
        let mut st = State {
            index,
            engine: Engine::new(engine, rand::random()),
            sockets: Vec::new(),
            address,
            failed: Vec::new(),
            raw: raw_sender(address, raw_send),
            continuity,
            // Room after each packet for what SRTP adds on the way out.
            received: RecvBatch::new(crate::datagram_batch::BUFFER - media::engine::SRTP_OVERHEAD),
            relayed: SendBatch::default(),
            awaiting: Awaiting::default(),
        };
        let mut checkpointed = Instant::now();
        let mut timer = precise_timer(&poll);
        let mut ready = Events::with_capacity(1024);
        loop {
            let deadline = if st.engine.open_count() == 0 {
                None
            } else {
                Some(st.engine.poll_timeout().unwrap_or_else(Instant::now))
            };
            // A deadline already passed polls without waiting.
            let now = Instant::now();
            let timeout = match &mut timer {
                Some(t) => t.arm(deadline, now),
                None => deadline.map(|d| d.saturating_duration_since(now)),
            };
            if let Err(e) = poll.poll(&mut ready, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    warn!("media poll failed: {e}");
                }
                continue;
            }
            for ev in ready.iter() {
                if ev.token() == TICK {
                    if let Some(t) = &mut timer {
                        t.clear();
                    }
                } else if ev.token() == WAKE {
                    if !st.take_messages(&poll, &rx) {
                        return;
                    }
                    stats.open.store(st.engine.open_count(), Ordering::Relaxed);
                } else {
                    st.drain_socket(ev.token());
                }
            }
            if st.engine.open_count() > 0 && st.engine.handle_timeout(Instant::now()) {
                st.send_generated();
            }
            let totals = st.engine.totals();
            stats.rtp_in.store(totals.rx, Ordering::Relaxed);
            stats.rtp_out.store(totals.tx, Ordering::Relaxed);
            if st.engine.open_count() > 0 && checkpointed.elapsed() >= CHECKPOINT_EVERY {
                checkpointed = Instant::now();
                st.continuity.write(st.index, &st.engine);
                let music = st.engine.music_listeners();
                stats.music_streams.store(music, Ordering::Relaxed);
            } else if st.engine.open_count() == 0 {
                stats.music_streams.store(0, Ordering::Relaxed);
            }
            st.report(&events);
        }
    }
}

impl State {
    /// Carries out the queue's messages; false when the router is gone.
    fn take_messages(&mut self, poll: &Poll, rx: &mpsc::Receiver<MediaMsg>) -> bool {
        loop {
            match rx.try_recv() {
                Ok(MediaMsg::Command(cmd)) => self.apply(poll, cmd),
                Ok(MediaMsg::ResumeDone) => self.continuity.resume.clear(),
                Ok(MediaMsg::Checkpoint(done)) => {
                    self.continuity.write(self.index, &self.engine);
                    let _ = done.send(());
                }
                Ok(MediaMsg::Expect(port)) => self.awaiting.expect(port),
                Ok(MediaMsg::Depart(port, to)) => {
                    if let Some(Held::Depart(to)) = self.awaiting.hold(port, Held::Depart(to)) {
                        self.send_away(poll, port, &to);
                    }
                }
                Ok(MediaMsg::Arrive(port, arrival)) => self.arrive(poll, port, arrival),
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Sends the core what the engine and the sockets reported.
    fn report(&mut self, events: &Reports) {
        for (port, why) in self.failed.drain(..) {
            let _ = events.calls.send(MediaEvent::OpenFailed(port, why));
        }
        while let Some(ev) = self.engine.poll_event() {
            match ev {
                media::Event::Dtmf(id, k) => {
                    if let Some(p) = self.engine.port_of(id) {
                        let _ = events.keys.try_send(Event::Media(MediaEvent::Dtmf(p, k)));
                    }
                }
                media::Event::PromptDone(id) => {
                    if let Some(p) = self.engine.port_of(id) {
                        let _ = events.calls.send(MediaEvent::PromptDone(p));
                    }
                }
                media::Event::Idle(id) => {
                    if let Some(p) = self.engine.port_of(id) {
                        let _ = events.calls.send(MediaEvent::Idle(p));
                    }
                }
            }
        }
    }

    /// Hands the endpoint on `port` (or word that there is none) to the
    /// shard behind `to`.
    fn send_away(&mut self, poll: &Poll, port: u16, to: &Link) {
        let arrival = self.depart(poll, port);
        to.post(MediaMsg::Arrive(port, arrival));
    }

    /// Lets the endpoint on `port` go, with its sockets, to another shard.
    fn depart(&mut self, poll: &Poll, port: u16) -> Option<Box<Arrival>> {
        let id = self.engine.endpoint_at(port)?;
        let mut sockets = self.sockets.get_mut(id as usize).and_then(Option::take)?;
        let _ = poll.registry().deregister(&mut sockets.rtp);
        let _ = poll.registry().deregister(&mut sockets.rtcp);
        let endpoint = self.engine.depart(id)?;
        Some(Box::new(Arrival { endpoint, sockets }))
    }

    /// Takes in an endpoint from another shard, then carries out the
    /// commands for it that came first.
    fn arrive(&mut self, poll: &Poll, port: u16, arrival: Option<Box<Arrival>>) {
        let waiting = self.awaiting.arrived(port);
        if let Some(a) = arrival {
            let Arrival {
                endpoint,
                mut sockets,
            } = *a;
            let id = self.engine.adopt(endpoint);
            let reg = poll.registry();
            let registered = reg
                .register(&mut sockets.rtp, token(id, false), Interest::READABLE)
                .and_then(|()| {
                    reg.register(&mut sockets.rtcp, token(id, true), Interest::READABLE)
                });
            if let Err(e) = registered {
                warn!(port, "cannot watch RTP/RTCP sockets of a moved leg: {e}");
                let _ = reg.deregister(&mut sockets.rtp);
                self.engine.close(id);
                self.failed.push((port, OpenFailure::Exhausted));
            } else {
                self.place(id, sockets);
                // What queued while it was away is read now (edge-triggered:
                // no new arrival would say so).
                self.drain_socket(token(id, false));
                self.drain_socket(token(id, true));
            }
        }
        for held in waiting {
            match held {
                Held::Command(cmd) => self.apply(poll, cmd),
                Held::Depart(to) => self.send_away(poll, port, &to),
            }
        }
    }

    fn place(&mut self, id: EndpointId, sockets: Sockets) {
        let i = id as usize;
        if self.sockets.len() <= i {
            self.sockets.resize_with(i + 1, || None);
        }
        self.sockets[i] = Some(sockets);
    }

    /// Whether `cmd` concerns an endpoint still on its way here: then it
    /// waits with it.
    fn held_back(&mut self, cmd: MediaCommand) -> Option<MediaCommand> {
        let ports = match &cmd {
            MediaCommand::Bridge(a, b) => [Some(*a), Some(*b)],
            MediaCommand::Open(p)
            | MediaCommand::Close(p)
            | MediaCommand::Music(p)
            | MediaCommand::Play(p, _)
            | MediaCommand::Silence(p)
            | MediaCommand::WatchIdle(p, _)
            | MediaCommand::Configure { port: p, .. } => [Some(*p), None],
        };
        match ports
            .into_iter()
            .flatten()
            .find(|p| self.awaiting.awaits(*p))
        {
            Some(p) => match self.awaiting.hold(p, Held::Command(cmd)) {
                Some(Held::Command(cmd)) => Some(cmd),
                _ => None,
            },
            None => Some(cmd),
        }
    }

    fn bind(&self, port: u16) -> std::io::Result<Sockets> {
        Ok(Sockets {
            rtp: UdpSocket::bind(SocketAddr::new(self.address, port))?,
            rtcp: UdpSocket::bind(SocketAddr::new(self.address, port + 1))?,
        })
    }

    fn open(&mut self, poll: &Poll, port: u16) {
        let mut socks = match self.bind(port) {
            Ok(s) => s,
            Err(e) => {
                warn!(port, "cannot bind RTP/RTCP port pair: {e}");
                let why = match e.kind() {
                    ErrorKind::AddrInUse => OpenFailure::Taken,
                    _ => OpenFailure::Exhausted,
                };
                self.failed.push((port, why));
                return;
            }
        };
        let id = self.engine.open(port);
        if let Some((from, at_ms)) = self.continuity.resume.remove(&port) {
            let elapsed = std::time::Duration::from_millis(unix_ms().saturating_sub(at_ms));
            self.engine.continue_stream(id, from, elapsed);
        }
        let reg = poll.registry();
        let registered = reg
            .register(&mut socks.rtp, token(id, false), Interest::READABLE)
            .and_then(|()| reg.register(&mut socks.rtcp, token(id, true), Interest::READABLE));
        if let Err(e) = registered {
            warn!(port, "cannot watch RTP/RTCP sockets: {e}");
            let _ = reg.deregister(&mut socks.rtp);
            self.engine.close(id);
            self.failed.push((port, OpenFailure::Exhausted));
            return;
        }
        self.place(id, socks);
    }

    fn close(&mut self, poll: &Poll, port: u16) {
        let Some(id) = self.engine.endpoint_at(port) else {
            return;
        };
        self.engine.close(id);
        if let Some(mut s) = self.sockets.get_mut(id as usize).and_then(Option::take) {
            let _ = poll.registry().deregister(&mut s.rtp);
            let _ = poll.registry().deregister(&mut s.rtcp);
        }
    }

    fn apply(&mut self, poll: &Poll, cmd: MediaCommand) {
        let Some(cmd) = self.held_back(cmd) else {
            return;
        };
        let id_of = |st: &State, port: u16| st.engine.endpoint_at(port);
        match cmd {
            MediaCommand::Open(port) => self.open(poll, port),
            MediaCommand::Configure {
                port,
                remote,
                signalling,
                codec,
                pt,
                telephone_event,
                srtp,
            } => {
                if let Some(id) = id_of(self, port) {
                    self.engine
                        .configure(id, remote, signalling, codec, pt, telephone_event);
                    self.engine.secure(id, srtp.map(|k| *k));
                }
            }
            MediaCommand::Bridge(a, b) => {
                if let (Some(a), Some(b)) = (id_of(self, a), id_of(self, b)) {
                    self.engine.bridge(a, b);
                }
            }
            MediaCommand::Music(port) => {
                if let Some(id) = id_of(self, port) {
                    self.engine.set_source(id, media::Source::Music);
                }
            }
            MediaCommand::Play(port, prompts) => {
                if let Some(id) = id_of(self, port) {
                    let clips = prompts.iter().map(|p| p.index()).collect();
                    self.engine.play(id, clips);
                }
            }
            MediaCommand::Silence(port) => {
                if let Some(id) = id_of(self, port) {
                    self.engine.set_source(id, media::Source::Silence);
                }
            }
            MediaCommand::WatchIdle(port, on) => {
                if let Some(id) = id_of(self, port) {
                    self.engine.watch_idle(id, on, Instant::now());
                }
            }
            MediaCommand::Close(port) => self.close(poll, port),
        }
    }

    /// Reads a ready socket until it is empty (a short batch says so: the
    /// sockets are edge-triggered), relaying each batch on in one send per
    /// sending socket.
    fn drain_socket(&mut self, token: Token) {
        let (id, rtcp) = ((token.0 / 2) as EndpointId, token.0 % 2 == 1);
        let now = Instant::now();
        // Errors a send left on the socket (an ICMP port unreachable) are
        // reported by a receive once each: a few in a row, then give up.
        let mut errors = 0;
        loop {
            let Some(fd) = self.fd_of(id, rtcp) else {
                return;
            };
            let n = match self.received.recv(fd) {
                Ok(n) => n,
                Err(e) => {
                    debug!("media receive error: {e}");
                    errors += 1;
                    if errors > 4 {
                        return;
                    }
                    continue;
                }
            };
            for i in 0..n {
                let (src, buf, len) = self.received.datagram(i);
                let Some(src) = src else { continue };
                let tx = if rtcp {
                    self.engine.handle_rtcp(id, src, buf, len)
                } else {
                    self.engine.handle_rtp(now, id, src, buf, len)
                };
                if let Some(tx) = tx {
                    if let Some(out) = self.fd_of(tx.from, rtcp) {
                        self.relayed.push(out, tx.to, i, tx.range);
                    }
                }
            }
            let refused = self.relayed.flush(&self.received);
            if refused > 0 {
                debug!(refused, "relayed media sends refused");
            }
            if n < BATCH {
                return;
            }
        }
    }

    /// The raw descriptor of an endpoint's RTP or RTCP socket.
    fn fd_of(&self, id: EndpointId, rtcp: bool) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        let s = self.sockets.get(id as usize)?.as_ref()?;
        Some(if rtcp {
            s.rtcp.as_raw_fd()
        } else {
            s.rtp.as_raw_fd()
        })
    }

    fn send(&self, id: EndpointId, rtcp: bool, data: &[u8], to: SocketAddr) {
        if let Some(s) = self.sockets.get(id as usize).and_then(Option::as_ref) {
            let _ = if rtcp { &s.rtcp } else { &s.rtp }.send_to(data, to);
        }
    }

    fn send_generated(&mut self) {
        let engine = &self.engine;
        let list = engine.generated();
        if let Some(raw) = &mut self.raw {
            let refused = raw.send(list, |f| engine.frame(f));
            if refused > 0 {
                debug!(refused, "raw media sends refused");
            }
        }
        let mut packet = [0u8; 1500];
        for g in list {
            if self.raw.is_none() || !RawSender::handles(&g.to) {
                let payload = engine.frame(g.frame);
                let n = g.header.len() + payload.len();
                let Some(p) = packet.get_mut(..n) else {
                    continue;
                };
                p[..g.header.len()].copy_from_slice(&g.header);
                p[g.header.len()..].copy_from_slice(payload);
                self.send(g.from, false, p, g.to);
            }
        }
        let bytes = engine.sealed_bytes();
        for s in engine.sealed() {
            if let Some(p) = bytes.get(s.range.clone()) {
                self.send(s.from, false, p, s.to);
            }
        }
    }
}

/// The tick's timer, watched by `poll`; without one (it cannot fail on any
/// Linux we run on, but if it does) the poll's own millisecond timeout
/// paces the tick, less evenly.
fn precise_timer(poll: &Poll) -> Option<Timer> {
    let timer = Timer::new().and_then(|t| t.register(poll.registry(), TICK).map(|()| t));
    match timer {
        Ok(t) => Some(t),
        Err(e) => {
            warn!("no timerfd for the media tick, music is paced by epoll's 1 ms timeout: {e}");
            None
        }
    }
}

/// The batched sender of generated media, if wanted and permitted.
fn raw_sender(address: IpAddr, wanted: bool) -> Option<RawSender> {
    let IpAddr::V4(v4) = address else {
        return None;
    };
    if !wanted {
        return None;
    }
    match RawSender::open(v4) {
        Ok(r) => {
            info!("music and prompts are sent in batches (raw socket)");
            Some(r)
        }
        Err(e) => {
            info!("music and prompts are sent one packet at a time (no raw socket: {e})");
            None
        }
    }
}
