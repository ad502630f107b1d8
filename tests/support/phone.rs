//! A scriptable SIP phone for end-to-end tests: registers, dials (answering
//! the digest challenge), answers, rejects, holds, hangs up, and sends and
//! records RTP. Real SIP and RTP over loopback sockets.

use super::sip_client::answer_challenge;
use bytes::Bytes;
use media::sdp;
use sip::{Message, Name, Request, Response, SipHeaders};
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// One call as this phone sees it.
#[derive(Clone, Debug)]
pub struct Call {
    /// Call-ID.
    pub call_id: String,
    /// Our From/To value with our tag.
    pub local: String,
    /// Their From/To value with their tag.
    pub remote: String,
    /// Where to send in-dialog requests.
    pub target: String,
    /// Our last CSeq.
    pub cseq: u32,
    /// The switch's RTP address for this call.
    pub media: SocketAddr,
    /// The codec payload type agreed.
    pub pt: u8,
    /// The switch's SDP (its answer, or its offer for a call we answered).
    pub sdp: String,
}

/// A phone.
pub struct Phone {
    /// Extension number.
    pub user: String,
    pub(super) password: String,
    /// SIP socket.
    pub sip: UdpSocket,
    /// RTP socket.
    pub rtp: UdpSocket,
    server: SocketAddr,
    seq: u32,
    pending: VecDeque<Message>,
    /// Extra header lines for INVITEs (each ending in CRLF).
    pub invite_headers: String,
    /// The final response of the last dial.
    pub last_final: Option<Response>,
    /// The SIP domain in URIs (default: the switch's address).
    pub domain: String,
    /// The last request sent, retransmitted while no answer comes (RFC 3261 timers A/E).
    last_request: Option<Vec<u8>>,
    /// The INVITEs (Call-ID, CSeq) this phone has rung for: a late
    /// retransmission of one is not a new call (a transaction layer
    /// would absorb it).
    rung: std::collections::HashSet<(String, u32)>,
}

/// What the test phone says it takes (`Allow`), as desk phones do.
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, REFER, NOTIFY, MESSAGE";

fn text(m: &Bytes) -> String {
    String::from_utf8_lossy(m).into_owned()
}

impl Phone {
    /// A phone for `user` aimed at the switch at `server`.
    pub fn new(server: &str, user: &str, password: &str) -> Phone {
        Phone::at(server, user, password, "127.0.0.1:0")
    }

    /// A phone whose SIP socket is bound at `local` (e.g. a trunk's address).
    pub fn at(server: &str, user: &str, password: &str, local: &str) -> Phone {
        let sip = UdpSocket::bind(local).unwrap();
        let domain = server.to_string();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        rtp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Phone {
            user: user.into(),
            password: password.into(),
            sip,
            rtp,
            server: server.parse().unwrap(),
            seq: 0,
            pending: VecDeque::new(),
            rung: std::collections::HashSet::new(),
            invite_headers: String::new(),
            last_final: None,
            domain,
            last_request: None,
        }
    }

    pub(super) fn local(&self) -> SocketAddr {
        self.sip.local_addr().unwrap()
    }

    /// A send-only helper around an RTP socket (for a talking thread).
    pub fn with_rtp(rtp: UdpSocket) -> Phone {
        Phone {
            user: String::new(),
            password: String::new(),
            sip: UdpSocket::bind("127.0.0.1:0").unwrap(),
            rtp,
            server: "127.0.0.1:9".parse().unwrap(),
            seq: 0,
            pending: VecDeque::new(),
            rung: std::collections::HashSet::new(),
            invite_headers: String::new(),
            last_final: None,
            domain: String::new(),
            last_request: None,
        }
    }

    /// This phone's RTP address.
    pub fn rtp_addr(&self) -> SocketAddr {
        self.rtp.local_addr().unwrap()
    }

    pub(super) fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    pub(super) fn send(&mut self, data: &[u8]) {
        self.sip.send_to(data, self.server).unwrap();
        if !data.starts_with(b"ACK ") {
            self.last_request = Some(data.to_vec());
        }
    }

