//! Call parking end to end, as the seed describes it: the client calls John's
//! DID through the trunk, John answers, holds, dials *70333, hears the
//! confirmation (and his phone is released), the conference-room phone dials
//! *71333 and talks to the client. Plus random codes, bare *71, the 644/645
//! tenant, and every refusal.

mod support;

use media::rtp::Header;
use std::time::Duration;
use support::phone::{decode, tone_power, Call, Phone};
use support::{peers_ready, Server};

const PCMU: u8 = 0;

fn registered(server: &Server, user: &str) -> Phone {
    let mut p = Phone::new(&server.sip_addr(), user, &format!("secret-{user}"));
    p.register();
    p
}

fn norm(b: u8) -> u8 {
    if b == 0x7F {
        0xFF
    } else {
        b
    }
}

/// Index of the frame of `file` (raw µ-law) equal to `payload`, if any.
fn frame_index(file: &[u8], payload: &[u8]) -> Option<usize> {
    let payload: Vec<u8> = payload.iter().copied().map(norm).collect();
    file.chunks(160)
        .position(|f| f.len() == 160 && f.iter().copied().map(norm).eq(payload.iter().copied()))
}

fn asset(path: &str) -> Vec<u8> {
    std::fs::read(support::repo_root().join("assets").join(path)).unwrap()
}

/// Every payload is a frame of the music, in order, with continuous sequence numbers.
fn assert_music(packets: &[(Header, Vec<u8>)]) {
    let music = asset("music/default.ul");
    let frames = music.len() / 160;
    let packets = packets.get(2..).unwrap_or_default();
    assert!(packets.len() >= 20, "only {} music packets", packets.len());
    let start = frame_index(&music, &packets[0].1).expect("a frame of the music");
    for (i, (h, p)) in packets.iter().enumerate() {
        assert_eq!(
            frame_index(&music, p),
            Some((start + i) % frames),
            "packet {i} (seq {}) is not the next music frame",
            h.seq
        );
    }
    assert!(
        packets
            .windows(2)
            .all(|w| w[1].0.seq == w[0].0.seq.wrapping_add(1)),
        "sequence gap"
    );
}

/// The announcement starts with the "call parked" prompt, frame by frame.
fn assert_announcement(packets: &[(Header, Vec<u8>)], first_prompt: &str) {
    let prompt = asset(&format!("prompts/en/{first_prompt}.ul"));
    assert!(
        packets.len() >= 10,
        "only {} announcement packets",
        packets.len()
    );
    for (i, (_, p)) in packets.iter().take(10).enumerate() {
        assert_eq!(
            frame_index(&prompt, p),
            Some(i),
            "announcement packet {i} is not frame {i} of {first_prompt}"
        );
    }
}

/// Sends `freq` from `phone` for a second on a thread.
fn talk(phone: &Phone, call: &Call, freq: f64) -> std::thread::JoinHandle<()> {
    let sock = phone.rtp.try_clone().unwrap();
    let (to, pt) = (call.media, call.pt);
    std::thread::spawn(move || Phone::with_rtp(sock).send_tone(to, pt, freq, 50))
}

/// Both phones hear each other's tone.
fn assert_two_way(a: &Phone, a_call: &Call, b: &Phone, b_call: &Call) {
    a.flush_rtp();
    b.flush_rtp();
    let ta = talk(a, a_call, 600.0);
    let tb = talk(b, b_call, 1400.0);
    let heard_by_b = b.record(Duration::from_millis(900));
    let heard_by_a = a.record(Duration::from_millis(300));
    ta.join().unwrap();
    tb.join().unwrap();
    let (hb, ha) = (
        decode(&heard_by_b[5.min(heard_by_b.len())..]),
        decode(&heard_by_a),
    );
    assert!(
        tone_power(&hb, 600.0) > 10.0 * tone_power(&hb, 1400.0),
        "b does not hear a"
    );
    assert!(
        tone_power(&ha, 1400.0) > 10.0 * tone_power(&ha, 600.0),
        "a does not hear b"
    );
}

