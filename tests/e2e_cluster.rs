//! The cluster as operators run it: `scripts/cluster` starts PostgreSQL,
//! the Kamailio edge of `deploy/kamailio/` on 127.0.0.1:5060 and N nodes;
//! every phone and the carrier talk to the edge only. Which node anchors a
//! call is read from the switch's SDP (each node's media address is its
//! own, 127.0.0.(10+i)).

mod support;

use std::time::{Duration, Instant};
use support::cluster::{Cluster, EDGE};
use support::phone::{self, Call, Phone};

const PCMU: u8 = 0;
/// The tenant the load and race phones belong to (added to the demo).
const LOAD_DOMAIN: &str = "load.parkline.test";

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

/// A second tenant with parking prefixes *70/*71 and extensions
/// 4000..4000+n, 5000.., 6000.. (load) and 7000..7199 (races, failures).
fn load_tenant(n: usize) -> String {
    let mut text = format!(
        "[[tenants]]\nname = \"load\"\ndomain = \"{LOAD_DOMAIN}\"\npark_prefix = \"*70\"\nrelease_prefix = \"*71\"\n\n"
    );
    let numbers = (0..n)
        .flat_map(|i| [4000 + i, 5000 + i, 6000 + i])
        .chain(7000..7200);
    for number in numbers {
        text.push_str(&format!(
            "[[tenants.extensions]]\nnumber = \"{number}\"\npassword = \"secret-{number}\"\n\n"
        ));
    }
    text
}

/// A third tenant whose parked calls come back after 2 s (ringing the
/// parker 2 s) and then fall back to 8009; extensions 8000..8009.
fn comeback_tenant() -> String {
    let mut text = "[[tenants]]\nname = \"back\"\ndomain = \"back.parkline.test\"\npark_prefix = \"*70\"\nrelease_prefix = \"*71\"\npark_timeout_s = 2\npark_comeback_ring_s = 2\npark_fallback = \"8009\"\n\n".to_string();
    for number in 8000..8010 {
        text.push_str(&format!(
            "[[tenants.extensions]]\nnumber = \"{number}\"\npassword = \"secret-{number}\"\n\n"
        ));
    }
    text
}

/// The suite's admin API token, for every node.
fn admin_token() -> String {
    format!(
        "[[http.tokens]]\nname = \"test\"\nhash = \"{}\"\n\n",
        support::token_hash(support::ADMIN_TOKEN)
    )
}

/// A phone of the comeback tenant, registered through the edge.
fn comeback_phone(number: usize) -> Phone {
    let local = format!("127.0.40.{}:0", number - 7990);
    let mut p = Phone::at(
        EDGE,
        &number.to_string(),
        &format!("secret-{number}"),
        &local,
    );
    p.domain = "back.parkline.test".to_string();
    p.register();
    p
}

/// A phone of the load tenant, registered through the edge from an
/// address of its own (127.0.x.y), as phones are: the edge's flood limit
/// counts per address.
fn load_phone(number: usize) -> Phone {
    let local = format!("127.0.{}.{}:0", 1 + number / 250, 1 + number % 250);
    let mut p = Phone::at(
        EDGE,
        &number.to_string(),
        &format!("secret-{number}"),
        &local,
    );
    p.domain = LOAD_DOMAIN.to_string();
    p.register();
    p
}

/// Fresh phones of the load tenant, 7000 upwards, one extension each.
struct Phones {
    next: usize,
}

impl Phones {
    fn take(&mut self) -> Phone {
        self.next += 1;
        assert!(self.next < 7180, "out of race extensions");
        load_phone(self.next - 1)
    }
}

/// `holder` calls `other` and holds: (holder's call, other's call), and
/// the node that anchors it.
fn held_call(holder: &mut Phone, other: &mut Phone) -> (Call, Call, usize) {
    let (mut holders, others) = phone::connect(holder, other, &[PCMU], &[PCMU]);
    assert_eq!(holder.reinvite(&mut holders, "sendonly").status, 200);
    let node = node_of(&holders);
    (holders, others, node)
}

