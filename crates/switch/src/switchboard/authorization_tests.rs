//! The operator's authorization service, driven deterministically: the
//! question a call, a park or a transfer raises, and each kind of verdict
//! followed (route, refusal, time limit, no answer, cancel, cache).

use super::call_tests::{directory_with, in_dialog, JOHN, ROOM, ROOM2};
use super::harness::World;
use super::*;
use crate::external_authorization::{AuthorizationKind, AuthorizationPolicy, Fallback, Verdict};
use crate::output::MediaCommand;
use crate::prompts::Prompt;
use std::time::Duration;

fn world(fallback: Fallback, cache_s: u64) -> World {
    let cfg = SwitchConfig {
        default_tenant: Some("acme".into()),
        persist_interval: Duration::ZERO,
        authorization: Some(AuthorizationPolicy {
            fallback,
            cache_for: Duration::from_secs(cache_s),
            wait: Duration::from_secs(2),
            max_waiting: 100,
        }),
        ..Default::default()
    };
    let mut w = World::with(cfg, directory_with(None));
    w.register("444", ROOM);
    w.register("555", ROOM2);
    w
}

fn allow(route: Option<&str>, limit_s: Option<u64>) -> Verdict {
    Verdict::Allow {
        route: route.map(str::to_string),
        time_limit: limit_s.map(Duration::from_secs),
    }
}

#[test]
fn a_call_waits_for_the_service_and_goes_where_it_says() {
    let mut w = world(Fallback::Embedded, 0);
    let (did, _) = w.invite("333", JOHN, "444");
    did.response_to(JOHN, 100);
    assert!(did.to(ROOM).is_empty(), "nothing rings before the verdict");
    let q = &did.questions[0];
    assert_eq!(
        (
            q.kind,
            q.tenant.as_str(),
            q.caller.as_str(),
            q.callee.as_str()
        ),
        (AuthorizationKind::Call, "acme", "333", "444")
    );
    // The service sends it to 555 instead.
    let did = w.verdict(q.id, allow(Some("555"), None));
    did.request_to(ROOM2, Method::Invite);
    assert!(did.to(ROOM).is_empty());
    // A late second verdict finds nothing.
    assert!(w.verdict(q.id, allow(None, None)).sent.is_empty());
}

#[test]
fn a_refusal_carries_the_services_status_and_cause() {
    let mut w = world(Fallback::Embedded, 0);
    let (did, _) = w.invite("333", JOHN, "444");
    let id = did.questions[0].id;
    let refused = Verdict::Refuse {
        status: 402,
        cause: "No credit left".into(),
    };
    let r = w.verdict(id, refused).response_to(JOHN, 402);
    assert_eq!(r.reason, "No credit left");
    // A number the rules do not know is asked about too: the service may
    // route it (a short code to an extension), or leave it unknown.
    let (did, _) = w.invite("333", JOHN, "999");
    let id = did.questions[0].id;
    w.verdict(id, allow(Some("555"), None))
        .request_to(ROOM2, Method::Invite);
    let (did, _) = w.invite("333", JOHN, "998");
    let id = did.questions[0].id;
    w.verdict(id, allow(None, None)).response_to(JOHN, 404);
}

#[test]
fn without_an_answer_the_fallback_decides() {
    let mut w = world(Fallback::Refuse, 0);
    let (did, _) = w.invite("333", JOHN, "444");
    assert_eq!(did.questions.len(), 1);
    let did = w.advance(Duration::from_secs(2));
    let r = did.response_to(JOHN, 503);
    assert_eq!(r.reason, "Authorization service unavailable");

    let mut w = world(Fallback::Embedded, 0);
    let (did, _) = w.invite("333", JOHN, "444");
    let id = did.questions[0].id;
    w.verdict(id, Verdict::Unavailable)
        .request_to(ROOM, Method::Invite);
}

#[test]
fn verdicts_are_cached_for_the_same_question() {
    let mut w = world(Fallback::Refuse, 10);
    let (did, _) = w.invite("333", JOHN, "444");
    let id = did.questions[0].id;
    let refused = Verdict::Refuse {
        status: 403,
        cause: "Barred".into(),
    };
    w.verdict(id, refused).response_to(JOHN, 403);
    let (did, _) = w.invite("333", JOHN, "444");
    assert!(did.questions.is_empty(), "answered from the cache");
    assert_eq!(did.response_to(JOHN, 403).reason, "Barred");
    let (did, _) = w.invite("333", JOHN, "555");
    assert_eq!(did.questions.len(), 1, "another question");
}

#[test]
fn a_cancel_while_waiting_ends_the_invite_at_once() {
    let mut w = world(Fallback::Embedded, 0);
    let (did, invite) = w.invite("333", JOHN, "444");
    let id = did.questions[0].id;
    let cancel = invite
        .replacen("INVITE sip", "CANCEL sip", 1)
        .replace("2 INVITE", "2 CANCEL")
        .split("Content-Type")
        .next()
        .unwrap()
        .to_string()
        + "Content-Length: 0\r\n\r\n";
    let did = w.from(JOHN, &cancel);
    did.response_to(JOHN, 200);
    did.response_to(JOHN, 487);
    assert!(w.verdict(id, allow(None, None)).to(ROOM).is_empty());
}

