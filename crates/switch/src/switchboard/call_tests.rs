//! Call control and parking driven deterministically: hand-made datagrams in,
//! outputs (bytes per peer, media commands, store writes) out, a fake clock.

use super::harness::{Did, World};
use super::*;
use crate::auth::ha1;
use crate::call::CallEvent;
use crate::output::{MediaCommand, StoreOp};
use accounts::{Extension, Source, Tenant};
use sip::digest::Algorithm;
use std::time::Duration;

pub(super) const JOHN: &str = "127.0.0.1:5070";
pub(super) const ROOM: &str = "127.0.0.1:5080";
pub(super) const ROOM2: &str = "127.0.0.1:5082";
pub(super) const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";

fn directory() -> Directory {
    directory_with(None)
}

/// The accounts, with 555 as well and `fallback` as the tenant's
/// park fallback.
pub(super) fn directory_with(fallback: Option<&str>) -> Directory {
    let mut t = Tenant::new("acme", "acme.example");
    t.park_fallback = fallback.map(str::to_string);
    let ext = |n: &str| Extension {
        tenant: "acme".into(),
        number: n.into(),
        name: format!("Ext {n}"),
        ha1_md5: ha1(Algorithm::Md5, n, "acme.example", &format!("pw-{n}")),
        ha1_sha256: ha1(Algorithm::Sha256, n, "acme.example", &format!("pw-{n}")),
        enabled: true,
        can_call_out: true,
        can_park: true,
        can_retrieve: true,
        outbound: accounts::OutboundLimits::EXTENSION,
        source: Source::Config,
    };
    Directory::new(
        vec![t],
        vec![ext("333"), ext("444"), ext("555")],
        vec![],
        vec![],
    )
}

/// A world on `dir`, saving snapshots after every input.
pub(super) fn world_with(dir: Directory) -> World {
    let mut w = World::new();
    w.sw.set_directory(dir);
    w
}

impl World {
    pub(super) fn new() -> World {
        let cfg = SwitchConfig {
            default_tenant: Some("acme".into()),
            // Snapshots after every input, so each step's saves are seen.
            persist_interval: Duration::ZERO,
            ..Default::default()
        };
        World::with(cfg, directory())
    }

    pub(super) fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    pub(super) fn register(&mut self, user: &str, addr: &str) {
        let n = self.next();
        let text = |auth: &str, cseq: u32| {
            format!("REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKreg{n}{cseq};rport\r\nFrom: <sip:{user}@acme.example>;tag=r{n}\r\nTo: <sip:{user}@acme.example>\r\nCall-ID: reg{n}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{addr}>\r\n{auth}Content-Length: 0\r\n\r\n")
        };
        let challenge = self.from(addr, &text("", 1)).response_to(addr, 401);
        let auth = credentials(
            &challenge,
            Name::WwwAuthenticate,
            user,
            "REGISTER",
            "sip:acme.example",
        );
        self.from(addr, &text(&format!("Authorization: {auth}\r\n"), 2))
            .response_to(addr, 200);
    }

    /// An authenticated INVITE from `user` at `addr` to `number`; returns what
    /// the switch did with the authenticated one, and the INVITE text.
    pub(super) fn invite(&mut self, user: &str, addr: &str, number: &str) -> (Did, String) {
        self.invite_with(user, addr, number, "")
    }

    /// [`World::invite`] with `extra` header lines (each ending in CRLF).
    pub(super) fn invite_with(
        &mut self,
        user: &str,
        addr: &str,
        number: &str,
        extra: &str,
    ) -> (Did, String) {
        self.invite_read_after(user, addr, number, extra, Duration::ZERO)
    }

    /// [`World::invite_with`] whose authenticated INVITE is read `waited`
    /// after it arrived.
    pub(super) fn invite_read_after(
        &mut self,
        user: &str,
        addr: &str,
        number: &str,
        extra: &str,
        waited: Duration,
    ) -> (Did, String) {
        let n = self.next();
        let text = |auth: &str, cseq: u32, branch: &str| {
            format!("INVITE sip:{number}@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@acme.example>;tag=c{n}\r\nTo: <sip:{number}@acme.example>\r\nCall-ID: call{n}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:{user}@{addr}>\r\n{extra}{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}", SDP.len())
        };
        let challenge = self
            .from(addr, &text("", 1, &format!("z9hG4bKi{n}a")))
            .response_to(addr, 407);
        // ACK the 407 (RFC 3261 17.1.1.3), or the switch keeps resending it.
        let ack = format!(
            "ACK sip:{number}@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKi{n}a;rport\r\nFrom: <sip:{user}@acme.example>;tag=c{n}\r\nTo: {}\r\nCall-ID: call{n}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            challenge.headers.get_str(Name::To).unwrap()
        );
        self.from(addr, &ack);
        let auth = credentials(
            &challenge,
            Name::ProxyAuthenticate,
            user,
            "INVITE",
            &format!("sip:{number}@acme.example"),
        );
        let t = text(
            &format!("Proxy-Authorization: {auth}\r\n"),
            2,
            &format!("z9hG4bKi{n}b"),
        );
        (self.read_late(addr, &t, waited), t)
    }

