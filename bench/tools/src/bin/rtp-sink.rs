//! The receiving phones of scenario 2: one UDP socket per port, kernel
//! receive timestamps (SO_TIMESTAMPNS), and per-stream figures over a
//! measurement window: packets, losses (RTP sequence gaps), silences, and
//! the spacing between consecutive packets of a stream.
//!
//! Usage: rtp-sink PORTS EXPECT WAIT_S WARMUP_S MEASURE_S [PID]
//!
//! Waits up to WAIT_S for packets on EXPECT ports (or until no new port has
//! been heard for 3 s), lets WARMUP_S pass, then
//! measures MEASURE_S and prints one line. With PID, also reports the CPU
//! seconds that process used in the window (`/proc/PID/stat`).
//!
//! The sink never blocks in `epoll_wait`: it polls without waiting and sleeps
//! 1 ms when nothing is ready. On loopback the sender's system call delivers
//! the packet, so a receiver asleep in `epoll_wait` would make the sender pay
//! for waking it (an inter-processor interrupt per packet) — a cost a switch
//! sending to phones on other machines never pays. Spacing is unaffected:
//! the kernel timestamps packets as they arrive.

use bench_tools::{cpu_seconds, parse_ports, proc_cpu, raise_nofile, rtp_seq_ssrc, Histogram};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// A stream is dropped when it falls silent this long within the window.
const SILENCE_US: u64 = 1_000_000;

#[derive(Default, Clone, Copy)]
struct Stream {
    last_ns: u64,
    last_seq: Option<u16>,
    ssrc: Option<u32>,
    ssrc_changes: u64,
    packets: u64,
    lost: u64,
    longest_gap_us: u64,
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        eprintln!("usage: rtp-sink PORTS EXPECT WAIT_S WARMUP_S MEASURE_S [PID]");
        std::process::exit(2);
    }
    let ports = parse_ports(&a[1]).unwrap_or_else(|e| fail(&e));
    let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| fail("bad number"));
    let (expect, wait, warmup, measure) = (num(&a[2]), num(&a[3]), num(&a[4]), num(&a[5]));
    let pid = a.get(6).cloned();
    raise_nofile();
    let sockets: Vec<std::net::UdpSocket> = ports
        .clone()
        .map(|p| {
            let s = std::net::UdpSocket::bind(("127.0.0.1", p))
                .unwrap_or_else(|e| fail(&format!("bind {p}: {e}")));
            s.set_nonblocking(true).expect("nonblocking");
            let on: libc::c_int = 1;
            // SAFETY: setsockopt with a c_int option value.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_TIMESTAMPNS,
                    &on as *const _ as *const libc::c_void,
                    4,
                )
            };
            s
        })
        .collect();
    // SAFETY: epoll_create1 has no pointer arguments.
    let ep = unsafe { libc::epoll_create1(0) };
    for (i, s) in sockets.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: registering a live socket with a valid event struct.
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
    }
    let mut streams = vec![Stream::default(); sockets.len()];
    let mut seen = vec![false; sockets.len()];
    let mut seen_count = 0u64;
    let mut spacing = Histogram::default();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = [0u8; 2048];
    let mut cmsg = [0u64; 16];
    let began = Instant::now();
    let mut last_new = began;
    let mut phase = Phase::Waiting;
    let (mut t_cpu, mut t_pid_cpu) = (0.0, 0.0);
    loop {
        let now = Instant::now();
        match phase {
            Phase::Waiting
                if seen_count >= expect
                    || (seen_count > 0 && now - last_new > Duration::from_secs(3))
                    || now - began > Duration::from_secs(wait) =>
            {
                phase = Phase::Warmup(now + Duration::from_secs(warmup));
            }
            Phase::Warmup(until) if now >= until => {
                streams.iter_mut().for_each(|s| *s = Stream::default());
                t_cpu = cpu_seconds();
                t_pid_cpu = pid.as_deref().map_or(0.0, proc_cpu);
                phase = Phase::Measuring(now, now + Duration::from_secs(measure));
            }
            Phase::Measuring(from, until) if now >= until => {
                report(
                    &streams,
                    &spacing,
                    from.elapsed(),
                    expect,
                    t_cpu,
                    pid.as_deref().map(|p| proc_cpu(p) - t_pid_cpu),
                );
                return;
            }
            _ => {}
        }
        // SAFETY: events has room for its length of entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 0) };
        if n <= 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let measuring = matches!(phase, Phase::Measuring(..));
        for ev in events.iter().take(n.max(0) as usize) {
            let i = ev.u64 as usize;
            let Some((len, ns)) = recv_stamped(sockets[i].as_raw_fd(), &mut buf, &mut cmsg) else {
                continue;
            };
            if !seen[i] {
                seen[i] = true;
                seen_count += 1;
                last_new = Instant::now();
            }
            if measuring {
                handle_packet(&mut streams[i], &mut spacing, &buf[..len], ns);
            }
        }
    }
}

