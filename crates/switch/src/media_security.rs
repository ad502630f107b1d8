//! SRTP per leg: what a party's offer or answer asks for, checked against
//! the tenant's [`SrtpPolicy`], and the keys the switch sends it. Each leg
//! has its own keys (the switch decrypts and re-encrypts), so an SRTP phone
//! and a plain one, or two SRTP phones with different keys, are bridged.

use crate::peer::{Peer, Transport};
use accounts::SrtpPolicy;
use hmac::{Hmac, Mac};
use media::engine::SrtpKeys;
use media::sdes::Crypto;
use media::sdp::{Audio, Profile};
use media::srtp::{MasterKey, Suite};
use sha2::Sha256;

/// A leg's media protection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegSecurity {
    /// Plain RTP.
    Plain,
    /// SRTP with SDES keys.
    Srtp(SrtpLeg),
}

/// An SRTP leg's negotiation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtpLeg {
    /// The `m=` profile used with this party (answers repeat the offer's).
    pub profile: Profile,
    /// Our line: our key, with the suite and tag agreed.
    pub ours: Crypto,
    /// The party's key; `None` while our offer awaits its answer.
    pub theirs: Option<MasterKey>,
}

/// Why an offer or answer cannot be taken (the call gets 488 with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityRefusal {
    /// The tenant requires SRTP; the party offered plain RTP.
    SrtpRequired,
    /// `RTP/SAVP` offered, and the tenant's policy is off.
    SrtpDisabled,
    /// `RTP/SAVP` without a key the switch can use.
    NoUsableCrypto,
}

impl SecurityRefusal {
    /// The reason phrase of the 488.
    pub fn reason(self) -> &'static str {
        match self {
            SecurityRefusal::SrtpRequired => "SRTP Required",
            SecurityRefusal::SrtpDisabled => "SRTP Not Enabled",
            SecurityRefusal::NoUsableCrypto => "No Supported SRTP Crypto Suite",
        }
    }
}

impl LegSecurity {
    /// The protection for a party whose offer is `offer`, and our key for
    /// the answer.
    pub fn answering(
        policy: SrtpPolicy,
        offer: &Audio,
        mint: &mut KeyMint,
    ) -> Result<LegSecurity, SecurityRefusal> {
        match (policy, offer.profile, &offer.crypto) {
            (SrtpPolicy::Off, Profile::Savp, _) => Err(SecurityRefusal::SrtpDisabled),
            (SrtpPolicy::Off, Profile::Avp, _) => Ok(LegSecurity::Plain),
            (_, _, Some(c)) => Ok(LegSecurity::Srtp(SrtpLeg {
                profile: offer.profile,
                ours: mint.crypto(c.tag, c.suite),
                theirs: Some(c.key.clone()),
            })),
            (_, Profile::Savp, None) => Err(SecurityRefusal::NoUsableCrypto),
            (SrtpPolicy::Required, Profile::Avp, None) => Err(SecurityRefusal::SrtpRequired),
            (SrtpPolicy::Optional, Profile::Avp, None) => Ok(LegSecurity::Plain),
        }
    }

    /// The protection the switch offers a party reached over `peer`.
    /// Optional SRTP is offered only over TLS: a key sent in the clear
    /// protects nothing.
    pub fn offering(policy: SrtpPolicy, peer: Peer, mint: &mut KeyMint) -> LegSecurity {
        let profile = match (policy, peer.transport) {
            (SrtpPolicy::Off, _) => return LegSecurity::Plain,
            (SrtpPolicy::Required, _) => Profile::Savp,
            (SrtpPolicy::Optional, Transport::Tls(_)) => Profile::Avp,
            (SrtpPolicy::Optional, _) => return LegSecurity::Plain,
        };
        LegSecurity::Srtp(SrtpLeg {
            profile,
            ours: mint.crypto(1, Suite::AesCm128HmacSha1_80),
            theirs: None,
        })
    }

    /// Takes the party's answer to our offer (or a new offer of its own on
    /// a leg already negotiated): its key, or, for best-effort SRTP, its
    /// choice of plain RTP.
    pub fn handle_remote_sdp(&mut self, sdp: &Audio) -> Result<(), SecurityRefusal> {
        let LegSecurity::Srtp(leg) = self else {
            return match sdp.profile {
                Profile::Savp => Err(SecurityRefusal::SrtpDisabled),
                Profile::Avp => Ok(()),
            };
        };
        match (&sdp.crypto, leg.profile) {
            (Some(c), _) if c.suite == leg.ours.suite => {
                leg.ours.tag = c.tag;
                leg.theirs = Some(c.key.clone());
                Ok(())
            }
            (Some(_), _) | (None, Profile::Savp) => Err(SecurityRefusal::NoUsableCrypto),
            (None, Profile::Avp) => {
                *self = LegSecurity::Plain;
                Ok(())
            }
        }
    }

    /// The `m=` profile and key to write in our SDP to the party.
    pub fn sdp_parts(&self) -> (Profile, Option<&Crypto>) {
        match self {
            LegSecurity::Plain => (Profile::Avp, None),
            LegSecurity::Srtp(l) => (l.profile, Some(&l.ours)),
        }
    }

    /// Whether the leg is SRTP with both sides' keys known.
    pub fn is_keyed(&self) -> bool {
        matches!(self, LegSecurity::Srtp(l) if l.theirs.is_some())
    }

    /// The media engine's keys, once both sides' are known.
    pub fn engine_keys(&self) -> Option<Box<SrtpKeys>> {
        let LegSecurity::Srtp(l) = self else {
            return None;
        };
        Some(Box::new(SrtpKeys {
            suite: l.ours.suite,
            theirs: l.theirs.clone()?,
            ours: l.ours.key.clone(),
        }))
    }
}

