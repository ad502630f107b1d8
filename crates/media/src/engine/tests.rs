//! The engine driven with hand-made packets and a fake clock.

use super::*;
use std::net::IpAddr;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn engine() -> Engine {
    let music = Clip::from_linear(
        &(0..1600)
            .map(|i| ((i % 80) * 300) as i16)
            .collect::<Vec<_>>(),
    );
    let prompt = Clip::from_linear(&[500i16; 400]);
    Engine::new(
        Config {
            music,
            prompts: vec![prompt],
            idle_timeout: Duration::from_secs(30),
        },
        42,
    )
}

/// Runs the engine's phases from `from` to `to` (inclusive), one call per
/// phase, and returns what they generated with the time each was sent.
fn run(e: &mut Engine, from: Instant, to: Instant) -> Vec<(Instant, Generated)> {
    let mut out = Vec::new();
    let mut now = from;
    while now <= to {
        if e.handle_timeout(now) {
            out.extend(e.generated().iter().map(|g| (now, g.clone())));
        }
        now += STEP;
    }
    out
}

/// Opens `n` endpoints (ids 0 to n - 1 in a fresh engine), each a party
/// at its own address hearing the music.
fn listeners(e: &mut Engine, n: u32) {
    for i in 0..n {
        let id = e.open(20000 + 2 * i as u16);
        let to = addr(&format!("127.0.0.1:{}", 4000 + i));
        e.configure(id, to, None, Codec::Pcmu, 0, None);
        e.set_source(id, Source::Music);
    }
}

/// The RTP samples in a span of wall time.
fn samples(d: Duration) -> u32 {
    (d.as_micros() * 8 / 1000) as u32
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; 172];
    rtp::write_header(&mut p, pt, false, seq, ts, ssrc);
    p
}