    /// The callee's response to an INVITE the switch sent.
    pub(super) fn answer(&mut self, addr: &str, inv: &Request, status: u16, sdp: bool) -> Did {
        let mut r = Response::to_request(inv, status, sip::reason_phrase(status));
        r.set_to_tag("callee");
        if sdp {
            r.headers
                .push(Name::Contact, format!("<sip:callee@{addr}>"));
            r.headers.push(Name::ContentType, "application/sdp");
            r.body = Bytes::from(SDP.replace("4000", "4002"));
        }
        self.from(addr, std::str::from_utf8(&r.encode()).unwrap())
    }
}

pub(super) fn credentials(
    challenge: &Response,
    header: Name,
    user: &str,
    method: &str,
    uri: &str,
) -> String {
    let pw = format!("pw-{user}");
    super::tests::digest_credentials(
        challenge,
        header,
        Algorithm::Md5,
        (user, &pw),
        (method, uri),
        1,
    )
}

/// An in-dialog request from the caller side, built from the 200 it got.
pub(super) fn in_dialog(ok: &Response, method: &str, n: u32, body: &str, addr: &str) -> String {
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    format!(
        "{method} sip:parkline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKd{n}{method};rport\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {n} {method}\r\nContact: <sip:x@{addr}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        ok.headers.get_str(Name::From).unwrap(),
        ok.headers.get_str(Name::To).unwrap(),
        String::from_utf8_lossy(ok.call_id().unwrap()),
        body.len()
    )
}

