//! Restart survival end to end: 50 parked, 20 held and 50 talking calls
//! between real UDP phones; the switch is killed (`kill -9`), started again,
//! and every call goes on: parked and held parties hear music again within
//! 3 s with the same SSRC and sequence numbers that continue forward,
//! talking pairs hear each other, a comeback keeps its deadline, and every
//! parked call is retrieved by its parker. Then the same after `SIGTERM`.

mod support;

use media::rtp::Header;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::phone::{connect, decode, park, tone_power, Call, Phone};
use support::{peers_ready, Server};

const PCMU: u8 = 0;
const TALKING: u16 = 50;
const HELD: u16 = 20;
const PARKED: u16 = 50;
/// The beta tenant's park timeout in this test (its comeback is timed).
const BETA_PARK_TIMEOUT_S: u64 = 14;

/// Extensions 2000–2299 of the demo tenant.
fn extensions() -> String {
    (2000..2300)
        .map(|n| {
            format!(
                "[[tenants.extensions]]\nnumber = \"{n}\"\nname = \"Desk {n}\"\npassword = \"secret-{n}\"\n\n"
            )
        })
        .collect()
}

fn registered(server: &Server, user: &str, domain: Option<&str>) -> Phone {
    let mut p = Phone::new(&server.sip_addr(), user, &format!("secret-{user}"));
    if let Some(d) = domain {
        p.domain = d.into();
    }
    p.register();
    p
}

/// What one phone's RTP socket received, with arrival times, until stopped.
struct Listener {
    user: String,
    packets: Arc<Mutex<Vec<(Instant, Header)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn listen(phone: &Phone) -> Listener {
    let sock = phone.rtp.try_clone().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let packets = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (p, s) = (packets.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !s.load(Ordering::Relaxed) {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if let Some(h) = media::rtp::parse(&buf[..n]) {
                    p.lock().unwrap().push((Instant::now(), h));
                }
            }
        }
    });
    Listener {
        user: phone.user.clone(),
        packets,
        stop,
        thread: Some(thread),
    }
}

impl Listener {
    /// Checks that music came back after the restart begun at `restart`
    /// (the process died at `cut`): the same SSRC, sequence numbers ahead
    /// of the last one before; returns how long after `restart` it came.
    fn came_back(&self, cut: Instant, restart: Instant) -> Duration {
        let packets = self.packets.lock().unwrap();
        let before = packets
            .iter()
            .rfind(|(t, _)| *t < cut)
            .unwrap_or_else(|| panic!("{}: no music before the restart", self.user));
        let after = packets
            .iter()
            .find(|(t, _)| *t > restart)
            .unwrap_or_else(|| panic!("{}: no music after the restart", self.user));
        assert_eq!(
            after.1.ssrc, before.1.ssrc,
            "{}: the stream keeps its SSRC",
            self.user
        );
        let ahead = after.1.seq.wrapping_sub(before.1.seq);
        assert!(
            (1..3000).contains(&ahead),
            "{}: sequence numbers continue forward: {} after {}",
            self.user,
            after.1.seq,
            before.1.seq
        );
        let ts_ahead = after.1.ts.wrapping_sub(before.1.ts);
        assert!(
            (1..u32::MAX / 2).contains(&ts_ahead),
            "{}: timestamps continue forward",
            self.user
        );
        after.0.saturating_duration_since(restart)
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Every listener's music came back within 3 s of `restart`.
fn music_came_back(listeners: &[Listener], cut: Instant, restart: Instant) {
    let worst = listeners
        .iter()
        .map(|l| l.came_back(cut, restart))
        .max()
        .unwrap();
    assert!(
        worst < Duration::from_secs(3),
        "music came back after {worst:?}"
    );
    eprintln!(
        "music back for all {} parked and held parties within {worst:?}",
        listeners.len()
    );
}

/// Both parties of every pair hear each other's tone, all pairs at once.
fn two_way(pairs: &[(&Phone, &Call, &Phone, &Call)]) {
    std::thread::scope(|s| {
        let checks: Vec<_> = pairs
            .iter()
            .enumerate()
            .map(|(i, (a, a_call, b, b_call))| {
                a.flush_rtp();
                b.flush_rtp();
                let (fa, fb) = (500.0 + 20.0 * i as f64 % 400.0, 1500.0);
                let (sa, sb) = (a.rtp.try_clone().unwrap(), b.rtp.try_clone().unwrap());
                let (ra, rb) = (a.rtp.try_clone().unwrap(), b.rtp.try_clone().unwrap());
                let (to_a, pt_a, to_b, pt_b) = (a_call.media, a_call.pt, b_call.media, b_call.pt);
                let who = format!("{}↔{}", a.user, b.user);
                s.spawn(move || {
                    let ta = std::thread::spawn(move || {
                        Phone::with_rtp(sa).send_tone(to_a, pt_a, fa, 50)
                    });
                    let tb = std::thread::spawn(move || {
                        Phone::with_rtp(sb).send_tone(to_b, pt_b, fb, 50)
                    });
                    let heard_by_a = std::thread::spawn(move || {
                        Phone::with_rtp(ra).record(Duration::from_millis(900))
                    });
                    let heard_by_b = Phone::with_rtp(rb).record(Duration::from_millis(900));
                    let heard_by_a = heard_by_a.join().unwrap();
                    ta.join().unwrap();
                    tb.join().unwrap();
                    let (ha, hb) = (decode(&heard_by_a), decode(&heard_by_b));
                    assert!(
                        tone_power(&hb, fa) > 10.0 * tone_power(&hb, fb),
                        "{who}: b does not hear a"
                    );
                    assert!(
                        tone_power(&ha, fb) > 10.0 * tone_power(&ha, fa),
                        "{who}: a does not hear b"
                    );
                })
            })
            .collect();
        for c in checks {
            c.join().unwrap();
        }
    });
}

/// A pair in a call.
struct Pair {
    a: Phone,
    a_call: Call,
    b: Phone,
    b_call: Call,
}

fn pair(server: &Server, a: u16, b: u16) -> Pair {
    pair_in(server, a, b, None)
}

fn pair_in(server: &Server, a: u16, b: u16, domain: Option<&str>) -> Pair {
    let mut pa = registered(server, &a.to_string(), domain);
    let mut pb = registered(server, &b.to_string(), domain);
    let (a_call, b_call) = connect(&mut pa, &mut pb, &[PCMU], &[PCMU]);
    Pair {
        a: pa,
        a_call,
        b: pb,
        b_call,
    }
}

#[test]
fn calls_survive_kill_and_sigterm() {
    if !peers_ready("calls_survive_kill_and_sigterm", &[]) {
        return;
    }
    let mut server = Server::start_edited("restart", &extensions(), (31000, 31999), 300, |text| {
        text.replace(
            "release_prefix = \"645\"",
            &format!("release_prefix = \"645\"\npark_timeout_s = {BETA_PARK_TIMEOUT_S}"),
        )
    });
    // 50 talking pairs: 2000+i calls 2100+i.
    let talking: Vec<Pair> = (0..TALKING)
        .map(|i| pair(&server, 2000 + i, 2100 + i))
        .collect();
    // 20 held: 2200+i calls 2230+i and holds; 2230+i hears music.
    let mut held: Vec<Pair> = (0..HELD)
        .map(|i| pair(&server, 2200 + i, 2230 + i))
        .collect();
    for p in &mut held {
        assert_eq!(p.a.reinvite(&mut p.a_call, "sendonly").status, 200);
    }
    // 50 parked: 2250+i calls 2150+i, holds, parks at its own extension.
    let mut parked = Vec::new();
    for i in 0..PARKED {
        let mut p = pair(&server, 2250 + i, 2150 + i);
        assert_eq!(p.a.reinvite(&mut p.a_call, "sendonly").status, 200);
        let parker = p.a.user.clone();
        let retrieval = park(&mut p.a, &format!("*70{parker}"));
        assert_eq!(retrieval, format!("*71{parker}"));
        parked.push(p);
    }
    // The beta tenant's comeback, timed: 100 calls 101 and parks at 644100.
    let mut beta = pair_in(&server, 100, 101, Some("beta.parkline.test"));
    assert_eq!(beta.a.reinvite(&mut beta.a_call, "sendonly").status, 200);
    park(&mut beta.a, "644100");
    let parked_at = Instant::now();
    let beta_parker = beta.a;
    let comeback = std::thread::spawn(move || {
        let mut phone = beta_parker;
        let inv = phone.request("INVITE", Duration::from_secs(60));
        let at = Instant::now();
        if let Some(inv) = &inv {
            phone.reject_request(inv, 486, "Busy Here");
        }
        (inv.is_some(), at)
    });

    let parked_parties: Vec<&Phone> = parked.iter().map(|p| &p.b).collect();
    let held_parties: Vec<&Phone> = held.iter().map(|p| &p.b).collect();
    let mut listeners: Vec<Listener> = parked_parties
        .iter()
        .chain(held_parties.iter())
        .map(|p| listen(p))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));

