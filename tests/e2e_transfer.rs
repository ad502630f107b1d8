//! Blind transfer end to end (RFC 3515) with the test phones over loopback:
//! John talks to the room and transfers it to Jane; the room and Jane hear
//! each other, John is released. A busy target leaves John and the room
//! talking as before.

mod support;

use std::time::Duration;
use support::phone::{assert_two_way, connect, Phone};
use support::{peers_ready, Server};

const PCMU: u8 = 0;

/// The sipfrag of the next NOTIFY John gets (answered 200).
fn next_sipfrag(phone: &mut Phone) -> String {
    let notify = phone
        .request("NOTIFY", Duration::from_secs(10))
        .expect("a NOTIFY of the transfer's progress");
    phone.ok(&notify);
    String::from_utf8_lossy(&notify.body).trim().to_string()
}

#[test]
fn blind_transfer_connects_the_room_to_jane_and_a_busy_jane_leaves_the_call() {
    if !peers_ready("blind_transfer_connects_the_room_to_jane", &[]) {
        return;
    }
    let server = Server::start("transfer");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");

    // Busy first: the call goes on as before.
    let (mut johns, rooms) = connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    assert_eq!(john.refer(&mut johns, "555").status, 202);
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 100 Trying");
    jane.reject(486, "Busy Here");
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 486 Busy Here");
    assert_two_way(&john, &johns, &room, &rooms);

    // Then Jane answers: the room talks to her, John is released.
    assert_eq!(john.refer(&mut johns, "555").status, 202);
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 100 Trying");
    let inv = jane.ring();
    assert!(
        inv.headers
            .get_str(sip::Name::From)
            .unwrap()
            .starts_with("\"Conference Room\""),
        "Jane's phone shows who is transferred to her"
    );
    let janes = jane.answer(&inv, &[PCMU]);
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 200 OK");
    let bye = john
        .request("BYE", Duration::from_secs(5))
        .expect("John is released");
    john.ok(&bye);
    assert_two_way(&room, &rooms, &jane, &janes);
    let status = server.status();
    assert_eq!(status["calls"], 1, "{status}");
    let mut janes = janes;
    assert_eq!(jane.bye(&mut janes).status, 200);
    room.request("BYE", Duration::from_secs(5))
        .map(|b| room.ok(&b))
        .expect("the room is hung up");
    server.wait_idle();
    let rec = server.record_where(|r| r["features"].as_str().unwrap_or("").contains("transfer"));
    let events = rec["events"].as_str().unwrap();
    assert!(
        events.contains("transfer to 555 failed: 486")
            && events.contains("transferred by 333 to 555"),
        "{events}"
    );
}

