//! A test phone's busy-lamp keys and text messages: SUBSCRIBE (RFC 6665)
//! with digest authentication, the NOTIFYs that follow (answered 200), and
//! MESSAGE (RFC 3428) both ways.

use super::phone::Phone;
use super::sip_client::answer_challenge;
use sip::{Name, Request, Response};
use std::time::{Duration, Instant};

/// What one NOTIFY showed.
#[derive(Clone, Debug)]
pub struct LampNotice {
    /// `terminated`, `early` or `confirmed` (the busiest dialog shown).
    pub state: String,
    /// The whole document.
    pub body: String,
    /// `Subscription-State`.
    pub subscription: String,
    /// When it arrived.
    pub at: Instant,
}

impl Phone {
    /// Sends an out-of-dialog `method` to `user_part@domain` with `extra`
    /// header lines and `body`, answering one digest challenge; the final
    /// response.
    pub fn authed(&mut self, method: &str, user_part: &str, extra: &str, body: &str) -> Response {
        let n = self.next();
        let call_id = format!("{method}-{}-{n}", self.user);
        let uri = format!("sip:{user_part}@{}", self.domain);
        let mut auth = String::new();
        for seq in 1..=2 {
            let text = format!(
                "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKe{n}s{seq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@{domain}>;tag=e{n}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: {seq} {method}\r\nContact: <sip:{user}@{local}>\r\n{extra}{auth}Content-Length: {len}\r\n\r\n{body}",
                local = self.local(),
                user = self.user,
                domain = self.domain,
                len = body.len()
            );
            self.send(text.as_bytes());
            let resp = self.response_to(&call_id, method, Some(seq), true);
            if resp.status != 407 {
                return resp;
            }
            if !auth.is_empty() {
                return resp;
            }
            let value = answer_challenge(
                &resp,
                Name::ProxyAuthenticate,
                &self.user.clone(),
                &self.password.clone(),
                method,
                &uri,
            );
            auth = format!("Proxy-Authorization: {value}\r\n");
        }
        unreachable!("the loop returns")
    }

    /// Subscribes to the dialog state of `user_part` (an extension, or a
    /// park position's retrieval number) for `expires` seconds.
    pub fn subscribe(&mut self, user_part: &str, expires: u32) -> Response {
        let extra = format!(
            "Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: {expires}\r\n"
        );
        self.authed("SUBSCRIBE", user_part, &extra, "")
    }

    /// The next NOTIFY within `timeout`, answered 200.
    pub fn lamp(&mut self, timeout: Duration) -> Option<LampNotice> {
        let notify = self.request("NOTIFY", timeout)?;
        let at = Instant::now();
        self.ok(&notify);
        let body = String::from_utf8_lossy(&notify.body).into_owned();
        let state = ["confirmed", "early", "terminated"]
            .into_iter()
            .find(|s| body.contains(&format!("<state>{s}</state>")))
            .unwrap_or("none")
            .to_string();
        Some(LampNotice {
            state,
            body,
            subscription: notify
                .headers
                .get_str(Name::SubscriptionState)
                .unwrap_or_default(),
            at,
        })
    }

    /// Sends a text message to `user_part`.
    pub fn message(&mut self, user_part: &str, text: &str) -> Response {
        self.authed("MESSAGE", user_part, "Content-Type: text/plain\r\n", text)
    }

    /// Who the switch says this phone talks to now: the
    /// `P-Asserted-Identity` of the next UPDATE within `timeout` (answered
    /// 200).
    pub fn connected_party(&mut self, timeout: Duration) -> Option<String> {
        let update = self.request("UPDATE", timeout)?;
        self.ok(&update);
        update.headers.get_str(Name::PAssertedIdentity)
    }

    /// The next MESSAGE within `timeout`, answered 200: the request.
    pub fn text(&mut self, timeout: Duration) -> Option<Request> {
        let message = self.request("MESSAGE", timeout)?;
        self.ok(&message);
        Some(message)
    }
}
