//! Deterministic tests of the transaction layer with a fake clock.

use super::*;
use crate::parser::{parse_datagram, Limits};
use crate::Message;
use std::time::Duration;

fn request(method: &str, branch: &str) -> Request {
    let text = format!(
        "{method} sip:333@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\nFrom: <sip:a@acme.example>;tag=1\r\nTo: <sip:333@acme.example>\r\nCall-ID: tx-test\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    match parse_datagram(&Bytes::from(text), &Limits::default()).unwrap() {
        Some(Message::Request(r)) => r,
        _ => panic!(),
    }
}

fn sends(layer: &mut Layer<u8>) -> usize {
    layer
        .drain_outputs()
        .filter(|o| matches!(o, Output::Transmit(..)))
        .count()
}

#[test]
fn non_invite_server_absorbs_retransmissions_then_ends_after_timer_j() {
    let t0 = Instant::now();
    let mut layer = Layer::new(Timers::default());
    let req = request("OPTIONS", "z9hG4bKa");
    let Some(Incoming::New(key)) = layer.handle_request(t0, &req, 1, false) else {
        panic!()
    };
    assert_eq!(
        layer.handle_request(t0, &req, 1, false),
        Some(Incoming::Retransmission)
    );
    assert_eq!(sends(&mut layer), 0, "nothing to resend before a response");
    layer.respond(t0, &key, &Response::to_request(&req, 200, "OK"));
    assert_eq!(sends(&mut layer), 1);
    layer.handle_request(t0, &req, 1, false);
    assert_eq!(
        sends(&mut layer),
        1,
        "the 200 is resent for a retransmitted request"
    );
    assert_eq!(layer.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    layer.handle_timeout(t0 + Duration::from_secs(32));
    assert!(layer.is_empty());
}

#[test]
fn invite_server_retransmits_final_with_backoff_until_ack() {
    let t0 = Instant::now();
    let mut layer = Layer::new(Timers::default());
    let req = request("INVITE", "z9hG4bKb");
    let Some(Incoming::New(key)) = layer.handle_request(t0, &req, 1, false) else {
        panic!()
    };
    layer.respond(
        t0,
        &key,
        &Response::to_request(&req, 407, "Proxy Authentication Required"),
    );
    assert_eq!(sends(&mut layer), 1);
    // Timer G: 0.5, 1, 2, 4, 4 s ...
    let mut at = t0;
    for step in [500, 1000, 2000, 4000, 4000] {
        at += Duration::from_millis(step);
        assert_eq!(layer.poll_timeout(), Some(at));
        layer.handle_timeout(at);
        assert_eq!(sends(&mut layer), 1, "retransmission at {step} ms");
    }
    let ack = request("ACK", "z9hG4bKb");
    assert_eq!(
        layer.handle_request(at, &ack, 1, false),
        Some(Incoming::AckAbsorbed)
    );
    layer.handle_timeout(at + Duration::from_secs(5));
    assert!(layer.is_empty(), "timer I ends the transaction");
}

#[test]
fn invite_server_times_out_without_ack() {
    let t0 = Instant::now();
    let mut layer = Layer::new(Timers::default());
    let req = request("INVITE", "z9hG4bKc");
    let Some(Incoming::New(key)) = layer.handle_request(t0, &req, 1, false) else {
        panic!()
    };
    layer.respond(t0, &key, &Response::to_request(&req, 486, "Busy Here"));
    let mut now = t0;
    let mut timed_out = false;
    while let Some(d) = layer.poll_timeout() {
        now = d;
        layer.handle_timeout(now);
        timed_out |= layer
            .drain_outputs()
            .any(|o| matches!(o, Output::ServerTimeout(_)));
    }
    assert!(timed_out);
    assert_eq!(now, t0 + Duration::from_secs(32), "timer H is 64*T1");
}

#[test]
fn client_non_invite_retransmits_and_times_out() {
    let t0 = Instant::now();
    let mut layer = Layer::new(Timers::default());
    layer
        .send_request(t0, request("OPTIONS", "z9hG4bKd"), 7, false)
        .unwrap();
    assert_eq!(sends(&mut layer), 1);
    let mut count = 0;
    let mut timeout = false;
    while let Some(d) = layer.poll_timeout() {
        layer.handle_timeout(d);
        for o in layer.drain_outputs() {
            match o {
                Output::Transmit(..) => count += 1,
                Output::ClientTimeout(_) => timeout = true,
                _ => {}
            }
        }
    }
    assert!(timeout);
    // E fires at 0.5, 1.5, 3.5, 7.5, then every 4 s until F at 32 s.
    assert_eq!(count, 10);
}

#[test]
fn client_invite_acks_non_2xx_and_absorbs_repeats() {
    let t0 = Instant::now();
    let mut layer = Layer::new(Timers::default());
    let req = request("INVITE", "z9hG4bKe");
    let key = layer.send_request(t0, req.clone(), 7, false).unwrap();
    sends(&mut layer);
    let mut busy = Response::to_request(&req, 486, "Busy Here");
    busy.set_to_tag("x");
    assert_eq!(layer.handle_response(t0, &busy), Some(key));
    let acks: Vec<_> = layer.drain_outputs().collect();
    assert_eq!(acks.len(), 1);
    let Output::Transmit(_, ack) = &acks[0] else {
        panic!()
    };
    assert!(ack.starts_with(b"ACK sip:333@acme.example SIP/2.0"));
    assert!(String::from_utf8_lossy(ack).contains("tag=x"));
    assert_eq!(
        layer.handle_response(t0, &busy),
        None,
        "retransmitted final is absorbed"
    );
    assert_eq!(sends(&mut layer), 1, "and the ACK is resent");
}
