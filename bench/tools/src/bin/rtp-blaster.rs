//! The kernel's floor for scenario 2: one thread sends a 172-byte RTP packet
//! every 20 ms to each of N loopback ports, in `sendmmsg` batches from one
//! socket, and reports its CPU time per packet.
//!
//! Usage: rtp-blaster PORTS SECONDS [MODE]   (PORTS like 24000-28999)
//!
//! MODE `sendmmsg` (the default) is the floor the issue names. MODE
//! `per-socket` sends each stream from its own socket with `sendto`, as a
//! media relay must (each party sees its own port), and `per-socket-epoll`
//! also registers those sockets with epoll for reading, as a relay does:
//! the costs between the three show what the kernel charges per design.
//! MODE `raw` sends like the switch's batched music: `sendmmsg` on one raw
//! IPv4 socket with the IPv4 and UDP headers (and checksum) written here,
//! each stream from its own source port (needs CAP_NET_RAW).
//!
//! The streams go out in port order, which is the receivers' socket order:
//! on loopback the sender also pays for finding and filling each receiving
//! socket, and memory in order is cheaper. `BLASTER_ORDER=scattered` sends
//! in a scattered order instead, to show how much (about 1.2× at 5,000).

use bench_tools::{
    cpu_seconds, loopback, parse_ports, send_batch, sockaddr, write_rtp_header, FRAME_BYTES,
    RTP_HEADER,
};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const PACKET: usize = RTP_HEADER + FRAME_BYTES;
/// IPv4 and UDP headers, written by the sender in `raw` mode.
const IP_UDP: usize = 28;
const BATCH: usize = 512;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 && args.len() != 4 {
        eprintln!("usage: rtp-blaster PORTS SECONDS [sendmmsg|per-socket|per-socket-epoll|raw]");
        std::process::exit(2);
    }
    let ports = parse_ports(&args[1]).unwrap_or_else(|e| fail(&e));
    let seconds: u64 = args[2].parse().unwrap_or_else(|_| fail("bad SECONDS"));
    let mode = args.get(3).map_or("sendmmsg", String::as_str);
    let raw = mode == "raw";
    let per_socket = match mode {
        "sendmmsg" | "raw" => None,
        "per-socket" => Some(own_sockets(ports.clone().count(), false)),
        "per-socket-epoll" => Some(own_sockets(ports.clone().count(), true)),
        _ => fail("MODE is sendmmsg, per-socket, per-socket-epoll or raw"),
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| fail(&e.to_string()));
    let raw_fd = raw.then(raw_socket);
    let fd = raw_fd.unwrap_or(socket.as_raw_fd());
    let mut dests: Vec<std::net::SocketAddrV4> = ports.map(loopback).collect();
    if std::env::var("BLASTER_ORDER").is_ok_and(|o| o == "scattered") {
        // 7919 is prime, so this visits every port once (unless N is a multiple).
        let n = dests.len();
        dests = (0..n).map(|i| dests[(i * 7919) % n]).collect();
    }
    let n = dests.len();
    let at = if raw { IP_UDP } else { 0 };
    let mut packets = vec![[0u8; IP_UDP + PACKET]; n];
    for (i, p) in packets.iter_mut().enumerate() {
        p[at + RTP_HEADER..].fill(0xff);
        if raw {
            ip_udp_header(p, 40000 + i as u16, dests[i]);
        }
    }
    let mut iovs: Vec<libc::iovec> = packets
        .iter_mut()
        .map(|p| libc::iovec {
            iov_base: p.as_mut_ptr() as *mut libc::c_void,
            iov_len: at + PACKET,
        })
        .collect();
    let dests: Vec<libc::sockaddr_in> = dests.into_iter().map(sockaddr).collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(&dests)
        .map(|(iov, dest)| {
            // SAFETY: mmsghdr is plain data; zero is a valid empty header.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = dest as *const _ as *mut libc::c_void;
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            m.msg_hdr.msg_iov = iov as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut tick: u32 = 0;
    let mut sent: u64 = 0;
    let mut failed: u64 = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        let due = start + Duration::from_millis(20) * tick;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for (i, iov) in iovs.iter().enumerate() {
            // SAFETY: each iovec points at its own PACKET-byte buffer in `packets`.
            let p = unsafe { std::slice::from_raw_parts_mut(iov.iov_base as *mut u8, at + PACKET) };
            write_rtp_header(
                &mut p[at..],
                0,
                tick as u16,
                tick.wrapping_mul(160),
                0x5000_0000 + i as u32,
            );
            if raw {
                p[4..6].copy_from_slice(&(tick as u16 | 1).to_be_bytes()); // see the switch's raw_send
                udp_checksum(p);
            }
        }
        match &per_socket {
            None => {
                for chunk in msgs.chunks_mut(BATCH) {
                    let (ok, bad) = send_batch(fd, chunk);
                    sent += ok;
                    failed += bad;
                }
            }
            Some(own) => {
                for (m, s) in msgs.iter_mut().zip(own) {
                    // SAFETY: a valid msghdr pointing at live buffers.
                    if unsafe { libc::sendmsg(s.as_raw_fd(), &m.msg_hdr, 0) } < 0 {
                        failed += 1;
                    } else {
                        sent += 1;
                    }
                }
            }
        }
        tick += 1;
    }
    let cpu = cpu_seconds() - cpu0;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "mode={mode} streams={n} seconds={secs:.1} sent={sent} failed={failed} cpu_s={cpu:.3} cpu_us_per_packet={:.3} cores_per_1000_streams={:.4}",
        cpu * 1e6 / sent.max(1) as f64,
        cpu / secs / n as f64 * 1000.0
    );
}

/// A raw IPv4 socket whose packets carry their own headers.
fn raw_socket() -> i32 {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        fail(&format!("raw socket: {}", std::io::Error::last_os_error()));
    }
    fd
}

/// Writes the IPv4 and UDP headers of a loopback packet from `from_port`.
fn ip_udp_header(p: &mut [u8], from_port: u16, to: std::net::SocketAddrV4) {
    let total = p.len() as u16;
    p[0] = 0x45;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = libc::IPPROTO_UDP as u8;
    p[12..16].copy_from_slice(&[127, 0, 0, 1]);
    p[16..20].copy_from_slice(&to.ip().octets());
    p[20..22].copy_from_slice(&from_port.to_be_bytes());
    p[22..24].copy_from_slice(&to.port().to_be_bytes());
    p[24..26].copy_from_slice(&(total - 20).to_be_bytes());
}

/// Fills in the UDP checksum (RFC 768) of a packet `ip_udp_header` began.
fn udp_checksum(p: &mut [u8]) {
    p[26..28].fill(0);
    let mut sum: u32 = u32::from(libc::IPPROTO_UDP as u16) + u32::from(p.len() as u16 - 20);
    for w in p[12..20].chunks_exact(2).chain(p[20..].chunks(2)) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    p[26..28].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
}

/// One socket per stream, optionally registered with an epoll for reading.
fn own_sockets(n: usize, epoll: bool) -> Vec<UdpSocket> {
    bench_tools::raise_nofile();
    // SAFETY: epoll_create1 has no pointer arguments.
    let ep = unsafe { libc::epoll_create1(0) };
    (0..n)
        .map(|i| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| fail(&e.to_string()));
            if epoll {
                let mut ev = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: i as u64,
                };
                // SAFETY: registering a live socket with a valid event struct.
                unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
            }
            s
        })
        .collect()
}

fn fail(msg: &str) -> ! {
    eprintln!("rtp-blaster: {msg}");
    std::process::exit(2);
}
