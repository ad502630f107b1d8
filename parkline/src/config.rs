//! The TOML configuration: server settings and declarative provisioning.
//! Errors, syntactic or semantic, name the file and line.

use accounts::rules;
use serde::Deserialize;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use toml::Spanned;

mod check;
mod unknown_keys;
use check::Checker;

/// The embedded default configuration (a demo PBX on loopback).
pub const DEMO: &str = include_str!("demo.toml");

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// SIP listeners and limits.
    #[serde(default)]
    pub sip: SipSection,
    /// SIP over TLS: certificate and key.
    #[serde(default)]
    pub tls: TlsSection,
    /// Media settings.
    #[serde(default)]
    pub media: MediaSection,
    /// Admin HTTP API.
    #[serde(default)]
    pub http: HttpSection,
    /// Storage.
    #[serde(default)]
    pub store: StoreSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Tenants (PBXes) to provision.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// SIP trunks.
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    /// Receivers the switch posts its events to.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// The operator's own authorization service, if one decides.
    #[serde(default)]
    pub authorization: Option<AuthorizationSection>,
    /// This switch as a node of a cluster sharing a PostgreSQL store.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// The values above that need parsing, parsed once after the checks
    /// passed (set by [`Config::parse`]).
    #[serde(skip)]
    parsed: Parsed,
}

/// A checked configuration's values that need parsing: parsed once, so
/// nothing later re-parses them with a silent fallback.
#[derive(Clone, Debug)]
struct Parsed {
    listeners: Vec<Listen>,
    rtp_ports: (u16, u16),
    digest_algorithms: Vec<sip::digest::Algorithm>,
    srtp: accounts::SrtpPolicy,
    media_address: IpAddr,
}

impl Default for Parsed {
    fn default() -> Parsed {
        Parsed {
            listeners: Vec::new(),
            rtp_ports: (20000, 20999),
            digest_algorithms: Vec::new(),
            srtp: accounts::SrtpPolicy::Optional,
            media_address: IpAddr::from([127, 0, 0, 1]),
        }
    }
}

/// `[sip]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipSection {
    /// `udp:IP:PORT` / `tcp:IP:PORT` / `tls:IP:PORT` listeners.
    pub listen: Vec<Spanned<String>>,
    /// Tenant for requests addressed to the switch by IP.
    pub default_tenant: Option<Spanned<String>>,
    /// Secret for nonces (share it between nodes); random per start if unset.
    pub secret: Option<String>,
    /// Digest algorithms offered, most preferred first: `MD5`, `SHA-256`.
    /// Default `["MD5"]`: some phones (baresip 1.0) fail on any SHA-256 challenge.
    pub digest_algorithms: Vec<Spanned<String>>,
    /// Seconds a digest nonce stays valid.
    pub nonce_lifetime_s: u64,
    /// Shortest registration accepted (423 below).
    pub min_expires: u32,
    /// Longest registration granted.
    pub max_expires: u32,
    /// Registration interval when the phone names none.
    pub default_expires: u32,
    /// Most contacts per extension.
    pub max_contacts_per_extension: usize,
    /// Largest SIP message accepted, bytes (513 beyond).
    pub max_message_bytes: usize,
    /// Most header lines in a message (400 beyond).
    pub max_headers: usize,
    /// Most memory the SIP transactions may hold, MiB (stateless 503
    /// beyond). Completed transactions wait 32 s (RFC 3261) as compact
    /// records: about 0.7 KiB per call (bench/call-rate), so 512 MiB
    /// carry some 20,000 calls/s.
    pub max_transaction_memory_mb: usize,
    /// Most server transactions in progress (no final answer yet) of one
    /// source IP (trunks and edges exempt).
    pub max_transactions_per_source: usize,
    /// Longest a new INVITE or SUBSCRIBE may wait to be read, ms; a later
    /// one gets 503 (0: never). Just below the cluster edge's 2 s fr_timer.
    pub max_request_wait_ms: u64,
    /// Most open TCP connections.
    pub max_tcp_connections: usize,
    /// Most open TCP connections from one IP.
    pub max_tcp_connections_per_ip: usize,
    /// Seconds a TCP connection may take to deliver a message it has begun.
    pub tcp_message_timeout_s: u64,
    /// Seconds an unauthenticated TCP connection may stay without a message.
    pub tcp_idle_timeout_s: u64,
    /// Failed authentications per (source IP, username) per minute before
    /// that pair is refused.
    pub max_auth_failures_per_minute: u32,
    /// Failed authentications per account per hour from addresses it has
    /// not authenticated from before it is locked to them (doubling).
    pub max_auth_failures_per_account_per_hour: u32,
    /// Failed authentications per source IP per minute, all usernames,
    /// before that IP is refused for accounts it has not authenticated.
    pub max_auth_failures_per_source_per_minute: u32,
    /// The `Server` / `User-Agent` header (no version by default).
    pub server_header: String,
    /// Seconds a call may ring before the caller gets 480.
    pub no_answer_timeout_s: u64,
    /// Session interval asked for (RFC 4028 session timers).
    pub session_expires_s: u64,
    /// Shortest session interval accepted (Min-SE; 422 below).
    pub min_se_s: u64,
    /// Seconds between in-dialog OPTIONS probes of a party that refreshes
    /// no session timer (0: no probes).
    pub probe_interval_s: u64,
    /// Busy-lamp subscriptions the switch holds at most.
    pub max_subscriptions: usize,
    /// Busy-lamp subscriptions one extension holds at most.
    pub max_subscriptions_per_extension: usize,
}

