//! Call parking end to end, as the seed describes it: the client calls John's
//! DID through the trunk, John answers, holds, dials *70333, hears the
//! confirmation (and his phone is released), the conference-room phone dials
//! *71333 and talks to the client. Plus random codes, bare *71, the 644/645
//! tenant, and every refusal.

mod support;

use media::rtp::Header;
use std::time::Duration;
use support::phone::{assert_two_way, connect, decode, park, tone_power, Call, Phone};
use support::{peers_ready, Server};

const PCMU: u8 = 0;

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
    let mut john = server.registered("333");
    let mut room = server.registered("444");
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

/// An extension-to-extension call in which `holder` holds `other`.
fn held_call(holder: &mut Phone, other: &mut Phone) -> (Call, Call) {
    let (mut holders, others) = connect(holder, other, &[PCMU], &[PCMU]);
    assert_eq!(holder.reinvite(&mut holders, "sendonly").status, 200);
    (holders, others)
}

/// Dials `number`, expects the switch to answer with an announcement that
/// starts with `prompt`, then hang up.
fn expect_announcement(phone: &mut Phone, number: &str, prompt: &str) {
    phone.flush_rtp();
    let call = phone
        .dial(number, &[PCMU])
        .unwrap_or_else(|s| panic!("{number}: {s}"));
    let ok = phone.last_final.clone().unwrap();
    assert!(
        ok.headers.get(sip::Name::PAssertedIdentity).is_none(),
        "{number}: no park/retrieve identity on a refusal"
    );
    assert_announcement(&phone.record(Duration::from_millis(500)), prompt);
    let bye = phone
        .request("BYE", Duration::from_secs(15))
        .expect("the switch hangs up after the announcement");
    assert_eq!(
        String::from_utf8_lossy(bye.headers.get(sip::Name::CallId).unwrap()),
        call.call_id
    );
    phone.ok(&bye);
}

#[test]
fn random_codes_bare_release_and_a_second_tenant_with_644_645() {
    if !peers_ready("random_codes_bare_release_and_a_second_tenant", &[]) {
        return;
    }
    let server = Server::start("park-variants");
    let mut john = server.registered("333");
    let mut room = server.registered("444");

    // Bare *70: a random code, announced as *71*NNNN.
    let (_, rooms) = held_call(&mut john, &mut room);
    let number = park(&mut john, "*70");
    assert!(number.starts_with("*71*") && number.len() == 8, "{number}");
    let listed = support::parkline_cli(&server, &["parked"]);
    assert!(
        listed.contains(&number),
        "parkline parked lists it:\n{listed}"
    );
    let mut johns_again = john
        .dial(&number, &[PCMU])
        .expect("retrieved with *71*code");
    assert_two_way(&room, &rooms, &john, &johns_again);

    // The retrieved call is a normal call again: hold (music), resume, park
    // again, and bare *71 from the extension used for parking brings it back.
    assert_eq!(john.reinvite(&mut johns_again, "sendonly").status, 200);
    room.flush_rtp();
    assert_music(&room.record(Duration::from_millis(700)));
    assert_eq!(john.reinvite(&mut johns_again, "sendrecv").status, 200);
    assert_two_way(&room, &rooms, &john, &johns_again);
    assert_eq!(john.reinvite(&mut johns_again, "sendonly").status, 200);
    assert_eq!(park(&mut john, "*70333"), "*71333");
    let mut back = john
        .dial("*71", &[PCMU])
        .expect("bare *71 retrieves John's own position");
    assert_two_way(&room, &rooms, &john, &back);
    john.bye(&mut back);
    room.request("BYE", Duration::from_secs(5))
        .map(|b| room.ok(&b))
        .expect("room gets BYE");
    server.record_where(|r| {
        r["events"]
            .as_str()
            .unwrap_or_default()
            .matches("parked by 333")
            .count()
            == 2
    });

    // Tenant beta parks with 644 and retrieves with 645, under any of its extensions.
    let beta = |u: &str| {
        let mut p = Phone::new(&server.sip_addr(), u, &format!("secret-{u}"));
        p.domain = "beta.parkline.test".into();
        p.register();
        p
    };
    let (mut reception, mut office, mut lab) = (beta("100"), beta("101"), beta("102"));
    let (_, offices) = held_call(&mut reception, &mut office);
    assert_eq!(park(&mut reception, "644102"), "645102");
    // Another PBX's phone cannot reach beta's parked call.
    expect_announcement(&mut room, "*71102", "no-call-parked-at");
    let mut labs = lab.dial("645102", &[PCMU]).expect("retrieved with 645");
    assert_two_way(&office, &offices, &lab, &labs);
    lab.bye(&mut labs);
    office
        .request("BYE", Duration::from_secs(5))
        .map(|b| office.ok(&b))
        .expect("office gets BYE");
    server.wait_idle();
}

