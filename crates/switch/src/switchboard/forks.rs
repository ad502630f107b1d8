//! Answers to the switch's own INVITEs: ringing, early media, the first
//! 2xx that wins (ACK, bridge, 200 to the caller), failures and their best
//! mapping, CANCEL of the losers, and late answers to calls already gone.

use super::calls::*;
use super::Switch;
use crate::call::{CallId, OkRetransmit, Phase, Ringing, Side};
use crate::output::{MediaCommand, Output};
use crate::peer::Peer;
use crate::respond;
use crate::time::Now;
use bytes::Bytes;
use media::sdp::{self, Direction};
use sip::dialog::Dialog;
use sip::transaction::ClientKey;
use sip::{Method, Name, Request, Response, SipHeaders};
use std::net::SocketAddr;
use tracing::{debug, info, warn};

impl Switch {
    /// A response to one of our requests.
    pub(super) fn handle_call_response(&mut self, now: Now, key: ClientKey, resp: Response) {
        if key.method != "INVITE" {
            return; // BYE and CANCEL answers need no action
        }
        let Some(&id) = self.calls.by_fork.get(&key) else {
            return self.orphan_response(now, &key, &resp);
        };
        match resp.status {
            100 => {}
            101..=199 => self.fork_progress(now, id, &key, &resp),
            200..=299 => self.fork_answered(now, id, &key, &resp),
            401 | 407 if self.answer_trunk_challenge(now, &key, &resp) => {}
            _ => self.fork_failed(now, id, &key, resp.status),
        }
    }

    pub(super) fn orphan_response(&mut self, now: Now, key: &ClientKey, resp: &Response) {
        if resp.status < 200 {
            return;
        }
        let Some((invite, peer)) = self.calls.orphans.remove(key) else {
            return;
        };
        if resp.status < 300 {
            // Answered after the call ended: ACK and hang up at once.
            if let Ok(mut d) = Dialog::as_uac(&invite, resp) {
                self.send_ack(&mut d, peer);
                let bye = self.bye(&mut d, peer, "SIP;cause=487;text=\"Call already ended\"");
                self.layer
                    .send_request(now.mono, bye, peer, peer.is_reliable());
                self.drain_layer();
            }
        }
    }

    pub(super) fn send_ack(&mut self, d: &mut Dialog, peer: Peer) -> Bytes {
        let via = self.via(peer);
        let contact = self.contact(peer);
        let ack = d
            .request(Method::Ack, &via, &contact, Some(d.local_seq))
            .encode();
        self.transmit(peer, ack.clone());
        ack
    }

    pub(super) fn bye(&mut self, d: &mut Dialog, peer: Peer, reason: &str) -> Request {
        let via = self.via(peer);
        let contact = self.contact(peer);
        let mut bye = d.request(Method::Bye, &via, &contact, None);
        bye.headers.push(Name::Reason, reason.to_string());
        bye
    }

