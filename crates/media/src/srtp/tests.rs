use super::keystream::Cipher;
use super::session_keys::{Labels, SessionKeys};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn master(key: &str, salt: &str) -> MasterKey {
    let mut m = MasterKey {
        key: [0; 16],
        salt: [0; 14],
    };
    m.key.copy_from_slice(&hex(key));
    m.salt.copy_from_slice(&hex(salt));
    m
}

/// RFC 3711 Appendix B.2: the AES-CM keystream.
#[test]
fn aes_cm_keystream_matches_rfc3711_b2() {
    let key: [u8; 16] = hex("2B7E151628AED2A6ABF7158809CF4F3C").try_into().unwrap();
    let iv: [u8; 16] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000").try_into().unwrap();
    let mut stream = [0u8; 48];
    Cipher::new(&key).apply(&iv, &mut stream);
    assert_eq!(
        stream.to_vec(),
        hex("E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0")
    );
}

/// RFC 3711 Appendix B.3: key derivation.
#[test]
fn key_derivation_matches_rfc3711_b3() {
    let m = master(
        "E1F97A0D3E018BE0D64FA32C06DE4139",
        "0EC675AD498AFEEBB6960B3AABE6",
    );
    let keys = SessionKeys::derive(&m, Labels::RTP);
    assert_eq!(keys.salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    // The cipher key shows in the keystream it makes.
    let cipher_key: [u8; 16] = hex("C61E7A93744F39EE10734AFE3FF7A087").try_into().unwrap();
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    keys.cipher.apply(&[7; 16], &mut a);
    Cipher::new(&cipher_key).apply(&[7; 16], &mut b);
    assert_eq!(a, b);
}

fn packet(seq: u16, payload: u8) -> Vec<u8> {
    let mut p = vec![0u8; 12 + 160 + 20];
    crate::rtp::write_header(&mut p, 0, false, seq, u32::from(seq) * 160, 0x1234_5678);
    p[12..172].fill(payload);
    p
}

fn pair(suite: Suite) -> (Context, Context) {
    let m = MasterKey::from_bytes(&[9; 30]);
    (Context::new(suite, &m), Context::new(suite, &m))
}

#[test]
fn rtp_round_trip_for_both_suites() {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
        let (mut tx, mut rx) = pair(suite);
        for seq in [100u16, 101, 102] {
            let mut p = packet(seq, 0x55);
            let plain = p[..172].to_vec();
            let n = tx.protect_rtp(&mut p, 172).unwrap();
            assert_eq!(n, 172 + suite.rtp_tag_len());
            assert_eq!(p[..12], plain[..12], "header stays clear");
            assert_ne!(p[12..172], plain[12..172], "payload is encrypted");
            assert_eq!(rx.unprotect_rtp(&mut p, n), Ok(172));
            assert_eq!(p[..172], plain[..]);
        }
    }
}

#[test]
fn rejects_forgeries_replays_and_wrong_keys() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80);
    let mut p = packet(5, 1);
    let n = tx.protect_rtp(&mut p, 172).unwrap();
    let sent = p.clone();
    let mut forged = sent.clone();
    forged[20] ^= 1;
    assert_eq!(rx.unprotect_rtp(&mut forged, n), Err(SrtpError::BadTag));
    assert_eq!(rx.unprotect_rtp(&mut p, n), Ok(172));
    let mut again = sent.clone();
    assert_eq!(rx.unprotect_rtp(&mut again, n), Err(SrtpError::Replayed));
    let mut other = Context::new(Suite::AesCm128HmacSha1_80, &MasterKey::from_bytes(&[8; 30]));
    let mut copy = sent.clone();
    assert_eq!(other.unprotect_rtp(&mut copy, n), Err(SrtpError::BadTag));
    assert_eq!(rx.unprotect_rtp(&mut [0u8; 8], 8), Err(SrtpError::TooShort));
    let mut short = packet(1, 0);
    assert_eq!(
        tx.protect_rtp(&mut short[..175], 172),
        Err(SrtpError::NoRoom)
    );
}

#[test]
fn follows_rollover_and_reordering() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80);
    let mut sealed = Vec::new();
    for seq in (65_530u32..65_546).map(|s| s as u16) {
        let mut p = packet(seq, seq as u8);
        let n = tx.protect_rtp(&mut p, 172).unwrap();
        sealed.push((p, n, seq));
    }
    // Deliver with two swapped across the wrap.
    sealed.swap(5, 6);
    for (mut p, n, seq) in sealed {
        assert_eq!(rx.unprotect_rtp(&mut p, n), Ok(172), "seq {seq}");
        assert_eq!(p[12], seq as u8);
    }
}

#[test]
fn rtcp_round_trip_and_replay() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_32);
    let mut sr = vec![0u8; 28 + 4 + SRTCP_TAG_LEN];
    sr[..8].copy_from_slice(&[0x80, 200, 0, 6, 0xAA, 0xBB, 0xCC, 0xDD]);
    sr[8..28].fill(0x42);
    let plain = sr[..28].to_vec();
    let n = tx.protect_rtcp(&mut sr, 28).unwrap();
    assert_eq!(n, 28 + 4 + SRTCP_TAG_LEN);
    assert_ne!(sr[8..28], plain[8..]);
    let sent = sr.clone();
    let mut forged = sent.clone();
    forged[9] ^= 0x80;
    assert_eq!(rx.unprotect_rtcp(&mut forged, n), Err(SrtpError::BadTag));
    assert_eq!(rx.unprotect_rtcp(&mut sr, n), Ok(28));
    assert_eq!(sr[..28], plain[..]);
    let mut again = sent.clone();
    assert_eq!(rx.unprotect_rtcp(&mut again, n), Err(SrtpError::Replayed));
}

proptest::proptest! {
    /// Whatever arrives, unprotecting never panics and never accepts a
    /// packet without the key.
    #[test]
    fn garbage_is_refused_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let (_, mut rx) = pair(Suite::AesCm128HmacSha1_80);
        let mut buf = bytes.clone();
        let n = buf.len();
        proptest::prop_assert!(rx.unprotect_rtp(&mut buf, n).is_err());
        let mut buf = bytes.clone();
        proptest::prop_assert!(rx.unprotect_rtcp(&mut buf, n).is_err());
        let mut buf = bytes;
        let _ = rx.protect_rtp(&mut buf, n);
        let _ = rx.protect_rtcp(&mut buf, n.saturating_sub(20));
    }
}
