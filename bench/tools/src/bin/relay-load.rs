//! Bridged calls: N established G.711 calls whose two parties both talk,
//! 50 packets/s each way, and what the relay between them costs and adds.
//!
//! Usage:
//!   relay-load calls SWITCH N LAW SECONDS PID PAIRS_OUT
//!   relay-load media PAIRS SECONDS PID
//!
//! `calls` sets up N calls through the switch at SWITCH: extension 1000
//! (password secret-1000) on 127.0.0.1:5070 calls `1555100NNNN`, which the
//! switch routes to the trunk "carrier", played here on 127.0.0.1:5090.
//! The caller offers PCMU; the carrier answers PCMU (LAW `pcmu`) or PCMA
//! (LAW `pcma`: the switch transcodes every packet). Both parties' media
//! is one socket here, 127.0.0.1:7400. Then the media runs (below), the
//! switch's port pairs go to PAIRS_OUT (`A B` per line: the caller's and
//! the carrier's switch port) and every call is hung up.
//!
//! `media` runs the same media against whatever relays the port pairs of
//! the file PAIRS (the floor relay, `relay-floor`), as PCMU.
//!
//! The media: every party sends a 172-byte RTP packet every 20 ms, the 2N
//! streams spread over the 20 ms in 1 ms slots, sent in `sendmmsg` batches
//! of 32. Each payload carries its send time (the realtime clock just
//! before its batch) in 16 bytes that survive PCMU↔PCMA transcoding. The
//! receiving socket takes kernel timestamps (`SO_TIMESTAMPNS`), so the
//! delay is send time to kernel arrival: this process's own scheduling
//! adds nothing to it. After a 2 s warm-up, SECONDS are measured: packets
//! sent, received and lost, the delay's p50/p99/max, and the CPU process
//! PID (the relay) used, per packet and per 1,000 streams.

use bench_tools::{
    big_receive_buffer, proc_cpu, proxy_authorization, raise_nofile, send_batch, sockaddr,
    write_rtp_header, Histogram, FRAME_BYTES, RTP_HEADER,
};
use bytes::Bytes;
use sip::{Message, Name, Request, Response};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DOMAIN: &str = "bench.parkline.test";
const CALLER: &str = "127.0.0.1:5070";
const CARRIER: &str = "127.0.0.1:5090";
const MEDIA_PORT: u16 = 7400;
const PACKET: usize = RTP_HEADER + FRAME_BYTES;
const WARM_UP: Duration = Duration::from_secs(2);
const SLOTS: usize = 20;
const BATCH: usize = 32;
const RECV_BATCH: usize = 256;
/// Calls set up at once (each INVITE waits for its 200 before another goes).
const SETUP_WINDOW: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    raise_nofile();
    match args.get(1).map(String::as_str) {
        Some("calls") if args.len() == 8 => {
            let n: usize = args[3].parse().unwrap_or_else(|_| fail("bad N"));
            let pcma = match args[4].as_str() {
                "pcmu" => false,
                "pcma" => true,
                _ => fail("LAW is pcmu or pcma"),
            };
            let seconds = args[5].parse().unwrap_or_else(|_| fail("bad SECONDS"));
            let mut calls = Calls::new(&args[2]);
            let started = Instant::now();
            calls.set_up(n, pcma);
            eprintln!(
                "relay-load: {n} calls up in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            let pairs: Vec<(u16, u16)> = calls.up.iter().map(|c| (c.a_port, c.b_port)).collect();
            let text: String = pairs.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
            std::fs::write(&args[7], text).unwrap_or_else(|e| fail(&e.to_string()));
            let report = run_media(&pairs, pcma, seconds, &args[6], Some(&mut calls));
            println!("{report}");
            calls.hang_up();
        }
        Some("media") if args.len() == 5 => {
            let text = std::fs::read_to_string(&args[2]).unwrap_or_else(|e| fail(&e.to_string()));
            let pairs: Vec<(u16, u16)> = text
                .lines()
                .filter_map(|l| {
                    let (a, b) = l.split_once(' ')?;
                    Some((a.parse().ok()?, b.parse().ok()?))
                })
                .collect();
            let seconds = args[3].parse().unwrap_or_else(|_| fail("bad SECONDS"));
            println!("{}", run_media(&pairs, false, seconds, &args[4], None));
        }
        _ => {
            eprintln!("usage: relay-load calls SWITCH N pcmu|pcma SECONDS PID PAIRS_OUT\n       relay-load media PAIRS SECONDS PID");
            std::process::exit(2);
        }
    }
}

