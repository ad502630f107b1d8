//! SDES key exchange (RFC 4568): the `a=crypto` attribute that carries an
//! SRTP master key inside SDP. Only what [`crate::srtp`] can use is
//! accepted: its two suites, one `inline:` key without MKI, any lifetime.

use crate::srtp::{MasterKey, Suite, MASTER_KEY_LEN, MASTER_SALT_LEN};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use std::fmt;

/// One `a=crypto` line: a tag, a suite and the sender's master key.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    /// Identifies the line in offer and answer (1–999999999).
    pub tag: u32,
    /// The suite.
    pub suite: Suite,
    /// The master key that the SDP's owner encrypts with.
    pub key: MasterKey,
}

impl fmt::Debug for Crypto {
    /// Leaves the key out: SDP with keys is never logged whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Crypto({} {})", self.tag, self.suite.name())
    }
}

/// Why an `a=crypto` value is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// Not `tag suite key-params`.
    Malformed,
    /// A suite [`crate::srtp`] does not implement.
    UnknownSuite,
    /// Not an `inline:` key of 30 bytes, or one with an MKI.
    UnusableKey,
}

/// Parses the value of an `a=crypto:` attribute (after the colon).
pub fn parse(value: &str) -> Result<Crypto, CryptoError> {
    let mut parts = value.split_whitespace();
    let tag = parts
        .next()
        .and_then(|t| t.parse().ok())
        .ok_or(CryptoError::Malformed)?;
    let suite = parts.next().ok_or(CryptoError::Malformed)?;
    let suite = Suite::from_name(suite).ok_or(CryptoError::UnknownSuite)?;
    let params = parts.next().ok_or(CryptoError::Malformed)?;
    // Several keys (`;`-separated) only with MKIs, which are not supported.
    if params.contains(';') {
        return Err(CryptoError::UnusableKey);
    }
    let inline = params
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("inline:"))
        .map(|_| &params[7..])
        .ok_or(CryptoError::UnusableKey)?;
    let mut fields = inline.split('|');
    let encoded = fields.next().unwrap_or("");
    let lifetime_or_mki: Vec<&str> = fields.collect();
    if lifetime_or_mki.iter().any(|f| f.contains(':')) || lifetime_or_mki.len() > 1 {
        return Err(CryptoError::UnusableKey);
    }
    let material = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| CryptoError::UnusableKey)?;
    let material: [u8; MASTER_KEY_LEN + MASTER_SALT_LEN] =
        material.try_into().map_err(|_| CryptoError::UnusableKey)?;
    Ok(Crypto {
        tag,
        suite,
        key: MasterKey::from_bytes(&material),
    })
}

impl Crypto {
    /// The attribute value (`tag suite inline:KEY`), as written in SDP.
    pub fn value(&self) -> String {
        format!(
            "{} {} inline:{}",
            self.tag,
            self.suite.name(),
            STANDARD.encode(self.key.to_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "1 AES_CM_128_HMAC_SHA1_80 inline:WnD7c1ksDGs+dIefCEo8omPg4uO8DYIinNGL5yxQ";

    #[test]
    fn parses_and_writes_back() {
        let c = parse(LINE).unwrap();
        assert_eq!((c.tag, c.suite), (1, Suite::AesCm128HmacSha1_80));
        assert_eq!(c.value(), LINE);
        assert_eq!(parse(&c.value()).unwrap(), c);
        let lifetime = parse(&format!("{LINE}|2^31")).unwrap();
        assert_eq!(lifetime.key, c.key);
        assert!(!format!("{c:?}").contains("WnD7"), "no key in Debug");
    }

    #[test]
    fn refuses_what_srtp_cannot_use() {
        assert_eq!(
            parse("x AES_CM_128_HMAC_SHA1_80 inline:a"),
            Err(CryptoError::Malformed)
        );
        assert_eq!(
            parse("1 AEAD_AES_256_GCM inline:WnD7c1ksDGs+dIefCEo8omPg4uO8DYIinNGL5yxQ"),
            Err(CryptoError::UnknownSuite)
        );
        assert_eq!(
            parse(&format!("{LINE}|2^20|1:4")),
            Err(CryptoError::UnusableKey)
        );
        assert_eq!(
            parse("1 AES_CM_128_HMAC_SHA1_32 inline:c2hvcnQ="),
            Err(CryptoError::UnusableKey)
        );
        assert_eq!(
            parse("1 AES_CM_128_HMAC_SHA1_32"),
            Err(CryptoError::Malformed)
        );
    }
}
