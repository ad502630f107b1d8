//! Dialogs (RFC 3261 §12): the state two user agents share after an INVITE
//! is answered, and the requests built within it. Plain data, no IO.

use crate::header::{Headers, Name};
use crate::message::{Request, Response, SipHeaders};
use crate::method::Method;
use crate::name_addr::NameAddr;
use crate::uri::Uri;
use bytes::Bytes;

/// Identifies a dialog from our side.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Why a dialog could not be created or a request was refused in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogError(pub &'static str);

/// One dialog.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// Identity.
    pub id: DialogId,
    /// Our address (From of our requests), with our tag.
    pub local: NameAddr,
    /// The peer's address (To of our requests), with its tag.
    pub remote: NameAddr,
    /// Where in-dialog requests go (the peer's Contact).
    pub remote_target: Uri,
    /// Route set, as Route header values in the order to send them.
    pub route_set: Vec<Bytes>,
    /// CSeq of our last request.
    pub local_seq: u32,
    /// CSeq of the peer's last request, if any.
    pub remote_seq: Option<u32>,
}

fn contact_uri(headers: &Headers) -> Result<Uri, DialogError> {
    let first = headers
        .values(Name::Contact)
        .into_iter()
        .next()
        .ok_or(DialogError("missing Contact"))?;
    NameAddr::parse(first)
        .map(|a| a.uri)
        .map_err(|_| DialogError("malformed Contact"))
}

fn record_route(headers: &Headers) -> Vec<Bytes> {
    headers
        .values(Name::RecordRoute)
        .into_iter()
        .map(Bytes::copy_from_slice)
        .collect()
}

impl Dialog {
    /// The dialog a UAS creates when answering `invite` with tag `local_tag`.
    pub fn as_uas(invite: &Request, local_tag: &str) -> Result<Dialog, DialogError> {
        let remote = invite.caller().map_err(DialogError)?;
        let mut local = invite.callee().map_err(DialogError)?;
        local.params.set("tag", Some(local_tag));
        let cseq = invite.cseq().map_err(DialogError)?;
        Ok(Dialog {
            id: DialogId {
                call_id: String::from_utf8_lossy(invite.call_id().unwrap_or_default()).into_owned(),
                local_tag: local_tag.to_string(),
                remote_tag: remote.tag().unwrap_or_default().to_string(),
            },
            remote_target: contact_uri(&invite.headers)?,
            route_set: record_route(&invite.headers),
            local,
            remote,
            local_seq: 0,
            remote_seq: Some(cseq.seq),
        })
    }

