//! SUBSCRIBE and NOTIFY (RFC 6665) for busy lamps: a phone's BLF key
//! subscribes to an extension (`sip:444@pbx`) or a park position by its
//! retrieval number (`sip:*71333@pbx`); the switch answers, tells the
//! current state at once, every change after, and ends the subscription
//! when it runs out. Subscribers are authenticated extensions and watch
//! only their own tenant.

use super::Switch;
use crate::feature_code::Feature;
use crate::lamp::{Lamp, Package};
use crate::lot::Position;
use crate::peer::Peer;
use crate::subscriptions::{Full, Resource, Subscriber, Subscription, SubscriptionId};
use crate::time::Now;
use accounts::{Extension, Tenant};
use sip::dialog::Dialog;
use sip::transaction::{ClientKey, ServerKey};
use sip::{Method, Name, Request, Response};
use std::time::Duration;
use tracing::{debug, info};

/// What a NOTIFY says of the subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SubscriptionState {
    /// It goes on.
    Active,
    /// It ends: the subscriber unsubscribed (or fetched once).
    Ended,
    /// It ends: nobody refreshed it.
    TimedOut,
}

impl Switch {
    /// A new SUBSCRIBE of an authenticated extension (its package is one
    /// the switch serves: admission checked).
    pub(super) fn handle_subscribe(
        &mut self,
        now: Now,
        peer: Peer,
        key: ServerKey,
        req: Request,
        ext: Extension,
    ) {
        let Some(tenant) = self.dir.tenant(&ext.tenant).cloned() else {
            let resp = self.response(&req, 403, Some("Forbidden"));
            return self.reply(now, &key, resp);
        };
        let package = package_of(&req).unwrap_or(Package::Dialog);
        let Some(resource) = self.resource_of(&tenant, &ext, &req) else {
            let resp = self.response(&req, 404, Some("No such extension or park position"));
            return self.reply(now, &key, resp);
        };
        let expires = match self.granted_expiry(&req) {
            Ok(s) => s,
            Err(resp) => return self.reply(now, &key, resp),
        };
        let tag = crate::respond::tag_for(&self.cfg.secret, &req);
        let Ok(dialog) = Dialog::as_uas(&req, &tag) else {
            let resp = self.response(&req, 400, Some("Missing or malformed Contact"));
            return self.reply(now, &key, resp);
        };
        let sub = Subscription {
            dialog,
            peer,
            subscriber: Subscriber {
                tenant: tenant.name.clone(),
                number: ext.number.clone(),
            },
            resource,
            entity: format!(
                "sip:{}@{}",
                req.uri.user_decoded().unwrap_or_default(),
                tenant.domain
            ),
            domain: tenant.domain.clone(),
            package,
            expires: now.mono + Duration::from_secs(u64::from(expires)),
            version: 0,
            shown: None,
            in_flight: None,
        };
        let id = match self.subs.add(sub) {
            Ok(id) => id,
            Err(full) => return self.refuse_subscription(now, &key, &req, full),
        };
        self.watch_lamps();
        info!(subscriber = %ext.number, tenant = %tenant.name, entity = %req.uri, package = package.as_str(), expires, "subscribed");
        self.accept_subscription(now, &key, &req, peer, expires);
        let state = if expires == 0 {
            SubscriptionState::Ended
        } else {
            SubscriptionState::Active
        };
        self.notify(now, id, state);
    }

    /// A SUBSCRIBE in a subscription's dialog: a refresh, or with
    /// `Expires: 0` the end.
    pub(super) fn handle_resubscribe(
        &mut self,
        now: Now,
        peer: Peer,
        id: SubscriptionId,
        key: ServerKey,
        req: Request,
    ) {
        let checked = self.subs.get_mut(id).map(|s| s.dialog.handle_request(&req));
        if let Some(Err(e)) = checked {
            let resp = self.response(&req, 500, Some(e.0));
            return self.reply(now, &key, resp);
        }
        if req.method != Method::Subscribe {
            let resp = self.response(&req, 405, Some("Only SUBSCRIBE in a subscription"));
            return self.reply(now, &key, resp);
        }
        let expires = match self.granted_expiry(&req) {
            Ok(s) => s,
            Err(resp) => return self.reply(now, &key, resp),
        };
        self.subs
            .extend(id, now.mono + Duration::from_secs(u64::from(expires)));
        self.accept_subscription(now, &key, &req, peer, expires);
        let state = if expires == 0 {
            SubscriptionState::Ended
        } else {
            SubscriptionState::Active
        };
        self.notify(now, id, state);
    }

