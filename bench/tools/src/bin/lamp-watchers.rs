//! Busy-lamp fan-out: W subscriptions (`Event: dialog`) to one park
//! position, as many BLF keys on many phones would hold, each answering
//! its NOTIFYs with 200 and noting when each arrived and what it showed.
//!
//! Usage: lamp-watchers SWITCH WATCHERS TARGET SECONDS FIRST_EXT READY_FILE
//!
//! Subscriber i is extension FIRST_EXT + i / 250 (password
//! `secret-<ext>`: 250 is the switch's default per-extension limit), on one
//! of WATCHERS / 50 sockets (8 MiB receive buffers: the tool's own reading
//! must not drop a burst). Once every subscription has its first NOTIFY
//! it writes READY_FILE and listens for SECONDS. Then it prints one line:
//! subscriptions accepted, parks seen (distinct parked dialogs shown as
//! `confirmed`), parks every subscriber saw, the fan-out spread (from the
//! first subscriber's NOTIFY of a park to the last one's) p50/p99/max, the
//! NOTIFYs received, and the subscriptions whose last NOTIFY was not
//! `terminated` (the position is free at the end).

use bytes::Bytes;
use sip::{Message, Name, Request, Response};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DOMAIN: &str = "bench.parkline.test";
const PER_SOCKET: usize = 50;
const PER_EXTENSION: usize = 250;

/// What one NOTIFY showed, when.
struct Seen {
    sub: usize,
    at: Instant,
    /// The parked dialog's id when `confirmed`; `None` when free.
    parked: Option<String>,
}

/// What one socket's thread reports.
enum Report {
    Subscribed,
    Failed(usize, u16),
    Notice(Seen),
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 7 {
        eprintln!("usage: lamp-watchers SWITCH WATCHERS TARGET SECONDS FIRST_EXT READY_FILE");
        std::process::exit(2);
    }
    let switch: SocketAddr = a[1].parse().expect("SWITCH address");
    let watchers: usize = a[2].parse().expect("WATCHERS");
    let target = a[3].clone();
    let seconds: u64 = a[4].parse().expect("SECONDS");
    let first_ext: usize = a[5].parse().expect("FIRST_EXT");
    let ready = a[6].clone();
    let (tx, rx) = mpsc::channel();
    let stop = Instant::now() + Duration::from_secs(seconds + 30);
    let mut threads = Vec::new();
    for chunk in (0..watchers).collect::<Vec<_>>().chunks(PER_SOCKET) {
        let subs = chunk.to_vec();
        let (tx, target) = (tx.clone(), target.clone());
        threads.push(std::thread::spawn(move || {
            watch(switch, &subs, first_ext, &target, tx, stop)
        }));
    }
    drop(tx);
    let mut subscribed = 0;
    let mut failed = Vec::new();
    let mut seen = Vec::new();
    let mut initial = vec![false; watchers];
    let mut listen_until = None;
    loop {
        let wait = listen_until
            .map(|u: Instant| u.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(30));
        let Ok(r) = rx.recv_timeout(wait) else {
            break;
        };
        match r {
            Report::Subscribed => subscribed += 1,
            Report::Failed(i, status) => failed.push((i, status)),
            Report::Notice(s) => {
                if !initial[s.sub] {
                    initial[s.sub] = true;
                } else {
                    seen.push(s);
                }
            }
        }
        if listen_until.is_none() && initial.iter().all(|i| *i) {
            std::fs::write(&ready, "ready\n").expect("READY_FILE");
            listen_until = Some(Instant::now() + Duration::from_secs(seconds));
        }
        if listen_until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
    }
    report(watchers, subscribed, &failed, &seen);
    std::process::exit(0);
}

