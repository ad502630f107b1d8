//! Tags, branches and Call-IDs: unique, unpredictable from outside (hashed
//! with the switch's secret), and deterministic for a given seed (tests).

use sha2::{Digest, Sha256};

/// Generates identifiers.
#[derive(Debug)]
pub struct Ids {
    secret: Vec<u8>,
    counter: u64,
}

impl Ids {
    /// A generator keyed by `secret`, starting at `seed`.
    pub fn new(secret: &[u8], seed: u64) -> Ids {
        Ids {
            secret: secret.to_vec(),
            counter: seed,
        }
    }

    fn next_hex(&mut self, bytes: usize) -> String {
        self.counter = self.counter.wrapping_add(1);
        let mut h = Sha256::new();
        h.update(&self.secret);
        h.update(self.counter.to_be_bytes());
        h.finalize()[..bytes]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A tag.
    pub fn tag(&mut self) -> String {
        self.next_hex(6)
    }

    /// An RFC 3261 branch.
    pub fn branch(&mut self) -> String {
        format!("{}{}", sip::via::BRANCH_COOKIE, self.next_hex(8))
    }

    /// A Call-ID.
    pub fn call_id(&mut self) -> String {
        format!("{}@parkline", self.next_hex(10))
    }

    /// A number for SDP session ids and SSRCs.
    pub fn number(&mut self) -> u64 {
        u64::from_str_radix(&self.next_hex(6), 16).unwrap_or(1)
    }
}