    /// The next message (queued or from the socket) within `timeout`. An
    /// OPTIONS probe is answered 200 on the way, as any live phone does.
    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        if let Some(m) = self.pending.pop_front() {
            return Some(m);
        }
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 65535];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            self.sip
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let (n, _) = self.sip.recv_from(&mut buf).ok()?;
            let msg =
                sip::parse_datagram(&Bytes::copy_from_slice(&buf[..n]), &sip::Limits::default())
                    .ok()
                    .flatten();
            match msg {
                Some(Message::Request(q)) if q.method == sip::Method::Options => self.ok(&q),
                other => return other,
            }
        }
    }

    /// Waits for a response to our request `call_id`/`method` (skipping
    /// anything else; requests are kept for later).
    pub fn response(&mut self, call_id: &str, method: &str, final_only: bool) -> Response {
        self.response_to(call_id, method, None, final_only)
    }

    /// [`Phone::response`] to the request with CSeq number `seq` only: a
    /// late answer to an earlier request (a 407 to a retransmitted INVITE
    /// without credentials, when the switch is slow) is skipped.
    pub fn response_to(
        &mut self,
        call_id: &str,
        method: &str,
        seq: Option<u32>,
        final_only: bool,
    ) -> Response {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut kept = Vec::new();
        let mut interval = Duration::from_millis(500);
        let mut resend_at = Instant::now() + interval;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{}: no {method} response for {call_id}",
                self.user
            );
            if Instant::now() >= resend_at {
                // Like any UA on UDP: retransmit until something answers.
                if let Some(req) = &self.last_request {
                    let _ = self.sip.send_to(req, self.server);
                }
                interval = (interval * 2).min(Duration::from_secs(4));
                resend_at = Instant::now() + interval;
            }
            let wait = left
                .min(resend_at.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1));
            match self.recv(wait) {
                Some(Message::Response(r))
                    if r.call_id() == Some(call_id.as_bytes())
                        && r.cseq()
                            .map(|c| c.method.as_str() == method && seq.is_none_or(|s| c.seq == s))
                            .unwrap_or(false)
                        && (!final_only || r.status >= 200) =>
                {
                    self.pending.extend(kept);
                    self.last_request = None;
                    return r;
                }
                Some(Message::Response(r))
                    if r.call_id() == Some(call_id.as_bytes()) && r.status < 200 =>
                {
                    // A provisional answer: stop retransmitting (RFC 3261 17.1.1.2).
                    resend_at = deadline;
                }
                Some(Message::Request(q)) => kept.push(Message::Request(q)),
                _ => {}
            }
        }
    }

    /// Waits for a request of `method` (answering OPTIONS pings on the way).
    pub fn request(&mut self, method: &str, timeout: Duration) -> Option<Request> {
        let deadline = Instant::now() + timeout;
        let mut kept = Vec::new();
        let found = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            match self.recv(left) {
                Some(Message::Request(q)) if q.method.as_str() == method => break Some(q),
                Some(m @ Message::Request(_)) => kept.push(m),
                Some(_) => {}
                None => break None,
            }
        };
        self.pending.extend(kept);
        found
    }

    /// Registers with digest authentication.
    pub fn register(&mut self) {
        let mut c = super::sip_client::Client::new(&self.server.to_string());
        // Register this phone's own socket: reuse the client's logic through ours.
        c.sock = self.sip.try_clone().unwrap();
        c.domain = self.domain.clone();
        let resp = c.register(&self.user.clone(), &self.password.clone(), 3600);
        assert_eq!(resp.status, 200, "{} could not register", self.user);
    }

    fn invite_text(
        &self,
        (number, call_id, tag): (&str, &str, &str),
        seq: u32,
        branch: &str,
        auth: Option<&str>,
        sdp: &str,
    ) -> String {
        let auth = auth
            .map(|a| format!("Proxy-Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "INVITE sip:{number}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: \"Phone {user}\" <sip:{user}@{server}>;tag={tag}\r\nTo: <sip:{number}@{server}>\r\nCall-ID: {call_id}\r\nCSeq: {seq} INVITE\r\nContact: <sip:{user}@{local}>\r\nAllow: {ALLOW}\r\n{extra}{auth}Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            server = self.domain,
            local = self.local(),
            user = self.user,
            extra = self.invite_headers,
            len = sdp.len()
        )
    }

    /// An SDP offer/answer for our RTP socket.
    pub fn sdp(&self, pts: &[u8], direction: &str) -> String {
        let addr = self.rtp_addr();
        let mut s = format!(
            "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP",
            addr.port()
        );
        for pt in pts {
            s.push_str(&format!(" {pt}"));
        }
        s.push_str(" 101\r\n");
        for pt in pts {
            s.push_str(&format!(
                "a=rtpmap:{pt} {}/8000\r\n",
                if *pt == 0 { "PCMU" } else { "PCMA" }
            ));
        }
        s.push_str(&format!(
            "a=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
        ));
        s
    }

    fn ack_for(&self, invite_uri: &str, resp: &Response, branch: &str, seq: u32) -> String {
        let from = resp.headers.get_str(Name::From).unwrap();
        let to = resp.headers.get_str(Name::To).unwrap();
        let call_id = text(resp.headers.get(Name::CallId).unwrap());
        format!(
            "ACK {invite_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {seq} ACK\r\nContent-Length: 0\r\n\r\n",
            self.local()
        )
    }

    /// Sends an authenticated INVITE and returns its Call-ID, CSeq and branch;
    /// the final answer is read with [`Phone::finish_dial`].
    pub fn start_dial(&mut self, number: &str, pts: &[u8]) -> (String, u32, String) {
        let (call_id, tag, sdp, seq, branch) = self.send_first_invite(number, pts);
        let challenge = self.response(&call_id, "INVITE", true);
        let uri = format!("sip:{number}@{}", self.domain);
        self.send(self.ack_for(&uri, &challenge, &branch, seq).as_bytes());
        if challenge.status != 407 {
            return (call_id, seq, format!("{}", challenge.status));
        }
        let auth = answer_challenge(
            &challenge,
            Name::ProxyAuthenticate,
            &self.user.clone(),
            &self.password.clone(),
            "INVITE",
            &uri,
        );
        let seq = self.next();
        let branch = format!("z9hG4bKd{}-{}", self.next(), self.local().port());
        let invite = self.invite_text((number, &call_id, &tag), seq, &branch, Some(&auth), &sdp);
        self.send(invite.as_bytes());
        (call_id, seq, branch)
    }

    /// Reads the final answer of a dial; ACKs it. `Ok` with the call for 2xx.
    pub fn finish_dial(
        &mut self,
        number: &str,
        call_id: &str,
        seq: u32,
        branch: &str,
    ) -> Result<Call, u16> {
        let resp = self.response_to(call_id, "INVITE", Some(seq), true);
        self.last_final = Some(resp.clone());
        let uri = format!("sip:{number}@{}", self.domain);
        if resp.status >= 300 {
            self.send(self.ack_for(&uri, &resp, branch, seq).as_bytes());
            return Err(resp.status);
        }
        let audio = sdp::parse_audio(&resp.body).expect("SDP answer");
        let target = resp.headers.values(Name::Contact).first().map(|c| {
            let c = String::from_utf8_lossy(c).into_owned();
            c.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_string()
        });
        let call = Call {
            call_id: call_id.to_string(),
            local: resp.headers.get_str(Name::From).unwrap(),
            remote: resp.headers.get_str(Name::To).unwrap(),
            target: target.expect("Contact in 2xx"),
            cseq: seq,
            media: SocketAddr::new(audio.address.unwrap(), audio.port),
            pt: audio.codecs[0].1,
            sdp: String::from_utf8_lossy(&resp.body).into_owned(),
        };
        let branch = format!("z9hG4bKa{}-{}", self.next(), self.local().port());
        let ack = self.ack_for(&call.target, &resp, &branch, seq);
        self.send(ack.as_bytes());
        Ok(call)
    }

    /// Sends an INVITE without credentials (a trusted trunk); read the
    /// answer with [`Phone::finish_dial`].
    pub fn start_trusted_dial(&mut self, number: &str, pts: &[u8]) -> (String, u32, String) {
        let (call_id, _, _, seq, branch) = self.send_first_invite(number, pts);
        (call_id, seq, branch)
    }

    /// Sends a dial's first INVITE (no credentials): Call-ID, tag, SDP, CSeq, branch.
    fn send_first_invite(
        &mut self,
        number: &str,
        pts: &[u8],
    ) -> (String, String, String, u32, String) {
        let n = self.next();
        let call_id = format!(
            "call-{}-{}-{}-{}",
            self.user,
            number,
            n,
            self.local().port()
        );
        let tag = format!("t{n}-{}", self.local().port());
        let sdp = self.sdp(pts, "sendrecv");
        let seq = self.next();
        let branch = format!("z9hG4bKd{}-{}", self.next(), self.local().port());
        let invite = self.invite_text((number, &call_id, &tag), seq, &branch, None, &sdp);
        self.send(invite.as_bytes());
        (call_id, tag, sdp, seq, branch)
    }

    /// Dials and waits for the answer.
    pub fn dial(&mut self, number: &str, pts: &[u8]) -> Result<Call, u16> {
        let (call_id, seq, branch) = self.start_dial(number, pts);
        if let Ok(status) = branch.parse::<u16>() {
            return Err(status);
        }
        self.finish_dial(number, &call_id, seq, &branch)
    }

    fn respond(&self, req: &Request, status: u16, reason: &str, to_tag: Option<&str>, body: &str) {
        let mut r = Response::to_request(req, status, reason);
        if let Some(t) = to_tag {
            r.set_to_tag(t);
        }
        if !body.is_empty() {
            r.headers.push(
                Name::Contact,
                format!("<sip:{}@{}>", self.user, self.local()),
            );
            r.headers.push(Name::Allow, ALLOW);
            r.headers.push(Name::ContentType, "application/sdp");
            r.body = Bytes::from(body.to_string());
        }
        self.sip.send_to(&r.encode(), self.server).unwrap();
    }

    /// Waits for a new INVITE (not a retransmission of one already rung
    /// for) and rings (180).
    pub fn ring(&mut self) -> Request {
        let deadline = Instant::now() + Duration::from_secs(10);
        let inv = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let inv = self
                .request("INVITE", left)
                .unwrap_or_else(|| panic!("{}: no INVITE", self.user));
            let key = (
                text(inv.headers.get(Name::CallId).unwrap()),
                inv.cseq().map_or(0, |c| c.seq),
            );
            if self.rung.insert(key) {
                break inv;
            }
        };
        self.respond(&inv, 180, "Ringing", Some("callee"), "");
        inv
    }

    /// Early media: 183 Session Progress with our SDP; returns where to send
    /// RTP (the switch's address from the INVITE's offer).
    pub fn early(&mut self, inv: &Request, pts: &[u8]) -> SocketAddr {
        let sdp = self.sdp(pts, "sendrecv");
        self.respond(inv, 183, "Session Progress", Some("callee"), &sdp);
        let offer = sdp::parse_audio(&inv.body).unwrap();
        SocketAddr::new(offer.address.unwrap(), offer.port)
    }

    /// Answers a ringing INVITE (200 with our SDP) and waits for the ACK.
    pub fn answer(&mut self, inv: &Request, pts: &[u8]) -> Call {
        let sdp = self.sdp(pts, "sendrecv");
        // A UAS resends its 2xx until the ACK (RFC 3261 §13.3.1.4): over
        // UDP under load either may be lost.
        let mut ack = None;
        let mut wait = Duration::from_millis(500);
        let deadline = std::time::Instant::now() + Duration::from_secs(8);
        while ack.is_none() && std::time::Instant::now() < deadline {
            self.respond(inv, 200, "OK", Some("callee"), &sdp);
            ack = self.request("ACK", wait);
            wait = (wait * 2).min(Duration::from_secs(4));
        }
        assert!(ack.is_some(), "{}: no ACK for 200", self.user);
        let offer = sdp::parse_audio(&inv.body).unwrap();
        let mut remote = inv.headers.get_str(Name::From).unwrap();
        remote = remote.trim().to_string();
        let target = inv.headers.values(Name::Contact).first().map(|c| {
            let c = String::from_utf8_lossy(c).into_owned();
            c.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_string()
        });
        Call {
            call_id: text(inv.headers.get(Name::CallId).unwrap()),
            local: format!("{};tag=callee", inv.headers.get_str(Name::To).unwrap()),
            remote,
            target: target.unwrap(),
            cseq: 100,
            media: SocketAddr::new(offer.address.unwrap(), offer.port),
            pt: pts[0],
            sdp: String::from_utf8_lossy(&inv.body).into_owned(),
        }
    }

    /// Rejects the next INVITE with `status` and waits for the ACK.
    pub fn reject(&mut self, status: u16, reason: &str) {
        let inv = self
            .request("INVITE", Duration::from_secs(10))
            .expect("INVITE");
        self.respond(&inv, status, reason, Some("callee"), "");
        assert!(
            self.request("ACK", Duration::from_secs(5)).is_some(),
            "no ACK for {status}"
        );
    }

    /// Refuses an INVITE already received.
    pub fn reject_request(&self, inv: &Request, status: u16, reason: &str) {
        self.respond(inv, status, reason, Some("callee"), "");
    }

    /// Answers a request in a dialog with 200 (BYE, CANCEL...).
    pub fn ok(&self, req: &Request) {
        self.respond(req, 200, "OK", None, "");
    }

    /// Sends 487 for an INVITE (after CANCEL).
    pub fn terminated(&self, inv: &Request) {
        self.respond(inv, 487, "Request Terminated", Some("callee"), "");
    }

    fn in_dialog(&mut self, call: &mut Call, method: &str, body: &str) -> Response {
        self.in_dialog_with(call, method, "", body)
    }

    fn in_dialog_with(
        &mut self,
        call: &mut Call,
        method: &str,
        extra: &str,
        body: &str,
    ) -> Response {
        call.cseq += 1;
        let ct = if body.is_empty() {
            extra.to_string()
        } else {
            format!("{extra}Content-Type: application/sdp\r\n")
        };
        let msg = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKi{n}-{port};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {seq} {method}\r\nContact: <sip:{user}@{local}>\r\n{ct}Content-Length: {len}\r\n\r\n{body}",
            target = call.target,
            local = self.local(),
            n = self.next(),
            port = self.local().port(),
            from = call.local,
            to = call.remote,
            cid = call.call_id,
            seq = call.cseq,
            user = self.user,
            len = body.len()
        );
        self.send(msg.as_bytes());
        let resp = self.response(&call.call_id.clone(), method, true);
        if method == "INVITE" && resp.status < 300 {
            let ack = format!(
                "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKk{}-{};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
                call.target,
                self.local(),
                self.next(),
                self.local().port(),
                call.local,
                call.remote,
                call.call_id,
                call.cseq
            );
            self.send(ack.as_bytes());
        }
        resp
    }

    /// A re-INVITE with our SDP in `direction` (`sendonly` holds).
    pub fn reinvite(&mut self, call: &mut Call, direction: &str) -> Response {
        let sdp = self.sdp(&[call.pt], direction);
        self.in_dialog(call, "INVITE", &sdp)
    }

    /// Blind-transfers the other party to `number` (REFER).
    pub fn refer(&mut self, call: &mut Call, number: &str) -> Response {
        let refer_to = format!(
            "Refer-To: <sip:{number}@{}>\r\nReferred-By: <sip:{}@{}>\r\n",
            self.domain, self.user, self.domain
        );
        self.in_dialog_with(call, "REFER", &refer_to, "")
    }

    /// Attended transfer: REFER on `call` sending its other party to the
    /// party of `consult`, whose dialog it replaces (RFC 3891).
    pub fn refer_replacing(&mut self, call: &mut Call, consult: &Call) -> Response {
        let tag = |v: &str| v.split("tag=").nth(1).unwrap_or_default().to_string();
        let replaces = format!(
            "{}%3Bto-tag%3D{}%3Bfrom-tag%3D{}",
            consult.call_id,
            tag(&consult.remote),
            tag(&consult.local)
        );
        let refer_to = format!(
            "Refer-To: <sip:transfer@{}?Replaces={replaces}>\r\nReferred-By: <sip:{}@{}>\r\n",
            self.domain, self.user, self.domain
        );
        self.in_dialog_with(call, "REFER", &refer_to, "")
    }

    /// Hangs up.
    pub fn bye(&mut self, call: &mut Call) -> Response {
        self.in_dialog(call, "BYE", "")
    }

    /// Sends a CANCEL for a pending dial.
    pub fn cancel(&mut self, number: &str, call_id: &str, seq: u32, branch: &str) {
        let msg = format!(
            "CANCEL sip:{number}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: \"Phone {user}\" <sip:{user}@{server}>;tag=x\r\nTo: <sip:{number}@{server}>\r\nCall-ID: {call_id}\r\nCSeq: {seq} CANCEL\r\nContent-Length: 0\r\n\r\n",
            server = self.server,
            local = self.local(),
            user = self.user
        );
        self.send(msg.as_bytes());
    }

    /// Sends `frames` µ-law/A-law frames of a sine at `freq` Hz, paced at 20 ms.
    pub fn send_tone(&self, to: SocketAddr, pt: u8, freq: f64, frames: usize) {
        let mut seq: u16 = 1000;
        let mut ts: u32 = 5000;
        let start = Instant::now();
        for f in 0..frames {
            let mut p = vec![0u8; 12 + 160];
            media::rtp::write_header(&mut p, pt, f == 0, seq, ts, 0x1234_5678);
            for i in 0..160 {
                let t = (f * 160 + i) as f64 / 8000.0;
                let s = (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16;
                p[12 + i] = if pt == 8 {
                    media::g711::linear_to_alaw(s)
                } else {
                    media::g711::linear_to_ulaw(s)
                };
            }
            let _ = self.rtp.send_to(&p, to);
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
            let due = start + Duration::from_millis(20 * (f as u64 + 1));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }

    /// Collects RTP packets for `dur`: (header, payload).
    pub fn record(&self, dur: Duration) -> Vec<(media::rtp::Header, Vec<u8>)> {
        let end = Instant::now() + dur;
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            if let Ok((n, _)) = self.rtp.recv_from(&mut buf) {
                if let Some(h) = media::rtp::parse(&buf[..n]) {
                    out.push((h, buf[h.payload_at..h.payload_end].to_vec()));
                }
            }
        }
        out
    }

    /// Drops whatever RTP is queued.
    pub fn flush_rtp(&self) {
        self.rtp
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let mut buf = [0u8; 2048];
        while self.rtp.recv_from(&mut buf).is_ok() {}
        self.rtp
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
}

/// `caller` dials `callee`'s number and `callee` answers: (caller's call, callee's call).
pub fn connect(
    caller: &mut Phone,
    callee: &mut Phone,
    caller_pts: &[u8],
    callee_pts: &[u8],
) -> (Call, Call) {
    let number = callee.user.clone();
    let (call_id, seq, branch) = caller.start_dial(&number, caller_pts);
    let inv = callee.ring();
    let answered = callee.answer(&inv, callee_pts);
    let dialed = caller
        .finish_dial(&number, &call_id, seq, &branch)
        .expect("the callee answers");
    (dialed, answered)
}

/// Whether `samples` are a tone of `freq`: most of their energy at that
/// one frequency (about half of a pure tone's mean square shows as its
/// Goertzel power; speech, a prompt or music spreads theirs over many
/// frequencies and shows a small fraction at any one).
pub fn is_tone(samples: &[i16], freq: f64) -> bool {
    if samples.is_empty() {
        return false;
    }
    let mean_square =
        samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len() as f64;
    mean_square > 1.0 && tone_power(samples, freq) > 0.2 * mean_square
}

/// Power of `freq` in linear samples (Goertzel), normalised by length.
pub fn tone_power(samples: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len().max(1) as f64).powi(2)
}

