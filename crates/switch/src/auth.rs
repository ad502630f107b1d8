//! Digest authentication of extensions (RFC 3261 §22, RFC 8760): challenges
//! with stateless nonces bound to the client's address, verification
//! against stored HA1 values, nonce-count replay protection, and the
//! guessing limits of [`crate::guessing`].

use crate::guessing::{AccountKey, Guard, GuessLimits};
use accounts::{Directory, Extension, Tenant};
use sip::digest::{Algorithm, Challenge, Credentials, NonceCheck, NonceIssuer};
use sip::{Name, Request};
use std::collections::HashMap;
use std::net::IpAddr;

/// HA1 for a user, realm and password.
pub fn ha1(alg: Algorithm, user: &str, realm: &str, password: &str) -> String {
    alg.hash_hex(format!("{user}:{realm}:{password}").as_bytes())
}

/// The verdict on a request's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Valid credentials of this extension.
    Authenticated(Extension),
    /// No usable credentials: answer 401/407 with these challenges.
    Challenge(Vec<String>),
    /// Credentials present but wrong, or the account is unusable. The same
    /// answer whether or not the user exists.
    Forbidden(Refusal),
}

/// Why credentials were refused (for logs and records; the client sees the
/// same `403 Forbidden` for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong password, unknown user, or an algorithm not offered.
    BadCredentials,
    /// The account is disabled.
    Disabled,
    /// A guessing limit refused the attempt without checking it.
    Limited,
}

impl Refusal {
    /// A short text for logs and call records.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BadCredentials => "wrong credentials",
            Refusal::Disabled => "account disabled",
            Refusal::Limited => "too many failed attempts",
        }
    }
}

/// Issues challenges and checks credentials.
pub struct Authenticator {
    algorithms: Vec<Algorithm>,
    nonces: NonceIssuer,
    seen_nc: HashMap<String, (u32, u64)>,
    guard: Guard,
    max_tracked_nonces: usize,
}

impl Authenticator {
    /// A new authenticator offering `algorithms` in that order; `nonce_seed`
    /// starts the nonce serial (pass a random value).
    pub fn new(
        algorithms: Vec<Algorithm>,
        secret: &[u8],
        nonce_lifetime_s: u64,
        nonce_seed: u64,
        limits: GuessLimits,
    ) -> Authenticator {
        Authenticator {
            algorithms,
            nonces: NonceIssuer::new(secret, nonce_lifetime_s, nonce_seed),
            seen_nc: HashMap::new(),
            guard: Guard::new(limits),
            max_tracked_nonces: 200_000,
        }
    }

    /// One challenge per offered algorithm, in order of preference (RFC 8760
    /// §2.4), with a nonce valid only for requests from `client`.
    pub fn challenges(
        &mut self,
        realm: &str,
        client: IpAddr,
        now_s: u64,
        stale: bool,
    ) -> Vec<String> {
        let nonce = self.nonces.issue(realm, client, now_s);
        self.algorithms
            .iter()
            .copied()
            .map(|algorithm| {
                Challenge {
                    realm: realm.to_string(),
                    nonce: nonce.clone(),
                    algorithm,
                    stale,
                    qop_auth: true,
                    opaque: None,
                }
                .header_value()
            })
            .collect()
    }

    /// Checks the request's credentials for `realm` (a tenant's domain, or an
    /// unknown domain for which nothing can succeed).
    pub fn authenticate(
        &mut self,
        req: &Request,
        tenant: Option<&Tenant>,
        realm: &str,
        dir: &Directory,
        source: IpAddr,
        now_s: u64,
    ) -> AuthOutcome {
        let creds = req
            .headers
            .get_all(Name::Authorization)
            .chain(req.headers.get_all(Name::ProxyAuthorization))
            .filter_map(|v| Credentials::parse(v))
            .find(|c| c.realm == realm);
        let Some(creds) = creds else {
            return AuthOutcome::Challenge(self.challenges(realm, source, now_s, false));
        };
        match self.nonces.check(&creds.nonce, realm, source, now_s) {
            NonceCheck::Valid => {}
            NonceCheck::Stale => {
                return AuthOutcome::Challenge(self.challenges(realm, source, now_s, true))
            }
            NonceCheck::Invalid => {
                return AuthOutcome::Challenge(self.challenges(realm, source, now_s, false))
            }
        }
        let account = AccountKey {
            realm,
            user: &creds.username,
        };
        if self.guard.is_limited(source, account, now_s) {
            return AuthOutcome::Forbidden(Refusal::Limited);
        }
        let offered = creds
            .algorithm()
            .is_some_and(|a| self.algorithms.contains(&a));
        let verified = tenant
            .and_then(|t| dir.extension(&t.name, &creds.username))
            .filter(|e| offered && verify(&creds, e, req.method.as_str()));
        let Some(ext) = verified else {
            self.guard.failed(source, account, now_s);
            return AuthOutcome::Forbidden(Refusal::BadCredentials);
        };
        if !self.fresh_count(&creds, now_s) {
            return AuthOutcome::Challenge(self.challenges(realm, source, now_s, true));
        }
        if !ext.enabled {
            return AuthOutcome::Forbidden(Refusal::Disabled);
        }
        self.guard.succeeded(source, account, now_s);
        AuthOutcome::Authenticated(ext.clone())
    }

    /// Nonce-count replay protection: each (nonce, nc) is accepted once and
    /// nc must grow. Without qop the nonce is single-use.
    fn fresh_count(&mut self, creds: &Credentials, now_s: u64) -> bool {
        let nc = if creds.qop.is_some() {
            match creds.nonce_count() {
                Some(n) if n > 0 => n,
                _ => return false,
            }
        } else {
            1
        };
        if self.seen_nc.len() >= self.max_tracked_nonces {
            self.sweep(now_s);
        }
        let expiry = self.nonces.expiry(&creds.nonce).unwrap_or(now_s);
        let entry = self
            .seen_nc
            .entry(creds.nonce.clone())
            .or_insert((0, expiry));
        if nc <= entry.0 {
            return false;
        }
        entry.0 = nc;
        true
    }

    /// Forgets nonce counts of expired nonces and expired guessing state;
    /// writes due security log lines. Call about once a second.
    pub fn sweep(&mut self, now_s: u64) {
        self.seen_nc.retain(|_, (_, expiry)| *expiry >= now_s);
        self.guard.sweep(now_s);
    }
}

fn verify(creds: &Credentials, ext: &Extension, method: &str) -> bool {
    match creds.algorithm() {
        Some(Algorithm::Md5) => creds.verify_ha1(Algorithm::Md5, &ext.ha1_md5, method),
        Some(Algorithm::Sha256) => creds.verify_ha1(Algorithm::Sha256, &ext.ha1_sha256, method),
        None => false,
    }
}
