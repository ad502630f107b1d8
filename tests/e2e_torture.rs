//! RFC 4475 torture messages, sent over UDP to a running server. Each gets the
//! answer the RFC names (or none, for responses), and the server keeps serving.
//! The top Via is aimed at the test's own socket before sending, so even
//! outside a namespace no answer can go anywhere but loopback.

mod support;

use std::net::UdpSocket;
use std::time::Duration;
use support::{shared_dir, Server};

/// What the RFC expects: the statuses acceptable, empty for "no answer"
/// (responses, which are dropped), with the RFC 4475 section.
const EXPECTED: &[(&str, &[u16], &str)] = &[
    // 3.1.1 valid messages. INVITE/REGISTER are challenged (nobody is authenticated).
    (
        "wsinv",
        &[481],
        "3.1.1.1 short tortuous INVITE: parsed; it has a To tag and matches no dialog (RFC 3261 12.2.2)",
    ),
    (
        "intmeth",
        &[501],
        "3.1.1.2 wide range of valid characters: unknown method",
    ),
    ("esc01", &[407], "3.1.1.3 valid use of % escaping"),
    ("escnull", &[401], "3.1.1.4 escaped nulls in URIs"),
    (
        "esc02",
        &[501],
        "3.1.1.5 use of % when it is not an escape: unknown method RE%55ISTER",
    ),
    (
        "lwsdisp",
        &[200],
        "3.1.1.6 message with no LWS between display name and <",
    ),
    ("longreq", &[407], "3.1.1.7 long values in header fields"),
    (
        "dblreq",
        &[401],
        "3.1.1.8 extra trailing octets: only the REGISTER is processed",
    ),
    (
        "semiuri",
        &[200],
        "3.1.1.9 semicolon-separated parameters in URI user part",
    ),
    (
        "transports",
        &[200],
        "3.1.1.10 varied and unknown transport types",
    ),
    (
        "mpart01",
        &[407],
        "3.1.1.11 multipart MIME message: parsed; a MESSAGE from a stranger is challenged",
    ),
    (
        "unreason",
        &[],
        "3.1.1.12 unusual reason phrase (a response: dropped)",
    ),
    (
        "noreason",
        &[],
        "3.1.1.13 empty reason phrase (a response: dropped)",
    ),
    // 3.1.2 invalid messages
    (
        "badinv01",
        &[400],
        "3.1.2.1 extraneous header field separators",
    ),
    (
        "clerr",
        &[400],
        "3.1.2.2 Content-Length larger than message",
    ),
    ("ncl", &[400], "3.1.2.3 negative Content-Length"),
    (
        "scalar02",
        &[400],
        "3.1.2.4 request scalar fields with overlarge values",
    ),
    (
        "scalarlg",
        &[],
        "3.1.2.5 response scalar fields with overlarge values (dropped)",
    ),
    (
        "quotbal",
        &[400],
        "3.1.2.6 unterminated quoted string in display name",
    ),
    ("ltgtruri", &[400], "3.1.2.7 <> enclosing Request-URI"),
    (
        "lwsruri",
        &[400],
        "3.1.2.8 malformed SIP Request-URI (embedded LWS)",
    ),
    (
        "lwsstart",
        &[400],
        "3.1.2.9 multiple SP separating Request-Line elements",
    ),
    (
        "trws",
        &[400],
        "3.1.2.10 SP characters at end of Request-Line",
    ),
    (
        "escruri",
        &[400],
        "3.1.2.11 escaped headers in SIP Request-URI",
    ),
    (
        "baddate",
        &[407, 400],
        "3.1.2.12 invalid time zone in Date (a tolerant element may accept)",
    ),
    (
        "regbadct",
        &[401, 400],
        "3.1.2.13 failure to enclose name-addr URI in <> (may be accepted)",
    ),
    (
        "badaspec",
        &[200, 400],
        "3.1.2.14 spaces within addr-spec (may be accepted)",
    ),
    (
        "baddn",
        &[400],
        "3.1.2.15 non-token characters in display name",
    ),
    ("badvers", &[505], "3.1.2.16 unknown protocol version"),
    (
        "mismatch01",
        &[400],
        "3.1.2.17 start line and CSeq method mismatch",
    ),
    (
        "mismatch02",
        &[400, 501],
        "3.1.2.18 unknown method with CSeq method mismatch",
    ),
    ("bigcode", &[], "3.1.2.19 overlarge response code (dropped)"),
    // 3.2 transaction layer
    (
        "badbranch",
        &[200],
        "3.2.1 missing transaction identifier cookie",
    ),
    // 3.3 application layer
    ("insuf", &[400], "3.3.1 missing required header fields"),
    ("unkscm", &[416], "3.3.2 Request-URI with unknown scheme"),
    (
        "novelsc",
        &[416],
        "3.3.3 Request-URI with known but atypical scheme",
    ),
    (
        "unksm2",
        &[400, 416],
        "3.3.4 unknown URI schemes in header fields of a REGISTER",
    ),
    ("bext01", &[420], "3.3.5 proxy-require and require"),
    ("invut", &[415], "3.3.6 unknown content-type"),
    ("regaut01", &[401], "3.3.7 unknown authorization scheme"),
    (
        "multi01",
        &[400],
        "3.3.8 multiple values in single-value required fields",
    ),
    ("mcl01", &[400], "3.3.9 multiple Content-Length values"),
    (
        "bcast",
        &[],
        "3.3.10 200 OK response with broadcast Via (dropped)",
    ),
    ("zeromf", &[483], "3.3.11 Max-Forwards of zero"),
    (
        "cparam01",
        &[401],
        "3.3.12 REGISTER with a contact header parameter",
    ),
    ("cparam02", &[401], "3.3.13 REGISTER with a url parameter"),
    (
        "regescrt",
        &[401],
        "3.3.14 REGISTER with a URL escaped header",
    ),
    ("sdp01", &[406], "3.3.15 unacceptable Accept offering"),
    ("inv2543", &[407], "3.4.1 INVITE with RFC 2543 syntax"),
];