    /// Subscriptions whose time ran out: a last NOTIFY, then gone.
    pub(super) fn expire_subscriptions(&mut self, now: Now) {
        for id in self.subs.expired(now.mono) {
            self.notify(now, id, SubscriptionState::TimedOut);
        }
    }

    /// The final answer (or `None`: a timeout) of one of our NOTIFYs.
    /// Returns false when `key` is not a NOTIFY of ours.
    pub(super) fn handle_notify_answer(
        &mut self,
        now: Now,
        key: &ClientKey,
        resp: Option<&Response>,
    ) -> bool {
        if resp.is_some_and(|r| r.status < 200) {
            return self.subs.is_notify(key);
        }
        let Some(id) = self.subs.notified(key) else {
            return false;
        };
        match resp.map(|r| r.status) {
            Some(200..=299) => self.show_changes(now, id),
            status => {
                // 481: the phone forgot it; a timeout: the phone is gone.
                debug!(
                    subscription = id,
                    ?status,
                    "NOTIFY failed: subscription ends"
                );
                self.subs.remove(id);
                self.watch_lamps();
            }
        }
        true
    }

    /// Sends subscription `id` what its resource shows now, unless it was
    /// told that already or a NOTIFY of it is still on its way (the answer
    /// to that one looks again).
    pub(super) fn show_changes(&mut self, now: Now, id: SubscriptionId) {
        let Some(sub) = self.subs.get_mut(id) else {
            return;
        };
        if sub.in_flight.is_some() {
            return;
        }
        let resource = sub.resource.clone();
        let lamp = self.lamp_of(&resource);
        if self
            .subs
            .get_mut(id)
            .is_some_and(|s| s.shown.as_ref() != Some(&lamp))
        {
            self.send_notify(now, id, SubscriptionState::Active, lamp);
        }
    }

    fn notify(&mut self, now: Now, id: SubscriptionId, state: SubscriptionState) {
        let Some(sub) = self.subs.get_mut(id) else {
            return;
        };
        let resource = sub.resource.clone();
        let lamp = self.lamp_of(&resource);
        self.send_notify(now, id, state, lamp);
    }

    fn send_notify(&mut self, now: Now, id: SubscriptionId, state: SubscriptionState, lamp: Lamp) {
        let via_peer;
        let mut notify;
        {
            let Some(sub) = self.subs.get_mut(id) else {
                return;
            };
            via_peer = sub.peer;
            let via = crate::addressing::via(&self.cfg, &mut self.ids, via_peer);
            let contact = crate::addressing::contact(&self.cfg, via_peer);
            notify = sub.dialog.request(Method::Notify, &via, &contact, None);
            let remaining = sub.expires.saturating_duration_since(now.mono).as_secs();
            let state_value = match state {
                SubscriptionState::Active => format!("active;expires={remaining}"),
                SubscriptionState::Ended => "terminated".to_string(),
                SubscriptionState::TimedOut => "terminated;reason=timeout".to_string(),
            };
            notify.headers.push(Name::Event, sub.package.as_str());
            notify.headers.push(Name::SubscriptionState, state_value);
            notify
                .headers
                .push(Name::ContentType, sub.package.content_type());
            notify.body = bytes::Bytes::from(sub.package.document(
                &sub.entity,
                sub.version,
                &lamp,
                &sub.domain,
            ));
            sub.version += 1;
            sub.shown = Some(lamp);
        }
        let sent = self
            .layer
            .send_request(now.mono, notify, via_peer, via_peer.is_reliable());
        self.drain_layer();
        if state != SubscriptionState::Active {
            self.subs.remove(id);
            self.watch_lamps();
        } else if let Some(key) = sent {
            self.subs.notifying(id, key);
        }
    }

