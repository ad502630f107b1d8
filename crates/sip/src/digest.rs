//! HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760):
//! challenges, credentials, response computation with MD5 and SHA-256, and
//! stateless nonces (HMAC over a timestamp) that any node can verify.

use crate::grammar;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// A digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (RFC 2617).
    Md5,
    /// SHA-256 (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The token used in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an algorithm token (`MD5`, `SHA-256`), case-insensitively.
    pub fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// Hex digest of `data` with this algorithm.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// A challenge in `WWW-Authenticate` / `Proxy-Authenticate`: the switch's
/// own (always `qop="auth"`), or a carrier's it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Realm (the tenant's domain).
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// True when the client's nonce was valid but expired.
    pub stale: bool,
    /// Whether `qop=auth` is offered (else the RFC 2069 form is answered).
    pub qop_auth: bool,
    /// Opaque value to echo.
    pub opaque: Option<String>,
}

impl Challenge {
    /// The header value.
    pub fn header_value(&self) -> String {
        let mut v = format!(
            "Digest realm={}, nonce=\"{}\", algorithm={}",
            grammar::quote(&self.realm),
            self.nonce,
            self.algorithm.as_str()
        );
        if self.qop_auth {
            v.push_str(", qop=\"auth\"");
        }
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque={}", grammar::quote(o)));
        }
        if self.stale {
            v.push_str(", stale=true");
        }
        v
    }

    /// Parses a `Digest ...` challenge; `None` for other schemes, garbage,
    /// or an algorithm the switch does not speak.
    pub fn parse(v: &[u8]) -> Option<Challenge> {
        let mut c = Challenge {
            realm: String::new(),
            nonce: String::new(),
            algorithm: Algorithm::Md5,
            stale: false,
            qop_auth: false,
            opaque: None,
        };
        for (key, value) in digest_params(v)? {
            match key.as_str() {
                "realm" => c.realm = value,
                "nonce" => c.nonce = value,
                "algorithm" => c.algorithm = Algorithm::parse(&value)?,
                "stale" => c.stale = value.eq_ignore_ascii_case("true"),
                "qop" => c.qop_auth = value.split(',').any(|q| q.trim() == "auth"),
                "opaque" => c.opaque = Some(value),
                _ => {}
            }
        }
        (!c.nonce.is_empty()).then_some(c)
    }
}

/// The `key=value` pairs of a `Digest ...` header value (keys lower-cased,
/// quoted values unquoted); `None` for other schemes or garbage.
fn digest_params(v: &[u8]) -> Option<Vec<(String, String)>> {
    let v = grammar::trim(v);
    let sp = v.iter().position(|&b| grammar::is_ws(b))?;
    if !v[..sp].eq_ignore_ascii_case(b"Digest") {
        return None;
    }
    let mut out = Vec::new();
    for item in grammar::split_top_level(&v[sp..], b',') {
        let item = grammar::trim(item);
        if item.is_empty() {
            continue;
        }
        let eq = item.iter().position(|&b| b == b'=')?;
        let key = String::from_utf8_lossy(grammar::trim(&item[..eq])).to_ascii_lowercase();
        let raw = grammar::trim(&item[eq + 1..]);
        let value = if raw.first() == Some(&b'"') {
            let (s, used) = grammar::parse_quoted(raw)?;
            if used != raw.len() {
                return None;
            }
            s
        } else {
            String::from_utf8_lossy(raw).into_owned()
        };
        out.push((key, value));
    }
    Some(out)
}

/// Credentials from an `Authorization` / `Proxy-Authorization` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// username
    pub username: String,
    /// realm
    pub realm: String,
    /// nonce
    pub nonce: String,
    /// digest-uri
    pub uri: String,
    /// request-digest
    pub response: String,
    /// algorithm (MD5 when absent)
    pub algorithm: Option<String>,
    /// cnonce
    pub cnonce: Option<String>,
    /// nonce-count, as hex text
    pub nc: Option<String>,
    /// qop
    pub qop: Option<String>,
    /// opaque
    pub opaque: Option<String>,
}

impl Credentials {
    /// Parses a `Digest ...` header value; `None` for other schemes or garbage.
    pub fn parse(v: &[u8]) -> Option<Credentials> {
        let mut c = Credentials::default();
        for (key, value) in digest_params(v)? {
            match key.as_str() {
                "username" => c.username = value,
                "realm" => c.realm = value,
                "nonce" => c.nonce = value,
                "uri" => c.uri = value,
                "response" => c.response = value,
                "algorithm" => c.algorithm = Some(value),
                "cnonce" => c.cnonce = Some(value),
                "nc" => c.nc = Some(value),
                "qop" => c.qop = Some(value),
                "opaque" => c.opaque = Some(value),
                _ => {}
            }
        }
        let complete = !c.username.is_empty() && !c.nonce.is_empty() && !c.response.is_empty();
        complete.then_some(c)
    }

