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
    /// Whether the transport is reliable (no retransmissions).
    pub fn is_reliable(&self) -> bool {
        matches!(self.transport, Transport::Tcp(_))
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Transport::Udp => write!(f, "udp:{}", self.addr),
            Transport::Tcp(_) => write!(f, "tcp:{}", self.addr),
        }
    }
}