pub(super) fn ports(media: &[MediaCommand]) -> Vec<u16> {
    media
        .iter()
        .filter_map(|c| {
            if let MediaCommand::Open(p) = c {
                Some(*p)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn one_source_cannot_hold_every_transaction_in_progress() {
    let mut w = World::new();
    w.sw.cfg.max_transactions_per_source = 1;
    w.register("444", ROOM);
    let (did, _) = w.invite("333", JOHN, "444");
    did.response_to(JOHN, 100);
    let ringing = did.request_to(ROOM, Method::Invite);
    let (did, _) = w.invite("333", JOHN, "444");
    let refused = did.response_to(JOHN, 503);
    assert_eq!(
        refused.headers.get_str(Name::RetryAfter).as_deref(),
        Some("5")
    );
    // Once the first call is answered, its transaction is no longer in progress.
    w.answer(ROOM, &ringing, 200, true).response_to(JOHN, 200);
    let (did, _) = w.invite("333", JOHN, "444");
    did.response_to(JOHN, 100);
}

/// John calls 444, registered twice: both ring, ROOM answers, ROOM2 is cancelled.
fn established(w: &mut World) -> (Response, Vec<u16>) {
    w.register("444", ROOM);
    w.register("444", ROOM2);
    let (did, _) = w.invite("333", JOHN, "444");
    did.response_to(JOHN, 100);
    let opened = ports(&did.media);
    assert_eq!(opened.len(), 2, "two RTP ports anchored");
    let inv1 = did.request_to(ROOM, Method::Invite);
    let inv2 = did.request_to(ROOM2, Method::Invite);
    assert!(
        inv1.headers
            .get_str(Name::From)
            .unwrap()
            .starts_with("\"Ext 333\""),
        "caller identity carried"
    );
    assert_eq!(
        w.answer(ROOM2, &inv2, 180, false)
            .response_to(JOHN, 180)
            .status,
        180
    );
    let did = w.answer(ROOM, &inv1, 200, true);
    did.request_to(ROOM, Method::Ack);
    did.request_to(ROOM2, Method::Cancel);
    assert!(did
        .media
        .contains(&MediaCommand::Bridge(opened[0], opened[1])));
    let ok = did.response_to(JOHN, 200);
    let answer = media::sdp::parse_audio(&ok.body).unwrap();
    assert_eq!(
        answer.port, opened[0],
        "the caller talks to the switch's port"
    );
    // The cancelled phone answers 487; the switch ACKs it.
    let acked = w.answer(ROOM2, &inv2, 487, false);
    acked.request_to(ROOM2, Method::Ack);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    (ok, opened)
}

#[test]
fn a_forked_call_is_answered_bridged_and_hung_up() {
    let mut w = World::new();
    let (ok, opened) = established(&mut w);
    assert!(
        w.advance(Duration::from_secs(2)).to(JOHN).is_empty(),
        "no 2xx retransmission after the ACK"
    );
    let did = w.from(JOHN, &in_dialog(&ok, "BYE", 3, "", JOHN));
    did.response_to(JOHN, 200);
    did.request_to(ROOM, Method::Bye);
    for p in opened {
        assert!(did.media.contains(&MediaCommand::Close(p)));
    }
    assert!(
        matches!(did.store.as_slice(), [StoreOp::SaveCallRecord(r), StoreOp::RemoveCall(_)] if r.outcome == accounts::Outcome::Answered),
        "the record is written and the live call's snapshot removed: {:?}",
        did.store
    );
    assert_eq!((w.sw.call_count(), w.sw.ports_in_use()), (0, 0));
}

#[test]
fn hold_plays_music_to_the_other_party_and_parking_releases_the_holder() {
    let mut w = World::new();
    w.register("333", JOHN);
    let (ok, opened) = established(&mut w);
    let held = SDP.replace("sendrecv", "sendonly");
    let did = w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN));
    let answer = media::sdp::parse_audio(&did.response_to(JOHN, 200).body).unwrap();
    assert_eq!(answer.direction, media::sdp::Direction::RecvOnly);
    assert!(
        did.media.contains(&MediaCommand::Music(opened[1])),
        "the room hears music"
    );
    assert!(did.to(ROOM).is_empty(), "the hold is not forwarded");

    let (did, _) = w.invite("333", JOHN, "*70333");
    let ok_park = did.response_to(JOHN, 200);
    assert_eq!(
        ok_park.headers.get_str(Name::PAssertedIdentity).unwrap(),
        "\"Parked *71333\" <sip:*71333@acme.example>"
    );
    let bye = did.request_to(JOHN, Method::Bye);
    assert_eq!(bye.call_id(), ok.call_id(), "John's held leg is released");
    let mut expected = vec![
        crate::prompts::Prompt::CallParked,
        crate::prompts::Prompt::ToRetrieveDial,
    ];
    expected.extend(crate::prompts::spoken("*71333"));
    assert!(
        did.media
            .iter()
            .any(|c| matches!(c, MediaCommand::Play(_, p) if *p == expected)),
        "{:?}",
        did.media
    );
    assert!(
        did.media.contains(&MediaCommand::Close(opened[0])),
        "John's RTP port is freed"
    );
    assert_eq!(w.sw.parked_count(), 1);
    // John hangs up the confirmation (a phone in a call is not rung back).
    w.from(JOHN, &in_dialog(&ok_park, "ACK", 2, "", JOHN));
    w.from(JOHN, &in_dialog(&ok_park, "BYE", 3, "", JOHN));

    // Nobody retrieves: after 180 s John's phone rings with the parked party.
    let did = w.advance(Duration::from_secs(181));
    let comeback = did.request_to(JOHN, Method::Invite);
    assert!(comeback
        .headers
        .get_str(Name::From)
        .unwrap()
        .starts_with("\"Parked: Ext 444\""));
    assert_eq!(w.sw.parked_count(), 0);
}

#[test]
fn the_first_retrieval_wins() {
    let mut w = World::new();
    let (ok, _) = established(&mut w);
    let held = SDP.replace("sendrecv", "sendonly");
    w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN));
    w.invite("333", JOHN, "*70");
    let code = w.sw.parked()[0].retrieval.clone();
    assert!(code.starts_with("*71*") && code.len() == 8, "{code}");
    let (first, _) = w.invite("444", ROOM, &code);
    let (second, _) = w.invite("444", ROOM2, &code);
    let won = first.response_to(ROOM, 200);
    assert!(
        won.headers.get(Name::PAssertedIdentity).is_some(),
        "the winner sees the parked party"
    );
    let lost = second.response_to(ROOM2, 200);
    assert!(
        lost.headers.get(Name::PAssertedIdentity).is_none(),
        "the other gets the announcement"
    );
    let no_call = crate::prompts::Prompt::NoCallParkedAt;
    assert!(second
        .media
        .iter()
        .any(|c| matches!(c, MediaCommand::Play(_, p) if p[0] == no_call)));
}

#[test]
fn a_media_port_that_cannot_be_bound_ends_the_call_cleanly() {
    use crate::output::{MediaEvent, OpenFailure};
    for (why, retired) in [(OpenFailure::Taken, 1), (OpenFailure::Exhausted, 0)] {
        let mut w = World::new();
        w.register("444", ROOM);
        let (did, _) = w.invite("333", JOHN, "444");
        let opened = ports(&did.media);
        did.request_to(ROOM, Method::Invite);
        w.sw.handle_media_event(w.now, MediaEvent::OpenFailed(opened[0], why));
        let did = w.collect();
        assert_eq!(did.response_to(JOHN, 503).reason, "Media port unavailable");
        did.request_to(ROOM, Method::Cancel);
        assert!(did.media.contains(&MediaCommand::Close(opened[1])));
        assert_eq!((w.sw.call_count(), w.sw.ports_in_use()), (0, 0));
        assert_eq!(
            w.sw.ports_retired(),
            retired,
            "{why:?}: only a port another socket holds is retired"
        );
    }
}

