//! The registrar (RFC 3261 §10.3): bindings of extensions to contacts, with
//! expiry, several contacts per extension, `Expires: 0` and `*` removal,
//! Call-ID/CSeq ordering. Changes come out as [`StoreOp`]s so they survive
//! a restart.

use crate::output::StoreOp;
use accounts::Binding;
use sip::validate::parse_delta;
use sip::{ContactList, Name, Request, SipHeaders};
use std::collections::HashMap;

/// Why a REGISTER was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterError {
    /// SIP status.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// `Min-Expires` value for 423.
    pub min_expires: Option<u32>,
}

fn reject(status: u16, reason: &'static str) -> RegisterError {
    RegisterError {
        status,
        reason,
        min_expires: None,
    }
}

/// Bindings of every extension, in memory; the store holds a copy.
#[derive(Debug)]
pub struct Registrar {
    bindings: HashMap<(String, String), Vec<Binding>>,
    min_expires: u32,
    max_expires: u32,
    default_expires: u32,
    max_contacts: usize,
}

impl Registrar {
    /// A registrar with its interval bounds and contact limit.
    pub fn new(
        min_expires: u32,
        max_expires: u32,
        default_expires: u32,
        max_contacts: usize,
    ) -> Registrar {
        Registrar {
            bindings: HashMap::new(),
            min_expires,
            max_expires,
            default_expires,
            max_contacts,
        }
    }

    /// Restores bindings loaded from the store (dropping expired ones).
    pub fn restore(&mut self, bindings: Vec<Binding>, now_s: u64) -> Vec<StoreOp> {
        let mut ops = Vec::new();
        for b in bindings {
            if b.expires_at <= now_s {
                ops.push(expiry_op(&b));
            } else {
                self.bindings
                    .entry((b.tenant.clone(), b.extension.clone()))
                    .or_default()
                    .push(b);
            }
        }
        ops
    }

