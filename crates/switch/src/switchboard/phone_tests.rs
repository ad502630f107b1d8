//! Busy lamps, park alerts, text messages and the comeback's re-arm,
//! driven deterministically through the switchboard.

use super::call_tests::*;
use super::harness::{Did, World};
use super::*;
use crate::call::CallEvent;
use crate::output::{MediaCommand, StoreOp};
use accounts::{Extension, Source, Tenant};
use std::time::Duration;

const WATCHER: &str = "127.0.0.1:5094";

/// An out-of-dialog `method` from `user` at `addr` to `uri`, answered with
/// a challenge first and then sent again with credentials: what the
/// switch did with the second.
fn authed(w: &mut World, (user, addr): (&str, &str), method: &str, uri: &str, extra: &str) -> Did {
    let n = w.next();
    let text = |auth: &str, cseq: u32| {
        format!("{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKx{n}c{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@acme.example>;tag=x{n}\r\nTo: <{uri}>\r\nCall-ID: x{n}\r\nCSeq: {cseq} {method}\r\nContact: <sip:{user}@{addr}>\r\n{extra}{auth}Content-Length: 0\r\n\r\n")
    };
    let challenge = w.from(addr, &text("", 1)).response_to(addr, 407);
    let auth = credentials(&challenge, Name::ProxyAuthenticate, user, method, uri);
    w.from(addr, &text(&format!("Proxy-Authorization: {auth}\r\n"), 2))
}

fn subscribe(w: &mut World, who: (&str, &str), uri: &str, expires: u32) -> Did {
    let extra =
        format!("Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: {expires}\r\n");
    authed(w, who, "SUBSCRIBE", uri, &extra)
}

/// The lamp states the NOTIFYs to `addr` in `did` show (`terminated`,
/// `early`, `confirmed`), each NOTIFY answered 200 — and those its
/// answers set off, in order.
fn lamps(w: &mut World, did: &Did, addr: &str) -> Vec<String> {
    let mut states = Vec::new();
    let mut pending: Vec<Request> = notifies(did, addr);
    while let Some(notify) = pending.first().cloned() {
        pending.remove(0);
        let body = String::from_utf8_lossy(&notify.body).into_owned();
        let state = ["confirmed", "early", "terminated"]
            .into_iter()
            .find(|s| body.contains(&format!("<state>{s}</state>")))
            .unwrap_or("none");
        states.push(state.to_string());
        let ok = Response::to_request(&notify, 200, "OK");
        let did = w.from(addr, std::str::from_utf8(&ok.encode()).unwrap());
        pending.extend(notifies(&did, addr));
    }
    states
}

fn notifies(did: &Did, addr: &str) -> Vec<Request> {
    did.to(addr)
        .into_iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method == Method::Notify => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn texts(did: &Did, addr: &str) -> Vec<String> {
    did.to(addr)
        .into_iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method == Method::Message => {
                Some(String::from_utf8_lossy(&r.body).into_owned())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_park_position_lamp_lights_with_the_parked_party_and_goes_out_at_retrieval() {
    let mut w = World::new();
    w.register("555", WATCHER);
    let did = subscribe(&mut w, ("555", WATCHER), "sip:*71555@acme.example", 600);
    let ok = did.response_to(WATCHER, 200);
    assert_eq!(ok.headers.get_str(Name::Expires).as_deref(), Some("600"));
    assert_eq!(
        lamps(&mut w, &did, WATCHER),
        ["terminated"],
        "initially free"
    );

    let (ok, _, _) = john_talks_to_room(&mut w);
    let held = SDP.replace("sendrecv", "sendonly");
    w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN));
    let (did, _) = w.invite("333", JOHN, "*70555");
    did.response_to(JOHN, 200);
    assert_eq!(lamps(&mut w, &did, WATCHER), ["confirmed"]);
    let notify = notifies(&did, WATCHER).remove(0);
    let body = String::from_utf8_lossy(&notify.body);
    assert!(
        body.contains("display=\"Ext 444\">sip:444@acme.example</identity>"),
        "the parked party shows: {body}"
    );
    assert_eq!(
        notify.headers.get_str(Name::ContentType).as_deref(),
        Some("application/dialog-info+xml")
    );
    // The extension it is parked under is told, from the retrieval number.
    let alert = texts(&did, WATCHER);
    assert_eq!(
        alert,
        ["Ext 444 <444> is parked for you by 333. Dial *71555 to pick up."]
    );
    let message = did.request_to(WATCHER, Method::Message);
    assert!(message
        .headers
        .get_str(Name::From)
        .unwrap()
        .starts_with("\"Park 555\" <sip:*71555@acme.example>"));

    // 555 presses the lamp's key: the call is retrieved, the lamp goes out,
    // and the parker hears who took it.
    w.register("333", JOHN);
    let (did, _) = w.invite("555", WATCHER, "*71555");
    did.response_to(WATCHER, 200);
    assert_eq!(lamps(&mut w, &did, WATCHER), ["terminated"]);
    let told = texts(&did, JOHN);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].starts_with("Your parked call from Ext 444 <444> (*71555) was picked up by 555"),
        "{told:?}"
    );
}

