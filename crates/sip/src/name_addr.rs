//! `name-addr` / `addr-spec` values of From, To, Contact, Route and similar headers.

use crate::grammar;
use crate::param::Params;
use crate::uri::Uri;
use std::fmt;

/// A display name, a URI and header parameters (such as `tag` or `expires`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name (unquoted).
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters after the URI.
    pub params: Params,
}

impl NameAddr {
    /// A bare name-addr around a URI.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    /// Parses one value. Errors name the problem.
    pub fn parse(s: &[u8]) -> Result<NameAddr, &'static str> {
        let s = grammar::trim(s);
        if s.is_empty() {
            return Err("empty address");
        }
        let (display, rest) = if s[0] == b'"' {
            let (name, used) =
                grammar::parse_quoted(s).ok_or("unterminated quoted display name")?;
            let rest = grammar::trim(&s[used..]);
            if rest.first() != Some(&b'<') {
                return Err("display name not followed by <URI>");
            }
            (Some(name), rest)
        } else if let Some(lt) = s.iter().position(|&b| b == b'<') {
            let name = grammar::trim(&s[..lt]);
            let tokens_ok = name
                .split(|&b| grammar::is_ws(b))
                .filter(|t| !t.is_empty())
                .all(grammar::is_token);
            if !tokens_ok {
                return Err("display name must be tokens or a quoted string");
            }
            let name = (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
            (name, &s[lt..])
        } else {
            return parse_addr_spec(s);
        };
        let close = rest.iter().position(|&b| b == b'>').ok_or("missing '>'")?;
        let uri = Uri::parse(grammar::trim(&rest[1..close])).map_err(|e| e.0)?;
        let params = parse_params(&rest[close + 1..])?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }
}

fn parse_addr_spec(s: &[u8]) -> Result<NameAddr, &'static str> {
    // Without <>, parameters after the URI belong to the header (RFC 3261 §20).
    let semi = s.iter().position(|&b| b == b';').unwrap_or(s.len());
    let uri_raw = &s[..semi];
    if uri_raw.contains(&b'?') || uri_raw.contains(&b',') {
        return Err("URI with headers or commas must be enclosed in <>");
    }
    let uri = Uri::parse(grammar::trim(uri_raw)).map_err(|e| e.0)?;
    let params = parse_params(&s[semi..])?;
    Ok(NameAddr {
        display: None,
        uri,
        params,
    })
}

fn parse_params(s: &[u8]) -> Result<Params, &'static str> {
    let s = grammar::trim(s);
    if s.is_empty() {
        return Ok(Params::default());
    }
    let inner = s
        .strip_prefix(b";")
        .ok_or("unexpected text after address")?;
    Params::parse(inner).ok_or("bad header parameter")
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", grammar::quote(d))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// A Contact header value: `*` or a list of addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactList {
    /// `Contact: *` (remove all bindings).
    Star,
    /// One or more addresses.
    Addrs(Vec<NameAddr>),
}

impl ContactList {
    /// Parses all Contact values (already split by commas).
    pub fn parse(values: &[&[u8]]) -> Result<ContactList, &'static str> {
        if values.len() == 1 && grammar::trim(values[0]) == b"*" {
            return Ok(ContactList::Star);
        }
        values
            .iter()
            .map(|v| NameAddr::parse(v))
            .collect::<Result<Vec<_>, _>>()
            .map(ContactList::Addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = NameAddr::parse(b"\"John \\\"JD\\\" Doe\" <sip:333@acme.example>;tag=abc").unwrap();
        assert_eq!(a.display.as_deref(), Some("John \"JD\" Doe"));
        assert_eq!(a.tag(), Some("abc"));
        let b = NameAddr::parse(b"sip:caller@example.net;tag=34525").unwrap();
        assert_eq!(b.tag(), Some("34525"));
        assert!(b.uri.params.0.is_empty());
        let c = NameAddr::parse(b"Bob<sip:bob@b>").unwrap();
        assert_eq!(c.display.as_deref(), Some("Bob"));
        assert_eq!(c.to_string(), "\"Bob\" <sip:bob@b>");
    }

    #[test]
    fn rejects_bad_display_names() {
        assert!(NameAddr::parse(b"Bell, Alexander <sip:a@b>").is_err());
        assert!(NameAddr::parse(b"\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse(b"<sip:a@b>;;").is_err());
    }

    #[test]
    fn contact_star() {
        assert_eq!(ContactList::parse(&[b"*"]).unwrap(), ContactList::Star);
    }
}