#[test]
fn every_mistake_gets_its_announcement_and_the_held_call_stays() {
    if !peers_ready("every_mistake_gets_its_announcement", &[]) {
        return;
    }
    let server = Server::start("park-mistakes");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555"); // may neither park nor retrieve

    expect_announcement(&mut john, "*70333", "no-held-call");
    expect_announcement(&mut john, "*71333", "no-call-parked-at");
    expect_announcement(&mut jane, "*70555", "park-not-allowed");
    expect_announcement(&mut jane, "*71333", "retrieve-not-allowed");

    let (mut johns, rooms) = held_call(&mut john, &mut room);
    expect_announcement(&mut john, "*70999", "not-an-extension");
    // Park this call at 333, then try to park a second one there too.
    assert_eq!(park(&mut john, "*70333"), "*71333");
    let (_johns2, _rooms2) = {
        // The room calls John again and John holds that one.
        let (cid, seq, branch) = room.start_dial("333", &[PCMU]);
        let inv = john.ring();
        let mut j = john.answer(&inv, &[PCMU]);
        let r = room.finish_dial("333", &cid, seq, &branch).unwrap();
        assert_eq!(john.reinvite(&mut j, "sendonly").status, 200);
        (j, r)
    };
    expect_announcement(&mut john, "*70333", "position-taken");
    assert!(
        john.request("BYE", Duration::from_millis(500)).is_none(),
        "the held call stays with John"
    );
    assert_eq!(server.status()["calls"], 2, "one parked, one held");
    let _ = (&mut johns, rooms);

    let records = server.call_records(7);
    let causes: Vec<&str> = records
        .iter()
        .map(|r| r["cause"].as_str().unwrap())
        .collect();
    for cause in [
        "no held call to park",
        "no call parked at *71333",
        "not allowed to park",
        "not allowed to retrieve",
        "not an extension of this PBX",
        "parking position 333 is taken",
    ] {
        assert!(
            causes.contains(&cause),
            "no record of '{cause}' in {causes:?}"
        );
    }
}

#[test]
fn a_parked_party_that_hangs_up_frees_its_position() {
    if !peers_ready("a_parked_party_that_hangs_up_frees_its_position", &[]) {
        return;
    }
    let server = Server::start("park-abandon");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (_, mut rooms) = held_call(&mut john, &mut room);
    assert_eq!(park(&mut john, "*70333"), "*71333");
    assert_eq!(server.status()["parked"], 1);
    assert_eq!(room.bye(&mut rooms).status, 200);
    server.wait_idle();
    assert_eq!(server.status()["parked"], 0);
    assert!(!support::parkline_cli(&server, &["parked"]).contains("*71333"));
    expect_announcement(&mut john, "*71333", "no-call-parked-at");
    let records = server.call_records(3);
    assert!(
        records.iter().any(|r| r["events"]
            .as_str()
            .unwrap()
            .contains("abandoned at *71333")),
        "{records:#?}"
    );
}

#[test]
fn two_retrievals_at_once_connect_exactly_one() {
    if !peers_ready("two_retrievals_at_once_connect_exactly_one", &[]) {
        return;
    }
    let server = Server::start("park-race");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    // Two more phones of the PBX (registration is not needed to dial).
    let mut first = Phone::new(&server.sip_addr(), "444", "secret-444");
    let mut second = Phone::new(&server.sip_addr(), "333", "secret-333");
    for round in 0..5 {
        let (_, rooms) = held_call(&mut john, &mut room);
        assert_eq!(park(&mut john, "*70333"), "*71333");
        first.flush_rtp();
        second.flush_rtp();
        let (c1, s1, b1) = first.start_dial("*71333", &[PCMU]);
        let (c2, s2, b2) = second.start_dial("*71333", &[PCMU]);
        let r1 = first.finish_dial("*71333", &c1, s1, &b1).unwrap();
        let r2 = second.finish_dial("*71333", &c2, s2, &b2).unwrap();
        let pai = |p: &Phone| {
            p.last_final
                .as_ref()
                .unwrap()
                .headers
                .get(sip::Name::PAssertedIdentity)
                .is_some()
        };
        let (won, lost) = match (pai(&first), pai(&second)) {
            (true, false) => ((&mut first, r1), (&mut second, r2)),
            (false, true) => ((&mut second, r2), (&mut first, r1)),
            other => panic!("round {round}: exactly one retrieval must win, got {other:?}"),
        };
        assert_announcement(
            &lost.0.record(Duration::from_millis(500)),
            "no-call-parked-at",
        );
        let (winner, mut won_call) = won;
        assert_two_way(&room, &rooms, winner, &won_call);
        winner.bye(&mut won_call);
        room.request("BYE", Duration::from_secs(5))
            .map(|b| room.ok(&b))
            .expect("room gets BYE");
        let bye = lost
            .0
            .request("BYE", Duration::from_secs(15))
            .expect("announcement ends");
        lost.0.ok(&bye);
        let _ = lost.1;
        server.wait_idle();
    }
}