/// Decodes payloads to linear samples.
pub fn decode(packets: &[(media::rtp::Header, Vec<u8>)]) -> Vec<i16> {
    packets
        .iter()
        .flat_map(|(h, p)| {
            p.iter().map(move |&b| {
                if h.pt == 8 {
                    media::g711::alaw_to_linear(b)
                } else {
                    media::g711::ulaw_to_linear(b)
                }
            })
        })
        .collect()
}

/// Sends `freq` from `phone` for a second on a thread.
pub fn talk(phone: &Phone, call: &Call, freq: f64) -> std::thread::JoinHandle<()> {
    let sock = phone.rtp.try_clone().unwrap();
    let (to, pt) = (call.media, call.pt);
    std::thread::spawn(move || Phone::with_rtp(sock).send_tone(to, pt, freq, 50))
}

/// Both phones hear each other's tone.
pub fn assert_two_way(a: &Phone, a_call: &Call, b: &Phone, b_call: &Call) {
    a.flush_rtp();
    b.flush_rtp();
    let ta = talk(a, a_call, 600.0);
    let tb = talk(b, b_call, 1400.0);
    let heard_by_b = b.record(Duration::from_millis(900));
    let heard_by_a = a.record(Duration::from_millis(300));
    ta.join().unwrap();
    tb.join().unwrap();
    let (hb, ha) = (
        decode(&heard_by_b[5.min(heard_by_b.len())..]),
        decode(&heard_by_a),
    );
    assert!(
        tone_power(&hb, 600.0) > 10.0 * tone_power(&hb, 1400.0),
        "b does not hear a"
    );
    assert!(
        tone_power(&ha, 1400.0) > 10.0 * tone_power(&ha, 600.0),
        "a does not hear b"
    );
}

/// Parks the holder's call with `code` and returns the retrieval number from
/// the P-Asserted-Identity.
pub fn park(holder: &mut Phone, code: &str) -> String {
    let mut call = holder.dial(code, &[0]).expect("park answered");
    let pai = holder
        .last_final
        .clone()
        .unwrap()
        .headers
        .get_str(sip::Name::PAssertedIdentity)
        .unwrap();
    let number = pai
        .split("\"Parked ")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let released = holder
        .request("BYE", Duration::from_secs(3))
        .expect("held leg released");
    holder.ok(&released);
    // Like John in the seed: he has the number, he hangs up.
    assert_eq!(holder.bye(&mut call).status, 200);
    holder.flush_rtp();
    number
}
