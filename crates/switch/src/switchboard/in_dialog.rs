//! Requests inside a call: the caller's CANCEL, the ACK of our 2xx, BYE,
//! and re-INVITE/UPDATE holds answered by the switch itself.

use super::calls::*;
use super::Switch;
use crate::call::{other, Call, CallId, Phase, Side};
use crate::output::{MediaCommand, Output};
use crate::time::Now;
use accounts::Outcome;
use media::sdp::{self, Audio, Direction};
use sip::transaction::ServerKey;
use sip::{Method, Name, Request};
use std::net::SocketAddr;
use tracing::info;

impl Switch {
    /// CANCEL from the caller.
    pub(super) fn handle_cancel(&mut self, now: Now, key: ServerKey, req: Request) {
        let invite_key = key.invite_of_cancel();
        let id = self.calls.by_invite.get(&invite_key).copied();
        let ringing = id
            .and_then(|id| self.calls.calls.get(&id))
            .is_some_and(|c| c.phase.is_ringing());
        let status = if id.is_some() || self.layer.has_server(&invite_key) {
            200
        } else {
            481
        };
        let resp = self.response(&req, status, None);
        self.reply(now, &key, resp);
        if let (Some(id), true) = (id, ringing) {
            info!(call = id, "caller cancelled");
            self.cancel_forks(now, id, None);
            self.fail_call(now, id, 487, "Request Terminated");
        }
    }

    /// An ACK outside any transaction: the caller acknowledging our 2xx.
    pub(super) fn handle_dialog_ack(&mut self, req: &Request) {
        let Some(dkey) = dialog_key_of(req) else {
            return;
        };
        let Some(&(id, side)) = self.calls.by_dialog.get(&dkey) else {
            return;
        };
        if let Some(call) = self.calls.calls.get_mut(&id) {
            if call.ok.as_ref().is_some_and(|o| o.side == side) {
                call.ok = None;
            }
            if matches!(call.phase, Phase::Answered) {
                call.phase = Phase::Established;
            }
        }
    }

    /// A request with a To tag: BYE, re-INVITE, or anything else in a dialog.
    pub(super) fn handle_in_dialog(&mut self, now: Now, key: ServerKey, req: Request) {
        let found = dialog_key_of(&req).and_then(|k| self.calls.by_dialog.get(&k).copied());
        let Some((id, side)) = found else {
            let resp = self.response(&req, 481, None);
            return self.reply(now, &key, resp);
        };
        let checked = self
            .calls
            .calls
            .get_mut(&id)
            .and_then(|c| c.leg_mut(side).dialog.as_mut())
            .map(|d| d.handle_request(&req));
        if let Some(Err(e)) = checked {
            let resp = self.response(&req, 500, Some(e.0));
            return self.reply(now, &key, resp);
        }
        match req.method {
            Method::Bye => {
                let resp = self.response(&req, 200, None);
                self.reply(now, &key, resp);
                let who = if side == Side::A { "caller" } else { "callee" };
                info!(call = id, "{who} hung up");
                self.end_call(
                    now,
                    id,
                    Some(side),
                    Outcome::Answered,
                    200,
                    &format!("{who} hung up"),
                );
            }
            Method::Invite | Method::Update => self.handle_reinvite(now, id, side, key, req),
            Method::Refer => self.handle_refer(now, id, side, key, req),
            _ => {
                let resp = self.response(&req, 200, None);
                self.reply(now, &key, resp);
            }
        }
    }

    /// re-INVITE: hold, resume, or a new media address. Answered by the
    /// switch; never forwarded (the held party hears the switch's music).
    pub(super) fn handle_reinvite(
        &mut self,
        now: Now,
        id: CallId,
        side: Side,
        key: ServerKey,
        req: Request,
    ) {
        let offer = if req.body.is_empty() {
            None
        } else {
            sdp::parse_audio(&req.body).ok()
        };
        if !req.body.is_empty() && offer.is_none() {
            let resp = self.response(&req, 488, None);
            return self.reply(now, &key, resp);
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if let Some(o) = &offer {
            if let Err(refusal) = call.leg_mut(side).security.handle_remote_sdp(o) {
                let resp = self.response(&req, 488, Some(refusal.reason()));
                return self.reply(now, &key, resp);
            }
        }
        let holding = offer.as_ref().is_some_and(Audio::is_hold);
        let direction = offer
            .as_ref()
            .map_or(Direction::SendRecv, |o| o.direction.answer());
        let direction = if holding && direction == Direction::SendRecv {
            Direction::Inactive
        } else {
            direction
        };
        let leg = call.leg_mut(side);
        if let Some(o) = &offer {
            if let Some(ip) = o.address.filter(|ip| !ip.is_unspecified()) {
                leg.remote_media = Some(SocketAddr::new(ip, o.port));
            }
            if let Some(te) = o.telephone_event {
                leg.telephone_event = Some(te);
            }
        }
        leg.sdp.bump();
        let refreshed = leg.session.as_mut().map(|s| {
            s.refresh(now.mono);
            s.interval
        });
        let changed = leg.holding != holding;
        leg.holding = holding;
        if changed && holding {
            leg.held_at = Some(now.mono);
        }
        let (mine, theirs) = (call.leg(side).port, call.leg(other(side)).port);
        if holding {
            call.features.insert(crate::call::CallFeature::Hold);
        }
        let config = media_config(call.leg(side));
        let body = sdp_for(self.cfg.media_address, call.leg(side), direction);
        let leg_peer = call.leg(side).peer;
        let other_holding = call.leg(other(side)).holding;
        // Only a call of two parties is re-bridged on hold and resume: a
        // parked party, or one hearing an announcement or ringing a
        // comeback, keeps hearing what the switch plays (there is no other
        // leg to bridge to).
        let bridged = matches!(call.phase, Phase::Established | Phase::Answered);
        self.outputs.extend(config.map(Output::Media));
        if changed && bridged {
            if holding {
                info!(call = id, ?side, "hold: music to the other party");
                self.outputs
                    .push_back(Output::Media(MediaCommand::Music(theirs)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::Silence(mine)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::WatchIdle(mine, false)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::WatchIdle(theirs, false)));
            } else if !other_holding {
                info!(call = id, ?side, "resume");
                self.outputs
                    .push_back(Output::Media(MediaCommand::Bridge(mine, theirs)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::WatchIdle(mine, true)));
                self.outputs
                    .push_back(Output::Media(MediaCommand::WatchIdle(theirs, true)));
            } else {
                self.outputs
                    .push_back(Output::Media(MediaCommand::Music(mine)));
            }
        }
        let mut ok = self.response(&req, 200, None);
        ok.headers.push(Name::Contact, self.contact(leg_peer));
        if let Some(interval) = refreshed {
            ok.headers.push(Name::Require, "timer");
            let refresher = if side == Side::A { "uac" } else { "uas" };
            ok.headers.push(
                Name::SessionExpires,
                format!("{};refresher={refresher}", interval.as_secs()),
            );
            if let Some(at) = self.calls.calls.get(&id).and_then(Call::deadline) {
                self.calls.deadlines.schedule(at, id);
            }
        }
        ok.headers.push(Name::ContentType, "application/sdp");
        ok.body = body;
        self.reply(now, &key, ok);
    }
}
