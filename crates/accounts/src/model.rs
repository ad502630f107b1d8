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
    /// Provenance.
    pub source: Source,
}
