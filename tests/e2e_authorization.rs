//! The operator's own authorization service (`[authorization] url`),
//! played by a small reference billing system: it is asked about every
//! call, park, retrieval and transfer (signed JSON POSTs), and the switch
//! follows it: a time limit ends the call with a prompt first, a refusal
//! carries its status and cause, a short code is routed. An unreachable or
//! slow service falls back to the configured policy; answers are cached
//! when configured.

mod support;

use std::time::{Duration, Instant};
use support::billing::{Billing, Plan};
use support::{peers_ready, Server};

const PCMU: u8 = 0;

fn with_service(name: &str, url: &str, extra: &str) -> Server {
    let section =
        format!("\n[authorization]\nurl = \"{url}\"\nsecret = \"billing-secret\"\n{extra}\n");
    Server::start_with_trunk(name, &section)
}

#[test]
fn the_billing_system_limits_refuses_and_routes_calls_and_is_asked_about_parking() {
    if !peers_ready("the_billing_system_limits_refuses_and_routes_calls", &[]) {
        return;
    }
    let mut plan = Plan::default();
    plan.credit_s.insert("333".into(), 3);
    plan.credit_s.insert("555".into(), 0);
    plan.short_codes.insert("600".into(), "444".into());
    let billing = Billing::start(plan);
    let server = with_service("auth-billing", &billing.url, "");
    let mut john = server.registered("333");
    let mut jane = server.registered("555");
    let mut room = server.registered("444");

    // John may talk 3 s: then both hear the time is up, then BYE.
    let (johns, rooms) = support::phone::connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    let answered = Instant::now();
    support::phone::assert_two_way(&john, &johns, &room, &rooms);
    // Nobody talks any more: what the room hears after 3 s is the prompt.
    std::thread::sleep(Duration::from_millis(3200).saturating_sub(answered.elapsed()));
    room.flush_rtp();
    let heard = support::phone::decode(&room.record(Duration::from_millis(800)));
    let power =
        heard.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / heard.len().max(1) as f64;
    assert!(
        heard.len() > 4000 && power > 10_000.0,
        "the room hears a prompt before the BYE ({} samples, power {power:.0})",
        heard.len()
    );
    for phone in [&mut john, &mut room] {
        let bye = phone
            .request("BYE", Duration::from_secs(10))
            .expect("the call ends when its time is up");
        phone.ok(&bye);
    }
    let lasted = answered.elapsed();
    assert!(
        lasted >= Duration::from_secs(3) && lasted < Duration::from_secs(9),
        "{lasted:?}"
    );
    let rec = server.record_where(|r| r["caller"] == "333" && r["callee"] == "444");
    assert_eq!(rec["cause"], "Time limit reached");
    let q = &billing.asked_about("call")[0];
    assert_eq!(
        (&q["tenant"], &q["caller"], &q["callee"]),
        (&"demo".into(), &"333".into(), &"444".into())
    );
    // Signed with the configured secret.
    let first = &billing.asked()[0];
    let sig = first.signature.clone().expect("a signature");
    let expected = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"billing-secret").unwrap();
        mac.update(&first.raw);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256={hex}")
    };
    assert_eq!(sig, expected);

    // Jane has no credit: 402 with the billing system's cause.
    assert_eq!(jane.dial("444", &[PCMU]).err(), Some(402));
    let refused = jane.last_final.clone().unwrap();
    assert_eq!(refused.reason, "No credit left");

    // A short code the PBX does not know: routed by the billing system
    // (for a caller with credit) to the room.
    let (cid, seq, branch) = jane.start_dial("600", &[PCMU]);
    assert_eq!(jane.finish_dial("600", &cid, seq, &branch).err(), Some(402));
    let (cid, seq, branch) = john.start_dial("600", &[PCMU]);
    let inv = room.ring();
    room.reject_request(&inv, 486, "Busy Here");
    assert_eq!(john.finish_dial("600", &cid, seq, &branch).err(), Some(486));

    // The room (unlimited) calls John, who parks it and takes it back:
    // each step asked, allowed.
    let (mut rooms, mut johns) = support::phone::connect(&mut room, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");
    let park = &billing.asked_about("park")[0];
    assert_eq!(
        (&park["caller"], &park["callee"]),
        (&"333".into(), &"*70333".into())
    );
    let mut back = john.dial("*71333", &[PCMU]).expect("John retrieves");
    support::phone::assert_two_way(&john, &back, &room, &rooms);
    assert_eq!(billing.asked_about("retrieve")[0]["caller"], "333");
    assert_eq!(john.bye(&mut back).status, 200);
    let _ = room
        .request("BYE", Duration::from_secs(3))
        .map(|b| room.ok(&b));
    let _ = &mut rooms;
    server.wait_idle();
}

