//! Calls end to end: two phones talk through the switch (audio checked
//! numerically both ways), hold plays the switch's music (checked frame by
//! frame against the shipped file), resume restores audio, every hang-up
//! path frees every media port, and refusals are answered and recorded.

mod support;

use std::time::Duration;
use support::phone::{connect, decode, tone_power, Phone};
use support::{peers_ready, Server};

const PCMU: u8 = 0;
const PCMA: u8 = 8;

/// Which of two tones dominates the samples.
fn dominant(samples: &[i16], a: f64, b: f64) -> f64 {
    if tone_power(samples, a) > tone_power(samples, b) {
        a
    } else {
        b
    }
}

/// Sends `freq` from `phone` for ~1 s on a thread.
fn talk(phone: &Phone, call: &support::phone::Call, freq: f64) -> std::thread::JoinHandle<()> {
    let sock = phone.rtp.try_clone().unwrap();
    let (to, pt) = (call.media, call.pt);
    std::thread::spawn(move || {
        let p = Phone::with_rtp(sock);
        p.send_tone(to, pt, freq, 50);
    })
}

#[test]
fn extensions_talk_both_ways_then_caller_hangs_up() {
    if !peers_ready("extensions_talk_both_ways_then_caller_hangs_up", &[]) {
        return;
    }
    let server = Server::start("calls-talk");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (call_id, seq, branch) = john.start_dial("444", &[PCMU, PCMA]);
    let inv = room.ring();
    assert!(
        inv.headers
            .get_str(sip::Name::From)
            .unwrap()
            .contains("John Doe"),
        "caller identity carried"
    );
    let mut b = room.answer(&inv, &[PCMU]);
    let mut a = john
        .finish_dial("444", &call_id, seq, &branch)
        .expect("answered");
    assert_eq!(server.status()["calls"], 1);

    let ta = talk(&john, &a, 600.0);
    let tb = talk(&room, &b, 1400.0);
    let heard_by_room = room.record(Duration::from_millis(900));
    let heard_by_john = john.record(Duration::from_millis(100));
    ta.join().unwrap();
    tb.join().unwrap();
    let heard_by_john = [heard_by_john, john.record(Duration::from_millis(300))].concat();
    assert!(
        heard_by_room.len() > 20,
        "room heard {} packets",
        heard_by_room.len()
    );
    assert!(
        heard_by_john.len() > 10,
        "john heard {} packets",
        heard_by_john.len()
    );
    assert_eq!(dominant(&decode(&heard_by_room), 600.0, 1400.0), 600.0);
    assert_eq!(dominant(&decode(&heard_by_john), 600.0, 1400.0), 1400.0);
    assert!(
        heard_by_room
            .iter()
            .all(|(h, _)| h.ssrc == heard_by_room[0].0.ssrc),
        "one SSRC towards the room"
    );

    assert_eq!(john.bye(&mut a).status, 200);
    let bye = room
        .request("BYE", Duration::from_secs(5))
        .expect("callee gets BYE");
    room.ok(&bye);
    let _ = &mut b;
    server.wait_idle();
    let rec = &server.call_records(1)[0];
    assert_eq!(rec["outcome"], "answered");
    assert_eq!(rec["caller"], "333");
    assert_eq!(rec["callee"], "444");
    assert!(rec["answered_ms"].as_u64().is_some());
}

#[test]
fn transcodes_when_the_phones_share_no_codec() {
    if !peers_ready("transcodes_when_the_phones_share_no_codec", &[]) {
        return;
    }
    let server = Server::start("calls-transcode");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (mut a, b) = connect(&mut john, &mut room, &[PCMU], &[PCMA]);
    assert_eq!(a.pt, PCMU);
    let t = talk(&john, &a, 600.0);
    let heard = room.record(Duration::from_millis(900));
    t.join().unwrap();
    assert!(
        heard.iter().all(|(h, _)| h.pt == PCMA),
        "the room receives A-law"
    );
    assert_eq!(dominant(&decode(&heard), 600.0, 1400.0), 600.0);
    let _ = b;
    john.bye(&mut a);
    server.wait_idle();
    assert!(server.call_records(1)[0]["features"]
        .as_str()
        .unwrap()
        .contains("transcoding"));
}

