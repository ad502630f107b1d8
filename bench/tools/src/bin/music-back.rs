//! The parked parties of the restart benchmark: one UDP socket per port.
//! Waits until music is heard on every port, then for the switch to be
//! killed and started again, and measures how long after the restart each
//! stream has music again, and whether it continues (same SSRC, sequence
//! numbers forward of the last heard before).
//!
//! Usage: music-back PORTS EXPECT WAIT_S RESTART_FILE
//!
//! Prints `ready` once EXPECT ports have music. RESTART_FILE, written by the
//! script when it starts the switch again, holds that moment in Unix
//! milliseconds. Prints one line of `key=value` figures at the end.

use bench_tools::{parse_ports, raise_nofile, rtp_seq_ssrc};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Default)]
struct Heard {
    /// Last packet before the restart: (seq, ssrc).
    before: Option<(u16, u32)>,
    /// First packet after it: (seq, ssrc, Unix ms).
    after: Option<(u16, u32, u64)>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 5 {
        eprintln!("usage: music-back PORTS EXPECT WAIT_S RESTART_FILE");
        std::process::exit(2);
    }
    let ports = parse_ports(&a[1]).unwrap_or_else(|e| panic!("{e}"));
    let expect: usize = a[2].parse().expect("EXPECT");
    let wait = Duration::from_secs(a[3].parse().expect("WAIT_S"));
    let restart_file = std::path::PathBuf::from(&a[4]);
    raise_nofile();
    let sockets: Vec<std::net::UdpSocket> = ports
        .map(|p| {
            let s = std::net::UdpSocket::bind(("127.0.0.1", p)).expect("bind");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let mut heard = vec![Heard::default(); sockets.len()];
    let mut restart_ms: Option<u64> = None;
    let mut ready = false;
    let began = Instant::now();
    let mut checked = Instant::now();
    let mut buf = [0u8; 2048];
    loop {
        let mut got = false;
        for (i, s) in sockets.iter().enumerate() {
            while let Ok((n, _)) = s.recv_from(&mut buf) {
                got = true;
                let Some((seq, ssrc)) = rtp_seq_ssrc(&buf[..n]) else {
                    continue;
                };
                let at = unix_ms();
                let h = &mut heard[i];
                match restart_ms {
                    Some(r) if at >= r => {
                        if h.after.is_none() {
                            h.after = Some((seq, ssrc, at));
                        }
                    }
                    _ => h.before = Some((seq, ssrc)),
                }
            }
        }
        if !ready && heard.iter().filter(|h| h.before.is_some()).count() >= expect {
            ready = true;
            println!("ready");
            let _ = std::io::stdout().flush();
        }
        if restart_ms.is_none() && checked.elapsed() >= Duration::from_millis(5) {
            checked = Instant::now();
            restart_ms = std::fs::read_to_string(&restart_file)
                .ok()
                .and_then(|t| t.trim().parse().ok());
        }
        let back = heard.iter().filter(|h| h.after.is_some()).count();
        let waited_too_long = began.elapsed() > wait * 2;
        if (restart_ms.is_some() && back >= expect) || waited_too_long {
            report(&heard, restart_ms.unwrap_or(0), expect);
            return;
        }
        if !got {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn report(heard: &[Heard], restart_ms: u64, expect: usize) {
    let mut delays: Vec<u64> = heard
        .iter()
        .filter_map(|h| h.after.map(|a| a.2.saturating_sub(restart_ms)))
        .collect();
    delays.sort_unstable();
    let q = |f: f64| {
        delays
            .get(((delays.len() as f64 * f) as usize).min(delays.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let continuing = heard
        .iter()
        .filter(|h| match (h.before, h.after) {
            (Some((s0, c0)), Some((s1, c1, _))) => {
                c0 == c1 && (1..3000).contains(&s1.wrapping_sub(s0))
            }
            _ => false,
        })
        .count();
    println!(
        "back={} of={expect} p50_ms={} p99_ms={} max_ms={} continuing={continuing}",
        delays.len(),
        q(0.5),
        q(0.99),
        delays.last().copied().unwrap_or(0)
    );
}