/// An in-dialog request from the callee (it answered `inv` with To tag
/// `callee`).
fn from_callee(inv: &Request, method: &str, n: u32, body: &str, addr: &str) -> String {
    let from = inv.headers.get_str(Name::From).unwrap();
    let to = inv.headers.get_str(Name::To).unwrap();
    format!(
        "{method} sip:parkline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKcallee{n};rport\r\nFrom: {to};tag=callee\r\nTo: {from}\r\nCall-ID: {}\r\nCSeq: {n} {method}\r\nContact: <sip:callee@{addr}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        String::from_utf8_lossy(inv.call_id().unwrap()),
        body.len()
    )
}

#[test]
fn a_parked_party_that_holds_and_resumes_keeps_its_music() {
    let mut w = World::new();
    w.register("444", ROOM);
    w.register("333", JOHN);
    let (did, _) = w.invite("333", JOHN, "444");
    let opened = ports(&did.media);
    let inv = did.request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    let held = SDP.replace("sendrecv", "sendonly");
    w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN));
    w.invite("333", JOHN, "*70333");
    assert_eq!(w.sw.parked_count(), 1);
    let parked_port = opened[1];
    let room_sdp = SDP.replace("4000", "4002");
    for (n, direction) in [(2, "sendonly"), (3, "sendrecv")] {
        let body = room_sdp.replace("sendrecv", direction);
        let did = w.from(ROOM, &from_callee(&inv, "INVITE", n, &body, ROOM));
        did.response_to(ROOM, 200);
        assert!(
            !did.media.iter().any(|c| matches!(
                c,
                MediaCommand::Bridge(..) | MediaCommand::Silence(_) | MediaCommand::Music(0)
            )),
            "{direction}: the parked party's media is left alone: {:?}",
            did.media
        );
    }
    // Still parked, and retrieval bridges it to the retriever's new port.
    let (did, _) = w.invite("333", JOHN, "*71333");
    did.response_to(JOHN, 200);
    assert!(did
        .media
        .iter()
        .any(|c| matches!(c, MediaCommand::Bridge(_, p) if *p == parked_port)));
}

#[test]
fn a_lot_entry_without_its_call_answers_the_retriever_and_leaks_no_port() {
    let mut w = World::new();
    let pos = crate::lot::Position::Extension("444".into());
    w.sw.calls.lot.park(
        "acme",
        pos.clone(),
        crate::lot::Parked {
            call: 9999,
            side: crate::call::Side::A,
            parker: "444".into(),
            since: w.now.mono,
            since_ms: w.now.unix_ms,
            retrieval: "*71444".into(),
            position: pos,
        },
    );
    let (did, _) = w.invite("333", JOHN, "*71444");
    did.response_to(JOHN, 200);
    let no_call = crate::prompts::Prompt::NoCallParkedAt;
    assert!(did
        .media
        .iter()
        .any(|c| matches!(c, MediaCommand::Play(_, p) if p[0] == no_call)));
    assert_eq!(w.sw.parked_count(), 0);
    // The announcement's port is the only one taken, and it is freed.
    assert_eq!(w.sw.ports_in_use(), 1);
    let port = ports(&did.media)[0];
    w.sw.handle_media_event(w.now, crate::output::MediaEvent::PromptDone(port));
    w.collect();
    assert_eq!((w.sw.call_count(), w.sw.ports_in_use()), (0, 0));
}

/// The latest snapshot of every call, as the store would hold it after
/// applying `ops` in order.
pub(super) fn stored_calls(
    ops: &[StoreOp],
    into: &mut std::collections::BTreeMap<u64, crate::snapshot::CallSnapshot>,
) {
    for op in ops {
        match op {
            StoreOp::SaveCall(s) => {
                // Through JSON, as the shell stores it.
                let text = serde_json::to_string(s).unwrap();
                into.insert(s.id, serde_json::from_str(&text).unwrap());
            }
            StoreOp::RemoveCall(id) => {
                into.remove(id);
            }
            _ => {}
        }
    }
}

