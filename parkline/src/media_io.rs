//! The media thread: one `mio` poll over every RTP and RTCP socket, the
//! sans-IO [`media::Engine`], and a 20 ms tick. Commands come from the core
//! task through a channel and a waker; events go back through its queue.
//! Nothing on the packet path allocates or takes a lock.

use crate::shell::Event;
use media::engine::{Config as EngineConfig, EndpointId};
use media::Engine;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;
use switch::{MediaCommand, MediaEvent};
use tokio::sync::mpsc as tmpsc;
use tracing::{debug, warn};

const WAKE: Token = Token(usize::MAX);

/// Handle for the core task.
#[derive(Clone)]
pub struct MediaHandle {
    tx: mpsc::Sender<MediaCommand>,
    waker: Arc<Waker>,
    /// Open endpoints, as the media thread counts them.
    pub open: Arc<AtomicUsize>,
}

impl MediaHandle {
    /// Sends a command.
    pub fn send(&self, cmd: MediaCommand) {
        if self.tx.send(cmd).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

struct Sock {
    socket: UdpSocket,
    port: u16,
    rtcp: bool,
}

/// Starts the media thread.
pub fn spawn(
    address: IpAddr,
    cfg: EngineConfig,
    events: tmpsc::Sender<Event>,
) -> std::io::Result<MediaHandle> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let (tx, rx) = mpsc::channel();
    let open = Arc::new(AtomicUsize::new(0));
    let counter = open.clone();
    std::thread::Builder::new()
        .name("media".into())
        .spawn(move || run(poll, rx, address, cfg, events, counter))?;
    Ok(MediaHandle { tx, waker, open })
}

struct State {
    engine: Engine,
    socks: HashMap<Token, Sock>,
    by_port: HashMap<u16, (EndpointId, Token, Token)>,
    next_token: usize,
    address: IpAddr,
    failed: Vec<u16>,
}

fn run(
    mut poll: Poll,
    rx: mpsc::Receiver<MediaCommand>,
    address: IpAddr,
    cfg: EngineConfig,
    events: tmpsc::Sender<Event>,
    open: Arc<AtomicUsize>,
) {
    let mut st = State {
        engine: Engine::new(cfg, rand::random()),
        socks: HashMap::new(),
        by_port: HashMap::new(),
        next_token: 0,
        address,
        failed: Vec::new(),
    };
    let mut ready = Events::with_capacity(1024);
    let mut buf = vec![0u8; 2048];
    loop {
        let timeout = if st.by_port.is_empty() {
            None
        } else {
            Some(
                st.engine
                    .next_tick()
                    .map_or(std::time::Duration::ZERO, |t| {
                        t.saturating_duration_since(Instant::now())
                    }),
            )
        };
        if let Err(e) = poll.poll(&mut ready, timeout) {
            if e.kind() != ErrorKind::Interrupted {
                warn!("media poll failed: {e}");
            }
            continue;
        }
        for ev in ready.iter() {
            if ev.token() == WAKE {
                loop {
                    match rx.try_recv() {
                        Ok(cmd) => st.apply(&poll, cmd),
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => return,
                    }
                }
                open.store(st.by_port.len(), Ordering::Relaxed);
            } else {
                st.drain_socket(ev.token(), &mut buf);
            }
        }
        if !st.by_port.is_empty() && st.engine.on_tick(Instant::now()) {
            st.send_generated();
        }
        for port in st.failed.drain(..) {
            let _ = events.try_send(Event::Media(MediaEvent::OpenFailed(port)));
        }
        while let Some(ev) = st.engine.poll_event() {
            let ev = match ev {
                media::Event::Dtmf(id, k) => st.port_of(id).map(|p| MediaEvent::Dtmf(p, k)),
                media::Event::PromptDone(id) => st.port_of(id).map(MediaEvent::PromptDone),
                media::Event::Idle(id) => st.port_of(id).map(MediaEvent::Idle),
            };
            if let Some(ev) = ev {
                let _ = events.try_send(Event::Media(ev));
            }
        }
    }
}

impl State {
    fn port_of(&self, id: EndpointId) -> Option<u16> {
        self.by_port
            .iter()
            .find(|(_, (e, _, _))| *e == id)
            .map(|(p, _)| *p)
    }

    fn bind(&mut self, poll: &Poll, port: u16, rtcp: bool) -> std::io::Result<Token> {
        let mut socket = UdpSocket::bind(SocketAddr::new(self.address, port + u16::from(rtcp)))?;
        let token = Token(self.next_token);
        self.next_token += 1;
        poll.registry()
            .register(&mut socket, token, Interest::READABLE)?;
        self.socks.insert(token, Sock { socket, port, rtcp });
        Ok(token)
    }

    fn apply(&mut self, poll: &Poll, cmd: MediaCommand) {
        let id_of = |st: &State, port: u16| st.by_port.get(&port).map(|e| e.0);
        match cmd {
            MediaCommand::Open(port) => {
                let rtp = self.bind(poll, port, false);
                let rtcp = self.bind(poll, port, true);
                match (rtp, rtcp) {
                    (Ok(a), Ok(b)) => {
                        let id = self.engine.open(port);
                        self.by_port.insert(port, (id, a, b));
                    }
                    (a, b) => {
                        warn!(port, "cannot bind RTP/RTCP port pair");
                        for t in [a, b].into_iter().flatten() {
                            if let Some(mut s) = self.socks.remove(&t) {
                                let _ = poll.registry().deregister(&mut s.socket);
                            }
                        }
                        self.failed.push(port);
                    }
                }
            }
            MediaCommand::Configure {
                port,
                remote,
                codec,
                pt,
                telephone_event,
            } => {
                if let Some(id) = id_of(self, port) {
                    self.engine
                        .configure(id, remote, codec, pt, telephone_event);
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
                    self.engine.play(id, prompts);
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
            MediaCommand::Close(port) => {
                if let Some((id, a, b)) = self.by_port.remove(&port) {
                    self.engine.close(id);
                    for t in [a, b] {
                        if let Some(mut s) = self.socks.remove(&t) {
                            let _ = poll.registry().deregister(&mut s.socket);
                        }
                    }
                }
            }
        }
    }

    fn drain_socket(&mut self, token: Token, buf: &mut [u8]) {
        loop {
            let Some(sock) = self.socks.get(&token) else {
                return;
            };
            let (n, src) = match sock.socket.recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("media receive error: {e}");
                    continue;
                }
            };
            let (port, rtcp) = (sock.port, sock.rtcp);
            if rtcp {
                if let Some((from_rtp_port, to)) = self.engine.on_rtcp(port) {
                    self.send(from_rtp_port, true, &buf[..n], to);
                }
            } else if let Some(tx) = self.engine.on_rtp(Instant::now(), port, src, &mut buf[..n]) {
                let range = tx.range.clone();
                self.send(tx.from_port, false, &buf[range], tx.to);
            }
        }
    }

    fn send(&self, port: u16, rtcp: bool, data: &[u8], to: SocketAddr) {
        let Some(&(_, a, b)) = self.by_port.get(&if rtcp { port - 1 } else { port }) else {
            return;
        };
        if let Some(s) = self.socks.get(if rtcp { &b } else { &a }) {
            let _ = s.socket.send_to(data, to);
        }
    }

    fn send_generated(&self) {
        let (list, data) = self.engine.transmits();
        for tx in list {
            self.send(tx.from_port, false, &data[tx.range.clone()], tx.to);
        }
    }
}
