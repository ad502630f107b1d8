//! The SIP message parser: framing (datagram and stream), start lines, header
//! lines with folding, and Content-Length. Header values are slices of the
//! input `Bytes` (no copy) unless a value was folded over several lines.

use crate::grammar;
use crate::header::{Header, Headers, Name};
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::uri::Uri;
use bytes::{Bytes, BytesMut};

/// Limits the parser enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest message (head and body) accepted.
    pub max_message: usize,
    /// Most header lines accepted.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message: 65_535,
            max_headers: 256,
        }
    }
}

/// A message that could not be parsed, with what is needed to answer it.
#[derive(Clone, Debug)]
pub struct ParseError {
    /// Status to answer a request with (400, 505, 513).
    pub status: u16,
    /// A short reason, used as the reason phrase and in logs.
    pub reason: &'static str,
    /// True if the start line looked like a request (so it may be answered).
    pub is_request: bool,
    /// The headers, if they could be read (to build a stateless answer).
    pub headers: Option<Headers>,
}

impl ParseError {
    pub(crate) fn new(status: u16, reason: &'static str) -> ParseError {
        ParseError {
            status,
            reason,
            is_request: false,
            headers: None,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// What a stream (TCP) buffer holds at its front.
#[derive(Debug)]
pub enum StreamItem {
    /// Not a whole message head yet: read more.
    Incomplete,
    /// The head is complete but the message needs `total` bytes from the
    /// front of the buffer: read more (no need to parse again before).
    Partial {
        /// Bytes the whole message takes.
        total: usize,
    },
    /// A CRLF keep-alive of this many bytes (RFC 5626 §3.5.1): skip it.
    KeepAlive(usize),
    /// A message and the bytes it used.
    Message(Box<Message>, usize),
}

/// Parses one UDP datagram. `Ok(None)` for a keep-alive (only CRLFs).
/// Octets after the Content-Length body are discarded (RFC 3261 §18.3).
pub fn parse_datagram(data: &Bytes, limits: &Limits) -> Result<Option<Message>, ParseError> {
    if data.len() > limits.max_message {
        // Read the head anyway (without the size limit) so that a request
        // gets its 513 (RFC 3261 §18.1.1) where it has a usable Via.
        let unlimited = Limits {
            max_message: usize::MAX,
            ..*limits
        };
        let headers = parse_head(data, skip_crlf(data), &unlimited, true)
            .ok()
            .flatten()
            .filter(|h| h.is_request)
            .map(|h| h.headers);
        return Err(ParseError {
            status: 513,
            reason: "Message Too Large",
            is_request: headers.is_some(),
            headers,
        });
    }
    let start = skip_crlf(data);
    if start == data.len() {
        return Ok(None);
    }
    let head = parse_head(data, start, limits, true)?
        .ok_or(ParseError::new(400, "Incomplete message head"))?;
    let available = data.len() - head.end;
    let body_len = match head.content_length {
        Some(n) if n > available => return Err(head.error(400, "Body shorter than Content-Length")),
        Some(n) => n,
        None => available,
    };
    let body = data.slice(head.end..head.end + body_len);
    head.finish(body).map(Some)
}

/// Parses the front of a stream buffer (TCP). Content-Length is required.
pub fn parse_stream(data: &Bytes, limits: &Limits) -> Result<StreamItem, ParseError> {
    let start = skip_crlf(data);
    if start == data.len() {
        return Ok(if start >= 2 {
            StreamItem::KeepAlive(start)
        } else {
            StreamItem::Incomplete
        });
    }
    if start > 0 {
        return Ok(StreamItem::KeepAlive(start));
    }
    let Some(head) = parse_head(data, 0, limits, false)? else {
        if data.len() > limits.max_message {
            return Err(ParseError::new(513, "Message Too Large"));
        }
        return Ok(StreamItem::Incomplete);
    };
    let body_len = head
        .content_length
        .ok_or_else(|| head.error(400, "Content-Length required on stream transports"))?;
    if head.end + body_len > limits.max_message {
        return Err(head.error(513, "Message Too Large"));
    }
    if data.len() < head.end + body_len {
        return Ok(StreamItem::Partial {
            total: head.end + body_len,
        });
    }
    let used = head.end + body_len;
    let body = data.slice(head.end..used);
    head.finish(body)
        .map(|m| StreamItem::Message(Box::new(m), used))
}

fn skip_crlf(data: &[u8]) -> usize {
    data.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(data.len())
}

enum StartLine {
    Request(Method, Uri),
    Response(u16, String),
}

struct Head {
    start: Result<StartLine, (u16, &'static str)>,
    is_request: bool,
    headers: Headers,
    content_length: Option<usize>,
    end: usize,
}

impl Head {
    fn error(&self, status: u16, reason: &'static str) -> ParseError {
        ParseError {
            status,
            reason,
            is_request: self.is_request,
            headers: Some(self.headers.clone()),
        }
    }

    fn finish(self, body: Bytes) -> Result<Message, ParseError> {
        let start = match self.start {
            Ok(s) => s,
            Err((status, reason)) => {
                return Err(ParseError {
                    status,
                    reason,
                    is_request: self.is_request,
                    headers: Some(self.headers),
                })
            }
        };
        Ok(match start {
            StartLine::Request(method, uri) => Message::Request(Request {
                method,
                uri,
                headers: self.headers,
                body,
            }),
            StartLine::Response(status, reason) => Message::Response(Response {
                status,
                reason,
                headers: self.headers,
                body,
            }),
        })
    }
}

/// Parses start line and headers from `start`. `Ok(None)` if the blank line
/// that ends the head has not arrived yet.
fn parse_head(
    data: &Bytes,
    start: usize,
    limits: &Limits,
    datagram: bool,
) -> Result<Option<Head>, ParseError> {
    let mut lines = LineReader {
        data,
        pos: start,
        datagram,
        ended: false,
    };
    let Some(first) = lines.next_line() else {
        return Ok(None);
    };
    let first = &data[first.0..first.1];
    let is_request = !first.starts_with(b"SIP/") && !first.starts_with(b"sip/");
    let start_line = if is_request {
        parse_request_line(first)
    } else {
        parse_status_line(first)
    };
    if !is_request && start_line.is_err() {
        // A response we cannot read is dropped whole; nothing to answer.
        let (status, reason) = start_line.err().unwrap_or((400, "bad status line"));
        return Err(ParseError::new(status, reason));
    }
    let mut raw: Vec<RawHeader> = Vec::new();
    loop {
        let Some((a, b)) = lines.next_line() else {
            return Ok(None);
        };
        if a == b {
            break;
        }
        let line = &data[a..b];
        if grammar::is_ws(line[0]) {
            let last = raw
                .last_mut()
                .ok_or(ParseError::new(400, "Folded line without a header"))?;
            last.2.push((a, b));
            continue;
        }
        if raw.len() >= limits.max_headers {
            // Answerable when the headers a response copies came first.
            let headers = raw
                .iter()
                .filter_map(|(a, b, folds)| parse_header_line(data, *a, *b, folds).ok())
                .collect();
            return Err(ParseError {
                status: 400,
                reason: "Too many headers",
                is_request,
                headers: is_request.then_some(Headers(headers)),
            });
        }
        raw.push((a, b, Vec::new()));
    }
    let end = lines.pos;
    let mut headers = Headers(Vec::with_capacity(raw.len()));
    for (a, b, folds) in raw {
        let header = parse_header_line(data, a, b, &folds).map_err(|reason| ParseError {
            status: 400,
            reason,
            is_request,
            headers: None,
        })?;
        headers.0.push(header);
    }
    let content_length = content_length(&headers).map_err(|reason| ParseError {
        status: 400,
        reason,
        is_request,
        headers: Some(headers.clone()),
    })?;
    Ok(Some(Head {
        start: start_line,
        is_request,
        headers,
        content_length,
        end,
    }))
}

/// A header line's byte range and the ranges of its folded continuation lines.
type RawHeader = (usize, usize, Vec<(usize, usize)>);

struct LineReader<'a> {
    data: &'a Bytes,
    pos: usize,
    /// A datagram ends where it ends: its last line needs no CRLF and a
    /// missing blank line is implied (RFC 4475 baddn.dat has none).
    datagram: bool,
    ended: bool,
}

impl LineReader<'_> {
    /// Next line as a byte range without its CRLF (or bare LF).
    fn next_line(&mut self) -> Option<(usize, usize)> {
        let Some(rel) = memchr::memchr(b'\n', &self.data[self.pos..]) else {
            if !self.datagram || self.ended {
                return None;
            }
            let start = self.pos;
            let end = self.data.len();
            self.pos = end;
            self.ended = start == end;
            return Some((start, end));
        };
        let start = self.pos;
        let mut end = start + rel;
        self.pos = end + 1;
        if end > start && self.data[end - 1] == b'\r' {
            end -= 1;
        }
        Some((start, end))
    }
}

fn parse_header_line(
    data: &Bytes,
    a: usize,
    b: usize,
    folds: &[(usize, usize)],
) -> Result<Header, &'static str> {
    let line = &data[a..b];
    let colon = memchr::memchr(b':', line).ok_or("Header line without a colon")?;
    let name = grammar::trim(&line[..colon]);
    if !grammar::is_token(name) {
        return Err("Malformed header name");
    }
    let name_start = a + (name.as_ptr() as usize - line.as_ptr() as usize);
    let name = data.slice(name_start..name_start + name.len());
    let value_raw = &line[colon + 1..];
    let value = if folds.is_empty() {
        let v = grammar::trim(value_raw);
        if v.is_empty() {
            Bytes::new()
        } else {
            let off = a + colon + 1 + (v.as_ptr() as usize - value_raw.as_ptr() as usize);
            data.slice(off..off + v.len())
        }
    } else {
        let mut v = BytesMut::from(grammar::trim(value_raw));
        for &(fa, fb) in folds {
            let part = grammar::trim(&data[fa..fb]);
            if !part.is_empty() {
                if !v.is_empty() {
                    v.extend_from_slice(b" ");
                }
                v.extend_from_slice(part);
            }
        }
        v.freeze()
    };
    Ok(Header { name, value })
}

fn content_length(headers: &Headers) -> Result<Option<usize>, &'static str> {
    let mut values = headers.get_all(Name::ContentLength);
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("Multiple Content-Length headers");
    }
    if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
        return Err("Bad Content-Length");
    }
    Ok(Some(
        v.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0')),
    ))
}

