//! The callee's contacts ringing: our INVITEs' answers. A 1xx tells the
//! caller it rings (a 183 with SDP bridges early media); the first 2xx wins
//! (ACK, bridge, 200 to the caller) and the others are cancelled; when all
//! fail, the best failure is the caller's answer.

use super::session_timer::{session_expires, session_for_a};
use super::{Call, CallCtx, CallFeature, OkRetransmit, Phase, Report, Ringing, SessionTimer, Side};
use crate::output::MediaCommand;
use bytes::Bytes;
use media::sdp::{self, Audio, Direction};
use media::Codec;
use sip::dialog::Dialog;
use sip::transaction::ClientKey;
use sip::{Method, Name, Request, Response, SipHeaders};
use std::net::SocketAddr;
use tracing::{debug, info, warn};

/// The methods the switch allows in its dialogs (`Allow`).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, REFER, NOTIFY";

/// What an answer to one of our INVITEs asks of the switchboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkOutcome {
    /// Nothing more.
    Nothing,
    /// The call fails with this status (the caller is told already when it
    /// still rang).
    Failed(u16),
    /// A comeback's phone answered.
    ComebackAnswered,
    /// Every phone of a comeback failed.
    ComebackUnanswered,
    /// Every phone of a transfer's target failed, with this status.
    TransferFailed(u16),
}

/// The codec the caller gets: the callee's if the caller offered it (no
/// transcoding), otherwise the caller's first choice.
pub fn codec_for_caller(offer: &Audio, callee: Codec) -> (Codec, u8) {
    offer
        .codecs
        .iter()
        .find(|(c, _)| *c == callee)
        .or(offer.codecs.first())
        .copied()
        .unwrap_or((Codec::Pcmu, 0))
}

/// The other G.711 law, as offered beside the first.
fn other_law(codec: Codec) -> (Codec, u8) {
    match codec {
        Codec::Pcmu => (Codec::Pcma, 8),
        Codec::Pcma => (Codec::Pcmu, 0),
    }
}

/// Rank of a final failure when choosing what to tell the caller (lower wins).
pub fn failure_rank(status: u16) -> u16 {
    match status {
        600..=699 => 0,
        486 => 1,
        480 => 2,
        404 => 3,
        408 => 4,
        487 => 9,
        _ => 5,
    }
}

