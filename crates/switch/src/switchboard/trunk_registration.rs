//! The switch registering itself to carriers: every trunk whose credentials
//! ask for it (`register_s`) is kept registered (RFC 3261 §10.2). The first
//! REGISTER of a round goes without credentials; a 401/407 is answered once
//! with them; a 2xx is refreshed at 80% of the interval the carrier
//! granted; a refusal or no answer is retried after [`RETRY`]. Checked on
//! the core's one-second sweep, so a trunk added while running registers
//! within a second.

use super::Switch;
use crate::peer::{Peer, Transport};
use crate::time::Now;
use sip::transaction::ClientKey;
use sip::{Method, Name, Request, Response, Uri};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Wait before trying again after a refusal or no answer.
const RETRY: Duration = Duration::from_secs(60);

/// Shortest refresh interval, whatever the carrier grants.
const MIN_REFRESH: Duration = Duration::from_secs(1);

/// Where one trunk's registration stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// A REGISTER is out (`answered`: it carries credentials).
    Waiting { key: ClientKey, answered: bool },
    /// Registered (or refused, or unanswered) until `next`: then a new round.
    Idle { next: Instant },
}

/// One trunk's registration dialog (one Call-ID, a growing CSeq).
#[derive(Clone, Debug)]
struct Registration {
    call_id: String,
    tag: String,
    cseq: u32,
    phase: Phase,
}

/// Every trunk's registration.
#[derive(Debug, Default)]
pub(super) struct TrunkRegistrations {
    by_trunk: HashMap<String, Registration>,
    by_key: HashMap<ClientKey, String>,
}

impl Switch {
    /// Starts the rounds that are due and forgets trunks that no longer
    /// register (part of the one-second sweep).
    pub(super) fn sweep_trunk_registrations(&mut self, now: Now) {
        let wanted: Vec<String> = self
            .dir
            .trunks()
            .iter()
            .filter(|t| t.auth.as_ref().is_some_and(|a| a.register_s.is_some()))
            .map(|t| t.name.clone())
            .collect();
        let regs = &mut self.trunk_registrations;
        regs.by_trunk.retain(|name, _| wanted.contains(name));
        regs.by_key.retain(|_, name| wanted.contains(name));
        for name in wanted {
            let due = match self.trunk_registrations.by_trunk.get(&name) {
                None => true,
                Some(r) => matches!(r.phase, Phase::Idle { next } if now.mono >= next),
            };
            if due {
                self.send_register(now, &name, None);
            }
        }
    }

    /// Sends a REGISTER for trunk `name`, with `credentials` (header and
    /// value) after a challenge.
    fn send_register(&mut self, now: Now, name: &str, credentials: Option<(Name, String)>) {
        let Some(trunk) = self.dir.trunks().iter().find(|t| t.name == name).cloned() else {
            return;
        };
        let (Some(auth), Ok(addr)) = (trunk.auth.as_ref(), trunk.address.parse()) else {
            return;
        };
        let peer = Peer {
            transport: Transport::Udp,
            addr,
        };
        if !self.trunk_registrations.by_trunk.contains_key(name) {
            let fresh = Registration {
                call_id: self.ids.call_id(),
                tag: self.ids.tag(),
                cseq: 0,
                phase: Phase::Idle { next: now.mono },
            };
            self.trunk_registrations
                .by_trunk
                .insert(name.to_string(), fresh);
        }
        let via = self.via(peer);
        let Some(reg) = self.trunk_registrations.by_trunk.get_mut(name) else {
            return;
        };
        reg.cseq += 1;
        let Ok(uri) = Uri::parse(format!("sip:{}", trunk.address).as_bytes()) else {
            return;
        };
        let aor = format!("<sip:{}@{}>", auth.username, trunk.address);
        let mut headers = sip::Headers::default();
        headers.push(Name::Via, via);
        headers.push(Name::MaxForwards, "70");
        headers.push(Name::From, format!("{aor};tag={}", reg.tag));
        headers.push(Name::To, aor);
        headers.push(Name::CallId, reg.call_id.clone());
        headers.push(Name::CSeq, format!("{} REGISTER", reg.cseq));
        headers.push(
            Name::Contact,
            format!("<sip:{}@{}>", auth.username, self.cfg.local_sip),
        );
        headers.push(Name::Expires, auth.register_s.unwrap_or(600).to_string());
        headers.push(Name::UserAgent, self.cfg.server_name.clone());
        let answered = credentials.is_some();
        if let Some((header, value)) = credentials {
            headers.push(header, value);
        }
        let req = Request {
            method: Method::Register,
            uri,
            headers,
            body: Default::default(),
        };
        let Some(key) = self.layer.send_request(now.mono, req, peer, false) else {
            return;
        };
        self.drain_layer();
        if let Some(reg) = self.trunk_registrations.by_trunk.get_mut(name) {
            reg.phase = Phase::Waiting {
                key: key.clone(),
                answered,
            };
        }
        self.trunk_registrations
            .by_key
            .insert(key, name.to_string());
    }