#[test]
fn talking_and_parked_calls_resume_in_a_new_switch() {
    let mut w = World::new();
    let mut store = std::collections::BTreeMap::new();
    w.register("444", ROOM);
    w.register("333", JOHN);
    // Call 1: John → 444, parked by John at *70333.
    let (did, _) = w.invite("333", JOHN, "444");
    stored_calls(&did.store, &mut store);
    assert!(
        matches!(
            store.values().next().map(|s| &s.state),
            Some(crate::snapshot::CallState::Ringing { .. })
        ),
        "a ringing call is saved"
    );
    let p1 = ports(&did.media);
    let inv = did.request_to(ROOM, Method::Invite);
    let did = w.answer(ROOM, &inv, 200, true);
    stored_calls(&did.store, &mut store);
    let ok = did.response_to(JOHN, 200);
    stored_calls(
        &w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN)).store,
        &mut store,
    );
    let held = SDP.replace("sendrecv", "sendonly");
    stored_calls(
        &w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN))
            .store,
        &mut store,
    );
    let (did, _) = w.invite("333", JOHN, "*70333");
    stored_calls(&did.store, &mut store);
    let ok_park = did.response_to(JOHN, 200);
    stored_calls(
        &w.from(JOHN, &in_dialog(&ok_park, "ACK", 2, "", JOHN)).store,
        &mut store,
    );
    let parked_at = w.now;
    // Call 2: 444 → 333, talking.
    let (did, _) = w.invite("444", ROOM2, "333");
    let p2 = ports(&did.media);
    let inv2 = did.request_to(JOHN, Method::Invite);
    let did = w.answer(JOHN, &inv2, 200, true);
    let ok2 = did.response_to(ROOM2, 200);
    stored_calls(&did.store, &mut store);
    stored_calls(
        &w.from(ROOM2, &in_dialog(&ok2, "ACK", 2, "", ROOM2)).store,
        &mut store,
    );
    let did = w.advance(Duration::from_secs(100));
    stored_calls(&did.store, &mut store);
    assert_eq!(
        store.len(),
        3,
        "parked call, park announcement, talking call: {:?}",
        store.keys()
    );

    // The process dies; a new one starts 2 s later from the store.
    let mut w2 = World::new();
    w2.now.mono = w.now.mono + Duration::from_secs(2);
    w2.now.unix_ms = w.now.unix_ms + 2000;
    w2.register("444", ROOM);
    w2.register("333", JOHN);
    let resumed = w2.sw.resume(w2.now, store.values().cloned().collect());
    assert_eq!((resumed.talking, resumed.parked, resumed.ended), (1, 1, 1));
    let did = w2.collect();
    assert!(
        did.media.contains(&MediaCommand::Open(p1[1])),
        "the parked party's port"
    );
    assert!(
        did.media.contains(&MediaCommand::Music(p1[1])),
        "music again"
    );
    assert!(
        did.media.contains(&MediaCommand::Bridge(p2[0], p2[1])),
        "the talking call is bridged again"
    );
    assert!(
        did.to(ROOM2).is_empty() && did.to(ROOM).is_empty(),
        "resumed parties see no SIP"
    );
    did.request_to(JOHN, Method::Bye); // the cut announcement ends
    assert_eq!(w2.sw.parked_count(), 1);
    assert_eq!(w2.sw.call_count(), 2);

    // The talking call goes on: a BYE from the caller is in its dialog.
    let did = w2.from(ROOM2, &in_dialog(&ok2, "BYE", 3, "", ROOM2));
    did.response_to(ROOM2, 200);
    did.request_to(JOHN, Method::Bye);
    assert!(did
        .store
        .iter()
        .any(|op| matches!(op, StoreOp::SaveCallRecord(r) if r.features.contains("resumed") && r.events.ends_with("resumed after a restart\n"))));

    // The comeback keeps its deadline: 180 s after the park, not after the restart.
    let until =
        parked_at.mono + Duration::from_secs(180) - w2.now.mono - Duration::from_millis(500);
    let early = w2.advance(until);
    assert!(
        early
            .to(JOHN)
            .iter()
            .all(|m| !matches!(m, Message::Request(r) if r.method == Method::Invite)),
        "not before its time"
    );
    let did = w2.advance(Duration::from_secs(1));
    did.request_to(JOHN, Method::Invite);
    assert_eq!(w2.sw.parked_count(), 0);
    let events = CallEvent::lines(&w2.sw.calls.calls.iter().next().unwrap().1.events);
    assert_eq!(
        events,
        "held by 333\nparked by 333 at *71333\nresumed after a restart\nnot retrieved in 180 s: ringing 333 back\n"
    );
}

