//! Settings of the switch core; every limit is a named value with a default.

use std::time::Duration;

/// Core settings.
#[derive(Clone, Debug)]
pub struct SwitchConfig {
    /// Secret for nonces and tags (shared by nodes that verify each other's nonces).
    pub secret: Vec<u8>,
    /// Digest algorithms offered, most preferred first (one challenge each).
    /// MD5 only by default: baresip 1.0 fails a REGISTER outright when any
    /// challenge names SHA-256, and SIPp 3.6 answers only the first one.
    pub digest_algorithms: Vec<sip::digest::Algorithm>,
    /// Seconds a nonce stays valid.
    pub nonce_lifetime_s: u64,
    /// First nonce serial (random per process in production).
    pub nonce_seed: u64,
    /// Registration interval bounds and default, seconds.
    pub min_expires: u32,
    /// Longest registration granted.
    pub max_expires: u32,
    /// Interval granted when the UA names none.
    pub default_expires: u32,
    /// Most contacts one extension may register (oldest is replaced).
    pub max_contacts_per_extension: usize,
    /// Most memory the transaction layer may hold, bytes (its estimate,
    /// [`sip::transaction::Layer::bytes`]); beyond, new requests get a
    /// stateless 503. Only trunks, authenticated requests and known
    /// dialogs make transactions. A budget rather than a count: most
    /// transactions at a high call rate are compact records that wait out
    /// RFC 3261's 32 s, and their number grows with the rate.
    pub max_transaction_bytes: usize,
    /// Most server transactions in progress (not yet answered with a final
    /// response) one source IP may have (trunks and edges are exempt);
    /// beyond, its new requests get a stateless 503.
    pub max_transactions_per_source: usize,
    /// Seconds in the `Retry-After` of a 503 at a limit.
    pub retry_after_s: u32,
    /// Longest a new INVITE or SUBSCRIBE may have waited between its
    /// arrival and the switch reading it; later ones get a 503 (`None`:
    /// never). A little shorter than the cluster edge's wait for a node's
    /// first answer (2 s), so an edge that has given up on this node and
    /// asked another never sees two nodes act on one request, yet a
    /// request that would be answered in time is not moved.
    pub max_request_wait: Option<Duration>,
    /// Password-guessing limits.
    pub guessing: crate::guessing::GuessLimits,
    /// Failed retrievals (an empty position) one extension may make from
    /// one address per minute before every retrieval of theirs is refused
    /// for the rest of the minute (guessing random codes).
    pub max_retrieve_failures_per_minute: u32,
    /// Extension-and-address pairs whose retrieval failures are tracked at
    /// most (the table a stranger could grow is bounded).
    pub max_retrieve_failure_sources: usize,
    /// The telephone-event (RFC 4733) payload type the switch offers.
    pub telephone_event_pt: u8,
    /// Tenant used when a request names the switch by IP address.
    pub default_tenant: Option<String>,
    /// `Server` / `User-Agent` header value.
    pub server_name: String,
    /// Parser limits.
    pub limits: sip::Limits,
    /// RFC 3261 T1/T2/T4.
    pub timers: sip::transaction::Timers,
    /// How often expired bindings are swept.
    pub sweep_interval: Duration,
    /// The switch's SIP address (Via, Contact of its own requests).
    pub local_sip: std::net::SocketAddr,
    /// The address in the switch's SDP.
    pub media_address: std::net::IpAddr,
    /// RTP port range (inclusive).
    pub rtp_ports: (u16, u16),
    /// How long a call may ring.
    pub no_answer_timeout: Duration,
    /// How long changed calls wait before their snapshots are saved: the
    /// most a crash can lose. Changes within it are saved once (a call
    /// answered within it is never saved ringing); zero saves after every
    /// input.
    pub persist_interval: Duration,
    /// Session interval the switch asks for (RFC 4028).
    pub session_expires: Duration,
    /// Shortest session interval accepted (Min-SE; 422 below).
    pub min_se: Duration,
    /// The switch's SIP-over-TLS address, if it listens for TLS (Via,
    /// Contact towards phones on TLS).
    pub local_tls: Option<std::net::SocketAddr>,
    /// SRTP for tenants that set none of their own.
    pub srtp: accounts::SrtpPolicy,
    /// Seed of the SRTP master keys the switch makes (random per process;
    /// see `KeyMint`).
    pub srtp_seed: [u8; 32],
    /// How often a party that refreshes no session timer is probed with
    /// in-dialog OPTIONS (`None`: never).
    pub probe_interval: Option<Duration>,
    /// How long a probe may go unanswered before the party counts as gone
    /// (at most `probe_interval`).
    pub probe_timeout: Duration,
    /// How long one of our INVITEs may go without any reply (not even
    /// `100 Trying`) before its phone counts as unreachable and the fork
    /// fails with 408 (a dead parker's comeback goes on to the fallback).
    pub fork_reply_timeout: Duration,
    /// Most event subscriptions (busy lamps) the switch holds; beyond, new
    /// ones get 503.
    pub max_subscriptions: usize,
    /// Most subscriptions one extension holds (a phone with expansion
    /// modules watches a few hundred keys at most); beyond, 403.
    pub max_subscriptions_per_extension: usize,
    /// Shortest subscription granted, seconds (423 below).
    pub min_subscription_s: u32,
    /// Longest subscription granted, and the default, seconds.
    pub max_subscription_s: u32,
    /// Whether the operator's authorization service decides calls, parks,
    /// retrievals and transfers (after the embedded rules), and how.
    pub authorization: Option<crate::external_authorization::AuthorizationPolicy>,
    /// Whether the parking lot is shared with other nodes (a PostgreSQL
    /// store): a park first claims its position there.
    pub shared_lot: bool,
    /// The cluster's SIP edges: what one of these says in
    /// `X-Parkline-Source` is where its request came from.
    pub edges: Vec<std::net::SocketAddr>,
}