fn report(watchers: usize, subscribed: usize, failed: &[(usize, u16)], seen: &[Seen]) {
    let mut parks: HashMap<&str, (usize, Instant, Instant)> = HashMap::new();
    let mut last: HashMap<usize, bool> = HashMap::new();
    for s in seen {
        last.insert(s.sub, s.parked.is_some());
        if let Some(id) = &s.parked {
            let e = parks.entry(id).or_insert((0, s.at, s.at));
            e.0 += 1;
            e.1 = e.1.min(s.at);
            e.2 = e.2.max(s.at);
        }
    }
    let everyone = parks.values().filter(|p| p.0 >= watchers).count();
    let mut spreads: Vec<u64> = parks
        .values()
        .map(|p| p.2.duration_since(p.1).as_micros() as u64)
        .collect();
    spreads.sort_unstable();
    let q = |f: f64| {
        spreads
            .get(((spreads.len() as f64 - 1.0) * f).round() as usize)
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    let still_lit = last.values().filter(|lit| **lit).count();
    if let Some((i, status)) = failed.first() {
        eprintln!("lamp-watchers: subscription {i} refused with {status}");
    }
    println!(
        "subscribed={subscribed} of={watchers} refused={} parks_seen={} parks_seen_by_all={everyone} spread_p50_ms={:.1} spread_p99_ms={:.1} spread_max_ms={:.1} notifies={} lit_at_end={still_lit}",
        failed.len(),
        parks.len(),
        q(0.5),
        q(0.99),
        spreads.last().map_or(0.0, |us| *us as f64 / 1000.0),
        seen.len(),
    );
}

/// One socket's subscriptions: subscribes each (answering the challenge),
/// then answers and reports every NOTIFY until `stop`.
fn watch(
    switch: SocketAddr,
    subs: &[usize],
    first_ext: usize,
    target: &str,
    tx: mpsc::Sender<Report>,
    stop: Instant,
) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    bench_tools::big_receive_buffer(&sock, 8 << 20);
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let local = sock.local_addr().unwrap();
    let ext = |i: usize| (first_ext + i / PER_EXTENSION).to_string();
    for &i in subs {
        let req = subscribe(i, &ext(i), target, local, 1, None);
        sock.send_to(req.as_bytes(), switch).unwrap();
    }
    let mut buf = vec![0u8; 65535];
    while Instant::now() < stop {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let data = Bytes::copy_from_slice(&buf[..n]);
        match sip::parse_datagram(&data, &sip::Limits::default()) {
            Ok(Some(Message::Response(r))) => {
                let Some(i) = sub_of(&r.headers) else {
                    continue;
                };
                match r.status {
                    407 => {
                        let uri = format!("sip:{target}@{DOMAIN}");
                        let auth = bench_tools::proxy_authorization(&r, &ext(i), "SUBSCRIBE", &uri);
                        let req = subscribe(i, &ext(i), target, local, 2, auth.as_deref());
                        sock.send_to(req.as_bytes(), switch).unwrap();
                    }
                    200..=299 => {
                        let _ = tx.send(Report::Subscribed);
                    }
                    100..=199 => {}
                    status => {
                        let _ = tx.send(Report::Failed(i, status));
                    }
                }
            }
            Ok(Some(Message::Request(q))) => {
                let at = Instant::now();
                let ok = Response::to_request(&q, 200, "OK");
                sock.send_to(&ok.encode(), switch).unwrap();
                if let Some(s) = notice(&q, at) {
                    let _ = tx.send(Report::Notice(s));
                }
            }
            _ => {}
        }
    }
}

fn notice(q: &Request, at: Instant) -> Option<Seen> {
    if q.method != sip::Method::Notify {
        return None;
    }
    let sub = sub_of(&q.headers)?;
    let body = String::from_utf8_lossy(&q.body);
    let parked = body
        .contains("<state>confirmed</state>")
        .then(|| {
            let at = body.find("<dialog id=\"")? + 12;
            let end = body[at..].find('"')? + at;
            Some(body[at..end].to_string())
        })
        .flatten();
    Some(Seen { sub, at, parked })
}

/// The subscription a message belongs to, from its Call-ID `lw-<i>`.
fn sub_of(h: &sip::Headers) -> Option<usize> {
    h.get_str(Name::CallId)?.strip_prefix("lw-")?.parse().ok()
}

fn subscribe(
    i: usize,
    ext: &str,
    target: &str,
    local: SocketAddr,
    seq: u32,
    auth: Option<&str>,
) -> String {
    let auth = auth
        .map(|a| format!("Proxy-Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "SUBSCRIBE sip:{target}@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKlw{i}s{seq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{ext}@{DOMAIN}>;tag=lw{i}\r\nTo: <sip:{target}@{DOMAIN}>\r\nCall-ID: lw-{i}\r\nCSeq: {seq} SUBSCRIBE\r\nContact: <sip:{ext}@{local}>\r\nEvent: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 3600\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}