impl Default for SipSection {
    fn default() -> Self {
        SipSection {
            listen: vec![
                Spanned::new(0..0, "udp:127.0.0.1:5060".into()),
                Spanned::new(0..0, "tcp:127.0.0.1:5060".into()),
            ],
            default_tenant: None,
            secret: None,
            digest_algorithms: vec![Spanned::new(0..0, "MD5".into())],
            nonce_lifetime_s: 300,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts_per_extension: 10,
            max_message_bytes: 65_535,
            max_headers: 256,
            max_transaction_memory_mb: 512,
            max_transactions_per_source: 5_000,
            max_request_wait_ms: 1500,
            max_tcp_connections: 4096,
            max_tcp_connections_per_ip: 32,
            tcp_message_timeout_s: 10,
            tcp_idle_timeout_s: 30,
            max_auth_failures_per_minute: 10,
            max_auth_failures_per_account_per_hour: 10,
            max_auth_failures_per_source_per_minute: 100,
            server_header: "Parkline".into(),
            no_answer_timeout_s: 30,
            session_expires_s: 1800,
            min_se_s: 90,
            probe_interval_s: 60,
            max_subscriptions: 100_000,
            max_subscriptions_per_extension: 250,
        }
    }
}

/// `[media]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// Address RTP ports are bound on and advertised in SDP.
    pub address: Spanned<String>,
    /// RTP port range `LOW-HIGH`.
    pub rtp_ports: Spanned<String>,
    /// Music on hold: a raw 8 kHz µ-law file (default: the shipped music).
    pub music: Option<String>,
    /// Folder with replacement prompts (`NAME.ul`, raw 8 kHz µ-law).
    pub prompts: Option<String>,
    /// Seconds without RTP before an established, unheld call is hung up.
    pub rtp_timeout_s: u64,
    /// Send music and prompts in batches through one raw IPv4 socket
    /// (`sendmmsg`) when the switch has `CAP_NET_RAW`; otherwise, or when
    /// false, one `sendto` per packet from each party's own port.
    pub raw_send: bool,
    /// SRTP (SDES keys): `off`, `optional` or `required`; a tenant's own
    /// `srtp` overrides it.
    pub srtp: Spanned<String>,
    /// Media threads, each with its share of the calls (a call's legs on
    /// one thread); unset: one per core.
    pub threads: Option<usize>,
}

/// `[tls]`: what a `tls:` listener presents and accepts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// PEM file with the switch's certificate chain (leaf first).
    pub certificate: Option<Spanned<String>>,
    /// PEM file with its private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: Option<Spanned<String>>,
    /// PEM file with the CAs whose client certificates are accepted. Set,
    /// a client may present a certificate (a trunk's), which must then
    /// chain to one of these; phones without one still connect.
    pub client_ca: Option<Spanned<String>>,
    /// Oldest TLS version accepted: `1.2` (default) or `1.3`.
    pub min_version: Option<Spanned<String>>,
}

