//! A session timer (RFC 4028) a party refreshes.

use crate::config::SwitchConfig;
use sip::{Name, Request};
use std::time::{Duration, Instant};

/// The interval agreed with a party and when the session expires unless
/// it refreshes (a re-INVITE or UPDATE) before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    /// The agreed `Session-Expires`.
    pub interval: Duration,
    /// The session ends at.
    pub expires: Instant,
}

impl SessionTimer {
    /// A session agreed at `now`.
    pub fn new(interval: Duration, now: Instant) -> SessionTimer {
        SessionTimer {
            interval,
            expires: now + interval,
        }
    }

    /// A refresh at `now`.
    pub fn refresh(&mut self, now: Instant) {
        self.expires = now + self.interval;
    }
}

/// A `Session-Expires` value: interval and refresher (RFC 4028 §4).
pub fn session_expires(req_or_resp: &sip::Headers) -> Option<(u32, Option<String>)> {
    let v = req_or_resp.get(Name::SessionExpires)?;
    let text = String::from_utf8_lossy(v);
    let mut parts = text.split(';');
    let secs = sip::validate::parse_delta(parts.next()?.as_bytes())?;
    let refresher = parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("refresher"))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    Some((secs, refresher))
}

/// Whether the request's Supported (or Require) lists `timer`.
pub fn supports_timer(h: &sip::Headers) -> bool {
    h.values(Name::Supported)
        .iter()
        .chain(h.values(Name::Require).iter())
        .any(|t| t.eq_ignore_ascii_case(b"timer"))
}

/// The session interval agreed with the caller, if it supports timers
/// (it refreshes: refresher=uac).
pub fn session_for_a(cfg: &SwitchConfig, invite: &Request) -> Option<std::time::Duration> {
    if !supports_timer(&invite.headers) {
        return None;
    }
    let asked = session_expires(&invite.headers).map(|(s, _)| u64::from(s));
    let secs = asked
        .unwrap_or(cfg.session_expires.as_secs())
        .max(cfg.min_se.as_secs());
    Some(std::time::Duration::from_secs(secs))
}
