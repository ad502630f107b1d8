//! Scenario 3, park/retrieve churn: parallel cycles, each a real call
//! parked by one extension and retrieved by another, with a check that the
//! retriever is connected to the right party.
//!
//! Usage: park-churn SWITCH RATE SECONDS POSITIONS [PID]
//!
//! Plays every party from one process on loopback:
//! - extension 1000 (password secret-1000) on one of eight lines
//!   (127.0.0.1:5070 to :5077, by cycle: a cluster's edge keeps each
//!   line's calls on one node, so the cycles spread over the nodes) calls
//!   `1555NNNNNN` (cycle N) through the trunk, authenticating its INVITE,
//!   and parks the answered party with REFER to `*70P`, P a free position
//!   (extensions 2000..2000+POSITIONS);
//! - the trunk "carrier" on 127.0.0.1:5090 answers, its media at :7200;
//! - extension 1001 (password secret-1001), on another of the lines, dials `*71P` once
//!   the switch has released the parker (its BYE), media at :7300;
//! - the parked party then sends RTP carrying the cycle number to the
//!   switch; the cycle is *right* when the retriever receives exactly that
//!   number from its own switch port, *wrong* when another cycle's arrives.
//!   The retriever hangs up; the switch's BYE to the parked party ends it.
//!
//! Prints one line: cycles started/completed/right/wrong/failed, cycle time
//! p50/p99 (first INVITE to the right audio heard), and with PID the CPU
//! seconds that process used.

use bench_tools::{proc_cpu, Histogram};
use bytes::Bytes;
use sip::{Message, Name, Request, Response};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const MAGIC: &[u8; 4] = b"PKCH";
const CYCLE_TIMEOUT: Duration = Duration::from_secs(15);
const DOMAIN: &str = "bench.parkline.test";
/// Sockets the extensions' calls come from, 127.0.0.1:5070 upwards.
const LINES: u32 = 8;

/// The line (index into `Churn::ext`) a party of cycle `id` uses: the
/// retriever ('r') another than the parker's, so a retrieval through a
/// cluster's edge may reach another node than the park.
fn line(id: u32, role: char) -> usize {
    let shift = if role == 'r' { LINES / 2 } else { 0 };
    ((id + shift) % LINES) as usize
}

/// The local port of a line.
fn line_port(id: u32, role: char) -> u16 {
    5070 + line(id, role) as u16
}

/// A request sent and not yet answered: resent with backoff.
struct Pending {
    bytes: Vec<u8>,
    /// When to resend.
    at: Instant,
    tries: u32,
    /// The line it went out on.
    line: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Calling,
    Parking,
    Retrieving,
    Verifying,
    HangingUp,
}

struct Cycle {
    started: Instant,
    pos: u16,
    state: State,
    /// Remote tag and Contact of the leg being driven (parker's, then retriever's).
    remote_tag: String,
    contact: String,
    /// Switch port facing the parked party, from its INVITE's SDP.
    /// Where the parked party sends its RTP: the switch's SDP address.
    parked_media: Option<SocketAddr>,
    /// Last request sent, for retransmission.
    pending: Option<Pending>,
    next_probe: Instant,
    retriever_bye_done: bool,
    trunk_bye_done: bool,
}

