//! Who may use the admin API: bearer tokens, kept as SHA-256 digests (the
//! configuration never holds a token), each for every tenant or one, for
//! reading or for everything; failed checks are rate limited per address
//! and logged once a minute per address.

use crate::config::TokenConfig;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tracing::warn;

/// Failed token checks one address may make per minute; beyond, 429.
const FAILURES_PER_MINUTE: u32 = 10;
/// Addresses whose failures are tracked at most (the table a stranger
/// could grow is bounded: the oldest window is forgotten first).
const TRACKED: usize = 10_000;

/// What a valid token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The token's name.
    pub name: String,
    /// Only this tenant, if any.
    pub tenant: Option<String>,
    /// No writes.
    pub read_only: bool,
}

impl Grant {
    /// Whether it may see `tenant`'s things.
    pub fn sees(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// No or a wrong token: 401.
    Unauthorized,
    /// Too many wrong tokens from this address lately: 429.
    TooMany,
}

/// The configured tokens and the failure counts.
pub struct Access {
    tokens: Vec<([u8; 32], Grant)>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// The digest in a `sha256:<hex>` value.
pub fn parse_hash(value: &str) -> Option<[u8; 32]> {
    let hex = value.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The `sha256:<hex>` value of a token.
pub fn hash_of(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A new random token (shown once; only its hash is kept).
pub fn new_token() -> String {
    let bytes: [u8; 20] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("plk_{hex}")
}

impl Access {
    /// Access by these tokens (their hashes checked already).
    pub fn new(tokens: &[TokenConfig]) -> Access {
        let tokens = tokens
            .iter()
            .filter_map(|t| {
                let digest = parse_hash(t.hash.get_ref())?;
                Some((
                    digest,
                    Grant {
                        name: t.name.clone(),
                        tenant: t.tenant.clone(),
                        read_only: t.read_only,
                    },
                ))
            })
            .collect();
        Access {
            tokens,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Checks an `Authorization` header value from `from`.
    pub fn check(
        &self,
        authorization: Option<&str>,
        from: IpAddr,
        now: Instant,
    ) -> Result<Grant, Denied> {
        if self.limited(from, now) {
            return Err(Denied::TooMany);
        }
        let presented = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Sha256::digest(t.trim().as_bytes()));
        let found = presented.and_then(|digest| {
            self.tokens
                .iter()
                .find(|(known, _)| bool::from(known.ct_eq(digest.as_slice())))
                .map(|(_, g)| g.clone())
        });
        found.ok_or_else(|| {
            self.failed(from, now);
            Denied::Unauthorized
        })
    }

    fn limited(&self, from: IpAddr, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.get(&from).is_some_and(|(since, n)| {
            now.duration_since(*since) < Duration::from_secs(60) && *n >= FAILURES_PER_MINUTE
        })
    }

    fn failed(&self, from: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= TRACKED && !failures.contains_key(&from) {
            let oldest = failures
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(a, _)| *a);
            if let Some(a) = oldest {
                failures.remove(&a);
            }
        }
        let entry = failures.entry(from).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 == 1 || entry.1 == FAILURES_PER_MINUTE {
            warn!(%from, failures = entry.1, "admin API: wrong or missing token");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, value: &str, tenant: Option<&str>) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            hash: toml::Spanned::new(0..0, hash_of(value)),
            tenant: tenant.map(str::to_string),
            read_only: false,
        }
    }

    #[test]
    fn tokens_are_checked_by_their_hash_and_guessing_is_limited() {
        let access = Access::new(&[
            token("ops", "secret-a", None),
            token("acme", "secret-b", Some("acme")),
        ]);
        let (ip, now) = ("127.0.0.9".parse().unwrap(), Instant::now());
        assert_eq!(
            access.check(Some("Bearer secret-a"), ip, now).unwrap().name,
            "ops"
        );
        let acme = access.check(Some("Bearer secret-b"), ip, now).unwrap();
        assert!(acme.sees("acme") && !acme.sees("beta"));
        assert_eq!(access.check(None, ip, now), Err(Denied::Unauthorized));
        for _ in 0..9 {
            assert_eq!(
                access.check(Some("Bearer nope"), ip, now),
                Err(Denied::Unauthorized)
            );
        }
        assert_eq!(
            access.check(Some("Bearer secret-a"), ip, now),
            Err(Denied::TooMany)
        );
        let later = now + Duration::from_secs(61);
        assert!(access.check(Some("Bearer secret-a"), ip, later).is_ok());
        assert_eq!(parse_hash(&hash_of("x")).map(|h| h.len()), Some(32));
        assert!(parse_hash("sha256:zz").is_none());
        assert!(new_token().starts_with("plk_"));
    }
}
