//! The parts of SDP (RFC 4566) and offer/answer (RFC 3264) an anchoring
//! switch needs: the audio stream's address, port, codecs, telephone-event
//! payload type and direction. Lenient with real-world SDP (missing `t=`).

use crate::codec::Codec;
use crate::sdes::{self, Crypto};
use std::fmt::Write;
use std::net::IpAddr;

/// Media direction (RFC 3264 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// The SDP's owner only sends (it puts the other side on hold).
    SendOnly,
    /// The SDP's owner only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answerer uses for this offered direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }
}

/// The transport profile of an audio stream (`m=` proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `RTP/AVP` (keys in `a=crypto` make it best-effort SRTP).
    Avp,
    /// `RTP/SAVP`: SRTP only.
    Savp,
}

impl Profile {
    fn proto(self) -> &'static str {
        match self {
            Profile::Avp => "RTP/AVP",
            Profile::Savp => "RTP/SAVP",
        }
    }
}

/// The first audio stream of a session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    /// Connection address (media-level `c=` or session-level).
    pub address: Option<IpAddr>,
    /// RTP port (0: stream rejected).
    pub port: u16,
    /// G.711 codecs in the order offered, with their payload types.
    pub codecs: Vec<(Codec, u8)>,
    /// telephone-event payload type, if offered.
    pub telephone_event: Option<u8>,
    /// Direction.
    pub direction: Direction,
    /// Transport profile.
    pub profile: Profile,
    /// The first `a=crypto` line with a suite and key SRTP can use.
    pub crypto: Option<Crypto>,
    /// Whether `a=crypto` lines were offered, usable or not.
    pub offers_crypto: bool,
}

impl Audio {
    /// Whether this description puts the other side on hold: sendonly,
    /// inactive, or the RFC 2543 zero address.
    pub fn is_hold(&self) -> bool {
        matches!(self.direction, Direction::SendOnly | Direction::Inactive)
            || self.address.is_some_and(|a| a.is_unspecified())
    }

    /// The codec the first G.711 entry names.
    pub fn first_codec(&self) -> Option<(Codec, u8)> {
        self.codecs.first().copied()
    }
}

/// Why an SDP body was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdpError(pub &'static str);

