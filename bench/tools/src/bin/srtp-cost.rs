//! CPU per relayed packet in the media engine, plain and with SRTP: one
//! bridged call, 20 ms G.711 packets (172 bytes) fed to `Engine::handle_rtp`
//! without sockets, so the figure is the engine's own work (decrypt,
//! rewrite, encrypt), not the kernel's. Usage: `srtp-cost [PACKETS]`.

use media::engine::{Config, SrtpKeys, SRTP_OVERHEAD};
use media::srtp::{Context, MasterKey, Suite};
use media::{Clip, Codec, Engine};
use std::net::SocketAddr;
use std::time::Instant;

fn engine() -> Engine {
    let clip = Clip::from_linear(&[0i16; 1600]);
    Engine::new(
        Config {
            music: clip.clone(),
            prompts: vec![],
            idle_timeout: std::time::Duration::from_secs(60),
        },
        7,
    )
}

fn keys(theirs: u8, ours: u8) -> SrtpKeys {
    SrtpKeys {
        suite: Suite::AesCm128HmacSha1_80,
        theirs: MasterKey::from_bytes(&[theirs; 30]),
        ours: MasterKey::from_bytes(&[ours; 30]),
    }
}

/// Nanoseconds per packet relayed A → B, with `secure_a`/`secure_b` legs.
fn run(packets: u32, secure_a: bool, secure_b: bool) -> f64 {
    let mut e = engine();
    let a_addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let b_addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let (a, b) = (e.open(20000), e.open(20002));
    e.configure(a, a_addr, None, Codec::Pcmu, 0, None);
    e.configure(b, b_addr, None, Codec::Pcmu, 0, None);
    if secure_a {
        e.secure(a, Some(keys(1, 2)));
    }
    if secure_b {
        e.secure(b, Some(keys(3, 4)));
    }
    e.bridge(a, b);
    // The phone's packets, made (and encrypted) before the clock starts.
    let mut phone = Context::new(Suite::AesCm128HmacSha1_80, &MasterKey::from_bytes(&[1; 30]));
    let sent: Vec<(Vec<u8>, usize)> = (0..packets)
        .map(|i| {
            let mut p = vec![0x55u8; 172 + SRTP_OVERHEAD];
            media::rtp::write_header(&mut p, 0, false, i as u16, i * 160, 99);
            let n = if secure_a {
                phone.protect_rtp(&mut p, 172).unwrap()
            } else {
                172
            };
            (p, n)
        })
        .collect();
    let now = Instant::now();
    let start = Instant::now();
    let mut relayed = 0u32;
    for (mut p, n) in sent {
        if e.handle_rtp(now, a, a_addr, &mut p, n).is_some() {
            relayed += 1;
        }
    }
    let ns = start.elapsed().as_nanos() as f64;
    assert_eq!(relayed, packets, "every packet relayed");
    ns / f64::from(packets)
}

fn main() {
    let packets: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    let plain = run(packets, false, false);
    let one = run(packets, true, false);
    let both = run(packets, true, true);
    println!("plain relay ns per packet {plain:.0}");
    println!("srtp to plain ns per packet {one:.0}");
    println!("srtp to srtp ns per packet {both:.0}");
}
