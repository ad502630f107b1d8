//! Relayed media in batches: `recvmmsg` fills up to [`BATCH`] buffers
//! from one socket in one system call, and the packets the engine relays
//! out of them leave in one `sendmmsg` per sending socket.
//!
//! Per relayed packet that is one receive and one send call at most, and
//! fewer when packets queue up, instead of a `recvfrom`, a `sendto` and a
//! last `recvfrom` that finds the socket empty: the sockets are watched
//! edge-triggered, and Linux reports every datagram that arrives after a
//! read, so a batch that comes back short means the socket is empty.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::RawFd;

/// Datagrams taken per receive call.
pub const BATCH: usize = 16;
/// Bytes of each receive buffer.
pub const BUFFER: usize = 2048;

/// Buffers for one `recvmmsg`, and what it received.
pub struct RecvBatch {
    bufs: Vec<[u8; BUFFER]>,
    names: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    /// Bytes read into each buffer, at most `room`.
    room: usize,
}

impl RecvBatch {
    /// Buffers that take datagrams of up to `room` bytes (leaving the rest
    /// of each buffer free for what the engine adds on the way out).
    pub fn new(room: usize) -> RecvBatch {
        // SAFETY: these are plain C structs for which all zeroes is valid.
        let (name, iov, msg) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed(), std::mem::zeroed()) };
        RecvBatch {
            bufs: vec![[0; BUFFER]; BATCH],
            names: vec![name; BATCH],
            iovs: vec![iov; BATCH],
            msgs: vec![msg; BATCH],
            room: room.min(BUFFER),
        }
    }

    /// Receives what `fd` holds, up to [`BATCH`] datagrams, without
    /// waiting: how many (0 when it is empty).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.room,
            };
            let hdr = &mut self.msgs[i].msg_hdr;
            hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
        }
        // SAFETY: every header points at this batch's own live buffers.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            Ok(0)
        } else {
            Err(e)
        }
    }

    /// Datagram `i` of the last receive: its source, its buffer (the
    /// datagram at the front, room behind it) and its length.
    pub fn datagram(&mut self, i: usize) -> (Option<SocketAddr>, &mut [u8], usize) {
        let len = self.msgs[i].msg_len as usize;
        (socket_addr(&self.names[i]), &mut self.bufs[i][..], len)
    }
}

/// One packet to send: buffer `slot` of the [`RecvBatch`], its `range`.
struct Pending {
    fd: RawFd,
    to: (libc::sockaddr_storage, libc::socklen_t),
    slot: usize,
    range: Range<usize>,
}

/// Packets relayed out of one receive batch, sent by socket in
/// `sendmmsg` calls.
#[derive(Default)]
pub struct SendBatch {
    pending: Vec<Pending>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl SendBatch {
    /// Queues bytes `range` of receive buffer `slot`, from `fd` to `to`.
    pub fn push(&mut self, fd: RawFd, to: SocketAddr, slot: usize, range: Range<usize>) {
        self.pending.push(Pending {
            fd,
            to: sockaddr(to),
            slot,
            range,
        });
    }

    /// Sends everything queued, out of `batch`'s buffers; how many the
    /// kernel refused (a full buffer, an unreachable port: dropped, as a
    /// `sendto` that failed would be).
    pub fn flush(&mut self, batch: &RecvBatch) -> usize {
        let mut refused = 0;
        let mut start = 0;
        while let Some(run) = next_run(&self.pending, start, |p| p.fd) {
            start = run.end;
            refused += self.send_run(batch, run);
        }
        self.pending.clear();
        refused
    }

    fn send_run(&mut self, batch: &RecvBatch, run: Range<usize>) -> usize {
        self.iovs.clear();
        self.msgs.clear();
        for p in &self.pending[run.clone()] {
            let buf = &batch.bufs[p.slot][p.range.clone()];
            self.iovs.push(libc::iovec {
                iov_base: buf.as_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            });
        }
        for (k, p) in self.pending[run.clone()].iter_mut().enumerate() {
            // SAFETY: a plain C struct for which all zeroes is valid.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = (&mut p.to.0 as *mut libc::sockaddr_storage).cast();
            m.msg_hdr.msg_namelen = p.to.1;
            m.msg_hdr.msg_iov = &mut self.iovs[k];
            m.msg_hdr.msg_iovlen = 1;
            self.msgs.push(m);
        }
        let fd = self.pending[run.start].fd;
        let mut done = 0;
        let mut refused = 0;
        while done < self.msgs.len() {
            let rest = &mut self.msgs[done..];
            // SAFETY: the headers point at live buffers and addresses.
            let r = unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), rest.len() as u32, 0) };
            if r <= 0 {
                refused += 1; // skip the one the kernel refused
                done += 1;
            } else {
                done += r as usize;
            }
        }
        refused
    }
}

