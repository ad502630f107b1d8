//! What reaches the core task: its inputs (a datagram, a framed message, a
//! connection opened or closed, a question from the admin API, a media
//! report) and the answers to questions. Its own module, so the shell, the
//! transports, the media and store threads and the API all depend on it and
//! not on each other.

use accounts::{Binding, Directory};
use bytes::Bytes;
use rustls_pki_types::CertificateDer;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use switch::{Peer, Stats};
use tokio::sync::{mpsc, oneshot};

/// A connection as the core task sees it.
pub struct Connection {
    /// Bytes to write.
    pub writer: mpsc::Sender<Bytes>,
    /// Set when the core trusts the connection (no idle timeout).
    pub trusted: Arc<AtomicBool>,
    /// The client certificate a TLS peer presented (already verified
    /// against `tls.client_ca`).
    pub client_cert: Option<CertificateDer<'static>>,
}

/// Inputs of the core task.
pub enum Event {
    /// A UDP datagram, and when it was read from its socket (the core
    /// refuses new calls that waited too long for it).
    Datagram(Peer, Bytes, std::time::Instant),
    /// A message framed from a TCP stream, and when it was framed.
    Message(Peer, Box<sip::Message>, std::time::Instant),
    /// A TCP stream that failed to frame.
    ParseError(Peer, sip::ParseError),
    /// Raw bytes to send (TCP keep-alive pong).
    Send(Peer, Bytes),
    /// A TCP or TLS connection opened, with its writer.
    TcpOpen(u64, Connection),
    /// A TCP or TLS connection closed.
    TcpClosed(u64),
    /// New accounts from the store.
    Directory(Box<Directory>),
    /// A question from the admin API.
    Query(Query),
    /// Something the media engine reports.
    Media(switch::MediaEvent),
    /// The shared store's answer to a parking claim (by its id): won.
    Claimed(u64, bool),
    /// The shared store's answer to a parking lookup (by its id): the
    /// SIP address of the other node holding the position.
    Located(u64, Option<std::net::SocketAddr>),
    /// The authorization service's verdict on a question (by its id).
    Verdict(u64, switch::external_authorization::Verdict),
    /// Stop: save every pending change of the calls and end the core task.
    Stop,
}

/// Questions the admin API asks the core.
pub enum Query {
    /// Current bindings.
    Bindings(oneshot::Sender<Vec<Binding>>),
    /// Counters and sizes.
    Status(oneshot::Sender<Status>),
    /// Calls in the parking lot.
    Parked(oneshot::Sender<Vec<switch::ParkedInfo>>),
    /// What a metrics scrape needs of the core.
    Metrics(oneshot::Sender<MetricsSnapshot>),
    /// The live calls.
    Calls(oneshot::Sender<Vec<switch::LiveCall>>),
    /// Move a parked call of `tenant` from one position (label) to another.
    MoveParked {
        /// Tenant.
        tenant: String,
        /// Position label now (`333`, `*7250`).
        from: String,
        /// Position label wanted.
        to: String,
        /// The answer.
        reply: oneshot::Sender<Result<switch::ParkedInfo, switch::MoveRefusal>>,
    },
    /// Send a parked call of `tenant` to an extension (its phones ring).
    SendParked {
        /// Tenant.
        tenant: String,
        /// Position label (`333`, `*7250`).
        position: String,
        /// The extension to ring.
        extension: String,
        /// The answer: the call's id.
        reply: oneshot::Sender<Result<u64, switch::SendRefusal>>,
    },
    /// Hang up a call (of this tenant only, if one is named); whether it
    /// was there to hang up.
    HangUp {
        /// The call.
        call: u64,
        /// The token's tenant, if it has one.
        tenant: Option<String>,
        /// The answer.
        reply: oneshot::Sender<bool>,
    },
}

/// What a metrics scrape needs: the status, each tenant's load, and the
/// media thread's published figures.
#[derive(Clone, Debug)]
pub struct MetricsSnapshot {
    /// Counters and sizes.
    pub status: Status,
    /// Parked calls and registrations per tenant.
    pub tenants: Vec<switch::TenantLoad>,
    /// Parties hearing music.
    pub music_streams: usize,
    /// RTP packets accepted from parties.
    pub rtp_in: u64,
    /// RTP packets sent to parties.
    pub rtp_out: u64,
    /// Events stream clients missed (filled in by the API).
    pub events_dropped: u64,
    /// Events the webhooks delivered (filled in by the API).
    pub webhook_delivered: u64,
    /// Events the webhooks dropped (filled in by the API).
    pub webhook_dropped: u64,
}

/// A snapshot for the admin API: the core's counters and current sizes.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Status {
    /// Message and registration counters.
    #[serde(flatten)]
    pub stats: Stats,
    /// Live bindings.
    pub bindings: usize,
    /// Live server transactions (compact records of answered ones included).
    pub server_transactions: usize,
    /// Live client transactions (compact records of answered ones included).
    pub client_transactions: usize,
    /// What the transactions hold, bytes (the layer's estimate; the
    /// budget is `sip.max_transaction_memory_mb`).
    pub transaction_bytes: usize,
    /// Open TCP connections.
    pub tcp_connections: usize,
    /// Live calls.
    pub calls: usize,
    /// RTP ports the switch has handed out.
    pub rtp_ports_in_use: usize,
    /// Media endpoints open in the media thread.
    pub media_endpoints: usize,
    /// Calls in parking lots.
    pub parked: usize,
    /// Busy-lamp (and presence) subscriptions.
    pub subscriptions: usize,
    /// Store writes dropped because the store thread's queue was full.
    pub store_writes_dropped: u64,
}
