//! Generic `;name=value` parameters of URIs and header values.

use std::fmt;

/// One parameter. Names compare case-insensitively; the value is kept as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Parameter name as received.
    pub name: String,
    /// Value, if the parameter had `=value` (quoted values keep their quotes).
    pub value: Option<String>,
}

impl Param {
    /// A parameter with a value.
    pub fn new(name: &str, value: Option<&str>) -> Param {
        Param {
            name: name.to_string(),
            value: value.map(str::to_string),
        }
    }
}

/// An ordered list of parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// Parses `;a=b;c` (the leading `;` already removed) from `s`, split at
    /// top-level `;`. Empty parameters (`;;`) and bad names are errors.
    pub fn parse(s: &[u8]) -> Option<Params> {
        let mut out = Vec::new();
        for raw in crate::grammar::split_top_level(s, b';') {
            let raw = crate::grammar::trim(raw);
            let (name, value) = match raw.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    crate::grammar::trim(&raw[..eq]),
                    Some(crate::grammar::trim(&raw[eq + 1..])),
                ),
                None => (raw, None),
            };
            if !crate::grammar::is_token(name) {
                return None;
            }
            if let Some(v) = value {
                if v.is_empty() || !valid_value(v) {
                    return None;
                }
            }
            out.push(Param {
                name: String::from_utf8_lossy(name).into_owned(),
                value: value.map(|v| String::from_utf8_lossy(v).into_owned()),
            });
        }
        Some(Params(out))
    }

    /// Looks a parameter up by name (case-insensitive). `Some(None)` for a flag.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// The value of a parameter, if present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// Whether the parameter is present (with or without value).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets (replacing) a parameter.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value.map(str::to_string),
            None => self.0.push(Param::new(name, value)),
        }
    }

    /// Removes a parameter.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }
}

fn valid_value(v: &[u8]) -> bool {
    if v.first() == Some(&b'"') {
        return matches!(crate::grammar::parse_quoted(v), Some((_, n)) if n == v.len());
    }
    v.iter()
        .all(|&b| crate::grammar::is_token_char(b) || b"[]:/&+$@?".contains(&b) || (b >= 0x80))
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            write!(f, ";{}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p = Params::parse(b"branch=z9hG4bK1;rport;Received=1.2.3.4").unwrap();
        assert_eq!(p.value("BRANCH"), Some("z9hG4bK1"));
        assert_eq!(p.get("rport"), Some(None));
        assert_eq!(p.value("received"), Some("1.2.3.4"));
        assert_eq!(p.to_string(), ";branch=z9hG4bK1;rport;Received=1.2.3.4");
    }

    #[test]
    fn rejects_empty_params() {
        assert!(Params::parse(b";").is_none());
        assert!(Params::parse(b"a=").is_none());
        assert!(Params::parse(b"a b=c").is_none());
    }

    #[test]
    fn quoted_values() {
        let p = Params::parse(b"text=\"a;b\"").unwrap();
        assert_eq!(p.value("text"), Some("\"a;b\""));
    }
}