struct Churn {
    switch: SocketAddr,
    /// The extensions' lines ([`LINES`] sockets).
    ext: Vec<UdpSocket>,
    trunk: UdpSocket,
    parked_rtp: UdpSocket,
    retriever_rtp: UdpSocket,
    cycles: HashMap<u32, Cycle>,
    /// Switch address (IP and port) facing a retriever → cycle.
    by_retriever_source: HashMap<SocketAddr, u32>,
    /// Call-ID of the switch's call to the trunk → cycle.
    trunk_calls: HashMap<String, u32>,
    free_positions: Vec<u16>,
    started: u64,
    completed: u64,
    right: u64,
    wrong: u64,
    failed: u64,
    no_position: u64,
    /// Cycles that timed out, by the step they were in (index: `State as usize`).
    timed_out: [u64; 5],
    /// Cycles refused by a final response >= 300.
    refused: u64,
    times: Histogram,
    buf: Vec<u8>,
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        eprintln!("usage: park-churn SWITCH RATE SECONDS POSITIONS [PID]");
        std::process::exit(2);
    }
    let switch: SocketAddr = a[1].parse().unwrap_or_else(|_| fail("bad SWITCH address"));
    let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| fail("bad number"));
    let (rate, seconds, positions) = (num(&a[2]), num(&a[3]), num(&a[4]) as u16);
    let pid = a.get(5).cloned();
    let bind = |port: u16| {
        let s = UdpSocket::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| fail(&format!("bind {port}: {e}")));
        s.set_nonblocking(true).expect("nonblocking");
        s
    };
    let mut c = Churn {
        switch,
        ext: (0..LINES as u16).map(|k| bind(5070 + k)).collect(),
        trunk: bind(5090),
        parked_rtp: bind(7200),
        retriever_rtp: bind(7300),
        cycles: HashMap::new(),
        by_retriever_source: HashMap::new(),
        trunk_calls: HashMap::new(),
        free_positions: (0..positions).rev().map(|i| 2000 + i).collect(),
        started: 0,
        completed: 0,
        right: 0,
        wrong: 0,
        failed: 0,
        no_position: 0,
        timed_out: [0; 5],
        refused: 0,
        times: Histogram::default(),
        buf: vec![0; 65536],
    };
    let cpu0 = pid.as_deref().map(proc_cpu);
    let t0 = Instant::now();
    let total = rate * seconds;
    let until = t0 + Duration::from_secs(seconds) + CYCLE_TIMEOUT;
    loop {
        let now = Instant::now();
        let due = ((now - t0).as_secs_f64() * rate as f64) as u64;
        while c.started < due.min(total) {
            c.start(c.started as u32, now);
        }
        let busy = c.poll_sockets();
        c.timers(Instant::now());
        if (c.started >= total && c.cycles.is_empty()) || now > until {
            break;
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let mut line = format!(
        "started={} completed={} right={} wrong={} failed={} unfinished={} no_position={} seconds={elapsed:.1} cycles_per_s={:.0} time_p50_ms={:.1} time_p99_ms={:.1} time_max_ms={:.1}",
        c.started,
        c.completed,
        c.right,
        c.wrong,
        c.failed,
        c.cycles.len(),
        c.no_position,
        c.completed as f64 / (seconds as f64),
        c.times.quantile_us(0.5) as f64 / 1000.0,
        c.times.quantile_us(0.99) as f64 / 1000.0,
        c.times.max_us() as f64 / 1000.0,
    );
    line.push_str(&format!(
        " refused={} timed_out_calling={} timed_out_parking={} timed_out_retrieving={} timed_out_verifying={} timed_out_hanging_up={}",
        c.refused, c.timed_out[0], c.timed_out[1], c.timed_out[2], c.timed_out[3], c.timed_out[4]
    ));
    if let (Some(p), Some(c0)) = (pid.as_deref(), cpu0) {
        line.push_str(&format!(" watched_cpu_s={:.3}", proc_cpu(p) - c0));
    }
    println!("{line}");
}

impl Churn {
    fn start(&mut self, id: u32, now: Instant) {
        self.started += 1;
        let Some(pos) = self.free_positions.pop() else {
            self.no_position += 1;
            self.failed += 1;
            return;
        };
        let req = invite(id, 'a', "1000", &format!("1555{id:06}"), 1, None);
        self.cycles.insert(
            id,
            Cycle {
                started: now,
                pos,
                state: State::Calling,
                remote_tag: String::new(),
                contact: String::new(),
                parked_media: None,
                pending: None,
                next_probe: now,
                retriever_bye_done: false,
                trunk_bye_done: false,
            },
        );
        self.send_request(id, 'a', req, now);
    }

    fn send_request(&mut self, id: u32, role: char, req: String, now: Instant) {
        let line = line(id, role);
        let _ = self.ext[line].send_to(req.as_bytes(), self.switch);
        if let Some(c) = self.cycles.get_mut(&id) {
            c.pending = Some(Pending {
                bytes: req.into_bytes(),
                at: now + Duration::from_millis(500),
                tries: 0,
                line,
            });
        }
    }

    /// Reads every socket once; returns whether anything arrived.
    fn poll_sockets(&mut self) -> bool {
        let mut busy = false;
        for _ in 0..64 {
            let mut any = false;
            for k in 0..self.ext.len() {
                if let Ok((n, _)) = self.ext[k].recv_from(&mut self.buf) {
                    any = true;
                    let data = Bytes::copy_from_slice(&self.buf[..n]);
                    self.on_ext(&data, k);
                }
            }
            if let Ok((n, from)) = self.trunk.recv_from(&mut self.buf) {
                any = true;
                let data = Bytes::copy_from_slice(&self.buf[..n]);
                self.on_trunk(&data, from);
            }
            if let Ok((n, src)) = self.retriever_rtp.recv_from(&mut self.buf) {
                any = true;
                self.on_retriever_rtp(n, src);
            }
            while self.parked_rtp.recv_from(&mut self.buf).is_ok() {
                any = true; // music on hold, not checked here
            }
            busy |= any;
            if !any {
                break;
            }
        }
        busy
    }

    /// A message on line `k`.
    fn on_ext(&mut self, data: &Bytes, k: usize) {
        match parse(data) {
            Some(Message::Response(r)) => self.on_ext_response(r),
            Some(Message::Request(r)) => {
                let _ = self.ext[k].send_to(&ok(&r), self.switch);
                if r.method.as_str() == "BYE" {
                    self.on_parker_released(&r);
                }
            }
            None => {}
        }
    }

    fn on_ext_response(&mut self, r: Response) {
        let Some((role, id)) = cycle_of(&r.headers) else {
            return;
        };
        let (seq, method) = cseq(&r.headers);
        let now = Instant::now();
        let Some(c) = self.cycles.get_mut(&id) else {
            return;
        };
        if r.status >= 100 && r.status < 200 {
            c.pending = None; // a provisional stops INVITE retransmission
            return;
        }
        c.pending = None;
        let user = if role == 'a' { "1000" } else { "1001" };
        match (method.as_str(), r.status) {
            ("INVITE", 407) if seq == 1 => {
                let _ = self.ext[line(id, role)].send_to(ack_407(&r).as_bytes(), self.switch);
                let target = if role == 'a' {
                    format!("1555{id:06}")
                } else {
                    format!("*71{}", c.pos)
                };
                let uri = format!("sip:{target}@{DOMAIN}");
                let auth = bench_tools::proxy_authorization(&r, user, "INVITE", &uri);
                let req = invite(id, role, user, &target, 2, auth.as_deref());
                self.send_request(id, role, req, now);
            }
            ("INVITE", 200) => {
                let tag = to_tag(&r.headers);
                let contact = contact(&r.headers).unwrap_or_else(|| self.switch.to_string());
                let ack = in_dialog(id, role, user, &contact, &tag, "ACK", 2, "");
                let _ = self.ext[line(id, role)].send_to(ack.as_bytes(), self.switch);
                match (role, c.state) {
                    ('a', State::Calling) => {
                        c.state = State::Parking;
                        let refer = in_dialog(
                            id,
                            'a',
                            user,
                            &contact,
                            &tag,
                            "REFER",
                            3,
                            &format!("Refer-To: <sip:*70{}@{DOMAIN}>\r\n", c.pos),
                        );
                        self.send_request(id, 'a', refer, now);
                    }
                    ('r', State::Retrieving) => {
                        c.state = State::Verifying;
                        c.remote_tag = tag;
                        c.contact = contact;
                        if let Some(source) = sdp_address(&r.body) {
                            self.by_retriever_source.insert(source, id);
                        }
                    }
                    _ => {}
                }
            }
            ("REFER", 202) => {}
            ("BYE", 200) if role == 'r' => {
                c.retriever_bye_done = true;
                self.maybe_done(id, now);
            }
            (_, status) if status >= 300 => {
                if method == "INVITE" {
                    let _ = self.ext[line(id, role)].send_to(ack_407(&r).as_bytes(), self.switch);
                }
                eprintln!("cycle {id}: {method} got {status} {}", r.reason);
                self.refused += 1;
                self.finish(id, false);
            }
            _ => {}
        }
    }

    /// The switch hung up the parker: the call is parked; retrieve it.
    fn on_parker_released(&mut self, bye: &Request) {
        let Some(('a', id)) = cycle_of(&bye.headers) else {
            return;
        };
        let now = Instant::now();
        let Some(c) = self.cycles.get_mut(&id) else {
            return;
        };
        if c.state != State::Parking {
            return;
        }
        c.state = State::Retrieving;
        let req = invite(id, 'r', "1001", &format!("*71{}", c.pos), 1, None);
        self.send_request(id, 'r', req, now);
    }

    /// A request to the trunk from `from` (the switch, or in a cluster
    /// the node that places the call): answered there.
    fn on_trunk(&mut self, data: &Bytes, from: SocketAddr) {
        let Some(Message::Request(r)) = parse(data) else {
            return;
        };
        let call_id = r.headers.get_str(Name::CallId).unwrap_or_default();
        let id = r
            .uri
            .user_decoded()
            .and_then(|u| u.strip_prefix("1555").and_then(|n| n.parse::<u32>().ok()))
            .or_else(|| self.trunk_calls.get(&call_id).copied());
        match r.method.as_str() {
            "INVITE" => {
                let Some(id) = id else { return };
                if let Some(c) = self.cycles.get_mut(&id) {
                    c.parked_media = sdp_address(&r.body);
                    self.trunk_calls.insert(call_id, id);
                }
                let answer = answer(&r, id);
                let _ = self.trunk.send_to(answer.as_bytes(), from);
            }
            "ACK" => {}
            "BYE" => {
                let _ = self.trunk.send_to(&ok(&r), from);
                if let Some(id) = id {
                    if let Some(c) = self.cycles.get_mut(&id) {
                        c.trunk_bye_done = true;
                        self.maybe_done(id, Instant::now());
                    }
                }
            }
            _ => {
                let _ = self.trunk.send_to(&ok(&r), from);
            }
        }
    }

    fn on_retriever_rtp(&mut self, n: usize, src: SocketAddr) {
        let Some(&id) = self.by_retriever_source.get(&src) else {
            return;
        };
        if n < 12 + 8 || &self.buf[16..20] != MAGIC {
            return; // not a probe (no other audio is expected)
        }
        let heard = u32::from_be_bytes([self.buf[12], self.buf[13], self.buf[14], self.buf[15]]);
        let now = Instant::now();
        let Some(c) = self.cycles.get_mut(&id) else {
            return;
        };
        if c.state != State::Verifying {
            return;
        }
        if heard != id {
            eprintln!("cycle {id}: the retriever hears cycle {heard}'s party");
            self.wrong += 1;
            self.finish(id, false);
            return;
        }
        self.right += 1;
        self.times.record((now - c.started).as_micros() as u64);
        c.state = State::HangingUp;
        let bye = in_dialog(
            id,
            'r',
            "1001",
            &c.contact.clone(),
            &c.remote_tag.clone(),
            "BYE",
            3,
            "",
        );
        self.send_request(id, 'r', bye, now);
    }

    fn maybe_done(&mut self, id: u32, _now: Instant) {
        if let Some(c) = self.cycles.get(&id) {
            if c.retriever_bye_done && c.trunk_bye_done {
                self.finish(id, true);
            }
        }
    }

    fn finish(&mut self, id: u32, ok: bool) {
        if let Some(c) = self.cycles.remove(&id) {
            self.by_retriever_source.retain(|_, v| *v != id);
            self.trunk_calls.retain(|_, v| *v != id);
            self.free_positions.push(c.pos);
            if ok {
                self.completed += 1;
            } else {
                self.failed += 1;
            }
        }
    }

    fn timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut probes = Vec::new();
        for (&id, c) in self.cycles.iter_mut() {
            if now - c.started > CYCLE_TIMEOUT {
                expired.push(id);
                continue;
            }
            if let Some(p) = &mut c.pending {
                if now >= p.at {
                    let _ = self.ext[p.line].send_to(&p.bytes, self.switch);
                    p.tries += 1;
                    p.at = now + Duration::from_millis(500 << p.tries.min(3));
                }
            }
            if c.state == State::Verifying && now >= c.next_probe {
                c.next_probe = now + Duration::from_millis(20);
                if let Some(to) = c.parked_media {
                    probes.push((id, to));
                }
            }
        }
        for (id, to) in probes {
            let mut pkt = [0u8; 12 + 160];
            pkt[0] = 0x80;
            pkt[8..12].copy_from_slice(&(0x7000_0000 | id).to_be_bytes());
            pkt[12..16].copy_from_slice(&id.to_be_bytes());
            pkt[16..20].copy_from_slice(MAGIC);
            let _ = self.parked_rtp.send_to(&pkt, to);
        }
        for id in expired {
            let state = self.cycles.get(&id).map(|c| c.state);
            eprintln!("cycle {id}: timed out in state {state:?}");
            if let Some(state) = state {
                self.timed_out[state as usize] += 1;
            }
            self.finish(id, false);
        }
    }
}