impl Default for SwitchConfig {
    fn default() -> SwitchConfig {
        SwitchConfig {
            secret: b"parkline-default-secret-change-me".to_vec(),
            digest_algorithms: vec![sip::digest::Algorithm::Md5],
            nonce_lifetime_s: 300,
            nonce_seed: 0,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts_per_extension: 10,
            max_transaction_bytes: 512 << 20,
            max_transactions_per_source: 5_000,
            retry_after_s: 5,
            max_request_wait: Some(Duration::from_millis(1500)),
            guessing: crate::guessing::GuessLimits::default(),
            default_tenant: None,
            server_name: "Parkline".to_string(),
            limits: sip::Limits::default(),
            timers: sip::transaction::Timers::default(),
            sweep_interval: Duration::from_secs(1),
            local_sip: std::net::SocketAddr::from(([127, 0, 0, 1], 5060)),
            media_address: std::net::IpAddr::from([127, 0, 0, 1]),
            rtp_ports: (20000, 20999),
            no_answer_timeout: Duration::from_secs(30),
            session_expires: Duration::from_secs(1800),
            persist_interval: Duration::from_millis(20),
            max_retrieve_failures_per_minute: 10,
            max_retrieve_failure_sources: 100_000,
            telephone_event_pt: 101,
            min_se: Duration::from_secs(90),
            local_tls: None,
            srtp: accounts::SrtpPolicy::Optional,
            srtp_seed: [0; 32],
            probe_interval: Some(Duration::from_secs(60)),
            probe_timeout: Duration::from_secs(8),
            fork_reply_timeout: Duration::from_secs(5),
            max_subscriptions: 100_000,
            max_subscriptions_per_extension: 250,
            min_subscription_s: 60,
            authorization: None,
            shared_lot: false,
            edges: Vec::new(),
            max_subscription_s: 3600,
        }
    }
}