/// Nobody retrieves: after park_timeout_s the parker's phone rings with
/// "Parked: <party>"; answered, it is a normal call (and the parked party is
/// not left hanging when the parker hangs up). Unanswered for
/// park_comeback_ring_s: the tenant's fallback rings; unanswered too, the
/// parked party hears goodbye and is hung up.
#[test]
fn unretrieved_calls_come_back_then_fall_back_then_say_goodbye() {
    if !peers_ready("unretrieved_calls_come_back", &[]) {
        return;
    }
    let server = Server::start_full(
        "park-comeback",
        "",
        "park_timeout_s = 2\npark_comeback_ring_s = 2\npark_fallback = \"444\"",
    );
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = Phone::new(&server.sip_addr(), "555", "secret-555");
    jane.register();

    // Round 1: John answers the comeback.
    let (_, mut rooms) = held_call(&mut john, &mut room);
    assert_eq!(park(&mut john, "*70333"), "*71333");
    let inv = john
        .request("INVITE", Duration::from_secs(5))
        .expect("the comeback rings John");
    let from = inv.headers.get_str(sip::Name::From).unwrap();
    assert!(
        from.starts_with("\"Parked: Conference Room\" <sip:444@"),
        "{from}"
    );
    let johns = john.answer(&inv, &[PCMU]);
    assert_two_way(&room, &rooms, &john, &johns);
    let mut johns = johns;
    assert_eq!(john.bye(&mut johns).status, 200);
    room.request("BYE", Duration::from_secs(5))
        .map(|b| room.ok(&b))
        .expect("the parked party is not left hanging");
    server.wait_idle();

    // Round 2: Jane calls John; John parks her under a random code.
    let (cid, seq, branch) = jane.start_dial("333", &[PCMU]);
    let inv = john.ring();
    let mut johns = john.answer(&inv, &[PCMU]);
    let janes = jane.finish_dial("333", &cid, seq, &branch).unwrap();
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    assert!(park(&mut john, "*70").starts_with("*71*"));
    let _ = janes;
    // John ignores the comeback; after 2 s it is cancelled and 444 (the fallback) rings.
    let inv = john
        .request("INVITE", Duration::from_secs(5))
        .expect("comeback to John");
    let cancel = john
        .request("CANCEL", Duration::from_secs(5))
        .expect("comeback cancelled after the ring time");
    john.ok(&cancel);
    john.terminated(&inv);
    let inv = room
        .request("INVITE", Duration::from_secs(5))
        .expect("the fallback extension rings");
    let from = inv.headers.get_str(sip::Name::From).unwrap();
    assert!(from.starts_with("\"Parked: Jane Roe\" <sip:555@"), "{from}");
    let cancel = room
        .request("CANCEL", Duration::from_secs(5))
        .expect("fallback cancelled too");
    room.ok(&cancel);
    room.terminated(&inv);
    // Jane hears goodbye and is hung up.
    // She heard music until now; the goodbye frames follow in order.
    let heard = jane.record(Duration::from_millis(1500));
    let goodbye = asset("prompts/en/goodbye.ul");
    let from = heard
        .iter()
        .position(|(_, p)| frame_index(&goodbye, p) == Some(0))
        .expect("goodbye starts");
    let full = goodbye.len() / 160; // the last, partial frame is padded with silence
    let frames: Vec<Option<usize>> = heard[from..]
        .iter()
        .take(full)
        .map(|(_, p)| frame_index(&goodbye, p))
        .collect();
    assert!(frames.len() >= 10, "{} goodbye frames", frames.len());
    assert!(
        frames.iter().enumerate().all(|(i, f)| *f == Some(i)),
        "goodbye frames out of order: {frames:?}"
    );
    jane.request("BYE", Duration::from_secs(5))
        .map(|b| jane.ok(&b))
        .expect("then hung up");
    server.wait_idle();
    let records = server.call_records(4);
    let parked = records
        .iter()
        .find(|r| r["caller"] == "555")
        .expect("Jane's call");
    let events = parked["events"].as_str().unwrap();
    for e in [
        "not retrieved in 2 s: ringing 333 back",
        "comeback unanswered: to fallback 444",
        "comeback unanswered: goodbye",
    ] {
        assert!(events.contains(e), "missing '{e}' in:\n{events}");
    }
    let _ = &mut rooms;
}

