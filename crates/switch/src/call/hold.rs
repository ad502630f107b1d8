//! A re-INVITE (or UPDATE) from a party: hold, resume, a new media address,
//! a new codec or a session refresh. Answered by the switch itself and
//! never forwarded: the held party hears the switch's music, and a codec
//! change is met by transcoding, so the other party is never re-INVITEd.

use super::{other, Call, CallCtx, CallFeature, Phase, Side};
use crate::output::MediaCommand;
use media::sdp::{self, Audio, Direction};
use sip::transaction::ServerKey;
use sip::{Name, Request};
use std::net::SocketAddr;
use tracing::info;

impl Call {
    /// Handles a re-INVITE or UPDATE of the party on `side`.
    pub fn handle_reinvite(
        &mut self,
        ctx: &mut CallCtx,
        side: Side,
        key: &ServerKey,
        req: &Request,
    ) {
        let offer = if req.body.is_empty() {
            None
        } else {
            match sdp::parse_audio(&req.body) {
                Ok(o) => Some(o),
                Err(_) => return ctx.reply(key, &ctx.response(req, 488, None)),
            }
        };
        if offer
            .as_ref()
            .is_some_and(|o| o.codecs.is_empty() && o.port != 0)
        {
            let resp = ctx.response(req, 488, Some("No G.711 codec offered"));
            return ctx.reply(key, &resp);
        }
        if let Some(o) = &offer {
            if let Err(refusal) = self.leg_mut(side).security.handle_remote_sdp(o) {
                let resp = ctx.response(req, 488, Some(refusal.reason()));
                return ctx.reply(key, &resp);
            }
        }
        let holding = offer.as_ref().is_some_and(Audio::is_hold);
        let direction = match offer
            .as_ref()
            .map_or(Direction::SendRecv, |o| o.direction.answer())
        {
            Direction::SendRecv if holding => Direction::Inactive,
            d => d,
        };
        let now = ctx.now.mono;
        let leg = self.leg_mut(side);
        if let Some(o) = &offer {
            if let Some(ip) = o.address.filter(|ip| !ip.is_unspecified()) {
                leg.remote_media = Some(SocketAddr::new(ip, o.port));
            }
            if let Some(te) = o.telephone_event {
                leg.telephone_event = Some(te);
            }
            // The codec it had, if still offered (its payload type as now
            // offered); else its first choice now.
            let kept = leg
                .codec
                .and_then(|(c, _)| o.codecs.iter().find(|(k, _)| *k == c))
                .or(o.codecs.first())
                .copied();
            if kept.is_some() && kept.map(|c| c.0) != leg.codec.map(|c| c.0) {
                info!(?side, codec = ?kept.map(|c| c.0), "codec changed: the switch transcodes");
            }
            leg.codec = kept.or(leg.codec);
        }
        leg.sdp.bump();
        let refreshed = leg.session.as_mut().map(|s| {
            s.refresh(now);
            s.interval
        });
        let changed = leg.holding != holding;
        leg.holding = holding;
        if changed && holding {
            leg.held_at = Some(now);
        }
        if holding {
            self.features.insert(CallFeature::Hold);
        }
        if changed && matches!(self.phase, Phase::Established | Phase::Answered) {
            let by = self.leg(side).identity.number.clone();
            self.events.push(if holding {
                super::CallEvent::Held { by }
            } else {
                super::CallEvent::Unheld { by }
            });
        }
        let other_codec = self.leg(other(side)).codec.map(|c| c.0);
        if other_codec.is_some() && self.leg(side).codec.map(|c| c.0) != other_codec {
            self.features.insert(CallFeature::Transcoding);
        }
        if let Some(config) = self.leg(side).media_config() {
            ctx.media(config);
        }
        // Only a call of two parties is re-bridged on hold and resume: a
        // parked party, or one hearing an announcement or ringing a
        // comeback, keeps hearing what the switch plays (there is no other
        // leg to bridge to).
        if changed && matches!(self.phase, Phase::Established | Phase::Answered) {
            self.rebridge(ctx, side, holding);
        }
        let leg = self.leg(side);
        let mut ok = ctx.response(req, 200, None);
        ok.headers.push(Name::Contact, ctx.contact(leg.peer));
        if let Some(interval) = refreshed {
            ok.headers.push(Name::Require, "timer");
            let refresher = if side == Side::A { "uac" } else { "uas" };
            ok.headers.push(
                Name::SessionExpires,
                format!("{};refresher={refresher}", interval.as_secs()),
            );
        }
        ok.headers.push(Name::ContentType, "application/sdp");
        ok.body = leg.sdp(ctx.cfg.media_address, direction);
        ctx.reply(key, &ok);
    }

    /// The media after the party on `side` held (or resumed): the other
    /// hears music while held; both talk again when neither holds.
    fn rebridge(&self, ctx: &mut CallCtx, side: Side, holding: bool) {
        let (mine, theirs) = (self.leg(side).port, self.leg(other(side)).port);
        let commands = if holding {
            info!(?side, "hold: music to the other party");
            vec![
                MediaCommand::Music(theirs),
                MediaCommand::Silence(mine),
                MediaCommand::WatchIdle(mine, false),
                MediaCommand::WatchIdle(theirs, false),
            ]
        } else if !self.leg(other(side)).holding {
            info!(?side, "resume");
            vec![
                MediaCommand::Bridge(mine, theirs),
                MediaCommand::WatchIdle(mine, true),
                MediaCommand::WatchIdle(theirs, true),
            ]
        } else {
            vec![MediaCommand::Music(mine)]
        };
        for c in commands {
            ctx.media(c);
        }
    }
}
