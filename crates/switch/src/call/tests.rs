//! A `Call` driven alone: no switchboard, no indexes, no sockets. Inputs go
//! in with a context built here; what it sends, plays and reports comes out.

use super::*;
use crate::config::SwitchConfig;
use crate::ids::Ids;
use crate::media_security::KeyMint;
use crate::output::{MediaCommand, Output};
use crate::peer::Transport;
use crate::time::Now;
use sip::dialog::Dialog;
use sip::transaction::{ClientKey, Incoming, Layer};
use sip::{Message, Response};
use std::collections::VecDeque;

const A: &str = "127.0.0.1:5070";
const B: &str = "127.0.0.1:5080";
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";

/// What a call's context is made of, owned by the test.
struct Bench {
    cfg: SwitchConfig,
    layer: Layer<Peer>,
    out: VecDeque<Output>,
    ids: Ids,
    keys: KeyMint,
    sent: u64,
    now: Now,
}

impl Bench {
    fn new() -> Bench {
        let cfg = SwitchConfig::default();
        Bench {
            layer: Layer::new(cfg.timers),
            ids: Ids::new(b"test", 1),
            keys: KeyMint::new([7; 32]),
            cfg,
            out: VecDeque::new(),
            sent: 0,
            now: Now {
                mono: Instant::now(),
                unix_ms: 1_700_000_000_000,
            },
        }
    }

    /// Runs `f` with a context; returns what it reported.
    fn run(&mut self, f: impl FnOnce(&mut CallCtx)) -> Vec<Report> {
        let mut ctx = CallCtx {
            now: self.now,
            cfg: &self.cfg,
            layer: &mut self.layer,
            out: &mut self.out,
            ids: &mut self.ids,
            keys: &mut self.keys,
            sent: &mut self.sent,
            reports: Vec::new(),
        };
        f(&mut ctx);
        ctx.reports
    }

    /// A request from `from` opens its server transaction (as the
    /// switchboard does before a call sees it).
    fn request(&mut self, from: &str, text: &str) -> (ServerKey, Request) {
        let bytes = bytes::Bytes::copy_from_slice(text.as_bytes());
        let Ok(Some(Message::Request(req))) = sip::parse_datagram(&bytes, &sip::Limits::default())
        else {
            panic!("not a request: {text}");
        };
        let Some(Incoming::New(key)) =
            self.layer
                .handle_request(self.now.mono, &req, udp(from), false)
        else {
            panic!("no transaction");
        };
        (key, req)
    }

    /// The responses the layer sent, parsed.
    fn responses(&mut self) -> Vec<Response> {
        self.layer
            .drain_outputs()
            .filter_map(|o| match o {
                sip::transaction::Output::Transmit(_, b) => {
                    match sip::parse_datagram(&b, &sip::Limits::default()) {
                        Ok(Some(Message::Response(r))) => Some(r),
                        _ => None,
                    }
                }
                _ => None,
            })
            .collect()
    }

    fn media(&mut self) -> Vec<MediaCommand> {
        self.out
            .drain(..)
            .filter_map(|o| match o {
                Output::Media(c) => Some(c),
                _ => None,
            })
            .collect()
    }
}

