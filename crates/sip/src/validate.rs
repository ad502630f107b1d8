//! Checks a UAS makes before acting on a request (RFC 3261 §8.2 and §16.3),
//! each failure mapped to the status RFC 3261 / RFC 4475 names.

use crate::header::{Headers, Name};
use crate::message::{Request, SipHeaders};
use crate::method::Method;
use crate::name_addr::{ContactList, NameAddr};
use crate::uri::Scheme;

/// A reason to refuse a request, with the status and any headers to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Extra headers for the response (e.g. `Unsupported`, `Accept`).
    pub headers: Vec<(Name, String)>,
}

impl Rejection {
    fn new(status: u16, reason: &'static str) -> Rejection {
        Rejection {
            status,
            reason,
            headers: Vec::new(),
        }
    }
}

/// What the validating element supports.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// Methods implemented.
    pub methods: Vec<Method>,
    /// Option tags understood in `Require`.
    pub extensions: Vec<&'static str>,
    /// Body types understood.
    pub content_types: Vec<&'static str>,
}

/// Whether the basic header set is present, single and readable. A request
/// that fails this cannot even be answered reliably.
pub fn check_structure(req: &Request) -> Result<(), Rejection> {
    let h = &req.headers;
    for (name, why) in [
        (Name::From, "Missing or multiple From"),
        (Name::To, "Missing or multiple To"),
        (Name::CallId, "Missing or multiple Call-ID"),
        (Name::CSeq, "Missing or multiple CSeq"),
    ] {
        if h.count(name) != 1 || h.values(name).len() != 1 {
            return Err(Rejection::new(400, why));
        }
    }
    if h.count(Name::Via) == 0 {
        return Err(Rejection::new(400, "Missing Via"));
    }
    req.vias()
        .map_err(|_| Rejection::new(400, "Malformed Via"))?;
    req.caller()
        .map_err(|_| Rejection::new(400, "Malformed From"))?;
    req.callee()
        .map_err(|_| Rejection::new(400, "Malformed To"))?;
    let cseq = req
        .cseq()
        .map_err(|_| Rejection::new(400, "Malformed CSeq"))?;
    if cseq.method != req.method {
        return Err(Rejection::new(
            400,
            "CSeq method does not match the request method",
        ));
    }
    if req.call_id().is_none_or(|c| c.is_empty()) {
        return Err(Rejection::new(400, "Empty Call-ID"));
    }
    Ok(())
}

/// Every check in order: structure, scalars, URI scheme, hops, method,
/// extensions, body type, Accept. ACK and CANCEL skip the feature checks.
pub fn validate_request(req: &Request, caps: &Capabilities) -> Result<(), Rejection> {
    check_structure(req)?;
    check_scalars(&req.headers)?;
    if !matches!(req.uri.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) {
        return Err(Rejection {
            status: 416,
            reason: "Unsupported URI Scheme",
            headers: Vec::new(),
        });
    }
    if req.uri.headers.is_some() {
        return Err(Rejection::new(400, "Request-URI must not carry headers"));
    }
    if let Some(mf) = max_forwards(&req.headers)? {
        if mf == 0 && req.method != Method::Ack {
            return Err(Rejection::new(483, "Too Many Hops"));
        }
    }
    if !caps.methods.contains(&req.method) {
        let allow = caps
            .methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        // A method of the SIP standards the switch does not take is not
        // allowed here (405); one it has never heard of is not implemented
        // (501). Both say what is allowed (RFC 3261 §8.2.1, §21.4.6).
        let (status, reason) = match req.method {
            Method::Other(_) => (501, "Not Implemented"),
            _ => (405, "Method Not Allowed"),
        };
        return Err(Rejection {
            status,
            reason,
            headers: vec![(Name::Allow, allow)],
        });
    }
    if matches!(req.method, Method::Ack | Method::Cancel) {
        return Ok(());
    }
    check_require(&req.headers, caps)?;
    check_body(req, caps)?;
    check_accept(req)
}

fn check_scalars(h: &Headers) -> Result<(), Rejection> {
    if let Some(e) = h.get(Name::Expires) {
        parse_delta(e).ok_or(Rejection::new(400, "Malformed Expires"))?;
    }
    if h.count(Name::Contact) > 0 {
        let values = h.values(Name::Contact);
        let list =
            ContactList::parse(&values).map_err(|_| Rejection::new(400, "Malformed Contact"))?;
        if let ContactList::Addrs(addrs) = list {
            for a in &addrs {
                if let Some(e) = a.params.value("expires") {
                    parse_delta(e.as_bytes())
                        .ok_or(Rejection::new(400, "Malformed Contact expires"))?;
                }
            }
        }
    }
    Ok(())
}

