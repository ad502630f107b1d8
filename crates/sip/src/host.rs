//! Hosts of SIP URIs and Via sent-by: domain names, IPv4, bracketed IPv6.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host as it appears in a URI or Via header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name (kept as received; compare with [`Host::matches`]).
    Domain(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (printed in brackets).
    V6(Ipv6Addr),
}

impl Host {
    /// Parses a host: `[v6]`, dotted IPv4, or a hostname.
    pub fn parse(s: &[u8]) -> Option<Host> {
        if s.first() == Some(&b'[') {
            let inner = s.strip_prefix(b"[")?.strip_suffix(b"]")?;
            let text = std::str::from_utf8(inner).ok()?;
            return text.parse().ok().map(Host::V6);
        }
        let text = std::str::from_utf8(s).ok()?;
        if text.is_empty() {
            return None;
        }
        if let Ok(v4) = text.parse::<Ipv4Addr>() {
            return Some(Host::V4(v4));
        }
        let valid = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        valid.then(|| Host::Domain(text.to_string()))
    }

    /// The IP address, if the host is a literal address.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// Case-insensitive comparison with a textual host (domain or address).
    pub fn matches(&self, other: &str) -> bool {
        match (self, Host::parse(other.as_bytes())) {
            (Host::Domain(a), Some(Host::Domain(b))) => a.eq_ignore_ascii_case(&b),
            (a, Some(b)) => *a == b,
            _ => false,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Host {
        match ip {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Splits `host[:port]` (IPv6 in brackets) into host and port.
pub fn parse_host_port(s: &[u8]) -> Option<(Host, Option<u16>)> {
    let (host, port) = if s.first() == Some(&b'[') {
        let close = s.iter().position(|&b| b == b']')?;
        let rest = &s[close + 1..];
        let port = match rest {
            [] => None,
            [b':', digits @ ..] => Some(digits),
            _ => return None,
        };
        (&s[..=close], port)
    } else {
        match s.iter().rposition(|&b| b == b':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(d) => Some(parse_port(d)?),
    };
    Some((Host::parse(host)?, port))
}

fn parse_port(d: &[u8]) -> Option<u16> {
    if d.is_empty() || d.len() > 5 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(d).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(
            parse_host_port(b"example.com:5060"),
            Some((Host::Domain("example.com".into()), Some(5060)))
        );
        let (h, p) = parse_host_port(b"[2001:db8::10]:5070").unwrap();
        assert_eq!(h.to_string(), "[2001:db8::10]");
        assert_eq!(p, Some(5070));
        assert_eq!(
            parse_host_port(b"192.0.2.1").unwrap().0,
            Host::V4("192.0.2.1".parse().unwrap())
        );
        assert!(parse_host_port(b"host:99999").is_none());
        assert!(parse_host_port(b"ho st").is_none());
        assert!(parse_host_port(b"[2001:db8::10").is_none());
        assert!(Host::Domain("Example.COM".into()).matches("example.com"));
    }
}
