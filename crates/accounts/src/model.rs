//! Tenants, extensions, DIDs and trunks.

use serde::Serialize;
use std::fmt;

/// Where a provisioned item came from: the config file (re-synced at every
/// start, removed when dropped from the file) or the CLI/API (kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Declared in the TOML config.
    Config,
    /// Added through the CLI or API.
    Manual,
}

impl Source {
    /// Stable text form for storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::Manual => "manual",
        }
    }

    /// Parses the storage form (anything unknown counts as manual).
    pub fn parse(s: &str) -> Source {
        if s == "config" {
            Source::Config
        } else {
            Source::Manual
        }
    }
}

/// Limits on calls out through a trunk (toll-fraud guard); 0 is no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OutboundLimits {
    /// Outbound calls up at once.
    pub max_calls: u32,
    /// Outbound calls started per minute.
    pub max_calls_per_minute: u32,
}

impl OutboundLimits {
    /// A tenant's defaults: 100 calls up, 600 a minute.
    pub const TENANT: OutboundLimits = OutboundLimits {
        max_calls: 100,
        max_calls_per_minute: 600,
    };
    /// An extension's defaults: 4 calls up, 20 a minute.
    pub const EXTENSION: OutboundLimits = OutboundLimits {
        max_calls: 4,
        max_calls_per_minute: 20,
    };
}

/// Which numbers a tenant may call out to, by prefix of the dialed number:
/// the longest matching prefix of either list decides; a number neither
/// list matches is allowed only when `allow` is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Destinations {
    /// Prefixes allowed.
    pub allow: Vec<String>,
    /// Prefixes refused (premium rate, international...).
    pub deny: Vec<String>,
}

impl Destinations {
    /// The deny prefix that refuses `number`, if any (`Err` names it; `Err("")`
    /// when an allow list exists and does not match).
    pub fn check(&self, number: &str) -> Result<(), String> {
        let longest = |list: &[String]| {
            list.iter()
                .filter(|p| number.starts_with(p.as_str()))
                .map(String::len)
                .max()
        };
        match (longest(&self.allow), longest(&self.deny)) {
            (_, Some(d)) if longest(&self.allow).is_none_or(|a| a < d) => {
                Err(number[..d].to_string())
            }
            (None, _) if !self.allow.is_empty() => Err(String::new()),
            _ => Ok(()),
        }
    }
}

/// Whether calls use SRTP (RFC 3711, keys by SDES, RFC 4568).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpPolicy {
    /// Plain RTP only: an offer of `RTP/SAVP` is refused, keys offered with
    /// `RTP/AVP` are ignored.
    Off,
    /// SRTP with every party that offers it; the switch offers it (best
    /// effort: `RTP/AVP` with keys) to phones on TLS, where keys are not
    /// sent in the clear. SRTP and plain parties are bridged.
    Optional,
    /// SRTP with every party: plain offers are refused, the switch offers
    /// `RTP/SAVP`.
    Required,
}

impl SrtpPolicy {
    /// The configuration word.
    pub fn as_str(self) -> &'static str {
        match self {
            SrtpPolicy::Off => "off",
            SrtpPolicy::Optional => "optional",
            SrtpPolicy::Required => "required",
        }
    }

    /// The policy a configuration word names.
    pub fn parse(word: &str) -> Option<SrtpPolicy> {
        [SrtpPolicy::Off, SrtpPolicy::Optional, SrtpPolicy::Required]
            .into_iter()
            .find(|p| p.as_str() == word)
    }
}

/// One PBX: a SIP domain with its extensions and feature prefixes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// Short unique name (`acme`).
    pub name: String,
    /// SIP domain, also the digest realm.
    pub domain: String,
    /// Call parking prefix (`*70`).
    pub park_prefix: String,
    /// Parked call release prefix (`*71`).
    pub release_prefix: String,
    /// Seconds a parked call waits before ringing the parker back.
    pub park_timeout_s: u32,
    /// Seconds the comeback call rings before the fallback.
    pub park_comeback_ring_s: u32,
    /// Digits in a random parking code.
    pub park_code_length: u8,
    /// Extension that receives unanswered comebacks (none: announcement and hang-up).
    pub park_fallback: Option<String>,
    /// Limits on the tenant's calls out, all extensions together.
    pub outbound: OutboundLimits,
    /// Numbers it may call out to.
    pub destinations: Destinations,
    /// SRTP for the tenant's calls; `None`: the switch's `media.srtp`.
    pub srtp: Option<SrtpPolicy>,
    /// Whether the extension a call is parked under is sent a text message
    /// (and the parker one when it is retrieved, abandoned or comes back).
    pub park_alerts: bool,
    /// Seconds between tries of a comeback while the parker is in another
    /// call (up to the comeback's ring time, then the fallback).
    pub park_rearm_s: u32,
    /// Whether busy lamps show who the watched party talks to (or who
    /// waits at a position).
    pub lamp_identities: bool,
    /// Provenance.
    pub source: Source,
}