fn parse(data: &Bytes) -> Option<Message> {
    sip::parser::parse_datagram(data, &sip::parser::Limits::default())
        .ok()
        .flatten()
}

/// The Call-ID of party `role` of cycle `id`: `a-7-5e2c3a91@churn`. The
/// scrambled part makes them as unalike as phones' Call-IDs, so a
/// cluster's edge (which hashes them) spreads them.
fn call_id(id: u32, role: char) -> String {
    let scrambled = id.wrapping_mul(2_654_435_761) ^ u32::from(role);
    format!("{role}-{id}-{scrambled:08x}@churn")
}

fn cycle_of(h: &sip::Headers) -> Option<(char, u32)> {
    let call_id = h.get_str(Name::CallId)?;
    let (role, rest) = call_id.split_at(1);
    let id = rest
        .trim_start_matches('-')
        .split(['-', '@'])
        .next()?
        .parse()
        .ok()?;
    Some((role.chars().next()?, id))
}

fn cseq(h: &sip::Headers) -> (u32, String) {
    let v = h.get_str(Name::CSeq).unwrap_or_default();
    let mut it = v.split_whitespace();
    let n = it.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    (n, it.next().unwrap_or("").to_string())
}

fn to_tag(h: &sip::Headers) -> String {
    let to = h.get_str(Name::To).unwrap_or_default();
    to.split(";tag=")
        .nth(1)
        .map(|t| t.split(';').next().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn contact(h: &sip::Headers) -> Option<String> {
    let c = h.get_str(Name::Contact)?;
    let start = c.find('<')? + 1;
    let end = c[start..].find('>')? + start;
    Some(c[start..end].to_string())
}

/// The RTP address an SDP names (its `c=` address and audio port).
fn sdp_address(body: &[u8]) -> Option<SocketAddr> {
    let audio = media::sdp::parse_audio(body).ok()?;
    Some(SocketAddr::new(audio.address?, audio.port))
}

fn sdp(port: u16) -> String {
    format!("v=0\r\no=churn 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
}

fn invite(id: u32, role: char, user: &str, target: &str, seq: u32, auth: Option<&str>) -> String {
    // Both extensions take media at :7300; probes are told apart by the
    // switch port they come from, so the parker's leg never counts.
    let body = sdp(7300);
    let auth = auth
        .map(|a| format!("Proxy-Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "INVITE sip:{target}@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{role}{id}x{seq}\r\nFrom: <sip:{user}@{DOMAIN}>;tag={role}t{id}\r\nTo: <sip:{target}@{DOMAIN}>\r\nCall-ID: {call_id}\r\nCSeq: {seq} INVITE\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len(),
        port = line_port(id, role),
        call_id = call_id(id, role)
    )
}

#[allow(clippy::too_many_arguments)]
fn in_dialog(
    id: u32,
    role: char,
    user: &str,
    contact: &str,
    tag: &str,
    method: &str,
    seq: u32,
    extra: &str,
) -> String {
    let branch = if method == "ACK" {
        format!("{role}{id}ack{seq}")
    } else {
        format!("{role}{id}x{seq}")
    };
    format!(
        "{method} {contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch}\r\nFrom: <sip:{user}@{DOMAIN}>;tag={role}t{id}\r\nTo: <sip:peer@{DOMAIN}>;tag={tag}\r\nCall-ID: {call_id}\r\nCSeq: {seq} {method}\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
        port = line_port(id, role),
        call_id = call_id(id, role)
    )
}

/// ACK of a non-2xx final response: the INVITE's branch, its To tag.
fn ack_407(r: &Response) -> String {
    let h = &r.headers;
    let via = h.get_str(Name::Via).unwrap_or_default();
    let from = h.get_str(Name::From).unwrap_or_default();
    let to = h.get_str(Name::To).unwrap_or_default();
    let call_id = h.get_str(Name::CallId).unwrap_or_default();
    let (seq, _) = cseq(h);
    let target = to
        .split('<')
        .nth(1)
        .and_then(|s| s.split('>').next())
        .unwrap_or("sip:x@x")
        .to_string();
    format!("ACK {target} SIP/2.0\r\nVia: {via}\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {seq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
}

fn ok(r: &Request) -> Vec<u8> {
    Response::to_request(r, 200, "OK").encode().to_vec()
}

fn answer(r: &Request, id: u32) -> String {
    let mut resp = Response::to_request(r, 200, "OK");
    resp.set_to_tag(&format!("trunk{id}"));
    resp.headers
        .push(Name::Contact, "<sip:carrier@127.0.0.1:5090>");
    resp.headers.push(Name::ContentType, "application/sdp");
    resp.body = Bytes::from(sdp(7200));
    String::from_utf8_lossy(&resp.encode()).into_owned()
}

fn fail(msg: &str) -> ! {
    eprintln!("park-churn: {msg}");
    std::process::exit(2);
}