#[test]
fn an_extension_lamp_shows_ringing_talking_and_idle() {
    let mut w = World::new();
    w.register("555", WATCHER);
    w.register("444", ROOM);
    let did = subscribe(&mut w, ("555", WATCHER), "sip:444@acme.example", 600);
    assert_eq!(lamps(&mut w, &did, WATCHER), ["terminated"]);
    let (did, _) = w.invite("333", JOHN, "444");
    assert_eq!(lamps(&mut w, &did, WATCHER), ["early"]);
    let inv = did.request_to(ROOM, Method::Invite);
    let did = w.answer(ROOM, &inv, 200, true);
    let ok = did.response_to(JOHN, 200);
    assert_eq!(lamps(&mut w, &did, WATCHER), ["confirmed"]);
    let did = w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    assert!(notifies(&did, WATCHER).is_empty(), "no change, no NOTIFY");
    let did = w.from(JOHN, &in_dialog(&ok, "BYE", 3, "", JOHN));
    assert_eq!(lamps(&mut w, &did, WATCHER), ["terminated"]);
}

#[test]
fn changes_while_a_notify_is_unanswered_are_sent_once_it_is_answered() {
    let mut w = World::new();
    w.register("555", WATCHER);
    w.register("444", ROOM);
    let did = subscribe(&mut w, ("555", WATCHER), "sip:444@acme.example", 600);
    assert_eq!(lamps(&mut w, &did, WATCHER), ["terminated"]);
    let (did, _) = w.invite("333", JOHN, "444");
    let first = notifies(&did, WATCHER);
    assert_eq!(first.len(), 1);
    // The phone has not answered the first NOTIFY when the call is answered.
    let inv = did.request_to(ROOM, Method::Invite);
    let did = w.answer(ROOM, &inv, 200, true);
    assert!(notifies(&did, WATCHER).is_empty(), "one NOTIFY at a time");
    let ok = Response::to_request(&first[0], 200, "OK");
    let did = w.from(WATCHER, std::str::from_utf8(&ok.encode()).unwrap());
    assert_eq!(lamps(&mut w, &did, WATCHER), ["confirmed"]);
}

#[test]
fn subscriptions_are_refused_for_bad_events_intervals_and_numbers() {
    let mut w = World::new();
    let n = w.next();
    let text = format!("SUBSCRIBE sip:444@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP {WATCHER};branch=z9hG4bKbe{n}\r\nFrom: <sip:555@acme.example>;tag=b{n}\r\nTo: <sip:444@acme.example>\r\nCall-ID: be{n}\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:555@{WATCHER}>\r\nEvent: message-summary\r\nContent-Length: 0\r\n\r\n");
    let bad = w.from(WATCHER, &text).response_to(WATCHER, 489);
    assert_eq!(
        bad.headers.get_str(Name::AllowEvents).as_deref(),
        Some("dialog, presence")
    );
    let short = subscribe(&mut w, ("555", WATCHER), "sip:444@acme.example", 10);
    let r = short.response_to(WATCHER, 423);
    assert_eq!(r.headers.get_str(Name::MinExpires).as_deref(), Some("60"));
    let unknown = subscribe(&mut w, ("555", WATCHER), "sip:999@acme.example", 600);
    unknown.response_to(WATCHER, 404);
    assert_eq!(w.sw.subscription_count(), 0);
}