/// Checks that the payloads are consecutive frames of the shipped music.
fn assert_music(packets: &[(media::rtp::Header, Vec<u8>)]) {
    // The first packets may still be in flight from before the switch.
    let packets = packets.get(2..).unwrap_or_default();
    let music = std::fs::read(support::repo_root().join("assets/music/default.ul")).unwrap();
    // µ-law decode→encode maps 0x7F (negative zero) to 0xFF; compare on that basis.
    let norm = |b: u8| if b == 0x7F { 0xFF } else { b };
    let music: Vec<u8> = music.into_iter().map(norm).collect();
    let frames: Vec<&[u8]> = music.chunks(160).collect();
    assert!(packets.len() >= 20, "only {} music packets", packets.len());
    let first: Vec<u8> = packets[0].1.iter().copied().map(norm).collect();
    let start = frames
        .iter()
        .position(|f| *f == first.as_slice())
        .expect("first packet is a frame of the music file");
    for (i, (_, p)) in packets.iter().enumerate() {
        let expected = frames[(start + i) % frames.len()];
        let got: Vec<u8> = p.iter().copied().map(norm).collect();
        assert_eq!(
            got.as_slice(),
            expected,
            "packet {i} is not music frame {}",
            start + i
        );
    }
    let seqs: Vec<u16> = packets.iter().map(|(h, _)| h.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "sequence numbers continuous"
    );
}

#[test]
fn hold_plays_music_and_resume_restores_audio() {
    if !peers_ready("hold_plays_music_and_resume_restores_audio", &[]) {
        return;
    }
    let server = Server::start("calls-hold");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (mut a, mut b) = connect(&mut john, &mut room, &[PCMU], &[PCMU]);

    for round in 0..2 {
        // John holds: the room hears the switch's music, never John's hold.
        let resp = john.reinvite(&mut a, "sendonly");
        assert_eq!(resp.status, 200);
        let answer = media::sdp::parse_audio(&resp.body).unwrap();
        assert_eq!(answer.direction, media::sdp::Direction::RecvOnly);
        assert!(
            room.request("INVITE", Duration::from_millis(300)).is_none(),
            "hold is not forwarded"
        );
        room.flush_rtp();
        let music = room.record(Duration::from_millis(1000));
        assert_music(&music);

        // Resume: two-way audio again.
        assert_eq!(john.reinvite(&mut a, "sendrecv").status, 200);
        room.flush_rtp();
        let t = talk(&john, &a, 600.0);
        let heard = room.record(Duration::from_millis(900));
        t.join().unwrap();
        assert!(
            heard.len() > 20,
            "round {round}: room heard {} packets after resume",
            heard.len()
        );
        assert_eq!(dominant(&decode(&heard[5..]), 600.0, 1400.0), 600.0);
        let seqs: Vec<u16> = heard.iter().map(|(h, _)| h.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "no sequence gap when the source changes"
        );
    }
    // The callee holds too, from its side.
    assert_eq!(room.reinvite(&mut b, "inactive").status, 200);
    john.flush_rtp();
    assert_music(&john.record(Duration::from_millis(800)));

    // Callee hangs up.
    assert_eq!(room.bye(&mut b).status, 200);
    let bye = john
        .request("BYE", Duration::from_secs(5))
        .expect("caller gets BYE");
    john.ok(&bye);
    server.wait_idle();
    assert!(server.call_records(1)[0]["features"]
        .as_str()
        .unwrap()
        .contains("hold"));
}