/// The run of neighbours from `start` on whose `key` is equal (the
/// packets one `sendmmsg` takes); `None` past the end.
fn next_run<T, K: PartialEq>(
    items: &[T],
    start: usize,
    key: impl Fn(&T) -> K,
) -> Option<Range<usize>> {
    let first = key(items.get(start)?);
    let len = items[start..]
        .iter()
        .take_while(|i| key(i) == first)
        .count();
    Some(start..start + len)
}

fn socket_addr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: a plain C struct for which all zeroes is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any address.
            let s = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_port = v4.port().to_be();
            s.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above.
            let s = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_port = v6.port().to_be();
            s.sin6_addr.s6_addr = v6.ip().octets();
            s.sin6_flowinfo = v6.flowinfo();
            s.sin6_scope_id = v6.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn runs_group_equal_neighbours() {
        let runs = |keys: &[i32]| {
            let mut out = Vec::new();
            let mut start = 0;
            while let Some(r) = next_run(keys, start, |k| *k) {
                start = r.end;
                out.push(r);
            }
            out
        };
        assert_eq!(runs(&[]), Vec::<Range<usize>>::new());
        assert_eq!(runs(&[7]), vec![0..1]);
        assert_eq!(runs(&[3, 3, 3, 5, 5, 3]), vec![0..3, 3..5, 5..6]);
    }

    #[test]
    fn addresses_convert_both_ways() {
        for a in ["127.0.0.1:5004", "[::1]:40000", "[fe80::1%2]:9"] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(socket_addr(&sockaddr(a).0), Some(a));
        }
    }

    /// A batch over loopback: a queue of datagrams is taken in full
    /// batches and a short last one, and relayed on in one call per socket.
    #[test]
    fn a_queue_is_received_in_batches_and_relayed_per_socket() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let out_a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let out_b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        let from = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..BATCH + 3 {
            from.send_to(&[i as u8; 20], rx.local_addr().unwrap())
                .unwrap();
        }
        let mut batch = RecvBatch::new(1500);
        let mut sends = SendBatch::default();
        let mut got = Vec::new();
        loop {
            let n = batch.recv(rx.as_raw_fd()).unwrap();
            for i in 0..n {
                let (src, buf, len) = batch.datagram(i);
                assert_eq!(src, Some(from.local_addr().unwrap()));
                assert_eq!(len, 20);
                got.push(buf[0]);
                // Alternate sockets in runs of two, as two legs would.
                let out = if (buf[0] / 2) % 2 == 0 {
                    &out_a
                } else {
                    &out_b
                };
                sends.push(out.as_raw_fd(), sink.local_addr().unwrap(), i, 0..len);
            }
            assert_eq!(sends.flush(&batch), 0);
            if n < BATCH {
                break;
            }
        }
        assert_eq!(got, (0..(BATCH + 3) as u8).collect::<Vec<_>>());
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 0, "empty now");
        sink.set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .unwrap();
        let mut buf = [0u8; 64];
        for i in 0..BATCH + 3 {
            let (n, src) = sink.recv_from(&mut buf).unwrap();
            assert_eq!((n, buf[0]), (20, i as u8));
            let want = if (i / 2) % 2 == 0 { &out_a } else { &out_b };
            assert_eq!(src, want.local_addr().unwrap());
        }
    }
}