#[test]
fn changes_within_the_persist_interval_are_saved_once() {
    let mut w = World::new();
    w.sw.cfg.persist_interval = Duration::from_millis(20);
    w.register("444", ROOM);
    let (did, _) = w.invite("333", JOHN, "444");
    assert!(
        !did.store
            .iter()
            .any(|op| matches!(op, StoreOp::SaveCall(_))),
        "not saved at once"
    );
    let inv = did.request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    let did = w.advance(Duration::from_millis(25));
    let saved: Vec<_> = did
        .store
        .iter()
        .filter_map(|op| match op {
            StoreOp::SaveCall(s) => Some(&s.state),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            saved.as_slice(),
            [crate::snapshot::CallState::Talking { .. }]
        ),
        "one save, already talking: {saved:?}"
    );
    // A call that ends before its first save leaves nothing to remove.
    let (did, _) = w.invite("333", JOHN, "444");
    let inv = did.request_to(ROOM, Method::Invite);
    let did = w.answer(ROOM, &inv, 486, false);
    let did2 = w.advance(Duration::from_millis(25));
    assert!(!did
        .store
        .iter()
        .chain(did2.store.iter())
        .any(|op| matches!(op, StoreOp::SaveCall(_) | StoreOp::RemoveCall(_))));
}

#[test]
fn a_call_ringing_at_the_restart_is_ended_cleanly() {
    let mut w = World::new();
    let mut store = std::collections::BTreeMap::new();
    w.register("444", ROOM);
    let (did, _) = w.invite("333", JOHN, "444");
    stored_calls(&did.store, &mut store);
    let inv = did.request_to(ROOM, Method::Invite);
    let mut w2 = World::new();
    let resumed = w2.sw.resume(w2.now, store.values().cloned().collect());
    assert_eq!(resumed.ended, 1);
    let did = w2.collect();
    assert_eq!(did.response_to(JOHN, 480).reason, "Switch restarted");
    let cancel = did.request_to(ROOM, Method::Cancel);
    assert_eq!(
        cancel.top_via().unwrap().branch(),
        inv.top_via().unwrap().branch()
    );
    assert!(did
        .store
        .iter()
        .any(|op| matches!(op, StoreOp::RemoveCall(_))));
    assert!(did
        .store
        .iter()
        .any(|op| matches!(op, StoreOp::SaveCallRecord(r) if r.status == 480)));
    assert_eq!((w2.sw.call_count(), w2.sw.ports_in_use()), (0, 0));
}

pub(super) const DESK: &str = "127.0.0.1:5090";

/// John (333) calls the room (444), who answers; John holds and parks it
/// at *70333 and hangs up the confirmation. Returns the room's INVITE (its
/// dialog) and the parked port.
pub(super) fn parked_by_john(w: &mut World) -> (Request, u16) {
    w.register("444", ROOM);
    w.register("333", JOHN);
    let (did, _) = w.invite("333", JOHN, "444");
    let parked_port = ports(&did.media)[1];
    let inv = did.request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    let held = SDP.replace("sendrecv", "sendonly");
    w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN));
    let (did, _) = w.invite("333", JOHN, "*70333");
    let ok_park = did.response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok_park, "ACK", 2, "", JOHN));
    w.from(JOHN, &in_dialog(&ok_park, "BYE", 3, "", JOHN));
    assert_eq!(w.sw.parked_count(), 1);
    (inv, parked_port)
}

/// The record a store write list holds.
fn record_in(did: &Did) -> accounts::CallRecord {
    did.store
        .iter()
        .find_map(|op| match op {
            StoreOp::SaveCallRecord(r) => Some((**r).clone()),
            _ => None,
        })
        .expect("a call record")
}

#[test]
fn a_comeback_answered_by_the_parker_is_a_call_again() {
    let mut w = World::new();
    let (_, parked_port) = parked_by_john(&mut w);
    let did = w.advance(Duration::from_secs(181));
    let comeback = did.request_to(JOHN, Method::Invite);
    let mine = ports(&did.media)[0];
    let did = w.answer(JOHN, &comeback, 200, true);
    did.request_to(JOHN, Method::Ack);
    assert!(did.media.contains(&MediaCommand::Bridge(mine, parked_port)));
    let call = w.sw.calls.calls.iter().next().unwrap().1;
    assert!(matches!(call.phase, crate::call::Phase::Established));
    assert_eq!(
        CallEvent::lines(&call.events),
        "held by 333\nparked by 333 at *71333\nnot retrieved in 181 s: ringing 333 back\ncomeback answered by 333\n"
    );
}

