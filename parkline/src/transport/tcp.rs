//! TCP: an accept loop; per connection a reader that frames messages by
//! Content-Length and a writer fed by the core.

use crate::shell::Event;
use bytes::{Bytes, BytesMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use switch::{Peer, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, warn};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Accepts connections until the event queue closes.
pub async fn accept_loop(
    listener: TcpListener,
    events: mpsc::Sender<Event>,
    limits: sip::Limits,
    max_conns: usize,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!("tcp accept error: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= max_conns {
            warn!(%addr, "tcp connection limit reached: refusing");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let peer = Peer {
            transport: Transport::Tcp(id),
            addr,
        };
        let (tx, rx) = mpsc::channel::<Bytes>(256);
        if events.send(Event::TcpOpen(id, tx)).await.is_err() {
            return;
        }
        let (events, open) = (events.clone(), open.clone());
        tokio::spawn(async move {
            serve(stream, peer, rx, &events, limits).await;
            open.fetch_sub(1, Ordering::Relaxed);
            let _ = events.send(Event::TcpClosed(id)).await;
        });
    }
}

async fn serve(
    stream: TcpStream,
    peer: Peer,
    mut outgoing: mpsc::Receiver<Bytes>,
    events: &mpsc::Sender<Event>,
    limits: sip::Limits,
) {
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(b) = outgoing.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !drain_messages(&mut buf, peer, events, &limits).await {
            break;
        }
    }
    writer.abort();
    debug!(%peer, "tcp connection closed");
}

/// Hands every whole message in `buf` to the core. False to close the connection.
async fn drain_messages(
    buf: &mut BytesMut,
    peer: Peer,
    events: &mpsc::Sender<Event>,
    limits: &sip::Limits,
) -> bool {
    let data = buf.split().freeze();
    let mut pos = 0;
    let keep_open = loop {
        let view = data.slice(pos..);
        match sip::parse_stream(&view, limits) {
            Ok(sip::StreamItem::Incomplete) => break true,
            Ok(sip::StreamItem::KeepAlive(n)) => {
                pos += n;
                if view[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    // RFC 5626 ping: answer with a pong (CRLF).
                    let _ = events
                        .send(Event::Send(peer, Bytes::from_static(b"\r\n")))
                        .await;
                }
            }
            Ok(sip::StreamItem::Message(msg, n)) => {
                pos += n;
                if events.send(Event::Message(peer, msg)).await.is_err() {
                    break false;
                }
            }
            Err(e) => {
                // A stream cannot be resynchronised after a framing error.
                let _ = events.send(Event::ParseError(peer, e)).await;
                break false;
            }
        }
    };
    buf.extend_from_slice(&data[pos..]);
    keep_open
}
