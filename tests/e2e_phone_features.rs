//! Busy lamps, park alerts and text messages end to end, with the test
//! phones over loopback: a BLF key on `*71333` lights within 200 ms of a
//! park and goes out within 200 ms of the retrieval; a key on an extension
//! follows it through ringing, talking and hang-up; another tenant's
//! position cannot be watched; the extension a call is parked under gets a
//! MESSAGE, the parker one when it is picked up or given up; MESSAGE
//! between extensions is relayed, refused across tenants; a phone that
//! vanishes mid-call is found by probes and its call ended.

mod support;

use std::time::{Duration, Instant};
use support::phone::{connect, park, Phone};
use support::{peers_ready, Server};

const PCMU: u8 = 0;
/// How soon after a change its NOTIFY must be there.
const PROMPT: Duration = Duration::from_millis(200);

/// The lamp's next state, which must come by `deadline`.
fn lamp_by(phone: &mut Phone, deadline: Instant, what: &str) -> support::events::LampNotice {
    let wait = deadline.saturating_duration_since(Instant::now());
    phone
        .lamp(wait.max(Duration::from_millis(1)))
        .unwrap_or_else(|| panic!("no NOTIFY within 200 ms of {what}"))
}

#[test]
fn a_blf_key_on_a_park_position_lights_at_the_park_and_goes_out_at_the_retrieval() {
    if !peers_ready("a_blf_key_on_a_park_position_lights", &[]) {
        return;
    }
    let server = Server::start("lamps-position");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");

    // The room's BLF key is set to *71333.
    assert_eq!(room.subscribe("*71333", 600).status, 200);
    let first = room.lamp(Duration::from_secs(2)).expect("initial NOTIFY");
    assert_eq!(first.state, "terminated", "{}", first.body);
    assert!(first.subscription.starts_with("active;expires="));

    // Jane calls John; John parks her at *70333.
    let (_janes, mut johns) = connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    let mut call = john.dial("*70333", &[PCMU]).expect("park answered");
    let parked_at = Instant::now();
    let lit = lamp_by(&mut room, parked_at + PROMPT, "the park");
    assert_eq!(lit.state, "confirmed", "{}", lit.body);
    assert!(
        lit.body
            .contains("display=\"Jane Roe\">sip:555@demo.parkline.test</identity>"),
        "the key shows who waits: {}",
        lit.body
    );
    let released = john.request("BYE", Duration::from_secs(3)).unwrap();
    john.ok(&released);
    assert_eq!(john.bye(&mut call).status, 200);

    // The room presses the key (it dials *71333): the lamp goes out.
    let mut rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    let retrieved_at = Instant::now();
    let out = lamp_by(&mut room, retrieved_at + PROMPT, "the retrieval");
    assert_eq!(out.state, "terminated", "{}", out.body);
    assert_eq!(room.bye(&mut rooms).status, 200);
}

#[test]
fn a_blf_key_on_an_extension_follows_ringing_talking_and_hang_up() {
    if !peers_ready("a_blf_key_on_an_extension_follows", &[]) {
        return;
    }
    let server = Server::start("lamps-extension");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");
    assert_eq!(room.subscribe("333", 600).status, 200);
    assert_eq!(
        room.lamp(Duration::from_secs(2)).unwrap().state,
        "terminated"
    );

    let (call_id, seq, branch) = jane.start_dial("333", &[PCMU]);
    let inv = john.ring();
    let rang_at = Instant::now();
    let ringing = lamp_by(&mut room, rang_at + PROMPT, "the ringing");
    assert_eq!(ringing.state, "early", "{}", ringing.body);
    let mut johns = john.answer(&inv, &[PCMU]);
    let answered_at = Instant::now();
    let mut janes = jane
        .finish_dial("333", &call_id, seq, &branch)
        .expect("answered");
    let talking = lamp_by(&mut room, answered_at + PROMPT, "the answer");
    assert_eq!(talking.state, "confirmed", "{}", talking.body);
    assert!(talking.body.contains("Jane Roe"), "{}", talking.body);
    assert_eq!(john.bye(&mut johns).status, 200);
    let hung_up_at = Instant::now();
    let idle = lamp_by(&mut room, hung_up_at + PROMPT, "the hang-up");
    assert_eq!(idle.state, "terminated", "{}", idle.body);
    let bye = jane.request("BYE", Duration::from_secs(3)).unwrap();
    jane.ok(&bye);
    let _ = &mut janes;
}