/// Parses the first `m=audio` stream.
pub fn parse_audio(body: &[u8]) -> Result<Audio, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError("SDP is not UTF-8"))?;
    let mut session_addr = None;
    let mut audio: Option<Audio> = None;
    let mut rtpmaps: Vec<(u8, String)> = Vec::new();
    let mut formats: Vec<u8> = Vec::new();
    let mut in_audio = false;
    let mut seen_audio = false;
    for line in text.lines().map(str::trim_end) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                in_audio = false;
                let mut parts = value.split_whitespace();
                if parts.next() == Some("audio") && !seen_audio {
                    seen_audio = true;
                    in_audio = true;
                    let port = parts
                        .next()
                        .and_then(|p| p.split('/').next()?.parse().ok())
                        .ok_or(SdpError("bad m= port"))?;
                    let profile = match parts.next() {
                        Some(p) if p.to_ascii_uppercase().starts_with("RTP/SAVP") => Profile::Savp,
                        _ => Profile::Avp,
                    };
                    formats = parts.filter_map(|f| f.parse().ok()).collect();
                    audio = Some(Audio {
                        address: None,
                        port,
                        codecs: vec![],
                        telephone_event: None,
                        direction: Direction::SendRecv,
                        profile,
                        crypto: None,
                        offers_crypto: false,
                    });
                }
            }
            "c" => {
                let addr = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next()?.parse().ok());
                match (&mut audio, in_audio) {
                    (Some(a), true) => a.address = addr,
                    (None, _) => session_addr = addr,
                    _ => {}
                }
            }
            "a" => {
                let dir = match value {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                // Only the audio stream's own direction counts (a session-level
                // one before any m= line is rare and not honoured yet).
                if let (Some(d), Some(a)) = (dir, audio.as_mut().filter(|_| in_audio)) {
                    a.direction = d;
                }
                if let (Some(c), Some(a)) = (
                    value.strip_prefix("crypto:"),
                    audio.as_mut().filter(|_| in_audio),
                ) {
                    a.offers_crypto = true;
                    if a.crypto.is_none() {
                        a.crypto = sdes::parse(c).ok();
                    }
                }
                if let Some(map) = value.strip_prefix("rtpmap:") {
                    if in_audio {
                        if let Some((pt, enc)) = map.split_once(' ') {
                            if let Ok(pt) = pt.trim().parse() {
                                rtpmaps.push((pt, enc.trim().to_string()));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut audio = audio.ok_or(SdpError("no audio stream"))?;
    if audio.address.is_none() {
        audio.address = session_addr;
    }
    for pt in formats {
        let name = rtpmaps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.as_str());
        let codec = match name {
            Some(n) => Codec::from_name(n.split('/').next().unwrap_or("")),
            None => Codec::from_payload_type(pt),
        };
        if let Some(c) = codec {
            audio.codecs.push((c, pt));
        } else if name.is_some_and(|n| n.to_ascii_lowercase().starts_with("telephone-event/8000")) {
            audio.telephone_event.get_or_insert(pt);
        }
    }
    Ok(audio)
}

/// What the switch says about its side of a stream.
#[derive(Clone, Debug)]
pub struct Offer<'a> {
    /// `o=` session id (stable per leg).
    pub session_id: u64,
    /// `o=` version (incremented on every change).
    pub version: u64,
    /// Our media address.
    pub address: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// Codecs with payload types, in preference order.
    pub codecs: &'a [(Codec, u8)],
    /// telephone-event payload type.
    pub telephone_event: Option<u8>,
    /// Direction.
    pub direction: Direction,
    /// Transport profile.
    pub profile: Profile,
    /// Our key, if the stream is SRTP.
    pub crypto: Option<&'a Crypto>,
}

/// Writes a session description with one audio stream.
pub fn write(o: &Offer) -> String {
    let ip = match o.address {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "v=0\r\no=parkline {} {} IN {ip} {}\r\ns=parkline\r\nc=IN {ip} {}\r\nt=0 0\r\nm=audio {} {}",
        o.session_id,
        o.version,
        o.address,
        o.address,
        o.port,
        o.profile.proto()
    );
    for (_, pt) in o.codecs {
        let _ = write!(s, " {pt}");
    }
    if let Some(te) = o.telephone_event {
        let _ = write!(s, " {te}");
    }
    s.push_str("\r\n");
    for (c, pt) in o.codecs {
        let _ = write!(s, "a=rtpmap:{pt} {}/8000\r\n", c.name());
    }
    if let Some(te) = o.telephone_event {
        let _ = write!(
            s,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    let _ = write!(s, "a=ptime:20\r\na={}\r\n", o.direction.attr());
    if let Some(c) = o.crypto {
        let _ = write!(s, "a=crypto:{}\r\n", c.value());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARESIP: &str = "v=0\r\no=- 123 456 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

    #[test]
    fn parses_offers_and_holds() {
        let a = parse_audio(BARESIP.as_bytes()).unwrap();
        assert_eq!(a.port, 10000);
        assert_eq!(a.codecs, vec![(Codec::Pcmu, 0), (Codec::Pcma, 8)]);
        assert_eq!(a.telephone_event, Some(101));
        assert!(!a.is_hold());
        let held = parse_audio(BARESIP.replace("sendrecv", "sendonly").as_bytes()).unwrap();
        assert!(held.is_hold());
        let old = parse_audio(
            BARESIP
                .replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")
                .as_bytes(),
        )
        .unwrap();
        assert!(old.is_hold(), "RFC 2543 hold");
        let no_t = BARESIP.replace("t=0 0\r\n", "");
        assert!(
            parse_audio(no_t.as_bytes()).is_ok(),
            "missing t= is tolerated"
        );
        assert!(parse_audio(b"v=0\r\nm=video 1 RTP/AVP 31\r\n").is_err());
    }

    #[test]
    fn static_types_without_rtpmap_and_dynamic_names() {
        let a = parse_audio(b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8 18 96\r\na=rtpmap:96 telephone-event/8000\r\n").unwrap();
        assert_eq!(a.codecs, vec![(Codec::Pcma, 8)]);
        assert_eq!(a.telephone_event, Some(96));
        assert_eq!(a.address, Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn writes_what_it_parses() {
        let codecs = [(Codec::Pcma, 8), (Codec::Pcmu, 0)];
        let text = write(&Offer {
            session_id: 1,
            version: 2,
            address: "127.0.0.1".parse().unwrap(),
            port: 20002,
            codecs: &codecs,
            telephone_event: Some(101),
            direction: Direction::RecvOnly,
            profile: Profile::Avp,
            crypto: None,
        });
        let a = parse_audio(text.as_bytes()).unwrap();
        assert_eq!(a.port, 20002);
        assert_eq!(a.codecs, codecs.to_vec());
        assert_eq!(a.direction, Direction::RecvOnly);
        assert_eq!(a.telephone_event, Some(101));
        assert_eq!((a.profile, a.crypto.is_none()), (Profile::Avp, true));
    }

    #[test]
    fn srtp_profile_and_keys() {
        let line = "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:WnD7c1ksDGs+dIefCEo8omPg4uO8DYIinNGL5yxQ\r\n";
        let savp = format!(
            "{}a=crypto:1 AEAD_AES_256_GCM inline:x\r\n{line}",
            BARESIP.replace("RTP/AVP", "RTP/SAVP")
        );
        let a = parse_audio(savp.as_bytes()).unwrap();
        assert_eq!(a.profile, Profile::Savp);
        assert!(a.offers_crypto);
        let c = a.crypto.clone().expect("the usable line");
        assert_eq!(c.tag, 2);
        let text = write(&Offer {
            session_id: 1,
            version: 1,
            address: "127.0.0.1".parse().unwrap(),
            port: 20000,
            codecs: &[(Codec::Pcmu, 0)],
            telephone_event: None,
            direction: Direction::SendRecv,
            profile: Profile::Savp,
            crypto: Some(&c),
        });
        assert!(text.contains("m=audio 20000 RTP/SAVP 0\r\n"), "{text}");
        assert_eq!(parse_audio(text.as_bytes()).unwrap().crypto, Some(c));
        let unusable = BARESIP.to_string() + "a=crypto:1 F8_128_HMAC_SHA1_80 inline:x\r\n";
        let a = parse_audio(unusable.as_bytes()).unwrap();
        assert!(a.offers_crypto && a.crypto.is_none());
    }
}
