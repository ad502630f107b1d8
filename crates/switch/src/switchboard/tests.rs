//! The core driven with hand-made datagrams and a fake clock.

use super::harness::World;
use super::*;
use crate::auth::ha1;
use crate::output::StoreOp;
use crate::peer::Transport;
use accounts::{Extension, Source, Tenant};
use sip::digest::{compute_response, Algorithm, Credentials};
use std::time::Duration;

/// Store writes pending in an output list (helper for tests and shells).
fn store_ops(outputs: &[Output]) -> Vec<&StoreOp> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Store(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn directory() -> Directory {
    let t = Tenant::new("acme", "acme.example");
    let ext = |n: &str, pw: &str, enabled: bool| Extension {
        tenant: "acme".into(),
        number: n.into(),
        name: format!("Ext {n}"),
        ha1_md5: ha1(Algorithm::Md5, n, "acme.example", pw),
        ha1_sha256: ha1(Algorithm::Sha256, n, "acme.example", pw),
        enabled,
        can_call_out: true,
        can_park: true,
        can_retrieve: true,
        outbound: accounts::OutboundLimits::EXTENSION,
        source: Source::Config,
    };
    Directory::new(
        vec![t],
        vec![ext("333", "secret-333", true), ext("555", "pw", false)],
        vec![],
        vec![],
    )
}

/// The shared harness with this module's accounts: SHA-256 and MD5
/// challenges, a disabled extension.
fn harness() -> World {
    let cfg = SwitchConfig {
        default_tenant: Some("acme".into()),
        digest_algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        ..Default::default()
    };
    World::with(cfg, directory())
}

fn register(user: &str, cseq: u32, auth: Option<String>, expires: u32) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@acme.example>;tag=f\r\nTo: <sip:{user}@acme.example>\r\nCall-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.1:5070>\r\nExpires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

fn answer(challenge: &Response, user: &str, pw: &str, nc: u32) -> String {
    let (alg, header, uri) = (Algorithm::Sha256, Name::WwwAuthenticate, "sip:acme.example");
    digest_credentials(challenge, header, alg, (user, pw), ("REGISTER", uri), nc)
}

/// The credentials header value answering `challenge`'s `header` in realm
/// acme.example (shared by the core's test modules).
pub(super) fn digest_credentials(
    challenge: &Response,
    header: Name,
    alg: Algorithm,
    (user, pw): (&str, &str),
    (method, uri): (&str, &str),
    nc: u32,
) -> String {
    let v = challenge.headers.get_str(header).unwrap();
    let nonce = v
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let mut c = Credentials {
        username: user.into(),
        realm: "acme.example".into(),
        nonce,
        uri: uri.into(),
        qop: Some("auth".into()),
        nc: Some(format!("{nc:08x}")),
        cnonce: Some("c0ffee".into()),
        algorithm: Some(alg.as_str().into()),
        ..Default::default()
    };
    c.response = compute_response(alg, &c, pw, method);
    format!(
        "Digest username=\"{user}\", realm=\"acme.example\", nonce=\"{}\", uri=\"{uri}\", response=\"{}\", algorithm={}, qop=auth, nc={nc:08x}, cnonce=\"c0ffee\"",
        c.nonce,
        c.response,
        alg.as_str()
    )
}

#[test]
fn register_challenge_then_success_and_binding_persisted() {
    let mut h = harness();
    let challenge = h.response(&register("333", 1, None, 600));
    assert_eq!(challenge.status, 401);
    assert_eq!(challenge.headers.count(Name::WwwAuthenticate), 2);
    let auth = answer(&challenge, "333", "secret-333", 1);
    let outs = h.send(&register("333", 2, Some(auth), 600));
    let ops = store_ops(&outs);
    assert!(
        matches!(ops.as_slice(), [StoreOp::SaveBinding(b)] if b.contact == "sip:333@127.0.0.1:5070")
    );
    assert_eq!(h.sw.bindings().len(), 1);
    let via = outs
        .iter()
        .find_map(|o| match o {
            Output::Transmit(_, b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .unwrap();
    assert!(via.starts_with("SIP/2.0 200 OK"));
    assert!(via.contains("rport=5070"), "{via}");
}

#[test]
fn replayed_nonce_count_is_refused() {
    let mut h = harness();
    let challenge = h.response(&register("333", 1, None, 600));
    let auth = answer(&challenge, "333", "secret-333", 1);
    assert_eq!(
        h.response(&register("333", 2, Some(auth.clone()), 600))
            .status,
        200
    );
    let again = h.response(&register("333", 3, Some(auth), 600));
    assert_eq!(again.status, 401);
    assert!(again
        .headers
        .get_str(Name::WwwAuthenticate)
        .unwrap()
        .contains("stale=true"));
}

#[test]
fn expired_nonce_is_stale() {
    let mut h = harness();
    let challenge = h.response(&register("333", 1, None, 600));
    let auth = answer(&challenge, "333", "secret-333", 1);
    h.now.unix_ms += 301_000;
    let resp = h.response(&register("333", 2, Some(auth), 600));
    assert_eq!(resp.status, 401);
    assert!(resp
        .headers
        .get_str(Name::WwwAuthenticate)
        .unwrap()
        .contains("stale=true"));
}

#[test]
fn wrong_password_unknown_user_and_disabled_get_the_same_answer() {
    let mut h = harness();
    let known = h.response(&register("333", 1, None, 600));
    let unknown = h.response(&register("999", 1, None, 600));
    let shape = |r: &Response| {
        let v = r.headers.get_str(Name::WwwAuthenticate).unwrap();
        (r.status, v.split("nonce=").next().unwrap().to_string())
    };
    assert_eq!(
        shape(&known),
        shape(&unknown),
        "challenges must not reveal which users exist"
    );
    for (user, pw) in [("333", "wrong"), ("999", "anything"), ("555", "pw")] {
        let c = h.response(&register(user, 5, None, 600));
        let resp = h.response(&register(user, 6, Some(answer(&c, user, pw, 1)), 600));
        assert_eq!(
            (resp.status, resp.reason.as_str()),
            (403, "Forbidden"),
            "{user}"
        );
    }
    assert!(h.sw.bindings().is_empty());
}

#[test]
fn unregister_and_sweep() {
    let mut h = harness();
    let c = h.response(&register("333", 1, None, 60));
    assert_eq!(
        h.response(&register(
            "333",
            2,
            Some(answer(&c, "333", "secret-333", 1)),
            60
        ))
        .status,
        200
    );
    h.now.unix_ms += 61_000;
    h.now.unix_ms += 61_000;
    h.now.mono += Duration::from_secs(61);
    h.sw.handle_timeout(h.now);
    let ops: Vec<_> = std::iter::from_fn(|| h.sw.poll_output()).collect();
    assert_eq!(store_ops(&ops).len(), 1);
    assert!(h.sw.bindings().is_empty());
}

#[test]
fn options_answered_and_garbage_survived() {
    let mut h = harness();
    let r = h.response("OPTIONS sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKo\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:acme.example>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.headers.get_str(Name::Allow).unwrap().contains("REGISTER"));
    assert!(h.send("\u{0}\u{1}garbage\r\n\r\n").is_empty());
    assert!(h.send("SIP/2.0 200 OK\r\n\r\n").is_empty());
}

/// Registers 333 once with credentials (nonce-count `nc` of a fresh challenge).
fn authenticated_register(h: &mut World, cseq: u32) -> Response {
    let challenge = h.response(&register("333", cseq, None, 60));
    assert_eq!(challenge.status, 401);
    let auth = answer(&challenge, "333", "secret-333", 1);
    h.response(&register("333", cseq + 1, Some(auth), 60))
}

#[test]
fn at_the_transaction_limit_new_requests_get_503_and_are_counted() {
    let mut h = harness();
    for cseq in [1, 3] {
        assert_eq!(authenticated_register(&mut h, cseq).status, 200);
    }
    assert_eq!(
        h.sw.transactions().0,
        2,
        "only authenticated requests hold one"
    );
    // The budget is what the two hold: the next one is over it.
    h.sw.cfg.max_transaction_bytes = h.sw.transaction_bytes();
    let challenge = h.response(&register("333", 5, None, 60));
    assert_eq!(challenge.status, 401, "challenges need no transaction");
    let auth = answer(&challenge, "333", "secret-333", 1);
    let r = h.response(&register("333", 6, Some(auth), 60));
    assert_eq!(r.status, 503);
    assert_eq!(r.headers.get_str(Name::RetryAfter).as_deref(), Some("5"));
    let r = h.response(&register("333", 2, None, 60));
    assert_eq!(
        r.status, 200,
        "a retransmission still finds its transaction"
    );
    assert_eq!(h.sw.stats().overload_refusals, 1);
}

#[test]
fn challenges_are_stateless_and_sent_once() {
    let mut h = harness();
    for i in 0..1000 {
        let invite = format!("INVITE sip:444@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKflood{i}\r\nMax-Forwards: 70\r\nFrom: <sip:333@acme.example>;tag=a\r\nTo: <sip:444@acme.example>\r\nCall-ID: flood-{i}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.response(&invite).status, 407);
    }
    assert_eq!(
        h.sw.transactions(),
        (0, 0),
        "a flood of strangers holds nothing"
    );
    assert_eq!(h.sw.stats().stateless_answers, 1000);
    // Nothing is ever retransmitted.
    h.now.mono += Duration::from_secs(40);
    h.sw.handle_timeout(h.now);
    let later: Vec<_> = std::iter::from_fn(|| h.sw.poll_output())
        .filter(|o| matches!(o, Output::Transmit(..)))
        .collect();
    assert!(later.is_empty());
}

#[test]
fn answered_transactions_are_compact_records_that_expire() {
    let mut h = harness();
    let before = h.sw.transaction_bytes();
    for cseq in (1..198).step_by(2) {
        assert_eq!(authenticated_register(&mut h, cseq).status, 200);
    }
    let challenge = h.response(&register("333", 199, None, 60));
    let last = register(
        "333",
        200,
        Some(answer(&challenge, "333", "secret-333", 1)),
        60,
    );
    assert_eq!(h.response(&last).status, 200);
    let each = (h.sw.transaction_bytes() - before) / 100;
    assert!(
        each < 100 + 600,
        "a REGISTER's record and its 200 take {each} bytes"
    );
    assert_eq!(h.sw.transactions().0, 100);
    let again = h.response(&last);
    assert_eq!(again.status, 200, "a retransmission gets the same answer");
    assert_eq!(h.sw.transactions().0, 100, "and makes no transaction");
    let held = h.sw.transaction_bytes();
    h.now.mono += Duration::from_secs(32);
    h.sw.handle_timeout(h.now);
    let left = h.sw.transaction_bytes();
    assert_eq!(h.sw.transactions().0, 0);
    assert!(
        left < held / 2,
        "the records and their responses are released ({held} -> {left} bytes: the empty tables stay)"
    );
}

#[test]
fn a_source_limit_counts_only_transactions_in_progress() {
    let mut h = harness();
    h.sw.cfg.max_transactions_per_source = 1;
    assert_eq!(authenticated_register(&mut h, 1).status, 200);
    let challenge = h.response(&register("333", 3, None, 60));
    let auth = answer(&challenge, "333", "secret-333", 1);
    assert_eq!(
        h.response(&register("333", 4, Some(auth), 60)).status,
        200,
        "an answered transaction is no longer in progress"
    );
}

#[test]
fn a_nonce_is_good_only_from_the_address_it_was_sent_to() {
    let mut h = harness();
    let challenge = h.response(&register("333", 1, None, 600));
    let auth = answer(&challenge, "333", "secret-333", 1);
    h.peer.addr = "127.0.0.9:5070".parse().unwrap();
    let r = h.response(&register("333", 2, Some(auth), 600));
    assert_eq!(r.status, 401, "another address gets a new challenge");
}

/// A closed connection is forgotten: the peer map does not grow with every
/// TCP or TLS source, and requests to the peer no longer name the dead
/// connection.
#[test]
fn closed_connections_are_forgotten() {
    let mut h = harness();
    for (i, transport) in [Transport::Tcp(7), Transport::Tls(8)]
        .into_iter()
        .enumerate()
    {
        h.peer = Peer {
            transport,
            addr: format!("127.0.0.1:{}", 6000 + i).parse().unwrap(),
        };
        h.send("OPTIONS sip:acme.example SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:6000;branch=z9hG4bKo1\r\nMax-Forwards: 70\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:acme.example>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    }
    assert_eq!(h.sw.stream_peers.len(), 2);
    let tls_source: &accounts::Flow = &"tls:127.0.0.1:6001".parse().unwrap();
    assert_eq!(
        h.sw.peer_for(tls_source).unwrap().transport,
        Transport::Tls(8)
    );
    h.sw.handle_transport_closed(7);
    h.sw.handle_transport_closed(8);
    assert!(h.sw.stream_peers.is_empty() && h.sw.stream_addrs.is_empty());
    assert_eq!(h.sw.peer_for(tls_source), None, "never in the clear");
    let tcp_source: &accounts::Flow = &"tcp:127.0.0.1:6000".parse().unwrap();
    assert_eq!(h.sw.peer_for(tcp_source).unwrap().transport, Transport::Udp);
    // A trunk named by a certificate is that connection's only while it lives.
    h.sw.handle_connection_identified(9, "carrier".into());
    h.sw.handle_transport_closed(9);
    assert!(h.sw.trunk_connections.is_empty());
}
