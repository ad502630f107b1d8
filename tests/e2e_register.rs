//! Registrar end to end: SIPp registers with digest auth over UDP and TCP,
//! re-registers, unregisters; bindings survive a restart; wrong passwords and
//! unknown users never get 200 and learn nothing.

mod support;

use support::sip_client::Client;
use support::{inf, peers_ready, sipp, Server};

fn contacts_of(server: &Server, ext: &str) -> usize {
    let json: serde_json::Value = serde_json::from_str(&server.registrations()).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .filter(|b| b["extension"] == ext)
        .count()
}

#[test]
fn sipp_registers_reregisters_and_unregisters() {
    if !peers_ready("sipp_registers_reregisters_and_unregisters", &["sipp"]) {
        return;
    }
    let mut server = Server::start("register");
    let auth = ["-s", "333", "-au", "333", "-ap", "secret-333"];
    let keep = inf(&["3600"]);
    let keep = keep.to_str().unwrap();

    let (rc, log) = sipp(
        &server,
        "register.xml",
        &[&auth[..], &["-inf", keep]].concat(),
    );
    assert_eq!(rc, 0, "register failed:\n{log}");
    assert_eq!(contacts_of(&server, "333"), 1);

    let (rc, log) = sipp(
        &server,
        "register.xml",
        &[&auth[..], &["-inf", keep]].concat(),
    );
    assert_eq!(rc, 0, "re-register failed:\n{log}");
    assert_eq!(
        contacts_of(&server, "333"),
        2,
        "a second SIPp (new port) is a second contact"
    );

    server.restart();
    assert_eq!(contacts_of(&server, "333"), 2, "bindings survive a restart");

    let (rc, log) = sipp(
        &server,
        "register.xml",
        &[&auth[..], &["-inf", keep, "-t", "t1"]].concat(),
    );
    assert_eq!(rc, 0, "register over TCP failed:\n{log}");
    assert_eq!(contacts_of(&server, "333"), 3);
    assert!(server.registrations().contains("transport=TCP"));

    let mut client = Client::new(&server.sip_addr());
    let resp = client.register("333", "secret-333", 120);
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers.count(sip::Name::Contact),
        4,
        "200 lists every binding"
    );
    let resp = client.register("333", "secret-333", 0);
    assert_eq!(resp.status, 200);
    assert_eq!(
        contacts_of(&server, "333"),
        3,
        "Expires: 0 removes that contact only"
    );

    // Remove the rest with Contact: * (RFC 3261 §10.2.2).
    let call_id = "star-removal";
    let text = client.register_text("333", call_id, 0, None).replace(
        &format!("Contact: <sip:333@{}>", client.local()),
        "Contact: *",
    );
    client.send_raw(text.as_bytes());
    let challenge = client.recv().unwrap();
    let auth = support::sip_client::answer(
        &challenge,
        "333",
        "secret-333",
        "REGISTER",
        &format!("sip:{}", server.sip_addr()),
    );
    let text = client
        .register_text("333", call_id, 0, Some(&auth))
        .replace(
            &format!("Contact: <sip:333@{}>", client.local()),
            "Contact: *",
        );
    client.send_raw(text.as_bytes());
    assert_eq!(client.recv().unwrap().status, 200);
    assert_eq!(
        contacts_of(&server, "333"),
        0,
        "Contact: * removes every binding"
    );
    server.restart();
    assert_eq!(contacts_of(&server, "333"), 0, "removals are persisted too");
}

/// The whole life cycle in one SIPp call over UDP and over TCP: 401, 200 with
/// the contact, refresh with a new interval, Expires: 0 leaves no contact.
#[test]
fn sipp_register_cycle_over_udp_and_tcp() {
    if !peers_ready("sipp_register_cycle_over_udp_and_tcp", &["sipp"]) {
        return;
    }
    let server = Server::start("cycle");
    for transport in ["u1", "t1"] {
        let (rc, log) = sipp(
            &server,
            "register_cycle.xml",
            &[
                "-s",
                "444",
                "-au",
                "444",
                "-ap",
                "secret-444",
                "-t",
                transport,
            ],
        );
        assert_eq!(rc, 0, "register cycle over {transport} failed:\n{log}");
        assert_eq!(contacts_of(&server, "444"), 0, "unregistered at the end");
    }
}