enum Phase {
    Waiting,
    Warmup(Instant),
    Measuring(Instant, Instant),
}

fn handle_packet(s: &mut Stream, spacing: &mut Histogram, pkt: &[u8], ns: u64) {
    let Some((seq, ssrc)) = rtp_seq_ssrc(pkt) else {
        return;
    };
    if s.ssrc.is_some_and(|x| x != ssrc) {
        // Another sender on this port: a new stream, not a loss.
        s.ssrc_changes += 1;
        s.last_seq = None;
    }
    s.ssrc = Some(ssrc);
    if s.packets > 0 {
        let gap = ns.saturating_sub(s.last_ns) / 1000;
        spacing.record(gap);
        s.longest_gap_us = s.longest_gap_us.max(gap);
    }
    if let Some(prev) = s.last_seq {
        let d = seq.wrapping_sub(prev);
        if (2..0x8000).contains(&d) {
            s.lost += u64::from(d - 1);
        }
    }
    s.last_seq = Some(seq);
    s.last_ns = ns;
    s.packets += 1;
}

/// Receives one datagram with its kernel timestamp (ns since the epoch).
fn recv_stamped(fd: i32, buf: &mut [u8], cmsg: &mut [u64; 16]) -> Option<(usize, u64)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; its pointers refer to live locals.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(cmsg);
    // SAFETY: fd is a live socket and msg is valid for the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return None;
    }
    let mut ns = 0;
    // SAFETY: walking the control buffer the kernel filled, with libc's macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((n as usize, ns))
}

fn report(
    streams: &[Stream],
    spacing: &Histogram,
    window: Duration,
    expect: u64,
    cpu0: f64,
    pid_cpu: Option<f64>,
) {
    let secs = window.as_secs_f64();
    let active = streams.iter().filter(|s| s.packets > 0).count() as u64;
    let dropped = streams
        .iter()
        .take(expect as usize)
        .filter(|s| s.packets == 0 || s.longest_gap_us >= SILENCE_US)
        .count();
    let packets: u64 = streams.iter().map(|s| s.packets).sum();
    let lost: u64 = streams.iter().map(|s| s.lost).sum();
    let mixed = streams.iter().filter(|s| s.ssrc_changes > 0).count();
    let mut line = format!(
        "expected={expect} active={active} dropped={dropped} window_s={secs:.1} packets={packets} lost={lost} mixed={mixed} pps={:.0} spacing_p50_us={} spacing_p99_us={} spacing_p999_us={} spacing_max_us={} spacing_p1_us={} sink_cpu_s={:.3}",
        packets as f64 / secs,
        spacing.quantile_us(0.5),
        spacing.quantile_us(0.99),
        spacing.quantile_us(0.999),
        spacing.max_us(),
        spacing.low_quantile_us(0.01),
        cpu_seconds() - cpu0,
    );
    if let Some(c) = pid_cpu {
        line.push_str(&format!(
            " watched_cpu_s={c:.3} watched_cores={:.3}",
            c / secs
        ));
    }
    println!("{line}");
}

fn fail(msg: &str) -> ! {
    eprintln!("rtp-sink: {msg}");
    std::process::exit(2);
}
