//! The media thread: one `mio` poll over every RTP and RTCP socket, the
//! sans-IO [`media::Engine`], and its tick (a [`Timer`], as precise as the
//! kernel's high-resolution timers; `epoll`'s own timeout has 1 ms steps).
//! Commands come from the core task through a channel and a waker; events
//! go back through its queue. Nothing on the packet path allocates or takes
//! a lock.

use crate::datagram_batch::{RecvBatch, SendBatch, BATCH};
use crate::event::Event;
use crate::raw_send::RawSender;
use crate::timer::Timer;
use media::engine::{Config as EngineConfig, EndpointId};
use media::Engine;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;
use switch::{MediaCommand, MediaEvent};
use tokio::sync::mpsc as tmpsc;
use tracing::{debug, info, warn};

const WAKE: Token = Token(usize::MAX);
const TICK: Token = Token(usize::MAX - 1);

/// How often the media thread records where its streams have got to.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the media thread is asked.
enum MediaMsg {
    /// Something the core wants done.
    Command(MediaCommand),
    /// The resumed calls' endpoints are open: checkpoints not used by now
    /// belong to no live call.
    ResumeDone,
    /// Record where every stream has got to now, then answer.
    Checkpoint(mpsc::Sender<()>),
}

/// Handle for the core task.
#[derive(Clone)]
pub struct MediaHandle {
    tx: mpsc::Sender<MediaMsg>,
    waker: Arc<Waker>,
    /// Open endpoints, as the media thread counts them.
    pub open: Arc<AtomicUsize>,
    /// Packet totals and music listeners, as the media thread last
    /// published them.
    pub stats: Arc<MediaStats>,
}

/// What the media thread publishes for metrics: stored once per loop (the
/// totals) or per second (the listeners), never per packet.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// RTP packets accepted from parties.
    pub rtp_in: std::sync::atomic::AtomicU64,
    /// RTP packets sent to parties.
    pub rtp_out: std::sync::atomic::AtomicU64,
    /// Endpoints hearing the music.
    pub music_streams: AtomicUsize,
}

impl MediaHandle {
    /// Sends a command.
    pub fn send(&self, cmd: MediaCommand) {
        self.post(MediaMsg::Command(cmd));
    }

    /// Says that the resumed calls' endpoints have all been opened.
    pub fn resume_done(&self) {
        self.post(MediaMsg::ResumeDone);
    }

    /// Has the media thread write a checkpoint of every stream to the
    /// store now (before a clean stop); waits up to `wait` for it.
    pub fn checkpoint(&self, wait: std::time::Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        self.post(MediaMsg::Checkpoint(tx));
        rx.recv_timeout(wait).is_ok()
    }

