//! Limits on password guessing, and the one-line security log of failures.
//!
//! Three limits, none of which locks out an innocent neighbour:
//! - per (source IP, username): [`GuessLimits::per_source_user`] failures a
//!   minute; then that pair is refused without checking the password.
//!   Other accounts behind the same IP (one NAT) are unaffected.
//! - per account, across all IPs: [`GuessLimits::per_account`] failures an
//!   hour from addresses the account has not authenticated from; then the
//!   account is refused to such addresses for an hour, doubling with each
//!   lockout up to a day. A guesser spread over many IPs gets a few tries
//!   an hour; the account's own phones (known-good addresses) keep working.
//! - per source IP, across usernames: [`GuessLimits::per_source`] failures a
//!   minute (password spraying); then that IP is refused for every account
//!   that has not authenticated from it.
//!
//! A refused attempt gets the same `403` as a wrong password, so the limits
//! reveal nothing about the password. Every table is bounded. Tables are
//! keyed by a keyed 64-bit hash of (address, realm, username), so the check
//! on every authentication allocates nothing.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use tracing::warn;

/// The limits (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuessLimits {
    /// Failures per minute per (source IP, username).
    pub per_source_user: u32,
    /// Failures per hour per account from addresses it has not used.
    pub per_account: u32,
    /// Failures per minute per source IP over all usernames.
    pub per_source: u32,
    /// Seconds a successful authentication makes its address known-good.
    pub known_good_s: u64,
    /// Seconds between two security log lines about one source.
    pub log_interval_s: u64,
}

impl Default for GuessLimits {
    fn default() -> GuessLimits {
        GuessLimits {
            per_source_user: 10,
            per_account: 10,
            per_source: 100,
            known_good_s: 86_400,
            log_interval_s: 60,
        }
    }
}

/// An account as guessers address it: realm (tenant domain) and username,
/// whether or not such an extension exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountKey<'a> {
    /// Digest realm.
    pub realm: &'a str,
    /// Digest username.
    pub user: &'a str,
}

/// A table key: a keyed hash of an account, or of an address and an account.
type Key = u64;

/// Most entries any one table holds; past it, expired entries are swept
/// and new keys are not tracked until there is room.
const MAX_KEYS: usize = 100_000;

const MINUTE: u64 = 60;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// A fixed window count.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: u64,
    count: u32,
}

impl Window {
    fn current(&self, now: u64, len: u64) -> u32 {
        if now < self.start + len {
            self.count
        } else {
            0
        }
    }

