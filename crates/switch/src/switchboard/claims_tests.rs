//! A lot shared by the nodes of a cluster, driven deterministically: a
//! park waits for its position's claim in the store, parks only if the
//! claim wins, and is refused when it loses or the store does not answer.

use super::call_tests::{directory_with, in_dialog, JOHN, ROOM};
use super::harness::World;
use super::*;
use crate::output::MediaCommand;
use crate::prompts::Prompt;
use sip::SipHeaders;
use std::time::Duration;

/// A world whose lot is shared with other nodes: John talks to the room
/// and holds it.
fn shared_lot_with_john_holding() -> (World, Response) {
    let cfg = SwitchConfig {
        default_tenant: Some("acme".into()),
        persist_interval: Duration::ZERO,
        shared_lot: true,
        ..Default::default()
    };
    let mut w = World::with(cfg, directory_with(None));
    w.register("444", ROOM);
    w.register("333", JOHN);
    let (did, _) = w.invite("333", JOHN, "444");
    let inv = did.request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    let held = super::call_tests::SDP.replace("sendrecv", "sendonly");
    w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN));
    (w, ok)
}

#[test]
fn a_shared_lots_park_waits_for_its_claim_and_parks_only_if_it_wins() {
    let (mut w, _) = shared_lot_with_john_holding();
    let (did, _) = w.invite("333", JOHN, "*70333");
    did.response_to(JOHN, 100);
    let claim = did.claims[0].clone();
    assert_eq!(
        (
            claim.parked.position.as_str(),
            claim.parked.retrieval.as_str()
        ),
        ("333", "*71333")
    );
    assert_eq!(w.sw.parked_count(), 0, "not parked before the claim wins");
    // Meanwhile the position is this node's: a second park here is refused.
    w.sw.handle_claim(w.now, claim.id, true);
    let did = w.collect();
    did.response_to(JOHN, 200);
    assert_eq!(w.sw.parked_count(), 1);
}

#[test]
fn a_lost_claim_is_announced_as_a_taken_position() {
    let (mut w, _) = shared_lot_with_john_holding();
    let (did, _) = w.invite("333", JOHN, "*70333");
    let id = did.claims[0].id;
    w.sw.handle_claim(w.now, id, false);
    let did = w.collect();
    did.response_to(JOHN, 200);
    assert!(did
        .media
        .iter()
        .any(|m| matches!(m, MediaCommand::Play(_, p) if p == &vec![Prompt::PositionTaken])));
    assert_eq!(w.sw.parked_count(), 0);
    // A claim the store never answers is refused after a while.
    let (mut w, _) = shared_lot_with_john_holding();
    let (did, _) = w.invite("333", JOHN, "*70333");
    assert_eq!(did.claims.len(), 1);
    let did = w.advance(Duration::from_secs(3));
    did.response_to(JOHN, 200);
    assert!(did
        .media
        .iter()
        .any(|m| matches!(m, MediaCommand::Play(_, p) if p == &vec![Prompt::Goodbye])));
    assert_eq!(w.sw.parked_count(), 0);
}

#[test]
fn a_park_by_transfer_claims_its_position_too() {
    for won in [false, true] {
        let (mut w, ok) = shared_lot_with_john_holding();
        let refer = in_dialog(&ok, "REFER", 4, "", JOHN).replace(
            "Content-Length: 0",
            "Refer-To: <sip:*70333@acme.example>\r\nContent-Length: 0",
        );
        let did = w.from(JOHN, &refer);
        assert_eq!(did.claims.len(), 1, "the position is claimed first");
        assert!(did
            .to(JOHN)
            .iter()
            .all(|m| !matches!(m, Message::Response(r) if r.status == 202)));
        w.sw.handle_claim(w.now, did.claims[0].id, won);
        let did = w.collect();
        if won {
            did.response_to(JOHN, 202);
            assert_eq!(w.sw.parked_count(), 1);
        } else {
            assert_eq!(did.response_to(JOHN, 486).reason, "Parking position taken");
            assert_eq!(w.sw.parked_count(), 0);
        }
    }
}