#[test]
fn an_unanswered_comeback_rings_the_fallback_then_says_goodbye() {
    let mut w = world_with(directory_with(Some("555")));
    w.register("555", DESK);
    let (room_inv, parked_port) = parked_by_john(&mut w);
    let did = w.advance(Duration::from_secs(181));
    let to_john = did.request_to(JOHN, Method::Invite);
    // John's phone rings for the tenant's 30 s, then the fallback rings.
    let did = w.advance(Duration::from_secs(31));
    let cancel = did.request_to(JOHN, Method::Cancel);
    assert_eq!(cancel.call_id(), to_john.call_id());
    let to_desk = did.request_to(DESK, Method::Invite);
    assert!(to_desk
        .headers
        .get_str(Name::From)
        .unwrap()
        .starts_with("\"Parked: Ext 444\""));
    // Nobody answers there either: the parked party hears goodbye.
    let did = w.advance(Duration::from_secs(31));
    did.request_to(DESK, Method::Cancel);
    assert!(did.media.contains(&MediaCommand::Play(
        parked_port,
        vec![crate::prompts::Prompt::Goodbye]
    )));
    w.sw.handle_media_event(w.now, crate::output::MediaEvent::PromptDone(parked_port));
    let did = w.collect();
    let bye = did.request_to(ROOM, Method::Bye);
    assert_eq!(bye.call_id(), room_inv.call_id());
    let r = record_in(&did);
    assert_eq!(
        (r.status, r.cause.as_str()),
        (480, "parked call not retrieved")
    );
    assert_eq!(r.outcome, accounts::Outcome::NoAnswer);
    assert!(
        r.events
            .ends_with("comeback unanswered: to fallback 555\ncomeback unanswered: goodbye\n"),
        "{}",
        r.events
    );
    assert_eq!((w.sw.call_count(), w.sw.ports_in_use()), (0, 0));
}

#[test]
fn a_parked_party_that_hangs_up_abandons_its_position() {
    let mut w = World::new();
    let (room_inv, _) = parked_by_john(&mut w);
    w.advance(Duration::from_secs(12));
    let did = w.from(ROOM, &from_callee(&room_inv, "BYE", 2, "", ROOM));
    did.response_to(ROOM, 200);
    assert_eq!(w.sw.parked_count(), 0);
    assert!(did
        .store
        .iter()
        .any(|op| matches!(op, StoreOp::RemoveParked { position, .. } if position == "333")));
    let r = record_in(&did);
    assert!(
        r.events.ends_with("abandoned at *71333 after 12.0 s\n"),
        "{}",
        r.events
    );
    assert_eq!((w.sw.call_count(), w.sw.ports_in_use()), (0, 0));
}