impl Default for MediaSection {
    fn default() -> Self {
        MediaSection {
            address: Spanned::new(0..0, "127.0.0.1".into()),
            rtp_ports: Spanned::new(0..0, "20000-20999".into()),
            music: None,
            prompts: None,
            rtp_timeout_s: 60,
            raw_send: true,
            srtp: Spanned::new(0..0, "optional".into()),
            threads: None,
        }
    }
}

/// `[http]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Listen address of the admin API; empty to disable.
    pub listen: Spanned<String>,
    /// Host names the API answers to besides IP literals and `localhost`
    /// (any other `Host` header gets 421: no DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// API tokens (`parkline token add` makes one): every `/api/*`
    /// request needs one as `Authorization: Bearer`.
    pub tokens: Vec<TokenConfig>,
    /// Whether `/health` and `/metrics` answer other addresses than
    /// loopback without a token.
    pub open_health_and_metrics: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: Spanned::new(0..0, "127.0.0.1:8080".into()),
            allowed_hosts: Vec::new(),
            tokens: Vec::new(),
            open_health_and_metrics: false,
        }
    }
}

/// `[[http.tokens]]`: one API token, by the SHA-256 of its value.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (logs name it).
    pub name: String,
    /// `sha256:` and the hex SHA-256 of the token.
    pub hash: Spanned<String>,
    /// Only this tenant's calls, registrations and events.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Reads only.
    #[serde(default)]
    pub read_only: bool,
}

/// `[authorization]`: the operator's service that decides each call,
/// park, retrieval and transfer the embedded rules let through.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationSection {
    /// `http://` or `https://` URL each question is POSTed to.
    pub url: Spanned<String>,
    /// How long the service may take, milliseconds (50 to 10,000).
    #[serde(default = "default_authorization_timeout_ms")]
    pub timeout_ms: Spanned<u64>,
    /// Without a usable answer: `embedded` (the rules decide alone) or
    /// `refuse` (503).
    #[serde(default = "default_authorization_fallback")]
    pub fallback: Spanned<String>,
    /// Seconds an answer stands for the same question (tenant, caller,
    /// callee, kind); 0 to 60, 0: not cached.
    #[serde(default = "default_authorization_cache_s")]
    pub cache_s: Spanned<u64>,
    /// Key of the `X-Parkline-Signature` HMAC-SHA256 of each question.
    #[serde(default)]
    pub secret: Option<String>,
}

fn default_authorization_timeout_ms() -> Spanned<u64> {
    Spanned::new(0..0, 1000)
}

fn default_authorization_cache_s() -> Spanned<u64> {
    Spanned::new(0..0, 0)
}

fn default_authorization_fallback() -> Spanned<String> {
    Spanned::new(0..0, "embedded".into())
}

impl AuthorizationSection {
    /// The core's policy (checked values).
    pub fn policy(&self) -> switch::external_authorization::AuthorizationPolicy {
        use switch::external_authorization::{AuthorizationPolicy, Fallback};
        let timeout = std::time::Duration::from_millis(*self.timeout_ms.get_ref());
        AuthorizationPolicy {
            fallback: if self.fallback.get_ref() == "refuse" {
                Fallback::Refuse
            } else {
                Fallback::Embedded
            },
            cache_for: std::time::Duration::from_secs(*self.cache_s.get_ref()),
            // The shell's own timeout answers first; this is the backstop.
            wait: timeout + std::time::Duration::from_millis(500),
            ..AuthorizationPolicy::default()
        }
    }
}

/// `[cluster]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// This node's name, unique in the cluster: its live calls, media
    /// streams and parked calls in the shared store are its own, and a
    /// restarted node takes back only those.
    pub node: Spanned<String>,
    /// The cluster's SIP edges (Kamailio), as `IP:port`: a request from
    /// one of these is taken as coming from the address its
    /// `X-Parkline-Source` header names (trunks are recognised, and
    /// guessing limits count, by that address), and the edge itself is not
    /// held to the per-source transaction limit.
    pub edges: Vec<std::net::SocketAddr>,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            node: Spanned::new(0..0, "main".into()),
            edges: Vec::new(),
        }
    }
}