#[test]
fn wrong_password_and_unknown_user_never_get_200() {
    if !peers_ready("wrong_password_and_unknown_user_never_get_200", &["sipp"]) {
        return;
    }
    let server = Server::start("refused");
    let keep = inf(&["3600"]);
    let keep = keep.to_str().unwrap();
    for (user, pass) in [
        ("333", "wrong-password"),
        ("999", "secret-999"),
        ("666", "secret-666"),
    ] {
        let (rc, log) = sipp(
            &server,
            "register_refused.xml",
            &["-s", user, "-au", user, "-ap", pass, "-inf", keep],
        );
        assert_eq!(rc, 0, "{user} must get 401 then 403:\n{log}");
    }
    assert_eq!(
        contacts_of(&server, "333") + contacts_of(&server, "999") + contacts_of(&server, "666"),
        0
    );
}

/// The challenge for an unknown user is byte-identical to a known user's once
/// the fields that differ per request (tags, Call-ID, branch) are masked.
#[test]
fn unknown_user_challenge_is_indistinguishable() {
    if !peers_ready("unknown_user_challenge_is_indistinguishable", &[]) {
        return;
    }
    let server = Server::start("indistinguishable");
    let mut client = Client::new(&server.sip_addr());
    let mut raw = Vec::new();
    for user in ["333", "999"] {
        let text = client.register_text(user, "same-call-id", 3600, None);
        client.send_raw(text.as_bytes());
        let resp = client.recv().unwrap();
        assert_eq!(resp.status, 401);
        let mut wire = String::from_utf8(resp.encode().to_vec()).unwrap();
        wire = wire.replace(&format!("sip:{user}@"), "sip:USER@");
        let tag_at = wire.find("tag=").unwrap();
        let masked: String = wire
            .lines()
            .map(|l| {
                if l.starts_with("To:") || l.starts_with("From:") || l.starts_with("Via:") {
                    l.split(';').next().unwrap()
                } else {
                    l
                }
            })
            .filter(|l| !l.starts_with("CSeq:"))
            .map(mask_nonce)
            .collect::<Vec<String>>()
            .join("\n");
        assert!(tag_at > 0);
        raw.push(masked);
    }
    assert_eq!(
        raw[0], raw[1],
        "challenges differ between a known and an unknown user"
    );
}

/// RFC 8760: with SHA-256 offered first, a client answering with SHA-256
/// registers; one answering with an algorithm not offered does not.
#[test]
fn sha256_digest_when_configured() {
    if !peers_ready("sha256_digest_when_configured", &[]) {
        return;
    }
    let server = Server::start_with("sha256", "digest_algorithms = [\"SHA-256\", \"MD5\"]");
    let mut client = Client::new(&server.sip_addr());
    let text = client.register_text("333", "sha-probe", 600, None);
    client.send_raw(text.as_bytes());
    let challenge = client.recv().unwrap();
    let offers: Vec<_> = challenge
        .headers
        .get_all(sip::Name::WwwAuthenticate)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert_eq!(offers.len(), 2);
    assert!(
        offers[0].contains("algorithm=SHA-256") && offers[1].contains("algorithm=MD5"),
        "{offers:?}"
    );
    let resp = client.register("333", "secret-333", 600);
    assert_eq!(resp.status, 200);
    let regs = server.registrations();
    assert!(regs.contains("\"extension\":\"333\""), "{regs}");

    let md5_only = Server::start("md5-only");
    let mut client = Client::new(&md5_only.sip_addr());
    let text = client.register_text("333", "md5-probe", 600, None);
    client.send_raw(text.as_bytes());
    let challenge = client.recv().unwrap();
    assert_eq!(challenge.headers.count(sip::Name::WwwAuthenticate), 1);
    // Answer with SHA-256 although only MD5 was offered: refused.
    let forged = support::sip_client::answer(
        &challenge,
        "333",
        "secret-333",
        "REGISTER",
        &format!("sip:{}", md5_only.sip_addr()),
    )
    .replace("algorithm=MD5", "algorithm=SHA-256");
    let text = client.register_text("333", "md5-probe", 600, Some(&forged));
    client.send_raw(text.as_bytes());
    assert_eq!(client.recv().unwrap().status, 403);
}

/// Replaces the value of `nonce="..."` (unique per challenge) with `N`.
fn mask_nonce(line: &str) -> String {
    match line.find("nonce=\"") {
        Some(start) => {
            let value_start = start + 7;
            let end = line[value_start..]
                .find('"')
                .map_or(line.len(), |e| value_start + e);
            format!("{}N{}", &line[..value_start], &line[end..])
        }
        None => line.to_string(),
    }
}