#[test]
fn every_way_a_call_ends_frees_every_port() {
    if !peers_ready("every_way_a_call_ends_frees_every_port", &[]) {
        return;
    }
    let server = Server::start("calls-ends");
    let mut john = server.registered("333");
    let mut room = server.registered("444");

    // Busy.
    let (call_id, seq, branch) = john.start_dial("444", &[PCMU]);
    room.reject(486, "Busy Here");
    assert_eq!(
        john.finish_dial("444", &call_id, seq, &branch).unwrap_err(),
        486
    );
    server.wait_idle();

    // CANCEL while ringing.
    let (call_id, seq, branch) = john.start_dial("444", &[PCMU]);
    let inv = room.ring();
    john.cancel("444", &call_id, seq, &branch);
    let cancel = room
        .request("CANCEL", Duration::from_secs(5))
        .expect("CANCEL reaches the callee");
    room.ok(&cancel);
    room.terminated(&inv);
    assert_eq!(
        john.finish_dial("444", &call_id, seq, &branch).unwrap_err(),
        487
    );
    assert!(room.request("ACK", Duration::from_secs(5)).is_some());
    server.wait_idle();

    // No answer (4 s in the test configuration).
    let (call_id, seq, branch) = john.start_dial("444", &[PCMU]);
    let inv = room.ring();
    assert_eq!(
        john.finish_dial("444", &call_id, seq, &branch).unwrap_err(),
        480
    );
    let cancel = room
        .request("CANCEL", Duration::from_secs(5))
        .expect("the switch cancels the ringing phone");
    room.ok(&cancel);
    room.terminated(&inv);
    server.wait_idle();

    let outcomes: Vec<String> = server
        .call_records(3)
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outcomes, ["no_answer", "cancelled", "busy"]);
}

#[test]
fn refusals_get_the_right_answer_and_a_record() {
    if !peers_ready("refusals_get_the_right_answer_and_a_record", &[]) {
        return;
    }
    let server = Server::start("calls-refused");
    let mut jane = server.registered("555"); // may not call out
    assert_eq!(jane.dial("15551234567", &[PCMU]).unwrap_err(), 403);
    assert_eq!(jane.dial("999", &[PCMU]).unwrap_err(), 404);
    assert_eq!(
        jane.dial("444", &[PCMU]).unwrap_err(),
        480,
        "444 is not registered"
    );
    let mut intruder = Phone::new(&server.sip_addr(), "333", "wrong-password");
    assert_eq!(intruder.dial("444", &[PCMU]).unwrap_err(), 403);
    let mut disabled = Phone::new(&server.sip_addr(), "666", "secret-666");
    assert_eq!(disabled.dial("444", &[PCMU]).unwrap_err(), 403);
    server.wait_idle();
    let records = server.call_records(5);
    let statuses: Vec<u64> = records
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [403, 403, 480, 404, 403], "{records:#?}");
    assert!(records
        .iter()
        .all(|r| r["outcome"] == "refused" || r["outcome"] == "failed"));
}

#[test]
fn carrier_call_to_a_did_rings_the_extension() {
    if !peers_ready("carrier_call_to_a_did_rings_the_extension", &["sipp"]) {
        return;
    }
    let server = Server::start("calls-did");
    let mut john = server.registered("333");
    let carrier_port = server.carrier_port().to_string();
    let carrier = support::sipp_background(
        &server,
        "carrier_call.xml",
        &["-s", "15550100333", "-p", &carrier_port],
    );
    let inv = john.ring();
    assert!(
        inv.headers
            .get_str(sip::Name::From)
            .unwrap()
            .contains("15559870001"),
        "the client's number is shown"
    );
    let _call = john.answer(&inv, &[PCMU]);
    let bye = john
        .request("BYE", Duration::from_secs(10))
        .expect("the carrier hangs up");
    john.ok(&bye);
    let (rc, log) = carrier.join().unwrap();
    assert_eq!(rc, 0, "carrier scenario failed:\n{log}");
    server.wait_idle();
    let rec = &server.call_records(1)[0];
    assert_eq!(rec["callee"], "15550100333");
    assert_eq!(rec["routed_to"], "333");
    assert_eq!(rec["caller"], "15559870001");
    assert_eq!(rec["outcome"], "answered");
}

