//! Header fields: names (long and compact forms) and the ordered header list.
//! Values are kept as raw bytes (unfolded) so unknown headers pass through unchanged.

use bytes::Bytes;

/// Header names the switch knows, with their RFC 3261 §7.3.3 compact forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Name {
    Via,
    From,
    To,
    CallId,
    CSeq,
    ContentLength,
    ContentType,
    Contact,
    MaxForwards,
    Expires,
    MinExpires,
    MinSE,
    Route,
    RecordRoute,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    AuthenticationInfo,
    Require,
    ProxyRequire,
    Supported,
    Unsupported,
    Allow,
    Accept,
    Subject,
    Event,
    ReferTo,
    ReferredBy,
    UserAgent,
    Server,
    Date,
    ContentEncoding,
    SessionExpires,
    Reason,
    PAssertedIdentity,
    RetryAfter,
    SubscriptionState,
    AllowEvents,
    Replaces,
    /// `X-Parkline-Node`: the proof a request comes from another node of
    /// the same cluster, on a phone's behalf.
    ParklineNode,
    /// `Path` (RFC 3327): the proxies a registration came through.
    Path,
    /// `X-Parkline-Source`: the address a request reached the cluster's
    /// edge from, as `IP:port`; trusted only from a configured edge.
    ParklineSource,
}

impl Name {
    /// The canonical long form.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::Via => "Via",
            Name::From => "From",
            Name::To => "To",
            Name::CallId => "Call-ID",
            Name::CSeq => "CSeq",
            Name::ContentLength => "Content-Length",
            Name::ContentType => "Content-Type",
            Name::Contact => "Contact",
            Name::MaxForwards => "Max-Forwards",
            Name::Expires => "Expires",
            Name::MinExpires => "Min-Expires",
            Name::MinSE => "Min-SE",
            Name::Route => "Route",
            Name::RecordRoute => "Record-Route",
            Name::Authorization => "Authorization",
            Name::ProxyAuthorization => "Proxy-Authorization",
            Name::WwwAuthenticate => "WWW-Authenticate",
            Name::ProxyAuthenticate => "Proxy-Authenticate",
            Name::AuthenticationInfo => "Authentication-Info",
            Name::Require => "Require",
            Name::ProxyRequire => "Proxy-Require",
            Name::Supported => "Supported",
            Name::Unsupported => "Unsupported",
            Name::Allow => "Allow",
            Name::Accept => "Accept",
            Name::Subject => "Subject",
            Name::Event => "Event",
            Name::ReferTo => "Refer-To",
            Name::ReferredBy => "Referred-By",
            Name::UserAgent => "User-Agent",
            Name::Server => "Server",
            Name::Date => "Date",
            Name::ContentEncoding => "Content-Encoding",
            Name::SessionExpires => "Session-Expires",
            Name::Reason => "Reason",
            Name::PAssertedIdentity => "P-Asserted-Identity",
            Name::RetryAfter => "Retry-After",
            Name::SubscriptionState => "Subscription-State",
            Name::AllowEvents => "Allow-Events",
            Name::Replaces => "Replaces",
            Name::ParklineNode => "X-Parkline-Node",
            Name::Path => "Path",
            Name::ParklineSource => "X-Parkline-Source",
        }
    }

    /// The compact form, if the header has one.
    pub fn compact(self) -> Option<&'static str> {
        Some(match self {
            Name::Via => "v",
            Name::From => "f",
            Name::To => "t",
            Name::CallId => "i",
            Name::ContentLength => "l",
            Name::ContentType => "c",
            Name::Contact => "m",
            Name::Subject => "s",
            Name::Supported => "k",
            Name::Event => "o",
            Name::ReferTo => "r",
            Name::ReferredBy => "b",
            Name::ContentEncoding => "e",
            Name::SessionExpires => "x",
            Name::AllowEvents => "u",
            _ => return None,
        })
    }

    /// Whether a raw header name denotes this header (case-insensitive, compact too).
    pub fn matches(self, raw: &[u8]) -> bool {
        raw.eq_ignore_ascii_case(self.as_str().as_bytes())
            || self
                .compact()
                .is_some_and(|c| raw.eq_ignore_ascii_case(c.as_bytes()))
    }
}