#[test]
fn a_refer_to_the_park_number_parks_the_other_party() {
    let mut w = World::new();
    w.register("444", ROOM);
    let (did, _) = w.invite("333", JOHN, "444");
    let inv = did.request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    let refer = in_dialog(&ok, "REFER", 3, "", JOHN).replace(
        "Content-Length: 0",
        "Refer-To: <sip:*70333@acme.example>\r\nContent-Length: 0",
    );
    let did = w.from(JOHN, &refer);
    did.response_to(JOHN, 202);
    let notifies: Vec<_> = did
        .to(JOHN)
        .into_iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method == Method::Notify => {
                Some(String::from_utf8_lossy(&r.body).into_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(notifies, ["SIP/2.0 100 Trying\r\n", "SIP/2.0 200 OK\r\n"]);
    did.request_to(JOHN, Method::Bye);
    assert_eq!(w.sw.parked()[0].retrieval, "*71333");
    let call = w.sw.calls.calls.iter().next().unwrap().1;
    assert!(call
        .features
        .contains(&crate::call::CallFeature::ParkByTransfer));
}

#[test]
fn an_expired_session_timer_ends_the_call() {
    let mut w = World::new();
    // The room would be probed (it refreshes no timer); this is about John's.
    w.sw.cfg.probe_interval = None;
    w.register("444", ROOM);
    let timer = "Supported: timer\r\nSession-Expires: 120\r\n";
    let (did, _) = w.invite_with("333", JOHN, "444", timer);
    let inv = did.request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    assert_eq!(
        ok.headers.get_str(Name::SessionExpires).unwrap(),
        "120;refresher=uac"
    );
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    // A refresh at 100 s keeps it; none by 221 s ends it.
    w.advance(Duration::from_secs(100));
    w.from(JOHN, &in_dialog(&ok, "INVITE", 3, SDP, JOHN))
        .response_to(JOHN, 200);
    assert!(w.advance(Duration::from_secs(110)).to(ROOM).is_empty());
    let did = w.advance(Duration::from_secs(11));
    did.request_to(ROOM, Method::Bye);
    did.request_to(JOHN, Method::Bye);
    let r = record_in(&did);
    assert_eq!((r.status, r.cause.as_str()), (408, "Session timer expired"));
}

/// John (333) talks to the room (444); the 200 John got.
pub(super) fn john_talks_to_room(w: &mut World) -> (Response, Request, Vec<u16>) {
    w.register("444", ROOM);
    w.register("555", DESK);
    let (did, _) = w.invite("333", JOHN, "444");
    let opened = ports(&did.media);
    let inv = did.request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    (ok, inv, opened)
}

fn refer_to(ok: &Response, n: u32, number: &str) -> String {
    in_dialog(ok, "REFER", n, "", JOHN).replace(
        "Content-Length: 0",
        &format!("Refer-To: <sip:{number}@acme.example>\r\nContent-Length: 0"),
    )
}

fn sipfrags(did: &Did, to: &str) -> Vec<String> {
    did.to(to)
        .into_iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method == Method::Notify => {
                Some(String::from_utf8_lossy(&r.body).trim().to_string())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_blind_transfer_connects_the_transferee_to_the_target() {
    let mut w = world_with(directory_with(None));
    let (ok, _, opened) = john_talks_to_room(&mut w);
    let did = w.from(JOHN, &refer_to(&ok, 3, "555"));
    did.response_to(JOHN, 202);
    assert_eq!(sipfrags(&did, JOHN), ["SIP/2.0 100 Trying"]);
    let to_desk = did.request_to(DESK, Method::Invite);
    assert!(
        to_desk
            .headers
            .get_str(Name::From)
            .unwrap()
            .starts_with("\"Ext 444\""),
        "the target sees the transferee"
    );
    let desk_port = ports(&did.media)[0];
    let did = w.answer(DESK, &to_desk, 200, true);
    did.request_to(DESK, Method::Ack);
    assert_eq!(sipfrags(&did, JOHN), ["SIP/2.0 200 OK"]);
    did.request_to(JOHN, Method::Bye);
    assert!(did
        .media
        .contains(&MediaCommand::Bridge(desk_port, opened[1])));
    assert!(
        did.media.contains(&MediaCommand::Close(opened[0])),
        "John's port freed"
    );
    let call = w.sw.calls.calls.iter().next().unwrap().1;
    assert!(call.features.contains(&crate::call::CallFeature::Transfer));
    assert!(CallEvent::lines(&call.events).contains("transferred by 333 to 555"));
    // The target's hang-up ends it: the room gets the BYE.
    let desk_ok = {
        let mut r = Response::to_request(&to_desk, 200, "OK");
        r.set_to_tag("callee");
        r
    };
    let bye = format!(
        "BYE sip:parkline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {DESK};branch=z9hG4bKdb;rport\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        desk_ok.headers.get_str(Name::To).unwrap(),
        desk_ok.headers.get_str(Name::From).unwrap(),
        String::from_utf8_lossy(desk_ok.call_id().unwrap())
    );
    let did = w.from(DESK, &bye);
    did.response_to(DESK, 200);
    did.request_to(ROOM, Method::Bye);
    assert_eq!((w.sw.call_count(), w.sw.ports_in_use()), (0, 0));
}

#[test]
fn a_busy_transfer_target_leaves_the_call_as_it_was() {
    let mut w = world_with(directory_with(None));
    let (ok, _, _) = john_talks_to_room(&mut w);
    let did = w.from(JOHN, &refer_to(&ok, 3, "555"));
    let to_desk = did.request_to(DESK, Method::Invite);
    let did = w.answer(DESK, &to_desk, 486, false);
    assert_eq!(sipfrags(&did, JOHN), ["SIP/2.0 486 Busy Here"]);
    assert!(did
        .to(JOHN)
        .iter()
        .all(|m| !matches!(m, Message::Request(r) if r.method == Method::Bye)));
    assert_eq!(w.sw.ports_in_use(), 2, "the target's port is freed");
    let call = w.sw.calls.calls.iter().next().unwrap().1;
    assert!(matches!(call.phase, crate::call::Phase::Established));
    // Unknown numbers are refused at once.
    w.from(JOHN, &refer_to(&ok, 4, "999"))
        .response_to(JOHN, 404);
}

#[test]
fn a_transferor_may_hang_up_before_the_target_answers() {
    for answers in [true, false] {
        let mut w = world_with(directory_with(None));
        let (ok, _, opened) = john_talks_to_room(&mut w);
        let did = w.from(JOHN, &refer_to(&ok, 3, "555"));
        let to_desk = did.request_to(DESK, Method::Invite);
        let did = w.from(JOHN, &in_dialog(&ok, "BYE", 5, "", JOHN));
        did.response_to(JOHN, 200);
        assert!(did.to(ROOM).is_empty(), "the room waits");
        assert!(
            did.media.contains(&MediaCommand::Music(opened[1])),
            "on music"
        );
        if answers {
            let did = w.answer(DESK, &to_desk, 200, true);
            assert!(did.to(JOHN).is_empty(), "nothing more for John");
            assert!(did
                .media
                .iter()
                .any(|c| matches!(c, MediaCommand::Bridge(_, p) if *p == opened[1])));
            assert_eq!(w.sw.call_count(), 1);
        } else {
            let did = w.answer(DESK, &to_desk, 486, false);
            did.request_to(ROOM, Method::Bye);
            assert_eq!((w.sw.call_count(), w.sw.ports_in_use()), (0, 0));
        }
    }
}