    /// 200 with the granted `Expires` and our Contact (RFC 6665 §4.2.1.1).
    fn accept_subscription(
        &mut self,
        now: Now,
        key: &ServerKey,
        req: &Request,
        peer: Peer,
        expires: u32,
    ) {
        let mut resp = self.response(req, 200, None);
        resp.headers.push(Name::Expires, expires.to_string());
        resp.headers
            .push(Name::Contact, crate::addressing::contact(&self.cfg, peer));
        self.reply(now, key, resp);
    }

    fn refuse_subscription(&mut self, now: Now, key: &ServerKey, req: &Request, full: Full) {
        let resp = match full {
            Full::Switch => {
                let mut r = self.response(req, 503, Some("Subscription limit reached"));
                r.headers
                    .push(Name::RetryAfter, self.cfg.retry_after_s.to_string());
                r
            }
            Full::Subscriber => self.response(req, 403, Some("Too many subscriptions")),
        };
        self.reply(now, key, resp);
    }

    /// The interval granted: the asked `Expires` (default and most the
    /// configured maximum), 0 to end, or a `423` below the minimum.
    fn granted_expiry(&self, req: &Request) -> Result<u32, Response> {
        let asked = req
            .headers
            .get(Name::Expires)
            .and_then(|v| sip::validate::parse_delta(v))
            .unwrap_or(self.cfg.max_subscription_s);
        if asked != 0 && asked < self.cfg.min_subscription_s {
            let mut resp = self.response(req, 423, Some("Interval Too Brief"));
            resp.headers
                .push(Name::MinExpires, self.cfg.min_subscription_s.to_string());
            return Err(resp);
        }
        Ok(asked.min(self.cfg.max_subscription_s))
    }

    /// What the Request-URI of a SUBSCRIBE watches in the subscriber's
    /// tenant: a park position by its retrieval (or park) number, bare
    /// release prefix for the subscriber's own position, or an extension.
    fn resource_of(&self, tenant: &Tenant, ext: &Extension, req: &Request) -> Option<Resource> {
        let user = req.uri.user_decoded()?;
        let feature =
            crate::feature_code::parse(&user, &tenant.park_prefix, &tenant.release_prefix);
        let position = match feature {
            Some(Feature::Retrieve(p)) => p,
            Some(Feature::RetrieveOwn) => Position::Extension(ext.number.clone()),
            Some(Feature::ParkAt(e)) => Position::Extension(e),
            Some(Feature::ParkRandom | Feature::ParkInvalid(_)) => return None,
            None => {
                self.dir.extension(&tenant.name, &user)?;
                return Some(Resource::Extension {
                    tenant: tenant.name.clone(),
                    number: user,
                });
            }
        };
        let valid = match &position {
            Position::Extension(e) => self.dir.extension(&tenant.name, e).is_some(),
            Position::Code(c) => !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()),
        };
        valid.then(|| Resource::Position {
            tenant: tenant.name.clone(),
            position,
        })
    }

    /// The subscription whose dialog a request's (Call-ID, To tag, From
    /// tag) names.
    pub(super) fn subscription_of(&self, key: &super::calls::DialogKey) -> Option<SubscriptionId> {
        if self.subs.is_empty() {
            return None;
        }
        let (call_id, local_tag, remote_tag) = key.clone();
        self.subs.by_dialog(&sip::dialog::DialogId {
            call_id,
            local_tag,
            remote_tag,
        })
    }

    /// Notes touched calls and positions only while someone watches.
    fn watch_lamps(&mut self) {
        let on = !self.subs.is_empty();
        self.calls.calls.watch(on);
        self.calls.lot.watch(on);
    }
}

/// The event package a SUBSCRIBE names, if the switch serves it.
pub(super) fn package_of(req: &Request) -> Option<Package> {
    let event = req.headers.get_str(Name::Event)?;
    Package::parse(&event)
}
