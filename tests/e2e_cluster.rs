//! The cluster as operators run it: `scripts/cluster` starts PostgreSQL,
//! the Kamailio edge of `deploy/kamailio/` on 127.0.0.1:5060 and N nodes;
//! every phone and the carrier talk to the edge only. Which node anchors a
//! call is read from the switch's SDP (each node's media address is its
//! own, 127.0.0.(10+i)).

mod support;

use std::time::Duration;
use support::cluster::{Cluster, EDGE};
use support::phone::{self, Call, Phone};

const PCMU: u8 = 0;

/// Whether the cluster's parts are here: Kamailio, PostgreSQL, curl and
/// python3 (for the script), and a loopback-only namespace.
fn cluster_ready(test: &str) -> bool {
    if !support::peers_ready(test, &["kamailio", "curl", "python3"]) {
        return false;
    }
    let postgres = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().any(|v| v.path().join("bin/initdb").exists()))
        .unwrap_or(false);
    if postgres {
        return true;
    }
    assert!(
        std::env::var_os("PARKLINE_REQUIRE_PEERS").is_none(),
        "{test}: PostgreSQL is not installed (scripts/test installs it)"
    );
    eprintln!("SKIP {test}: PostgreSQL is not installed");
    false
}

/// The node (1-based) whose media address the switch's SDP of `call` names.
fn node_of(call: &Call) -> usize {
    let ip = call
        .sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("a c= line in the switch's SDP")
        .trim();
    let last: usize = ip.rsplit('.').next().unwrap().parse().unwrap();
    last - 10
}

/// Ends a call from `by`'s side; `other` takes the BYE.
fn hang_up(by: &mut Phone, call: &mut Call, other: &mut Phone) {
    assert_eq!(by.bye(call).status, 200);
    let bye = other
        .request("BYE", Duration::from_secs(5))
        .expect("the other party's BYE");
    other.ok(&bye);
}

/// A freshly registered phone of `user` (demo tenant) whose calls go
/// through a node other than `avoid`: each new phone is a new source for
/// the edge, which sends its first call round robin and its later ones to
/// the same node (found by calling 555 once).
fn phone_away_from(cluster: &Cluster, user: &str, avoid: usize) -> (Phone, usize) {
    let mut target = cluster.phone("555");
    for _ in 0..8 {
        let mut p = cluster.phone(user);
        let (mut ps, _) = phone::connect(&mut p, &mut target, &[PCMU], &[PCMU]);
        let node = node_of(&ps);
        hang_up(&mut p, &mut ps, &mut target);
        if node != avoid {
            return (p, node);
        }
    }
    panic!("the edge sent eight new phones to node {avoid} in a row");
}

fn pai(phone: &Phone) -> String {
    phone
        .last_final
        .as_ref()
        .and_then(|r| r.headers.get_str(sip::Name::PAssertedIdentity))
        .unwrap_or_default()
}

/// The seed: a client calls John's DID through the carrier; John parks
/// the call with *70333 (the park reaches the node holding the call), and
/// the conference room retrieves it with *71333 through another node:
/// one INVITE, one 200, and the two talk.
fn seed_scenario(cluster: &Cluster) {
    let mut john = cluster.phone("333");
    let mut client = Phone::at(EDGE, "15559870001", "", "127.0.0.1:5090");
    let (cid, seq, branch) = client.start_trusted_dial("15550100333", &[PCMU]);
    let inv = john.ring();
    let mut johns = john.answer(&inv, &[PCMU]);
    let mut clients = client
        .finish_dial("15550100333", &cid, seq, &branch)
        .expect("the carrier's call reaches John through the edge");
    let anchor = node_of(&clients);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    assert_eq!(phone::park(&mut john, "*70333"), "*71333");

    let (mut room, rooms_node) = phone_away_from(cluster, "444", anchor);
    let mut rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    assert_eq!(node_of(&rooms), rooms_node);
    assert_ne!(
        rooms_node, anchor,
        "the retrieval went through another node"
    );
    assert_eq!(
        pai(&room),
        "\"Phone 15559870001\" <sip:15559870001@demo.parkline.test>"
    );
    phone::assert_two_way(&client, &clients, &room, &rooms);
    eprintln!("seed: parked on node {anchor}, retrieved through node {rooms_node}");
    hang_up(&mut room, &mut rooms, &mut client);
    let _ = &mut clients;
}

#[test]
fn cluster_of_two_behind_kamailio() {
    let test = "cluster_of_two_behind_kamailio";
    if !cluster_ready(test) {
        return;
    }
    let cluster = Cluster::up("cluster-2", 2, "");
    seed_scenario(&cluster);
}

#[test]
fn cluster_of_three_behind_kamailio() {
    let test = "cluster_of_three_behind_kamailio";
    if !cluster_ready(test) {
        return;
    }
    let cluster = Cluster::up("cluster-3", 3, "");
    seed_scenario(&cluster);
}
