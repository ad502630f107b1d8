//! linphone (Debian's `linphone-cli`, `linphonec`) beside baresip and SIPp:
//! a second real softphone registers, answers, holds, parks with `*70`,
//! and transfers blind and attended; the other parties are the test phones,
//! whose audio is checked numerically.

mod support;

use std::time::{Duration, Instant};
use support::linphone::Linphone;
use support::phone::{assert_two_way, decode, tone_power};
use support::{peers_ready, Server};

const PCMU: u8 = 0;

fn wait(what: &str, server: &Server, john: &Linphone, cond: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what}\n--- server ---\n{}\n--- linphone ---\n{}",
            server.log(),
            john.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// linphone (John, 333) registers, answers Jane, holds her, parks her with
/// `*70333`; the room picks her up with `*71333`.
#[test]
fn linphone_answers_holds_and_parks_and_the_room_retrieves() {
    if !peers_ready("linphone_answers_holds_and_parks", &["linphonec", "sox"]) {
        return;
    }
    let server = Server::start("linphone-park");
    let mut john = Linphone::start(server.sip_port, "333", 1000, true);
    wait("registration", &server, &john, &|| {
        server.registrations().contains("\"333\"")
    });
    let mut jane = server.registered("555");
    let mut room = server.registered("444");

    let janes = jane.dial("333", &[PCMU]).expect("linphone answers");
    jane.flush_rtp();
    let heard = decode(&jane.record(Duration::from_millis(1000)));
    assert!(
        tone_power(&heard, 1000.0) > 10.0 * tone_power(&heard, 600.0).max(1.0),
        "Jane hears linphone's tone"
    );

    john.command("pause");
    wait("hold", &server, &john, &|| {
        server.log().contains("hold: music to the other party")
    });
    john.command(&format!("call sip:*70333@127.0.0.1:{}", server.sip_port));
    wait("park", &server, &john, &|| server.status()["parked"] == 1);
    std::thread::sleep(Duration::from_millis(300));
    john.command("terminate all");

    let rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    assert_two_way(&jane, &janes, &room, &rooms);
    let rec_wait = Instant::now();
    let mut rooms = rooms;
    assert_eq!(room.bye(&mut rooms).status, 200);
    let bye = jane.request("BYE", Duration::from_secs(3)).expect("ended");
    jane.ok(&bye);
    server.wait_idle();
    let rec = server.record_where(|r| r["callee"] == "333");
    let events = rec["events"].as_str().unwrap();
    assert!(
        events.contains("parked by 333 at *71333") && events.contains("retrieved by 444"),
        "{events} ({:?})",
        rec_wait.elapsed()
    );

    // Again, and this time linphone picks Jane up itself with bare *71.
    let janes = jane.dial("333", &[PCMU]).expect("linphone answers");
    john.command("pause");
    wait("hold", &server, &john, &|| {
        server
            .log()
            .matches("hold: music to the other party")
            .count()
            >= 2
    });
    john.command(&format!("call sip:*70333@127.0.0.1:{}", server.sip_port));
    wait("park", &server, &john, &|| server.status()["parked"] == 1);
    std::thread::sleep(Duration::from_millis(300));
    john.command("terminate all");
    john.command(&format!("call sip:*71@127.0.0.1:{}", server.sip_port));
    wait("retrieval", &server, &john, &|| {
        server.status()["parked"] == 0 && server.status()["calls"] == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    jane.flush_rtp();
    let heard = decode(&jane.record(Duration::from_millis(1000)));
    assert!(
        tone_power(&heard, 1000.0) > 10.0 * tone_power(&heard, 600.0).max(1.0),
        "Jane hears linphone again after it picked her up"
    );
    let mut janes = janes;
    assert_eq!(jane.bye(&mut janes).status, 200);
    server.wait_idle();
}

/// linphone transfers Jane to the room blind (`transfer URI`), then a
/// second call attended (`transfer 1 --to-call 2`).
#[test]
fn linphone_transfers_blind_and_attended() {
    if !peers_ready(
        "linphone_transfers_blind_and_attended",
        &["linphonec", "sox"],
    ) {
        return;
    }
    let server = Server::start("linphone-transfer");
    let mut john = Linphone::start(server.sip_port, "333", 1000, true);
    wait("registration", &server, &john, &|| {
        server.registrations().contains("\"333\"")
    });
    let mut jane = server.registered("555");
    let mut room = server.registered("444");

    // Blind.
    let janes = jane.dial("333", &[PCMU]).expect("linphone answers");
    wait("answer", &server, &john, &|| server.status()["calls"] == 1);
    john.command(&format!("transfer sip:444@127.0.0.1:{}", server.sip_port));
    let inv = room.ring();
    let rooms = room.answer(&inv, &[PCMU]);
    assert_two_way(&jane, &janes, &room, &rooms);
    wait("John released", &server, &john, &|| {
        server.status()["calls"] == 1
    });
    let mut rooms = rooms;
    assert_eq!(room.bye(&mut rooms).status, 200);
    let bye = jane.request("BYE", Duration::from_secs(3)).expect("ended");
    jane.ok(&bye);
    server.wait_idle();
    let rec = server.record_where(|r| {
        r["callee"] == "333"
            && r["events"]
                .as_str()
                .is_some_and(|e| e.contains("transferred by 333 to 444"))
    });
    assert_eq!(rec["outcome"], "answered");

    // Attended: Jane calls again; John holds her, consults the room, and
    // joins them (REFER with Replaces).
    let janes = jane.dial("333", &[PCMU]).expect("linphone answers");
    let first = john.call_id("new incoming call from", 2);
    john.command("pause");
    wait("hold", &server, &john, &|| {
        server
            .log()
            .matches("hold: music to the other party")
            .count()
            >= 1
    });
    john.command(&format!("call sip:444@127.0.0.1:{}", server.sip_port));
    let inv = room.ring();
    let rooms = room.answer(&inv, &[PCMU]);
    let consult = john.call_id("call id to sip:444@", 1);
    john.wait_for(&format!("Call {consult} with sip:444@"));
    john.command(&format!("transfer {first} --to-call {consult}"));
    wait("joined", &server, &john, &|| server.status()["calls"] == 1);
    assert!(
        jane.request("INVITE", Duration::from_millis(200)).is_none()
            && room.request("INVITE", Duration::from_millis(200)).is_none(),
        "nobody rings again"
    );
    assert_two_way(&jane, &janes, &room, &rooms);
    let mut rooms = rooms;
    assert_eq!(room.bye(&mut rooms).status, 200);
    let bye = jane.request("BYE", Duration::from_secs(3)).expect("ended");
    jane.ok(&bye);
    server.wait_idle();
}