#[test]
fn a_retrieval_this_node_cannot_serve_goes_to_the_node_holding_it() {
    let (mut w, _) = shared_lot_with_john_holding();
    let (did, _) = w.invite("333", JOHN, "*71444");
    did.response_to(JOHN, 100);
    let lookup = did.lookups[0].clone();
    assert_eq!(
        (lookup.tenant.as_str(), lookup.position.as_str()),
        ("acme", "444")
    );
    let other_node = "127.0.0.12:5060";
    w.sw.handle_located(w.now, lookup.id, Some(other_node.parse().unwrap()));
    let did = w.collect();
    let forwarded = did.request_to(other_node, Method::Invite);
    assert_eq!(forwarded.uri.to_string(), "sip:*71444@acme.example");
    let proof = forwarded
        .headers
        .get(Name::ParklineNode)
        .expect("the node proof");
    let call_id = forwarded.call_id().unwrap();
    assert!(crate::node_proof::verify(
        &SwitchConfig::default().secret,
        call_id,
        proof
    ));
    assert!(forwarded
        .headers
        .get_str(Name::From)
        .unwrap()
        .contains("sip:333@"));

    // Nobody holds it: nothing is parked there.
    let (did, _) = w.invite("333", JOHN, "*71555");
    let id = did.lookups[0].id;
    w.sw.handle_located(w.now, id, None);
    let did = w.collect();
    did.response_to(JOHN, 200);
    assert!(did.media.iter().any(
        |m| matches!(m, MediaCommand::Play(_, p) if p.first() == Some(&Prompt::NoCallParkedAt))
    ));
}

#[test]
fn another_nodes_request_is_taken_for_its_extension_only_with_a_valid_proof() {
    let (mut w, _) = shared_lot_with_john_holding();
    let node = "127.0.0.12:5060";
    let invite = |proof: &str| {
        format!("INVITE sip:*71444@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {node};branch=z9hG4bKnode{proof}\r\nMax-Forwards: 70\r\nFrom: <sip:444@acme.example>;tag=n1\r\nTo: <sip:*71444@acme.example>\r\nCall-ID: node-call-{proof}\r\nCSeq: 1 INVITE\r\nContact: <sip:node@{node}>\r\nX-Parkline-Node: {proof}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{}", super::call_tests::SDP.len(), super::call_tests::SDP)
    };
    // A forged proof is a stranger: challenged.
    let did = w.from(node, &invite("00ff"));
    did.response_to(node, 407);
    // The real one is 444 asking; nothing parked at 444 here, and it is
    // not sent on to yet another node.
    let good = crate::node_proof::proof(&SwitchConfig::default().secret, b"node-call-x");
    let did = w.from(
        node,
        &invite(&good).replace(&format!("node-call-{good}"), "node-call-x"),
    );
    assert!(did.lookups.is_empty());
    did.response_to(node, 200);
}

/// John's call to the room, parked at 333 on a shared lot.
fn shared_lot_with_a_parked_call() -> World {
    let (mut w, _) = shared_lot_with_john_holding();
    let (did, _) = w.invite("333", JOHN, "*70333");
    let id = did.claims[0].id;
    w.sw.handle_claim(w.now, id, true);
    w.collect();
    assert_eq!(w.sw.parked_count(), 1);
    w
}

#[test]
fn an_operators_move_in_a_shared_lot_claims_the_new_position_first() {
    use crate::lot::Position;
    let mut w = shared_lot_with_a_parked_call();
    let from = Position::from_label("333");
    // Another node holds 444: the claim loses and the call stays at 333.
    let started =
        w.sw.move_parked(w.now, "acme", &from, Position::from_label("444"), 7);
    assert_eq!(started, Ok(MoveStarted::Claiming));
    let did = w.collect();
    let claim = did.claims[0].clone();
    assert_eq!(
        (
            claim.parked.position.as_str(),
            claim.parked.retrieval.as_str()
        ),
        ("444", "*71444")
    );
    w.sw.handle_claim(w.now, claim.id, false);
    let did = w.collect();
    assert_eq!(did.moves.len(), 1);
    assert_eq!(
        (did.moves[0].request, did.moves[0].result.clone().err()),
        (7, Some(MoveRefusal::Taken))
    );
    assert_eq!(w.sw.parked()[0].position, "333", "not moved");

    // Meanwhile nothing else here may take a position being claimed; once
    // the claim wins, the call moves.
    let started =
        w.sw.move_parked(w.now, "acme", &from, Position::from_label("444"), 8);
    assert_eq!(started, Ok(MoveStarted::Claiming));
    let claim = w.collect().claims[0].clone();
    let again =
        w.sw.move_parked(w.now, "acme", &from, Position::from_label("444"), 9);
    assert_eq!(again, Err(MoveRefusal::Taken), "claimed by the first move");
    w.sw.handle_claim(w.now, claim.id, true);
    let did = w.collect();
    let moved = did.moves[0].result.clone().expect("moved");
    assert_eq!(
        (did.moves[0].request, moved.retrieval.as_str()),
        (8, "*71444")
    );
    assert_eq!(w.sw.parked()[0].position, "444");
}
