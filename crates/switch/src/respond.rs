//! Building responses: Via `received`/`rport` (RFC 3581), To tags, where a
//! response goes, and stateless answers to requests that cannot be processed.

use crate::peer::{Peer, Transport};
use sha2::{Digest, Sha256};
use sip::{reason_phrase, Headers, Name, Request, Response, SipHeaders, Via};
use std::net::SocketAddr;

/// Where responses to a request from `source` go (RFC 3261 §18.2.2 with
/// RFC 3581): always the source IP, never a host named in the Via, so a
/// forged Via cannot aim the switch at a third party.
pub fn response_peer(source: Peer, top_via: Option<&Via>) -> Peer {
    match (source.transport, top_via) {
        (Transport::Udp, Some(via)) if !via.params.has("rport") => Peer {
            transport: Transport::Udp,
            addr: SocketAddr::new(source.addr.ip(), via.port.unwrap_or(5060)),
        },
        _ => source,
    }
}

/// Stamps `received` and `rport` on the top Via of a request just received.
pub fn stamp_via(req: &mut Request, source: Peer) {
    let Some(first) = req.headers.values(Name::Via).first().map(|v| v.to_vec()) else {
        return;
    };
    let Ok(mut via) = Via::parse(&first) else {
        return;
    };
    let ip = source.addr.ip();
    if via.host.ip() != Some(ip) || via.params.has("rport") {
        via.params.set("received", Some(&ip.to_string()));
    }
    if via.params.has("rport") {
        via.params
            .set("rport", Some(&source.addr.port().to_string()));
    }
    replace_top_via(&mut req.headers, via.to_string());
}

fn replace_top_via(headers: &mut Headers, top: String) {
    let Some(idx) = headers.0.iter().position(|h| Name::Via.matches(&h.name)) else {
        return;
    };
    let line = &headers.0[idx].value;
    let parts = sip::grammar::split_top_level(line, b',');
    let mut value = top;
    for rest in parts.iter().skip(1) {
        value.push_str(", ");
        value.push_str(&String::from_utf8_lossy(sip::grammar::trim(rest)));
    }
    headers.0[idx].value = value.into();
}

/// A deterministic To tag for a request (the same for its retransmissions).
pub fn tag_for(secret: &[u8], req: &Request) -> String {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(req.call_id().unwrap_or_default());
    if let Some(v) = req.headers.values(Name::Via).first() {
        h.update(v);
    }
    h.update(
        req.headers
            .get(Name::CSeq)
            .map(|v| v.as_ref())
            .unwrap_or_default(),
    );
    let d = h.finalize();
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A response with the standard reason phrase (or `reason`), a To tag for
/// anything but 100, and the `Server` header.
pub fn build(
    req: &Request,
    status: u16,
    reason: Option<&str>,
    secret: &[u8],
    server: &str,
) -> Response {
    let mut resp =
        Response::to_request(req, status, reason.unwrap_or_else(|| reason_phrase(status)));
    if status > 100 {
        resp.set_to_tag(&tag_for(secret, req));
    }
    resp.headers.push(Name::Server, server.to_string());
    resp
}

/// A stateless answer built from the headers of a request that failed to
/// parse or validate. `None` when it has no Via at all. When the top Via
/// cannot be read, it is copied as is and the answer goes back to the source
/// address (the returned Via is `None`).
pub fn stateless(
    headers: &Headers,
    status: u16,
    reason: &str,
    server: &str,
) -> Option<(Response, Option<Via>)> {
    let first = headers.values(Name::Via).into_iter().next()?;
    let top = Via::parse(first).ok();
    let mut out = Headers::default();
    for name in [Name::Via, Name::From, Name::To, Name::CallId, Name::CSeq] {
        out.copy_from(headers, name);
    }
    out.push(Name::Server, server.to_string());
    Some((
        Response {
            status,
            reason: reason.to_string(),
            headers: out,
            body: Default::default(),
        },
        top,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(addr: &str) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn responses_go_to_the_source_ip() {
        let via = Via::parse(b"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1").unwrap();
        assert_eq!(
            response_peer(peer("127.0.0.1:40000"), Some(&via)).addr,
            "127.0.0.1:5070".parse().unwrap()
        );
        let via = Via::parse(b"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport").unwrap();
        assert_eq!(
            response_peer(peer("127.0.0.1:40000"), Some(&via)).addr,
            "127.0.0.1:40000".parse().unwrap()
        );
    }
}
