//! AES in counter mode as SRTP uses it (RFC 3711 §4.1.1): the keystream
//! for a packet is AES of IV, IV+1, ... where only the low 16 bits count.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Block};

/// Blocks of keystream made per AES call (lets the cipher work on several
/// blocks at once).
const BATCH: usize = 8;

/// An AES-128 key schedule, made once per session key.
#[derive(Clone)]
pub struct Cipher(Aes128);

impl Cipher {
    /// The schedule for `key`.
    pub fn new(key: &[u8; 16]) -> Cipher {
        Cipher(Aes128::new(key.into()))
    }

    /// XORs `data` with the keystream that starts at counter block `iv`.
    pub fn apply(&self, iv: &[u8; 16], data: &mut [u8]) {
        let mut counter = u16::from_be_bytes([iv[14], iv[15]]);
        let mut blocks = [Block::default(); BATCH];
        for chunk in data.chunks_mut(16 * BATCH) {
            let n = chunk.len().div_ceil(16);
            for b in blocks.iter_mut().take(n) {
                b[..14].copy_from_slice(&iv[..14]);
                b[14..].copy_from_slice(&counter.to_be_bytes());
                counter = counter.wrapping_add(1);
            }
            self.0.encrypt_blocks(&mut blocks[..n]);
            for (i, byte) in chunk.iter_mut().enumerate() {
                *byte ^= blocks[i / 16][i % 16];
            }
        }
    }
}