#[test]
fn relay_rewrites_ssrc_and_keeps_continuity_across_source_changes() {
    let mut e = engine();
    let t0 = Instant::now();
    let a = e.open(20000);
    let b = e.open(20002);
    e.configure(a, addr("127.0.0.1:4000"), None, Codec::Pcmu, 0, None);
    e.configure(b, addr("127.0.0.1:5000"), None, Codec::Pcmu, 0, None);
    e.bridge(a, b);
    let mut p = packet(0, 100, 8000, 7, 0x55);
    let t = e
        .handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
        .unwrap();
    assert_eq!((t.from_port, t.to), (20002, addr("127.0.0.1:5000")));
    let h1 = rtp::parse(&p).unwrap();
    assert_ne!(h1.ssrc, 7, "the switch's own SSRC towards B");
    let mut p = packet(0, 101, 8160, 7, 0x55);
    e.handle_rtp(t0 + TICK, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
        .unwrap();
    let h2 = rtp::parse(&p).unwrap();
    assert_eq!(
        (h2.seq, h2.ts),
        (h1.seq.wrapping_add(1), h1.ts.wrapping_add(160))
    );

    // Hold: B now hears music; sequence and timestamps carry on.
    e.set_source(b, Source::Music);
    let sent = run(&mut e, t0 + TICK * 2, t0 + TICK * 4 - STEP);
    assert!(
        !e.handle_timeout(t0 + TICK * 4 - STEP),
        "nothing is due twice"
    );
    assert_eq!(sent.len(), 2, "one packet per 20 ms");
    assert_eq!(sent[1].0 - sent[0].0, TICK);
    let first = rtp::parse(&sent[0].1.header).unwrap();
    assert!(first.marker);
    assert_eq!(first.ts, h2.ts.wrapping_add(samples(TICK)));
    let m = rtp::parse(&sent[1].1.header).unwrap();
    assert_eq!((m.ssrc, m.seq), (h2.ssrc, h2.seq.wrapping_add(2)));
    assert_eq!(m.ts, first.ts.wrapping_add(160));
    assert!(!m.marker, "the marker was on the first music packet");
    let mut p = packet(0, 102, 8320, 7, 0x55);
    assert!(
        e.handle_rtp(t0 + TICK * 2, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
            .is_none(),
        "A is not relayed while B hears music"
    );

    // Resume.
    e.bridge(a, b);
    let mut p = packet(0, 500, 99_999, 7, 0x55);
    e.handle_rtp(
        t0 + TICK * 11,
        a,
        addr("127.0.0.1:4000"),
        &mut p,
        usize::MAX,
    )
    .unwrap();
    let r = rtp::parse(&p).unwrap();
    assert_eq!(r.seq, m.seq.wrapping_add(1));
    assert_eq!(
        r.ts,
        m.ts.wrapping_add(samples(TICK * 11 - sent[1].0.duration_since(t0))),
        "timestamps follow wall time across the switch"
    );
    assert!(r.marker);
}

#[test]
fn transcodes_between_laws_in_place() {
    let mut e = engine();
    let t0 = Instant::now();
    let a = e.open(20000);
    let b = e.open(20002);
    e.configure(a, addr("127.0.0.1:4000"), None, Codec::Pcmu, 0, None);
    e.configure(b, addr("127.0.0.1:5000"), None, Codec::Pcma, 8, None);
    e.bridge(a, b);
    let code = crate::g711::linear_to_ulaw(1234);
    let mut p = packet(0, 1, 1, 1, code);
    e.handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
        .unwrap();
    let h = rtp::parse(&p).unwrap();
    assert_eq!(h.pt, 8);
    let back = crate::g711::alaw_to_linear(p[12]) as i32;
    assert!((back - 1234).abs() < 80, "{back}");
}

#[test]
fn dtmf_detected_and_mapped_to_the_partner_payload_type() {
    let mut e = engine();
    let t0 = Instant::now();
    let a = e.open(20000);
    let b = e.open(20002);
    e.configure(a, addr("127.0.0.1:4000"), None, Codec::Pcmu, 0, Some(101));
    e.configure(b, addr("127.0.0.1:5000"), None, Codec::Pcmu, 0, Some(96));
    e.bridge(a, b);
    for _ in 0..3 {
        let mut p = packet(101, 1, 777, 1, 0);
        p[12..16].copy_from_slice(&[7, 10, 0, 160]);
        p.truncate(16);
        e.handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
            .unwrap();
        assert_eq!(rtp::parse(&p).unwrap().pt, 96);
    }
    assert_eq!(e.poll_event(), Some(Event::Dtmf(a, '7')));
    assert_eq!(e.poll_event(), None);
}

#[test]
fn music_is_the_same_frame_for_every_listener_and_prompts_end() {
    let mut e = engine();
    let t0 = Instant::now();
    listeners(&mut e, 3);
    let sent = run(&mut e, t0, t0 + TICK - STEP);
    assert_eq!(sent.len(), 3);
    assert!(sent.windows(2).all(|w| w[0].1.frame == w[1].1.frame));
    assert_eq!(e.frame(sent[0].1.frame).len(), 160);
    assert_eq!(
        e.frame(sent[0].1.frame),
        e.cfg
            .music
            .frame(Codec::Pcmu, sent[0].1.frame.index as usize)
    );

    let p = e.open(30000);
    e.configure(p, addr("127.0.0.1:6000"), None, Codec::Pcma, 8, None);
    e.play(p, vec![0, 0]);
    let sent = run(&mut e, t0 + TICK, t0 + TICK * 11 - STEP);
    let prompt: Vec<_> = sent.iter().filter(|(_, g)| g.from_port == 30000).collect();
    assert_eq!(prompt.len(), 6, "two 3-frame prompts");
    assert_eq!(prompt[0].1.frame.clip, ClipRef::Prompt(0));
    assert_eq!(e.frame(prompt[5].1.frame).len(), 160);
    assert_eq!(e.poll_event(), Some(Event::PromptDone(p)));
    assert_eq!(e.source(p), Some(Source::Silence));
}

#[test]
fn idle_only_when_watched_and_close_frees() {
    let mut e = engine();
    let t0 = Instant::now();
    let a = e.open(20000);
    let b = e.open(20002);
    e.watch_idle(a, true, t0);
    e.handle_timeout(t0);
    e.handle_timeout(t0 + Duration::from_secs(31));
    assert_eq!(e.poll_event(), Some(Event::Idle(a)));
    assert_eq!(e.poll_event(), None, "b is not watched (held or parked)");
    e.close(a);
    e.close(b);
    assert_eq!(e.open_count(), 0);
    let mut p = packet(0, 1, 1, 1, 0);
    assert!(e
        .handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
        .is_none());
}

#[test]
fn latched_source_only() {
    let mut e = engine();
    let t0 = Instant::now();
    let a = e.open(20000);
    let b = e.open(20002);
    e.configure(b, addr("127.0.0.1:5000"), None, Codec::Pcmu, 0, None);
    e.bridge(a, b);
    let mut p = packet(0, 1, 1, 1, 0);
    assert!(
        e.handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
            .is_none(),
        "nothing is accepted before the party's SDP is known"
    );
    e.configure(a, addr("127.0.0.1:4000"), None, Codec::Pcmu, 0, None);
    let mut p = packet(0, 1, 1, 1, 0);
    assert!(e
        .handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
        .is_some());
    let mut p = packet(0, 2, 161, 2, 0);
    assert!(
        e.handle_rtp(t0, a, addr("127.0.0.1:4999"), &mut p, usize::MAX)
            .is_none(),
        "a second stream from another port is ignored"
    );
}

#[test]
fn each_listener_sends_every_20_ms_in_its_own_phase() {
    let mut e = engine();
    let t0 = Instant::now();
    let n = PHASE_RUN * PHASES * 4 + 5;
    listeners(&mut e, n);
    let mut phase_sizes = Vec::new();
    let mut now = t0;
    let mut when: Vec<Vec<Instant>> = vec![Vec::new(); n as usize];
    for k in 0..PHASES * 4 {
        assert!(e.handle_timeout(now));
        assert_eq!(e.phases(), PHASES, "{n} listeners fill every phase");
        phase_sizes.push(e.generated().len());
        for g in e.generated() {
            assert_eq!(phase_of(g.from, PHASES), k % PHASES);
            when[g.from as usize].push(now);
        }
        assert_eq!(e.poll_timeout(), Some(now + STEP));
        now += STEP;
    }
    let full = (PHASE_RUN * 4) as usize;
    assert!(
        phase_sizes.iter().all(|&k| k == full || k == full + 5),
        "{phase_sizes:?}"
    );
    for w in &when {
        assert_eq!(w.len(), 4);
        assert!(w.windows(2).all(|p| p[1] - p[0] == TICK));
    }
}

#[test]
fn a_light_engine_wakes_once_per_tick() {
    let mut e = engine();
    let t0 = Instant::now();
    listeners(&mut e, 3);
    assert!(e.handle_timeout(t0));
    assert_eq!(e.generated().len(), 3, "every listener in the one phase");
    assert_eq!(e.phases(), 1);
    assert_eq!(e.poll_timeout(), Some(t0 + TICK));
}

#[test]
fn phases_grow_with_the_load_and_shrink_only_well_below_it() {
    assert_eq!(adapt_phases(1, 0), 1);
    assert_eq!(adapt_phases(1, 256), 1);
    assert_eq!(adapt_phases(1, 257), 2);
    assert_eq!(adapt_phases(2, 1000), 4);
    assert_eq!(adapt_phases(4, 100_000), PHASES);
    // 10 phases hold down to 9 phases' share less half a share.
    assert_eq!(adapt_phases(10, 2304 - 128 + 1), 10);
    assert_eq!(adapt_phases(10, 2304 - 128), 9);
    assert_eq!(adapt_phases(10, 0), 1);
    assert_eq!(adapt_phases(3, 640), 3, "at a boundary: no change");
}

#[test]
fn listeners_keep_their_20_ms_when_the_load_changes_the_phases() {
    // 300 listeners: 2 phases (runs 0, 2, 4 in the first, 1, 3 10 ms
    // later); with 10 phases run k goes k steps in. Each must still send
    // one packet per tick, continuing its stream, as the phases change.
    const N: usize = 300;
    let mut e = engine();
    let t0 = Instant::now();
    listeners(&mut e, N as u32);
    let mut count = vec![0u64; N];
    let mut last = vec![None; N];
    let mut now = t0;
    let mut run_until = |e: &mut Engine, end: Instant| {
        while now < end {
            if e.handle_timeout(now) {
                for g in e.generated().iter().filter(|g| (g.from as usize) < N) {
                    let h = rtp::parse(&g.header).unwrap();
                    let i = g.from as usize;
                    if let Some((seq, ts)) = last[i] {
                        let next: (u16, u32) = (seq, ts);
                        assert_eq!(
                            (h.seq, h.ts),
                            (next.0.wrapping_add(1), next.1.wrapping_add(160))
                        );
                    }
                    last[i] = Some((h.seq, h.ts));
                    count[i] += 1;
                }
            }
            now += STEP;
        }
        count.clone()
    };
    let seen = run_until(&mut e, t0 + TICK * 5);
    assert_eq!(e.phases(), 2);
    assert!(seen.iter().all(|&c| c == 5), "{seen:?}");
    for i in 0..3000u32 {
        let id = e.open(30000 + i as u16);
        let to = SocketAddr::new("127.0.0.2".parse().unwrap(), 10000 + i as u16);
        e.configure(id, to, None, Codec::Pcmu, 0, None);
        e.set_source(id, Source::Music);
    }
    let seen = run_until(&mut e, t0 + TICK * 10);
    assert_eq!(e.phases(), PHASES);
    assert!(seen.iter().all(|&c| c == 10), "{seen:?}");
    for id in N as u32..N as u32 + 3000 {
        e.close(id);
    }
    let seen = run_until(&mut e, t0 + TICK * 15);
    assert_eq!(e.phases(), 2);
    assert!(seen.iter().all(|&c| c == 15), "{seen:?}");
}

#[test]
fn a_late_wake_up_catches_up_the_phases_it_missed() {
    let mut e = engine();
    let t0 = Instant::now();
    listeners(&mut e, PHASE_LOAD * PHASES);
    let run = PHASE_LOAD as usize; // 40 runs of 64 over 10 phases
    assert!(e.handle_timeout(t0));
    assert_eq!(e.generated().len(), run);
    assert!(e.handle_timeout(t0 + STEP * 4 + STEP / 2));
    assert_eq!(e.generated().len(), 4 * run, "phases 1 to 4");
    assert_eq!(e.poll_timeout(), Some(t0 + STEP * 5));
    assert!(e.handle_timeout(t0 + Duration::from_secs(5)));
    assert_eq!(e.generated().len(), run, "far behind: no burst");
}

/// Checks and counts the packets of the last tick per listener: each
/// continues its stream one frame on.
fn tally(e: &Engine, count: &mut [u64], last: &mut [Option<(u16, u32)>]) -> Result<(), String> {
    for g in e.generated() {
        let h = rtp::parse(&g.header).ok_or("not RTP")?;
        if let Some((seq, ts)) = last[g.from as usize] {
            if (h.seq, h.ts) != (seq.wrapping_add(1), ts.wrapping_add(160)) {
                return Err(format!(
                    "listener {} jumped from {seq}/{ts} to {}/{}",
                    g.from, h.seq, h.ts
                ));
            }
        }
        last[g.from as usize] = Some((h.seq, h.ts));
        count[g.from as usize] += 1;
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// However irregular the wake-ups (never over 100 ms late, the
    /// "far behind" limit), every listener gets one packet per 20 ms
    /// elapsed, with sequence numbers and timestamps one frame apart.
    #[test]
    fn irregular_wake_ups_keep_every_listener_at_50_packets_a_second(
        n in 1u32..1500,
        gaps_us in proptest::collection::vec(0u64..90_000, 1..200),
    ) {
        let mut e = engine();
        let t0 = Instant::now();
        listeners(&mut e, n);
        let mut last = vec![None; n as usize];
        let mut count = vec![0u64; n as usize];
        let mut now = t0;
        e.handle_timeout(now);
        tally(&e, &mut count, &mut last).map_err(proptest::test_runner::TestCaseError::fail)?;
        for gap in gaps_us {
            now += Duration::from_micros(gap);
            e.handle_timeout(now);
            tally(&e, &mut count, &mut last).map_err(proptest::test_runner::TestCaseError::fail)?;
        }
        // The load is fixed, so the first tick sets the phases for good.
        // Phases fall due at t0, t0 + step, ...; listener i's phase comes
        // phase_of(i) steps into each 20 ms round.
        let phases = e.phases();
        proptest::prop_assert_eq!(phases, n.div_ceil(PHASE_LOAD).min(PHASES));
        let elapsed = now - t0;
        for (i, &c) in count.iter().enumerate() {
            let offset = TICK / phases * phase_of(i as u32, phases);
            let due = match elapsed.checked_sub(offset) {
                None => 0,
                Some(d) => (d.as_micros() / TICK.as_micros()) as u64 + 1,
            };
            proptest::prop_assert_eq!(c, due, "listener {}", i);
        }
    }
}

#[test]
fn a_stranger_spraying_rtp_is_neither_heard_nor_sent_to() {
    let mut e = engine();
    let t0 = Instant::now();
    let a = e.open(20000);
    let b = e.open(20002);
    let phone_ip: IpAddr = "127.0.0.1".parse().unwrap();
    e.configure(
        a,
        addr("127.0.0.1:4000"),
        Some(phone_ip),
        Codec::Pcmu,
        0,
        None,
    );
    e.configure(
        b,
        addr("127.0.0.1:5000"),
        Some(phone_ip),
        Codec::Pcmu,
        0,
        None,
    );
    e.bridge(a, b);
    // Before either party sent anything, a stranger sprays both ports.
    for (i, port) in [(a, 20000u16), (b, 20002)] {
        let mut p = packet(0, 1, 160, 99, 0x11);
        assert!(
            e.handle_rtp(t0, i, addr("127.0.0.66:7000"), &mut p, usize::MAX)
                .is_none(),
            "{port}"
        );
    }
    assert_eq!(e.counters(a).dropped, 1);
    // The real parties latch and hear each other, at their own addresses.
    let mut p = packet(0, 100, 8000, 7, 0x55);
    let t = e
        .handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
        .unwrap();
    assert_eq!(t.to, addr("127.0.0.1:5000"));
    let mut p = packet(0, 300, 8000, 8, 0x66);
    let t = e
        .handle_rtp(t0, b, addr("127.0.0.1:5000"), &mut p, usize::MAX)
        .unwrap();
    assert_eq!(t.to, addr("127.0.0.1:4000"));
    // The stranger keeps spraying, even with the parties' SSRCs: nothing.
    let mut p = packet(0, 101, 8160, 7, 0x11);
    assert!(e
        .handle_rtp(t0, a, addr("127.0.0.66:4000"), &mut p, usize::MAX)
        .is_none());
    let mut p = packet(0, 101, 8160, 7, 0x55);
    let t = e
        .handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
        .unwrap();
    assert_eq!(t.to, addr("127.0.0.1:5000"), "still sent to the real party");
}

#[test]
fn forged_rtcp_is_not_relayed() {
    let mut e = engine();
    let (a, b) = two_parties(&mut e);
    e.bridge(a, b);
    let mut rr = [
        0x81, 201, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(e.handle_rtcp(a, addr("127.0.0.66:4001"), &mut rr, 8), None);
    let t = e
        .handle_rtcp(a, addr("127.0.0.1:4001"), &mut rr, 8)
        .unwrap();
    assert_eq!((t.from, t.to, t.range), (b, addr("127.0.0.2:5001"), 0..8));
    assert_eq!(e.counters(a).dropped, 1);
}

/// Endpoints on ports 20000 and 20002 for parties at 127.0.0.1:4000 and
/// 127.0.0.2:5000 (PCMU), not yet bridged.
fn two_parties(e: &mut Engine) -> (EndpointId, EndpointId) {
    let (a, b) = (e.open(20000), e.open(20002));
    e.configure(a, addr("127.0.0.1:4000"), None, Codec::Pcmu, 0, None);
    e.configure(b, addr("127.0.0.2:5000"), None, Codec::Pcmu, 0, None);
    (a, b)
}

fn keys(theirs: u8, ours: u8) -> SrtpKeys {
    SrtpKeys {
        suite: Suite::AesCm128HmacSha1_80,
        theirs: MasterKey::from_bytes(&[theirs; 30]),
        ours: MasterKey::from_bytes(&[ours; 30]),
    }
}

#[test]
fn bridges_an_srtp_party_with_a_plain_one() {
    let mut e = engine();
    let t0 = Instant::now();
    let a = e.open(20000);
    let b = e.open(20002);
    e.configure(a, addr("127.0.0.1:4000"), None, Codec::Pcmu, 0, None);
    e.configure(b, addr("127.0.0.1:5000"), None, Codec::Pcma, 8, None);
    e.secure(a, Some(keys(1, 2)));
    e.bridge(a, b);
    // The SRTP phone encrypts with its key: B hears it plain (transcoded).
    let mut phone =
        srtp::Context::new(Suite::AesCm128HmacSha1_80, &MasterKey::from_bytes(&[1; 30]));
    let mut p = packet(0, 10, 1600, 7, 0xFF);
    p.resize(200, 0);
    let n = phone.protect_rtp(&mut p, 172).unwrap();
    let t = e
        .handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, n)
        .unwrap();
    assert_eq!((t.to, t.range.len()), (addr("127.0.0.1:5000"), 172));
    let h = rtp::parse(&p[t.range.clone()]).unwrap();
    assert_eq!(h.pt, 8);
    assert_eq!(
        p[12], e.tables.ulaw_to_alaw[0xFF],
        "decrypted, then transcoded"
    );
    // A forged or replayed packet from the phone's address goes nowhere.
    let mut forged = packet(0, 11, 1760, 7, 0xFF);
    forged.resize(200, 0);
    assert!(e
        .handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut forged, 182)
        .is_none());
    assert_eq!(e.counters(a).rejected, 1);
    // B speaks plain; the SRTP phone gets it under our key.
    let mut p = packet(8, 50, 800, 9, 0x2A);
    p.resize(200, 0);
    let t = e
        .handle_rtp(t0, b, addr("127.0.0.1:5000"), &mut p, 172)
        .unwrap();
    assert_eq!((t.to, t.range.len()), (addr("127.0.0.1:4000"), 182));
    let mut ours = srtp::Context::new(Suite::AesCm128HmacSha1_80, &MasterKey::from_bytes(&[2; 30]));
    assert_eq!(ours.unprotect_rtp(&mut p, 182), Ok(172));
    assert_eq!(p[12], e.tables.alaw_to_ulaw[0x2A]);
    assert!(e.counters(a).secure && !e.counters(b).secure);
}

#[test]
fn music_to_an_srtp_party_is_sealed_per_party() {
    let mut e = engine();
    let t0 = Instant::now();
    listeners(&mut e, 2);
    e.secure(1, Some(keys(1, 3)));
    assert!(e.handle_timeout(t0), "phase 0: both parties");
    let sent = e.generated().to_vec();
    assert_eq!(sent.len(), 1, "the plain party shares the frame");
    let sealed = e.sealed().to_vec();
    assert_eq!(sealed.len(), 1);
    let mut bytes = e.sealed_bytes()[sealed[0].range.clone()].to_vec();
    assert_eq!(bytes.len(), 172 + 10);
    let mut ours = srtp::Context::new(Suite::AesCm128HmacSha1_80, &MasterKey::from_bytes(&[3; 30]));
    assert_eq!(ours.unprotect_rtp(&mut bytes, 182), Ok(172));
    assert_eq!(
        &bytes[12..172],
        e.frame(sent[0].frame),
        "the same music, decrypted"
    );
    // The same keys again keep the stream.
    e.secure(1, Some(keys(1, 3)));
    assert!(e.handle_timeout(t0 + TICK));
    let mut next = e.sealed_bytes()[e.sealed()[0].range.clone()].to_vec();
    assert_eq!(ours.unprotect_rtp(&mut next, 182), Ok(172));
}

#[test]
fn srtcp_is_opened_and_sealed_between_legs() {
    let mut e = engine();
    let (a, b) = two_parties(&mut e);
    e.secure(a, Some(keys(4, 5)));
    e.secure(b, Some(keys(6, 7)));
    e.bridge(a, b);
    let mut phone =
        srtp::Context::new(Suite::AesCm128HmacSha1_80, &MasterKey::from_bytes(&[4; 30]));
    let mut rr = [0u8; 64];
    rr[..8].copy_from_slice(&[0x80, 201, 0, 1, 0, 0, 0, 7]);
    let n = phone.protect_rtcp(&mut rr, 8).unwrap();
    let t = e
        .handle_rtcp(a, addr("127.0.0.1:4001"), &mut rr, n)
        .unwrap();
    assert_eq!(t.to, addr("127.0.0.2:5001"));
    let mut ours = srtp::Context::new(Suite::AesCm128HmacSha1_80, &MasterKey::from_bytes(&[7; 30]));
    let len = t.range.len();
    assert_eq!(ours.unprotect_rtcp(&mut rr, len), Ok(8));
    // The report now names the sender by the switch's SSRC towards b.
    let b_port = e.port_of(b).unwrap();
    let theirs = e.positions().find(|(p, _)| *p == b_port).unwrap().1.ssrc;
    assert_eq!(&rr[..4], &[0x80, 201, 0, 1]);
    assert_eq!(rr[4..8], theirs.to_be_bytes());
    let mut junk = [0x80u8; 40];
    assert!(e
        .handle_rtcp(a, addr("127.0.0.1:4001"), &mut junk, 30)
        .is_none());
    assert_eq!(e.counters(a).rejected, 1);
}

#[test]
fn a_stream_continues_in_a_new_engine_ahead_of_everything_sent() {
    let t0 = Instant::now();
    let mut before = engine();
    listeners(&mut before, 1);
    let sent = run(&mut before, t0, t0 + Duration::from_millis(400));
    let (port, pos) = before.positions().next().unwrap();
    assert_eq!(port, 20000);
    let last = rtp::parse(&sent.last().unwrap().1.header).unwrap();
    assert_eq!((pos.ssrc, pos.seq, pos.ts), (last.ssrc, last.seq, last.ts));
    // The old process sent on for 300 ms after the checkpoint, then died;
    // the new one starts 1.2 s after the checkpoint.
    let more = run(
        &mut before,
        t0 + Duration::from_millis(420),
        t0 + Duration::from_millis(700),
    );
    let crashed = rtp::parse(&more.last().unwrap().1.header).unwrap();
    let mut after = engine();
    listeners(&mut after, 1);
    after.continue_stream(0, pos, Duration::from_millis(1200));
    let t1 = t0 + Duration::from_secs(5);
    let resumed = run(&mut after, t1, t1 + Duration::from_millis(100));
    let first = rtp::parse(&resumed[0].1.header).unwrap();
    assert_eq!(first.ssrc, pos.ssrc, "same SSRC");
    let ahead = first.seq.wrapping_sub(crashed.seq);
    assert!(
        (1..3000).contains(&ahead),
        "sequence numbers go on forward: {} after {}",
        first.seq,
        crashed.seq
    );
    let ts_ahead = first.ts.wrapping_sub(crashed.ts);
    assert!(
        (1..u32::MAX / 2).contains(&ts_ahead),
        "timestamps go on forward: {} after {}",
        first.ts,
        crashed.ts
    );
    let second = rtp::parse(&resumed[1].1.header).unwrap();
    assert_eq!(second.seq, first.seq.wrapping_add(1));
}

#[test]
fn a_party_hearing_music_keeps_it_until_its_new_partner_speaks() {
    let mut e = engine();
    let t0 = Instant::now();
    let parked = e.open(20000);
    let retriever = e.open(20002);
    e.configure(parked, addr("127.0.0.1:4000"), None, Codec::Pcmu, 0, None);
    e.configure(
        retriever,
        addr("127.0.0.1:5000"),
        None,
        Codec::Pcmu,
        0,
        None,
    );
    e.set_source(parked, Source::Music);
    assert_eq!(run(&mut e, t0, t0 + TICK - STEP).len(), 1, "music");
    // The retriever joins: until its phone sends, the parked party still
    // hears music (no silent gap), one frame each 20 ms.
    e.bridge(parked, retriever);
    let during = run(&mut e, t0 + TICK, t0 + TICK * 6 - STEP);
    assert_eq!(
        during.len(),
        5,
        "music goes on while the retriever is silent"
    );
    assert!(during.iter().all(|(_, g)| g.from == parked));
    // Its first packet takes over: relayed, and the music stops.
    let mut p = packet(0, 1, 160, 9, 0x33);
    let t = e
        .handle_rtp(
            t0 + TICK * 6,
            retriever,
            addr("127.0.0.1:5000"),
            &mut p,
            usize::MAX,
        )
        .expect("relayed to the parked party");
    assert_eq!(t.to, addr("127.0.0.1:4000"));
    assert!(
        run(&mut e, t0 + TICK * 6, t0 + TICK * 10).is_empty(),
        "no more music"
    );
    assert_eq!(e.source(parked), Some(Source::Relay(retriever)));
}

#[test]
fn a_handover_gives_up_the_music_after_a_second_of_silence() {
    let mut e = engine();
    let t0 = Instant::now();
    let parked = e.open(20000);
    let retriever = e.open(20002);
    e.configure(parked, addr("127.0.0.1:4000"), None, Codec::Pcmu, 0, None);
    e.configure(
        retriever,
        addr("127.0.0.1:5000"),
        None,
        Codec::Pcmu,
        0,
        None,
    );
    e.set_source(parked, Source::Music);
    e.bridge(parked, retriever);
    let sent = run(&mut e, t0, t0 + Duration::from_secs(3));
    assert_eq!(
        sent.len(),
        usize::from(HANDOVER_FRAMES),
        "a second of music at most"
    );
    assert_eq!(e.source(parked), Some(Source::Relay(retriever)));
}

#[test]
fn a_departed_endpoint_keeps_its_stream_in_the_engine_that_adopts_it() {
    let t0 = Instant::now();
    let mut one = engine();
    let mut two = engine();
    let (a, b) = two_parties(&mut one);
    one.bridge(a, b);
    let mut p = packet(0, 100, 8000, 7, 0x55);
    one.handle_rtp(t0, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
        .unwrap();
    let before = rtp::parse(&p).unwrap();
    // B moves to the engine of C, its new partner; A falls silent.
    let departed = one.depart(b).unwrap();
    assert_eq!(departed.port(), 20002);
    assert_eq!(one.endpoint_at(20002), None);
    assert_eq!(one.source(a), Some(Source::Silence), "A's partner left");
    let mut p = packet(0, 101, 8160, 7, 0x55);
    assert!(one
        .handle_rtp(t0 + TICK, a, addr("127.0.0.1:4000"), &mut p, usize::MAX)
        .is_none());
    let c = two.open(30000);
    two.configure(c, addr("127.0.0.3:6000"), None, Codec::Pcmu, 0, None);
    let b2 = two.adopt(departed);
    assert_eq!(two.endpoint_at(20002), Some(b2));
    assert_eq!(two.source(b2), Some(Source::Silence));
    two.bridge(c, b2);
    let mut p = packet(0, 9, 1000, 8, 0x66);
    let t = two
        .handle_rtp(t0 + TICK * 2, c, addr("127.0.0.3:6000"), &mut p, usize::MAX)
        .unwrap();
    assert_eq!(
        (t.from_port, t.to),
        (20002, addr("127.0.0.2:5000")),
        "B's latch came along"
    );
    let after = rtp::parse(&p).unwrap();
    assert_eq!(after.ssrc, before.ssrc, "B's stream keeps its SSRC");
    assert_eq!(after.seq, before.seq.wrapping_add(1), "and its numbering");
    // And B's party is still accepted on the new engine.
    let mut p = packet(0, 50, 500, 9, 0x77);
    let back = two
        .handle_rtp(
            t0 + TICK * 2,
            b2,
            addr("127.0.0.2:5000"),
            &mut p,
            usize::MAX,
        )
        .unwrap();
    assert_eq!(back.to, addr("127.0.0.3:6000"));
}
