//! Incremental framing of a stream transport (TCP, TLS): finds where each
//! message ends without parsing the buffer again on every read. A head is
//! parsed once, when the blank line that ends it has arrived; a body is
//! waited for by length alone.

use crate::parser::{parse_stream, Limits, ParseError, StreamItem};
use bytes::Bytes;

/// The framing state of one connection's receive buffer. The buffer's
/// front must stay where the framer last saw it until it yields a message
/// or a keep-alive (then the caller drops those bytes and the framer
/// starts over).
#[derive(Debug, Default)]
pub struct Framer {
    /// Bytes from the front already searched for the end of the head.
    scanned: usize,
    /// Bytes the message at the front needs in all, once its head is read.
    total: Option<usize>,
}

/// Where the blank line ending a head (`\n\n` or `\n\r\n`) ends, searching
/// from `from`.
fn head_end(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(rel) = memchr::memchr(b'\n', &data[at..]) {
        let nl = at + rel;
        match data.get(nl + 1..) {
            Some([b'\n', ..]) => return Some(nl + 2),
            Some([b'\r', b'\n', ..]) => return Some(nl + 3),
            _ => at = nl + 1,
        }
    }
    None
}

impl Framer {
    /// Whether the front of `data` may now hold a whole message or a
    /// keep-alive, so that [`Framer::take`] is worth calling. Looks only at
    /// bytes it has not searched before. A head that has not ended within
    /// the size limit is an error (513).
    pub fn is_ready(&mut self, data: &[u8], limits: &Limits) -> Result<bool, ParseError> {
        if data.is_empty() {
            return Ok(false);
        }
        if let Some(total) = self.total {
            return Ok(data.len() >= total);
        }
        if data[0] == b'\r' || data[0] == b'\n' {
            return Ok(true);
        }
        // Back up two bytes: a terminator may straddle the old end.
        if head_end(data, self.scanned.saturating_sub(2)).is_some() {
            return Ok(true);
        }
        self.scanned = data.len();
        if data.len() > limits.max_message {
            return Err(ParseError::new(513, "Message Too Large"));
        }
        Ok(false)
    }

    /// Parses the front of `data` (after [`Framer::is_ready`] said so).
    pub fn take(&mut self, data: &Bytes, limits: &Limits) -> Result<StreamItem, ParseError> {
        let item = parse_stream(data, limits)?;
        match item {
            StreamItem::Partial { total } => self.total = Some(total),
            StreamItem::Incomplete => {}
            StreamItem::KeepAlive(_) | StreamItem::Message(..) => *self = Framer::default(),
        }
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn byte_by_byte_gives_one_message_and_never_reparses_the_head() {
        let l = Limits::default();
        let mut f = Framer::default();
        let head = MSG.len() - 4;
        let mut parses = 0;
        for n in 1..MSG.len() {
            let data = Bytes::copy_from_slice(&MSG[..n]);
            if f.is_ready(&data, &l).unwrap() {
                parses += 1;
                match f.take(&data, &l).unwrap() {
                    StreamItem::Partial { total } => assert_eq!(total, MSG.len()),
                    other => panic!("{n}: {other:?}"),
                }
            }
            assert!(!f.is_ready(&data, &l).unwrap(), "{n}: nothing whole yet");
            assert_eq!(f.total.is_some(), n >= head);
        }
        assert_eq!(parses, 1, "the head is parsed once");
        assert!(f.is_ready(MSG, &l).unwrap());
        match f.take(&Bytes::from_static(MSG), &l).unwrap() {
            StreamItem::Message(_, used) => assert_eq!(used, MSG.len()),
            other => panic!("{other:?}"),
        }
        assert!(f.scanned == 0 && f.total.is_none(), "reset after a message");
    }

    #[test]
    fn a_head_that_never_ends_is_too_large() {
        let l = Limits {
            max_message: 100,
            ..Limits::default()
        };
        let mut f = Framer::default();
        assert!(!f.is_ready(&[b'a'; 100], &l).unwrap());
        assert_eq!(f.is_ready(&[b'a'; 101], &l).unwrap_err().status, 513);
    }

    #[test]
    fn keep_alives_pass_through() {
        let mut f = Framer::default();
        assert!(f.is_ready(b"\r\n\r\n", &Limits::default()).unwrap());
        let item = f.take(&Bytes::from_static(b"\r\n\r\n"), &Limits::default());
        assert!(matches!(item, Ok(StreamItem::KeepAlive(4))));
        assert!(head_end(b"a\n\nb", 0) == Some(3));
    }
}