/// Replaces the sent-by of the first Via (possibly folded over lines) with `to`.
fn aim_via(msg: &[u8], to: &str) -> Vec<u8> {
    let text = msg.to_vec();
    let lower = text.to_ascii_lowercase();
    let header_start = lower
        .windows(5)
        .position(|w| {
            w == b"\nvia " || w == b"\nvia:" || w.starts_with(b"\nv:") || w.starts_with(b"\nv :")
        })
        .map(|p| p + 1);
    let Some(start) = header_start else {
        return text;
    };
    for transport in [&b"udp"[..], b"tcp", b"tls", b"sctp"] {
        let Some(rel) = lower[start..]
            .windows(transport.len())
            .position(|w| w == transport)
        else {
            continue;
        };
        let mut i = start + rel + transport.len();
        while i < text.len() && text[i].is_ascii_whitespace() {
            i += 1;
        }
        let host_start = i;
        while i < text.len() && (text[i].is_ascii_alphanumeric() || b".-:[]_".contains(&text[i])) {
            i += 1;
        }
        let mut out = text[..host_start].to_vec();
        out.extend_from_slice(to.as_bytes());
        out.extend_from_slice(&text[i..]);
        return out;
    }
    text
}

fn status_of(datagram: &[u8]) -> u16 {
    let line = String::from_utf8_lossy(&datagram[..datagram.len().min(16)]).into_owned();
    line.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn all_49_rfc4475_messages_get_the_rfc_answer() {
    let Some(shared) = shared_dir() else {
        eprintln!("SKIP all_49_rfc4475_messages_get_the_rfc_answer: ../shared is absent");
        return;
    };
    let dir = shared.join("sip-torture/rfc4475");
    let mut server = Server::start("torture");
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        49,
        "expected the 49 RFC 4475 messages in {}",
        dir.display()
    );
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (_, expected, what) = EXPECTED
            .iter()
            .find(|(n, _, _)| *n == name)
            .expect("every file has an expectation");
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(if expected.is_empty() {
            300
        } else {
            3000
        })))
        .unwrap();
        let data = aim_via(
            &std::fs::read(path).unwrap(),
            &sock.local_addr().unwrap().to_string(),
        );
        sock.send_to(&data, server.sip_addr()).unwrap();
        let mut buf = [0u8; 65535];
        let got = sock
            .recv_from(&mut buf)
            .ok()
            .map(|(n, _)| status_of(&buf[..n]));
        let ok = match got {
            None => expected.is_empty(),
            Some(s) => expected.contains(&s),
        };
        if !ok {
            failures.push(format!(
                "{name} ({what}): expected {expected:?}, got {got:?}"
            ));
        }
        if name == "dblreq" {
            sock.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            if sock.recv_from(&mut buf).is_ok() {
                failures.push("dblreq: the trailing INVITE was answered too".into());
            }
        }
    }
    assert!(server.is_running(), "server died:\n{}", server.log());
    let mut client = support::sip_client::Client::new(&server.sip_addr());
    assert_eq!(
        client.register("333", "secret-333", 600).status,
        200,
        "still serving afterwards"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
