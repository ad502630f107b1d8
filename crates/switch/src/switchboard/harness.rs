//! The one harness the switchboard's unit tests share: a switch, a fake
//! clock, hand-made datagrams in, and what the switch did out (bytes per
//! peer parsed back, media commands, store writes).

use super::*;
use crate::output::{MediaCommand, StoreOp};
use crate::peer::Transport;
use std::time::{Duration, Instant};

pub(super) struct World {
    pub(super) sw: Switch,
    pub(super) now: Now,
    /// Numbers requests and tags of the tests' own messages.
    pub(super) seq: u32,
    /// Where [`World::send`] sends from.
    pub(super) peer: Peer,
    /// Phones that are gone: OPTIONS to them go unanswered. Every other
    /// address answers them 200 at once, as a live phone does.
    pub(super) dead: std::collections::HashSet<String>,
}

/// What the switch did in reaction to one input.
pub(super) struct Did {
    pub(super) sent: Vec<(String, Message)>,
    pub(super) media: Vec<MediaCommand>,
    pub(super) store: Vec<StoreOp>,
    pub(super) events: Vec<crate::switch_event::SwitchEvent>,
    /// Questions for the operator's authorization service.
    pub(super) questions: Vec<crate::external_authorization::AuthorizationRequest>,
    /// Parking positions claimed in the shared store.
    pub(super) claims: Vec<super::PositionClaim>,
    /// Positions looked up in the shared store.
    pub(super) lookups: Vec<super::PositionLookup>,
    /// Outcomes of operators' moves that waited for their claims.
    pub(super) moves: Vec<super::MoveAnswer>,
}

impl Did {
    pub(super) fn to(&self, addr: &str) -> Vec<&Message> {
        self.sent
            .iter()
            .filter(|(a, _)| a == addr)
            .map(|(_, m)| m)
            .collect()
    }

