//! A minimal SIP client over UDP for tests: sends hand-written requests and
//! reads the answers with Parkline's own parser (a separate, independent
//! reader would be nicer; SIPp and baresip cover that side).

use sip::digest::{compute_response, Algorithm, Credentials};
use sip::{Message, Name, Response, SipHeaders};
use std::net::UdpSocket;
use std::time::Duration;

/// A UDP SIP client on its own loopback port.
pub struct Client {
    /// The socket.
    pub sock: UdpSocket,
    server: String,
    /// The SIP domain used in URIs (default: the server's address).
    pub domain: String,
    seq: u32,
}

impl Client {
    /// A client aimed at `server` (`ip:port`).
    pub fn new(server: &str) -> Client {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        Client {
            sock,
            server: server.to_string(),
            domain: server.to_string(),
            seq: 0,
        }
    }

    /// Local `ip:port`.
    pub fn local(&self) -> String {
        self.sock.local_addr().unwrap().to_string()
    }

    /// Sends raw bytes.
    pub fn send_raw(&self, data: &[u8]) {
        self.sock.send_to(data, &self.server).unwrap();
    }

    /// The next response, if one arrives within the timeout.
    pub fn recv(&self) -> Option<Response> {
        let mut buf = [0u8; 65535];
        let (n, _) = self.sock.recv_from(&mut buf).ok()?;
        match sip::parse_datagram(
            &bytes::Bytes::copy_from_slice(&buf[..n]),
            &sip::Limits::default(),
        ) {
            Ok(Some(Message::Response(r))) => Some(r),
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// A REGISTER for `user` at the server's IP (the default tenant).
    pub fn register_text(
        &mut self,
        user: &str,
        call_id: &str,
        expires: u32,
        auth: Option<&str>,
    ) -> String {
        self.seq += 1;
        let local = self.local();
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}{seq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@{server}>;tag=t{seq}\r\nTo: <sip:{user}@{server}>\r\nCall-ID: {call_id}\r\nCSeq: {seq} REGISTER\r\nContact: <sip:{user}@{local}>\r\nExpires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n",
            server = self.domain,
            seq = self.seq
        )
    }

    /// Sends a request and waits for an answer, retransmitting on silence
    /// like any UA on UDP.
    fn exchange(&mut self, text: &str) -> Option<Response> {
        let seq = self.seq; // the CSeq register_text just used
        let mut wait = Duration::from_millis(500);
        for _ in 0..6 {
            self.send_raw(text.as_bytes());
            self.sock.set_read_timeout(Some(wait)).unwrap();
            // Skip late answers to earlier requests (e.g. to a retransmission).
            while let Some(r) = self.recv() {
                if r.cseq().is_ok_and(|c| c.seq == seq) {
                    return Some(r);
                }
            }
            wait = (wait * 2).min(Duration::from_secs(2));
        }
        None
    }

    /// Registers with digest: REGISTER, answer the first challenge, and
    /// return the final response.
    pub fn register(&mut self, user: &str, password: &str, expires: u32) -> Response {
        let call_id = format!("reg-{user}-{}", self.local());
        let text = self.register_text(user, &call_id, expires, None);
        let challenge = self.exchange(&text).expect("challenge");
        assert_eq!(challenge.status, 401, "first REGISTER must be challenged");
        let uri = format!("sip:{}", self.domain);
        let auth = answer(&challenge, user, password, "REGISTER", &uri);
        let text = self.register_text(user, &call_id, expires, Some(&auth));
        self.exchange(&text).expect("final response")
    }
}

/// An Authorization value answering the first challenge of `challenge`.
pub fn answer(challenge: &Response, user: &str, password: &str, method: &str, uri: &str) -> String {
    answer_challenge(
        challenge,
        Name::WwwAuthenticate,
        user,
        password,
        method,
        uri,
    )
}

/// A credentials value answering the first `header` challenge.
pub fn answer_challenge(
    challenge: &Response,
    header: Name,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> String {
    let www = challenge
        .headers
        .get_str(header)
        .expect("a challenge header");
    let field = |k: &str| {
        let start = www.find(&format!("{k}=")).unwrap() + k.len() + 1;
        let rest = www[start..].trim_start_matches('"');
        rest.split(['"', ',']).next().unwrap().to_string()
    };
    let alg = if www.contains("SHA-256") {
        Algorithm::Sha256
    } else {
        Algorithm::Md5
    };
    let mut c = Credentials {
        username: user.into(),
        realm: field("realm"),
        nonce: field("nonce"),
        uri: uri.into(),
        qop: Some("auth".into()),
        nc: Some("00000001".into()),
        cnonce: Some("0a4f113b".into()),
        algorithm: Some(alg.as_str().into()),
        ..Default::default()
    };
    c.response = compute_response(alg, &c, password, method);
    format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"0a4f113b\"",
        c.username, c.realm, c.nonce, c.uri, c.response, alg.as_str()
    )
}
