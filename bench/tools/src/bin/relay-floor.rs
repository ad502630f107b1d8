//! The kernel's floor for bridged calls: the least a relay can do. It binds
//! the port pairs a switch used (file PAIRS, `A B` per line, as
//! `relay-load calls` writes it), watches them with edge-triggered epoll,
//! and forwards whatever arrives on one port of a pair out of the other, to
//! DEST: `recvmmsg` until a short batch (which, edge-triggered, means the
//! socket is empty), then one `sendmmsg` of the batch. No parsing, no
//! state, no timers: what is left is the kernel's cost of forwarding.
//!
//! Usage: relay-floor PAIRS DEST SECONDS

use bench_tools::{big_receive_buffer, raise_nofile, sockaddr};
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const BATCH: usize = 32;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: relay-floor PAIRS DEST SECONDS");
        std::process::exit(2);
    }
    raise_nofile();
    let text = std::fs::read_to_string(&args[1]).unwrap_or_else(|e| fail(&e.to_string()));
    let dest: SocketAddrV4 = args[2].parse().unwrap_or_else(|_| fail("bad DEST"));
    let seconds: u64 = args[3].parse().unwrap_or_else(|_| fail("bad SECONDS"));
    let mut sockets = Vec::new();
    for line in text.lines() {
        for port in line.split_whitespace() {
            let port: u16 = port.parse().unwrap_or_else(|_| fail("bad PAIRS line"));
            let s = bind(port);
            big_receive_buffer(&s, 1 << 20);
            s.set_nonblocking(true).ok();
            sockets.push(s);
        }
    }
    // SAFETY: plain epoll calls on fds this process owns.
    let ep = unsafe { libc::epoll_create1(0) };
    for (i, s) in sockets.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: i as u64,
        };
        // SAFETY: as above.
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
    }
    let to = sockaddr(dest);
    let mut bufs = vec![[0u8; 2048]; BATCH];
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: 2048,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain data; zero is a valid empty header.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut forwarded: u64 = 0;
    while Instant::now() < until {
        // SAFETY: events has room for its length.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 100) };
        for ev in events.iter().take(n.max(0) as usize) {
            let i = ev.u64 as usize;
            let (from, out) = (sockets[i].as_raw_fd(), sockets[i ^ 1].as_raw_fd());
            loop {
                for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
                    iov.iov_len = 2048;
                    m.msg_hdr.msg_name = std::ptr::null_mut();
                    m.msg_hdr.msg_namelen = 0;
                }
                // SAFETY: every header points at live buffers.
                let got = unsafe {
                    libc::recvmmsg(
                        from,
                        msgs.as_mut_ptr(),
                        BATCH as u32,
                        libc::MSG_DONTWAIT,
                        std::ptr::null_mut(),
                    )
                };
                if got <= 0 {
                    break;
                }
                let got = got as usize;
                for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()).take(got) {
                    iov.iov_len = m.msg_len as usize;
                    m.msg_hdr.msg_name = &to as *const _ as *mut libc::c_void;
                    m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                }
                // SAFETY: the first `got` headers point at the received data.
                let sent = unsafe { libc::sendmmsg(out, msgs.as_mut_ptr(), got as u32, 0) };
                forwarded += sent.max(0) as u64;
                if got < BATCH {
                    break;
                }
            }
        }
    }
    println!("forwarded={forwarded}");
}

fn bind(port: u16) -> UdpSocket {
    // The switch has just closed these ports: retry briefly.
    for _ in 0..50 {
        if let Ok(s) = UdpSocket::bind(("127.0.0.1", port)) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    fail(&format!("cannot bind port {port}"))
}

fn fail(msg: &str) -> ! {
    eprintln!("relay-floor: {msg}");
    std::process::exit(2);
}