#[test]
fn another_tenants_position_cannot_be_watched_nor_messaged() {
    if !peers_ready("another_tenants_position_cannot_be_watched", &[]) {
        return;
    }
    let server = Server::start("lamps-tenant");
    let mut john = server.registered("333");
    john.domain = "beta.parkline.test".into();
    assert_eq!(john.subscribe("645100", 600).status, 403);
    assert_eq!(john.message("100", "hello beta").status, 403);
    assert!(john.lamp(Duration::from_millis(300)).is_none());
    assert_eq!(server.status()["subscriptions"], 0);
    // An unknown event package: 489 with the packages served.
    let mut room = server.registered("444");
    let resp = room.authed("SUBSCRIBE", "333", "Event: message-summary\r\n", "");
    assert_eq!(resp.status, 489);
    assert_eq!(
        resp.headers.get_str(sip::Name::AllowEvents).as_deref(),
        Some("dialog, presence")
    );
}

#[test]
fn park_alerts_tell_the_extension_and_the_parker() {
    if !peers_ready("park_alerts_tell_the_extension_and_the_parker", &[]) {
        return;
    }
    let server = Server::start("lamps-alerts");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");

    // Jane calls the room; the room parks her under John's extension.
    let (_janes, mut rooms) = connect(&mut jane, &mut room, &[PCMU], &[PCMU]);
    assert_eq!(room.reinvite(&mut rooms, "sendonly").status, 200);
    assert_eq!(park(&mut room, "*70333"), "*71333");
    let alert = john.text(Duration::from_secs(2)).expect("John is told");
    let text = String::from_utf8_lossy(&alert.body).into_owned();
    assert_eq!(
        text,
        "Jane Roe <555> is parked for you by 444. Dial *71333 to pick up."
    );
    assert!(alert
        .headers
        .get_str(sip::Name::From)
        .unwrap()
        .contains("<sip:*71333@"));

    // John picks it up: the room learns who took it.
    let mut johns = john.dial("*71333", &[PCMU]).expect("retrieved");
    let told = room
        .text(Duration::from_secs(2))
        .expect("the parker is told");
    let text = String::from_utf8_lossy(&told.body).into_owned();
    assert!(
        text.starts_with("Your parked call from Jane Roe <555> (*71333) was picked up by 333"),
        "{text}"
    );
    assert_eq!(john.bye(&mut johns).status, 200);
    let bye = jane.request("BYE", Duration::from_secs(3)).unwrap();
    jane.ok(&bye);

    // Parked again (random code), Jane gives up: the room learns that too.
    let (mut janes, mut rooms) = connect(&mut jane, &mut room, &[PCMU], &[PCMU]);
    assert_eq!(room.reinvite(&mut rooms, "sendonly").status, 200);
    let code = park(&mut room, "*70");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(jane.bye(&mut janes).status, 200);
    let told = room
        .text(Duration::from_secs(2))
        .expect("the parker is told");
    let text = String::from_utf8_lossy(&told.body).into_owned();
    assert_eq!(
        text,
        format!("Jane Roe <555> gave up after 1 s parked at {code}.")
    );
}

#[test]
fn messages_between_extensions_reach_every_phone_of_the_addressee() {
    if !peers_ready("messages_between_extensions", &[]) {
        return;
    }
    let server = Server::start("lamps-messages");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    assert_eq!(john.message("444", "lunch?").status, 202);
    let got = room.text(Duration::from_secs(2)).expect("relayed");
    assert_eq!(String::from_utf8_lossy(&got.body), "lunch?");
    assert!(got
        .headers
        .get_str(sip::Name::From)
        .unwrap()
        .starts_with("\"John Doe\" <sip:333@"));
    assert_eq!(john.message("999", "anyone?").status, 404);
    // A wrong password: 403.
    let mut stranger = Phone::new(&server.sip_addr(), "444", "wrong");
    assert_eq!(stranger.message("333", "hi").status, 403);
}

#[test]
fn a_phone_that_vanishes_mid_call_is_hung_up_within_two_probe_intervals() {
    if !peers_ready("a_phone_that_vanishes_mid_call", &[]) {
        return;
    }
    let server = Server::start_with("probe-dead-phone", "probe_interval_s = 2");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (mut johns, rooms) = connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    // Held (no RTP from John's side), so only the probes can tell.
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    let _ = rooms;
    drop(room); // the room's phone is gone: its socket closes
    let gone_at = Instant::now();
    let bye = john
        .request("BYE", Duration::from_secs(6))
        .expect("the call is ended");
    john.ok(&bye);
    let took = gone_at.elapsed();
    assert!(
        took <= Duration::from_millis(4500),
        "ended {took:?} after the phone vanished (two intervals: 4 s)"
    );
    server.wait_idle();
    let rec = &server.call_records(1)[0];
    assert_eq!(rec["cause"], "Phone stopped answering (OPTIONS probe)");
}