    fn add(&mut self, now: u64, len: u64) -> u32 {
        if now >= self.start + len {
            *self = Window {
                start: now,
                count: 0,
            };
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

/// An account's failures from unknown addresses and its lockout.
#[derive(Clone, Copy, Debug)]
struct AccountGuard {
    window: Window,
    locked_until: u64,
    lockouts: u32,
}

/// What the security log has said about one source.
#[derive(Clone, Debug)]
struct SourceLog {
    since: u64,
    unlogged: u32,
    last_user: String,
}

/// The guessing guard.
#[derive(Debug)]
pub struct Guard {
    limits: GuessLimits,
    /// Keys the table hashes (random per process: keys cannot be aimed at).
    hasher: RandomState,
    by_source_user: HashMap<Key, Window>,
    by_source: HashMap<IpAddr, Window>,
    by_account: HashMap<Key, AccountGuard>,
    known_good: HashMap<Key, u64>,
    log: HashMap<IpAddr, SourceLog>,
}

fn insert_bounded<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) -> bool {
    if map.len() >= MAX_KEYS && !map.contains_key(&key) {
        return false;
    }
    map.insert(key, value);
    true
}

impl Guard {
    /// A guard with these limits.
    pub fn new(limits: GuessLimits) -> Guard {
        Guard {
            limits,
            hasher: RandomState::new(),
            by_source_user: HashMap::new(),
            by_source: HashMap::new(),
            by_account: HashMap::new(),
            known_good: HashMap::new(),
            log: HashMap::new(),
        }
    }

    fn key(&self, ip: Option<IpAddr>, account: AccountKey) -> Key {
        let mut h = self.hasher.build_hasher();
        ip.hash(&mut h);
        account.realm.hash(&mut h);
        account.user.hash(&mut h);
        h.finish()
    }

    fn is_known_good(&self, pair: Key, now: u64) -> bool {
        self.known_good
            .get(&pair)
            .is_some_and(|&t| now < t + self.limits.known_good_s)
    }

    /// Whether an attempt on `account` from `ip` is refused without looking
    /// at the password.
    pub fn is_limited(&self, ip: IpAddr, account: AccountKey, now: u64) -> bool {
        if self.by_source_user.is_empty() && self.by_source.is_empty() && self.by_account.is_empty()
        {
            return false; // nobody has failed lately: the common case
        }
        let pair = self.key(Some(ip), account);
        let pair_limited = self
            .by_source_user
            .get(&pair)
            .is_some_and(|w| w.current(now, MINUTE) >= self.limits.per_source_user);
        if pair_limited {
            return true;
        }
        if self.is_known_good(pair, now) {
            return false;
        }
        let account_locked = self
            .by_account
            .get(&self.key(None, account))
            .is_some_and(|a| now < a.locked_until);
        let source_spraying = self
            .by_source
            .get(&ip)
            .is_some_and(|w| w.current(now, MINUTE) >= self.limits.per_source);
        account_locked || source_spraying
    }

    /// A wrong password (or unknown user) for `account` from `ip`.
    pub fn failed(&mut self, ip: IpAddr, account: AccountKey, now: u64) {
        let pair = self.key(Some(ip), account);
        let known = self.is_known_good(pair, now);
        let mut w = self.by_source_user.get(&pair).copied().unwrap_or(Window {
            start: now,
            count: 0,
        });
        w.add(now, MINUTE);
        insert_bounded(&mut self.by_source_user, pair, w);
        let mut s = self.by_source.get(&ip).copied().unwrap_or(Window {
            start: now,
            count: 0,
        });
        s.add(now, MINUTE);
        insert_bounded(&mut self.by_source, ip, s);
        if !known {
            self.account_failed(account, now);
        }
        self.log_failure(ip, account.user, now);
    }

    fn account_failed(&mut self, account: AccountKey, now: u64) {
        let key = self.key(None, account);
        let mut a = self.by_account.get(&key).copied().unwrap_or(AccountGuard {
            window: Window {
                start: now,
                count: 0,
            },
            locked_until: 0,
            lockouts: 0,
        });
        if a.lockouts > 0 && now > a.locked_until + DAY {
            a.lockouts = 0;
        }
        if a.window.add(now, HOUR) >= self.limits.per_account {
            let hours = 1u64 << a.lockouts.min(5);
            a.locked_until = now + (HOUR * hours).min(DAY);
            a.lockouts += 1;
            a.window = Window {
                start: now,
                count: 0,
            };
            warn!(
                target: "security",
                "SECURITY account-locked realm={:?} user={:?} until_s={} (failures from unknown addresses)",
                account.realm,
                short(account.user),
                a.locked_until
            );
        }
        insert_bounded(&mut self.by_account, key, a);
    }

    /// A successful authentication: `ip` is known-good for `account`.
    pub fn succeeded(&mut self, ip: IpAddr, account: AccountKey, now: u64) {
        let pair = self.key(Some(ip), account);
        insert_bounded(&mut self.known_good, pair, now);
    }

    /// Logs the first failure from a source at once and then at most one
    /// summary line per interval, so a guesser cannot flood the log.
    fn log_failure(&mut self, ip: IpAddr, user: &str, now: u64) {
        match self.log.get_mut(&ip) {
            Some(entry) => {
                entry.unlogged += 1;
                entry.last_user = short(user);
            }
            None => {
                let entry = SourceLog {
                    since: now,
                    unlogged: 0,
                    last_user: short(user),
                };
                if insert_bounded(&mut self.log, ip, entry) {
                    log_line(ip, 1, 0, user);
                }
            }
        }
    }

    /// Writes due summary lines and forgets expired entries; call about
    /// once a second.
    pub fn sweep(&mut self, now: u64) {
        let interval = self.limits.log_interval_s;
        self.log.retain(|ip, e| {
            if now < e.since + interval {
                return true;
            }
            if e.unlogged == 0 {
                return false;
            }
            log_line(*ip, e.unlogged, interval, &e.last_user);
            e.since = now;
            e.unlogged = 0;
            true
        });
        self.by_source_user.retain(|_, w| now < w.start + MINUTE);
        self.by_source.retain(|_, w| now < w.start + MINUTE);
        self.by_account
            .retain(|_, a| now < a.window.start + HOUR || now < a.locked_until + DAY);
        let keep = self.limits.known_good_s;
        self.known_good.retain(|_, &mut t| now < t + keep);
    }
}

/// At most 32 characters of an attacker-chosen string, for the log.
fn short(s: &str) -> String {
    s.chars().take(32).collect()
}

/// The security log line (documented in the README for fail2ban):
/// `SECURITY auth-failure src=IP failures=N interval_s=S user="U"`.
fn log_line(ip: IpAddr, failures: u32, interval_s: u64, user: &str) {
    warn!(
        target: "security",
        "SECURITY auth-failure src={ip} failures={failures} interval_s={interval_s} user={:?}",
        short(user)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(user: &str) -> AccountKey<'_> {
        AccountKey {
            realm: "demo",
            user,
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn a_source_guessing_one_account_leaves_its_neighbours_alone() {
        let mut g = Guard::new(GuessLimits::default());
        for _ in 0..10 {
            assert!(!g.is_limited(ip(9), acct("333"), 100));
            g.failed(ip(9), acct("333"), 100);
        }
        assert!(g.is_limited(ip(9), acct("333"), 100));
        assert!(
            !g.is_limited(ip(9), acct("444"), 100),
            "another account behind the same IP"
        );
    }

    #[test]
    fn a_guesser_over_many_ips_gets_a_few_tries_an_hour() {
        let mut g = Guard::new(GuessLimits::default());
        let mut tried = 0;
        for round in 0..50 {
            for n in 10..18 {
                if !g.is_limited(ip(n), acct("333"), 100 + round) {
                    tried += 1;
                    g.failed(ip(n), acct("333"), 100 + round);
                }
            }
        }
        assert_eq!(tried, 10, "per_account failures, then locked");
        assert!(g.is_limited(ip(30), acct("333"), 100 + HOUR - 1));
        assert!(!g.is_limited(ip(30), acct("333"), 200 + HOUR));
        // The next lockout lasts twice as long.
        for _ in 0..10 {
            g.failed(ip(31), acct("333"), 200 + HOUR);
        }
        assert!(g.is_limited(ip(32), acct("333"), 200 + 3 * HOUR - 1));
    }

    #[test]
    fn the_accounts_own_phone_keeps_working_through_a_lockout() {
        let mut g = Guard::new(GuessLimits::default());
        g.succeeded(ip(1), acct("333"), 50);
        for n in 10..30 {
            g.failed(ip(n), acct("333"), 100);
        }
        assert!(g.is_limited(ip(40), acct("333"), 101));
        assert!(!g.is_limited(ip(1), acct("333"), 101));
    }

    #[test]
    fn spraying_many_accounts_from_one_ip_is_cut_off_but_known_phones_stay() {
        let mut g = Guard::new(GuessLimits::default());
        g.succeeded(ip(9), acct("444"), 50);
        for u in 0..100 {
            g.failed(ip(9), acct(&format!("u{u}")), 100);
        }
        assert!(g.is_limited(ip(9), acct("new"), 100));
        assert!(!g.is_limited(ip(9), acct("444"), 100));
        assert!(!g.is_limited(ip(9), acct("new"), 100 + MINUTE));
    }

    #[test]
    fn tables_forget_what_has_expired() {
        let mut g = Guard::new(GuessLimits::default());
        g.failed(ip(9), acct("333"), 100);
        g.sweep(100 + DAY + HOUR);
        assert!(g.by_source_user.is_empty() && g.by_source.is_empty());
        assert!(g.by_account.is_empty() && g.log.is_empty());
    }
}
