//! The CSeq header: sequence number and method.

use crate::grammar;
use crate::method::Method;
use std::fmt;

/// A parsed CSeq value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1234 INVITE`.
    pub fn parse(s: &[u8]) -> Result<CSeq, &'static str> {
        let s = grammar::trim(s);
        let split = s
            .iter()
            .position(|&b| grammar::is_ws(b))
            .ok_or("CSeq lacks a method")?;
        let num = &s[..split];
        if num.is_empty() || num.len() > 10 || !num.iter().all(u8::is_ascii_digit) {
            return Err("CSeq number is not a number below 2^31");
        }
        let seq: u64 = std::str::from_utf8(num)
            .unwrap_or("x")
            .parse()
            .map_err(|_| "bad CSeq number")?;
        if seq >= 1 << 31 {
            return Err("CSeq number is not below 2^31");
        }
        let method = Method::parse(grammar::trim(&s[split..])).ok_or("bad CSeq method")?;
        Ok(CSeq {
            seq: seq as u32,
            method,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_limits() {
        assert_eq!(CSeq::parse(b"8 INVITE").unwrap().seq, 8);
        assert!(CSeq::parse(b"36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse(b"2147483648 INVITE").is_err());
        assert!(CSeq::parse(b"-1 INVITE").is_err());
        assert!(CSeq::parse(b"1").is_err());
    }
}