    /// The dialog a UAC creates from its `invite` and a response with a To tag.
    pub fn as_uac(invite: &Request, resp: &Response) -> Result<Dialog, DialogError> {
        let local = invite.caller().map_err(DialogError)?;
        let remote = resp.callee().map_err(DialogError)?;
        let remote_tag = remote
            .tag()
            .ok_or(DialogError("response without To tag"))?
            .to_string();
        let mut route_set = record_route(&resp.headers);
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: String::from_utf8_lossy(invite.call_id().unwrap_or_default()).into_owned(),
                local_tag: local
                    .tag()
                    .ok_or(DialogError("INVITE without From tag"))?
                    .to_string(),
                remote_tag,
            },
            remote_target: contact_uri(&resp.headers)?,
            route_set,
            local,
            remote,
            local_seq: invite.cseq().map_err(DialogError)?.seq,
            remote_seq: None,
        })
    }

    /// Checks a request the peer sent in this dialog: its CSeq must grow
    /// (RFC 3261 §12.2.2: otherwise 500), and a target refresh (re-INVITE,
    /// UPDATE) with a Contact moves the remote target.
    pub fn handle_request(&mut self, req: &Request) -> Result<(), DialogError> {
        let seq = req.cseq().map_err(DialogError)?.seq;
        if req.method != Method::Ack && req.method != Method::Cancel {
            if self.remote_seq.is_some_and(|r| seq <= r) {
                return Err(DialogError("CSeq out of order"));
            }
            self.remote_seq = Some(seq);
        }
        if matches!(req.method, Method::Invite | Method::Update) {
            if let Ok(target) = contact_uri(&req.headers) {
                self.remote_target = target;
            }
        }
        Ok(())
    }

    /// A new request in the dialog (RFC 3261 §12.2.1.1) with the next CSeq,
    /// or `seq` for an ACK of a 2xx. `via` is the complete top Via value.
    pub fn request(
        &mut self,
        method: Method,
        via: &str,
        contact: &str,
        seq: Option<u32>,
    ) -> Request {
        let seq = seq.unwrap_or_else(|| {
            self.local_seq += 1;
            self.local_seq
        });
        let mut headers = Headers::default();
        headers.push(Name::Via, via.to_string());
        headers.push(Name::MaxForwards, "70");
        for r in &self.route_set {
            headers.push(Name::Route, r.clone());
        }
        headers.push(Name::From, self.local.to_string());
        headers.push(Name::To, self.remote.to_string());
        headers.push(Name::CallId, self.id.call_id.clone());
        headers.push(Name::CSeq, format!("{seq} {method}"));
        if !matches!(method, Method::Ack | Method::Bye | Method::Cancel) {
            headers.push(Name::Contact, contact.to_string());
        }
        Request {
            method,
            uri: self.remote_target.clone(),
            headers,
            body: Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{parse_datagram, Limits};
    use crate::Message;

    fn parse(text: &str) -> Message {
        parse_datagram(&Bytes::from(text.replace('\n', "\r\n")), &Limits::default())
            .unwrap()
            .unwrap()
    }

    const INVITE: &str = "INVITE sip:444@pbx SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\nFrom: \"John\" <sip:333@pbx>;tag=aaa\nTo: <sip:444@pbx>\nCall-ID: d1\nCSeq: 10 INVITE\nContact: <sip:333@10.0.0.1:5060>\nContent-Length: 0\n\n";

    #[test]
    fn uas_dialog_and_in_dialog_requests() {
        let Message::Request(inv) = parse(INVITE) else {
            panic!()
        };
        let mut d = Dialog::as_uas(&inv, "bbb").unwrap();
        assert_eq!(d.id.remote_tag, "aaa");
        assert_eq!(d.remote_target.to_string(), "sip:333@10.0.0.1:5060");
        let bye = d.request(
            Method::Bye,
            "SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb",
            "<sip:sw@10.0.0.9>",
            None,
        );
        let text = String::from_utf8(bye.encode().to_vec()).unwrap();
        assert!(text.starts_with("BYE sip:333@10.0.0.1:5060 SIP/2.0\r\n"));
        assert!(text.contains("From: <sip:444@pbx>;tag=bbb\r\n"));
        assert!(text.contains("To: \"John\" <sip:333@pbx>;tag=aaa\r\n"));
        assert!(text.contains("CSeq: 1 BYE\r\n"));
        let routes: Vec<_> = bye
            .headers
            .values(Name::Route)
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect();
        assert_eq!(
            routes,
            ["<sip:p1;lr>", "<sip:p2;lr>"],
            "UAS keeps Record-Route order"
        );
    }

    #[test]
    fn remote_cseq_must_grow_and_reinvite_refreshes_target() {
        let Message::Request(inv) = parse(INVITE) else {
            panic!()
        };
        let mut d = Dialog::as_uas(&inv, "bbb").unwrap();
        let reinv = INVITE
            .replace("CSeq: 10", "CSeq: 11")
            .replace("10.0.0.1:5060>", "10.0.0.7:5062>");
        let Message::Request(reinv) = parse(&reinv) else {
            panic!()
        };
        d.handle_request(&reinv).unwrap();
        assert_eq!(d.remote_target.to_string(), "sip:333@10.0.0.7:5062");
        assert!(d.handle_request(&reinv).is_err(), "same CSeq again");
    }

    #[test]
    fn uac_dialog_reverses_route_set() {
        let Message::Request(inv) = parse(INVITE) else {
            panic!()
        };
        let mut ok = Response::to_request(&inv, 200, "OK");
        ok.set_to_tag("zzz");
        ok.headers.copy_from(&inv.headers, Name::RecordRoute);
        ok.headers.push(Name::Contact, "<sip:444@10.0.0.2>");
        let mut d = Dialog::as_uac(&inv, &ok).unwrap();
        assert_eq!(d.id.local_tag, "aaa");
        assert_eq!(d.id.remote_tag, "zzz");
        let ack = d.request(Method::Ack, "SIP/2.0/UDP x;branch=z9hG4bKc", "", Some(10));
        assert_eq!(ack.cseq().unwrap().seq, 10);
        let routes: Vec<_> = ack
            .headers
            .values(Name::Route)
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect();
        assert_eq!(routes, ["<sip:p2;lr>", "<sip:p1;lr>"]);
        assert_eq!(
            d.request(Method::Bye, "v", "", None).cseq().unwrap().seq,
            11
        );
    }
}
