//! RTP headers (RFC 3550 §5.1): zero-copy parsing and in-place rewriting.

/// Fixed header length.
pub const HEADER_LEN: usize = 12;

/// The parts of an RTP header the relay uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Payload type.
    pub pt: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// Where the payload starts (after CSRCs and extension).
    pub payload_at: usize,
    /// Where the payload ends (before padding).
    pub payload_end: usize,
}

/// Parses an RTP packet; `None` if it is not RTP version 2 or is truncated.
pub fn parse(buf: &[u8]) -> Option<Header> {
    if buf.len() < HEADER_LEN || buf[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(buf[0] & 0x0F);
    let mut at = HEADER_LEN + cc * 4;
    if buf[0] & 0x10 != 0 {
        let ext = buf.get(at..at + 4)?;
        at += 4 + usize::from(u16::from_be_bytes([ext[2], ext[3]])) * 4;
    }
    let mut end = buf.len();
    if buf[0] & 0x20 != 0 {
        let pad = usize::from(*buf.last()?);
        end = end.checked_sub(pad)?;
    }
    if at > end {
        return None;
    }
    Some(Header {
        pt: buf[1] & 0x7F,
        marker: buf[1] & 0x80 != 0,
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload_at: at,
        payload_end: end,
    })
}

/// Whether a packet on an RTP port is RTCP (RFC 5761 §4: PT 64–95 with marker).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && (192..=223).contains(&buf[1])
}

/// Writes a 12-byte header (no CSRC, no extension, no padding).
pub fn write_header(buf: &mut [u8], pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) {
    buf[0] = 0x80;
    buf[1] = (pt & 0x7F) | if marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// Rewrites payload type, marker, sequence, timestamp and SSRC in place.
pub fn rewrite(buf: &mut [u8], pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) {
    buf[1] = (pt & 0x7F) | if marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_rewrite() {
        let mut p = vec![0u8; 12 + 160];
        write_header(&mut p, 0, true, 65535, 0xFFFF_FF00, 0xDEAD_BEEF);
        let h = parse(&p).unwrap();
        assert_eq!(
            (
                h.pt,
                h.marker,
                h.seq,
                h.ts,
                h.ssrc,
                h.payload_at,
                h.payload_end
            ),
            (0, true, 65535, 0xFFFF_FF00, 0xDEAD_BEEF, 12, 172)
        );
        rewrite(&mut p, 8, false, 1, 2, 3);
        let h = parse(&p).unwrap();
        assert_eq!((h.pt, h.marker, h.seq, h.ts, h.ssrc), (8, false, 1, 2, 3));
    }

    #[test]
    fn csrc_extension_padding_and_garbage() {
        let mut p = vec![0u8; 12 + 4 + 8 + 10 + 2];
        write_header(&mut p, 0, false, 1, 1, 1);
        p[0] = 0x80 | 0x20 | 0x10 | 1; // padding, extension, 1 CSRC
        p[16 + 3] = 1; // extension of one word
        *p.last_mut().unwrap() = 2;
        let h = parse(&p).unwrap();
        assert_eq!((h.payload_at, h.payload_end), (24, p.len() - 2));
        assert!(parse(&[0x80; 5]).is_none());
        assert!(parse(&[0x40; 20]).is_none());
        let mut bad = vec![0u8; 14];
        bad[0] = 0xA0;
        bad[13] = 200;
        assert!(parse(&bad).is_none());
    }
}