impl Tenant {
    /// A tenant with default feature settings.
    pub fn new(name: &str, domain: &str) -> Tenant {
        Tenant {
            name: name.to_string(),
            domain: domain.to_string(),
            park_prefix: "*70".into(),
            release_prefix: "*71".into(),
            park_timeout_s: 180,
            park_comeback_ring_s: 30,
            park_code_length: 4,
            park_fallback: None,
            outbound: OutboundLimits::TENANT,
            destinations: Destinations::default(),
            srtp: None,
            park_alerts: true,
            park_rearm_s: 30,
            lamp_identities: true,
            source: Source::Manual,
        }
    }
}

/// A phone account of a tenant. The password is never kept: only the two
/// digest HA1 values (MD5 and SHA-256) for the tenant's realm.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Extension {
    /// Owning tenant's name.
    pub tenant: String,
    /// Extension number (`333`), also the digest username.
    pub number: String,
    /// Display name.
    pub name: String,
    /// MD5(number:realm:password), hex.
    #[serde(skip)]
    pub ha1_md5: String,
    /// SHA-256(number:realm:password), hex.
    #[serde(skip)]
    pub ha1_sha256: String,
    /// Whether the account may be used at all.
    pub enabled: bool,
    /// May call numbers outside the PBX (trunks).
    pub can_call_out: bool,
    /// May park calls.
    pub can_park: bool,
    /// May retrieve parked calls.
    pub can_retrieve: bool,
    /// Limits on its calls out.
    pub outbound: OutboundLimits,
    /// Provenance.
    pub source: Source,
}

impl fmt::Debug for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extension")
            .field("tenant", &self.tenant)
            .field("number", &self.number)
            .field("name", &self.name)
            .field("secrets", &"<redacted>")
            .field("enabled", &self.enabled)
            .field("can_call_out", &self.can_call_out)
            .field("can_park", &self.can_park)
            .field("can_retrieve", &self.can_retrieve)
            .field("outbound", &self.outbound)
            .finish()
    }
}

/// An external number that reaches an extension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Did {
    /// The external number (digits, optional leading `+`).
    pub number: String,
    /// Tenant name.
    pub tenant: String,
    /// Target extension number.
    pub extension: String,
    /// Provenance.
    pub source: Source,
}

/// A SIP peer (carrier) recognised by its address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trunk {
    /// Unique name.
    pub name: String,
    /// `ip:port` of the peer.
    pub address: String,
    /// Tenant whose outbound calls use this trunk and whose DIDs it delivers.
    pub tenant: String,
    /// Credentials the switch answers the carrier's digest challenges with.
    pub auth: Option<TrunkAuth>,
    /// The DNS name of the client certificate the carrier presents over
    /// TLS: a connection with a certificate valid for it (verified against
    /// `tls.client_ca`) is this trunk, whatever its address.
    pub tls_name: Option<String>,
    /// Provenance.
    pub source: Source,
}

/// The switch's own account at a carrier. The password has to be kept (a
/// digest answer needs it for realms only the carrier names); it is never
/// logged or listed.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TrunkAuth {
    /// Username at the carrier.
    pub username: String,
    /// Password at the carrier.
    #[serde(skip)]
    pub password: String,
    /// Registration interval asked of the carrier, seconds; `None`: the
    /// switch does not register there.
    pub register_s: Option<u32>,
}

impl fmt::Debug for TrunkAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrunkAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("register_s", &self.register_s)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Destinations;

    #[test]
    fn the_longest_matching_prefix_decides() {
        let d = Destinations {
            allow: vec!["0044".into()],
            deny: vec!["00".into(), "1900".into()],
        };
        assert_eq!(d.check("0049301234"), Err("00".into()));
        assert_eq!(
            d.check("00442071234567"),
            Ok(()),
            "allowed inside a denied range"
        );
        assert_eq!(d.check("19005551234"), Err("1900".into()));
        assert_eq!(
            d.check("15551234"),
            Err(String::new()),
            "not on the allow list"
        );
        let open = Destinations {
            allow: vec![],
            deny: vec!["011".into()],
        };
        assert_eq!(open.check("15551234"), Ok(()));
        assert_eq!(open.check("01144123"), Err("011".into()));
    }
}