#[test]
fn another_tenants_position_cannot_be_watched() {
    let mut dir_tenants = vec![Tenant::new("acme", "acme.example")];
    dir_tenants.push(Tenant::new("globex", "globex.example"));
    let ext = |t: &str, d: &str, n: &str| Extension {
        tenant: t.into(),
        number: n.into(),
        name: String::new(),
        ha1_md5: crate::auth::ha1(sip::digest::Algorithm::Md5, n, d, &format!("pw-{n}")),
        ha1_sha256: String::new(),
        enabled: true,
        can_call_out: true,
        can_park: true,
        can_retrieve: true,
        outbound: accounts::OutboundLimits::EXTENSION,
        source: Source::Config,
    };
    let dir = Directory::new(
        dir_tenants,
        vec![
            ext("acme", "acme.example", "555"),
            ext("globex", "globex.example", "333"),
        ],
        vec![],
        vec![],
    );
    let mut w = world_with(dir);
    // Credentials made for acme's realm do not count in globex's: the
    // subscriber is challenged again, never accepted (a phone answering
    // with globex's realm gets 403, as for any unknown user).
    let did = subscribe(&mut w, ("555", WATCHER), "sip:*71333@globex.example", 600);
    did.response_to(WATCHER, 407);
    assert!(did.to(WATCHER).len() == 1, "nothing but the challenge");
    assert!(notifies(&did, WATCHER).is_empty());
    assert_eq!(w.sw.subscription_count(), 0);
}

#[test]
fn a_subscription_runs_out_unless_refreshed_and_ends_on_expires_zero() {
    let mut w = World::new();
    w.register("555", WATCHER);
    let did = subscribe(&mut w, ("555", WATCHER), "sip:444@acme.example", 60);
    let ok = did.response_to(WATCHER, 200);
    lamps(&mut w, &did, WATCHER);
    // A refresh in the dialog at 50 s pushes the end to 110 s.
    let did = w.advance(Duration::from_secs(50));
    assert!(notifies(&did, WATCHER).is_empty());
    let refresh = subscribe_in_dialog(&ok, 3, 60);
    let did = w.from(WATCHER, &refresh);
    did.response_to(WATCHER, 200);
    assert_eq!(
        lamps(&mut w, &did, WATCHER),
        ["terminated"],
        "a NOTIFY per refresh"
    );
    let did = w.advance(Duration::from_secs(30));
    assert!(notifies(&did, WATCHER).is_empty(), "still on at 80 s");
    let did = w.advance(Duration::from_secs(31));
    let last = notifies(&did, WATCHER);
    assert_eq!(
        last[0].headers.get_str(Name::SubscriptionState).as_deref(),
        Some("terminated;reason=timeout")
    );
    assert_eq!(w.sw.subscription_count(), 0);
    // Gone: a refresh now gets 481.
    w.from(WATCHER, &subscribe_in_dialog(&ok, 4, 60))
        .response_to(WATCHER, 481);

    // Expires: 0 ends a subscription at once, with a final NOTIFY.
    let did = subscribe(&mut w, ("555", WATCHER), "sip:444@acme.example", 60);
    let ok = did.response_to(WATCHER, 200);
    lamps(&mut w, &did, WATCHER);
    let did = w.from(WATCHER, &subscribe_in_dialog(&ok, 3, 0));
    did.response_to(WATCHER, 200);
    let last = notifies(&did, WATCHER);
    assert_eq!(
        last[0].headers.get_str(Name::SubscriptionState).as_deref(),
        Some("terminated")
    );
    assert_eq!(w.sw.subscription_count(), 0);
}

/// A SUBSCRIBE in the dialog the 200 `ok` made.
fn subscribe_in_dialog(ok: &Response, n: u32, expires: u32) -> String {
    format!(
        "SUBSCRIBE sip:parkline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {WATCHER};branch=z9hG4bKrs{n}x{expires};rport\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {n} SUBSCRIBE\r\nContact: <sip:555@{WATCHER}>\r\nEvent: dialog\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n",
        ok.headers.get_str(Name::From).unwrap(),
        ok.headers.get_str(Name::To).unwrap(),
        String::from_utf8_lossy(ok.call_id().unwrap()),
    )
}

#[test]
fn a_notify_the_phone_refuses_ends_the_subscription() {
    let mut w = World::new();
    w.register("555", WATCHER);
    let did = subscribe(&mut w, ("555", WATCHER), "sip:444@acme.example", 600);
    let notify = notifies(&did, WATCHER).remove(0);
    let gone = Response::to_request(&notify, 481, "Subscription does not exist");
    w.from(WATCHER, std::str::from_utf8(&gone.encode()).unwrap());
    assert_eq!(w.sw.subscription_count(), 0);
}