/// `[store]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// SQLite database file (used unless `url` is set).
    pub path: String,
    /// A PostgreSQL database (`postgres://USER:PASS@HOST/DB`): the store
    /// a cluster's nodes share.
    pub url: Option<String>,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            path: "parkline-data/parkline.db".into(),
            url: None,
        }
    }
}

impl StoreSection {
    /// Where the store is: PostgreSQL if `url` is set, else the file.
    pub fn location(&self) -> store::Location {
        match &self.url {
            Some(url) => store::Location::Postgres(url.clone()),
            None => store::Location::Sqlite(self.path.clone().into()),
        }
    }
}

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A tracing filter (`info`, `parkline=debug,switch=debug`). RUST_LOG wins.
    pub level: String,
    /// `text` (default) or `json` (one object per line).
    pub format: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// `[[webhooks]]`: where events are posted, which ones, signed how.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: Spanned<String>,
    /// Event types to send (`call_started`, `parked`, `refused`, ...; the
    /// `event` of a call event); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Only this tenant's events.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Key of the `X-Parkline-Signature` HMAC-SHA256 of each body.
    #[serde(default)]
    pub secret: Option<String>,
}

/// `[[tenants]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Unique short name.
    pub name: Spanned<String>,
    /// SIP domain and digest realm.
    pub domain: Spanned<String>,
    /// Parking prefix.
    #[serde(default = "default_park_prefix")]
    pub park_prefix: Spanned<String>,
    /// Release prefix.
    #[serde(default = "default_release_prefix")]
    pub release_prefix: Spanned<String>,
    /// Seconds before a parked call rings the parker back.
    #[serde(default = "default_park_timeout")]
    pub park_timeout_s: u32,
    /// Seconds a comeback call rings.
    #[serde(default = "default_comeback_ring")]
    pub park_comeback_ring_s: u32,
    /// Digits in random parking codes.
    #[serde(default = "default_code_length")]
    pub park_code_length: Spanned<u8>,
    /// Extension that gets unanswered comebacks.
    #[serde(default)]
    pub park_fallback: Option<Spanned<String>>,
    /// Text messages about parked calls (to the extension a call is parked
    /// under, and to the parker when it is retrieved, abandoned or comes
    /// back).
    #[serde(default = "yes")]
    pub park_alerts: bool,
    /// Seconds between comeback tries while the parker is in another call.
    #[serde(default = "default_rearm")]
    pub park_rearm_s: Spanned<u32>,
    /// Whether busy lamps show who a watched party talks to.
    #[serde(default = "yes")]
    pub lamp_identities: bool,
    /// Outbound calls up at once, all extensions (0: no limit).
    #[serde(default = "tenant_max_outbound")]
    pub max_outbound_calls: u32,
    /// Outbound calls started per minute, all extensions (0: no limit).
    #[serde(default = "tenant_max_outbound_rate")]
    pub max_outbound_calls_per_minute: u32,
    /// Prefixes of numbers that may be called out (empty: all not denied).
    #[serde(default)]
    pub outbound_allow: Vec<Spanned<String>>,
    /// Prefixes of numbers that may not be called out.
    #[serde(default)]
    pub outbound_deny: Vec<Spanned<String>>,
    /// SRTP for this tenant: `off`, `optional` or `required` (default:
    /// `media.srtp`).
    #[serde(default)]
    pub srtp: Option<Spanned<String>>,
    /// Extensions.
    #[serde(default)]
    pub extensions: Vec<ExtensionConfig>,
    /// DIDs.
    #[serde(default)]
    pub dids: Vec<DidConfig>,
}

