//! Blind transfer end to end (RFC 3515) with the test phones over loopback:
//! John talks to the room and transfers it to Jane; the room and Jane hear
//! each other, John is released. A busy target leaves John and the room
//! talking as before.

mod support;

use std::time::Duration;
use support::phone::{assert_two_way, connect, Phone};
use support::{peers_ready, Server};

const PCMU: u8 = 0;

fn registered(server: &Server, user: &str) -> Phone {
    let mut p = Phone::new(&server.sip_addr(), user, &format!("secret-{user}"));
    p.register();
    p
}

/// The sipfrag of the next NOTIFY John gets (answered 200).
fn next_sipfrag(phone: &mut Phone) -> String {
    let notify = phone
        .request("NOTIFY", Duration::from_secs(10))
        .expect("a NOTIFY of the transfer's progress");
    phone.ok(&notify);
    String::from_utf8_lossy(&notify.body).trim().to_string()
}

#[test]
fn blind_transfer_connects_the_room_to_jane_and_a_busy_jane_leaves_the_call() {
    if !peers_ready("blind_transfer_connects_the_room_to_jane", &[]) {
        return;
    }
    let server = Server::start("transfer");
    let mut john = registered(&server, "333");
    let mut room = registered(&server, "444");
    let mut jane = registered(&server, "555");

    // Busy first: the call goes on as before.
    let (mut johns, rooms) = connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    assert_eq!(john.refer(&mut johns, "555").status, 202);
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 100 Trying");
    jane.reject(486, "Busy Here");
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 486 Busy Here");
    assert_two_way(&john, &johns, &room, &rooms);

    // Then Jane answers: the room talks to her, John is released.
    assert_eq!(john.refer(&mut johns, "555").status, 202);
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 100 Trying");
    let inv = jane.ring();
    assert!(
        inv.headers
            .get_str(sip::Name::From)
            .unwrap()
            .starts_with("\"Conference Room\""),
        "Jane's phone shows who is transferred to her"
    );
    let janes = jane.answer(&inv, &[PCMU]);
    assert_eq!(next_sipfrag(&mut john), "SIP/2.0 200 OK");
    let bye = john
        .request("BYE", Duration::from_secs(5))
        .expect("John is released");
    john.ok(&bye);
    assert_two_way(&room, &rooms, &jane, &janes);
    let status = server.status();
    assert_eq!(status["calls"], 1, "{status}");
    let mut janes = janes;
    assert_eq!(jane.bye(&mut janes).status, 200);
    room.request("BYE", Duration::from_secs(5))
        .map(|b| room.ok(&b))
        .expect("the room is hung up");
    server.wait_idle();
    let rec = server.record_where(|r| r["features"].as_str().unwrap_or("").contains("transfer"));
    let events = rec["events"].as_str().unwrap();
    assert!(
        events.contains("transfer to 555 failed: 486")
            && events.contains("transferred by 333 to 555"),
        "{events}"
    );
}