/// Makes the switch's SRTP master keys: HMAC-SHA256 of a random seed (from
/// the shell's CSPRNG) and a counter, so the sans-IO core draws keys
/// without a random source of its own and no two keys repeat.
pub struct KeyMint {
    seed: [u8; 32],
    counter: u64,
}

impl KeyMint {
    /// A mint for `seed` (32 random bytes).
    pub fn new(seed: [u8; 32]) -> KeyMint {
        KeyMint { seed, counter: 0 }
    }

    /// A fresh master key and salt.
    pub fn key(&mut self) -> MasterKey {
        self.counter += 1;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.seed)
            .expect("HMAC takes a key of any length");
        mac.update(b"parkline srtp master key");
        mac.update(&self.counter.to_be_bytes());
        let out = mac.finalize().into_bytes();
        let mut material = [0u8; 30];
        material.copy_from_slice(&out[..30]);
        MasterKey::from_bytes(&material)
    }

    /// Our `a=crypto` line with a fresh key.
    pub fn crypto(&mut self, tag: u32, suite: Suite) -> Crypto {
        Crypto {
            tag,
            suite,
            key: self.key(),
        }
    }
}

impl std::fmt::Debug for KeyMint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMint(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::sdp::parse_audio;

    const PLAIN: &str = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n";
    const KEY: &str =
        "a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:WnD7c1ksDGs+dIefCEo8omPg4uO8DYIinNGL5yxQ\r\n";

    fn sdp(text: &str) -> Audio {
        parse_audio(text.as_bytes()).unwrap()
    }

    fn peer(transport: Transport) -> Peer {
        Peer {
            transport,
            addr: "127.0.0.1:5060".parse().unwrap(),
        }
    }

    #[test]
    fn answers_follow_the_policy() {
        let mint = &mut KeyMint::new([1; 32]);
        let savp = sdp(&format!("{}{KEY}", PLAIN.replace("RTP/AVP", "RTP/SAVP")));
        let avp_keyed = sdp(&format!("{PLAIN}{KEY}"));
        let plain = sdp(PLAIN);
        let bare_savp = sdp(&PLAIN.replace("RTP/AVP", "RTP/SAVP"));
        use SrtpPolicy::*;
        let ok = |p, a: &Audio, m: &mut KeyMint| LegSecurity::answering(p, a, m);
        assert_eq!(ok(Off, &savp, mint), Err(SecurityRefusal::SrtpDisabled));
        assert_eq!(ok(Off, &avp_keyed, mint), Ok(LegSecurity::Plain));
        assert_eq!(
            ok(Required, &plain, mint),
            Err(SecurityRefusal::SrtpRequired)
        );
        assert_eq!(ok(Optional, &plain, mint), Ok(LegSecurity::Plain));
        assert_eq!(
            ok(Optional, &bare_savp, mint),
            Err(SecurityRefusal::NoUsableCrypto)
        );
        let LegSecurity::Srtp(leg) = ok(Optional, &savp, mint).unwrap() else {
            panic!("SRTP")
        };
        assert_eq!((leg.profile, leg.ours.tag), (Profile::Savp, 3));
        assert_eq!(
            leg.ours.suite,
            Suite::AesCm128HmacSha1_32,
            "the offered suite"
        );
        assert_ne!(Some(&leg.ours.key), leg.theirs.as_ref(), "our own key");
        assert!(ok(Required, &avp_keyed, mint)
            .unwrap()
            .engine_keys()
            .is_some());
    }

    #[test]
    fn offers_keys_only_where_they_are_protected_or_required() {
        let mint = &mut KeyMint::new([2; 32]);
        use SrtpPolicy::*;
        assert_eq!(
            LegSecurity::offering(Optional, peer(Transport::Udp), mint),
            LegSecurity::Plain
        );
        assert_eq!(
            LegSecurity::offering(Off, peer(Transport::Tls(1)), mint),
            LegSecurity::Plain
        );
        let tls = LegSecurity::offering(Optional, peer(Transport::Tls(1)), mint);
        assert_eq!(tls.sdp_parts().0, Profile::Avp);
        assert!(tls.engine_keys().is_none(), "no key of theirs yet");
        let req = LegSecurity::offering(Required, peer(Transport::Udp), mint);
        assert_eq!(req.sdp_parts().0, Profile::Savp);
        // Best effort: a plain answer makes the leg plain; SAVP cannot.
        let mut best = tls.clone();
        assert_eq!(best.handle_remote_sdp(&sdp(PLAIN)), Ok(()));
        assert_eq!(best, LegSecurity::Plain);
        let mut strict = req;
        assert_eq!(
            strict.handle_remote_sdp(&sdp(PLAIN)),
            Err(SecurityRefusal::NoUsableCrypto)
        );
        let mut keyed = tls;
        let answer = format!("{PLAIN}{}", KEY.replace("_32", "_80").replace(":3", ":1"));
        assert_eq!(keyed.handle_remote_sdp(&sdp(&answer)), Ok(()));
        assert!(keyed.engine_keys().is_some());
    }

    #[test]
    fn keys_differ_and_do_not_show_in_debug() {
        let mut mint = KeyMint::new([3; 32]);
        let (a, b) = (mint.key(), mint.key());
        assert_ne!(a, b);
        assert_ne!(KeyMint::new([4; 32]).key(), KeyMint::new([3; 32]).key());
        assert!(!format!("{:?}", mint.crypto(1, Suite::AesCm128HmacSha1_80)).contains("inline"));
    }
}