    /// A response to one of the registrations' REGISTERs; false when `key`
    /// is not one of theirs.
    pub(super) fn handle_registration_response(
        &mut self,
        now: Now,
        key: &ClientKey,
        resp: &Response,
    ) -> bool {
        let Some(name) = self.trunk_registrations.by_key.get(key).cloned() else {
            return false;
        };
        if resp.status < 200 {
            return true;
        }
        self.trunk_registrations.by_key.remove(key);
        let answered = self
            .trunk_registrations
            .by_trunk
            .get(&name)
            .is_some_and(|r| matches!(r.phase, Phase::Waiting { answered: true, .. }));
        match resp.status {
            200..=299 => {
                let granted = granted_seconds(resp).unwrap_or(600);
                info!(trunk = %name, expires = granted, "registered to the carrier");
                let refresh = Duration::from_secs(u64::from(granted) * 4 / 5).max(MIN_REFRESH);
                self.registration_idle(&name, now.mono + refresh);
            }
            401 | 407 if !answered => match self.registration_credentials(&name, resp) {
                Some(creds) => self.send_register(now, &name, Some(creds)),
                None => self.registration_idle(&name, now.mono + RETRY),
            },
            status => {
                warn!(trunk = %name, status, "the carrier refused the registration; trying again in 60 s");
                self.registration_idle(&name, now.mono + RETRY);
            }
        }
        true
    }

    /// A REGISTER that got no answer; false when `key` is not one of theirs.
    pub(super) fn handle_registration_timeout(&mut self, now: Now, key: &ClientKey) -> bool {
        let Some(name) = self.trunk_registrations.by_key.remove(key) else {
            return false;
        };
        warn!(trunk = %name, "the carrier did not answer the registration; trying again in 60 s");
        self.registration_idle(&name, now.mono + RETRY);
        true
    }

    fn registration_idle(&mut self, name: &str, next: Instant) {
        if let Some(reg) = self.trunk_registrations.by_trunk.get_mut(name) {
            reg.phase = Phase::Idle { next };
        }
    }

    /// The credentials header answering `resp`'s challenge for trunk `name`.
    fn registration_credentials(&mut self, name: &str, resp: &Response) -> Option<(Name, String)> {
        let trunk = self.dir.trunks().iter().find(|t| t.name == name)?;
        let auth = trunk.auth.as_ref()?;
        let uri = format!("sip:{}", trunk.address);
        let account = (auth.username.as_str(), auth.password.as_str());
        super::trunk_auth::answer_challenge(resp, account, ("REGISTER", &uri), &self.ids.tag())
    }
}

/// The interval a 2xx grants: the Contact's `expires`, else `Expires`.
fn granted_seconds(resp: &Response) -> Option<u32> {
    let from_contact = resp.headers.get_str(Name::Contact).and_then(|c| {
        c.split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("expires"))
            .and_then(|(_, v)| v.trim().parse().ok())
    });
    from_contact.or_else(|| resp.headers.get_str(Name::Expires)?.trim().parse().ok())
}