#[test]
fn messages_between_extensions_are_relayed() {
    let mut w = World::new();
    w.register("444", ROOM);
    let did = authed(
        &mut w,
        ("333", JOHN),
        "MESSAGE",
        "sip:444@acme.example",
        "Content-Type: text/plain\r\n",
    );
    did.response_to(JOHN, 202);
    let relayed = did.request_to(ROOM, Method::Message);
    assert!(relayed
        .headers
        .get_str(Name::From)
        .unwrap()
        .starts_with("\"Ext 333\" <sip:333@acme.example>"));
    let unknown = authed(&mut w, ("333", JOHN), "MESSAGE", "sip:999@acme.example", "");
    unknown.response_to(JOHN, 404);
    let away = authed(&mut w, ("333", JOHN), "MESSAGE", "sip:555@acme.example", "");
    away.response_to(JOHN, 480);
}

#[test]
fn a_comeback_waits_while_the_parker_is_busy_then_goes_to_the_fallback() {
    let mut w = world_with(directory_with(Some("555")));
    w.register("555", WATCHER);
    let (_room, _) = parked_by_john(&mut w);
    // John is in another call with 555 when the comeback is due (180 s).
    let (did, _) = w.invite("333", JOHN, "555");
    let inv = did.request_to(WATCHER, Method::Invite);
    let ok = w.answer(WATCHER, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    let did = w.advance(Duration::from_secs(181));
    assert!(
        !did.to(JOHN)
            .iter()
            .any(|m| matches!(m, Message::Request(r) if r.method == Method::Invite)),
        "a busy parker is not rung"
    );
    assert_eq!(w.sw.parked_count(), 1, "still parked, still retrievable");
    // Still busy when the comeback's ring time (30 s) is over: the fallback.
    w.advance(Duration::from_secs(30));
    let did = w.advance(Duration::from_secs(1));
    assert_eq!(w.sw.parked_count(), 0);
    let fallback = did.request_to(WATCHER, Method::Invite);
    assert!(fallback
        .headers
        .get_str(Name::From)
        .unwrap()
        .contains("Parked"));
    let call = w.sw.calls.calls.iter().find(|(_, c)| {
        c.events
            .iter()
            .any(|e| matches!(e, CallEvent::ComebackParkerBusy { .. }))
    });
    assert!(call.is_some(), "the skip is on record");
}

#[test]
fn a_deferred_comeback_rings_the_parker_once_free() {
    let mut w = World::new();
    w.register("555", WATCHER);
    parked_by_john(&mut w);
    let (did, _) = w.invite("333", JOHN, "555");
    let inv = did.request_to(WATCHER, Method::Invite);
    let ok = w.answer(WATCHER, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    w.advance(Duration::from_secs(181));
    w.from(JOHN, &in_dialog(&ok, "BYE", 3, "", JOHN));
    // Re-armed every 30 s: the next try finds John free.
    let did = w.advance(Duration::from_secs(30));
    did.request_to(JOHN, Method::Invite);
    assert_eq!(w.sw.parked_count(), 0);
}

#[test]
fn a_phone_that_stops_answering_probes_is_hung_up() {
    let mut w = World::new();
    w.dead.insert(JOHN.to_string());
    let (_ok, inv, opened) = john_talks_to_room(&mut w);
    let options = |did: &Did, addr: &str| {
        did.to(addr)
            .into_iter()
            .filter_map(|m| match m {
                Message::Request(r) if r.method == Method::Options => Some(r.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // A minute on, both phones are asked whether they are there.
    let did = w.advance(Duration::from_secs(60));
    let (to_john, to_room) = (options(&did, JOHN), options(&did, ROOM));
    assert_eq!((to_john.len(), to_room.len()), (1, 1), "one probe each");
    assert_eq!(
        to_room[0].call_id(),
        inv.call_id(),
        "in the room's own dialog"
    );
    // The room answered (the harness's live phones do); John's is gone.
    let did = w.advance(Duration::from_secs(8));
    did.request_to(ROOM, Method::Bye);
    assert!(did.media.contains(&MediaCommand::Close(opened[0])));
    assert_eq!(w.sw.call_count(), 0);
    let record = did
        .store
        .iter()
        .find_map(|op| match op {
            crate::output::StoreOp::SaveCallRecord(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a record");
    assert_eq!(record.cause, "Phone stopped answering (OPTIONS probe)");
}

#[test]
fn a_parked_party_whose_phone_is_gone_frees_the_position() {
    let mut w = World::new();
    w.dead.insert(ROOM.to_string());
    let (room_invite, _) = parked_by_john(&mut w);
    let did = w.advance(Duration::from_secs(60));
    let probe = did.request_to(ROOM, Method::Options);
    assert_eq!(probe.call_id(), room_invite.call_id());
    w.advance(Duration::from_secs(8));
    assert_eq!(w.sw.parked_count(), 0);
    assert_eq!(w.sw.call_count(), 0);
}

#[test]
fn a_comeback_to_a_dead_parker_goes_on_to_the_fallback_without_ringing_out() {
    let mut w = world_with(directory_with(Some("555")));
    w.register("555", WATCHER);
    parked_by_john(&mut w);
    // John's phone goes while his call is parked: his probes go unanswered.
    w.dead.insert(JOHN.to_string());
    let did = w.live(181);
    assert!(
        did.to(JOHN)
            .iter()
            .all(|m| !matches!(m, Message::Request(r) if r.method == Method::Invite)),
        "a ghost is not rung"
    );
    did.request_to(WATCHER, Method::Invite);
}

#[test]
fn a_comeback_to_a_phone_gone_since_its_last_probe_fails_over_in_5_s() {
    let mut w = world_with(directory_with(Some("555")));
    w.register("555", WATCHER);
    parked_by_john(&mut w);
    // Alive at every probe, gone just before the comeback: not even 100
    // Trying to its INVITE, and 5 s later the fallback rings.
    let did = w.live(179);
    assert!(did.to(WATCHER).is_empty());
    w.dead.insert(JOHN.to_string());
    let did = w.live(1);
    did.request_to(JOHN, Method::Invite);
    let did = w.advance(Duration::from_secs(4));
    assert!(did.to(WATCHER).is_empty());
    let did = w.advance(Duration::from_secs(1));
    did.request_to(JOHN, Method::Cancel);
    did.request_to(WATCHER, Method::Invite);
}

#[test]
fn a_retrieved_party_is_told_who_picked_it_up() {
    let mut w = World::new();
    w.register("444", ROOM);
    w.register("333", JOHN);
    w.register("555", WATCHER);
    let (did, _) = w.invite("333", JOHN, "444");
    let inv = did.request_to(ROOM, Method::Invite);
    let mut answer = Response::to_request(&inv, 200, "OK");
    answer.set_to_tag("callee");
    answer
        .headers
        .push(Name::Contact, format!("<sip:callee@{ROOM}>"));
    answer
        .headers
        .push(Name::Allow, "INVITE, ACK, BYE, CANCEL, UPDATE");
    answer.headers.push(Name::ContentType, "application/sdp");
    answer.body = bytes::Bytes::from(SDP.replace("4000", "4002"));
    let ok = w
        .from(ROOM, std::str::from_utf8(&answer.encode()).unwrap())
        .response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    let held = SDP.replace("sendrecv", "sendonly");
    w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN));
    let (did, _) = w.invite("333", JOHN, "*70333");
    assert!(
        did.to(ROOM)
            .iter()
            .all(|m| !matches!(m, Message::Request(r) if r.method == Method::Update)),
        "parked: nobody new to show"
    );
    let (did, _) = w.invite("555", WATCHER, "*71333");
    did.response_to(WATCHER, 200);
    let update = did.request_to(ROOM, Method::Update);
    assert_eq!(
        update.headers.get_str(Name::PAssertedIdentity).as_deref(),
        Some("\"Ext 555\" <sip:555@acme.example>")
    );
    assert!(update.body.is_empty(), "no SDP: only the display changes");
    assert_eq!(
        update.call_id(),
        inv.call_id(),
        "in the parked party's dialog"
    );
}

#[test]
fn an_attended_transfer_joins_the_transferee_and_the_target() {
    let mut w = World::new();
    w.register("555", WATCHER);
    // Call 1: John talks to the room, then holds it.
    let (ok1, _inv1, ports1) = john_talks_to_room(&mut w);
    let held = SDP.replace("sendrecv", "sendonly");
    w.from(JOHN, &in_dialog(&ok1, "INVITE", 3, &held, JOHN));
    // Call 2: John calls 555, who answers.
    let (did, _) = w.invite("333", JOHN, "555");
    let ports2 = ports(&did.media);
    let inv2 = did.request_to(WATCHER, Method::Invite);
    let ok2 = w.answer(WATCHER, &inv2, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok2, "ACK", 2, "", JOHN));
    assert_eq!(w.sw.call_count(), 2);
    // John transfers the room to 555, replacing his call with 555.
    let tag = |v: String| v.split("tag=").nth(1).unwrap().to_string();
    let replaces = format!(
        "{}%3Bto-tag%3D{}%3Bfrom-tag%3D{}",
        String::from_utf8_lossy(ok2.call_id().unwrap()),
        tag(ok2.headers.get_str(Name::To).unwrap()),
        tag(ok2.headers.get_str(Name::From).unwrap()),
    );
    let refer = in_dialog(&ok1, "REFER", 4, "", JOHN).replace(
        "Content-Length: 0",
        &format!("Refer-To: <sip:555@acme.example?Replaces={replaces}>\r\nContent-Length: 0"),
    );
    let did = w.from(JOHN, &refer);
    did.response_to(JOHN, 202);
    let notify = did.request_to(JOHN, Method::Notify);
    assert_eq!(
        String::from_utf8_lossy(&notify.body).trim(),
        "SIP/2.0 200 OK"
    );
    let byes: Vec<_> = did
        .to(JOHN)
        .into_iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method == Method::Bye => r.call_id().map(<[u8]>::to_vec),
            _ => None,
        })
        .collect();
    assert!(
        byes.contains(&ok1.call_id().unwrap().to_vec()),
        "John's leg of call 1 is released"
    );
    assert!(
        byes.contains(&ok2.call_id().unwrap().to_vec()),
        "and his leg of call 2"
    );
    assert!(
        did.to(ROOM).is_empty() && did.to(WATCHER).is_empty(),
        "nobody rings again"
    );
    assert!(
        did.media
            .contains(&MediaCommand::Bridge(ports1[1], ports2[1])),
        "the room and 555 talk: {:?}",
        did.media
    );
    assert!(did.media.contains(&MediaCommand::Close(ports1[0])));
    assert!(did.media.contains(&MediaCommand::Close(ports2[0])));
    assert_eq!(w.sw.call_count(), 1);
    // 555 hangs up: the room gets the BYE from the joined call.
    let bye = format!(
        "BYE sip:parkline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {WATCHER};branch=z9hG4bKjb1\r\nFrom: {};tag=callee\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
        inv2.headers.get_str(Name::To).unwrap(),
        inv2.headers.get_str(Name::From).unwrap(),
        String::from_utf8_lossy(inv2.call_id().unwrap()),
    );
    let did = w.from(WATCHER, &bye);
    did.response_to(WATCHER, 200);
    did.request_to(ROOM, Method::Bye);
    assert_eq!(w.sw.call_count(), 0);
}

#[test]
fn a_replaces_for_someone_elses_call_is_refused() {
    let mut w = World::new();
    let (ok1, _, _) = john_talks_to_room(&mut w);
    let refer = in_dialog(&ok1, "REFER", 4, "", JOHN).replace(
        "Content-Length: 0",
        "Refer-To: <sip:555@acme.example?Replaces=nope%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\nContent-Length: 0",
    );
    w.from(JOHN, &refer).response_to(JOHN, 481);
    assert_eq!(w.sw.call_count(), 1);
}

#[test]
fn an_invite_with_replaces_takes_the_named_legs_place() {
    let mut w = World::new();
    w.register("555", WATCHER);
    let (_ok, room_inv, ports1) = john_talks_to_room(&mut w);
    // 555 names the room's dialog as the switch sees it: Call-ID, the
    // switch's tag (the From tag of its INVITE to the room) and the room's.
    let ours = room_inv
        .headers
        .get_str(Name::From)
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_string();
    let replaces = format!(
        "Replaces: {};to-tag={ours};from-tag=callee\r\n",
        String::from_utf8_lossy(room_inv.call_id().unwrap())
    );
    let (did, _) = w.invite_with("555", WATCHER, "444", &replaces);
    let ok = did.response_to(WATCHER, 200);
    assert!(
        ok.headers
            .get_str(Name::PAssertedIdentity)
            .unwrap()
            .contains("sip:333@"),
        "555 sees John, with whom it now talks"
    );
    let bye = did.request_to(ROOM, Method::Bye);
    assert_eq!(
        bye.call_id(),
        room_inv.call_id(),
        "the room's leg is hung up"
    );
    assert!(did.media.contains(&MediaCommand::Close(ports1[1])));
    assert!(
        did.media
            .iter()
            .any(|c| matches!(c, MediaCommand::Bridge(_, p) if p == &ports1[0])),
        "John is bridged to 555: {:?}",
        did.media
    );
    assert_eq!(w.sw.call_count(), 1);
    // A dialog that does not exist: 481.
    let (did, _) = w.invite_with(
        "555",
        WATCHER,
        "444",
        "Replaces: nope;to-tag=1;from-tag=2\r\n",
    );
    did.response_to(WATCHER, 481);
}

#[test]
fn a_subscription_outlives_its_phone_registering_again() {
    let mut w = World::new();
    w.register("555", WATCHER);
    let did = subscribe(&mut w, ("555", WATCHER), "sip:*71555@acme.example", 600);
    assert_eq!(lamps(&mut w, &did, WATCHER), ["terminated"]);
    w.register("555", WATCHER);
    let (ok, _, _) = john_talks_to_room(&mut w);
    let held = SDP.replace("sendrecv", "sendonly");
    w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN));
    let (did, _) = w.invite("333", JOHN, "*70555");
    assert_eq!(lamps(&mut w, &did, WATCHER), ["confirmed"]);
}

#[test]
fn the_seed_scenario_is_reported_in_order() {
    use crate::switch_event::EventKind;
    let mut w = World::new();
    w.register("555", WATCHER);
    let mut kinds = Vec::new();
    let mut note = |did: &Did| {
        for e in &did.events {
            kinds.push(match &e.kind {
                EventKind::Call { event } => format!("{event:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_string(),
                k => format!("{k:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_string(),
            });
        }
    };
    w.register("444", ROOM);
    let (did, _) = w.invite("333", JOHN, "444");
    note(&did);
    let inv = did.request_to(ROOM, Method::Invite);
    let did = w.answer(ROOM, &inv, 200, true);
    let ok = did.response_to(JOHN, 200);
    note(&did);
    note(&w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN)));
    let held = SDP.replace("sendrecv", "sendonly");
    note(&w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN)));
    let (did, _) = w.invite("333", JOHN, "*70333");
    note(&did);
    let (did, _) = w.invite("555", WATCHER, "*71333");
    note(&did);
    let (did, _) = w.invite("555", WATCHER, "*71333");
    note(&did);
    assert_eq!(
        kinds,
        [
            "CallStarted",
            "CallAnswered",
            "Held",
            "Parked",
            "Retrieved",
            "Refused"
        ],
        "one event each, in order"
    );
    let json = serde_json::to_value(&did.events[0]).unwrap();
    assert_eq!(json["type"], "refused");
    assert_eq!(json["what"], "retrieve");
    assert_eq!(json["code"], "nothing_parked");
    assert_eq!(json["tenant"], "acme");
}

#[test]
fn a_retrieved_call_leaves_the_stored_lot_too() {
    let mut w = World::new();
    w.register("555", WATCHER);
    let (ok, _, _) = john_talks_to_room(&mut w);
    let held = SDP.replace("sendrecv", "sendonly");
    w.from(JOHN, &in_dialog(&ok, "INVITE", 3, &held, JOHN));
    let (did, _) = w.invite("333", JOHN, "*70555");
    assert!(did
        .store
        .iter()
        .any(|op| matches!(op, StoreOp::SaveParked(_))));
    let parked = &w.sw.parked()[0];
    assert_eq!(parked.parked_party, "Ext 444 <444>");
    assert_eq!(parked.comeback_ms, Some(parked.since_ms + 180_000));
    let (did, _) = w.invite("555", WATCHER, "*71555");
    assert!(
        did.store
            .iter()
            .any(|op| matches!(op, StoreOp::RemoveParked { position, .. } if position == "555")),
        "{:?}",
        did.store
    );
}