#[test]
fn a_parked_call_whose_parker_vanished_goes_straight_to_the_fallback() {
    if !peers_ready("a_parked_call_whose_parker_vanished", &[]) {
        return;
    }
    // Probes every second, so the parker's death is known before the
    // comeback is due (4 s).
    let server = Server::start_full(
        "probe-dead-parker",
        "probe_interval_s = 1",
        "park_timeout_s = 4\npark_comeback_ring_s = 20\npark_fallback = \"444\"",
    );
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");
    let (_janes, mut johns) = connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    park(&mut john, "*70333");
    let parked_at = Instant::now();
    drop(john); // John's phone dies with the call parked
                // Jane's phone lives on (it answers its probes while it waits).
    let jane = std::thread::spawn(move || {
        let _ = jane.request("BYE", Duration::from_secs(7));
        jane
    });
    let inv = room
        .request("INVITE", Duration::from_secs(12))
        .expect("the fallback rings");
    let after = parked_at.elapsed();
    assert!(
        after < Duration::from_millis(4800),
        "the fallback rang {after:?} after the park: straight at the 4 s comeback, not 5 s later"
    );
    assert!(inv
        .headers
        .get_str(sip::Name::From)
        .unwrap()
        .contains("Parked: Jane Roe"));
    assert!(server.log().contains("no reachable phone to ring back"));
    drop(jane.join().unwrap());
}

#[test]
fn a_parked_party_learns_who_picked_it_up_and_a_transferee_its_new_party() {
    if !peers_ready("a_parked_party_learns_who_picked_it_up", &[]) {
        return;
    }
    let server = Server::start("connected-line");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");
    // Jane calls John; John parks her; the room picks her up.
    let (_janes, mut johns) = connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    park(&mut john, "*70333");
    let mut rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    let shown = jane
        .connected_party(Duration::from_secs(2))
        .expect("Jane's phone is told");
    assert!(
        shown.starts_with("\"Conference Room\" <sip:444@"),
        "{shown}"
    );
    // The room transfers Jane to John: Jane's phone then shows John.
    assert_eq!(room.refer(&mut rooms, "333").status, 202);
    let inv = john.ring();
    let _johns = john.answer(&inv, &[PCMU]);
    let shown = jane
        .connected_party(Duration::from_secs(2))
        .expect("Jane's phone is told again");
    assert!(shown.starts_with("\"John Doe\" <sip:333@"), "{shown}");
}

#[test]
fn the_parked_party_hears_no_gap_between_the_music_and_the_retriever() {
    if !peers_ready("the_parked_party_hears_no_gap", &[]) {
        return;
    }
    let server = Server::start("retrieval-gap");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");
    let (_janes, mut johns) = connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    park(&mut john, "*70333");
    // Jane (parked) notes when each packet arrives, from music to the room.
    jane.flush_rtp();
    let sock = jane.rtp.try_clone().unwrap();
    let listener = std::thread::spawn(move || {
        let mut arrivals = Vec::new();
        let end = Instant::now() + Duration::from_millis(1800);
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            if let Ok(n) = sock.recv(&mut buf) {
                arrivals.push((Instant::now(), buf[..n].to_vec()));
            }
        }
        arrivals
    });
    std::thread::sleep(Duration::from_millis(300));
    let rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    // The room's phone starts sending only 300 ms after the answer.
    std::thread::sleep(Duration::from_millis(300));
    support::phone::talk(&room, &rooms, 600.0).join().unwrap();
    let arrivals = listener.join().unwrap();
    let longest = arrivals
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default();
    assert!(arrivals.len() > 60, "{} packets", arrivals.len());
    assert!(
        longest < Duration::from_millis(80),
        "a silent gap of {longest:?} between packets at the handover"
    );
    let tail: Vec<i16> = arrivals[arrivals.len() - 20..]
        .iter()
        .filter_map(|(_, p)| media::rtp::parse(p).map(|h| (h, p)))
        .flat_map(|(h, p)| {
            p[h.payload_at..h.payload_end]
                .iter()
                .map(|&b| media::g711::ulaw_to_linear(b))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        support::phone::tone_power(&tail, 600.0)
            > 10.0 * support::phone::tone_power(&tail, 1000.0).max(1.0),
        "it ends with the room's voice"
    );
}
