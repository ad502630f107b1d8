//! RTCP (RFC 3550 §6) as the switch relays it: a compound packet from one
//! party goes to the other with its SSRCs rewritten in place, so that it
//! speaks of the streams that party sees — the switch's SSRC for the
//! sender, and the receiver's own SSRC for the stream reported on. No
//! allocation; malformed packets are left as they are from the first bad
//! header on.

/// SR: sender report.
const SR: u8 = 200;
/// RR: receiver report.
const RR: u8 = 201;
/// SDES: source description.
const SDES: u8 = 202;
/// BYE.
const BYE: u8 = 203;
/// APP.
const APP: u8 = 204;
/// RTPFB and PSFB feedback (RFC 4585): sender SSRC, then media SSRC.
const RTPFB: u8 = 205;
const PSFB: u8 = 206;

/// Bytes of an SR's sender info (NTP, RTP timestamp, counts).
const SENDER_INFO: usize = 20;
/// Bytes of one report block.
const REPORT_BLOCK: usize = 24;

/// Rewrites the SSRCs of the compound RTCP packet `buf`: every SSRC naming
/// the sender (of SR, RR, SDES chunks, BYE, APP and feedback) becomes
/// `sender`; every SSRC naming the stream reported on (report blocks,
/// feedback's media source) becomes `reported`, when it is known.
pub fn rewrite_ssrcs(buf: &mut [u8], sender: u32, reported: Option<u32>) {
    let mut at = 0;
    while at + 4 <= buf.len() {
        let (first, pt) = (buf[at], buf[at + 1]);
        if first >> 6 != 2 {
            return;
        }
        let count = usize::from(first & 0x1f);
        let words = usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]]));
        let end = at + 4 * (words + 1);
        if end > buf.len() {
            return;
        }
        let body = &mut buf[at + 4..end];
        match pt {
            SR => reports(body, sender, reported, count, SENDER_INFO),
            RR => reports(body, sender, reported, count, 0),
            SDES => chunks(body, sender, count),
            BYE => {
                for i in 0..count {
                    put(body, 4 * i, sender);
                }
            }
            APP => {
                put(body, 0, sender);
            }
            RTPFB | PSFB => {
                put(body, 0, sender);
                if let Some(r) = reported {
                    put(body, 4, r);
                }
            }
            _ => {}
        }
        at = end;
    }
}

/// SR/RR: the sender's SSRC, `skip` bytes of sender info, then `count`
/// report blocks each starting with the SSRC reported on.
fn reports(body: &mut [u8], sender: u32, reported: Option<u32>, count: usize, skip: usize) {
    put(body, 0, sender);
    let Some(r) = reported else {
        return;
    };
    for i in 0..count {
        put(body, 4 + skip + REPORT_BLOCK * i, r);
    }
}

/// SDES: `count` chunks, each an SSRC and items up to a null item, padded
/// to a 32-bit boundary.
fn chunks(body: &mut [u8], sender: u32, count: usize) {
    let mut at = 0;
    for _ in 0..count {
        if !put(body, at, sender) {
            return;
        }
        at += 4;
        // Items: type, length, text; a zero type ends the chunk.
        while at < body.len() && body[at] != 0 {
            let Some(&len) = body.get(at + 1) else {
                return;
            };
            at += 2 + usize::from(len);
        }
        at = (at + 4) & !3;
    }
}

/// Writes `ssrc` at `at` if it fits; whether it did.
fn put(body: &mut [u8], at: usize, ssrc: u32) -> bool {
    match body.get_mut(at..at + 4) {
        Some(slot) => {
            slot.copy_from_slice(&ssrc.to_be_bytes());
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssrc_at(buf: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(buf[at..at + 4].try_into().unwrap())
    }

    /// SR with one report block, then SDES with one CNAME chunk.
    fn compound() -> Vec<u8> {
        let mut p = vec![0x81, SR, 0, 12];
        p.extend_from_slice(&0x1111_1111u32.to_be_bytes());
        p.extend_from_slice(&[0; SENDER_INFO]);
        p.extend_from_slice(&0x2222_2222u32.to_be_bytes());
        p.extend_from_slice(&[0; REPORT_BLOCK - 4]);
        // SDES: SSRC, CNAME "ab" (type 1, len 2), then the end item and
        // padding to 32 bits: 16 bytes in all.
        p.extend_from_slice(&[0x81, SDES, 0, 3]);
        p.extend_from_slice(&0x1111_1111u32.to_be_bytes());
        p.extend_from_slice(&[1, 2, b'a', b'b']);
        p.extend_from_slice(&[0, 0, 0, 0]);
        p
    }

    #[test]
    fn sender_and_reported_ssrcs_are_the_switchs_view() {
        let mut p = compound();
        let (sr_len, sdes_at) = (4 * 13, 4 * 13);
        assert_eq!(p.len(), sr_len + 16);
        rewrite_ssrcs(&mut p, 0xAAAA_AAAA, Some(0xBBBB_BBBB));
        assert_eq!(ssrc_at(&p, 4), 0xAAAA_AAAA, "SR sender");
        assert_eq!(ssrc_at(&p, 8 + SENDER_INFO), 0xBBBB_BBBB, "report block");
        assert_eq!(ssrc_at(&p, sdes_at + 4), 0xAAAA_AAAA, "SDES chunk");
        assert_eq!(&p[sdes_at + 8..sdes_at + 12], &[1, 2, b'a', b'b']);
    }

    #[test]
    fn an_unknown_receiver_leaves_report_blocks_and_garbage_is_left_alone() {
        let mut p = compound();
        rewrite_ssrcs(&mut p, 7, None);
        assert_eq!(ssrc_at(&p, 8 + SENDER_INFO), 0x2222_2222);
        let mut bad = vec![0x81, RR, 0, 9, 1, 2, 3, 4];
        let copy = bad.clone();
        rewrite_ssrcs(&mut bad, 7, Some(8));
        assert_eq!(bad, copy, "a length past the end: untouched");
        let mut short = vec![0x81];
        rewrite_ssrcs(&mut short, 7, None);
    }

    proptest::proptest! {
        /// Whatever arrives on an RTCP port, the rewrite stays inside the
        /// buffer, keeps its length and never panics.
        #[test]
        fn any_bytes_are_safe(mut data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let before = data.len();
            rewrite_ssrcs(&mut data, 1, Some(2));
            proptest::prop_assert_eq!(data.len(), before);
        }
    }
}