#[test]
fn a_carrier_call_with_a_delayed_offer_gets_audio_both_ways() {
    if !peers_ready("a_carrier_call_with_a_delayed_offer_gets_audio", &["sipp"]) {
        return;
    }
    let server = Server::start("calls-delayed-offer");
    let mut john = server.registered("333");
    let carrier_port = server.carrier_port().to_string();
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
            "3000",
        ],
    );
    let inv = john.ring();
    let call = john.answer(&inv, &[PCMU]);
    // SIPp echoes what it hears: John's tone comes back only if the switch
    // relays John to the carrier and the carrier (answering in its ACK) to
    // John.
    std::thread::sleep(Duration::from_millis(200));
    john.flush_rtp();
    let tone = support::phone::talk(&john, &call, 700.0);
    let heard = john.record(Duration::from_millis(900));
    tone.join().unwrap();
    let samples = support::phone::decode(&heard);
    assert!(
        support::phone::tone_power(&samples, 700.0)
            > 10.0 * support::phone::tone_power(&samples, 1300.0).max(1.0),
        "John does not hear his tone back through the carrier ({} packets)",
        heard.len()
    );
    let bye = john
        .request("BYE", Duration::from_secs(10))
        .expect("the carrier hangs up");
    john.ok(&bye);
    let (rc, log) = carrier.join().unwrap();
    assert_eq!(rc, 0, "carrier scenario failed:\n{log}");
    server.wait_idle();
    assert_eq!(server.call_records(1)[0]["outcome"], "answered");
}

#[test]
fn extension_calls_out_through_the_carrier() {
    if !peers_ready("extension_calls_out_through_the_carrier", &["sipp"]) {
        return;
    }
    let server = Server::start("calls-out");
    let mut john = server.registered("333");
    let carrier_port = server.carrier_port().to_string();
    let carrier = support::sipp_background(&server, "builtin:uas", &["-p", &carrier_port]);
    let mut call = john
        .dial("15551234567", &[PCMU])
        .expect("the carrier answers");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(john.bye(&mut call).status, 200);
    let (rc, log) = carrier.join().unwrap();
    assert_eq!(rc, 0, "carrier (SIPp uas) failed:\n{log}");
    assert!(
        log.contains("INVITE sip:15551234567@127.0.0.1:"),
        "the carrier got the dialed number:\n{log}"
    );
    server.wait_idle();
    assert_eq!(server.call_records(1)[0]["routed_to"], "trunk:carrier");
}

/// RFC 4028: a caller that supports timers refreshes; without a refresh the
/// switch hangs up, even while the call is held (no RTP timeout applies then).
#[test]
fn session_timers_keep_refreshed_calls_and_end_dead_ones() {
    if !peers_ready("session_timers_keep_refreshed_calls_and_end_dead_ones", &[]) {
        return;
    }
    let server = Server::start_with("calls-timers", "session_expires_s = 4\nmin_se_s = 3");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    john.invite_headers = "Supported: timer\r\nSession-Expires: 2\r\n".into();
    assert_eq!(john.dial("444", &[PCMU]).unwrap_err(), 422, "below Min-SE");
    john.invite_headers = "Supported: timer\r\nSession-Expires: 3\r\n".into();
    let (call_id, seq, branch) = john.start_dial("444", &[PCMU]);
    let inv = room.ring();
    assert!(inv
        .headers
        .get_str(sip::Name::SessionExpires)
        .unwrap()
        .contains("refresher=uas"));
    let _b = room.answer(&inv, &[PCMU]);
    let mut a = john.finish_dial("444", &call_id, seq, &branch).unwrap();
    // Refresh by re-INVITE (holding, so no RTP flows and only the timer can end it).
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1500));
        let resp = john.reinvite(&mut a, "sendonly");
        assert_eq!(resp.status, 200);
        assert!(resp
            .headers
            .get_str(sip::Name::SessionExpires)
            .unwrap()
            .starts_with("3;refresher=uac"));
    }
    assert_eq!(server.status()["calls"], 1, "refreshed calls stay up");
    // Stop refreshing: both phones get a BYE within the interval.
    let bye = john
        .request("BYE", Duration::from_secs(6))
        .expect("the switch ends an unrefreshed session");
    john.ok(&bye);
    let bye = room
        .request("BYE", Duration::from_secs(2))
        .expect("and tells the other party");
    room.ok(&bye);
    server.wait_idle();
    assert_eq!(server.call_records(1)[0]["cause"], "Session timer expired");
}

