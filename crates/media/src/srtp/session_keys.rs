//! Session keys derived from a master key (RFC 3711 §4.3, key derivation
//! rate 0): AES-CM of the master salt XOR a label, keyed by the master key.

use super::keystream::Cipher;
use super::MasterKey;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The labels of the three keys of one protocol (RFC 3711 §4.3.2).
#[derive(Clone, Copy)]
pub struct Labels {
    encryption: u8,
    authentication: u8,
    salt: u8,
}

impl Labels {
    /// SRTP's labels.
    pub const RTP: Labels = Labels {
        encryption: 0,
        authentication: 1,
        salt: 2,
    };
    /// SRTCP's labels.
    pub const RTCP: Labels = Labels {
        encryption: 3,
        authentication: 4,
        salt: 5,
    };
}

/// Bytes of the authentication key.
const AUTH_KEY_LEN: usize = 20;

/// The keys that protect packets of one protocol.
#[derive(Clone)]
pub struct SessionKeys {
    /// Encrypts payloads.
    pub cipher: Cipher,
    /// Salts the counter (14 bytes).
    pub salt: [u8; 14],
    /// HMAC-SHA1 keyed once; cloned per packet.
    pub mac: Hmac<Sha1>,
}

impl SessionKeys {
    /// Derives the keys for `labels` from `master`.
    pub fn derive(master: &MasterKey, labels: Labels) -> SessionKeys {
        let prf = Cipher::new(&master.key);
        let mut key = [0u8; 16];
        derive_into(&prf, &master.salt, labels.encryption, &mut key);
        let mut auth = [0u8; AUTH_KEY_LEN];
        derive_into(&prf, &master.salt, labels.authentication, &mut auth);
        let mut salt = [0u8; 14];
        derive_into(&prf, &master.salt, labels.salt, &mut salt);
        SessionKeys {
            cipher: Cipher::new(&key),
            salt,
            mac: <Hmac<Sha1> as Mac>::new_from_slice(&auth)
                .expect("HMAC takes a key of any length"),
        }
    }
}

/// The keystream for `label` (index 0): x = master salt XOR (label at
/// byte 7), counter block x‖0000.
fn derive_into(prf: &Cipher, master_salt: &[u8; 14], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    prf.apply(&iv, out);
}

/// The counter block of a packet: salt XOR SSRC (bytes 4–7) XOR index
/// (48 bits at bytes 8–13), then a zero block counter.
pub fn packet_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= s;
    }
    iv
}