    /// 1xx from a fork: 183 with SDP bridges early media (announcements,
    /// ringback from the far end) and answers the caller with a 183 of our
    /// own; anything else becomes one 180 Ringing.
    pub(super) fn fork_progress(&mut self, now: Now, id: CallId, key: &ClientKey, resp: &Response) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let Phase::Ringing(ringing) = &mut call.phase else {
            return;
        };
        let offered = ringing
            .forking
            .forks
            .iter()
            .find(|f| &f.key == key)
            .map(|f| f.security.clone());
        let early = (resp.status == 183 && call.b.codec.is_none())
            .then(|| sdp::parse_audio(&resp.body).ok())
            .flatten()
            .filter(|a| !a.codecs.is_empty())
            .and_then(|a| {
                let mut security = offered?;
                security.handle_remote_sdp(&a).ok()?;
                Some((a, security))
            });
        if let Some((answer, security)) = early {
            call.b.security = security;
            let (b_codec, b_pt) = answer.codecs[0];
            call.b.codec = Some((b_codec, b_pt));
            call.b.telephone_event = answer.telephone_event;
            call.b.remote_media = answer.address.map(|ip| SocketAddr::new(ip, answer.port));
            call.a.codec = Some(codec_for_caller(&ringing.setup.offer, b_codec));
            ringing.told_ringing = true;
            let (key, mut progress) = (
                ringing.setup.key.clone(),
                respond::build(
                    &ringing.setup.invite,
                    183,
                    None,
                    &self.cfg.secret,
                    &self.cfg.server_name,
                ),
            );
            call.features.insert(crate::call::CallFeature::EarlyMedia);
            let body = call.a.sdp(self.cfg.media_address, Direction::SendRecv);
            let configs = [call.a.media_config(), call.b.media_config()];
            let bridge = MediaCommand::Bridge(call.a.port, call.b.port);
            let a_peer = call.a.peer;
            progress.headers.push(Name::Contact, self.contact(a_peer));
            progress.headers.push(Name::ContentType, "application/sdp");
            progress.body = body;
            let commands = configs.into_iter().flatten().chain([bridge]);
            self.outputs.extend(commands.map(Output::Media));
            debug!(call = id, "early media");
            return self.reply(now, &key, progress);
        }
        if ringing.told_ringing {
            return;
        }
        ringing.told_ringing = true;
        let key = ringing.setup.key.clone();
        let resp_180 = respond::build(
            &ringing.setup.invite,
            180,
            None,
            &self.cfg.secret,
            &self.cfg.server_name,
        );
        debug!(call = id, status = resp.status, "ringing");
        self.reply(now, &key, resp_180);
    }

    pub(super) fn fork_answered(&mut self, now: Now, id: CallId, key: &ClientKey, resp: &Response) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        match &call.phase {
            Phase::Ringing(_) => {}
            Phase::Comeback(_) => return self.comeback_answered(now, id, key, resp),
            _ => {
                // A retransmission of the 2xx that answered a leg: our ACK
                // was lost, so it is sent again.
                let this = String::from_utf8_lossy(resp.call_id().unwrap_or_default()).into_owned();
                let answered = [&call.a, &call.b].into_iter().find_map(|l| {
                    let d = l.dialog.as_ref()?;
                    (d.id.call_id == this && d.local_seq == 1).then(|| (d.clone(), l.peer))
                });
                if let Some((mut d, peer)) = answered {
                    self.send_ack(&mut d, peer);
                }
                return;
            }
        }
        let Some(fork_i) = call.phase.forks().iter().position(|f| &f.key == key) else {
            return;
        };
        let fork = &call.phase.forks()[fork_i];
        let (fork_peer, fork_invite) = (fork.peer, fork.invite.clone());
        let mut security = fork.security.clone();
        let Ok(mut dialog) = Dialog::as_uac(&fork_invite, resp) else {
            warn!(call = id, "2xx without a usable dialog");
            return self.fail_call(now, id, 502, "Bad Gateway");
        };
        self.send_ack(&mut dialog, fork_peer);
        let answer = sdp::parse_audio(&resp.body)
            .ok()
            .filter(|a| !a.codecs.is_empty() && security.handle_remote_sdp(a).is_ok());
        let Some(answer) = answer else {
            let bye = self.bye(
                &mut dialog,
                fork_peer,
                "SIP;cause=488;text=\"No usable SDP answer\"",
            );
            self.layer
                .send_request(now.mono, bye, fork_peer, fork_peer.is_reliable());
            self.drain_layer();
            return self.fail_call(now, id, 488, "Not Acceptable Here");
        };
        self.cancel_forks(now, id, Some(fork_i));
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        // Answered: what only ringing needed (the caller's INVITE and
        // offer, the forks) goes with the phase.
        let Phase::Ringing(ringing) = std::mem::replace(&mut call.phase, Phase::Answered) else {
            return;
        };
        let Ringing { setup, .. } = *ringing;
        self.calls.by_invite.remove(&setup.key);
        call.answered_by = Some(key.clone());
        let (b_codec, b_pt) = answer.codecs[0];
        call.b.codec = Some((b_codec, b_pt));
        call.b.telephone_event = answer.telephone_event;
        call.b.remote_media = answer.address.map(|ip| SocketAddr::new(ip, answer.port));
        call.b.peer = fork_peer;
        call.b.security = security;
        if let Some((secs, Some(refresher))) = session_expires(&resp.headers) {
            if refresher == "uas" && secs > 0 {
                let interval = std::time::Duration::from_secs(u64::from(secs));
                call.b.session = Some(crate::call::SessionTimer::new(interval, now.mono));
            }
        }
        // The caller gets the callee's codec if it offered it; otherwise its
        // own first choice, and the switch transcodes.
        let a_codec = codec_for_caller(&setup.offer, b_codec);
        if a_codec.0 != b_codec {
            call.features.insert(crate::call::CallFeature::Transcoding);
        }
        call.note_security();
        call.a.codec = Some(a_codec);
        let dkey_b = (
            dialog.id.call_id.clone(),
            dialog.id.local_tag.clone(),
            dialog.id.remote_tag.clone(),
        );
        call.b.dialog = Some(dialog);
        let a_dialog = Dialog::as_uas(&setup.invite, &setup.tag).ok();
        let dkey_a = a_dialog.as_ref().map(|d| {
            (
                d.id.call_id.clone(),
                d.id.local_tag.clone(),
                d.id.remote_tag.clone(),
            )
        });
        call.a.dialog = a_dialog;
        call.record.answered_ms = Some(now.unix_ms);
        let (pa, pb) = (call.a.port, call.b.port);
        let a_peer = call.a.peer;
        let session_a = session_for_a(&self.cfg, &setup.invite);
        if let Some(interval) = session_a {
            call.a.session = Some(crate::call::SessionTimer::new(interval, now.mono));
        }
        let body = call.a.sdp(self.cfg.media_address, Direction::SendRecv);
        let configs = [call.a.media_config(), call.b.media_config()];
        let commands = configs.into_iter().flatten().chain([
            MediaCommand::Bridge(pa, pb),
            MediaCommand::WatchIdle(pa, true),
            MediaCommand::WatchIdle(pb, true),
        ]);
        self.outputs.extend(commands.map(Output::Media));
        self.calls.by_dialog.insert(dkey_b, (id, Side::B));
        if let Some(k) = dkey_a {
            self.calls.by_dialog.insert(k, (id, Side::A));
        }
        let mut ok = respond::build(
            &setup.invite,
            200,
            None,
            &self.cfg.secret,
            &self.cfg.server_name,
        );
        ok.headers.push(Name::Contact, self.contact(a_peer));
        ok.headers.push(Name::Allow, RFC_OUR_METHODS);
        if let Some(interval) = session_a {
            ok.headers.push(Name::Require, "timer");
            ok.headers.push(
                Name::SessionExpires,
                format!("{};refresher=uac", interval.as_secs()),
            );
        }
        ok.headers.push(Name::ContentType, "application/sdp");
        ok.body = body;
        let wire = ok.encode();
        self.reply(now, &setup.key, ok);
        let t1 = self.cfg.timers.t1;
        let give_up = now.mono + self.cfg.timers.t1x64();
        if let Some(call) = self.calls.calls.get_mut(&id) {
            call.ok = (!a_peer.is_reliable()).then(|| OkRetransmit {
                side: Side::A,
                peer: a_peer,
                wire,
                next: now.mono + t1,
                interval: t1,
                give_up,
            });
            if a_peer.is_reliable() {
                call.phase = Phase::Established;
            }
            info!(call = id, codec_a = ?a_codec.0, codec_b = ?b_codec, "call answered");
            if let Some(at) = call.deadline() {
                self.calls.deadlines.schedule(at, id);
            }
        }
    }

    /// A request of ours got no answer at all (timer B or F).
    pub(super) fn handle_call_timeout(&mut self, now: Now, key: ClientKey) {
        self.calls.orphans.remove(&key);
        if let Some(&id) = self.calls.by_fork.get(&key) {
            self.fork_failed(now, id, &key, 408);
        }
    }

    pub(super) fn fork_failed(&mut self, now: Now, id: CallId, key: &ClientKey, status: u16) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if let Some(f) = call.phase.forks_mut().iter_mut().find(|f| &f.key == key) {
            f.final_status = Some(status);
        }
        self.calls.by_fork.remove(key);
        if call.phase.forks().iter().any(|f| f.final_status.is_none()) {
            return;
        }
        match call.phase {
            Phase::Comeback(_) => return self.comeback_failed(now, id),
            Phase::Ringing(_) => {}
            _ => return,
        }
        let best = call
            .phase
            .forks()
            .iter()
            .filter_map(|f| f.final_status)
            .min_by_key(|&s| failure_rank(s))
            .unwrap_or(480);
        let reason = sip::reason_phrase(best);
        self.fail_call(now, id, best, reason);
    }

    /// Ends a call that was never answered: final response to A, record.
    pub(super) fn fail_call(&mut self, now: Now, id: CallId, status: u16, reason: &str) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        if let Some(setup) = call.phase.setup() {
            let resp = respond::build(
                &setup.invite,
                status,
                Some(reason),
                &self.cfg.secret,
                &self.cfg.server_name,
            );
            let key = setup.key.clone();
            self.reply(now, &key, resp);
        }
        self.end_call(now, id, None, outcome_for(status), status, reason);
    }

    pub(super) fn cancel_forks(&mut self, now: Now, id: CallId, except: Option<usize>) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let pending: Vec<(ClientKey, Request, Peer)> = call
            .phase
            .forks()
            .iter()
            .enumerate()
            .filter(|(i, f)| Some(*i) != except && f.final_status.is_none())
            .map(|(_, f)| (f.key.clone(), f.invite.clone(), f.peer))
            .collect();
        for (key, invite, peer) in pending {
            let cancel = cancel_of(&invite, "SIP;cause=200;text=\"Call completed elsewhere\"");
            self.layer
                .send_request(now.mono, cancel, peer, peer.is_reliable());
            self.calls.by_fork.remove(&key);
            self.calls.orphans.insert(key, (invite, peer));
        }
        self.drain_layer();
    }
}

/// The CANCEL of one of our INVITEs (RFC 3261 §9.1: its Via, From, To,
/// Call-ID and CSeq number), with a `Reason`.
pub(super) fn cancel_of(invite: &Request, reason: &str) -> Request {
    let mut headers = sip::Headers::default();
    if let Some(v) = invite.headers.values(Name::Via).first() {
        headers.push(Name::Via, Bytes::copy_from_slice(v));
    }
    headers.push(Name::MaxForwards, "70");
    for n in [Name::From, Name::To, Name::CallId] {
        headers.copy_from(&invite.headers, n);
    }
    let seq = invite.cseq().map_or(1, |c| c.seq);
    headers.push(Name::CSeq, format!("{seq} CANCEL"));
    headers.push(Name::Reason, reason.to_string());
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers,
        body: Bytes::new(),
    }
}
