//! Via header values (RFC 3261 §20.42, RFC 3581 rport).

use crate::grammar;
use crate::host::{parse_host_port, Host};
use crate::param::Params;
use std::fmt;

/// The magic cookie that marks an RFC 3261 branch.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// One Via value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Transport token (`UDP`, `TCP`, ...), upper-cased.
    pub transport: String,
    /// sent-by host.
    pub host: Host,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters (branch, received, rport, ...).
    pub params: Params,
}

impl Via {
    /// Parses one Via value (one element of the comma-separated list).
    pub fn parse(s: &[u8]) -> Result<Via, &'static str> {
        let s = grammar::trim(s);
        let mut parts = s.splitn(3, |&b| b == b'/');
        let proto = grammar::trim(parts.next().ok_or("empty Via")?);
        let version = grammar::trim(parts.next().ok_or("Via lacks protocol version")?);
        let rest = grammar::trim(parts.next().ok_or("Via lacks transport")?);
        if !proto.eq_ignore_ascii_case(b"SIP") || version != b"2.0" {
            return Err("Via protocol is not SIP/2.0");
        }
        let split = rest
            .iter()
            .position(|&b| grammar::is_ws(b))
            .ok_or("Via lacks sent-by")?;
        let transport = &rest[..split];
        if !grammar::is_token(transport) {
            return Err("bad Via transport");
        }
        let sent = grammar::trim(&rest[split..]);
        let (hostport, params) = match sent.iter().position(|&b| b == b';') {
            Some(i) => (grammar::trim(&sent[..i]), Some(&sent[i + 1..])),
            None => (sent, None),
        };
        // COLON is SWS ":" SWS: tolerate white space around the port separator.
        let compact: Vec<u8> = hostport
            .iter()
            .copied()
            .filter(|&b| !grammar::is_ws(b))
            .collect();
        let (host, port) = parse_host_port(&compact).ok_or("bad Via sent-by")?;
        let params = match params {
            Some(p) => Params::parse(p).ok_or("bad Via parameter")?,
            None => Params::default(),
        };
        Ok(Via {
            transport: String::from_utf8_lossy(transport).to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// Whether the branch carries the RFC 3261 magic cookie.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(BRANCH_COOKIE))
    }

    /// Whether the transport is reliable (TCP, TLS, SCTP, WS).
    pub fn is_reliable(&self) -> bool {
        self.transport != "UDP"
    }

    /// `host:port` of the sent-by, port defaulted to 5060.
    pub fn sent_by(&self) -> String {
        format!("{}:{}", self.host, self.port.unwrap_or(5060))
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_lws_and_params() {
        let v = Via::parse(b"SIP / 2.0 / UDP first.example.com: 4000;ttl=16 ;maddr=224.2.0.1 ;branch=z9hG4bKa7c6a8dlze.1").unwrap();
        assert_eq!(v.port, Some(4000));
        assert_eq!(v.params.value("maddr"), Some("224.2.0.1"));
        let v =
            Via::parse(b"SIP  /2.0/ UDP 192.0.2.1:5060 ;received=192.0.2.2;branch=z9hG4bK1;rport")
                .unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.port, Some(5060));
        assert!(v.has_rfc3261_branch());
        assert!(v.params.has("rport"));
        let v = Via::parse(b"SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKx").unwrap();
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKx"
        );
    }

    #[test]
    fn rejects_broken_vias() {
        assert!(Via::parse(b"SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse(b"SIP/2.0/UDP").is_err());
        assert!(Via::parse(b"SIP/3.0/UDP host").is_err());
    }
}
