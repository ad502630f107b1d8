//! The switchboard's side of [`crate::reachability`]: each sweep, the
//! contacts of every extension with a call parked for it are probed with
//! OPTIONS (out of any dialog) as they come due; their answers mark them
//! reachable. A comeback rings only contacts not known unreachable.

use super::Switch;
use crate::reachability::ContactKey;
use crate::time::Now;
use sip::transaction::ClientKey;
use sip::{Method, Name, Request};
use std::collections::HashSet;

impl Switch {
    /// Sends the parker probes due.
    pub(super) fn probe_parkers(&mut self, now: Now) {
        let Some(every) = self.cfg.probe_interval else {
            return;
        };
        let wanted: HashSet<ContactKey> = self
            .calls
            .lot
            .list(None)
            .into_iter()
            .flat_map(|(tenant, _, parked)| {
                self.registrar
                    .lookup(tenant, &parked.parker)
                    .iter()
                    .map(|b| ContactKey {
                        tenant: tenant.to_string(),
                        extension: parked.parker.clone(),
                        contact: b.contact.clone(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let wait = self.cfg.probe_timeout.min(every);
        for key in self.reachability.due(wanted, now.mono) {
            if let Some(probe) = self.send_contact_probe(now, &key) {
                self.reachability
                    .probing(key, probe, now.mono, (now.mono + wait, every));
            }
        }
        self.drain_layer();
    }

    /// An OPTIONS to one registered contact, through its flow.
    fn send_contact_probe(&mut self, now: Now, key: &ContactKey) -> Option<ClientKey> {
        let domain = self.dir.tenant(&key.tenant)?.domain.clone();
        let binding = self
            .registrar
            .lookup(&key.tenant, &key.extension)
            .iter()
            .find(|b| b.contact == key.contact)?;
        let to = format!("<sip:{}@{domain}>", key.extension);
        let target = self.contact_target(binding, to)?;
        let mut headers = sip::Headers::default();
        headers.push(Name::Via, self.via(target.peer));
        headers.push(Name::MaxForwards, "70");
        target.push_route(&mut headers);
        headers.push(
            Name::From,
            format!("<sip:parkline@{domain}>;tag={}", self.ids.tag()),
        );
        headers.push(Name::To, target.to.clone());
        headers.push(Name::CallId, self.ids.call_id());
        headers.push(Name::CSeq, "1 OPTIONS");
        headers.push(Name::UserAgent, self.cfg.server_name.clone());
        let peer = target.peer;
        let options = Request {
            method: Method::Options,
            uri: target.uri,
            headers,
            body: bytes::Bytes::new(),
        };
        self.layer
            .send_request(now.mono, options, peer, peer.is_reliable())
    }

    /// Whether the contact `contact` of `extension` missed its last probe.
    pub(super) fn is_unreachable(&self, tenant: &str, extension: &str, contact: &str) -> bool {
        self.reachability.is_unreachable(&ContactKey {
            tenant: tenant.to_string(),
            extension: extension.to_string(),
            contact: contact.to_string(),
        })
    }
}