/// A held call of two fresh phones anchored on a node other than `avoid`
/// (none: anywhere): (holder, other, holder's call, other's call, node).
fn held_call_away_from(
    phones: &mut Phones,
    avoid: Option<usize>,
) -> (Phone, Phone, Call, Call, usize) {
    for _ in 0..8 {
        let (mut holder, mut other) = (phones.take(), phones.take());
        let (mut hs, os, node) = held_call(&mut holder, &mut other);
        if Some(node) != avoid {
            return (holder, other, hs, os, node);
        }
        hang_up(&mut holder, &mut hs, &mut other);
    }
    panic!("eight calls in a row went to node {avoid:?}");
}

/// Sends `freq` from `phone` for `frames` 20 ms frames on a thread.
fn talk_for(phone: &Phone, call: &Call, freq: f64, frames: usize) -> std::thread::JoinHandle<()> {
    let sock = phone.rtp.try_clone().unwrap();
    let (to, pt) = (call.media, call.pt);
    std::thread::spawn(move || Phone::with_rtp(sock).send_tone(to, pt, freq, frames))
}

fn hears(phone: &Phone, freq: f64) -> bool {
    phone.flush_rtp();
    let heard = phone::decode(&phone.record(Duration::from_millis(600)));
    // A tone, not a prompt that happens to be loud near `freq` (the loser
    // of a race hears "no call parked").
    phone::is_tone(&heard, freq)
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

/// Two parks into one position at the same moment on two nodes: one park
/// and one refusal, `rounds` times.
fn park_races(rounds: usize, phones: &mut Phones) {
    for round in 0..rounds {
        let position = 7190 + round;
        let (mut p1, mut c1, _, mut c1s, n1) = held_call_away_from(phones, None);
        let (mut p2, mut c2, _, mut c2s, n2) = held_call_away_from(phones, Some(n1));
        let code = format!("*70{position}");
        let (code1, code2) = (code.clone(), code);
        let a = std::thread::spawn(move || {
            let call = p1.dial(&code1, &[PCMU]);
            call.is_ok() && pai(&p1).contains("\"Parked ")
        });
        let b = std::thread::spawn(move || {
            let call = p2.dial(&code2, &[PCMU]);
            call.is_ok() && pai(&p2).contains("\"Parked ")
        });
        let (one, two) = (a.join().unwrap(), b.join().unwrap());
        assert!(
            one != two,
            "round {round}: nodes {n1} and {n2} parked into {position}: {one} and {two}"
        );
        // The parked party and the still-held one hang up.
        assert_eq!(c1.bye(&mut c1s).status, 200);
        assert_eq!(c2.bye(&mut c2s).status, 200);
    }
}

/// Two retrievals of one parked call through two nodes at the same
/// moment: exactly one retriever talks to the parked party, `rounds`
/// times.
fn retrieval_races(rounds: usize, phones: &mut Phones) {
    for round in 0..rounds {
        let (mut parker, mut caller, _, callers, anchor) = held_call_away_from(phones, None);
        let position = 7180 + round;
        assert_eq!(
            phone::park(&mut parker, &format!("*70{position}")),
            format!("*71{position}")
        );
        // Two retrievers whose calls go through different nodes.
        let (mut r1, mut o1, mut r1s, _, n1) = held_call_away_from(phones, None);
        hang_up(&mut r1, &mut r1s, &mut o1);
        let (mut r2, mut o2, mut r2s, _, _) = held_call_away_from(phones, Some(n1));
        hang_up(&mut r2, &mut r2s, &mut o2);
        let number = format!("*71{position}");
        let (x, y) = (number.clone(), number);
        let a = std::thread::spawn(move || {
            let call = r1.dial(&x, &[PCMU]);
            (r1, call)
        });
        let b = std::thread::spawn(move || {
            let call = r2.dial(&y, &[PCMU]);
            (r2, call)
        });
        let ((r1, c1), (r2, c2)) = (a.join().unwrap(), b.join().unwrap());
        assert!(c1.is_ok() && c2.is_ok(), "round {round}: both are answered");
        let talker = phone::talk(&caller, &callers, 600.0);
        let listening = std::thread::spawn(move || hears(&r1, 600.0));
        let second = hears(&r2, 600.0);
        let first = listening.join().unwrap();
        talker.join().unwrap();
        assert!(
            first != second,
            "round {round} (parked on node {anchor}): exactly one retriever talks to the parked party: {first} {second}"
        );
        let mut callers = callers;
        assert_eq!(caller.bye(&mut callers).status, 200);
    }
}

/// `kill -9` of the node anchoring a parked call: a call on another node
/// talks on, a new call succeeds within 5 s, and once the node is back
/// its parked call is retrieved through another node.
fn losing_a_node(cluster: &Cluster, phones: &mut Phones) {
    let (mut parker, mut caller, _, callers, doomed) = held_call_away_from(phones, None);
    assert_eq!(phone::park(&mut parker, "*707199"), "*717199");
    let (mut x, mut y, mut xs, ys, _) = held_call_away_from(phones, Some(doomed));
    assert_eq!(x.reinvite(&mut xs, "sendrecv").status, 200);

    cluster.kill_node(doomed);
    let killed = Instant::now();
    phone::assert_two_way(&x, &xs, &y, &ys);
    let (mut a, mut b) = (phones.take(), phones.take());
    let (mut abs, _) = phone::connect(&mut a, &mut b, &[PCMU], &[PCMU]);
    let took = killed.elapsed();
    eprintln!(
        "node {doomed} killed: a new call answered {:.1} s later",
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_secs(5),
        "{took:?}\n{}",
        cluster.logs()
    );
    assert_ne!(node_of(&abs), doomed);
    hang_up(&mut a, &mut abs, &mut b);
    hang_up(&mut x, &mut xs, &mut y);

    cluster.start_node(doomed);
    let (mut retriever, mut other, mut rs, _, _) = held_call_away_from(phones, Some(doomed));
    hang_up(&mut retriever, &mut rs, &mut other);
    let mut rs = retriever
        .dial("*717199", &[PCMU])
        .expect("the restarted node's parked call is retrieved through another");
    assert_ne!(node_of(&rs), doomed);
    phone::assert_two_way(&retriever, &rs, &caller, &callers);
    hang_up(&mut retriever, &mut rs, &mut caller);
}

/// The caller, parker and retriever of one cycle.
type Trio = (Phone, Phone, Phone);

/// `cycles` park/retrieve cycles at once, spread over the nodes: every
/// retriever hears its own parked party's tone (a frequency per cycle).
/// The phones register first (the edge forks each REGISTER to every node),
/// so the cycles' calls do not queue behind 1,200 registrations: this is
/// a test of parking, not of a registration storm. The cycles then start
/// 20 ms apart, over 4 s (a cycle lasts about 6 s: they all overlap):
/// these phones send each request once, and 200 INVITEs in the same
/// millisecond overflow the edge's socket, where real phones would resend.
fn park_retrieve_cycles(cluster: &Cluster, cycles: usize) {
    let registering = Instant::now();
    let trios: Vec<Trio> = (0..cycles)
        .map(|i| {
            std::thread::spawn(move || {
                (
                    load_phone(4000 + i),
                    load_phone(5000 + i),
                    load_phone(6000 + i),
                )
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|r| r.join().unwrap())
        .collect();
    eprintln!(
        "{} phones registered in {:.1} s",
        3 * cycles,
        registering.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let workers: Vec<_> = trios
        .into_iter()
        .enumerate()
        .map(|(i, trio)| {
            let start = started + Duration::from_millis(20 * i as u64);
            std::thread::spawn(move || {
                std::thread::sleep(start.saturating_duration_since(Instant::now()));
                park_retrieve_cycle(i, cycles, trio)
            })
        })
        .collect();
    let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let failures: Vec<&str> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(String::as_str))
        .collect();
    let mut parked = vec![0; cluster.nodes + 1];
    let mut crossed = 0;
    for (p, r) in results.iter().filter_map(|r| r.as_ref().ok()) {
        parked[*p] += 1;
        crossed += usize::from(p != r);
    }
    eprintln!(
        "{cycles} park/retrieve cycles in {:.1} s; parked per node {:?}; {crossed} retrieved through another node",
        started.elapsed().as_secs_f64(),
        &parked[1..]
    );
    assert!(
        failures.is_empty(),
        "{} of {cycles} cycles failed:\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        cluster.logs()
    );
    assert!(
        parked[1..].iter().all(|&n| n > 0),
        "every node parked some: {parked:?}"
    );
    assert!(crossed > 0, "some retrievals crossed nodes");
}

/// Cycle `i` of `cycles`: parked on which node, retrieved through which.
fn park_retrieve_cycle(i: usize, cycles: usize, trio: Trio) -> Result<(usize, usize), String> {
    let (mut caller, mut parker, mut retriever) = trio;
    let (_, callers, parked_on) = held_call(&mut parker, &mut caller);
    let number = phone::park(&mut parker, &format!("*70{}", 5000 + i));
    if number != format!("*71{}", 5000 + i) {
        return Err(format!("{i}: parked as {number}"));
    }
    let mut retrievers = retriever
        .dial(&number, &[PCMU])
        .map_err(|s| format!("{i}: retrieve got {s}"))?;
    let retrieved_on = node_of(&retrievers);
    let freq = 400.0 + 10.0 * i as f64;
    caller.flush_rtp();
    retriever.flush_rtp();
    // Both talk for 2 s and listen at once for 1.5 s: 200 cycles on two
    // cores through two nodes can be late by some hundred milliseconds.
    let t1 = talk_for(&caller, &callers, freq, 100);
    let t2 = talk_for(&retriever, &retrievers, freq, 100);
    let callers_ear = Phone::with_rtp(caller.rtp.try_clone().unwrap());
    let listening = std::thread::spawn(move || callers_ear.record(Duration::from_millis(1500)));
    let heard_r = retriever.record(Duration::from_millis(1500));
    let heard_c = listening.join().unwrap();
    t1.join().unwrap();
    t2.join().unwrap();
    for (who, heard) in [("retriever", heard_r), ("caller", heard_c)] {
        let samples = phone::decode(&heard[heard.len().min(3)..]);
        if samples.is_empty() {
            return Err(format!(
                "{i}: the {who} hears nothing (node port {}, caller's {})",
                retrievers.media, callers.media
            ));
        }
        let best = (0..cycles)
            .map(|j| 400.0 + 10.0 * j as f64)
            .max_by(|a, b| {
                phone::tone_power(&samples, *a).total_cmp(&phone::tone_power(&samples, *b))
            })
            .unwrap();
        if best != freq {
            return Err(format!(
                "{i}: the {who} hears {best} Hz, not its partner's {freq} Hz"
            ));
        }
    }
    retriever.bye(&mut retrievers);
    caller
        .request("BYE", Duration::from_secs(10))
        .map(|b| caller.ok(&b))
        .ok_or(format!("{i}: no BYE"))?;
    Ok((parked_on, retrieved_on))
}

/// A phone cannot pass for the carrier: a source it names is replaced by
/// the edge, and a node believes the header only from the edge.
fn forged_sources_are_not_believed(cluster: &Cluster) {
    for to in [EDGE.to_string(), cluster.node_sip(1)] {
        let mut p = Phone::new(&to, "7170", "secret-7170");
        p.domain = LOAD_DOMAIN.to_string();
        p.invite_headers = "X-Parkline-Source: 127.0.0.1:5090\r\n".to_string();
        let (cid, seq, branch) = p.start_trusted_dial("15550100333", &[PCMU]);
        let answer = p.finish_dial("15550100333", &cid, seq, &branch);
        assert_eq!(
            answer.err(),
            Some(407),
            "sent to {to}: a call claiming the carrier's address is challenged"
        );
    }
}

/// The operator's move of a parked call claims its new position across
/// the cluster: onto a position another node holds, 409; to a free one,
/// 200, and the call is retrieved there through another node.
fn operators_move_across_nodes(cluster: &Cluster, phones: &mut Phones) {
    let (mut p1, mut c1, _, c1s, n1) = held_call_away_from(phones, None);
    assert_eq!(phone::park(&mut p1, "*707160"), "*717160");
    let (mut p2, mut c2, _, mut c2s, n2) = held_call_away_from(phones, Some(n1));
    assert_eq!(phone::park(&mut p2, "*707161"), "*717161");
    let token = support::ADMIN_TOKEN;
    let (status, body) = cluster.http(
        n1,
        "POST",
        "/api/parked/load/7160/move",
        token,
        r#"{"to": "7161"}"#,
    );
    assert_eq!(
        status, 409,
        "node {n1} moved onto node {n2}'s position: {body}"
    );
    let (status, body) = cluster.http(
        n1,
        "POST",
        "/api/parked/load/7160/move",
        token,
        r#"{"to": "7162"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("*717162"), "{body}");
    let (mut r, mut other, mut rs0, _, _) = held_call_away_from(phones, Some(n1));
    hang_up(&mut r, &mut rs0, &mut other);
    let mut rs = r
        .dial("*717162", &[PCMU])
        .expect("the moved call is retrieved");
    phone::assert_two_way(&r, &rs, &c1, &c1s);
    hang_up(&mut r, &mut rs, &mut c1);
    assert_eq!(c2.bye(&mut c2s).status, 200);
}

/// A blind transfer between phones whose calls go through different
/// nodes: the transferee talks to the target.
fn transfer_across_nodes(phones: &mut Phones) {
    let (mut x, mut y, mut xs, ys, anchor) = held_call_away_from(phones, None);
    assert_eq!(x.reinvite(&mut xs, "sendrecv").status, 200);
    // The target: a phone whose own calls go through another node.
    let (mut z, mut other, mut zs0, _, _) = held_call_away_from(phones, Some(anchor));
    hang_up(&mut z, &mut zs0, &mut other);
    assert_eq!(x.refer(&mut xs, &z.user.clone()).status, 202);
    let inv = z.ring();
    let zs = z.answer(&inv, &[PCMU]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "the transferer is released");
        if let Some(n) = x.request("NOTIFY", Duration::from_millis(100)) {
            x.ok(&n);
        }
        if let Some(b) = x.request("BYE", Duration::from_millis(100)) {
            x.ok(&b);
            break;
        }
    }
    phone::assert_two_way(&y, &ys, &z, &zs);
    let mut zs = zs;
    hang_up(&mut z, &mut zs, &mut y);
}

/// An unretrieved call comes back to its parker (registered through the
/// edge, so known to every node), and then falls back to 8009.
fn comeback_and_fallback(cluster: &Cluster) {
    let (mut parker, mut parked, mut fallback) = (
        comeback_phone(8000),
        comeback_phone(8001),
        comeback_phone(8009),
    );
    let (_, parkeds, _) = held_call(&mut parker, &mut parked);
    assert_eq!(phone::park(&mut parker, "*708005"), "*718005");
    let inv = parker
        .request("INVITE", Duration::from_secs(6))
        .unwrap_or_else(|| panic!("the comeback rings the parker\n{}", cluster.logs()));
    let parkers = parker.answer(&inv, &[PCMU]);
    phone::assert_two_way(&parked, &parkeds, &parker, &parkers);
    let mut parkers = parkers;
    hang_up(&mut parker, &mut parkers, &mut parked);

    let (_, parkeds, _) = held_call(&mut parker, &mut parked);
    assert_eq!(phone::park(&mut parker, "*708005"), "*718005");
    // The parker's phone rings (180) and nobody answers.
    let inv = parker.ring();
    let cancel = parker
        .request("CANCEL", Duration::from_secs(6))
        .expect("the comeback gives up on the parker");
    parker.ok(&cancel);
    parker.terminated(&inv);
    let inv = fallback
        .request("INVITE", Duration::from_secs(6))
        .expect("the fallback extension rings");
    let fallbacks = fallback.answer(&inv, &[PCMU]);
    phone::assert_two_way(&parked, &parkeds, &fallback, &fallbacks);
    let mut fallbacks = fallbacks;
    hang_up(&mut fallback, &mut fallbacks, &mut parked);
}

#[test]
fn cluster_of_two_behind_kamailio() {
    let test = "cluster_of_two_behind_kamailio";
    if !cluster_ready(test) {
        return;
    }
    let tenants = load_tenant(0) + &comeback_tenant() + &admin_token();
    let cluster = Cluster::up("cluster-2", 2, &tenants);
    let mut phones = Phones { next: 7000 };
    seed_scenario(&cluster);
    forged_sources_are_not_believed(&cluster);
    operators_move_across_nodes(&cluster, &mut phones);
    transfer_across_nodes(&mut phones);
    comeback_and_fallback(&cluster);
    park_races(3, &mut phones);
    retrieval_races(3, &mut phones);
    losing_a_node(&cluster, &mut phones);
}

#[test]
fn cluster_of_three_behind_kamailio() {
    let test = "cluster_of_three_behind_kamailio";
    if !cluster_ready(test) {
        return;
    }
    let cluster = Cluster::up("cluster-3", 3, &load_tenant(200));
    let mut phones = Phones { next: 7000 };
    seed_scenario(&cluster);
    park_retrieve_cycles(&cluster, 200);
    park_races(3, &mut phones);
    retrieval_races(3, &mut phones);
    losing_a_node(&cluster, &mut phones);
}
