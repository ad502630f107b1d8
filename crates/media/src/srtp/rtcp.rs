//! SRTCP packets (RFC 3711 §3.4): everything after the first 8 bytes
//! encrypted, then E‖SRTCP index (32 bits) and an 80-bit tag over all.

use super::session_keys::{packet_iv, SessionKeys};
use super::SrtpError;
use hmac::Mac;

/// Bytes of the SRTCP tag (80 bits for both suites, RFC 4568 §6.2).
pub const SRTCP_TAG_LEN: usize = 10;

/// The E flag: the packet is encrypted.
const ENCRYPTED: u32 = 0x8000_0000;

/// Bytes left in clear: the first header and the sender's SSRC.
const CLEAR_LEN: usize = 8;

/// The index state of one SRTCP direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamState {
    /// Next index to send (31 bits).
    next_send: u32,
    /// Highest index received and the replay window below it.
    received: Option<(u32, u64)>,
}

/// See [`super::Context::protect_rtcp`].
pub fn protect(
    keys: &SessionKeys,
    state: &mut StreamState,
    buf: &mut [u8],
    len: usize,
) -> Result<usize, SrtpError> {
    if len < CLEAR_LEN || buf.len() < len {
        return Err(SrtpError::TooShort);
    }
    if buf.len() < len + 4 + SRTCP_TAG_LEN {
        return Err(SrtpError::NoRoom);
    }
    let index = state.next_send;
    state.next_send = (index + 1) & !ENCRYPTED;
    let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let iv = packet_iv(&keys.salt, ssrc, u64::from(index));
    keys.cipher.apply(&iv, &mut buf[CLEAR_LEN..len]);
    buf[len..len + 4].copy_from_slice(&(index | ENCRYPTED).to_be_bytes());
    let mut mac = keys.mac.clone();
    mac.update(&buf[..len + 4]);
    let tag = mac.finalize().into_bytes();
    buf[len + 4..len + 4 + SRTCP_TAG_LEN].copy_from_slice(&tag[..SRTCP_TAG_LEN]);
    Ok(len + 4 + SRTCP_TAG_LEN)
}

/// See [`super::Context::unprotect_rtcp`].
pub fn unprotect(
    keys: &SessionKeys,
    state: &mut StreamState,
    buf: &mut [u8],
    len: usize,
) -> Result<usize, SrtpError> {
    let authenticated = len
        .checked_sub(SRTCP_TAG_LEN)
        .filter(|&n| n >= CLEAR_LEN + 4 && buf.len() >= len)
        .ok_or(SrtpError::TooShort)?;
    let body_len = authenticated - 4;
    let word = u32::from_be_bytes([
        buf[body_len],
        buf[body_len + 1],
        buf[body_len + 2],
        buf[body_len + 3],
    ]);
    let index = word & !ENCRYPTED;
    if let Some((highest, window)) = state.received {
        let behind = highest.wrapping_sub(index) & !ENCRYPTED;
        let is_older = index <= highest;
        if is_older && (u64::from(behind) >= super::REPLAY_WINDOW || window & (1 << behind) != 0) {
            return Err(SrtpError::Replayed);
        }
    }
    let mut mac = keys.mac.clone();
    mac.update(&buf[..authenticated]);
    mac.verify_truncated_left(&buf[authenticated..len])
        .map_err(|_| SrtpError::BadTag)?;
    state.received = Some(match state.received {
        None => (index, 1),
        Some((highest, window)) if index > highest => {
            let shift = index - highest;
            let moved = if u64::from(shift) >= super::REPLAY_WINDOW {
                0
            } else {
                window << shift
            };
            (index, moved | 1)
        }
        Some((highest, window)) => (highest, window | 1 << (highest - index)),
    });
    if word & ENCRYPTED != 0 {
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let iv = packet_iv(&keys.salt, ssrc, u64::from(index));
        keys.cipher.apply(&iv, &mut buf[CLEAR_LEN..body_len]);
    }
    Ok(body_len)
}
