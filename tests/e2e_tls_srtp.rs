//! SIP over TLS and SRTP (SDES) with real softphones: baresip phones that
//! trust a test CA register over TLS, call, hold, park and retrieve with
//! SRTP, and what they hear is checked after their own decryption; a plain
//! RTP phone talks to an SRTP phone through the switch.

mod support;

use std::time::{Duration, Instant};
use support::baresip::{Baresip, Security};
use support::phone::{decode, tone_power, Phone};
use support::pki::TestPki;
use support::{peers_ready, scratch, Server};

const TOOLS: &[&str] = &["baresip", "sox", "openssl"];

fn wait_for(what: &str, server: &Server, phones: &[&Baresip], cond: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        if Instant::now() > deadline {
            let logs: Vec<String> = phones.iter().map(|p| p.log()).collect();
            panic!(
                "{what}\n--- server ---\n{}\n--- phones ---\n{}",
                server.log(),
                logs.join("\n-----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn secure_phone(server: &Server, pki: &TestPki, user: &str, freq: u32, auto: bool) -> Baresip {
    let security = Security::Tls {
        port: server.tls_port,
        ca: &pki.ca,
        mediaenc: "srtp",
    };
    Baresip::start_secure(server.sip_port, user, freq, auto, security)
}

/// Registered over TLS: the binding's flow is `tls:`.
fn registered_over_tls(server: &Server, user: &str) -> bool {
    let regs: serde_json::Value = serde_json::from_str(&server.registrations()).unwrap_or_default();
    regs.as_array().is_some_and(|list| {
        list.iter().any(|b| {
            b["extension"] == user && b["source"].as_str().is_some_and(|s| s.starts_with("tls:"))
        })
    })
}

fn uri(server: &Server, number: &str) -> String {
    format!("sip:{number}@127.0.0.1:{};transport=tls", server.tls_port)
}

/// The power of `want` over that of each of `others` in `samples`.
fn dominates(samples: &[i16], want: f64, others: &[f64]) -> bool {
    let p = tone_power(samples, want);
    others.iter().all(|&o| p > 10.0 * tone_power(samples, o))
}

/// The seed's flow with three baresip phones on TLS with SRTP: Jane (555,
/// 600 Hz) calls John (333, 1000 Hz); John holds, parks on *70333 and
/// hangs up; the conference room (444, 1400 Hz) retrieves with *71333.
/// Each recording is what the phone decrypted.
#[test]
fn baresip_over_tls_with_srtp_calls_holds_parks_and_retrieves() {
    if !peers_ready(
        "baresip_over_tls_with_srtp_calls_holds_parks_and_retrieves",
        TOOLS,
    ) {
        return;
    }
    let pki = TestPki::make(&scratch("pki"), "Parkline Test CA");
    let server = Server::start_tls("tls-srtp", &pki, "");
    let jane = secure_phone(&server, &pki, "555", 600, false);
    let john = secure_phone(&server, &pki, "333", 1000, true);
    let room = secure_phone(&server, &pki, "444", 1400, false);
    let phones = [&jane, &john, &room];
    wait_for("registration over TLS", &server, &phones, &|| {
        ["555", "333", "444"]
            .iter()
            .all(|u| registered_over_tls(&server, u))
    });

    jane.command("dial", &uri(&server, "333"));
    wait_for("call", &server, &phones, &|| server.status()["calls"] == 1);
    std::thread::sleep(Duration::from_secs(2));
    john.command("hold", "");
    wait_for("hold", &server, &phones, &|| {
        server.log().contains("hold: music to the other party")
    });
    john.command("dial", &uri(&server, "*70333"));
    wait_for("park", &server, &phones, &|| server.status()["parked"] == 1);
    std::thread::sleep(Duration::from_millis(500));
    john.command("hangup", "");
    room.command("dial", &uri(&server, "*71333"));
    wait_for("retrieval", &server, &phones, &|| {
        server.status()["parked"] == 0 && server.status()["calls"] == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    room.command("hangup", "");
    server.wait_idle();

    // John heard Jane until he held (baresip stops recording there).
    let john_heard = john.heard();
    assert!(
        dominates(&john_heard, 600.0, &[1000.0, 1400.0]),
        "John does not hear Jane"
    );
    // The room heard Jane after the retrieval.
    let room_heard = room.heard();
    assert!(
        dominates(&room_heard, 600.0, &[1000.0, 1400.0]),
        "the room does not hear Jane"
    );
    // Jane heard John, then (music and the park) the room: its last
    // two seconds are the room's tone.
    let jane_heard = jane.heard();
    let tail = &jane_heard[jane_heard.len().saturating_sub(16_000)..];
    assert!(
        dominates(tail, 1400.0, &[600.0, 1000.0]),
        "Jane does not hear the room at the end"
    );
    let head = &jane_heard[..jane_heard.len().min(12_000)];
    assert!(
        dominates(head, 1000.0, &[600.0, 1400.0]),
        "Jane does not hear John"
    );
    let rec = server.record_where(|r| r["caller"] == "555");
    let features = rec["features"].as_str().unwrap_or_default();
    assert!(features.contains("srtp"), "no SRTP in the record: {rec}");
    let events = rec["events"].as_str().unwrap_or_default();
    assert!(
        events.contains("parked by 333") && events.contains("retrieved by 444"),
        "{events}"
    );
    for p in phones {
        let log = p.log();
        assert!(
            log.contains("a=crypto:") && log.contains("SRTP is Enabled"),
            "no SRTP:\n{log}"
        );
    }
}

/// A plain phone on UDP (scripted, so its audio is checked exactly) calls
/// John, whose baresip is on TLS with SRTP: each hears the other, one leg
/// plain and one encrypted.
#[test]
fn plain_rtp_phone_talks_to_srtp_phone() {
    if !peers_ready("plain_rtp_phone_talks_to_srtp_phone", TOOLS) {
        return;
    }
    let pki = TestPki::make(&scratch("pki-plain"), "Parkline Test CA");
    let server = Server::start_tls("tls-plain", &pki, "");
    let john = secure_phone(&server, &pki, "333", 1000, true);
    wait_for("registration over TLS", &server, &[&john], &|| {
        registered_over_tls(&server, "333")
    });
    let mut client = Phone::new(&server.sip_addr(), "444", "secret-444");
    client.register();
    let call = client.dial("333", &[0]).expect("John answers");
    assert!(
        !call.sdp.contains("a=crypto") && call.sdp.contains("RTP/AVP"),
        "the plain phone gets plain RTP:\n{}",
        call.sdp
    );
    client.flush_rtp();
    let sock = client.rtp.try_clone().unwrap();
    let (to, pt) = (call.media, call.pt);
    let talker = std::thread::spawn(move || Phone::with_rtp(sock).send_tone(to, pt, 600.0, 150));
    let heard = client.record(Duration::from_millis(2500));
    talker.join().unwrap();
    let mut call = call;
    client.bye(&mut call);
    server.wait_idle();
    let samples = decode(&heard);
    assert!(
        dominates(&samples, 1000.0, &[600.0]),
        "the plain phone does not hear John (decrypted by the switch)"
    );
    assert!(
        dominates(&john.heard(), 600.0, &[1000.0]),
        "John does not hear the plain phone (encrypted by the switch)"
    );
    let log = john.log();
    assert!(
        log.contains("SRTP is Enabled"),
        "John did not use SRTP:\n{log}"
    );
    let rec = server.record_where(|r| r["callee"] == "333");
    assert!(
        rec["features"]
            .as_str()
            .unwrap_or_default()
            .contains("srtp"),
        "{rec}"
    );
}

/// A tenant that requires SRTP: two baresip phones that speak only
/// `RTP/SAVP` (`srtp-mand`) talk through it, each on its own key; a plain
/// phone's call is refused with `488 SRTP Required`.
#[test]
fn required_srtp_bridges_savp_phones_and_refuses_plain_ones() {
    if !peers_ready(
        "required_srtp_bridges_savp_phones_and_refuses_plain_ones",
        TOOLS,
    ) {
        return;
    }
    let pki = TestPki::make(&scratch("pki-required"), "Parkline Test CA");
    let server = Server::start_tls("tls-required", &pki, "srtp = \"required\"");
    let mandatory = |user, freq, auto| {
        let security = Security::Tls {
            port: server.tls_port,
            ca: &pki.ca,
            mediaenc: "srtp-mand",
        };
        Baresip::start_secure(server.sip_port, user, freq, auto, security)
    };
    let john = mandatory("333", 1000, false);
    let room = mandatory("444", 1400, true);
    wait_for("registration over TLS", &server, &[&john, &room], &|| {
        registered_over_tls(&server, "333") && registered_over_tls(&server, "444")
    });
    let mut plain = Phone::new(&server.sip_addr(), "555", "secret-555");
    plain.register();
    assert_eq!(
        plain.dial("444", &[0]).err(),
        Some(488),
        "plain RTP is refused"
    );
    assert!(
        server.log().contains("SRTP Required"),
        "the refusal says why"
    );

    john.command("dial", &uri(&server, "444"));
    wait_for("call", &server, &[&john, &room], &|| {
        server.status()["calls"] == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    john.command("hangup", "");
    server.wait_idle();
    assert!(
        dominates(&john.heard(), 1400.0, &[1000.0]),
        "John hears the room"
    );
    assert!(
        dominates(&room.heard(), 1000.0, &[1400.0]),
        "the room hears John"
    );
    for p in [&john, &room] {
        let log = p.log();
        assert!(
            log.contains("RTP/SAVP") && log.contains("SRTP is Enabled"),
            "not SAVP:\n{log}"
        );
    }
}

/// Sends `invite` over TLS with `openssl s_client` (presenting `cert`, if
/// any) and returns what came back within `wait`.
fn carrier_over_tls(
    port: u16,
    ca: &std::path::Path,
    cert: Option<(&std::path::Path, &std::path::Path)>,
    invite: &str,
    wait: Duration,
) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-quiet", "-ign_eof", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(ca);
    if let Some((c, k)) = cert {
        cmd.arg("-cert").arg(c).arg("-key").arg(k);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(invite.as_bytes())
        .unwrap();
    std::thread::sleep(wait);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn carrier_invite(call_id: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:15550100333@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\nFrom: <sip:15559870001@carrier.parkline.test>;tag=c1\r\nTo: <sip:15550100333@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:15559870001@127.0.0.1:5999;transport=tls>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// A carrier that presents a client certificate for the trunk's name is
/// the trunk over TLS: its INVITE to a DID rings the extension with no
/// challenge. Without the certificate the same INVITE is only challenged,
/// and a certificate from another CA does not get through the handshake.
#[test]
fn trunk_identified_by_its_tls_client_certificate() {
    if !peers_ready(
        "trunk_identified_by_its_tls_client_certificate",
        &["openssl"],
    ) {
        return;
    }
    let pki = TestPki::make(&scratch("pki-trunk"), "Parkline Test CA");
    let (cert, key) = pki.client("carrier.parkline.test");
    let other = TestPki::make(&scratch("pki-other"), "Some Other CA");
    let (stray_cert, stray_key) = other.client("carrier.parkline.test");
    let server = Server::start_tls_trunk(
        "tls-trunk",
        &pki,
        "",
        "tls_client_name = \"carrier.parkline.test\"",
    );
    let mut john = Phone::new(&server.sip_addr(), "333", "secret-333");
    john.register();

    let stranger = carrier_over_tls(
        server.tls_port,
        &pki.ca,
        None,
        &carrier_invite("nocert"),
        Duration::from_secs(1),
    );
    assert!(
        stranger.contains("SIP/2.0 407") && !stranger.contains("SIP/2.0 100"),
        "no certificate: challenged like anyone\n{stranger}"
    );
    let stray = carrier_over_tls(
        server.tls_port,
        &pki.ca,
        Some((&stray_cert, &stray_key)),
        &carrier_invite("stray"),
        Duration::from_secs(1),
    );
    assert!(
        !stray.contains("SIP/2.0"),
        "another CA's certificate: no SIP at all\n{stray}"
    );

    let (tx, rx) = std::sync::mpsc::channel();
    let carrier = {
        let (port, ca) = (server.tls_port, pki.ca.clone());
        std::thread::spawn(move || {
            let out = carrier_over_tls(
                port,
                &ca,
                Some((&cert, &key)),
                &carrier_invite("trunk"),
                Duration::from_secs(3),
            );
            tx.send(out).unwrap();
        })
    };
    // John is rung by the carrier's call (reject waits for its INVITE).
    john.reject(486, "Busy Here");
    carrier.join().unwrap();
    let out = rx.recv().unwrap();
    assert!(
        out.contains("SIP/2.0 100") && out.contains("SIP/2.0 486") && !out.contains("SIP/2.0 407"),
        "the trunk's call went through to John\n{out}"
    );
}
