//! Batched sending of the media the switch generates itself (music on hold,
//! prompts). Every party must see packets from its own RTP port, so the
//! plain way is one `sendto` per packet on that port's socket. With
//! thousands of parked calls that is thousands of system calls per 20 ms
//! tick, each also waking the epoll entry of its socket. When the switch may
//! open a raw IPv4 socket (`CAP_NET_RAW`), it writes each packet's IPv4 and
//! UDP headers itself (source port = the party's RTP port) and hands a whole
//! tick to the kernel in `sendmmsg` batches from one socket. Replies still
//! reach the party's own UDP socket: only the sending is batched.

use media::engine::{Frame, Generated};
use media::rtp::HEADER_LEN as RTP_HEADER;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// IPv4 header (no options), UDP header and RTP header: what each packet
/// has of its own. The payload is the shared frame, never copied.
const HEADERS: usize = 20 + 8 + RTP_HEADER;
/// Messages per `sendmmsg` call (the kernel's UIO_MAXIOV bound is 1024).
const BATCH: usize = 1024;
/// Distinct frames whose checksum sums are remembered within one send.
const SUMS: usize = 4;

/// One raw socket and the scratch space of a tick (reused, so sending
/// allocates nothing once the largest tick has been seen).
pub struct RawSender {
    fd: OwnedFd,
    source: Ipv4Addr,
    headers: Vec<[u8; HEADERS]>,
    names: Vec<libc::sockaddr_in>,
    iovs: Vec<[libc::iovec; 2]>,
    msgs: Vec<libc::mmsghdr>,
    sums: [Option<(Frame, u64)>; SUMS],
    /// IPv4 identification of the next packet.
    ident: u16,
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
            sums: [None; SUMS],
            ident: 1,
        })
    }

    /// Sends the IPv4 packets of `list`, whose payloads `frame` gives;
    /// returns how many the kernel refused. Packets to IPv6 parties are left
    /// out: the caller sends those itself (see [`RawSender::handles`]).
    pub fn send<'a>(&mut self, list: &[Generated], frame: impl Fn(Frame) -> &'a [u8]) -> usize {
        self.sums = [None; SUMS];
        list.chunks(BATCH)
            .map(|part| self.send_batch(part, &frame))
            .sum()
    }

    /// Whether this sender carries a packet to `to`.
    pub fn handles(to: &SocketAddr) -> bool {
        to.is_ipv4()
    }

    fn send_batch<'a>(&mut self, list: &[Generated], frame: &impl Fn(Frame) -> &'a [u8]) -> usize {
        self.headers.clear();
        self.names.clear();
        self.iovs.clear();
        self.msgs.clear();
        for g in list {
            let SocketAddr::V4(to) = g.to else { continue };
            let payload = frame(g.frame);
            let sum = self.payload_sum(g.frame, payload);
            let mut h = headers(self.source, g.from_port, to, &g.header, payload.len(), sum);
            h[4..6].copy_from_slice(&self.next_ident().to_be_bytes());
            self.headers.push(h);
            self.names.push(sockaddr(*to.ip()));
            self.iovs.push([
                libc::iovec {
                    iov_base: std::ptr::null_mut(), // set below, once `headers` stops growing
                    iov_len: HEADERS,
                },
                libc::iovec {
                    iov_base: payload.as_ptr() as *mut libc::c_void,
                    iov_len: payload.len(),
                },
            ]);
        }
        for ((iov, h), name) in self.iovs.iter_mut().zip(&self.headers).zip(&self.names) {
            iov[0].iov_base = h.as_ptr() as *mut libc::c_void;
            // SAFETY: mmsghdr is plain data; zero is an empty header.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = name as *const libc::sockaddr_in as *mut libc::c_void;
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            m.msg_hdr.msg_iov = iov.as_mut_ptr();
            m.msg_hdr.msg_iovlen = 2;
            self.msgs.push(m);
        }
        self.flush()
    }

    /// Hands the prepared messages to the kernel; returns how many it refused.
    fn flush(&mut self) -> usize {
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

    /// A counter for the IPv4 identification field. The packets are
    /// atomic (don't fragment, never fragmented), so any value will do
    /// (RFC 6864 §4.1); a non-zero one spares the kernel choosing one per
    /// packet (a hash and an atomic add).
    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.checked_add(1).unwrap_or(1);
        self.ident
    }

    /// The checksum sum of a payload, computed once per distinct frame:
    /// every listener of the music shares it.
    fn payload_sum(&mut self, f: Frame, payload: &[u8]) -> u64 {
        if let Some((_, sum)) = self.sums.iter().flatten().find(|(g, _)| *g == f) {
            return *sum;
        }
        let sum = sum_words(payload);
        self.sums.rotate_right(1);
        self.sums[0] = Some((f, sum));
        sum
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

/// The IPv4, UDP and RTP headers of one datagram, with the UDP checksum
/// (RFC 768) from `payload_sum` ([`sum_words`] of the payload); the kernel
/// fills in the IPv4 checksum, the identification while it is zero, and
/// the source address when it is unspecified.
fn headers(
    source: Ipv4Addr,
    from_port: u16,
    to: SocketAddrV4,
    rtp: &[u8; RTP_HEADER],
    payload_len: usize,
    payload_sum: u64,
) -> [u8; HEADERS] {
    let udp_len = (8 + RTP_HEADER + payload_len) as u16;
    let mut h = [0u8; HEADERS];
    h[0] = 0x45; // version 4, 5 words
    h[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
    h[6] = 0x40; // don't fragment
    h[8] = 64; // TTL
    h[9] = libc::IPPROTO_UDP as u8;
    h[12..16].copy_from_slice(&source.octets());
    h[16..20].copy_from_slice(&to.ip().octets());
    h[20..22].copy_from_slice(&from_port.to_be_bytes());
    h[22..24].copy_from_slice(&to.port().to_be_bytes());
    h[24..26].copy_from_slice(&udp_len.to_be_bytes());
    h[28..].copy_from_slice(rtp);
    if !source.is_unspecified() {
        let sum = udp_checksum(source, *to.ip(), &h[20..], payload_sum);
        h[26..28].copy_from_slice(&sum.to_be_bytes());
    }
    h
}

/// Sum of `data` as big-endian 32-bit words, the last one padded with
/// zeros (RFC 1071: the one's complement sum folds from any word size, as
/// long as 16-bit words stay aligned; `data` starts at an even offset).
fn sum_words(data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    let mut sum: u64 = words
        .by_ref()
        .map(|w| u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]])))
        .sum();
    let mut tail = [0u8; 4];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    sum += u64::from(u32::from_be_bytes(tail));
    sum
}