/// A phone's Park key: REFER with Refer-To *70333 parks the other party,
/// with the sipfrag NOTIFYs the transferor expects; then the transferor is
/// released and anyone retrieves with *71333. A REFER elsewhere is refused
/// and the call stays.
#[test]
fn park_by_transfer() {
    if !peers_ready("park_by_transfer", &[]) {
        return;
    }
    let server = Server::start("park-refer");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");
    let carrier = format!("127.0.0.1:{}", server.carrier_port());
    let mut client = Phone::at(&server.sip_addr(), "15559870001", "", &carrier);
    let (cid, seq, branch) = client.start_trusted_dial("15550100333", &[PCMU]);
    let inv = john.ring();
    let mut johns = john.answer(&inv, &[PCMU]);
    let clients = client
        .finish_dial("15550100333", &cid, seq, &branch)
        .unwrap();

    assert_eq!(
        john.refer(&mut johns, "*71333").status,
        501,
        "a retrieval number is no transfer target"
    );
    assert_eq!(
        john.refer(&mut johns, "*70999").status,
        404,
        "not an extension"
    );
    assert_eq!(server.status()["calls"], 1, "the call stays");

    assert_eq!(john.refer(&mut johns, "*70333").status, 202);
    let mut frags = Vec::new();
    while let Some(n) = john.request("NOTIFY", Duration::from_secs(3)) {
        john.ok(&n);
        frags.push(String::from_utf8_lossy(&n.body).trim().to_string());
        if frags.last().is_some_and(|f| f.contains("200")) {
            break;
        }
    }
    assert_eq!(frags, ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]);
    let bye = john
        .request("BYE", Duration::from_secs(3))
        .expect("the transferor is released");
    john.ok(&bye);
    client.flush_rtp();
    assert_music(&client.record(Duration::from_millis(700)));

    // Jane may not retrieve; the room may.
    expect_announcement(&mut jane, "*71333", "retrieve-not-allowed");
    let rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    assert_two_way(&client, &clients, &room, &rooms);
    let mut rooms = rooms;
    room.bye(&mut rooms);
    client
        .request("BYE", Duration::from_secs(5))
        .map(|b| client.ok(&b))
        .expect("client gets BYE");
    server.wait_idle();
    let records = server.call_records(3);
    let main = records
        .iter()
        .find(|r| r["callee"] == "15550100333")
        .unwrap();
    assert!(main["features"]
        .as_str()
        .unwrap()
        .contains("park-by-transfer"));
}