/// Early media (183 with SDP): what the callee plays before answering
/// reaches the caller; the answer then continues on the same streams.
#[test]
fn early_media_reaches_the_caller_before_the_answer() {
    if !peers_ready("early_media_reaches_the_caller_before_the_answer", &[]) {
        return;
    }
    let server = Server::start("calls-early");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (call_id, seq, branch) = john.start_dial("444", &[PCMU]);
    let inv = room.ring();
    let to = room.early(&inv, &[PCMU]);
    let sock = room.rtp.try_clone().unwrap();
    let t = std::thread::spawn(move || Phone::with_rtp(sock).send_tone(to, PCMU, 1400.0, 40));
    let heard = john.record(Duration::from_millis(700));
    t.join().unwrap();
    assert!(
        heard.len() > 15,
        "early media reached the caller ({} packets)",
        heard.len()
    );
    assert_eq!(dominant(&decode(&heard), 600.0, 1400.0), 1400.0);
    let _b = room.answer(&inv, &[PCMU]);
    let mut a = john
        .finish_dial("444", &call_id, seq, &branch)
        .expect("answered after early media");
    assert_eq!(john.bye(&mut a).status, 200);
    room.request("BYE", Duration::from_secs(5))
        .map(|b| room.ok(&b))
        .expect("room gets BYE");
    server.wait_idle();
    assert!(server.call_records(1)[0]["features"]
        .as_str()
        .unwrap()
        .contains("early-media"));
}

/// A call whose phones send no RTP for media.rtp_timeout_s is hung up; a
/// held call is not (the held side may rightly be silent).
#[test]
fn silent_calls_time_out_but_held_calls_do_not() {
    if !peers_ready("silent_calls_time_out_but_held_calls_do_not", &[]) {
        return;
    }
    let server = Server::start_media("calls-rtp-timeout", "", "", support::rtp_range(), 2);
    let mut john = server.registered("333");
    let mut room = server.registered("444");

    // Held: John holds and nobody sends anything for 5 s; the call stays.
    let (mut a, mut b) = connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut a, "sendonly").status, 200);
    assert!(
        john.request("BYE", Duration::from_secs(5)).is_none(),
        "a held call is never timed out"
    );
    assert_eq!(server.status()["calls"], 1);
    assert_eq!(room.bye(&mut b).status, 200);
    john.request("BYE", Duration::from_secs(5))
        .map(|x| john.ok(&x))
        .expect("BYE");
    server.wait_idle();

    // Not held, silent: both get BYE with Reason, and the record says why.
    let (_a, _b) = connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    let bye = john
        .request("BYE", Duration::from_secs(6))
        .expect("dead call ended");
    assert!(bye
        .headers
        .get_str(sip::Name::Reason)
        .unwrap()
        .contains("RTP timeout"));
    john.ok(&bye);
    room.request("BYE", Duration::from_secs(2))
        .map(|x| room.ok(&x))
        .expect("both legs");
    server.wait_idle();
    assert_eq!(
        server.record_where(|r| r["cause"] == "RTP timeout")["outcome"],
        "answered"
    );
}

#[test]
fn a_codec_change_mid_call_is_transcoded_without_disturbing_the_other_party() {
    if !peers_ready("a_codec_change_mid_call_is_transcoded", &[]) {
        return;
    }
    let server = Server::start("calls-codec-change");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (mut johns, mut rooms) = support::phone::connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    // John's phone switches to A-law mid-call (a re-INVITE offering PCMA only).
    johns.pt = 8;
    let ok = john.reinvite(&mut johns, "sendrecv");
    assert_eq!(ok.status, 200);
    let answer = media::sdp::parse_audio(&ok.body).unwrap();
    assert_eq!(answer.codecs, vec![(media::Codec::Pcma, 8)]);
    assert!(
        room.request("INVITE", Duration::from_millis(300)).is_none(),
        "the room is not re-INVITEd"
    );
    support::phone::assert_two_way(&john, &johns, &room, &rooms);
    assert_eq!(john.bye(&mut johns).status, 200);
    let bye = room.request("BYE", Duration::from_secs(3)).unwrap();
    room.ok(&bye);
    let _ = &mut rooms;
    server.wait_idle();
}
