//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), kept byte-exact.

use crate::grammar;
use crate::host::{parse_host_port, Host};
use crate::param::Params;
use std::fmt;

/// The scheme of a URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:`
    Tel,
    /// Any other scheme (lower-cased); the rest is kept opaque.
    Other(String),
}

/// A URI. The user part is kept escaped exactly as received, so a request
/// forwarded unchanged is byte-identical (`*71333%23` stays `%23`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    /// The scheme.
    pub scheme: Scheme,
    /// User part (escaped as received); for `tel:` the number.
    pub user: Option<String>,
    /// Password part (escaped as received).
    pub password: Option<String>,
    /// Host; `None` for `tel:` and opaque URIs.
    pub host: Option<Host>,
    /// Port.
    pub port: Option<u16>,
    /// URI parameters.
    pub params: Params,
    /// `?headers` part, raw, without the `?`.
    pub headers: Option<String>,
    /// Opaque remainder of a URI with an unknown scheme.
    pub opaque: Option<String>,
}

/// Why a URI failed to parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriError(pub &'static str);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Uri {
    /// A `sip:` URI with the given user and host.
    pub fn sip(user: Option<&str>, host: Host, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(str::to_string),
            password: None,
            host: Some(host),
            port,
            params: Params::default(),
            headers: None,
            opaque: None,
        }
    }

    /// Parses a URI from bytes.
    pub fn parse(s: &[u8]) -> Result<Uri, UriError> {
        if s.iter()
            .any(|&b| b <= b' ' || b == b'<' || b == b'>' || b == b'"' || b == 0x7f)
        {
            return Err(UriError(
                "URI contains whitespace, control characters or <>\"",
            ));
        }
        let colon = s
            .iter()
            .position(|&b| b == b':')
            .ok_or(UriError("URI has no scheme"))?;
        let scheme_raw = &s[..colon];
        let valid_scheme = scheme_raw.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme_raw
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !valid_scheme {
            return Err(UriError("bad URI scheme"));
        }
        let scheme_lc = String::from_utf8_lossy(scheme_raw).to_ascii_lowercase();
        let rest = &s[colon + 1..];
        match scheme_lc.as_str() {
            "sip" => parse_sip(Scheme::Sip, rest),
            "sips" => parse_sip(Scheme::Sips, rest),
            "tel" => parse_tel(rest),
            _ => Ok(Uri {
                scheme: Scheme::Other(scheme_lc),
                user: None,
                password: None,
                host: None,
                port: None,
                params: Params::default(),
                headers: None,
                opaque: Some(String::from_utf8_lossy(rest).into_owned()),
            }),
        }
    }

    /// Whether this is a `sip:` or `sips:` URI.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part with `%XX` escapes decoded (for routing decisions).
    pub fn user_decoded(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        grammar::percent_decode(user).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// The host as text, or an empty string.
    pub fn host_str(&self) -> String {
        self.host.as_ref().map(Host::to_string).unwrap_or_default()
    }
}

fn parse_sip(scheme: Scheme, s: &[u8]) -> Result<Uri, UriError> {
    // '@' cannot appear unescaped in params or headers, so the last '@' ends
    // the userinfo (which may itself contain '?', ';' and '/').
    let (userinfo, rest) = match s.iter().rposition(|&b| b == b'@') {
        Some(at) => (Some(&s[..at]), &s[at + 1..]),
        None => (None, s),
    };
    let qmark = rest.iter().position(|&b| b == b'?');
    let hostpart = &rest[..qmark.unwrap_or(rest.len())];
    let headers = qmark.map(|q| String::from_utf8_lossy(&rest[q + 1..]).into_owned());
    let (user, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.iter().position(|&b| b == b':') {
                Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                None => (ui, None),
            };
            if u.is_empty() || !u.iter().all(|&b| is_user_char(b)) || !valid_escapes(u) {
                return Err(UriError("bad user part in URI"));
            }
            (Some(lossy(u)), p.map(lossy))
        }
    };
    let (hostport, params) = match hostpart.iter().position(|&b| b == b';') {
        Some(semi) => (&hostpart[..semi], Some(&hostpart[semi + 1..])),
        None => (hostpart, None),
    };
    let (host, port) = parse_host_port(hostport).ok_or(UriError("bad host or port in URI"))?;
    let params = match params {
        Some(p) => Params::parse(p).ok_or(UriError("bad URI parameter"))?,
        None => Params::default(),
    };
    Ok(Uri {
        scheme,
        user,
        password,
        host: Some(host),
        port,
        params,
        headers,
        opaque: None,
    })
}

fn parse_tel(s: &[u8]) -> Result<Uri, UriError> {
    let (number, params) = match s.iter().position(|&b| b == b';') {
        Some(semi) => (&s[..semi], Some(&s[semi + 1..])),
        None => (s, None),
    };
    let valid = !number.is_empty()
        && number
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b"+-.()*#".contains(&b));
    if !valid {
        return Err(UriError("bad tel: number"));
    }
    let params = match params {
        Some(p) => Params::parse(p).ok_or(UriError("bad tel: parameter"))?,
        None => Params::default(),
    };
    Ok(Uri {
        scheme: Scheme::Tel,
        user: Some(lossy(number)),
        password: None,
        host: None,
        port: None,
        params,
        headers: None,
        opaque: None,
    })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_user_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()%&=+$,;?/".contains(&b)
}

fn valid_escapes(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            match s.get(i + 1..i + 3) {
                Some(h) if h.iter().all(u8::is_ascii_hexdigit) => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scheme {
            Scheme::Sip => f.write_str("sip:")?,
            Scheme::Sips => f.write_str("sips:")?,
            Scheme::Tel => f.write_str("tel:")?,
            Scheme::Other(s) => {
                return write!(f, "{s}:{}", self.opaque.as_deref().unwrap_or(""));
            }
        }
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            if self.host.is_some() {
                f.write_str("@")?;
            }
        }
        if let Some(host) = &self.host {
            write!(f, "{host}")?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) -> Uri {
        let u = Uri::parse(s.as_bytes()).unwrap();
        assert_eq!(u.to_string(), s);
        u
    }

    #[test]
    fn feature_codes_keep_their_escapes() {
        let u = roundtrip("sip:*71333%23@pbx.example");
        assert_eq!(u.user_decoded().as_deref(), Some("*71333#"));
    }

    #[test]
    fn full_sip_uri() {
        let u = roundtrip("sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x");
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.port, Some(5061));
        assert!(u.params.has("lr"));
        assert_eq!(u.headers.as_deref(), Some("subject=x"));
    }

    #[test]
    fn users_with_semicolons_and_escaped_at() {
        let u = roundtrip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        let u = roundtrip("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(u.user_decoded().as_deref(), Some("sips:user@example.com"));
    }

    #[test]
    fn users_with_question_marks_and_passwords() {
        let u = roundtrip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(
            u.user.as_deref(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert!(u.headers.is_none());
        let u = roundtrip("sip:user@example.com?Route=%3Csip:example.com%3E");
        assert_eq!(u.headers.as_deref(), Some("Route=%3Csip:example.com%3E"));
    }

    #[test]
    fn tel_and_other_schemes() {
        let u = roundtrip("tel:+15550100;phone-context=example.com");
        assert_eq!(u.scheme, Scheme::Tel);
        let u = roundtrip("isbn:2983792873");
        assert_eq!(u.scheme, Scheme::Other("isbn".into()));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "sip:user@exa mple.com",
            "sip:",
            "nocolon",
            "sip:us%zzer@host",
            "sip:user@host:port",
            "<sip:a@b>",
        ] {
            assert!(Uri::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
