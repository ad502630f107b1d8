//! Where a phone's requests came from: the transport and its address. A
//! binding keeps it so that requests to the phone go back the same way; it
//! is written `udp:IP:PORT` (or `tcp:`, `tls:`) in the store and the API.

use serde::{Serialize, Serializer};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// A transport, without a connection (connections do not outlive a process).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowTransport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

/// A transport and the remote address on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The transport.
    pub transport: FlowTransport,
    /// The phone's address.
    pub addr: SocketAddr,
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.transport {
            FlowTransport::Udp => "udp",
            FlowTransport::Tcp => "tcp",
            FlowTransport::Tls => "tls",
        };
        write!(f, "{t}:{}", self.addr)
    }
}

impl FromStr for Flow {
    type Err = String;

    fn from_str(s: &str) -> Result<Flow, String> {
        let bad = || format!("'{s}' is not transport:address:port");
        let (t, addr) = s.split_once(':').ok_or_else(bad)?;
        let transport = match t {
            "udp" => FlowTransport::Udp,
            "tcp" => FlowTransport::Tcp,
            "tls" => FlowTransport::Tls,
            _ => return Err(bad()),
        };
        let addr = addr.parse().map_err(|_| bad())?;
        Ok(Flow { transport, addr })
    }
}

impl Serialize for Flow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_and_read_back() {
        for text in ["udp:127.0.0.1:5070", "tcp:[::1]:5060", "tls:10.0.0.1:5061"] {
            let flow: Flow = text.parse().unwrap();
            assert_eq!(flow.to_string(), text);
        }
        assert!("sctp:1.2.3.4:5".parse::<Flow>().is_err());
        assert!("udp:nowhere".parse::<Flow>().is_err());
    }
}