/// One established call: its dialog (for the BYE) and the switch's ports.
struct Call {
    id: usize,
    to_tag: String,
    contact: String,
    a_port: u16,
    b_port: u16,
}

/// The SIP side: the caller (extension 1000) and the carrier.
struct Calls {
    switch: SocketAddr,
    caller: UdpSocket,
    carrier: UdpSocket,
    /// The carrier's switch port by call, once its INVITE came.
    b_ports: Vec<Option<u16>>,
    up: Vec<Call>,
    buf: Vec<u8>,
}

impl Calls {
    fn new(switch: &str) -> Calls {
        let bind = |a: &str| {
            let s = UdpSocket::bind(a).unwrap_or_else(|e| fail(&format!("bind {a}: {e}")));
            big_receive_buffer(&s, 4 << 20);
            s.set_nonblocking(true).ok();
            s
        };
        Calls {
            switch: switch.parse().unwrap_or_else(|_| fail("bad SWITCH")),
            caller: bind(CALLER),
            carrier: bind(CARRIER),
            b_ports: Vec::new(),
            up: Vec::new(),
            buf: vec![0; 65536],
        }
    }

    fn set_up(&mut self, n: usize, pcma: bool) {
        self.b_ports = vec![None; n];
        let mut next = 0;
        let deadline = Instant::now() + Duration::from_secs(30 + n as u64 / 50);
        while self.up.len() < n {
            if Instant::now() > deadline {
                fail(&format!("only {} of {n} calls were set up", self.up.len()));
            }
            while next < n && next - self.up.len() < SETUP_WINDOW {
                let invite = invite(next, 1, None);
                self.caller.send_to(invite.as_bytes(), self.switch).ok();
                next += 1;
            }
            if !self.serve(pcma) {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    }

    /// Handles whatever arrived on both sockets; whether anything did.
    fn serve(&mut self, pcma: bool) -> bool {
        let mut any = false;
        for carrier in [false, true, false, true] {
            let socket = if carrier { &self.carrier } else { &self.caller };
            let Ok(n) = socket.recv(&mut self.buf) else {
                continue;
            };
            any = true;
            let data = Bytes::copy_from_slice(&self.buf[..n]);
            match sip::parser::parse_datagram(&data, &sip::parser::Limits::default()) {
                Ok(Some(Message::Request(r))) if carrier => self.carrier_request(&r, pcma),
                Ok(Some(Message::Request(r))) => self.answer_ok(&r, false),
                Ok(Some(Message::Response(r))) if !carrier => self.caller_response(&r),
                _ => {}
            }
        }
        any
    }

    fn carrier_request(&mut self, r: &Request, pcma: bool) {
        if r.method.as_str() != "INVITE" {
            return self.answer_ok(r, true);
        }
        let number = r.uri.user_decoded().unwrap_or_default();
        let Some(id) = number
            .strip_prefix("1555100")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return;
        };
        let Some(port) = media::sdp::parse_audio(&r.body).ok().map(|a| a.port) else {
            fail("the switch's INVITE has no audio");
        };
        if let Some(slot) = self.b_ports.get_mut(id) {
            *slot = Some(port);
        }
        let (pt, name) = if pcma { (8, "PCMA") } else { (0, "PCMU") };
        let mut resp = Response::to_request(r, 200, "OK");
        resp.set_to_tag(&format!("carrier{id}"));
        resp.headers
            .push(Name::Contact, format!("<sip:carrier@{CARRIER}>"));
        resp.headers.push(Name::ContentType, "application/sdp");
        resp.body = Bytes::from(format!("v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {MEDIA_PORT} RTP/AVP {pt}\r\na=rtpmap:{pt} {name}/8000\r\n"));
        self.carrier.send_to(&resp.encode(), self.switch).ok();
    }

    fn answer_ok(&self, r: &Request, carrier: bool) {
        if r.method.as_str() == "ACK" {
            return;
        }
        let socket = if carrier { &self.carrier } else { &self.caller };
        let resp = Response::to_request(r, 200, "OK");
        socket.send_to(&resp.encode(), self.switch).ok();
    }

    fn caller_response(&mut self, r: &Response) {
        let h = &r.headers;
        let call_id = h.get_str(Name::CallId).unwrap_or_default();
        let Some(id) = call_id
            .strip_prefix("relay-")
            .and_then(|s| s.split(['-', '@']).next()?.parse::<usize>().ok())
        else {
            return;
        };
        let cseq = h.get_str(Name::CSeq).unwrap_or_default();
        match (r.status, cseq.ends_with("INVITE")) {
            (407, true) => {
                let to = h.get_str(Name::To).unwrap_or_default();
                let via = h.get_str(Name::Via).unwrap_or_default();
                let run = run_tag();
                let ack = format!("ACK sip:1555100{id:04}@{DOMAIN} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:1000@{DOMAIN}>;tag=c{run}-{id}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
                self.caller.send_to(ack.as_bytes(), self.switch).ok();
                let uri = format!("sip:1555100{id:04}@{DOMAIN}");
                let auth = proxy_authorization(r, "1000", "INVITE", &uri)
                    .unwrap_or_else(|| fail("a 407 without a usable challenge"));
                self.caller
                    .send_to(invite(id, 2, Some(&auth)).as_bytes(), self.switch)
                    .ok();
            }
            (200, true) => {
                let to = h.get_str(Name::To).unwrap_or_default();
                let to_tag = to.split(";tag=").nth(1).unwrap_or("").to_string();
                let contact = h
                    .get_str(Name::Contact)
                    .and_then(|c| Some(c[c.find('<')? + 1..c.find('>')?].to_string()))
                    .unwrap_or_else(|| fail("a 200 without a Contact"));
                let call = Call {
                    id,
                    to_tag,
                    contact,
                    a_port: media::sdp::parse_audio(&r.body)
                        .map(|a| a.port)
                        .unwrap_or_else(|_| fail("a 200 without audio")),
                    b_port: self.b_ports.get(id).copied().flatten().unwrap_or_else(|| {
                        fail("the caller was answered before the carrier's INVITE came")
                    }),
                };
                self.caller
                    .send_to(in_dialog(&call, "ACK", 2).as_bytes(), self.switch)
                    .ok();
                if !self.up.iter().any(|c| c.id == id) {
                    self.up.push(call);
                }
            }
            (200..=699, true) if r.status != 200 => {
                fail(&format!("call {id} failed: {}", r.status))
            }
            _ => {}
        }
    }

    /// Hangs every call up (the caller's BYE) and waits a little for the 200s.
    fn hang_up(&mut self) {
        for call in &self.up {
            self.caller
                .send_to(in_dialog(call, "BYE", 3).as_bytes(), self.switch)
                .ok();
        }
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if !self.serve(false) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Tells this process's dialogs and transactions from an earlier run's,
/// whose records the switch still keeps.
fn run_tag() -> u32 {
    std::process::id()
}

fn invite(id: usize, seq: u32, auth: Option<&str>) -> String {
    let run = run_tag();
    let body = format!("v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {MEDIA_PORT} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
    let auth = auth
        .map(|a| format!("Proxy-Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "INVITE sip:1555100{id:04}@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKrl{run}-{id}x{seq}\r\nFrom: <sip:1000@{DOMAIN}>;tag=c{run}-{id}\r\nTo: <sip:1555100{id:04}@{DOMAIN}>\r\nCall-ID: relay-{id}-{run}@bench\r\nCSeq: {seq} INVITE\r\nContact: <sip:1000@{CALLER}>\r\nMax-Forwards: 70\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn in_dialog(call: &Call, method: &str, seq: u32) -> String {
    let (id, run) = (call.id, run_tag());
    format!(
        "{method} {} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKrl{run}-{id}{method}{seq}\r\nFrom: <sip:1000@{DOMAIN}>;tag=c{run}-{id}\r\nTo: <sip:1555100{id:04}@{DOMAIN}>;tag={}\r\nCall-ID: relay-{id}-{run}@bench\r\nCSeq: {seq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        call.contact, call.to_tag
    )
}

/// 16 µ-law codes, one per nibble, whose A-law transcoding comes back to
/// the same µ-law code, and those A-law codes: a send time written with
/// them survives the switch's PCMU↔PCMA transcoding either way.
struct Nibbles {
    ulaw: [u8; 16],
    alaw: [u8; 16],
}

impl Nibbles {
    fn new() -> Nibbles {
        let t = media::g711::Tables::new();
        let mut n = Nibbles {
            ulaw: [0; 16],
            alaw: [0; 16],
        };
        let mut k = 0;
        for u in 0..=255u8 {
            let a = t.ulaw_to_alaw[u as usize];
            if k < 16 && t.alaw_to_ulaw[a as usize] == u && !n.alaw[..k].contains(&a) {
                n.ulaw[k] = u;
                n.alaw[k] = a;
                k += 1;
            }
        }
        assert_eq!(k, 16, "16 codes that survive transcoding");
        n
    }

    fn write(&self, payload: &mut [u8], ns: u64, alaw: bool) {
        let codes = if alaw { &self.alaw } else { &self.ulaw };
        for (i, b) in payload[..16].iter_mut().enumerate() {
            *b = codes[((ns >> (60 - 4 * i)) & 0xf) as usize];
        }
    }

    fn read(&self, payload: &[u8], alaw: bool) -> Option<u64> {
        let codes = if alaw { &self.alaw } else { &self.ulaw };
        payload.get(..16)?.iter().try_fold(0u64, |ns, b| {
            let k = codes.iter().position(|c| c == b)?;
            Some(ns << 4 | k as u64)
        })
    }
}

fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One direction of a call: sent into `into`, expected back out of `out`.
struct Stream {
    into: u16,
    /// Whether this side of the switch speaks A-law.
    alaw_in: bool,
    alaw_out: bool,
    sent: u64,
    received: u64,
}

fn run_media(
    pairs: &[(u16, u16)],
    pcma: bool,
    seconds: u64,
    pid: &str,
    mut calls: Option<&mut Calls>,
) -> String {
    let socket = UdpSocket::bind(("127.0.0.1", MEDIA_PORT))
        .unwrap_or_else(|e| fail(&format!("bind media: {e}")));
    big_receive_buffer(&socket, 64 << 20);
    socket.set_nonblocking(true).ok();
    let fd = socket.as_raw_fd();
    let on: i32 = 1;
    // SAFETY: fd is an open socket; `on` is an i32 of the given size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const i32 as *const libc::c_void,
            4,
        );
    }
    let nibbles = Nibbles::new();
    let mut streams = Vec::with_capacity(pairs.len() * 2);
    // By the switch port a packet comes out of: its stream.
    let mut by_out = vec![usize::MAX; 65536];
    for &(a, b) in pairs {
        by_out[b as usize] = streams.len();
        streams.push(Stream {
            into: a,
            alaw_in: false,
            alaw_out: pcma,
            sent: 0,
            received: 0,
        });
        by_out[a as usize] = streams.len();
        streams.push(Stream {
            into: b,
            alaw_in: pcma,
            alaw_out: false,
            sent: 0,
            received: 0,
        });
    }
    let mut packets = vec![[0u8; PACKET]; streams.len()];
    let dests: Vec<libc::sockaddr_in> = streams
        .iter()
        .map(|s| sockaddr(SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, s.into)))
        .collect();
    let mut rx = Receiver::new();
    let mut delay = Histogram::default();
    let start = Instant::now();
    let window = (
        start + WARM_UP,
        start + WARM_UP + Duration::from_secs(seconds),
    );
    let window_ns = (
        realtime_ns() + WARM_UP.as_nanos() as u64,
        realtime_ns() + (WARM_UP + Duration::from_secs(seconds)).as_nanos() as u64,
    );
    let mut cpu0 = None;
    let cpu1;
    let mut slot: u64 = 0;
    loop {
        let due = start + Duration::from_millis(slot);
        loop {
            rx.drain(fd, |port, ns, payload| {
                let Some(s) = by_out.get(port as usize).and_then(|&i| streams.get_mut(i)) else {
                    return;
                };
                let Some(sent) = nibbles.read(payload, s.alaw_out) else {
                    return;
                };
                if (window_ns.0..window_ns.1).contains(&sent) {
                    s.received += 1;
                    delay.record(ns.saturating_sub(sent) / 1000);
                }
            });
            if let Some(c) = calls.as_deref_mut() {
                c.serve(pcma); // probes and the like, answered
            }
            let now = Instant::now();
            if now >= due {
                break;
            }
            let ms = (due - now).as_millis().max(1) as i32;
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, ms) };
        }
        let now = Instant::now();
        if cpu0.is_none() && now >= window.0 {
            cpu0 = Some(proc_cpu(pid));
        }
        if now >= window.1 {
            cpu1 = proc_cpu(pid);
            break;
        }
        let tick = (slot / SLOTS as u64) as u32;
        let phase = (slot % SLOTS as u64) as usize;
        let due_streams: Vec<usize> = (phase..streams.len()).step_by(SLOTS).collect();
        for chunk in due_streams.chunks(BATCH) {
            let ns = realtime_ns();
            let mut msgs: Vec<libc::mmsghdr> = Vec::with_capacity(BATCH);
            let mut iovs: Vec<libc::iovec> = Vec::with_capacity(BATCH);
            for &i in chunk {
                let s = &mut streams[i];
                let p = &mut packets[i];
                write_rtp_header(
                    p,
                    if s.alaw_in { 8 } else { 0 },
                    tick as u16,
                    tick.wrapping_mul(160),
                    0x7000_0000 + i as u32,
                );
                nibbles.write(&mut p[RTP_HEADER..], ns, s.alaw_in);
                if (window_ns.0..window_ns.1).contains(&ns) {
                    s.sent += 1;
                }
                iovs.push(libc::iovec {
                    iov_base: p.as_mut_ptr() as *mut libc::c_void,
                    iov_len: PACKET,
                });
            }
            for (k, &i) in chunk.iter().enumerate() {
                // SAFETY: mmsghdr is plain data; zero is a valid empty header.
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_name = &dests[i] as *const _ as *mut libc::c_void;
                m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                m.msg_hdr.msg_iov = &mut iovs[k];
                m.msg_hdr.msg_iovlen = 1;
                msgs.push(m);
            }
            send_batch(fd, &mut msgs);
        }
        slot += 1;
    }
    // What is still on its way.
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        rx.drain(fd, |port, ns, payload| {
            if let Some(s) = by_out.get(port as usize).and_then(|&i| streams.get_mut(i)) {
                if let Some(sent) = nibbles
                    .read(payload, s.alaw_out)
                    .filter(|t| (window_ns.0..window_ns.1).contains(t))
                {
                    s.received += 1;
                    delay.record(ns.saturating_sub(sent) / 1000);
                }
            }
        });
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent: u64 = streams.iter().map(|s| s.sent).sum();
    let received: u64 = streams.iter().map(|s| s.received).sum();
    let silent = streams
        .iter()
        .filter(|s| s.sent > 0 && s.received == 0)
        .count();
    let cpu = cpu1 - cpu0.unwrap_or(cpu1);
    format!(
        "streams={} law={} seconds={seconds} sent={sent} received={received} lost={} silent_streams={silent} delay_p50_us={} delay_p99_us={} delay_max_us={} relay_cpu_s={cpu:.3} relay_cpu_us_per_packet={:.3} relay_cores_per_1000_streams={:.4}",
        streams.len(),
        if pcma { "pcmu-pcma" } else { "pcmu" },
        sent.saturating_sub(received),
        delay.quantile_us(0.5),
        delay.quantile_us(0.99),
        delay.max_us(),
        cpu * 1e6 / received.max(1) as f64,
        cpu / seconds as f64 / streams.len().max(1) as f64 * 1000.0
    )
}

/// `recvmmsg` with each datagram's source port and kernel timestamp.
struct Receiver {
    bufs: Vec<[u8; 2048]>,
    names: Vec<libc::sockaddr_in>,
    cmsgs: Vec<[u64; 8]>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl Receiver {
    fn new() -> Box<Receiver> {
        // SAFETY: sockaddr_in is plain data.
        let zero_name: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut r = Box::new(Receiver {
            bufs: vec![[0; 2048]; RECV_BATCH],
            names: vec![zero_name; RECV_BATCH],
            cmsgs: vec![[0; 8]; RECV_BATCH],
            iovs: Vec::with_capacity(RECV_BATCH),
            msgs: Vec::with_capacity(RECV_BATCH),
        });
        for i in 0..RECV_BATCH {
            let iov = libc::iovec {
                iov_base: r.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: 2048,
            };
            r.iovs.push(iov);
        }
        for i in 0..RECV_BATCH {
            // SAFETY: mmsghdr is plain data; zero is a valid empty header.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = &mut r.names[i] as *mut _ as *mut libc::c_void;
            m.msg_hdr.msg_iov = &mut r.iovs[i];
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_control = r.cmsgs[i].as_mut_ptr() as *mut libc::c_void;
            r.msgs.push(m);
        }
        r
    }

    /// Reads until the socket is empty; `f(source port, kernel ns, payload)`.
    fn drain(&mut self, fd: i32, mut f: impl FnMut(u16, u64, &[u8])) {
        loop {
            for i in 0..RECV_BATCH {
                self.msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                self.msgs[i].msg_hdr.msg_controllen = std::mem::size_of::<[u64; 8]>();
            }
            // SAFETY: every header points at this struct's live buffers.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.msgs.as_mut_ptr(),
                    RECV_BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n <= 0 {
                return;
            }
            for i in 0..n as usize {
                let len = self.msgs[i].msg_len as usize;
                let port = u16::from_be(self.names[i].sin_port);
                let ns = kernel_ns(&self.msgs[i].msg_hdr);
                if len >= RTP_HEADER + 16 {
                    f(port, ns, &self.bufs[i][RTP_HEADER..len]);
                }
            }
            if (n as usize) < RECV_BATCH {
                return;
            }
        }
    }
}

/// The `SO_TIMESTAMPNS` of a received message, ns since the epoch.
fn kernel_ns(msg: &libc::msghdr) -> u64 {
    let mut ns = 0;
    // SAFETY: walking the control buffer the kernel filled, with libc's macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    ns
}

fn fail(msg: &str) -> ! {
    eprintln!("relay-load: {msg}");
    std::process::exit(2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_time_survives_transcoding_both_ways() {
        let n = Nibbles::new();
        let t = media::g711::Tables::new();
        let ns = 1_764_633_600_123_456_789u64;
        let mut p = [0u8; 16];
        n.write(&mut p, ns, false);
        assert_eq!(n.read(&p, false), Some(ns));
        t.transcode(&mut p, &t.ulaw_to_alaw);
        assert_eq!(n.read(&p, true), Some(ns));
        n.write(&mut p, ns, true);
        t.transcode(&mut p, &t.alaw_to_ulaw);
        assert_eq!(n.read(&p, false), Some(ns));
    }
}