    // kill -9, and start again at once.
    let cut = Instant::now();
    server.kill();
    let restart = Instant::now();
    server.start_again();
    std::thread::sleep(Duration::from_millis(3500));
    music_came_back(&listeners, cut, restart);
    let log = server.log();
    assert!(
        log.contains("resumed the calls of the previous run"),
        "{log}"
    );
    let pairs: Vec<_> = talking
        .iter()
        .map(|p| (&p.a, &p.a_call, &p.b, &p.b_call))
        .collect();
    two_way(&pairs);

    // The beta comeback keeps its deadline across the restart (±1 s).
    let (rang, at) = comeback.join().unwrap();
    assert!(rang, "the parker was never rung back");
    let after = at.duration_since(parked_at).as_secs_f64();
    assert!(
        (after - BETA_PARK_TIMEOUT_S as f64).abs() <= 1.0,
        "comeback after {after:.1} s, set for {BETA_PARK_TIMEOUT_S} s"
    );

    // SIGTERM: a clean stop, and the next start picks everything up.
    let cut = Instant::now();
    server.stop();
    let restart = Instant::now();
    server.start_again();
    std::thread::sleep(Duration::from_millis(3500));
    music_came_back(&listeners, cut, restart);
    two_way(&pairs[..10]);
    for l in &mut listeners {
        l.finish();
    }

    // Every parked call is retrieved by its parker, who gets its party.
    let mut retrieved = Vec::new();
    for p in &mut parked {
        let parker = p.a.user.clone();
        p.b.flush_rtp();
        let call =
            p.a.dial(&format!("*71{parker}"), &[PCMU])
                .unwrap_or_else(|s| panic!("{parker} retrieves: {s}"));
        let pai =
            p.a.last_final
                .clone()
                .unwrap()
                .headers
                .get_str(sip::Name::PAssertedIdentity)
                .unwrap_or_default();
        assert!(
            pai.contains(&format!("sip:{}@", p.b.user)),
            "{parker} retrieved {pai}, not {}",
            p.b.user
        );
        retrieved.push(call);
    }
    let pairs: Vec<_> = parked
        .iter()
        .zip(&retrieved)
        .take(5)
        .map(|(p, call)| (&p.a, call, &p.b, &p.b_call))
        .collect();
    two_way(&pairs);
    let status = server.status();
    assert_eq!(status["parked"], 0, "{status}");
}
