//! TCP and TLS: an accept loop with connection caps; per connection (after
//! the TLS handshake, for a `tls:` listener) a reader that frames messages
//! incrementally ([`sip::framer::Framer`]) under two timeouts, and a writer
//! fed by the core.
//!
//! - At most [`TcpLimits::max_connections`] connections, and at most
//!   [`TcpLimits::max_per_ip`] from one IP: one host cannot take them all.
//! - A message that has begun must be complete within
//!   [`TcpLimits::message_timeout`] (slowloris).
//! - A connection the core has not marked trusted (an authenticated
//!   request or a dialog came over it) is closed after
//!   [`TcpLimits::idle_timeout`] without a message.
//! - A TLS handshake must end within [`TcpLimits::message_timeout`].

use crate::event::{Connection, Event};
use bytes::{Bytes, BytesMut};
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switch::{Peer, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How long a closing connection may take to send what is queued for it.
const FLUSH_ON_CLOSE: Duration = Duration::from_secs(2);

/// How often, at most, refused connections are logged.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// The TCP transport's limits.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one IP.
    pub max_per_ip: usize,
    /// Time from the first byte of a message to its last.
    pub message_timeout: Duration,
    /// Time an untrusted connection may stay without a message.
    pub idle_timeout: Duration,
    /// Parser limits.
    pub parse: sip::Limits,
}

/// Open connections by IP; only the accept loop and closing connections
/// touch it (never the signalling path).
#[derive(Default)]
struct OpenCounts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl OpenCounts {
    fn try_open(&mut self, ip: IpAddr, limits: &TcpLimits) -> bool {
        let from_ip = self.by_ip.get(&ip).copied().unwrap_or(0);
        if self.total >= limits.max_connections || from_ip >= limits.max_per_ip {
            return false;
        }
        self.total += 1;
        *self.by_ip.entry(ip).or_insert(0) += 1;
        true
    }

    fn close(&mut self, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }
}

/// Accepts connections until the event queue closes; with `tls`, each
/// connection is TLS.
pub async fn accept_loop(
    listener: TcpListener,
    events: mpsc::Sender<Event>,
    limits: TcpLimits,
    tls: Option<TlsAcceptor>,
) {
    let open = Arc::new(Mutex::new(OpenCounts::default()));
    let mut refused = 0u64;
    let mut last_log: Option<Instant> = None;
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!("tcp accept error: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = open
            .lock()
            .map(|mut o| o.try_open(addr.ip(), &limits))
            .unwrap_or(false);
        if !admitted {
            refused += 1;
            if last_log.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY) {
                warn!(%addr, refused, "tcp connection limit reached (sip.max_tcp_connections or _per_ip): refusing");
                last_log = Some(Instant::now());
                refused = 0;
            }
            drop(stream);
            continue;
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let (events, open, tls) = (events.clone(), open.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => {
                    let peer = Peer {
                        transport: Transport::Tcp(id),
                        addr,
                    };
                    run_connection(stream, peer, None, &events, limits).await;
                }
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(limits.message_timeout, handshake).await {
                        Ok(Ok(tls_stream)) => {
                            let peer = Peer {
                                transport: Transport::Tls(id),
                                addr,
                            };
                            let cert = tls_stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| c.clone().into_owned());
                            run_connection(tls_stream, peer, cert, &events, limits).await;
                        }
                        Ok(Err(e)) => debug!(%addr, "tls handshake failed: {e}"),
                        Err(_) => debug!(%addr, "tls handshake timed out"),
                    }
                }
            }
            if let Ok(mut o) = open.lock() {
                o.close(addr.ip());
            }
        });
    }
}