#[test]
fn attended_transfer_joins_the_room_and_jane_without_ringing_anyone() {
    if !peers_ready("attended_transfer_joins_the_room_and_jane", &[]) {
        return;
    }
    let server = Server::start("attended-transfer");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");
    // The room calls John; John holds it and consults Jane.
    let (rooms, mut johns) = connect(&mut room, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    let (consult, janes) = connect(&mut john, &mut jane, &[PCMU], &[PCMU]);
    // John transfers: the room and Jane talk, John's two legs are released.
    assert_eq!(john.refer_replacing(&mut johns, &consult).status, 202);
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 200 OK");
    for _ in 0..2 {
        let bye = john
            .request("BYE", Duration::from_secs(3))
            .expect("John's legs are released");
        john.ok(&bye);
    }
    assert!(
        jane.request("INVITE", Duration::from_millis(300)).is_none(),
        "nobody rings again"
    );
    let (mut rooms, mut janes) = (rooms, janes);
    assert_two_way(&room, &rooms, &jane, &janes);
    let status = server.status();
    assert_eq!(
        (
            status["calls"].as_u64(),
            status["rtp_ports_in_use"].as_u64()
        ),
        (Some(1), Some(2)),
        "one call, two ports: John's are freed"
    );
    assert_eq!(room.bye(&mut rooms).status, 200);
    let bye = jane
        .request("BYE", Duration::from_secs(3))
        .expect("Jane hears the end");
    jane.ok(&bye);
    let _ = &mut janes;
}

#[test]
fn a_parked_then_retrieved_call_is_transferred_attended() {
    if !peers_ready("a_parked_then_retrieved_call_is_transferred_attended", &[]) {
        return;
    }
    let server = Server::start("attended-parked");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");
    // Jane calls John; John parks her; the room picks her up.
    let (mut janes, mut johns) = connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");
    let mut rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    // The room holds Jane, consults John, and hands Jane over.
    assert_eq!(room.reinvite(&mut rooms, "sendonly").status, 200);
    let (consult, mut johns) = connect(&mut room, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(room.refer_replacing(&mut rooms, &consult).status, 202);
    assert_eq!(next_sipfrag(&mut room), "SIP/2.0 200 OK");
    for _ in 0..2 {
        let bye = room
            .request("BYE", Duration::from_secs(3))
            .expect("released");
        room.ok(&bye);
    }
    assert_two_way(&jane, &janes, &john, &johns);
    assert_eq!(jane.bye(&mut janes).status, 200);
    let bye = john
        .request("BYE", Duration::from_secs(3))
        .expect("John hears the end");
    john.ok(&bye);
    let _ = &mut johns;
    server.wait_idle();
}

#[test]
fn a_call_from_the_trunk_is_transferred_blind() {
    if !peers_ready("a_call_from_the_trunk_is_transferred_blind", &["sipp"]) {
        return;
    }
    let server = Server::start("transfer-trunk");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let carrier_port = server.carrier_port().to_string();
    // The carrier echoes what it hears (and sends its INVITE without SDP).
    let carrier = support::sipp_background(
        &server,
        "carrier_delayed_offer.xml",
        &[
            "-s",
            "15550100333",
            "-p",
            &carrier_port,
            "-rtp_echo",
            "-d",
            "6000",
        ],
    );
    let inv = john.ring();
    let mut johns = john.answer(&inv, &[PCMU]);
    assert_eq!(john.refer(&mut johns, "444").status, 202);
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 100 Trying");
    let inv = room.ring();
    assert!(
        inv.headers
            .get_str(sip::Name::From)
            .unwrap()
            .contains("15559870002"),
        "the room sees the carrier's caller"
    );
    let rooms = room.answer(&inv, &[PCMU]);
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 200 OK");
    let bye = john
        .request("BYE", Duration::from_secs(3))
        .expect("John is released");
    john.ok(&bye);
    // The room's tone comes back from the carrier's echo: both directions.
    std::thread::sleep(Duration::from_millis(100));
    room.flush_rtp();
    let tone = support::phone::talk(&room, &rooms, 700.0);
    let heard = room.record(Duration::from_millis(900));
    tone.join().unwrap();
    let samples = support::phone::decode(&heard);
    assert!(
        support::phone::tone_power(&samples, 700.0)
            > 10.0 * support::phone::tone_power(&samples, 1300.0).max(1.0),
        "the room does not hear itself through the carrier ({} packets)",
        heard.len()
    );
    let bye = room
        .request("BYE", Duration::from_secs(10))
        .expect("the carrier hangs up");
    room.ok(&bye);
    let (rc, log) = carrier.join().unwrap();
    assert_eq!(rc, 0, "carrier scenario failed:\n{log}");
}

#[test]
fn an_invite_with_replaces_takes_over_a_call_leg() {
    if !peers_ready("an_invite_with_replaces_takes_over_a_call_leg", &[]) {
        return;
    }
    let server = Server::start("invite-replaces");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");
    let (johns, rooms) = connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    // Jane's phone is handed the room's dialog (as the switch sees it:
    // the room's Call-ID, the switch's tag, the room's tag) and takes over.
    let tag = |v: &str| v.split("tag=").nth(1).unwrap().to_string();
    jane.invite_headers = format!(
        "Replaces: {};to-tag={};from-tag={}\r\n",
        rooms.call_id,
        tag(&rooms.remote),
        tag(&rooms.local)
    );
    let janes = jane.dial("444", &[PCMU]).expect("the switch answers");
    let bye = room
        .request("BYE", Duration::from_secs(3))
        .expect("the room is replaced");
    room.ok(&bye);
    assert_two_way(&john, &johns, &jane, &janes);
    let mut johns = johns;
    assert_eq!(john.bye(&mut johns).status, 200);
    let bye = jane
        .request("BYE", Duration::from_secs(3))
        .expect("Jane hears the end");
    jane.ok(&bye);
    server.wait_idle();
    let rec = server.record_where(|r| r["callee"] == "444");
    assert!(
        rec["events"]
            .as_str()
            .unwrap()
            .contains("leg replaced by 555"),
        "{rec}"
    );
}
