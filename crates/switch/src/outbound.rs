//! The toll-fraud guard on live usage: outbound calls up at once and
//! started per minute, per tenant and per extension (limits from
//! [`accounts::OutboundLimits`]; 0 is no limit). Which numbers may be
//! called is policy, decided with the route in [`crate::authorize`].

use accounts::{Extension, OutboundLimits, Tenant};
use std::collections::HashMap;

/// Seconds in the rate window.
const MINUTE: u64 = 60;

/// Why an outbound call is refused: the SIP reason phrase, also the cause
/// in the call record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboundRefusal {
    /// The tenant has `max_outbound_calls` up.
    TenantCalls,
    /// The tenant started `max_outbound_calls_per_minute` this minute.
    TenantRate,
    /// The extension has its `max_outbound_calls` up.
    ExtensionCalls,
    /// The extension started its `max_outbound_calls_per_minute`.
    ExtensionRate,
}

/// Which of a scope's two limits a call would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Calls,
    Rate,
}

impl OutboundRefusal {
    fn extension(limit: Limit) -> OutboundRefusal {
        match limit {
            Limit::Calls => OutboundRefusal::ExtensionCalls,
            Limit::Rate => OutboundRefusal::ExtensionRate,
        }
    }

    fn tenant(limit: Limit) -> OutboundRefusal {
        match limit {
            Limit::Calls => OutboundRefusal::TenantCalls,
            Limit::Rate => OutboundRefusal::TenantRate,
        }
    }

    /// Reason phrase and record cause.
    pub fn reason(self) -> &'static str {
        match self {
            OutboundRefusal::TenantCalls => "Outbound call limit reached (tenant)",
            OutboundRefusal::TenantRate => "Outbound call rate exceeded (tenant)",
            OutboundRefusal::ExtensionCalls => "Outbound call limit reached (extension)",
            OutboundRefusal::ExtensionRate => "Outbound call rate exceeded (extension)",
        }
    }
}

/// Usage of one tenant or extension.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    live: u32,
    window_start: u64,
    started: u32,
}

impl Usage {
    /// Whether one more call fits `limits` at `now_s`.
    fn check(&self, limits: OutboundLimits, now_s: u64) -> Result<(), Limit> {
        if limits.max_calls > 0 && self.live >= limits.max_calls {
            return Err(Limit::Calls);
        }
        let started = if now_s < self.window_start + MINUTE {
            self.started
        } else {
            0
        };
        if limits.max_calls_per_minute > 0 && started >= limits.max_calls_per_minute {
            return Err(Limit::Rate);
        }
        Ok(())
    }

    fn start(&mut self, now_s: u64) {
        if now_s >= self.window_start + MINUTE {
            self.window_start = now_s;
            self.started = 0;
        }
        self.started += 1;
        self.live += 1;
    }
}

/// Live outbound usage.
#[derive(Debug, Default)]
pub struct OutboundGuard {
    tenants: HashMap<String, Usage>,
    extensions: HashMap<(String, String), Usage>,
}

impl OutboundGuard {
    /// Admits (and counts) one outbound call of `ext`, or says why not.
    pub fn admit(
        &mut self,
        tenant: &Tenant,
        ext: &Extension,
        now_s: u64,
    ) -> Result<(), OutboundRefusal> {
        let ext_key = (tenant.name.clone(), ext.number.clone());
        let t = self.tenants.get(&tenant.name).copied().unwrap_or_default();
        let e = self.extensions.get(&ext_key).copied().unwrap_or_default();
        e.check(ext.outbound, now_s)
            .map_err(OutboundRefusal::extension)?;
        t.check(tenant.outbound, now_s)
            .map_err(OutboundRefusal::tenant)?;
        self.tenants
            .entry(tenant.name.clone())
            .or_default()
            .start(now_s);
        self.extensions.entry(ext_key).or_default().start(now_s);
        Ok(())
    }

    /// Counts a live outbound call carried over from before a restart (it
    /// counts against the limits on live calls, not against the rate).
    pub fn resumed(&mut self, tenant: &str, extension: &str) {
        self.tenants.entry(tenant.to_string()).or_default().live += 1;
        self.extensions
            .entry((tenant.to_string(), extension.to_string()))
            .or_default()
            .live += 1;
    }

    /// An admitted outbound call ended.
    pub fn ended(&mut self, tenant: &str, extension: &str, now_s: u64) {
        let idle = |u: &Usage| u.live == 0 && now_s >= u.window_start + MINUTE;
        if let Some(u) = self.tenants.get_mut(tenant) {
            u.live = u.live.saturating_sub(1);
            if idle(u) {
                self.tenants.remove(tenant);
            }
        }
        let key = (tenant.to_string(), extension.to_string());
        if let Some(u) = self.extensions.get_mut(&key) {
            u.live = u.live.saturating_sub(1);
            if idle(u) {
                self.extensions.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(n: &str, calls: u32, rate: u32) -> Extension {
        Extension {
            tenant: "acme".into(),
            number: n.into(),
            name: String::new(),
            ha1_md5: String::new(),
            ha1_sha256: String::new(),
            enabled: true,
            can_call_out: true,
            can_park: true,
            can_retrieve: true,
            outbound: OutboundLimits {
                max_calls: calls,
                max_calls_per_minute: rate,
            },
            source: accounts::Source::Manual,
        }
    }

    #[test]
    fn concurrent_calls_per_extension_and_tenant() {
        let mut t = Tenant::new("acme", "acme.example");
        t.outbound.max_calls = 3;
        let mut g = OutboundGuard::default();
        let (a, b) = (ext("333", 2, 0), ext("444", 0, 0));
        assert!(g.admit(&t, &a, 0).is_ok() && g.admit(&t, &a, 0).is_ok());
        assert_eq!(g.admit(&t, &a, 0), Err(OutboundRefusal::ExtensionCalls));
        assert!(g.admit(&t, &b, 0).is_ok());
        assert_eq!(g.admit(&t, &b, 0), Err(OutboundRefusal::TenantCalls));
        g.ended("acme", "333", 1);
        assert!(g.admit(&t, &b, 1).is_ok(), "room again after a call ended");
    }

    #[test]
    fn calls_per_minute() {
        let t = Tenant::new("acme", "acme.example");
        let mut g = OutboundGuard::default();
        let a = ext("333", 0, 2);
        for _ in 0..2 {
            assert!(g.admit(&t, &a, 100).is_ok());
            g.ended("acme", "333", 100);
        }
        assert_eq!(g.admit(&t, &a, 159), Err(OutboundRefusal::ExtensionRate));
        assert!(g.admit(&t, &a, 160).is_ok(), "a new minute");
    }
}