    fn post(&self, msg: MediaMsg) {
        if self.tx.send(msg).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// The streams of the previous process to continue, and where checkpoints go.
pub struct Continuity {
    /// By port: where the stream had got to, and when (Unix ms).
    pub resume: std::collections::HashMap<u16, (media::engine::StreamPosition, u64)>,
    /// The store thread.
    pub store: crate::persist::StoreQueue,
}

impl Continuity {
    /// From the store's checkpoints.
    pub fn from_checkpoints(
        all: Vec<store::MediaCheckpoint>,
        store: crate::persist::StoreQueue,
    ) -> Continuity {
        let resume = all
            .into_iter()
            .map(|c| {
                let pos = media::engine::StreamPosition {
                    ssrc: c.ssrc,
                    seq: c.seq,
                    ts: c.ts,
                };
                (c.port, (pos, c.at_ms))
            })
            .collect();
        Continuity { resume, store }
    }

    fn write(&self, engine: &Engine) {
        let at_ms = unix_ms();
        let all = engine
            .positions()
            .map(|(port, p)| store::MediaCheckpoint {
                port,
                ssrc: p.ssrc,
                seq: p.seq,
                ts: p.ts,
                roc: 0,
                at_ms,
            })
            .collect();
        self.store.push(crate::persist::StoreMsg::Media(all));
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The sockets of one endpoint. Its RTP socket is registered as token
/// `2 * id`, its RTCP socket as `2 * id + 1`, so a readiness event or an
/// engine output finds its socket by indexing, without a map lookup.
struct Sockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

fn token(id: EndpointId, rtcp: bool) -> Token {
    Token(id as usize * 2 + usize::from(rtcp))
}

/// Where the media thread's reports go. What the core must act on (a prompt
/// done, a silent party, a port that failed) has a queue of its own that is
/// never full, so a flood of SIP cannot make the core miss it (at most a few
/// reports per open endpoint are ever pending); key presses, which the core
/// only logs, share the SIP queue and are dropped when it is full.
pub struct Reports {
    /// Reports the core acts on.
    pub calls: tmpsc::UnboundedSender<MediaEvent>,
    /// The core's shared queue (key presses).
    pub keys: tmpsc::Sender<Event>,
}

/// Starts the media thread.
pub fn spawn(
    address: IpAddr,
    raw_send: bool,
    cfg: EngineConfig,
    events: Reports,
    continuity: Continuity,
) -> std::io::Result<MediaHandle> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let (tx, rx) = mpsc::channel();
    let open = Arc::new(AtomicUsize::new(0));
    let stats = Arc::new(MediaStats::default());
    let counters = (open.clone(), stats.clone());
    std::thread::Builder::new()
        .name("media".into())
        .spawn(move || {
            run(
                poll, rx, address, raw_send, cfg, events, counters, continuity,
            )
        })?;
    Ok(MediaHandle {
        tx,
        waker,
        open,
        stats,
    })
}

struct State {
    engine: Engine,
    /// Sockets by endpoint id (the engine reuses ids, so this stays dense).
    sockets: Vec<Option<Sockets>>,
    address: IpAddr,
    failed: Vec<u16>,
    /// Batched sending of generated media, when permitted.
    raw: Option<RawSender>,
    continuity: Continuity,
    /// Relayed packets: received in batches, sent on in batches.
    received: RecvBatch,
    relayed: SendBatch,
}

#[allow(clippy::too_many_arguments)]
fn run(
    mut poll: Poll,
    rx: mpsc::Receiver<MediaMsg>,
    address: IpAddr,
    raw_send: bool,
    cfg: EngineConfig,
    events: Reports,
    (open, stats): (Arc<AtomicUsize>, Arc<MediaStats>),
    continuity: Continuity,
) {
    let mut st = State {
        engine: Engine::new(cfg, rand::random()),
        sockets: Vec::new(),
        address,
        failed: Vec::new(),
        raw: raw_sender(address, raw_send),
        continuity,
        // Room after each packet for what SRTP adds on the way out.
        received: RecvBatch::new(crate::datagram_batch::BUFFER - media::engine::SRTP_OVERHEAD),
        relayed: SendBatch::default(),
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
                loop {
                    match rx.try_recv() {
                        Ok(MediaMsg::Command(cmd)) => st.apply(&poll, cmd),
                        Ok(MediaMsg::ResumeDone) => st.continuity.resume.clear(),
                        Ok(MediaMsg::Checkpoint(done)) => {
                            st.continuity.write(&st.engine);
                            let _ = done.send(());
                        }
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => return,
                    }
                }
                open.store(st.engine.open_count(), Ordering::Relaxed);
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
            st.continuity.write(&st.engine);
            let music = st.engine.music_listeners();
            stats.music_streams.store(music, Ordering::Relaxed);
        } else if st.engine.open_count() == 0 {
            stats.music_streams.store(0, Ordering::Relaxed);
        }
        for port in st.failed.drain(..) {
            let _ = events.calls.send(MediaEvent::OpenFailed(port));
        }
        while let Some(ev) = st.engine.poll_event() {
            match ev {
                media::Event::Dtmf(id, k) => {
                    if let Some(p) = st.engine.port_of(id) {
                        let _ = events.keys.try_send(Event::Media(MediaEvent::Dtmf(p, k)));
                    }
                }
                media::Event::PromptDone(id) => {
                    if let Some(p) = st.engine.port_of(id) {
                        let _ = events.calls.send(MediaEvent::PromptDone(p));
                    }
                }
                media::Event::Idle(id) => {
                    if let Some(p) = st.engine.port_of(id) {
                        let _ = events.calls.send(MediaEvent::Idle(p));
                    }
                }
            }
        }
    }
}

impl State {
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
                self.failed.push(port);
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
            self.failed.push(port);
            return;
        }
        let i = id as usize;
        if self.sockets.len() <= i {
            self.sockets.resize_with(i + 1, || None);
        }
        self.sockets[i] = Some(socks);
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