/// UDP checksum over the IPv4 pseudo-header, the UDP and RTP headers
/// (`udp`, whose checksum field is still zero, and whose length is a
/// multiple of 4) and a payload of known sum, folded once at the end.
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8], payload_sum: u64) -> u16 {
    let len = u16::from_be_bytes([udp[4], udp[5]]);
    let mut sum = u64::from(u32::from(src)) + u64::from(u32::from(dst));
    sum += u64::from(libc::IPPROTO_UDP as u8) + u64::from(len);
    sum += sum_words(udp) + payload_sum;
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
    use media::engine::ClipRef;
    use media::Codec;
    use std::net::UdpSocket;
    use std::time::Duration;

    /// RFC 1071 verification: the 16-bit one's complement sum of the
    /// pseudo-header and the whole datagram, checksum included, is 0xffff.
    fn verifies(src: Ipv4Addr, dst: Ipv4Addr, udp_and_rtp: &[u8], payload: &[u8]) -> bool {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 17]);
        bytes.extend_from_slice(&udp_and_rtp[4..6]);
        bytes.extend_from_slice(udp_and_rtp);
        bytes.extend_from_slice(payload);
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut sum: u32 = bytes
            .chunks_exact(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum == 0xffff
    }

    #[test]
    fn checksum_verifies_for_any_payload_length() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let rtp = [0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        for len in [0, 1, 2, 3, 5, 160, 161, 163] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let to = SocketAddrV4::new(dst, 4000);
            let h = headers(src, 20000, to, &rtp, payload.len(), sum_words(&payload));
            assert!(verifies(src, dst, &h[20..], &payload), "length {len}");
            assert_eq!(&h[20..22], &20000u16.to_be_bytes());
            assert_eq!(&h[28..], &rtp);
            assert_eq!(u16::from_be_bytes([h[2], h[3]]) as usize, 40 + len);
        }
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
        let frame = |index| Frame {
            clip: ClipRef::Music,
            codec: Codec::Pcmu,
            index,
        };
        let packet = |from, from_port, index| Generated {
            from,
            from_port,
            to,
            header: [0x80, 0, 0, index as u8, 0, 0, 0, 0, 0, 0, 0, 9],
            frame: frame(index),
        };
        let list = [
            packet(0, 41000, 1),
            packet(1, 41002, 2),
            packet(2, 41004, 1),
        ];
        let bytes = |f: Frame| -> &'static [u8] {
            if f.index == 1 {
                b"first"
            } else {
                b"second!"
            }
        };
        assert_eq!(raw.send(&list, bytes), 0);
        let mut buf = [0u8; 64];
        for (port, index, payload) in [
            (41000, 1, &b"first"[..]),
            (41002, 2, b"second!"),
            (41004, 1, b"first"),
        ] {
            let (n, src) = rx.recv_from(&mut buf).unwrap();
            assert_eq!(src.port(), port);
            assert_eq!(buf[3], index as u8, "the packet's own RTP header");
            assert_eq!(&buf[12..n], payload);
        }
    }
}