fn udp(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

/// A's INVITE, whose dialog A's leg is (we answered it with tag `ours`).
fn invite_from_a() -> Request {
    let text = format!("INVITE sip:444@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch=z9hG4bKa1\r\nFrom: <sip:333@acme.example>;tag=theirs\r\nTo: <sip:444@acme.example>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:333@{A}>\r\nContent-Length: 0\r\n\r\n");
    let b = bytes::Bytes::from(text);
    match sip::parse_datagram(&b, &sip::Limits::default()) {
        Ok(Some(Message::Request(r))) => r,
        _ => unreachable!(),
    }
}

/// A talking call: A on port 20000, B on 20002, both with dialogs.
fn talking() -> Call {
    let mut a = Leg::new(udp(A), 20000, SdpOrigin::new(1));
    a.dialog = Some(Dialog::as_uas(&invite_from_a(), "ours").unwrap());
    a.codec = Some((media::Codec::Pcmu, 0));
    a.remote_media = Some("127.0.0.1:4000".parse().unwrap());
    let mut b = Leg::new(udp(B), 20002, SdpOrigin::new(2));
    b.codec = Some((media::Codec::Pcmu, 0));
    b.remote_media = Some("127.0.0.1:4002".parse().unwrap());
    Call {
        tenant: "acme".into(),
        a,
        b,
        phase: Phase::Established,
        answered_by: None,
        ok: None,
        record: accounts::CallRecord {
            id: "c1".into(),
            tenant: "acme".into(),
            caller: "333".into(),
            callee: "444".into(),
            routed_to: "444".into(),
            connected: String::new(),
            started_ms: 0,
            answered_ms: Some(0),
            ended_ms: 0,
            outcome: accounts::Outcome::Answered,
            status: 0,
            cause: String::new(),
            features: String::new(),
            events: String::new(),
        },
        features: Default::default(),
        events: Vec::new(),
        fallback_tried: false,
        outbound_by: None,
        limit: None,
        scheduled: None,
        reported: 0,
    }
}

/// A re-INVITE from A in its dialog with `direction`.
fn reinvite_from_a(cseq: u32, direction: &str) -> String {
    let body = SDP.replace("sendrecv", direction);
    format!("INVITE sip:parkline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch=z9hG4bKr{cseq}\r\nFrom: <sip:333@acme.example>;tag=theirs\r\nTo: <sip:444@acme.example>;tag=ours\r\nCall-ID: c1\r\nCSeq: {cseq} INVITE\r\nContact: <sip:333@{A}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

#[test]
fn hold_and_resume_drive_the_media_and_are_answered() {
    let mut bench = Bench::new();
    let mut call = talking();
    let (key, req) = bench.request(A, &reinvite_from_a(2, "sendonly"));
    bench.run(|ctx| call.handle_reinvite(ctx, Side::A, &key, &req));
    let ok = bench.responses().pop().expect("an answer");
    assert_eq!(ok.status, 200);
    let answer = media::sdp::parse_audio(&ok.body).unwrap();
    assert_eq!(answer.direction, media::sdp::Direction::RecvOnly);
    assert_eq!(answer.port, 20000);
    let media = bench.media();
    assert!(media.contains(&MediaCommand::Music(20002)), "{media:?}");
    assert!(media.contains(&MediaCommand::Silence(20000)));
    assert!(call.a.holding && call.features.contains(&CallFeature::Hold));

    let (key, req) = bench.request(A, &reinvite_from_a(3, "sendrecv"));
    bench.run(|ctx| call.handle_reinvite(ctx, Side::A, &key, &req));
    assert_eq!(bench.responses().pop().unwrap().status, 200);
    assert!(bench.media().contains(&MediaCommand::Bridge(20000, 20002)));
    assert!(!call.a.holding);
}

#[test]
fn a_parked_party_that_holds_keeps_hearing_music() {
    let mut bench = Bench::new();
    let mut call = talking();
    call.b = Leg::new(udp(B), 0, SdpOrigin::default());
    call.phase = Phase::Parked(Comeback {
        at: bench.now.mono + Duration::from_secs(180),
        to: "333".into(),
    });
    let (key, req) = bench.request(A, &reinvite_from_a(2, "sendonly"));
    bench.run(|ctx| call.handle_reinvite(ctx, Side::A, &key, &req));
    assert_eq!(bench.responses().pop().unwrap().status, 200);
    let media = bench.media();
    assert!(
        !media.iter().any(|c| matches!(
            c,
            MediaCommand::Bridge(..) | MediaCommand::Music(_) | MediaCommand::Silence(_)
        )),
        "{media:?}"
    );
}

#[test]
fn an_unreadable_offer_gets_488_and_changes_nothing() {
    let mut bench = Bench::new();
    let mut call = talking();
    let text =
        reinvite_from_a(2, "sendonly").replace("m=audio 4000 RTP/AVP 0", "m=video 4000 RTP/AVP 99");
    let (key, req) = bench.request(A, &text);
    bench.run(|ctx| call.handle_reinvite(ctx, Side::A, &key, &req));
    assert_eq!(bench.responses().pop().unwrap().status, 488);
    assert!(bench.media().is_empty() && !call.a.holding);
}

#[test]
fn our_2xx_is_resent_with_backoff_until_the_ack_or_the_give_up() {
    let mut bench = Bench::new();
    let mut call = talking();
    let t1 = bench.cfg.timers.t1;
    call.phase = Phase::Answered;
    call.ok = Some(OkRetransmit {
        side: Side::A,
        peer: udp(A),
        wire: bytes::Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        next: bench.now.mono + t1,
        interval: t1,
        give_up: bench.now.mono + bench.cfg.timers.t1x64(),
    });
    let start = bench.now.mono;
    for (at_ms, sent) in [(400, 0), (500, 1), (1400, 1), (1500, 2), (3500, 3)] {
        bench.now.mono = start + Duration::from_millis(at_ms);
        let due = bench.run(|ctx| assert_eq!(call.handle_timeout(ctx), Due::Nothing));
        assert!(due.is_empty());
        assert_eq!(bench.sent, sent, "at {at_ms} ms");
    }
    bench.now.mono = start + bench.cfg.timers.t1x64();
    bench.run(|ctx| assert_eq!(call.handle_timeout(ctx), Due::NoAck));
    // With the ACK instead, it stops and the call is established.
    let mut call = talking();
    call.phase = Phase::Answered;
    call.ok = Some(OkRetransmit {
        side: Side::A,
        peer: udp(A),
        wire: bytes::Bytes::new(),
        next: start,
        interval: t1,
        give_up: start,
    });
    let ack = ack_with("");
    bench.run(|ctx| call.handle_ack(ctx, Side::A, &ack));
    assert!(call.ok.is_none() && matches!(call.phase, Phase::Established));
}

/// An ACK carrying `sdp` (empty: none).
fn ack_with(sdp: &str) -> Request {
    Request {
        method: sip::Method::Ack,
        uri: sip::Uri::parse(b"sip:parkline@127.0.0.1").unwrap(),
        headers: Default::default(),
        body: bytes::Bytes::from(sdp.to_string()),
    }
}

#[test]
fn the_ack_answers_the_offer_of_a_delayed_offer_call() {
    let mut bench = Bench::new();
    let mut call = talking();
    call.phase = Phase::Answered;
    call.a.codec = None;
    call.a.remote_media = None;
    call.a.offer_pending = true;
    let answer = SDP
        .replace("RTP/AVP 0", "RTP/AVP 8")
        .replace("0 PCMU", "8 PCMA");
    bench.run(|ctx| call.handle_ack(ctx, Side::A, &ack_with(&answer)));
    assert_eq!(call.a.codec, Some((media::Codec::Pcma, 8)));
    assert!(
        bench.out.iter().any(|o| matches!(
            o,
            Output::Media(MediaCommand::Configure { port, codec: media::Codec::Pcma, .. }) if *port == call.a.port
        )),
        "the caller's media start with the answer"
    );
    assert!(
        call.features.contains(&CallFeature::Transcoding),
        "B talks PCMU"
    );
    assert!(!call.a.offer_pending);
}

#[test]
fn a_session_nobody_refreshes_expires() {
    let mut bench = Bench::new();
    let mut call = talking();
    call.a.session = Some(SessionTimer::new(Duration::from_secs(90), bench.now.mono));
    assert_eq!(
        call.deadline(),
        Some(bench.now.mono + Duration::from_secs(90))
    );
    bench.now.mono += Duration::from_secs(89);
    bench.run(|ctx| assert_eq!(call.handle_timeout(ctx), Due::Nothing));
    bench.now.mono += Duration::from_secs(1);
    bench.run(|ctx| assert_eq!(call.handle_timeout(ctx), Due::SessionExpired));
}

#[test]
fn the_phase_deadline_says_what_comes_next() {
    let mut bench = Bench::new();
    let mut call = talking();
    let at = bench.now.mono + Duration::from_secs(180);
    call.phase = Phase::Parked(Comeback {
        at,
        to: "333".into(),
    });
    assert_eq!(call.deadline(), Some(at));
    bench.now.mono = at;
    bench.run(|ctx| assert_eq!(call.handle_timeout(ctx), Due::ComeBack));
    call.phase = Phase::Comeback(Forking {
        forks: Vec::new(),
        deadline: at,
    });
    bench.run(|ctx| assert_eq!(call.handle_timeout(ctx), Due::ComebackUnanswered));
}

#[test]
fn ending_byes_the_parties_still_on_and_completes_the_record() {
    let mut bench = Bench::new();
    let mut call = talking();
    call.features.insert(CallFeature::Hold);
    call.events.push(CallEvent::Resumed);
    let how = Ending {
        hung_up: Some(Side::B),
        outcome: accounts::Outcome::Failed,
        status: 200,
        cause: "callee hung up",
    };
    let mut ended = None;
    bench.run(|ctx| ended = Some(call.end(ctx, how)));
    let ended = ended.unwrap();
    let byes: Vec<_> = bench
        .layer
        .drain_outputs()
        .filter_map(|o| match o {
            sip::transaction::Output::Transmit(p, b) => Some((p, b)),
            _ => None,
        })
        .collect();
    assert_eq!(byes.len(), 1, "only A, still on, gets a BYE");
    assert_eq!(byes[0].0, udp(A));
    let text = String::from_utf8_lossy(&byes[0].1);
    assert!(
        text.starts_with("BYE sip:333@127.0.0.1:5070 SIP/2.0"),
        "{text}"
    );
    assert!(text.contains("Reason: SIP;cause=200;text=\"callee hung up\""));
    let r = &ended.record;
    assert_eq!(r.outcome, accounts::Outcome::Answered, "it was answered");
    assert_eq!((r.status, r.cause.as_str()), (200, "callee hung up"));
    assert_eq!(
        (r.features.as_str(), r.events.as_str()),
        ("hold", "resumed after a restart\n")
    );
    assert_eq!(ended.ports, [20000, 20002, 0]);
    assert_eq!(ended.dialogs.len(), 1);
}

const C1: &str = "127.0.0.1:5090";
const C2: &str = "127.0.0.1:5092";

fn parse_request(text: &str) -> Request {
    let b = bytes::Bytes::copy_from_slice(text.as_bytes());
    match sip::parse_datagram(&b, &sip::Limits::default()) {
        Ok(Some(Message::Request(r))) => r,
        _ => panic!("not a request"),
    }
}

/// A ringing call: A's INVITE (with an SDP offer) answered by nobody yet,
/// our INVITEs to two contacts of 444 sent through the bench's layer.
fn ringing(bench: &mut Bench) -> (Call, ServerKey, [ClientKey; 2]) {
    let offer_text = format!("INVITE sip:444@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch=z9hG4bKa1\r\nFrom: <sip:333@acme.example>;tag=theirs\r\nTo: <sip:444@acme.example>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:333@{A}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}", SDP.len());
    let (key, invite) = bench.request(A, &offer_text);
    let offer = media::sdp::parse_audio(&invite.body).unwrap();
    let mut forks = Vec::new();
    for (i, to) in [C1, C2].into_iter().enumerate() {
        let text = format!("INVITE sip:444@{to} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKf{i};rport\r\nFrom: <sip:333@acme.example>;tag=f{i}\r\nTo: <sip:444@acme.example>\r\nCall-ID: out{i}\r\nCSeq: 1 INVITE\r\nContact: <sip:parkline@127.0.0.1:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}", SDP.len());
        let req = parse_request(&text);
        let k = bench
            .layer
            .send_request(bench.now.mono, req.clone(), udp(to), false)
            .unwrap();
        forks.push(Fork {
            key: k,
            invite: req,
            peer: udp(to),
            final_status: None,
            reply_by: None,
            authenticated: false,
            security: crate::media_security::LegSecurity::Plain,
        });
    }
    bench.layer.drain_outputs().for_each(drop);
    let keys = [forks[0].key.clone(), forks[1].key.clone()];
    let mut call = talking();
    call.a.dialog = None;
    call.a.codec = None;
    call.b.codec = None;
    call.b.remote_media = None;
    call.record.answered_ms = None;
    call.phase = Phase::Ringing(Box::new(Ringing {
        setup: Setup {
            invite,
            key: key.clone(),
            offer,
            tag: "ours".into(),
            delayed: false,
        },
        forking: Forking {
            forks,
            deadline: bench.now.mono + Duration::from_secs(30),
        },
        told_ringing: false,
    }));
    (call, key, keys)
}

/// A response from a contact to one of our INVITEs.
fn answer_from(call: &Call, key: &ClientKey, status: u16, sdp: bool) -> Response {
    let fork = call.phase.forks().iter().find(|f| &f.key == key).unwrap();
    let mut r = Response::to_request(&fork.invite, status, sip::reason_phrase(status));
    r.set_to_tag("callee");
    if sdp {
        r.headers
            .push(sip::Name::Contact, format!("<sip:444@{}>", fork.peer.addr));
        r.headers.push(sip::Name::ContentType, "application/sdp");
        r.body = bytes::Bytes::from(SDP.replace("4000", "4002"));
    }
    r
}

#[test]
fn a_ringing_call_tells_the_caller_once_then_the_first_answer_wins() {
    let mut bench = Bench::new();
    let (mut call, _, [k1, k2]) = ringing(&mut bench);
    let ringing_resp = answer_from(&call, &k2, 180, false);
    for _ in 0..2 {
        bench.run(|ctx| call.handle_progress(ctx, &k2, &ringing_resp));
    }
    let told: Vec<u16> = bench.responses().iter().map(|r| r.status).collect();
    assert_eq!(told, [180], "one 180, however many 1xx");

    let ok = answer_from(&call, &k1, 200, true);
    let mut outcome = ForkOutcome::Nothing;
    let reports = bench.run(|ctx| outcome = call.handle_answer(ctx, &k1, &ok));
    assert_eq!(outcome, ForkOutcome::Nothing);
    assert!(matches!(call.phase, Phase::Answered), "{:?}", call.phase);
    assert_eq!(call.answered_by.as_ref(), Some(&k1));
    assert!(reports
        .iter()
        .any(|r| matches!(r, Report::InviteAnswered(_))));
    assert_eq!(
        reports
            .iter()
            .filter(|r| matches!(r, Report::DialogOpened(..)))
            .count(),
        2,
        "both legs' dialogs"
    );
    assert!(reports
        .iter()
        .any(|r| matches!(r, Report::ForkCancelled { key, .. } if *key == k2)));
    // The caller got our 200 with our SDP; the winner its ACK (sent
    // directly); the other contact a CANCEL (through the layer).
    let layer_out: Vec<_> = bench.layer.drain_outputs().collect();
    let mut to_caller = None;
    let mut cancelled = false;
    for o in layer_out {
        if let sip::transaction::Output::Transmit(p, b) = o {
            let text = String::from_utf8_lossy(&b).into_owned();
            if p == udp(A) && text.starts_with("SIP/2.0 200") {
                to_caller = Some(text);
            } else if p == udp(C2) && text.starts_with("CANCEL") {
                cancelled = true;
            }
        }
    }
    assert!(to_caller.unwrap().contains("m=audio 20000 RTP/AVP 0"));
    assert!(cancelled, "the other contact is cancelled");
    assert_eq!(bench.sent, 1, "the ACK to the winner");
    let media = bench.media();
    assert!(media.contains(&MediaCommand::Bridge(20000, 20002)));
    assert!(call.ok.is_some(), "our 2xx is resent until the ACK");
}

#[test]
fn when_every_contact_fails_the_best_failure_is_the_callers() {
    let mut bench = Bench::new();
    let (mut call, _, [k1, k2]) = ringing(&mut bench);
    let mut outcome = ForkOutcome::Nothing;
    bench.run(|ctx| outcome = call.handle_fork_failure(ctx, &k1, 480));
    assert_eq!(outcome, ForkOutcome::Nothing, "one still rings");
    bench.run(|ctx| outcome = call.handle_fork_failure(ctx, &k2, 486));
    assert_eq!(outcome, ForkOutcome::Failed(486), "busy beats unavailable");
    bench.run(|ctx| call.refuse_caller(ctx, 486, "Busy Here"));
    assert_eq!(bench.responses().pop().unwrap().status, 486);
}

#[test]
fn park_releases_the_holder_and_retrieval_joins_a_new_leg() {
    let mut bench = Bench::new();
    let mut call = talking();
    let comeback = Comeback {
        at: bench.now.mono + Duration::from_secs(180),
        to: "444".into(),
    };
    // B (444) held A and parks it.
    let mut b_dialog = Dialog::as_uas(&invite_from_a(), "b-side").unwrap();
    b_dialog.id.call_id = "c2".into();
    call.b.dialog = Some(b_dialog);
    let reports = bench.run(|ctx| call.park(ctx, Side::B, comeback, "*71444"));
    assert!(matches!(call.phase, Phase::Parked(_)));
    assert_eq!(call.b.port, 0);
    assert!(reports
        .iter()
        .any(|r| matches!(r, Report::PortReleased(20002))));
    assert!(reports.iter().any(|r| matches!(r, Report::DialogClosed(_))));
    assert!(bench.media().contains(&MediaCommand::Music(20000)));
    assert_eq!(
        call.deadline(),
        Some(bench.now.mono + Duration::from_secs(180))
    );

    let mut leg = Leg::new(udp(C1), 20004, SdpOrigin::new(9));
    leg.codec = Some((media::Codec::Pcma, 8));
    leg.remote_media = Some("127.0.0.1:4010".parse().unwrap());
    let retriever = Retriever {
        leg,
        ok: None,
        extension: "555".into(),
        joining: crate::call::Joining::Retrieval {
            waited: Duration::from_secs(12),
        },
    };
    let reports = bench.run(|ctx| call.attach(ctx, Side::B, retriever));
    assert!(matches!(call.phase, Phase::Established));
    assert!(reports
        .iter()
        .any(|r| matches!(r, Report::PortTaken(20004, Side::B))));
    assert!(bench.media().contains(&MediaCommand::Bridge(20004, 20000)));
    assert!(
        call.features.contains(&CallFeature::Transcoding),
        "PCMA to PCMU"
    );
    assert_eq!(
        CallEvent::lines(&call.events),
        "parked by 444 at *71444\nretrieved by 555 after 12.0 s\n"
    );
}

/// A parked call (A parked; B released) whose comeback rings C1 with one
/// INVITE.
fn comeback_ringing(bench: &mut Bench) -> (Call, ClientKey) {
    let mut call = talking();
    call.b = Leg::new(udp(B), 0, SdpOrigin::default());
    let text = format!("INVITE sip:333@{C1} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcb;rport\r\nFrom: \"Parked: 333\" <sip:333@acme.example>;tag=cb\r\nTo: <sip:444@acme.example>\r\nCall-ID: comeback\r\nCSeq: 1 INVITE\r\nContact: <sip:parkline@127.0.0.1:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}", SDP.len());
    let req = parse_request(&text);
    let key = bench
        .layer
        .send_request(bench.now.mono, req.clone(), udp(C1), false)
        .unwrap();
    bench.layer.drain_outputs().for_each(drop);
    let fork = Fork {
        key: key.clone(),
        invite: req,
        peer: udp(C1),
        final_status: None,
        authenticated: false,
        security: crate::media_security::LegSecurity::Plain,
        reply_by: None,
    };
    call.phase = Phase::Parked(Comeback {
        at: bench.now.mono,
        to: "444".into(),
    });
    let ring = RingBack {
        extension: "444".into(),
        identity: Identity::new("Room", "444"),
        port: 20006,
        sdp: SdpOrigin::new(5),
        forks: vec![fork],
        deadline: bench.now.mono + Duration::from_secs(30),
    };
    let reports = bench.run(|ctx| call.ring_back(ctx, ring));
    assert!(reports
        .iter()
        .any(|r| matches!(r, Report::PortTaken(20006, Side::B))));
    (call, key)
}

#[test]
fn a_comeback_answered_bridges_the_parked_party_again() {
    let mut bench = Bench::new();
    let (mut call, key) = comeback_ringing(&mut bench);
    assert!(matches!(call.phase, Phase::Comeback(_)));
    let ok = answer_from(&call, &key, 200, true);
    let mut outcome = ForkOutcome::Nothing;
    bench.run(|ctx| outcome = call.handle_answer(ctx, &key, &ok));
    assert_eq!(
        outcome,
        ForkOutcome::ComebackAnswered,
        "the switchboard's to route"
    );
    let reports = bench.run(|ctx| call.handle_comeback_answer(ctx, &key, &ok));
    assert!(matches!(call.phase, Phase::Established));
    assert!(reports
        .iter()
        .any(|r| matches!(r, Report::DialogOpened(_, Side::B))));
    assert_eq!(bench.sent, 1, "the ACK");
    assert!(bench.media().contains(&MediaCommand::Bridge(20006, 20000)));
    assert!(CallEvent::lines(&call.events).ends_with("comeback answered by 444\n"));
}

#[test]
fn an_unanswered_comeback_is_given_up_then_says_goodbye() {
    let mut bench = Bench::new();
    let (mut call, key) = comeback_ringing(&mut bench);
    bench.now.mono += Duration::from_secs(30);
    bench.run(|ctx| assert_eq!(call.handle_timeout(ctx), Due::ComebackUnanswered));
    let mut rang = String::new();
    let reports = bench.run(|ctx| rang = call.give_up_comeback(ctx));
    assert_eq!(rang, "444");
    assert!(reports
        .iter()
        .any(|r| matches!(r, Report::PortReleased(20006))));
    assert!(reports
        .iter()
        .any(|r| matches!(r, Report::ForkCancelled { key: k, .. } if *k == key)));
    bench.run(|ctx| call.say_goodbye(ctx));
    assert!(matches!(call.phase, Phase::Announcing));
    assert!(bench.media().contains(&MediaCommand::Play(
        20000,
        vec![crate::prompts::Prompt::Goodbye]
    )));
    assert_eq!(
        (call.record.status, call.record.cause.as_str()),
        (480, "parked call not retrieved")
    );
}

#[test]
fn an_abandoned_parked_call_says_how_long_it_waited() {
    let mut call = talking();
    call.abandoned("*71333".into(), Duration::from_millis(12_340));
    assert_eq!(
        CallEvent::lines(&call.events),
        "abandoned at *71333 after 12.3 s\n"
    );
}

#[test]
fn refer_progress_goes_to_the_referrer_as_sipfrag_notifies() {
    let mut bench = Bench::new();
    let mut call = talking();
    for (frag, state) in [
        ("SIP/2.0 100 Trying", "active;expires=60"),
        ("SIP/2.0 200 OK", "terminated;reason=noresource"),
    ] {
        bench.run(|ctx| call.notify_refer(ctx, Side::A, frag, state));
    }
    let notifies: Vec<String> = bench
        .layer
        .drain_outputs()
        .filter_map(|o| match o {
            sip::transaction::Output::Transmit(p, b) if p == udp(A) => {
                Some(String::from_utf8_lossy(&b).into_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(notifies.len(), 2);
    assert!(notifies[0].starts_with("NOTIFY sip:333@127.0.0.1:5070 SIP/2.0"));
    assert!(
        notifies[0].contains("Event: refer") && notifies[0].ends_with("SIP/2.0 100 Trying\r\n")
    );
    assert!(notifies[1].contains("Subscription-State: terminated;reason=noresource"));
    assert!(
        notifies[1].contains("CSeq: 2 NOTIFY"),
        "the dialog's CSeq grows"
    );
}

#[test]
fn a_codec_change_mid_call_is_followed_by_transcoding_not_a_reinvite() {
    let mut bench = Bench::new();
    let mut call = talking();
    let pcma = reinvite_from_a(2, "sendrecv")
        .replace("RTP/AVP 0", "RTP/AVP 8")
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000")
        .replace("m=audio 4000", "m=audio 4100");
    let (key, req) = bench.request(A, &pcma);
    bench.run(|ctx| call.handle_reinvite(ctx, Side::A, &key, &req));
    let ok = bench.responses().pop().expect("an answer");
    let answer = media::sdp::parse_audio(&ok.body).unwrap();
    assert_eq!(
        answer.codecs,
        vec![(media::Codec::Pcma, 8)],
        "answered in the new codec"
    );
    assert_eq!(call.a.codec, Some((media::Codec::Pcma, 8)));
    assert_eq!(
        call.a.remote_media.unwrap().port(),
        4100,
        "and at the new address"
    );
    assert!(bench.media().iter().any(|c| matches!(
        c,
        MediaCommand::Configure {
            port: 20000,
            codec: media::Codec::Pcma,
            ..
        }
    )));
    assert!(call.features.contains(&CallFeature::Transcoding));
    assert_eq!(
        call.b.codec.map(|c| c.0),
        Some(media::Codec::Pcmu),
        "B keeps its codec"
    );
    assert_eq!(bench.layer.len().1, 0, "no request (re-INVITE) to B");
}
