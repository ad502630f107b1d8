//! Batched sending of the media the switch generates itself (music on hold,
//! prompts). Every party must see packets from its own RTP port, so the
//! plain way is one `sendto` per packet on that port's socket. With
//! thousands of parked calls that is thousands of system calls per 20 ms
//! tick, each also waking the epoll entry of its socket. When the switch may
//! open a raw IPv4 socket (`CAP_NET_RAW`), it writes each packet's IPv4 and
//! UDP headers itself (source port = the party's RTP port) and hands a whole
//! tick to the kernel in `sendmmsg` batches from one socket. Replies still
//! reach the party's own UDP socket: only the sending is batched.

use media::engine::Transmit;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// IPv4 header (no options) plus UDP header.
const HEADERS: usize = 28;
/// Messages per `sendmmsg` call (the kernel's UIO_MAXIOV bound is 1024).
const BATCH: usize = 1024;

/// One raw socket and the scratch space of a tick (reused, so sending
/// allocates nothing once the largest tick has been seen).
pub struct RawSender {
    fd: OwnedFd,
    source: Ipv4Addr,
    headers: Vec<[u8; HEADERS]>,
    names: Vec<libc::sockaddr_in>,
    iovs: Vec<[libc::iovec; 2]>,
    msgs: Vec<libc::mmsghdr>,
}

impl RawSender {
    /// Opens the raw socket; fails without `CAP_NET_RAW`. `source` is the
    /// media address (unspecified: the kernel picks by route).
    pub fn open(source: Ipv4Addr) -> io::Result<RawSender> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(RawSender {
            fd,
            source,
            headers: Vec::new(),
            names: Vec::new(),
            iovs: Vec::new(),
            msgs: Vec::new(),
        })
    }

    /// Sends the IPv4 packets of `list` (byte ranges of `data`); returns
    /// how many the kernel refused. Packets to IPv6 parties are left out:
    /// the caller sends those itself (see [`RawSender::handles`]).
    pub fn send(&mut self, list: &[Transmit], data: &[u8]) -> usize {
        list.chunks(BATCH)
            .map(|part| self.send_batch(part, data))
            .sum()
    }

    /// Whether this sender carries a packet to `to`.
    pub fn handles(to: &SocketAddr) -> bool {
        to.is_ipv4()
    }

    fn send_batch(&mut self, list: &[Transmit], data: &[u8]) -> usize {
        self.headers.clear();
        self.names.clear();
        for tx in list {
            let SocketAddr::V4(to) = tx.to else { continue };
            let payload = &data[tx.range.clone()];
            self.headers
                .push(headers(self.source, tx.from_port, to, payload));
            self.names.push(sockaddr(*to.ip()));
        }
        // Pointers are taken only now that the vectors no longer grow.
        self.iovs.clear();
        self.msgs.clear();
        let payloads = list
            .iter()
            .filter(|tx| tx.to.is_ipv4())
            .map(|tx| &data[tx.range.clone()]);
        for (h, p) in self.headers.iter().zip(payloads) {
            self.iovs.push([
                libc::iovec {
                    iov_base: h.as_ptr() as *mut libc::c_void,
                    iov_len: HEADERS,
                },
                libc::iovec {
                    iov_base: p.as_ptr() as *mut libc::c_void,
                    iov_len: p.len(),
                },
            ]);
        }
        for (iov, name) in self.iovs.iter_mut().zip(&self.names) {
            // SAFETY: mmsghdr is plain data; zero is an empty header.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = name as *const libc::sockaddr_in as *mut libc::c_void;
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            m.msg_hdr.msg_iov = iov.as_mut_ptr();
            m.msg_hdr.msg_iovlen = 2;
            self.msgs.push(m);
        }
        let mut done = 0;
        let mut failed = 0;
        while done < self.msgs.len() {
            let rest = &mut self.msgs[done..];
            // SAFETY: every header points at buffers that live until we return.
            let n = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    rest.as_mut_ptr(),
                    rest.len() as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                failed += 1; // the first message was refused: skip it
                done += 1;
            } else {
                done += n as usize;
            }
        }
        failed
    }
}

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// The IPv4 and UDP headers of one datagram, with the UDP checksum (RFC 768;
/// the kernel fills in the IPv4 checksum and identification, and the source
/// address when it is unspecified).
fn headers(
    source: Ipv4Addr,
    from_port: u16,
    to: std::net::SocketAddrV4,
    payload: &[u8],
) -> [u8; HEADERS] {
    let udp_len = (8 + payload.len()) as u16;
    let mut h = [0u8; HEADERS];
    h[0] = 0x45; // version 4, 5 words
    h[2..4].copy_from_slice(&(HEADERS as u16 - 8 + udp_len).to_be_bytes());
    h[6] = 0x40; // don't fragment
    h[8] = 64; // TTL
    h[9] = libc::IPPROTO_UDP as u8;
    h[12..16].copy_from_slice(&source.octets());
    h[16..20].copy_from_slice(&to.ip().octets());
    h[20..22].copy_from_slice(&from_port.to_be_bytes());
    h[22..24].copy_from_slice(&to.port().to_be_bytes());
    h[24..26].copy_from_slice(&udp_len.to_be_bytes());
    if !source.is_unspecified() {
        let sum = udp_checksum(source, *to.ip(), &h[20..28], payload);
        h[26..28].copy_from_slice(&sum.to_be_bytes());
    }
    h
}

