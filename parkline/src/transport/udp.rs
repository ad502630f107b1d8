//! UDP: one reader task per socket; sends are non-blocking from the core task.

use crate::event::Event;
use bytes::Bytes;
use std::sync::Arc;
use switch::{Peer, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::warn;

/// Asks the kernel for a larger receive buffer, so bursts of requests are
/// queued rather than dropped (the kernel caps it at net.core.rmem_max).
pub fn enlarge_receive_buffer(socket: &UdpSocket, bytes: i32) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: setsockopt reads `bytes` for its length; the fd is open.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&bytes as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            );
        }
    }
}

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
        let arrived = std::time::Instant::now();
        let peer = Peer {
            transport: Transport::Udp,
            addr,
        };
        let data = Bytes::copy_from_slice(&buf[..n]);
        if events
            .send(Event::Datagram(peer, data, arrived))
            .await
            .is_err()
        {
            return;
        }
    }
}