    /// Current bindings of an extension.
    pub fn lookup(&self, tenant: &str, extension: &str) -> &[Binding] {
        self.bindings
            .get(&(tenant.to_string(), extension.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// Every binding.
    pub fn all(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values().flatten()
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Applies an authenticated REGISTER for `tenant`/`extension` received
    /// from `source`. Returns the store writes; the caller answers 200 with
    /// [`Registrar::contact_headers`].
    pub fn register(
        &mut self,
        req: &Request,
        tenant: &str,
        extension: &str,
        source: accounts::Flow,
        now_s: u64,
    ) -> Result<Vec<StoreOp>, RegisterError> {
        let values = req.headers.values(Name::Contact);
        if values.is_empty() {
            return Ok(Vec::new()); // a query: answer with the current bindings
        }
        let list = ContactList::parse(&values).map_err(|_| reject(400, "Malformed Contact"))?;
        let header_expires = match req.headers.get(Name::Expires) {
            Some(v) => Some(parse_delta(v).ok_or(reject(400, "Malformed Expires"))?),
            None => None,
        };
        let call_id = String::from_utf8_lossy(req.call_id().unwrap_or_default()).into_owned();
        let cseq = req.cseq().map_err(|_| reject(400, "Malformed CSeq"))?.seq;
        let key = (tenant.to_string(), extension.to_string());
        let addrs = match list {
            ContactList::Star => {
                if header_expires != Some(0) {
                    return Err(reject(400, "Contact: * requires Expires: 0"));
                }
                let removed = self.bindings.remove(&key).unwrap_or_default();
                return Ok(removed.iter().map(remove_op).collect());
            }
            ContactList::Addrs(a) => a,
        };
        let user_agent = req.headers.get_str(Name::UserAgent).unwrap_or_default();
        let path = path_of(req);
        let mut planned = Vec::with_capacity(addrs.len());
        for addr in &addrs {
            let expires = match addr.params.value("expires") {
                Some(e) => {
                    parse_delta(e.as_bytes()).ok_or(reject(400, "Malformed Contact expires"))?
                }
                None => header_expires.unwrap_or(self.default_expires),
            };
            if expires > 0 && expires < self.min_expires {
                return Err(RegisterError {
                    status: 423,
                    reason: "Interval Too Brief",
                    min_expires: Some(self.min_expires),
                });
            }
            planned.push((addr.uri.to_string(), expires.min(self.max_expires)));
        }
        let current = self.bindings.entry(key.clone()).or_default();
        for (contact, _) in &planned {
            if let Some(b) = current.iter().find(|b| &b.contact == contact) {
                if b.call_id == call_id && cseq <= b.cseq {
                    return Err(reject(400, "Out-of-order REGISTER (CSeq not increasing)"));
                }
            }
        }
        let mut ops = Vec::new();
        for (contact, expires) in planned {
            current.retain(|b| {
                let same = b.contact == contact;
                if same && expires == 0 {
                    ops.push(remove_op(b));
                }
                !same
            });
            if expires == 0 {
                continue;
            }
            let binding = Binding {
                tenant: tenant.to_string(),
                extension: extension.to_string(),
                contact,
                source,
                expires_at: now_s + u64::from(expires),
                call_id: call_id.clone(),
                cseq,
                user_agent: user_agent.clone(),
                path: path.clone(),
            };
            ops.push(StoreOp::SaveBinding(binding.clone()));
            current.push(binding);
        }
        while current.len() > self.max_contacts {
            let oldest = (0..current.len())
                .min_by_key(|&i| current[i].expires_at)
                .unwrap_or(0);
            ops.push(remove_op(&current.remove(oldest)));
        }
        if current.is_empty() {
            self.bindings.remove(&key);
        }
        Ok(ops)
    }

    /// `Contact` header values listing an extension's bindings with their
    /// remaining lifetimes (RFC 3261 §10.3 step 8).
    pub fn contact_headers(&self, tenant: &str, extension: &str, now_s: u64) -> Vec<String> {
        self.lookup(tenant, extension)
            .iter()
            .map(|b| {
                format!(
                    "<{}>;expires={}",
                    b.contact,
                    b.expires_at.saturating_sub(now_s)
                )
            })
            .collect()
    }

    /// Removes expired bindings.
    pub fn sweep(&mut self, now_s: u64) -> Vec<StoreOp> {
        let mut ops = Vec::new();
        self.bindings.retain(|_, list| {
            list.retain(|b| {
                let live = b.expires_at > now_s;
                if !live {
                    ops.push(expiry_op(b));
                }
                live
            });
            !list.is_empty()
        });
        ops
    }
}

/// The `Path` URIs of a REGISTER (RFC 3327), in order. Requests to the
/// phone go to where the REGISTER came from, with these as `Route`s, so a
/// forged Path can only add headers to requests the phone itself gets.
pub fn path_of(req: &Request) -> Vec<String> {
    req.headers
        .values(Name::Path)
        .into_iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// The binding goes (the phone removed it, or it made room).
fn remove_op(b: &Binding) -> StoreOp {
    StoreOp::RemoveBinding {
        tenant: b.tenant.clone(),
        extension: b.extension.clone(),
        contact: b.contact.clone(),
        expired_by: None,
    }
}

/// The binding expired here: it goes from the store unless refreshed there.
fn expiry_op(b: &Binding) -> StoreOp {
    StoreOp::RemoveBinding {
        tenant: b.tenant.clone(),
        extension: b.extension.clone(),
        contact: b.contact.clone(),
        expired_by: Some(b.expires_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sip::Message;

    fn udp_flow() -> accounts::Flow {
        "udp:127.0.0.1:5070".parse().unwrap()
    }

    fn register(contact: &str, expires: Option<&str>, cseq: u32, call_id: &str) -> Request {
        let exp = expires
            .map(|e| format!("Expires: {e}\r\n"))
            .unwrap_or_default();
        let contact = if contact.is_empty() {
            String::new()
        } else {
            format!("Contact: {contact}\r\n")
        };
        let text = format!(
            "REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{cseq}\r\nFrom: <sip:333@acme.example>;tag=1\r\nTo: <sip:333@acme.example>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{contact}{exp}Content-Length: 0\r\n\r\n"
        );
        match sip::parse_datagram(&Bytes::from(text), &sip::Limits::default()).unwrap() {
            Some(Message::Request(r)) => r,
            _ => panic!(),
        }
    }

    #[test]
    fn register_refresh_unregister() {
        let mut r = Registrar::new(60, 3600, 3600, 2);
        r.register(
            &register("<sip:333@127.0.0.1:5070>", Some("120"), 1, "a"),
            "acme",
            "333",
            udp_flow(),
            1000,
        )
        .unwrap();
        assert_eq!(
            r.contact_headers("acme", "333", 1010),
            vec!["<sip:333@127.0.0.1:5070>;expires=110"]
        );
        r.register(
            &register("<sip:333@127.0.0.1:5070>;expires=7200", None, 2, "a"),
            "acme",
            "333",
            udp_flow(),
            1000,
        )
        .unwrap();
        assert_eq!(
            r.lookup("acme", "333")[0].expires_at,
            4600,
            "clamped to max_expires"
        );
        let err = r.register(
            &register("<sip:333@127.0.0.1:5070>", None, 2, "a"),
            "acme",
            "333",
            udp_flow(),
            1000,
        );
        assert_eq!(
            err.unwrap_err().status,
            400,
            "CSeq must grow within a Call-ID"
        );
        let ops = r
            .register(
                &register("<sip:333@127.0.0.1:5070>", Some("0"), 3, "a"),
                "acme",
                "333",
                udp_flow(),
                1000,
            )
            .unwrap();
        assert!(matches!(ops[0], StoreOp::RemoveBinding { .. }));
        assert!(r.is_empty());
    }

    #[test]
    fn several_contacts_star_and_limits() {
        let mut r = Registrar::new(60, 3600, 3600, 2);
        r.register(
            &register("<sip:a@h1>, <sip:b@h2>", None, 1, "a"),
            "acme",
            "333",
            udp_flow(),
            0,
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        r.register(
            &register("<sip:c@h3>", None, 1, "b"),
            "acme",
            "333",
            udp_flow(),
            10,
        )
        .unwrap();
        assert_eq!(r.len(), 2, "the oldest contact makes room");
        assert_eq!(
            r.register(
                &register("<sip:d@h>", Some("30"), 2, "b"),
                "acme",
                "333",
                udp_flow(),
                10
            )
            .unwrap_err()
            .status,
            423
        );
        assert_eq!(
            r.register(&register("*", None, 3, "b"), "acme", "333", udp_flow(), 10)
                .unwrap_err()
                .status,
            400
        );
        r.register(
            &register("*", Some("0"), 4, "b"),
            "acme",
            "333",
            udp_flow(),
            10,
        )
        .unwrap();
        assert!(r.is_empty());
    }

    #[test]
    fn sweep_expires_bindings() {
        let mut r = Registrar::new(60, 3600, 3600, 5);
        r.register(
            &register("<sip:a@h1>", Some("60"), 1, "a"),
            "acme",
            "333",
            udp_flow(),
            0,
        )
        .unwrap();
        assert!(r.sweep(59).is_empty());
        let ops = r.sweep(60);
        assert!(
            matches!(
                ops[..],
                [StoreOp::RemoveBinding {
                    expired_by: Some(60),
                    ..
                }]
            ),
            "an expiry removes the stored copy only if no refresh came since: {ops:?}"
        );
        assert!(r.is_empty());
    }
}