/// 200 park-and-retrieve cycles at once against one server: caller i calls
/// parker i, who holds and parks under his own extension; retriever i
/// retrieves. Each pair sends its own tone and must hear exactly that one:
/// every call is connected to the right party.
#[test]
fn two_hundred_parallel_park_and_retrieve_cycles() {
    if !peers_ready("two_hundred_parallel_park_and_retrieve_cycles", &[]) {
        return;
    }
    const N: usize = 200;
    let mut extensions = String::new();
    for i in 0..N {
        for base in [4000, 5000, 6000] {
            let n = base + i;
            extensions.push_str(&format!(
                "[[tenants.extensions]]\nnumber = \"{n}\"\npassword = \"secret-{n}\"\n\n"
            ));
        }
    }
    let server = Server::start_rtp(
        "park-200",
        "max_auth_failures_per_minute = 100000",
        &extensions,
        (26000, 31999),
    );
    let addr = server.sip_addr();
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..N)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let phone = |n: usize| {
                    let mut p = Phone::new(&addr, &n.to_string(), &format!("secret-{n}"));
                    p.register();
                    p
                };
                let (mut caller, mut parker, mut retriever) =
                    (phone(4000 + i), phone(5000 + i), phone(6000 + i));
                let (_, callers) = held_call(&mut parker, &mut caller);
                let number = park(&mut parker, &format!("*70{}", 5000 + i));
                if number != format!("*71{}", 5000 + i) {
                    return Err(format!("{i}: parked as {number}"));
                }
                let retrievers = retriever
                    .dial(&number, &[PCMU])
                    .map_err(|s| format!("{i}: retrieve got {s}"))?;
                let freq = 400.0 + 10.0 * i as f64;
                caller.flush_rtp();
                retriever.flush_rtp();
                let t1 = talk_freq(&caller, &callers, freq);
                let t2 = talk_freq(&retriever, &retrievers, freq);
                // Both listen while both talk. The caller hears the music
                // until the retriever's first packet reaches the switch,
                // which on two busy cores can take a few hundred ms: its
                // first 300 ms are not the question.
                let callers_ear = Phone::with_rtp(caller.rtp.try_clone().unwrap());
                let listening =
                    std::thread::spawn(move || callers_ear.record(Duration::from_millis(900)));
                let heard_r = retriever.record(Duration::from_millis(900));
                let heard_c = listening.join().unwrap();
                t1.join().unwrap();
                t2.join().unwrap();
                for (who, heard, skip) in [("retriever", heard_r, 3), ("caller", heard_c, 15)] {
                    let samples = decode(&heard[heard.len().min(skip)..]);
                    let best = (0..N)
                        .map(|j| 400.0 + 10.0 * j as f64)
                        .max_by(|a, b| {
                            tone_power(&samples, *a).total_cmp(&tone_power(&samples, *b))
                        })
                        .unwrap();
                    if best != freq {
                        return Err(format!(
                            "{i}: the {who} hears {best} Hz, not its partner's {freq} Hz"
                        ));
                    }
                }
                let mut retrievers = retrievers;
                retriever.bye(&mut retrievers);
                caller
                    .request("BYE", Duration::from_secs(10))
                    .map(|b| caller.ok(&b))
                    .ok_or(format!("{i}: no BYE"))?;
                Ok(())
            })
        })
        .collect();
    let failures: Vec<String> = workers
        .into_iter()
        .filter_map(|w| w.join().unwrap().err())
        .collect();
    eprintln!(
        "{N} park/retrieve cycles in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {N} cycles failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    server.wait_idle();
    assert_eq!(server.status()["parked"], 0);
}

/// Sends `freq` from `phone` for a second on a thread.
fn talk_freq(phone: &Phone, call: &Call, freq: f64) -> std::thread::JoinHandle<()> {
    let sock = phone.rtp.try_clone().unwrap();
    let (to, pt) = (call.media, call.pt);
    std::thread::spawn(move || Phone::with_rtp(sock).send_tone(to, pt, freq, 50))
}

/// Wrong retrieval attempts are limited per extension and source address:
/// after ten misses in a minute even the right code is refused there, so
/// four-digit codes cannot be found by trying them all.
#[test]
fn retrieval_guessing_is_rate_limited() {
    if !peers_ready("retrieval_guessing_is_rate_limited", &[]) {
        return;
    }
    let server = Server::start("park-guess");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (_, rooms) = held_call(&mut john, &mut room);
    let number = park(&mut john, "*70");
    let code: u32 = number.trim_start_matches("*71*").parse().unwrap();
    let mut guesser = Phone::new(&server.sip_addr(), "333", "secret-333");
    for n in 0..10 {
        let wrong = format!("*71*{:04}", (code + 1 + n) % 10000);
        let mut call = guesser
            .dial(&wrong, &[PCMU])
            .expect("answered with an announcement");
        assert!(guesser
            .last_final
            .as_ref()
            .unwrap()
            .headers
            .get(sip::Name::PAssertedIdentity)
            .is_none());
        guesser.bye(&mut call);
    }
    let mut call = guesser.dial(&number, &[PCMU]).unwrap();
    assert!(
        guesser
            .last_final
            .as_ref()
            .unwrap()
            .headers
            .get(sip::Name::PAssertedIdentity)
            .is_none(),
        "the right code is refused after ten misses"
    );
    guesser.bye(&mut call);
    assert_eq!(server.status()["parked"], 1, "and the call stays parked");
    // Another extension is not affected.
    let mut other = Phone::new(&server.sip_addr(), "444", "secret-444");
    let others = other.dial(&number, &[PCMU]).expect("retrieved");
    assert!(other
        .last_final
        .as_ref()
        .unwrap()
        .headers
        .get(sip::Name::PAssertedIdentity)
        .is_some());
    assert_two_way(&room, &rooms, &other, &others);
    server.record_where(|r| r["cause"] == "too many retrieval attempts");
}