    /// Credentials answering `challenge` for a request `method` to `uri`,
    /// as a client (the switch towards a carrier); `cnonce` should be fresh.
    pub fn answering(
        challenge: &Challenge,
        (username, password): (&str, &str),
        (method, uri): (&str, &str),
        cnonce: &str,
    ) -> Credentials {
        let mut c = Credentials {
            username: username.to_string(),
            realm: challenge.realm.clone(),
            nonce: challenge.nonce.clone(),
            uri: uri.to_string(),
            algorithm: Some(challenge.algorithm.as_str().to_string()),
            opaque: challenge.opaque.clone(),
            ..Default::default()
        };
        if challenge.qop_auth {
            c.qop = Some("auth".into());
            c.nc = Some("00000001".into());
            c.cnonce = Some(cnonce.to_string());
        }
        c.response = compute_response(challenge.algorithm, &c, password, method);
        c
    }

    /// The header value (`Digest username=..., ...`).
    pub fn header_value(&self) -> String {
        let q = grammar::quote;
        let mut v = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response={}",
            q(&self.username),
            q(&self.realm),
            q(&self.nonce),
            q(&self.uri),
            q(&self.response)
        );
        if let Some(a) = &self.algorithm {
            v.push_str(&format!(", algorithm={a}"));
        }
        if let (Some(qop), Some(nc), Some(cnonce)) = (&self.qop, &self.nc, &self.cnonce) {
            v.push_str(&format!(", qop={qop}, nc={nc}, cnonce={}", q(cnonce)));
        }
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque={}", q(o)));
        }
        v
    }

    /// The algorithm named, defaulting to MD5; `None` for unsupported ones.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
            .as_deref()
            .map_or(Some(Algorithm::Md5), Algorithm::parse)
    }

    /// The nonce-count as a number (qop=auth), if present and valid.
    pub fn nonce_count(&self) -> Option<u32> {
        u32::from_str_radix(self.nc.as_deref()?, 16).ok()
    }

    /// Whether `response` is right for this password and request method,
    /// compared in constant time.
    pub fn verify(&self, password: &str, method: &str) -> bool {
        let Some(alg) = self.algorithm() else {
            return false;
        };
        let ha1 = alg.hash_hex(format!("{}:{}:{}", self.username, self.realm, password).as_bytes());
        self.verify_ha1(alg, &ha1, method)
    }

    /// Like [`Credentials::verify`] from a stored HA1 (the password is not kept).
    /// `alg` must be the algorithm the credentials name.
    pub fn verify_ha1(&self, alg: Algorithm, ha1: &str, method: &str) -> bool {
        if self.algorithm() != Some(alg) {
            return false;
        }
        let expected = response_from_ha1(alg, ha1, self, method);
        expected.len() == self.response.len()
            && bool::from(
                expected
                    .as_bytes()
                    .ct_eq(self.response.to_ascii_lowercase().as_bytes()),
            )
    }
}

/// The request-digest for credentials `c` (fields other than `response`).
pub fn compute_response(alg: Algorithm, c: &Credentials, password: &str, method: &str) -> String {
    let ha1 = alg.hash_hex(format!("{}:{}:{}", c.username, c.realm, password).as_bytes());
    response_from_ha1(alg, &ha1, c, method)
}

/// The request-digest from HA1.
pub fn response_from_ha1(alg: Algorithm, ha1: &str, c: &Credentials, method: &str) -> String {
    let ha2 = alg.hash_hex(format!("{}:{}", method, c.uri).as_bytes());
    match (&c.qop, &c.nc, &c.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            alg.hash_hex(format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", c.nonce).as_bytes())
        }
        _ => alg.hash_hex(format!("{ha1}:{}:{ha2}", c.nonce).as_bytes()),
    }
}

/// What a presented nonce is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by us and still fresh.
    Valid,
    /// Issued by us but expired: answer with `stale=true`.
    Stale,
    /// Not ours (or tampered with).
    Invalid,
}

/// Issues and verifies stateless nonces: `hex(timestamp).hex(serial).hex(hmac)`.
/// The serial makes every nonce unique (so nonce-counts of two clients never
/// collide); the HMAC lets nodes sharing the secret verify each other's nonces.
#[derive(Clone)]
pub struct NonceIssuer {
    secret: Vec<u8>,
    lifetime_s: u64,
    serial: u64,
}

impl NonceIssuer {
    /// A new issuer with a server secret, a nonce lifetime in seconds, and a
    /// starting serial (random per process, so restarts do not repeat nonces).
    pub fn new(secret: &[u8], lifetime_s: u64, first_serial: u64) -> NonceIssuer {
        NonceIssuer {
            secret: secret.to_vec(),
            lifetime_s,
            serial: first_serial,
        }
    }

    fn mac(&self, ts: u64, serial: u64, realm: &str, client: IpAddr) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(&ts.to_be_bytes());
        mac.update(&serial.to_be_bytes());
        match client {
            IpAddr::V4(a) => mac.update(&a.octets()),
            IpAddr::V6(a) => mac.update(&a.octets()),
        }
        mac.update(realm.as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }

    /// A fresh nonce for `realm` at `now_s` (seconds since an epoch the
    /// caller keeps), valid only in requests from `client`: a nonce learnt
    /// at one address is useless at another, and a request with a valid
    /// nonce proves that its source received the challenge.
    pub fn issue(&mut self, realm: &str, client: IpAddr, now_s: u64) -> String {
        self.serial = self.serial.wrapping_add(1);
        format!(
            "{now_s:x}.{:x}.{}",
            self.serial,
            self.mac(now_s, self.serial, realm, client)
        )
    }

    /// Verifies a nonce for `realm` from `client` at `now_s`.
    pub fn check(&self, nonce: &str, realm: &str, client: IpAddr, now_s: u64) -> NonceCheck {
        let mut parts = nonce.splitn(3, '.');
        let (Some(ts_hex), Some(serial_hex), Some(mac)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return NonceCheck::Invalid;
        };
        let (Ok(ts), Ok(serial)) = (
            u64::from_str_radix(ts_hex, 16),
            u64::from_str_radix(serial_hex, 16),
        ) else {
            return NonceCheck::Invalid;
        };
        let expected = self.mac(ts, serial, realm, client);
        if expected.len() != mac.len() || !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
            return NonceCheck::Invalid;
        }
        if ts > now_s + 5 {
            NonceCheck::Invalid
        } else if now_s - ts.min(now_s) > self.lifetime_s {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }

    /// When a nonce issued at the time it names stops being valid.
    pub fn expiry(&self, nonce: &str) -> Option<u64> {
        let ts = u64::from_str_radix(nonce.split_once('.')?.0, 16).ok()?;
        Some(ts + self.lifetime_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_md5() {
        // RFC 2617 §3.5 example (HTTP, but the computation is the same).
        let c = Credentials {
            username: "Mufasa".into(),
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("0a4f113b".into()),
            ..Default::default()
        };
        assert_eq!(
            compute_response(Algorithm::Md5, &c, "Circle Of Life", "GET"),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn rfc7616_example_sha256() {
        // RFC 7616 §3.9.1 example.
        let c = Credentials {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
            ..Default::default()
        };
        assert_eq!(
            compute_response(Algorithm::Sha256, &c, "Circle of Life", "GET"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn parses_credentials_and_verifies() {
        let v = br#"Digest username="333", realm="acme.example", nonce="n1", uri="sip:acme.example", response="x", algorithm=SHA-256, qop=auth, nc=00000002, cnonce="abc""#;
        let mut c = Credentials::parse(v).unwrap();
        assert_eq!(c.algorithm(), Some(Algorithm::Sha256));
        assert_eq!(c.nonce_count(), Some(2));
        c.response = compute_response(Algorithm::Sha256, &c, "pw", "REGISTER");
        assert!(c.verify("pw", "REGISTER"));
        assert!(!c.verify("wrong", "REGISTER"));
        assert!(Credentials::parse(b"NoOneKnowsThisScheme opaque-data=here").is_none());
    }

    #[test]
    fn nonces_expire_and_resist_tampering() {
        let mut issuer = NonceIssuer::new(b"secret", 300, 7);
        let (me, other): (IpAddr, IpAddr) = ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
        let n = issuer.issue("acme", me, 1000);
        assert_ne!(n, issuer.issue("acme", me, 1000), "every nonce is unique");
        assert_eq!(issuer.check(&n, "acme", me, 1100), NonceCheck::Valid);
        assert_eq!(issuer.check(&n, "acme", me, 1301), NonceCheck::Stale);
        assert_eq!(issuer.check(&n, "other", me, 1100), NonceCheck::Invalid);
        assert_eq!(
            issuer.check(&n, "acme", other, 1100),
            NonceCheck::Invalid,
            "bound to the client's address"
        );
        let forged = n.replacen(".8.", ".9.", 1);
        assert_ne!(forged, n);
        assert_eq!(issuer.check(&forged, "acme", me, 1100), NonceCheck::Invalid);
        assert_eq!(
            NonceIssuer::new(b"other", 300, 7).check(&n, "acme", me, 1100),
            NonceCheck::Invalid
        );
        assert_eq!(
            issuer.check("3e8.zz.00", "acme", me, 1100),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn a_client_answer_verifies_at_the_server() {
        for header in [
            "Digest realm=\"carrier.example\", nonce=\"abc\", qop=\"auth,auth-int\", opaque=\"xyz\"",
            "Digest realm=\"carrier.example\", nonce=\"abc\"",
        ] {
            let ch = Challenge::parse(header.as_bytes()).unwrap();
            assert_eq!(ch.realm, "carrier.example");
            let c = Credentials::answering(&ch, ("trunk", "pw"), ("INVITE", "sip:1@c"), "cn");
            let back = Credentials::parse(c.header_value().as_bytes()).unwrap();
            assert_eq!(back, c);
            assert!(back.verify("pw", "INVITE"));
            assert!(!back.verify("other", "INVITE"));
        }
        assert!(Challenge::parse(b"Basic realm=\"x\"").is_none());
        assert!(Challenge::parse(b"Digest realm=\"x\", nonce=\"n\", algorithm=MD5-sess").is_none());
    }
}