    pub(super) fn response_to(&self, addr: &str, status: u16) -> Response {
        self.to(addr)
            .into_iter()
            .find_map(|m| match m {
                Message::Response(r) if r.status == status => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {status} to {addr}: {:?}",
                    self.sent
                        .iter()
                        .map(|(a, m)| (a, first_line(m)))
                        .collect::<Vec<_>>()
                )
            })
    }

    pub(super) fn request_to(&self, addr: &str, method: Method) -> Request {
        self.to(addr)
            .into_iter()
            .find_map(|m| match m {
                Message::Request(r) if r.method == method => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {method} to {addr}"))
    }
}

pub(super) fn first_line(m: &Message) -> String {
    String::from_utf8_lossy(&m.encode())
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

impl World {
    /// A switch with these settings and accounts, at a fixed time.
    pub(super) fn with(cfg: SwitchConfig, dir: Directory) -> World {
        World {
            sw: Switch::new(cfg, dir),
            now: Now {
                mono: Instant::now(),
                unix_ms: 1_700_000_000_000,
            },
            seq: 0,
            dead: Default::default(),
            peer: Peer {
                transport: Transport::Udp,
                addr: "127.0.0.1:5070".parse().unwrap(),
            },
        }
    }

    pub(super) fn collect(&mut self) -> Did {
        let mut did = self.drain();
        // Live phones answer OPTIONS probes (what that sets off is kept too).
        let mut at = 0;
        while at < did.sent.len() {
            let probe = match &did.sent[at] {
                (addr, Message::Request(r))
                    if r.method == Method::Options && !self.dead.contains(addr) =>
                {
                    Some((addr.clone(), r.clone()))
                }
                _ => None,
            };
            at += 1;
            let Some((addr, req)) = probe else {
                continue;
            };
            let ok = Response::to_request(&req, 200, "OK");
            let peer = Peer {
                transport: Transport::Udp,
                addr: addr.parse().unwrap(),
            };
            self.sw
                .handle_datagram(self.now, self.now.mono, peer, ok.encode());
            let more = self.drain();
            did.sent.extend(more.sent);
            did.media.extend(more.media);
            did.store.extend(more.store);
            did.events.extend(more.events);
            did.questions.extend(more.questions);
            did.claims.extend(more.claims);
            did.lookups.extend(more.lookups);
            did.moves.extend(more.moves);
        }
        did
    }

    fn drain(&mut self) -> Did {
        let mut did = Did {
            sent: vec![],
            media: vec![],
            store: vec![],
            events: vec![],
            questions: vec![],
            claims: vec![],
            lookups: vec![],
            moves: vec![],
        };
        while let Some(o) = self.sw.poll_output() {
            match o {
                Output::Transmit(p, b) => {
                    if let Ok(Some(m)) = sip::parse_datagram(&b, &sip::Limits::default()) {
                        did.sent.push((p.addr.to_string(), m));
                    }
                }
                Output::Media(c) => did.media.push(c),
                Output::Store(s) => did.store.push(s),
                Output::TrustFlow(_) => {}
                Output::Event(e) => did.events.push(*e),
                Output::Authorize(q) => did.questions.push(*q),
                Output::Claim(c) => did.claims.push(*c),
                Output::Locate(l) => did.lookups.push(*l),
                Output::MoveAnswered(a) => did.moves.push(*a),
            }
        }
        did
    }

    pub(super) fn from(&mut self, addr: &str, text: &str) -> Did {
        self.read_late(addr, text, Duration::ZERO)
    }

    /// `text` from `addr`, read `waited` after it arrived.
    pub(super) fn read_late(&mut self, addr: &str, text: &str, waited: Duration) -> Did {
        let peer = Peer {
            transport: Transport::Udp,
            addr: addr.parse().unwrap(),
        };
        let arrived = self.now.mono - waited;
        self.sw.handle_datagram(
            self.now,
            arrived,
            peer,
            Bytes::copy_from_slice(text.as_bytes()),
        );
        self.collect()
    }

    /// The authorization service's verdict on question `id`.
    pub(super) fn verdict(&mut self, id: u64, v: crate::external_authorization::Verdict) -> Did {
        self.sw.handle_verdict(self.now, id, v);
        self.collect()
    }

    pub(super) fn advance(&mut self, d: Duration) -> Did {
        self.now.mono += d;
        self.now.unix_ms += d.as_millis() as u64;
        self.sw.handle_timeout(self.now);
        self.collect()
    }

    /// Lets `secs` seconds pass one at a time (every sweep and probe on
    /// its time, unlike one [`World::advance`]); everything done meanwhile.
    pub(super) fn live(&mut self, secs: u64) -> Did {
        let mut all = self.advance(Duration::ZERO);
        for _ in 0..secs {
            let did = self.advance(Duration::from_secs(1));
            all.sent.extend(did.sent);
            all.media.extend(did.media);
            all.store.extend(did.store);
            all.events.extend(did.events);
            all.questions.extend(did.questions);
            all.claims.extend(did.claims);
        }
        all
    }

    /// Sends `text` from [`World::peer`]; every output, unparsed.
    pub(super) fn send(&mut self, text: &str) -> Vec<Output> {
        self.sw.handle_datagram(
            self.now,
            self.now.mono,
            self.peer,
            Bytes::copy_from_slice(text.as_bytes()),
        );
        std::iter::from_fn(|| self.sw.poll_output()).collect()
    }

    /// Sends `text` from [`World::peer`]; the response it got.
    pub(super) fn response(&mut self, text: &str) -> Response {
        let outs = self.send(text);
        let wire = outs
            .iter()
            .find_map(|o| match o {
                Output::Transmit(_, b) => Some(b.clone()),
                _ => None,
            })
            .expect("a response was sent");
        match sip::parse_datagram(&wire, &sip::Limits::default()).unwrap() {
            Some(Message::Response(r)) => r,
            _ => panic!("not a response"),
        }
    }
}