/// Parses a `delta-seconds` value below 2^32.
pub fn parse_delta(v: &[u8]) -> Option<u32> {
    let v = crate::grammar::trim(v);
    if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v)
        .ok()?
        .parse::<u64>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
}

fn max_forwards(h: &Headers) -> Result<Option<u8>, Rejection> {
    let mut all = h.get_all(Name::MaxForwards);
    let Some(v) = all.next() else { return Ok(None) };
    if all.next().is_some() {
        return Err(Rejection::new(400, "Multiple Max-Forwards"));
    }
    let n = parse_delta(v)
        .filter(|&n| n <= 255)
        .ok_or(Rejection::new(400, "Malformed Max-Forwards"))?;
    Ok(Some(n as u8))
}

fn check_require(h: &Headers, caps: &Capabilities) -> Result<(), Rejection> {
    let unsupported: Vec<String> = h
        .values(Name::Require)
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .filter(|t| !caps.extensions.iter().any(|e| e.eq_ignore_ascii_case(t)))
        .collect();
    if unsupported.is_empty() {
        return Ok(());
    }
    Err(Rejection {
        status: 420,
        reason: "Bad Extension",
        headers: vec![(Name::Unsupported, unsupported.join(", "))],
    })
}

fn media_type(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == b';').unwrap_or(v.len());
    String::from_utf8_lossy(crate::grammar::trim(&v[..end])).to_ascii_lowercase()
}

fn check_body(req: &Request, caps: &Capabilities) -> Result<(), Rejection> {
    if req.body.is_empty() || !matches!(req.method, Method::Invite | Method::Update | Method::Prack)
    {
        return Ok(());
    }
    let ct = req
        .headers
        .get(Name::ContentType)
        .map(|v| media_type(v))
        .unwrap_or_default();
    if caps.content_types.iter().any(|c| *c == ct) {
        return Ok(());
    }
    Err(Rejection {
        status: 415,
        reason: "Unsupported Media Type",
        headers: vec![(Name::Accept, caps.content_types.join(", "))],
    })
}

fn check_accept(req: &Request) -> Result<(), Rejection> {
    if req.method != Method::Invite || req.headers.count(Name::Accept) == 0 {
        return Ok(());
    }
    let ok = req.headers.values(Name::Accept).iter().any(|v| {
        let t = media_type(v);
        t.is_empty() || t == "application/sdp" || t == "application/*" || t == "*/*"
    });
    if ok {
        Ok(())
    } else {
        Err(Rejection {
            status: 406,
            reason: "Not Acceptable",
            headers: vec![(Name::Accept, "application/sdp".into())],
        })
    }
}

/// The From/To of a request parsed (after [`check_structure`] they are valid).
pub fn parties(req: &Request) -> Option<(NameAddr, NameAddr)> {
    Some((req.caller().ok()?, req.callee().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{parse_datagram, Limits};
    use crate::Message;
    use bytes::Bytes;

    fn caps() -> Capabilities {
        Capabilities {
            methods: vec![
                Method::Register,
                Method::Options,
                Method::Invite,
                Method::Ack,
                Method::Cancel,
                Method::Bye,
            ],
            extensions: vec![],
            content_types: vec!["application/sdp"],
        }
    }

    fn check(extra: &str, method: &str) -> Result<(), Rejection> {
        let text = format!(
            "{method} sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        let Some(Message::Request(r)) =
            parse_datagram(&Bytes::from(text), &Limits::default()).unwrap()
        else {
            panic!()
        };
        validate_request(&r, &caps())
    }

    #[test]
    fn statuses() {
        assert!(check("", "OPTIONS").is_ok());
        assert_eq!(
            check("Max-Forwards: 0\r\n", "OPTIONS").unwrap_err().status,
            483
        );
        assert_eq!(
            check("Max-Forwards: 300\r\n", "OPTIONS")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            check("Require: foo\r\n", "OPTIONS").unwrap_err().status,
            420
        );
        assert_eq!(
            check("Expires: 10000000000000000000000\r\n", "OPTIONS")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(check("", "PUBLISH").unwrap_err().status, 405);
        assert_eq!(check("", "FROBNICATE").unwrap_err().status, 501);
        assert_eq!(
            check("Accept: text/x\r\n", "INVITE").unwrap_err().status,
            406
        );
        assert_eq!(
            check("From: <sip:z@y>\r\n", "OPTIONS").unwrap_err().status,
            400
        );
    }
}
