//! New calls read too late: refused through their transaction, the rest
//! acted on as before.

use super::call_tests::{directory_with, ports, world_with, JOHN, ROOM};
use super::harness::World;
use sip::{Method, Name};
use std::time::Duration;

fn world() -> World {
    let mut w = world_with(directory_with(None));
    w.register("444", ROOM);
    w
}

#[test]
fn a_call_read_too_late_gets_503_and_rings_nobody() {
    let mut w = world();
    let (did, _) = w.invite_read_after("333", JOHN, "444", "", Duration::from_millis(1600));
    let refused = did.response_to(JOHN, 503);
    assert_eq!(refused.reason, "Overloaded");
    assert_eq!(
        refused.headers.get_str(Name::RetryAfter).as_deref(),
        Some("5")
    );
    assert!(did.to(ROOM).is_empty(), "nobody rings");
    assert!(ports(&did.media).is_empty(), "no media port is opened");
    assert_eq!(w.sw.stats().late_refusals, 1);
    assert_eq!(w.sw.call_count(), 0);
}

#[test]
fn a_late_retransmission_finds_the_503_not_a_new_call() {
    let mut w = world();
    let (did, invite) = w.invite_read_after("333", JOHN, "444", "", Duration::from_millis(1600));
    did.response_to(JOHN, 503);
    // A copy of the same INVITE sent later is read at once: it is a
    // retransmission of the refused one.
    let again = w.from(JOHN, &invite);
    again.response_to(JOHN, 503);
    assert!(again.to(ROOM).is_empty());
    assert_eq!(w.sw.stats().late_refusals, 1, "counted once");
}

#[test]
fn a_call_read_within_the_limit_rings() {
    let mut w = world();
    let (did, _) = w.invite_read_after("333", JOHN, "444", "", Duration::from_millis(1400));
    did.response_to(JOHN, 100);
    did.request_to(ROOM, Method::Invite);
    assert_eq!(w.sw.stats().late_refusals, 0);
}

#[test]
fn without_a_limit_a_late_call_still_rings() {
    let mut w = world();
    w.sw.cfg.max_request_wait = None;
    let (did, _) = w.invite_read_after("333", JOHN, "444", "", Duration::from_secs(10));
    did.request_to(ROOM, Method::Invite);
}

#[test]
fn late_registrations_and_requests_in_a_dialog_are_acted_on() {
    let mut w = world();
    // A REGISTER read late is still a registration (the edge forks them,
    // a late answer takes no call twice).
    let reg = "REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKlate1;rport\r\nFrom: <sip:444@acme.example>;tag=r\r\nTo: <sip:444@acme.example>\r\nCall-ID: late-reg\r\nCSeq: 1 REGISTER\r\nContact: <sip:444@127.0.0.1:5090>\r\nContent-Length: 0\r\n\r\n";
    let challenge = w
        .read_late("127.0.0.1:5090", reg, Duration::from_secs(3))
        .response_to("127.0.0.1:5090", 401);
    assert_eq!(challenge.status, 401);
    // A call set up in time, hung up by a BYE read late: it ends.
    let (did, _) = w.invite("333", JOHN, "444");
    let inv = did.request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    let bye = super::call_tests::in_dialog(&ok, "BYE", 3, "", JOHN);
    let did = w.read_late(JOHN, &bye, Duration::from_secs(3));
    did.response_to(JOHN, 200);
    did.request_to(ROOM, Method::Bye);
    assert_eq!(w.sw.stats().late_refusals, 0);
}

#[test]
fn a_call_another_node_sends_for_its_caller_is_acted_on_however_late() {
    let mut w = world();
    let node = "127.0.0.12:5060";
    let proof = crate::node_proof::proof(&super::SwitchConfig::default().secret, b"node-late");
    let sdp = super::call_tests::SDP;
    let invite = format!("INVITE sip:444@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {node};branch=z9hG4bKnodelate\r\nMax-Forwards: 70\r\nFrom: <sip:333@acme.example>;tag=n1\r\nTo: <sip:444@acme.example>\r\nCall-ID: node-late\r\nCSeq: 1 INVITE\r\nContact: <sip:node@{node}>\r\nX-Parkline-Node: {proof}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len());
    let did = w.read_late(node, &invite, Duration::from_secs(3));
    did.request_to(ROOM, Method::Invite);
    assert_eq!(w.sw.stats().late_refusals, 0);
}

#[test]
fn a_park_read_late_is_still_served_by_the_node_holding_the_call() {
    let mut w = world();
    let (did, _) = w.invite("333", JOHN, "444");
    let inv = did.request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &super::call_tests::in_dialog(&ok, "ACK", 2, "", JOHN));
    // John holds (sendonly), then dials *70 late: only this node can park.
    let hold = super::call_tests::SDP.replace("sendrecv", "sendonly");
    let reinvite = super::call_tests::in_dialog(&ok, "INVITE", 3, &hold, JOHN);
    w.from(JOHN, &reinvite).response_to(JOHN, 200);
    let (did, _) = w.invite_read_after("333", JOHN, "*70", "", Duration::from_secs(3));
    assert!(
        did.to(JOHN)
            .iter()
            .all(|m| !matches!(m, sip::Message::Response(r) if r.status == 503)),
        "not refused for its wait"
    );
    assert_eq!(w.sw.stats().late_refusals, 0);
    assert_eq!(w.sw.parked_count(), 1, "parked");
}
