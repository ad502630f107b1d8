//! SRTP packets (RFC 3711 §3.1): the payload encrypted, header‖payload‖ROC
//! authenticated, the tag appended.

use super::session_keys::{packet_iv, SessionKeys};
use super::{SrtpError, Suite};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Packets behind the newest that are still accepted once (RFC 3711 §3.3.2).
pub const REPLAY_WINDOW: u64 = 64;

/// The index tracking of one RTP stream (one SSRC at a time).
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamState {
    /// The stream's SSRC and where it is; `None` before its first packet.
    tracked: Option<Tracked>,
}

#[derive(Clone, Copy, Debug)]
struct Tracked {
    ssrc: u32,
    /// Rollover counter: how often the sequence number wrapped.
    roc: u32,
    /// Highest sequence number seen in the current rollover.
    highest_seq: u16,
    /// Bit i: index (highest - i) was seen.
    window: u64,
}

impl Tracked {
    fn start(ssrc: u32, seq: u16) -> Tracked {
        Tracked {
            ssrc,
            roc: 0,
            highest_seq: seq,
            window: 0,
        }
    }

    fn highest(&self) -> u64 {
        (u64::from(self.roc) << 16) | u64::from(self.highest_seq)
    }

    /// The packet index of `seq` (RFC 3711 Appendix A).
    fn estimate(&self, seq: u16) -> u64 {
        let (roc, s_l) = (i64::from(self.roc), i32::from(self.highest_seq));
        let seq_i = i32::from(seq);
        let v = if s_l < 32_768 {
            if seq_i - s_l > 32_768 {
                roc - 1
            } else {
                roc
            }
        } else if s_l - 32_768 > seq_i {
            roc + 1
        } else {
            roc
        };
        // Before the first rollover a "previous" one does not exist.
        (v.max(0) as u64) << 16 | u64::from(seq)
    }

    fn is_replay(&self, index: u64) -> bool {
        let highest = self.highest();
        index <= highest
            && (highest - index >= REPLAY_WINDOW || self.window & (1 << (highest - index)) != 0)
    }

    fn accept(&mut self, index: u64) {
        let highest = self.highest();
        if index > highest {
            let shift = index - highest;
            self.window = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.window << shift
            } | 1;
            self.roc = (index >> 16) as u32;
            self.highest_seq = index as u16;
        } else {
            self.window |= 1 << (highest - index);
        }
    }
}

impl StreamState {
    /// The tracking for `ssrc`, restarted at `seq` if the SSRC is new.
    fn for_ssrc(&self, ssrc: u32, seq: u16) -> Tracked {
        match self.tracked {
            Some(t) if t.ssrc == ssrc => t,
            _ => Tracked::start(ssrc, seq),
        }
    }
}

/// Length of the fixed header, CSRCs and extension (all left in clear).
fn header_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 12 || buf[0] >> 6 != 2 {
        return None;
    }
    let mut at = 12 + usize::from(buf[0] & 0x0F) * 4;
    if buf[0] & 0x10 != 0 {
        let ext = buf.get(at..at + 4)?;
        at += 4 + usize::from(u16::from_be_bytes([ext[2], ext[3]])) * 4;
    }
    (at <= buf.len()).then_some(at)
}

/// Where a packet's payload starts, its SSRC, its stream's tracking and its
/// packet index (RFC 3711 §3.3.1), for `packet` (the part without a tag).
struct Located {
    payload_at: usize,
    ssrc: u32,
    tracked: Tracked,
    index: u64,
}

fn locate(state: &StreamState, packet: &[u8]) -> Result<Located, SrtpError> {
    let payload_at = header_len(packet).ok_or(SrtpError::TooShort)?;
    let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
    let seq = u16::from_be_bytes([packet[2], packet[3]]);
    let tracked = state.for_ssrc(ssrc, seq);
    Ok(Located {
        payload_at,
        ssrc,
        tracked,
        index: tracked.estimate(seq),
    })
}

/// See [`super::Context::protect_rtp`].
pub fn protect(
    keys: &SessionKeys,
    suite: Suite,
    state: &mut StreamState,
    buf: &mut [u8],
    len: usize,
) -> Result<usize, SrtpError> {
    let tag_len = suite.rtp_tag_len();
    let Located {
        payload_at,
        ssrc,
        mut tracked,
        index,
    } = locate(state, buf.get(..len).ok_or(SrtpError::TooShort)?)?;
    if buf.len() < len + tag_len {
        return Err(SrtpError::NoRoom);
    }
    tracked.accept(index);
    state.tracked = Some(tracked);
    let iv = packet_iv(&keys.salt, ssrc, index);
    keys.cipher.apply(&iv, &mut buf[payload_at..len]);
    let tag = mac_of(keys, &buf[..len], index).finalize().into_bytes();
    buf[len..len + tag_len].copy_from_slice(&tag[..tag_len]);
    Ok(len + tag_len)
}

/// See [`super::Context::unprotect_rtp`].
pub fn unprotect(
    keys: &SessionKeys,
    suite: Suite,
    state: &mut StreamState,
    buf: &mut [u8],
    len: usize,
) -> Result<usize, SrtpError> {
    let tag_len = suite.rtp_tag_len();
    let body_len = len.checked_sub(tag_len).ok_or(SrtpError::TooShort)?;
    let Located {
        payload_at,
        ssrc,
        mut tracked,
        index,
    } = locate(state, buf.get(..body_len).ok_or(SrtpError::TooShort)?)?;
    // A new SSRC starts with an empty window: nothing is a replay yet.
    if tracked.is_replay(index) {
        return Err(SrtpError::Replayed);
    }
    mac_of(keys, &buf[..body_len], index)
        .verify_truncated_left(&buf[body_len..len])
        .map_err(|_| SrtpError::BadTag)?;
    tracked.accept(index);
    state.tracked = Some(tracked);
    let iv = packet_iv(&keys.salt, ssrc, index);
    keys.cipher.apply(&iv, &mut buf[payload_at..body_len]);
    Ok(body_len)
}

/// HMAC-SHA1 over the authenticated portion and the ROC of `index`.
fn mac_of(keys: &SessionKeys, portion: &[u8], index: u64) -> Hmac<Sha1> {
    let mut mac = keys.mac.clone();
    mac.update(portion);
    mac.update(&((index >> 16) as u32).to_be_bytes());
    mac
}
