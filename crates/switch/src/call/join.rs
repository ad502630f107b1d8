//! Joining two calls (attended transfer, RFC 3891): the transferor talks to
//! the transferee in one call and to the target in another; the target's
//! leg moves into the first call in place of the transferor's, the two
//! remaining parties are bridged, and the transferor's legs are released.
//! Nobody rings again: both parties keep their dialogs and the switch's
//! RTP ports facing them.

use super::{other, Call, CallCtx, CallEvent, CallFeature, Leg, Phase, Report, Side};
use crate::output::MediaCommand;

impl Call {
    /// Takes the leg on `side` out of this call (to join another), leaving
    /// an empty one: the call no longer answers for its dialog or port.
    pub fn take_leg(&mut self, side: Side) -> Leg {
        let peer = self.leg(side).peer;
        if self.ok.as_ref().is_some_and(|o| o.side == side) {
            self.ok = None;
        }
        std::mem::replace(self.leg_mut(side), Leg::new(peer, 0, Default::default()))
    }

    /// Hangs up the leg on `side` (BYE with `reason`) and frees its dialog
    /// and port: a new leg is about to take its place.
    pub fn release_leg(&mut self, ctx: &mut CallCtx, side: Side, reason: &str) {
        let old = self.take_leg(side);
        if let Some(mut d) = old.dialog {
            ctx.reports.push(Report::DialogClosed(d.id.clone()));
            ctx.bye(&mut d, old.peer, reason);
        }
        ctx.reports.push(Report::PortReleased(old.port));
    }

    /// Puts `target` (a leg taken from another call) in place of the
    /// transferor's leg on `transferor`: the transferor hears the REFER's
    /// outcome and a BYE, the other party is bridged to the target.
    pub fn join(&mut self, ctx: &mut CallCtx, transferor: Side, target: Leg) {
        let to = target
            .extension
            .clone()
            .unwrap_or_else(|| target.identity.number.clone());
        let (target_port, target_dialog) =
            (target.port, target.dialog.as_ref().map(|d| d.id.clone()));
        self.notify_refer(
            ctx,
            transferor,
            "SIP/2.0 200 OK",
            "terminated;reason=noresource",
        );
        let old = std::mem::replace(self.leg_mut(transferor), target);
        if self.ok.as_ref().is_some_and(|o| o.side == transferor) {
            self.ok = None;
        }
        if let Some(mut d) = old.dialog {
            ctx.reports.push(Report::DialogClosed(d.id.clone()));
            ctx.bye(&mut d, old.peer, "SIP;cause=200;text=\"Call transferred\"");
        }
        ctx.reports.push(Report::PortReleased(old.port));
        if let Some(d) = target_dialog {
            ctx.reports.push(Report::DialogOpened(d, transferor));
        }
        ctx.reports.push(Report::PortTaken(target_port, transferor));
        self.phase = Phase::Established;
        self.features.insert(CallFeature::Transfer);
        self.note_security();
        self.events.push(CallEvent::Transferred {
            by: old.extension.unwrap_or_default(),
            to,
        });
        let stays = self.leg(other(transferor)).port;
        if self.leg(transferor).codec.map(|c| c.0) != self.leg(other(transferor)).codec.map(|c| c.0)
        {
            self.features.insert(CallFeature::Transcoding);
        }
        ctx.media(MediaCommand::Bridge(stays, target_port));
        ctx.media(MediaCommand::WatchIdle(stays, true));
        ctx.media(MediaCommand::WatchIdle(target_port, true));
    }
}