/// UDP checksum over the IPv4 pseudo-header, UDP header and payload
/// (RFC 1071: 32-bit words summed into 64 bits, folded once at the end).
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8], payload: &[u8]) -> u16 {
    let len = (udp.len() + payload.len()) as u64;
    let mut sum = u64::from(u32::from(src)) + u64::from(u32::from(dst));
    sum += u64::from(libc::IPPROTO_UDP as u8) + len;
    sum += u64::from(u32::from_be_bytes([udp[0], udp[1], udp[2], udp[3]]));
    sum += u64::from(u16::from_be_bytes([udp[4], udp[5]])) << 16; // checksum field as zero
    let mut words = payload.chunks_exact(4);
    for w in &mut words {
        sum += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let mut tail = [0u8; 4];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    sum += u64::from(u32::from_be_bytes(tail));
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    match !(sum as u16) {
        0 => 0xffff, // zero means "no checksum" (RFC 768)
        s => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddrV4, UdpSocket};
    use std::time::Duration;

    #[test]
    fn checksum_matches_the_rfc_1071_example_shape() {
        // A datagram whose checksum, recomputed over the whole with the
        // checksum in place, folds to zero (RFC 1071 verification).
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let payload = b"parkline music!";
        let h = headers(src, 20000, SocketAddrV4::new(dst, 4000), payload);
        let mut sum: u32 = 0;
        let mut words = Vec::new();
        words.extend_from_slice(&src.octets());
        words.extend_from_slice(&dst.octets());
        words.extend_from_slice(&[0, 17]);
        words.extend_from_slice(&h[24..26]);
        words.extend_from_slice(&h[20..28]);
        words.extend_from_slice(payload);
        words.push(0);
        for c in words.chunks_exact(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
        assert_eq!(&h[20..22], &20000u16.to_be_bytes());
        assert_eq!(
            u16::from_be_bytes([h[2], h[3]]) as usize,
            28 + payload.len()
        );
    }

    /// Needs CAP_NET_RAW (the test suite runs as root); skips otherwise.
    #[test]
    fn a_batch_arrives_from_each_partys_own_port() {
        let Ok(mut raw) = RawSender::open(Ipv4Addr::LOCALHOST) else {
            eprintln!("skipped: no CAP_NET_RAW for a raw socket");
            return;
        };
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let to = rx.local_addr().unwrap();
        let data = b"firstsecond".to_vec();
        let list = [
            Transmit {
                from: 0,
                from_port: 41000,
                to,
                range: 0..5,
            },
            Transmit {
                from: 1,
                from_port: 41002,
                to,
                range: 5..11,
            },
        ];
        assert_eq!(raw.send(&list, &data), 0);
        let mut buf = [0u8; 64];
        let (n, src) = rx.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], src.port()), (&b"first"[..], 41000));
        let (n, src) = rx.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], src.port()), (&b"second"[..], 41002));
    }
}