fn parse_request_line(line: &[u8]) -> Result<StartLine, (u16, &'static str)> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let uri = parts.next().ok_or((400, "Malformed request line"))?;
    let version = parts.next().ok_or((400, "Malformed request line"))?;
    let method = Method::parse(method).ok_or((400, "Malformed method"))?;
    check_version(version)?;
    let uri = Uri::parse(uri).map_err(|_| (400, "Malformed Request-URI"))?;
    Ok(StartLine::Request(method, uri))
}

fn check_version(v: &[u8]) -> Result<(), (u16, &'static str)> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    let looks_like_version = v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].iter().all(|&b| b.is_ascii_digit() || b == b'.');
    if looks_like_version {
        Err((505, "Version Not Supported"))
    } else {
        Err((400, "Malformed SIP version"))
    }
}

fn parse_status_line(line: &[u8]) -> Result<StartLine, (u16, &'static str)> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    check_version(parts.next().unwrap_or_default())?;
    let code = parts.next().ok_or((400, "Malformed status line"))?;
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' || code[0] > b'6'
    {
        return Err((400, "Malformed status code"));
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let reason = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    Ok(StartLine::Response(status, reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SipHeaders;

    fn dg(s: &str) -> Result<Option<Message>, ParseError> {
        parse_datagram(&Bytes::copy_from_slice(s.as_bytes()), &Limits::default())
    }

    const REG: &str = "REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nv: SIP/2.0/UDP 10.0.0.1\r\nf: <sip:333@acme.example>;tag=1\r\nt: <sip:333@acme.example>\r\ni: abc\r\nCSeq: 1 REGISTER\r\nSubject: a\r\n  folded\r\n\tmore\r\nl: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn parses_request_with_compact_and_folded_headers() {
        let Some(Message::Request(r)) = dg(REG).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(r.method, Method::Register);
        assert_eq!(r.vias().unwrap().len(), 2);
        assert_eq!(
            r.headers.get(Name::Subject).unwrap().as_ref(),
            b"a folded more"
        );
        assert_eq!(r.body.as_ref(), b"body");
        assert_eq!(r.call_id(), Some(&b"abc"[..]));
    }

    #[test]
    fn framing_errors() {
        assert_eq!(
            dg("OPTIONS sip:a@b SIP/2.0\r\nl: 10\r\n\r\nab")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            dg("OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            dg("OPTIONS sip:a@b SIP/7.0\r\nl: 0\r\n\r\n")
                .unwrap_err()
                .status,
            505
        );
        assert_eq!(
            dg("OPTIONS  sip:a@b SIP/2.0\r\n\r\n").unwrap_err().status,
            400
        );
        assert_eq!(
            dg("OPTIONS sip:a@b SIP/2.0 \r\n\r\n").unwrap_err().status,
            400
        );
        assert!(dg("\r\n\r\n").unwrap().is_none());
        let Some(Message::Request(r)) =
            dg("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nl: 0").unwrap()
        else {
            panic!()
        };
        assert_eq!(r.headers.0.len(), 2, "a datagram's end ends its head");
    }

    #[test]
    fn responses() {
        let Some(Message::Response(r)) = dg("SIP/2.0 100 \r\nl: 0\r\n\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(r.status, 100);
        assert!(dg("SIP/2.0 4294967301 Big\r\n\r\n").is_err());
    }

    #[test]
    fn stream_framing() {
        let msg = "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhi";
        let mut data = b"\r\n\r\n".to_vec();
        data.extend_from_slice(msg.as_bytes());
        let data = Bytes::from(data);
        let l = Limits::default();
        assert!(matches!(
            parse_stream(&data, &l).unwrap(),
            StreamItem::KeepAlive(4)
        ));
        let rest = data.slice(4..);
        assert!(matches!(
            parse_stream(&rest.slice(..rest.len() - 1), &l).unwrap(),
            StreamItem::Partial { total } if total == rest.len()
        ));
        match parse_stream(&rest, &l).unwrap() {
            StreamItem::Message(_, used) => assert_eq!(used, rest.len()),
            other => panic!("{other:?}"),
        }
        let nocl = Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n");
        assert!(parse_stream(&nocl, &l).is_err());
    }

    #[test]
    fn reencoding_is_stable() {
        let Some(m) = dg(REG).unwrap() else { panic!() };
        let once = m.encode();
        let again = parse_datagram(&once, &Limits::default()).unwrap().unwrap();
        assert_eq!(again.encode(), once);
    }

    #[test]
    fn oversized_and_overlong_requests_keep_the_headers_to_answer_them() {
        let mut big = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 2000\r\n\r\n".to_vec();
        big.extend([b'x'; 2000]);
        let l = Limits {
            max_message: 1500,
            ..Limits::default()
        };
        let e = parse_datagram(&Bytes::from(big), &l).unwrap_err();
        assert_eq!(e.status, 513);
        assert!(e.headers.is_some_and(|h| h.get(Name::Via).is_some()));

        let mut many = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n".to_vec();
        for i in 0..300 {
            many.extend(format!("X-H{i}: v\r\n").bytes());
        }
        many.extend(b"\r\n");
        let e = parse_datagram(&Bytes::from(many), &Limits::default()).unwrap_err();
        assert_eq!((e.status, e.reason), (400, "Too many headers"));
        assert!(e.headers.is_some_and(|h| h.get(Name::CSeq).is_some()));
    }
}