/// One connection from its opening to its close: registers it with the
/// core, reads until it ends, and lets its writer finish.
async fn run_connection<S>(
    stream: S,
    peer: Peer,
    client_cert: Option<CertificateDer<'static>>,
    events: &mpsc::Sender<Event>,
    limits: TcpLimits,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(id) = peer.transport.connection() else {
        return;
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let trusted = Arc::new(AtomicBool::new(false));
    let conn = Connection {
        writer: tx,
        trusted: trusted.clone(),
        client_cert,
    };
    if events.send(Event::TcpOpen(id, conn)).await.is_err() {
        return;
    }
    let (mut rd, writer) = serve(stream, peer, rx, events, limits, &trusted).await;
    // The core drops its sender on TcpClosed; the writer then sends what is
    // queued (say, a 513 for the message that ended it), shuts its side
    // down and stops. Reading on until the peer closes too (briefly) keeps
    // the kernel from answering unread bytes with a reset that would
    // discard that last response.
    let _ = events.send(Event::TcpClosed(id)).await;
    let _ = tokio::time::timeout(FLUSH_ON_CLOSE, async {
        let _ = writer.await;
        let mut sink = [0u8; 4096];
        while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Reads until the connection ends; returns its read half and its writer
/// task, still running.
async fn serve<S>(
    stream: S,
    peer: Peer,
    mut outgoing: mpsc::Receiver<Bytes>,
    events: &mpsc::Sender<Event>,
    limits: TcpLimits,
    trusted: &AtomicBool,
) -> (ReadHalf<S>, tokio::task::JoinHandle<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        while let Some(b) = outgoing.recv().await {
            if wr.write_all(&b).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut reader = Reader {
        buf: BytesMut::with_capacity(8192),
        framer: sip::framer::Framer::default(),
        message_started: None,
        last_message: Instant::now(),
    };
    loop {
        let deadline = reader.deadline(&limits, trusted.load(Ordering::Relaxed));
        let read = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d.into(), read_some(&mut rd, &mut reader.buf))
                    .await
                    .ok(),
                None => Some(read_some(&mut rd, &mut reader.buf).await),
            }
        };
        match read.await {
            // Trusted meanwhile (the core answered what came last): idle is fine.
            None if reader.message_started.is_none() && trusted.load(Ordering::Relaxed) => continue,
            None => {
                debug!(%peer, "tcp connection timed out");
                break;
            }
            Some(false) => break,
            Some(true) => {}
        }
        if reader.message_started.is_none() {
            reader.message_started = Some(Instant::now());
        }
        if !reader.drain(peer, events, &limits.parse).await {
            break;
        }
    }
    debug!(%peer, "tcp connection closed");
    (rd, writer)
}

/// Reads what is there; false at the end of the stream or on an error.
async fn read_some<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> bool {
    matches!(rd.read_buf(buf).await, Ok(n) if n > 0)
}

/// One connection's receive side.
struct Reader {
    buf: BytesMut,
    framer: sip::framer::Framer,
    /// When the message now arriving began (None between messages).
    message_started: Option<Instant>,
    last_message: Instant,
}

impl Reader {
    /// When the connection is closed if nothing more arrives.
    fn deadline(&self, limits: &TcpLimits, trusted: bool) -> Option<Instant> {
        match self.message_started {
            Some(t) => Some(t + limits.message_timeout),
            None if trusted => None,
            None => Some(self.last_message + limits.idle_timeout),
        }
    }

    /// Hands every whole message in the buffer to the core. False to close.
    async fn drain(
        &mut self,
        peer: Peer,
        events: &mpsc::Sender<Event>,
        limits: &sip::Limits,
    ) -> bool {
        loop {
            match self.framer.is_ready(&self.buf, limits) {
                Ok(true) => {}
                Ok(false) => return true,
                Err(e) => {
                    let _ = events.send(Event::ParseError(peer, e)).await;
                    return false;
                }
            }
            let data = self.buf.split().freeze();
            let (used, keep_open) = match self.framer.take(&data, limits) {
                Ok(sip::StreamItem::Incomplete | sip::StreamItem::Partial { .. }) => (0, true),
                Ok(sip::StreamItem::KeepAlive(n)) => {
                    if data[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        // RFC 5626 ping: answer with a pong (CRLF).
                        let pong = Event::Send(peer, Bytes::from_static(b"\r\n"));
                        let _ = events.send(pong).await;
                    }
                    (n, true)
                }
                Ok(sip::StreamItem::Message(msg, n)) => {
                    self.last_message = Instant::now();
                    let arrived = self.last_message;
                    (
                        n,
                        events
                            .send(Event::Message(peer, msg, arrived))
                            .await
                            .is_ok(),
                    )
                }
                Err(e) => {
                    // A stream cannot be resynchronised after a framing error.
                    let _ = events.send(Event::ParseError(peer, e)).await;
                    (0, false)
                }
            };
            self.buf.extend_from_slice(&data[used..]);
            if used == 0 || !keep_open {
                return keep_open;
            }
            if self.buf.is_empty() {
                self.message_started = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_ip_and_in_all() {
        let limits = TcpLimits {
            max_connections: 3,
            max_per_ip: 2,
            message_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            parse: sip::Limits::default(),
        };
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            [127, 0, 0, 2].into(),
            [127, 0, 0, 3].into(),
            [127, 0, 0, 4].into(),
        );
        let mut o = OpenCounts::default();
        assert!(o.try_open(a, &limits) && o.try_open(a, &limits));
        assert!(!o.try_open(a, &limits), "per IP");
        assert!(o.try_open(b, &limits));
        assert!(!o.try_open(c, &limits), "in all");
        o.close(a);
        assert!(o.try_open(c, &limits));
        assert_eq!(o.by_ip.get(&a), Some(&1));
    }
}