/// The client calls John's DID through the trunk; John answers and holds.
fn client_on_hold(server: &Server, john: &mut Phone) -> (Phone, Call, Call) {
    let carrier = format!("127.0.0.1:{}", server.carrier_port());
    let mut client = Phone::at(&server.sip_addr(), "15559870001", "", &carrier);
    let (cid, seq, branch) = client.start_trusted_dial("15550100333", &[PCMU]);
    let inv = john.ring();
    let mut johns = john.answer(&inv, &[PCMU]);
    let clients = client
        .finish_dial("15550100333", &cid, seq, &branch)
        .expect("John answers");
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    (client, clients, johns)
}

#[test]
fn the_seed_scenario_park_under_an_extension_and_retrieve_from_another_phone() {
    if !peers_ready("the_seed_scenario", &[]) {
        return;
    }
    let server = Server::start("park-seed");
    let mut john = registered(&server, "333");
    let mut room = registered(&server, "444");
    let (mut client, mut clients_call, johns_call) = client_on_hold(&server, &mut john);
    client.flush_rtp();
    assert_music(&client.record(Duration::from_millis(600)));

    // John parks: *70333. 200 with P-Asserted-Identity, then the announcement.
    let park = john.dial("*70333", &[PCMU]).expect("park call answered");
    let ok = john.last_final.clone().unwrap();
    assert_eq!(
        ok.headers.get_str(sip::Name::PAssertedIdentity).unwrap(),
        "\"Parked *71333\" <sip:*71333@demo.parkline.test>"
    );
    let bye = john
        .request("BYE", Duration::from_secs(3))
        .expect("John's held leg is released");
    assert_eq!(
        String::from_utf8_lossy(bye.headers.get(sip::Name::CallId).unwrap()),
        johns_call.call_id
    );
    john.ok(&bye);
    assert_announcement(&john.record(Duration::from_millis(600)), "call-parked");
    // The client still hears the music, without a gap, across the parking.
    assert_music(&client.record(Duration::from_millis(800)));
    let listed = server.http_get("/api/parked").unwrap();
    assert!(
        listed.contains("\"*71333\"") && listed.contains("\"333\""),
        "{listed}"
    );
    // The announcement ends with a hang-up from the switch.
    let bye = john
        .request("BYE", Duration::from_secs(15))
        .expect("the switch hangs up after the announcement");
    assert_eq!(
        String::from_utf8_lossy(bye.headers.get(sip::Name::CallId).unwrap()),
        park.call_id
    );
    john.ok(&bye);

    // From the conference room: *71333. The room phone shows the client.
    let rooms_call = room.dial("*71333", &[PCMU]).expect("retrieved");
    let ok = room.last_final.clone().unwrap();
    let pai = ok.headers.get_str(sip::Name::PAssertedIdentity).unwrap();
    assert_eq!(
        pai, "\"Phone 15559870001\" <sip:15559870001@demo.parkline.test>",
        "the room's screen shows the client, not the code"
    );
    assert_two_way(&client, &clients_call, &room, &rooms_call);
    assert_eq!(server.http_get("/api/parked").unwrap().trim(), "[]");

    assert_eq!(client.bye(&mut clients_call).status, 200);
    let bye = room
        .request("BYE", Duration::from_secs(5))
        .expect("room gets BYE");
    room.ok(&bye);
    server.wait_idle();
    let records = server.call_records(2);
    let main = records
        .iter()
        .find(|r| r["callee"] == "15550100333")
        .expect("the client's call");
    let events = main["events"].as_str().unwrap();
    assert!(
        events.contains("parked by 333 at *71333") && events.contains("retrieved by 444"),
        "{events}"
    );
    assert!(main["features"].as_str().unwrap().contains("park"));
}