#[test]
fn parks_and_transfers_are_asked_too() {
    let mut w = world(Fallback::Embedded, 0);
    let (did, _) = w.invite("333", JOHN, "444");
    let inv = w
        .verdict(did.questions[0].id, allow(None, None))
        .request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    let refer = in_dialog(&ok, "REFER", 3, "", JOHN).replace(
        "Content-Length: 0",
        "Refer-To: <sip:555@acme.example>\r\nContent-Length: 0",
    );
    let did = w.from(JOHN, &refer);
    let q = &did.questions[0];
    assert_eq!(
        (q.kind, q.callee.as_str()),
        (AuthorizationKind::Transfer, "555")
    );
    let refused = Verdict::Refuse {
        status: 403,
        cause: "Transfers barred".into(),
    };
    assert_eq!(
        w.verdict(q.id, refused).response_to(JOHN, 403).reason,
        "Transfers barred"
    );
    // A park code from an extension.
    let (did, _) = w.invite("555", ROOM2, "*70333");
    let q = &did.questions[0];
    assert_eq!(
        (q.kind, q.caller.as_str(), q.callee.as_str()),
        (AuthorizationKind::Park, "555", "*70333")
    );
    let refused = Verdict::Refuse {
        status: 403,
        cause: "Parking barred".into(),
    };
    let did = w.verdict(q.id, refused);
    // Refused features are announced (goodbye) and recorded with the cause.
    let ok = did.response_to(ROOM2, 200);
    assert!(ok.headers.get_str(Name::To).is_some());
    assert!(did
        .media
        .iter()
        .any(|m| matches!(m, MediaCommand::Play(_, p) if p == &vec![Prompt::Goodbye])));
}

#[test]
fn a_granted_time_runs_out_with_a_prompt_then_both_parties_get_bye() {
    let mut w = world(Fallback::Embedded, 0);
    let (did, _) = w.invite("333", JOHN, "444");
    let inv = w
        .verdict(did.questions[0].id, allow(None, Some(60)))
        .request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    let did = w.advance(Duration::from_secs(59));
    assert!(!did
        .media
        .iter()
        .any(|m| matches!(m, MediaCommand::Play(..))));
    let did = w.advance(Duration::from_secs(1));
    let played: Vec<u16> = did
        .media
        .iter()
        .filter_map(|m| match m {
            MediaCommand::Play(port, p) if p == &vec![Prompt::TimeUp, Prompt::Goodbye] => {
                Some(*port)
            }
            _ => None,
        })
        .collect();
    assert_eq!(played.len(), 2, "both parties hear it: {:?}", did.media);
    let byes = did
        .sent
        .iter()
        .filter(|(_, m)| matches!(m, Message::Request(r) if r.method == Method::Bye))
        .count();
    assert_eq!(byes, 0, "no BYE before the prompt ends");
    w.sw.handle_media_event(w.now, crate::output::MediaEvent::PromptDone(played[0]));
    let did = w.collect();
    did.request_to(JOHN, Method::Bye);
    did.request_to(ROOM, Method::Bye);
    let record = did
        .store
        .iter()
        .find_map(|s| match s {
            crate::output::StoreOp::SaveCallRecord(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a record");
    assert_eq!(
        (record.status, record.cause.as_str()),
        (200, "Time limit reached")
    );
    assert!(record.events.contains("the time granted ran out"));
}

#[test]
fn a_granted_time_keeps_counting_across_a_restart() {
    let mut w = world(Fallback::Embedded, 0);
    let mut store = std::collections::BTreeMap::new();
    let (did, _) = w.invite("333", JOHN, "444");
    let inv = w
        .verdict(did.questions[0].id, allow(None, Some(60)))
        .request_to(ROOM, Method::Invite);
    let ok = w.answer(ROOM, &inv, 200, true).response_to(JOHN, 200);
    let did = w.from(JOHN, &in_dialog(&ok, "ACK", 2, "", JOHN));
    super::call_tests::stored_calls(&did.store, &mut store);
    let did = w.advance(Duration::from_secs(40));
    super::call_tests::stored_calls(&did.store, &mut store);
    assert_eq!(
        store.values().next().unwrap().limit_ends_ms,
        Some(w.now.unix_ms + 20_000)
    );

    // A new process 5 s later: 15 s are left.
    let mut w2 = world(Fallback::Embedded, 0);
    w2.now.mono = w.now.mono + Duration::from_secs(5);
    w2.now.unix_ms = w.now.unix_ms + 5000;
    w2.sw.resume(w2.now, store.values().cloned().collect());
    w2.collect();
    let did = w2.advance(Duration::from_secs(14));
    assert!(!did
        .media
        .iter()
        .any(|m| matches!(m, MediaCommand::Play(..))));
    let did = w2.advance(Duration::from_secs(1));
    let time_up = did
        .media
        .iter()
        .filter(|m| matches!(m, MediaCommand::Play(_, p) if p == &vec![Prompt::TimeUp, Prompt::Goodbye]))
        .count();
    assert_eq!(time_up, 2, "{:?}", did.media);
}