fn default_park_prefix() -> Spanned<String> {
    Spanned::new(0..0, "*70".into())
}
fn default_release_prefix() -> Spanned<String> {
    Spanned::new(0..0, "*71".into())
}
fn default_park_timeout() -> u32 {
    180
}
fn default_comeback_ring() -> u32 {
    30
}
fn default_rearm() -> Spanned<u32> {
    Spanned::new(0..0, 30)
}
fn default_code_length() -> Spanned<u8> {
    Spanned::new(0..0, 4)
}
fn yes() -> bool {
    true
}
fn tenant_max_outbound() -> u32 {
    accounts::OutboundLimits::TENANT.max_calls
}
fn tenant_max_outbound_rate() -> u32 {
    accounts::OutboundLimits::TENANT.max_calls_per_minute
}
fn extension_max_outbound() -> u32 {
    accounts::OutboundLimits::EXTENSION.max_calls
}
fn extension_max_outbound_rate() -> u32 {
    accounts::OutboundLimits::EXTENSION.max_calls_per_minute
}

/// `[[tenants.extensions]]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionConfig {
    /// Extension number (digits).
    pub number: Spanned<String>,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// SIP password (stored only as digest hashes).
    pub password: Spanned<String>,
    /// Account usable.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// May call external numbers.
    #[serde(default = "yes")]
    pub can_call_out: bool,
    /// May park.
    #[serde(default = "yes")]
    pub can_park: bool,
    /// May retrieve.
    #[serde(default = "yes")]
    pub can_retrieve: bool,
    /// Outbound calls up at once (0: no limit).
    #[serde(default = "extension_max_outbound")]
    pub max_outbound_calls: u32,
    /// Outbound calls started per minute (0: no limit).
    #[serde(default = "extension_max_outbound_rate")]
    pub max_outbound_calls_per_minute: u32,
}

impl std::fmt::Debug for TrunkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("tenant", &self.tenant)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("register_expires_s", &self.register_expires_s)
            .finish()
    }
}

impl std::fmt::Debug for ExtensionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtensionConfig")
            .field("number", &self.number)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `[[tenants.dids]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidConfig {
    /// External number.
    pub number: Spanned<String>,
    /// Target extension.
    pub extension: Spanned<String>,
}

/// `[[trunks]]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Unique name.
    pub name: Spanned<String>,
    /// `IP:PORT` of the peer.
    pub address: Spanned<String>,
    /// Tenant served.
    pub tenant: Spanned<String>,
    /// The switch's username at the carrier (digest challenges are answered
    /// with it on outbound calls); needs `password`.
    #[serde(default)]
    pub username: Option<Spanned<String>>,
    /// The switch's password at the carrier.
    #[serde(default)]
    pub password: Option<Spanned<String>>,
    /// Register to the carrier with this interval, seconds (needs the
    /// credentials); unset: no registration.
    #[serde(default)]
    pub register_expires_s: Option<Spanned<u32>>,
    /// The DNS name the carrier's TLS client certificate is issued for
    /// (needs `tls.client_ca`): connections presenting it are this trunk.
    #[serde(default)]
    pub tls_client_name: Option<Spanned<String>>,
}

/// A listener from `sip.listen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    /// UDP socket.
    Udp(SocketAddr),
    /// TCP listener.
    Tcp(SocketAddr),
    /// TLS listener (SIP over TLS on TCP, RFC 3261 §26.2).
    Tls(SocketAddr),
}

impl Listen {
    /// The address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Listen::Udp(a) | Listen::Tcp(a) | Listen::Tls(a) => *a,
        }
    }
}

