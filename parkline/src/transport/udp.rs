//! UDP: one reader task per socket; sends are non-blocking from the core task.

use crate::shell::Event;
use bytes::Bytes;
use std::sync::Arc;
use switch::{Peer, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::warn;

/// Reads datagrams and queues them for the core until the queue closes.
pub async fn read_loop(socket: Arc<UdpSocket>, events: mpsc::Sender<Event>, max_message: usize) {
    let mut buf = vec![0u8; max_message.max(1500) + 1];
    loop {
        let (n, addr) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors surface here on Linux; keep serving.
                warn!("udp receive error: {e}");
                continue;
            }
        };
        let peer = Peer {
            transport: Transport::Udp,
            addr,
        };
        let data = Bytes::copy_from_slice(&buf[..n]);
        if events.send(Event::Datagram(peer, data)).await.is_err() {
            return;
        }
    }
}