/// The CANCEL of one of our INVITEs (RFC 3261 §9.1: its Via, From, To,
/// Call-ID and CSeq number), with a `Reason`.
pub fn cancel_of(invite: &Request, reason: &str) -> Request {
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

/// The ACK of a 2xx in `dialog`, sent to `peer` (outside any transaction).
pub fn send_ack(ctx: &mut CallCtx, dialog: &mut Dialog, peer: crate::peer::Peer) {
    let via = crate::addressing::via(ctx.cfg, ctx.ids, peer);
    let contact = ctx.contact(peer);
    let ack = dialog
        .request(Method::Ack, &via, &contact, Some(dialog.local_seq))
        .encode();
    ctx.transmit(peer, ack);
}

/// The 2xx of one of our INVITEs, acknowledged: the dialog it made, the
/// contact that answered, the media protection agreed and its SDP (if
/// usable).
pub struct Answer {
    /// The new dialog.
    pub dialog: Dialog,
    /// The answering contact.
    pub peer: crate::peer::Peer,
    /// SRTP or plain, as agreed.
    pub security: crate::media_security::LegSecurity,
    /// Its SDP answer, if it had a usable one.
    pub sdp: Option<Audio>,
    /// Whether the answer's `Allow` names UPDATE.
    pub allows_update: bool,
}

impl Answer {
    /// Gives `leg` the answer: its dialog, peer, protection and media.
    pub fn into_leg(self, leg: &mut super::Leg) {
        leg.dialog = Some(self.dialog);
        leg.peer = self.peer;
        leg.security = self.security;
        leg.allows_update = self.allows_update;
        if let Some(a) = &self.sdp {
            leg.codec = a.codecs.first().copied();
            leg.telephone_event = a.telephone_event;
            leg.remote_media = a.address.map(|ip| SocketAddr::new(ip, a.port));
        }
    }
}

impl Call {
    /// Acknowledges the 2xx `resp` of our INVITE `key` and cancels the
    /// others still ringing; `None` if `key` is not ringing or the 2xx
    /// makes no dialog.
    pub(super) fn take_answer(
        &mut self,
        ctx: &mut CallCtx,
        key: &ClientKey,
        resp: &Response,
    ) -> Option<Answer> {
        let fork = self.phase.forks().iter().find(|f| &f.key == key)?;
        let (invite, peer) = (fork.invite.clone(), fork.peer);
        let mut security = fork.security.clone();
        let mut dialog = Dialog::as_uac(&invite, resp).ok()?;
        send_ack(ctx, &mut dialog, peer);
        let sdp = sdp::parse_audio(&resp.body)
            .ok()
            .filter(|a| !a.codecs.is_empty() && security.handle_remote_sdp(a).is_ok());
        self.cancel_forks(ctx, Some(key));
        Some(Answer {
            dialog,
            peer,
            security,
            sdp,
            allows_update: super::allows_update(&resp.headers),
        })
    }

    /// A 1xx to one of our INVITEs while the call rings: one 180 to the
    /// caller, or a 183 with our SDP and early media when the callee's
    /// phone sends SDP.
    pub fn handle_progress(&mut self, ctx: &mut CallCtx, key: &ClientKey, resp: &Response) {
        self.fork_heard(key);
        let Phase::Ringing(ringing) = &mut self.phase else {
            return;
        };
        let offered = ringing
            .forking
            .forks
            .iter()
            .find(|f| &f.key == key)
            .map(|f| f.security.clone());
        // Early media needs an SDP to the caller; with a delayed offer that
        // would be an offer in an unreliable 183, which it cannot answer.
        let early = (resp.status == 183 && self.b.codec.is_none() && !ringing.setup.delayed)
            .then(|| sdp::parse_audio(&resp.body).ok())
            .flatten()
            .filter(|a| !a.codecs.is_empty())
            .and_then(|a| {
                let mut security = offered?;
                security.handle_remote_sdp(&a).ok()?;
                Some((a, security))
            });
        let told = std::mem::replace(&mut ringing.told_ringing, true);
        let Some((answer, security)) = early else {
            if !told {
                debug!(status = resp.status, "ringing");
                let ringing_resp = ctx.response(&ringing.setup.invite, 180, None);
                ctx.reply(&ringing.setup.key, &ringing_resp);
            }
            return;
        };
        self.b.security = security;
        let (b_codec, b_pt) = answer.codecs[0];
        self.b.codec = Some((b_codec, b_pt));
        self.b.telephone_event = answer.telephone_event;
        self.b.remote_media = answer.address.map(|ip| SocketAddr::new(ip, answer.port));
        self.a.codec = Some(codec_for_caller(&ringing.setup.offer, b_codec));
        self.features.insert(CallFeature::EarlyMedia);
        let mut progress = ctx.response(&ringing.setup.invite, 183, None);
        progress
            .headers
            .push(Name::Contact, ctx.contact(self.a.peer));
        progress.headers.push(Name::ContentType, "application/sdp");
        progress.body = self.a.sdp(ctx.cfg.media_address, Direction::SendRecv);
        ctx.reply(&ringing.setup.key, &progress);
        for c in [self.a.media_config(), self.b.media_config()]
            .into_iter()
            .flatten()
        {
            ctx.media(c);
        }
        ctx.media(MediaCommand::Bridge(self.a.port, self.b.port));
        debug!("early media");
    }

    /// A 2xx to one of our INVITEs. The first while the call rings answers
    /// it; one while a comeback rings is the switchboard's; one after the
    /// answer is a retransmission, acknowledged again.
    pub fn handle_answer(
        &mut self,
        ctx: &mut CallCtx,
        key: &ClientKey,
        resp: &Response,
    ) -> ForkOutcome {
        match &self.phase {
            Phase::Ringing(_) => self.answered(ctx, key, resp),
            Phase::Comeback(_) => ForkOutcome::ComebackAnswered,
            Phase::Transferring(_) => {
                self.transfer_answered(ctx, key, resp);
                ForkOutcome::Nothing
            }
            _ => {
                let this = String::from_utf8_lossy(resp.call_id().unwrap_or_default()).into_owned();
                let answered = [&self.a, &self.b].into_iter().find_map(|l| {
                    let d = l.dialog.as_ref()?;
                    (d.id.call_id == this && d.local_seq == 1).then(|| (d.clone(), l.peer))
                });
                if let Some((mut d, peer)) = answered {
                    send_ack(ctx, &mut d, peer);
                }
                ForkOutcome::Nothing
            }
        }
    }

    /// The callee answered: the others are cancelled, both legs bridged,
    /// the caller gets our 200 (resent until its ACK on UDP).
    fn answered(&mut self, ctx: &mut CallCtx, key: &ClientKey, resp: &Response) -> ForkOutcome {
        let Some(fork) = self.phase.forks().iter().find(|f| &f.key == key) else {
            return ForkOutcome::Nothing;
        };
        // Another node of the cluster answering for a parked call names
        // the party: the caller is shown it as if the call were here.
        let shown = fork
            .invite
            .headers
            .get(Name::ParklineNode)
            .and(resp.headers.get(Name::PAssertedIdentity))
            .cloned();
        let Some(mut taken) = self.take_answer(ctx, key, resp) else {
            warn!("2xx without a usable dialog");
            return ForkOutcome::Failed(502);
        };
        let Some(answer) = taken.sdp.clone() else {
            let reason = "SIP;cause=488;text=\"No usable SDP answer\"";
            ctx.bye(&mut taken.dialog, taken.peer, reason);
            return ForkOutcome::Failed(488);
        };
        // Answered: what only ringing needed goes with the phase.
        let Phase::Ringing(ringing) = std::mem::replace(&mut self.phase, Phase::Answered) else {
            return ForkOutcome::Nothing;
        };
        let Ringing { setup, .. } = *ringing;
        ctx.reports.push(Report::InviteAnswered(setup.key.clone()));
        self.answered_by = Some(key.clone());
        let now = ctx.now.mono;
        let b_codec = answer.codecs[0].0;
        let dialog_id = taken.dialog.id.clone();
        taken.into_leg(&mut self.b);
        let b = &mut self.b;
        if let Some((secs, Some(refresher))) = session_expires(&resp.headers) {
            if refresher == "uas" && secs > 0 {
                let interval = std::time::Duration::from_secs(u64::from(secs));
                b.session = Some(SessionTimer::new(interval, now));
            }
        }
        // The caller gets the callee's codec if it offered it; otherwise its
        // own first choice, and the switch transcodes.
        let a_codec = codec_for_caller(&setup.offer, b_codec);
        if a_codec.0 != b_codec {
            self.features.insert(CallFeature::Transcoding);
        }
        self.note_security();
        let offered = [a_codec, other_law(a_codec.0)];
        if setup.delayed {
            self.a.offer_pending = true;
        } else {
            self.a.codec = Some(a_codec);
        }
        ctx.reports.push(Report::DialogOpened(dialog_id, Side::B));
        self.a.dialog = Dialog::as_uas(&setup.invite, &setup.tag).ok();
        if let Some(d) = &self.a.dialog {
            ctx.reports
                .push(Report::DialogOpened(d.id.clone(), Side::A));
        }
        self.record.answered_ms = Some(ctx.now.unix_ms);
        self.start_time_limit(now);
        let session_a = session_for_a(ctx.cfg, &setup.invite);
        if let Some(interval) = session_a {
            self.a.session = Some(SessionTimer::new(interval, now));
        }
        let (pa, pb) = (self.a.port, self.b.port);
        for c in [self.a.media_config(), self.b.media_config()]
            .into_iter()
            .flatten()
        {
            ctx.media(c);
        }
        ctx.media(MediaCommand::Bridge(pa, pb));
        ctx.media(MediaCommand::WatchIdle(pa, true));
        ctx.media(MediaCommand::WatchIdle(pb, true));
        let a_peer = self.a.peer;
        let mut ok = ctx.response(&setup.invite, 200, None);
        ok.headers.push(Name::Contact, ctx.contact(a_peer));
        ok.headers.push(Name::Allow, ALLOW);
        if let Some(identity) = shown {
            ok.headers.push(Name::PAssertedIdentity, identity);
        }
        if let Some(interval) = session_a {
            ok.headers.push(Name::Require, "timer");
            ok.headers.push(
                Name::SessionExpires,
                format!("{};refresher=uac", interval.as_secs()),
            );
        }
        ok.headers.push(Name::ContentType, "application/sdp");
        ok.body = if setup.delayed {
            self.a
                .sdp_of(ctx.cfg.media_address, Direction::SendRecv, &offered)
        } else {
            self.a.sdp(ctx.cfg.media_address, Direction::SendRecv)
        };
        let wire = ok.encode();
        ctx.reply(&setup.key, &ok);
        let t1 = ctx.cfg.timers.t1;
        self.ok = (!a_peer.is_reliable()).then(|| OkRetransmit {
            side: Side::A,
            peer: a_peer,
            wire,
            next: now + t1,
            interval: t1,
            give_up: now + ctx.cfg.timers.t1x64(),
        });
        if a_peer.is_reliable() {
            self.phase = Phase::Established;
        }
        info!(codec_a = ?a_codec.0, codec_b = ?b_codec, "call answered");
        ForkOutcome::Nothing
    }

    /// A final failure of one of our INVITEs (or its timeout). When none
    /// rings any more: the best failure for a new call, or the comeback's
    /// failure.
    pub fn handle_fork_failure(
        &mut self,
        ctx: &mut CallCtx,
        key: &ClientKey,
        status: u16,
    ) -> ForkOutcome {
        if let Some(f) = self.phase.forks_mut().iter_mut().find(|f| &f.key == key) {
            f.final_status = Some(status);
        }
        ctx.reports.push(Report::ForkDone(key.clone()));
        let forks = self.phase.forks();
        if forks.iter().any(|f| f.final_status.is_none()) {
            return ForkOutcome::Nothing;
        }
        match self.phase {
            Phase::Comeback(_) => ForkOutcome::ComebackUnanswered,
            Phase::Transferring(_) => ForkOutcome::TransferFailed(
                forks
                    .iter()
                    .filter_map(|f| f.final_status)
                    .min_by_key(|&s| failure_rank(s))
                    .unwrap_or(480),
            ),
            Phase::Ringing(_) => {
                let best = forks
                    .iter()
                    .filter_map(|f| f.final_status)
                    .min_by_key(|&s| failure_rank(s))
                    .unwrap_or(480);
                ForkOutcome::Failed(best)
            }
            _ => ForkOutcome::Nothing,
        }
    }

    /// Anything answered our INVITE `key`: its phone is there.
    pub fn fork_heard(&mut self, key: &ClientKey) {
        if let Some(f) = self.phase.forks_mut().iter_mut().find(|f| &f.key == key) {
            f.reply_by = None;
        }
    }

    /// When the first INVITE still unanswered by anything is given up.
    pub(super) fn silence_deadline(&self) -> Option<std::time::Instant> {
        self.phase
            .forks()
            .iter()
            .filter(|f| f.final_status.is_none())
            .filter_map(|f| f.reply_by)
            .min()
    }

    /// Our INVITEs nothing answered by their `reply_by` (dead phones):
    /// cancelled (a late 2xx is hung up), to be failed with 408.
    pub(super) fn give_up_silent_forks(&mut self, ctx: &mut CallCtx) -> Vec<ClientKey> {
        let now = ctx.now.mono;
        let mut silent = Vec::new();
        for f in self.phase.forks_mut() {
            if f.final_status.is_some() || f.reply_by.is_none_or(|at| now < at) {
                continue;
            }
            f.reply_by = None;
            let cancel = cancel_of(&f.invite, "SIP;cause=408;text=\"No reply\"");
            ctx.send(cancel, f.peer);
            ctx.reports.push(Report::ForkCancelled {
                key: f.key.clone(),
                invite: Box::new(f.invite.clone()),
                peer: f.peer,
            });
            silent.push(f.key.clone());
        }
        silent
    }

    /// CANCELs every INVITE still ringing but `except`; the switchboard
    /// keeps them to answer a late 2xx (ACK and BYE).
    pub fn cancel_forks(&mut self, ctx: &mut CallCtx, except: Option<&ClientKey>) {
        for f in self.phase.forks_mut() {
            if Some(&f.key) == except || f.final_status.is_some() {
                continue;
            }
            f.final_status = Some(487);
            let cancel = cancel_of(&f.invite, "SIP;cause=200;text=\"Call completed elsewhere\"");
            ctx.send(cancel, f.peer);
            ctx.reports.push(Report::ForkCancelled {
                key: f.key.clone(),
                invite: Box::new(f.invite.clone()),
                peer: f.peer,
            });
        }
    }

    /// Tells the caller of a call still ringing that it failed.
    pub fn refuse_caller(&mut self, ctx: &mut CallCtx, status: u16, reason: &str) {
        if let Some(setup) = self.phase.setup() {
            let resp = ctx.response(&setup.invite, status, Some(reason));
            ctx.reply(&setup.key, &resp);
        }
    }
}
