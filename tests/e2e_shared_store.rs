//! Two switches sharing one PostgreSQL store, as the nodes of a cluster
//! do: an account made through one node's API reaches the other at once;
//! each node's parked and live calls are its own, so restarting one node
//! leaves the other's calls alone, and a node killed with `kill -9` takes
//! back its own parked call when it starts again.

mod support;

use std::time::{Duration, Instant};
use support::{peers_ready, rtp_range, Server, ADMIN_TOKEN};

const PCMU: u8 = 0;

/// A node named `node` on the store `store` (a `[store]` line), with the
/// secret the cluster's nodes share (nonces, and proof between nodes).
fn node(name: &str, node: &str, store: &str) -> Server {
    let (store, node) = (store.to_string(), node.to_string());
    Server::start_edited(name, "", rtp_range(), 30, move |text| {
        let text = text.replacen("[sip]\n", "[sip]\nsecret = \"test-cluster-secret\"\n", 1);
        let at = text.find("[store]\n").expect("a [store] table");
        let end = text[at..].find("\n\n").map_or(text.len(), |e| at + e);
        format!(
            "{}[store]\n{store}\n\n[cluster]\nnode = \"{node}\"{}",
            &text[..at],
            &text[end..]
        )
    })
}

#[test]
fn nodes_on_one_postgresql_store_share_accounts_and_keep_their_own_calls() {
    let test = "nodes_on_one_postgresql_store_share_accounts_and_keep_their_own_calls";
    if !peers_ready(test, &[]) {
        return;
    }
    let Some(store) = support::postgres_store_line(test) else {
        return;
    };
    let mut one = node("store-node-1", "node-1", &store);
    let mut two = node("store-node-2", "node-2", &store);

    // An extension made through node 2's API registers on node 1.
    let (status, body) = two.http(
        "POST",
        "/api/tenants/demo/extensions",
        Some(ADMIN_TOKEN),
        r#"{"number": "777", "name": "Lab", "password": "lab-pass-777"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = support::sip_client::Client::new(&one.sip_addr());
        if c.register("777", "lab-pass-777", 300).status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 never learnt of 777");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Jane's call is parked on node 1.
    let mut john = one.registered("333");
    let mut jane = one.registered("555");
    let (janes, mut johns) = support::phone::connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");
    let listed = |server: &Server| support::parkline_cli(server, &["parked", "--json"]);
    assert!(
        listed(&two).contains("*71333"),
        "the cluster's store has it"
    );

    // Node 2 restarting leaves node 1's parked call in the store.
    two.restart();
    assert!(
        listed(&two).contains("*71333"),
        "node 2's start cleared node 1's call"
    );

    // Node 1 dies and comes back: it takes its parked call back, and
    // John retrieves Jane there.
    one.kill();
    one.start_again();
    let mut back = john
        .dial("*71333", &[PCMU])
        .expect("retrieved after node 1's restart");
    support::phone::assert_two_way(&john, &back, &jane, &janes);
    assert_eq!(john.bye(&mut back).status, 200);
    let bye = jane
        .request("BYE", Duration::from_secs(3))
        .expect("Jane's BYE");
    jane.ok(&bye);
    assert!(!listed(&two).contains("*71333"));
}

/// Dials a park code; whether the switch said "Parked" (its P-Asserted-
/// Identity) rather than announcing a refusal.
fn park_attempt(mut phone: support::phone::Phone, code: &str) -> (support::phone::Phone, bool) {
    let call = phone.dial(code, &[PCMU]);
    let parked = call.is_ok()
        && phone
            .last_final
            .as_ref()
            .and_then(|r| r.headers.get_str(sip::Name::PAssertedIdentity))
            .is_some_and(|p| p.contains("\"Parked "));
    (phone, parked)
}

#[test]
fn two_nodes_parking_into_one_position_at_once_get_one_park_and_one_refusal() {
    let test = "two_nodes_parking_into_one_position_at_once";
    if !peers_ready(test, &[]) {
        return;
    }
    let Some(store) = support::postgres_store_line(test) else {
        return;
    };
    let one = node("race-node-1", "node-1", &store);
    let two = node("race-node-2", "node-2", &store);
    for (number, name) in [("777", "Lab A"), ("778", "Lab B")] {
        let body = format!(
            r#"{{"number": "{number}", "name": "{name}", "password": "lab-pass-{number}"}}"#
        );
        let (status, answer) = two.http(
            "POST",
            "/api/tenants/demo/extensions",
            Some(ADMIN_TOKEN),
            &body,
        );
        assert_eq!(status, 201, "{answer}");
    }
    // John holds Jane on node 1; 777 holds 778 on node 2.
    let mut john = one.registered("333");
    let mut jane = one.registered("555");
    let (_janes, mut johns) = support::phone::connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    let mut lab_a = support::phone::Phone::new(&two.sip_addr(), "777", "lab-pass-777");
    let mut lab_b = support::phone::Phone::new(&two.sip_addr(), "778", "lab-pass-778");
    lab_a.register();
    lab_b.register();
    let (_bs, mut as_) = support::phone::connect(&mut lab_b, &mut lab_a, &[PCMU], &[PCMU]);
    assert_eq!(lab_a.reinvite(&mut as_, "sendonly").status, 200);

    // Both park at position 444 at the same moment.
    let a = std::thread::spawn(move || park_attempt(john, "*70444"));
    let b = std::thread::spawn(move || park_attempt(lab_a, "*70444"));
    let ((_john, one_parked), (_lab_a, two_parked)) = (a.join().unwrap(), b.join().unwrap());
    assert!(
        one_parked != two_parked,
        "one park and one refusal: node 1 {one_parked}, node 2 {two_parked}"
    );
    let listed = support::parkline_cli(&one, &["parked", "--json"]);
    assert_eq!(
        listed.matches("\"position\":\"444\"").count(),
        1,
        "{listed}"
    );
    let winner = if one_parked { "333" } else { "777" };
    assert!(
        listed.contains(&format!("\"parker\":\"{winner}\"")),
        "{listed}"
    );
}

/// Whether `phone` hears a `freq` tone within 600 ms.
fn hears(phone: &support::phone::Phone, freq: f64) -> bool {
    phone.flush_rtp();
    let heard = support::phone::decode(&phone.record(Duration::from_millis(600)));
    // A tone, not a prompt that happens to be loud near `freq` (the loser
    // of a race hears "no call parked").
    support::phone::is_tone(&heard, freq)
}

#[test]
fn a_retrieval_on_another_node_reaches_the_parked_call_and_one_of_two_wins() {
    let test = "a_retrieval_on_another_node_reaches_the_parked_call";
    if !peers_ready(test, &[]) {
        return;
    }
    let Some(store) = support::postgres_store_line(test) else {
        return;
    };
    let one = node("fwd-node-1", "node-1", &store);
    let two = node("fwd-node-2", "node-2", &store);
    let mut john = one.registered("333");
    let mut jane = one.registered("555");
    let mut room = two.registered("444");

    // Jane is parked on node 1; the room retrieves her on node 2: one
    // INVITE, one 200, and the two talk.
    let (janes, mut johns) = support::phone::connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");
    let mut rooms = room
        .dial("*71333", &[PCMU])
        .expect("retrieved through node 2");
    support::phone::assert_two_way(&room, &rooms, &jane, &janes);
    assert!(!support::parkline_cli(&one, &["parked", "--json"]).contains("*71333"));
    assert_eq!(room.bye(&mut rooms).status, 200);
    let bye = jane
        .request("BYE", Duration::from_secs(3))
        .expect("Jane's BYE");
    jane.ok(&bye);

    // Parked again; John on node 1 and the room on node 2 retrieve at the
    // same moment: one of them gets Jane.
    let (janes, mut johns) = support::phone::connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");
    let a = std::thread::spawn(move || {
        let call = john.dial("*71333", &[PCMU]);
        (john, call)
    });
    let b = std::thread::spawn(move || {
        let call = room.dial("*71333", &[PCMU]);
        (room, call)
    });
    let ((john, johns_try), (room, rooms_try)) = (a.join().unwrap(), b.join().unwrap());
    assert!(johns_try.is_ok() && rooms_try.is_ok(), "both are answered");
    let talker = support::phone::talk(&jane, &janes, 600.0);
    let listening = std::thread::spawn(move || hears(&john, 600.0));
    let room_hears = hears(&room, 600.0);
    let john_hears = listening.join().unwrap();
    talker.join().unwrap();
    assert!(
        john_hears != room_hears,
        "exactly one retriever talks to Jane: John {john_hears}, the room {room_hears}"
    );
}