/// Every problem found in a config, each as `FILE:LINE: message`.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Parses and validates `text` (read from `file`, used in messages).
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        // The text parsed: unknown keys blanked out (same lines, other
        // byte offsets, which the checks' spans point into).
        let (mut cfg, text) = Config::parse_past_unknown_keys(file, text, &mut errors)?;
        let text = text.as_ref();
        let mut c = Checker {
            file,
            text,
            errors: Vec::new(),
        };
        cfg.check(&mut c);
        errors.append(&mut c.errors);
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        cfg.parsed = cfg
            .parse_values()
            .map_err(|e| ConfigErrors(vec![format!("{file}: {e}")]))?;
        Ok(cfg)
    }

    /// Deserializes `text`; each unknown key goes into `errors` (with its
    /// line) and is skipped, so that one run names them all. Any other
    /// error ends the parse with everything found so far.
    fn parse_past_unknown_keys<'t>(
        file: &str,
        text: &'t str,
        errors: &mut Vec<String>,
    ) -> Result<(Config, std::borrow::Cow<'t, str>), ConfigErrors> {
        let mut rest = std::borrow::Cow::Borrowed(text);
        loop {
            let e = match toml::from_str::<Config>(&rest) {
                Ok(cfg) => return Ok((cfg, rest)),
                Err(e) => e,
            };
            let at = e.span().map(|s| s.start);
            let line = at.map(|a| rest[..a.min(rest.len())].matches('\n').count() + 1);
            let msg = e.message().to_string();
            errors.push(match line {
                Some(l) => format!("{file}:{l}: {msg}"),
                None => format!("{file}: {msg}"),
            });
            let next = match at {
                Some(a)
                    if unknown_keys::is_unknown_key(&msg)
                        && errors.len() < unknown_keys::MAX_REPORTED =>
                {
                    unknown_keys::blank_item(&rest, a)
                }
                _ => None,
            };
            match next {
                Some(t) => rest = std::borrow::Cow::Owned(t),
                None => return Err(ConfigErrors(std::mem::take(errors))),
            }
        }
    }

    /// Parses what the checks accepted (an error here is a check missing).
    fn parse_values(&self) -> Result<Parsed, String> {
        let listeners = self
            .sip
            .listen
            .iter()
            .map(|l| parse_listen(l.get_ref()))
            .collect::<Result<_, _>>()?;
        let digest_algorithms = self
            .sip
            .digest_algorithms
            .iter()
            .map(|a| {
                sip::digest::Algorithm::parse(a.get_ref())
                    .ok_or_else(|| format!("unknown digest algorithm '{}'", a.get_ref()))
            })
            .collect::<Result<_, _>>()?;
        let ports = self.media.rtp_ports.get_ref();
        let rtp_ports = parse_range(ports).ok_or_else(|| format!("bad RTP range '{ports}'"))?;
        let srtp = accounts::SrtpPolicy::parse(self.media.srtp.get_ref())
            .ok_or_else(|| format!("bad media.srtp '{}'", self.media.srtp.get_ref()))?;
        let address = self.media.address.get_ref();
        let media_address = address
            .parse()
            .map_err(|_| format!("bad media.address '{address}'"))?;
        Ok(Parsed {
            listeners,
            rtp_ports,
            digest_algorithms,
            srtp,
            media_address,
        })
    }

    /// The digest algorithms offered, in order.
    pub fn digest_algorithms(&self) -> Vec<sip::digest::Algorithm> {
        self.parsed.digest_algorithms.clone()
    }

    /// The RTP port range.
    pub fn rtp_ports(&self) -> (u16, u16) {
        self.parsed.rtp_ports
    }

    /// The listeners.
    pub fn listeners(&self) -> &[Listen] {
        &self.parsed.listeners
    }

    /// Media threads: `media.threads`, or one per core.
    pub fn media_threads(&self) -> usize {
        self.media.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }

    /// The address media is sent from and advertised in SDP.
    pub fn media_address(&self) -> IpAddr {
        self.parsed.media_address
    }

    /// The SRTP policy of the switch.
    pub fn srtp(&self) -> accounts::SrtpPolicy {
        self.parsed.srtp
    }
}

/// Parses `udp:IP:PORT`, `tcp:IP:PORT` or `tls:IP:PORT`.
pub fn parse_listen(s: &str) -> Result<Listen, String> {
    let (proto, addr) = s
        .split_once(':')
        .ok_or_else(|| format!("listener '{s}' must be udp:IP:PORT, tcp:IP:PORT or tls:IP:PORT"))?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| format!("listener '{s}': '{addr}' is not IP:PORT"))?;
    match proto {
        "udp" => Ok(Listen::Udp(addr)),
        "tcp" => Ok(Listen::Tcp(addr)),
        "tls" => Ok(Listen::Tls(addr)),
        _ => Err(format!("listener '{s}': transport must be udp, tcp or tls")),
    }
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a >= 1024 && a < b).then_some((a, b))
}

#[cfg(test)]
mod tests;
