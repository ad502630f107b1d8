//! SRTP and SRTCP (RFC 3711) with the AES-CM-128 + HMAC-SHA1 suites that
//! SDES (RFC 4568) negotiates, sans-IO: packets are protected and
//! unprotected in place in the caller's buffer, without allocation.
//!
//! One [`Context`] protects one direction of one leg: the switch holds two
//! per SRTP leg, one keyed by the party's SDP (what it sends us) and one by
//! ours (what we send it). The key derivation rate is 0 (keys derived once),
//! the only rate SDES phones use in practice; an MKI is not supported (an
//! `a=crypto` line with one is not accepted).

mod keystream;
mod rtcp;
mod rtp;
mod session_keys;

pub use rtcp::SRTCP_TAG_LEN;
pub use rtp::REPLAY_WINDOW;

use session_keys::SessionKeys;

/// An SRTP crypto suite (RFC 4568 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-128 counter mode, HMAC-SHA1 tag of 80 bits.
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 tag of 32 bits on SRTP (80 on SRTCP).
    AesCm128HmacSha1_32,
}

impl Suite {
    /// The suite's name in an `a=crypto` line.
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite an `a=crypto` line names (case-insensitive), if supported.
    pub fn from_name(name: &str) -> Option<Suite> {
        [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32]
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// Bytes of the authentication tag appended to each SRTP packet.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }
}

/// Bytes of a master key.
pub const MASTER_KEY_LEN: usize = 16;
/// Bytes of a master salt.
pub const MASTER_SALT_LEN: usize = 14;

/// A master key and salt, as SDES carries them (`inline:` key‖salt, base64).
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    /// The master key.
    pub key: [u8; MASTER_KEY_LEN],
    /// The master salt.
    pub salt: [u8; MASTER_SALT_LEN],
}

impl std::fmt::Debug for MasterKey {
    /// Never prints the key: keys do not go to logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A key from 30 bytes of key material (key then salt).
    pub fn from_bytes(material: &[u8; MASTER_KEY_LEN + MASTER_SALT_LEN]) -> MasterKey {
        let mut key = [0u8; MASTER_KEY_LEN];
        let mut salt = [0u8; MASTER_SALT_LEN];
        key.copy_from_slice(&material[..MASTER_KEY_LEN]);
        salt.copy_from_slice(&material[MASTER_KEY_LEN..]);
        MasterKey { key, salt }
    }

    /// Key then salt, as SDES encodes them.
    pub fn to_bytes(&self) -> [u8; MASTER_KEY_LEN + MASTER_SALT_LEN] {
        let mut out = [0u8; MASTER_KEY_LEN + MASTER_SALT_LEN];
        out[..MASTER_KEY_LEN].copy_from_slice(&self.key);
        out[MASTER_KEY_LEN..].copy_from_slice(&self.salt);
        out
    }
}

/// Why a packet was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrtpError {
    /// Shorter than a header and tag.
    TooShort,
    /// The authentication tag does not match (wrong key, or forged).
    BadTag,
    /// Seen before, or older than the replay window.
    Replayed,
    /// No room in the buffer for the tag (protecting).
    NoRoom,
}

/// One direction of one leg: session keys and the replay and rollover
/// state of the stream (RFC 3711 §3.2.3). A new SSRC starts its index
/// tracking over (the party restarted its stream).
pub struct Context {
    suite: Suite,
    rtp_keys: SessionKeys,
    rtcp_keys: SessionKeys,
    rtp: rtp::StreamState,
    rtcp: rtcp::StreamState,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.suite)
            .finish()
    }
}

impl Context {
    /// A context for `suite` keyed with `master`.
    pub fn new(suite: Suite, master: &MasterKey) -> Context {
        Context {
            suite,
            rtp_keys: SessionKeys::derive(master, session_keys::Labels::RTP),
            rtcp_keys: SessionKeys::derive(master, session_keys::Labels::RTCP),
            rtp: rtp::StreamState::default(),
            rtcp: rtcp::StreamState::default(),
        }
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Encrypts the RTP packet `buf[..len]` in place and appends its tag;
    /// returns the new length.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        rtp::protect(&self.rtp_keys, self.suite, &mut self.rtp, buf, len)
    }

    /// Checks and decrypts the SRTP packet `buf[..len]` in place; returns
    /// the length of the RTP packet left.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        rtp::unprotect(&self.rtp_keys, self.suite, &mut self.rtp, buf, len)
    }

    /// Encrypts the RTCP compound packet `buf[..len]` in place and appends
    /// the SRTCP index and tag; returns the new length.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        rtcp::protect(&self.rtcp_keys, &mut self.rtcp, buf, len)
    }

    /// Checks and decrypts the SRTCP packet `buf[..len]` in place; returns
    /// the length of the RTCP packet left.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        rtcp::unprotect(&self.rtcp_keys, &mut self.rtcp, buf, len)
    }
}

#[cfg(test)]
mod tests;
