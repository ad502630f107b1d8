//! Requests one node of a cluster sends another on a phone's behalf (a
//! retrieval of a call the other node holds) carry proof that they come
//! from a node: `X-Parkline-Node`, the HMAC-SHA256 of the request's
//! Call-ID under the secret the nodes share (`sip.secret`, which their
//! nonces already need). A phone cannot make one; the receiving node then
//! takes the request's From user as the extension that asks.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The proof for a request with this Call-ID, hex.
pub fn proof(secret: &[u8], call_id: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(b"parkline-node:");
    mac.update(call_id);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `presented` proves a request with this Call-ID came from a
/// node (compared in constant time).
pub fn verify(secret: &[u8], call_id: &[u8], presented: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(b"parkline-node:");
    mac.update(call_id);
    let Some(bytes) = decode_hex(presented) else {
        return false;
    };
    mac.verify_slice(&bytes).is_ok()
}

fn decode_hex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_shared_secret_makes_a_proof() {
        let p = proof(b"cluster-secret", b"abc@node-2");
        assert_eq!(p.len(), 64);
        assert!(verify(b"cluster-secret", b"abc@node-2", p.as_bytes()));
        assert!(!verify(b"other-secret", b"abc@node-2", p.as_bytes()));
        assert!(!verify(b"cluster-secret", b"another-call", p.as_bytes()));
        assert!(!verify(b"cluster-secret", b"abc@node-2", b"zz"));
        assert!(!verify(b"cluster-secret", b"abc@node-2", b""));
    }
}
