//! Where a message came from and where an answer goes.

use std::fmt;
use std::net::SocketAddr;

/// A transport flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP on the switch's socket.
    Udp,
    /// A TCP connection, by the shell's connection id.
    Tcp(u64),
    /// A TLS connection (over TCP), by the shell's connection id.
    Tls(u64),
}

impl Transport {
    /// The shell's id of the connection, for a connection.
    pub fn connection(self) -> Option<u64> {
        match self {
            Transport::Udp => None,
            Transport::Tcp(id) | Transport::Tls(id) => Some(id),
        }
    }

    /// The transport's name in a `Via` (RFC 3261 §18).
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp(_) => "TCP",
            Transport::Tls(_) => "TLS",
        }
    }
}

/// A remote peer: transport flow and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Transport flow.
    pub transport: Transport,
    /// Remote address.
    pub addr: SocketAddr,
}

impl Peer {
    /// The flow without its connection (what a binding keeps).
    pub fn flow(&self) -> accounts::Flow {
        use accounts::FlowTransport;
        let transport = match self.transport {
            Transport::Udp => FlowTransport::Udp,
            Transport::Tcp(_) => FlowTransport::Tcp,
            Transport::Tls(_) => FlowTransport::Tls,
        };
        accounts::Flow {
            transport,
            addr: self.addr,
        }
    }

    /// Whether the transport is reliable (no retransmissions).
    pub fn is_reliable(&self) -> bool {
        self.transport.connection().is_some()
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Transport::Udp => write!(f, "udp:{}", self.addr),
            Transport::Tcp(_) => write!(f, "tcp:{}", self.addr),
            Transport::Tls(_) => write!(f, "tls:{}", self.addr),
        }
    }
}