/// One header field: the name as received and the unfolded, trimmed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Name as received (or canonical for headers the switch adds).
    pub name: Bytes,
    /// Value, unfolded and trimmed.
    pub value: Bytes,
}

/// The ordered list of a message's headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// First value of a known header.
    pub fn get(&self, name: Name) -> Option<&Bytes> {
        self.0
            .iter()
            .find(|h| name.matches(&h.name))
            .map(|h| &h.value)
    }

    /// First value of a known header as text (lossy).
    pub fn get_str(&self, name: Name) -> Option<String> {
        self.get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Every header line of a known header, in order.
    pub fn get_all(&self, name: Name) -> impl Iterator<Item = &Bytes> {
        self.0
            .iter()
            .filter(move |h| name.matches(&h.name))
            .map(|h| &h.value)
    }

    /// Every comma-separated value of a known header, across all its lines.
    pub fn values(&self, name: Name) -> Vec<&[u8]> {
        self.get_all(name)
            .flat_map(|v| crate::grammar::split_top_level(v, b','))
            .map(crate::grammar::trim)
            .collect()
    }

    /// Number of header lines with this name.
    pub fn count(&self, name: Name) -> usize {
        self.get_all(name).count()
    }

    /// First value of a header by arbitrary name (case-insensitive).
    pub fn get_raw(&self, name: &str) -> Option<&Bytes> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| &h.value)
    }

    /// Appends a header with its canonical name.
    pub fn push(&mut self, name: Name, value: impl Into<Bytes>) {
        self.0.push(Header {
            name: Bytes::from_static(name.as_str().as_bytes()),
            value: value.into(),
        });
    }

    /// Inserts a header at the front (e.g. a new top Via).
    pub fn push_front(&mut self, name: Name, value: impl Into<Bytes>) {
        let h = Header {
            name: Bytes::from_static(name.as_str().as_bytes()),
            value: value.into(),
        };
        self.0.insert(0, h);
    }

    /// Replaces every line of a header by one value (or appends it).
    pub fn set(&mut self, name: Name, value: impl Into<Bytes>) {
        let value = value.into();
        match self.0.iter().position(|h| name.matches(&h.name)) {
            Some(i) => {
                self.0[i].value = value;
                let mut seen = 0;
                self.0.retain(|h| {
                    let m = name.matches(&h.name);
                    seen += usize::from(m);
                    !m || seen == 1
                });
            }
            None => self.push(name, value),
        }
    }

    /// Removes every line of a header.
    pub fn remove(&mut self, name: Name) {
        self.0.retain(|h| !name.matches(&h.name));
    }

    /// Copies every line of `name` from `other`, in order.
    pub fn copy_from(&mut self, other: &Headers, name: Name) {
        for h in other.0.iter().filter(|h| name.matches(&h.name)) {
            self.0.push(h.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &'static str, value: &'static str) -> Header {
        Header {
            name: Bytes::from_static(name.as_bytes()),
            value: Bytes::from_static(value.as_bytes()),
        }
    }

    #[test]
    fn compact_and_case_insensitive_lookup() {
        let hs = Headers(vec![
            h("v", "SIP/2.0/UDP a"),
            h("VIA", "SIP/2.0/UDP b, SIP/2.0/UDP c"),
            h("l", "0"),
        ]);
        assert_eq!(hs.count(Name::Via), 2);
        assert_eq!(hs.values(Name::Via).len(), 3);
        assert_eq!(hs.get(Name::ContentLength).unwrap().as_ref(), b"0");
    }

    #[test]
    fn set_replaces_all_lines() {
        let mut hs = Headers(vec![h("Expires", "1"), h("Expires", "2")]);
        hs.set(Name::Expires, "3");
        assert_eq!(hs.count(Name::Expires), 1);
        assert_eq!(hs.get(Name::Expires).unwrap().as_ref(), b"3");
    }
}
