//! SIP requests and responses, typed accessors for the headers the switch
//! routes on, and serialization.

use crate::cseq::CSeq;
use crate::header::{Headers, Name};
use crate::method::Method;
use crate::name_addr::NameAddr;
use crate::uri::Uri;
use crate::via::Via;
use bytes::{BufMut, Bytes, BytesMut};

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Request-URI.
    pub uri: Uri,
    /// Headers, in order.
    pub headers: Headers,
    /// Body (framed by Content-Length).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=699.
    pub status: u16,
    /// Reason phrase (may be empty).
    pub reason: String,
    /// Headers, in order.
    pub headers: Headers,
    /// Body.
    pub body: Bytes,
}

/// Either kind of SIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// The headers of either kind.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// Serializes the message.
    pub fn encode(&self) -> Bytes {
        match self {
            Message::Request(r) => r.encode(),
            Message::Response(r) => r.encode(),
        }
    }
}

/// Accessors shared by requests and responses.
pub trait SipHeaders {
    /// The header list.
    fn headers(&self) -> &Headers;

    /// Call-ID value.
    fn call_id(&self) -> Option<&[u8]> {
        self.headers().get(Name::CallId).map(|b| b.as_ref())
    }
    /// Parsed CSeq.
    fn cseq(&self) -> Result<CSeq, &'static str> {
        CSeq::parse(self.headers().get(Name::CSeq).ok_or("missing CSeq")?)
    }
    /// Parsed From header (the caller).
    fn caller(&self) -> Result<NameAddr, &'static str> {
        NameAddr::parse(self.headers().get(Name::From).ok_or("missing From")?)
    }
    /// Parsed To header (the callee).
    fn callee(&self) -> Result<NameAddr, &'static str> {
        NameAddr::parse(self.headers().get(Name::To).ok_or("missing To")?)
    }
    /// All Via values, top first.
    fn vias(&self) -> Result<Vec<Via>, &'static str> {
        self.headers()
            .values(Name::Via)
            .into_iter()
            .map(Via::parse)
            .collect()
    }
    /// The top Via.
    fn top_via(&self) -> Result<Via, &'static str> {
        let first = self
            .headers()
            .values(Name::Via)
            .into_iter()
            .next()
            .ok_or("missing Via")?;
        Via::parse(first)
    }
}

impl SipHeaders for Request {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl SipHeaders for Response {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl Request {
    /// Serializes the request; Content-Length always states the body's length.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(512 + self.body.len());
        buf.put_slice(self.method.as_str().as_bytes());
        buf.put_u8(b' ');
        buf.put_slice(self.uri.to_string().as_bytes());
        buf.put_slice(b" SIP/2.0\r\n");
        encode_headers_and_body(&mut buf, &self.headers, &self.body);
        buf.freeze()
    }
}

impl Response {
    /// A response to `req` that copies Via, From, To, Call-ID and CSeq
    /// (RFC 3261 §8.2.6.2). The To tag is added by the caller when needed.
    pub fn to_request(req: &Request, status: u16, reason: &str) -> Response {
        let mut headers = Headers::default();
        for name in [Name::Via, Name::From, Name::To, Name::CallId, Name::CSeq] {
            headers.copy_from(&req.headers, name);
        }
        Response {
            status,
            reason: reason.to_string(),
            headers,
            body: Bytes::new(),
        }
    }

    /// Adds `;tag=` to the To header if it has none.
    pub fn set_to_tag(&mut self, tag: &str) {
        if let Some(to) = self.headers.get(Name::To) {
            if let Ok(addr) = NameAddr::parse(to) {
                if addr.tag().is_none() {
                    let mut v = BytesMut::from(to.as_ref());
                    v.put_slice(b";tag=");
                    v.put_slice(tag.as_bytes());
                    self.headers.set(Name::To, v.freeze());
                }
            }
        }
    }

    /// Serializes the response; Content-Length always states the body's length.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(512 + self.body.len());
        buf.put_slice(b"SIP/2.0 ");
        buf.put_slice(self.status.to_string().as_bytes());
        buf.put_u8(b' ');
        buf.put_slice(self.reason.as_bytes());
        buf.put_slice(b"\r\n");
        encode_headers_and_body(&mut buf, &self.headers, &self.body);
        buf.freeze()
    }
}

fn encode_headers_and_body(buf: &mut BytesMut, headers: &Headers, body: &Bytes) {
    for h in headers
        .0
        .iter()
        .filter(|h| !Name::ContentLength.matches(&h.name))
    {
        buf.put_slice(&h.name);
        buf.put_slice(b": ");
        buf.put_slice(&h.value);
        buf.put_slice(b"\r\n");
    }
    buf.put_slice(b"Content-Length: ");
    buf.put_slice(body.len().to_string().as_bytes());
    buf.put_slice(b"\r\n\r\n");
    buf.put_slice(body);
}

/// The standard reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ => "Unknown",
    }
}