#[test]
fn a_barred_retrieval_is_announced_and_recorded_with_the_services_cause() {
    if !peers_ready("a_barred_retrieval_is_announced", &[]) {
        return;
    }
    let mut plan = Plan::default();
    plan.no_retrieve.push("444".into());
    let billing = Billing::start(plan);
    let server = with_service("auth-retrieve", &billing.url, "");
    let mut john = server.registered("333");
    let mut jane = server.registered("555");
    let mut room = server.registered("444");
    let (_janes, mut johns) = support::phone::connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");
    // Answered with the goodbye prompt, then hung up.
    let _rooms = room.dial("*71333", &[PCMU]).expect("answered to announce");
    let bye = room
        .request("BYE", Duration::from_secs(10))
        .expect("hung up after goodbye");
    room.ok(&bye);
    let rec = server.record_where(|r| r["caller"] == "444" && r["callee"] == "*71333");
    assert_eq!(
        (rec["status"].as_u64(), rec["cause"].as_str()),
        (Some(403), Some("Retrieval barred"))
    );
    // Still parked.
    assert!(server.http_get("/api/parked").unwrap().contains("*71333"));
    assert_eq!(billing.asked_about("retrieve").len(), 1);
}

#[test]
fn without_a_usable_answer_the_fallback_decides() {
    if !peers_ready("without_a_usable_answer_the_fallback_decides", &[]) {
        return;
    }
    // Nothing listens there, and the policy refuses.
    let dead = format!("http://127.0.0.1:{}/decide", support::free_port());
    let server = with_service(
        "auth-dead",
        &dead,
        "fallback = \"refuse\"\ntimeout_ms = 300",
    );
    let mut john = server.registered("333");
    let _room = server.registered("444");
    let started = Instant::now();
    assert_eq!(john.dial("444", &[PCMU]).err(), Some(503));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        john.last_final.clone().unwrap().reason,
        "Authorization service unavailable"
    );
    assert!(server.log().contains("no usable answer"), "logged");

    // A slow service and the embedded fallback: the call goes on its own
    // rules after the timeout.
    let slow = Billing::start(Plan {
        delay: Duration::from_secs(3),
        ..Plan::default()
    });
    let server = with_service("auth-slow", &slow.url, "timeout_ms = 300");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let started = Instant::now();
    let (cid, seq, branch) = john.start_dial("444", &[PCMU]);
    let inv = room.ring();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    room.reject_request(&inv, 486, "Busy Here");
    assert_eq!(john.finish_dial("444", &cid, seq, &branch).err(), Some(486));
    assert_eq!(slow.asked_about("call").len(), 1);
}

#[test]
fn a_slow_answer_for_one_caller_does_not_hold_up_the_others() {
    if !peers_ready(
        "a_slow_answer_for_one_caller_does_not_hold_up_the_others",
        &[],
    ) {
        return;
    }
    let billing = Billing::start(Plan {
        delay: Duration::from_secs(2),
        slow_callers: vec!["444".into()],
        ..Plan::default()
    });
    let server = with_service("auth-one-slow", &billing.url, "timeout_ms = 5000");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    // The room's call waits for its slow answer...
    let (room_cid, room_seq, room_branch) = room.start_dial("333", &[PCMU]);
    std::thread::sleep(Duration::from_millis(200));
    // ... while John's call to the room is decided and rings at once.
    let started = Instant::now();
    let (cid, seq, branch) = john.start_dial("444", &[PCMU]);
    let inv = loop {
        match room.request("INVITE", Duration::from_secs(3)) {
            Some(inv)
                if inv.headers.get_str(sip::Name::CallId).as_deref() != Some(room_cid.as_str()) =>
            {
                break inv
            }
            Some(_) => continue,
            None => panic!("John's call never rang"),
        }
    };
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    room.reject_request(&inv, 486, "Busy Here");
    assert_eq!(john.finish_dial("444", &cid, seq, &branch).err(), Some(486));
    // Then the room's call goes on when its answer comes.
    let johns_inv = john.ring();
    john.reject_request(&johns_inv, 486, "Busy Here");
    assert_eq!(
        room.finish_dial("333", &room_cid, room_seq, &room_branch)
            .err(),
        Some(486)
    );
}

#[test]
fn answers_are_cached_per_question_when_configured() {
    if !peers_ready("answers_are_cached_per_question_when_configured", &[]) {
        return;
    }
    let mut plan = Plan::default();
    plan.credit_s.insert("555".into(), 0);
    let billing = Billing::start(plan);
    let server = with_service("auth-cache", &billing.url, "cache_s = 30");
    let mut jane = server.registered("555");
    let _room = server.registered("444");
    for _ in 0..3 {
        assert_eq!(jane.dial("444", &[PCMU]).err(), Some(402));
    }
    assert_eq!(
        billing.asked_about("call").len(),
        1,
        "asked once, then cached"
    );
}
