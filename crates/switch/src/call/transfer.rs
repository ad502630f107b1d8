//! Blind transfer (RFC 3515): a party's REFER has the other party (the
//! transferee) connected to a target. The target's phones ring while the
//! two talk on; when it answers, the transferor's leg is released and the
//! target takes its place; when it does not, the transferee is not lost.

use super::{
    other, Call, CallCtx, CallEvent, CallFeature, Fork, Forking, Leg, Phase, Report, Side, Transfer,
};
use crate::output::MediaCommand;
use sip::transaction::ClientKey;
use sip::Response;
use std::time::Instant;
use tracing::info;

/// What becomes of a transfer whose target did not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferEnd {
    /// The transferor is still on: the two go on as before.
    Reconnected,
    /// The transferor hung up meanwhile: the call ends.
    Ends,
}

impl Call {
    /// Starts ringing `number` (our INVITEs `forks`, the leg towards it
    /// `target`) for the party the `transferor` talks to.
    pub fn start_transfer(
        &mut self,
        ctx: &mut CallCtx,
        transferor: Side,
        number: String,
        target: Leg,
        (forks, deadline): (Vec<Fork>, Instant),
    ) {
        ctx.reports.push(Report::PortTaken(target.port, transferor));
        self.phase = Phase::Transferring(Box::new(Transfer {
            transferor,
            transferor_on: true,
            target,
            number,
            forking: Forking { forks, deadline },
        }));
    }

    /// The target answered: the transferor's leg is released and the
    /// target's takes its place, bridged to the transferee.
    pub(super) fn transfer_answered(
        &mut self,
        ctx: &mut CallCtx,
        key: &ClientKey,
        resp: &Response,
    ) {
        if !matches!(self.phase, Phase::Transferring(_)) {
            return;
        }
        let Some(answer) = self.take_answer(ctx, key, resp) else {
            return;
        };
        let Phase::Transferring(t) = std::mem::replace(&mut self.phase, Phase::Established) else {
            return;
        };
        let Transfer {
            transferor,
            transferor_on,
            mut target,
            number,
            ..
        } = *t;
        if transferor_on {
            self.notify_refer(
                ctx,
                transferor,
                "SIP/2.0 200 OK",
                "terminated;reason=noresource",
            );
        }
        let old = std::mem::replace(
            self.leg_mut(transferor),
            Leg::new(answer.peer, 0, Default::default()),
        );
        if let Some(mut d) = old.dialog {
            ctx.reports.push(Report::DialogClosed(d.id.clone()));
            ctx.bye(&mut d, old.peer, "SIP;cause=200;text=\"Call transferred\"");
        }
        ctx.reports.push(Report::PortReleased(old.port));
        if let Some(old_ok) = &self.ok {
            if old_ok.side == transferor {
                self.ok = None;
            }
        }
        ctx.reports
            .push(Report::DialogOpened(answer.dialog.id.clone(), transferor));
        answer.into_leg(&mut target);
        let transferee = other(transferor);
        if target.codec.map(|c| c.0) != self.leg(transferee).codec.map(|c| c.0) {
            self.features.insert(CallFeature::Transcoding);
        }
        if let Some(config) = target.media_config() {
            ctx.media(config);
        }
        let (mine, theirs) = (target.port, self.leg(transferee).port);
        *self.leg_mut(transferor) = target;
        self.note_security();
        self.features.insert(CallFeature::Transfer);
        let by = old.extension.unwrap_or_default();
        info!(%by, to = %number, "transferred");
        self.events.push(CallEvent::Transferred { by, to: number });
        ctx.media(MediaCommand::Bridge(mine, theirs));
        ctx.media(MediaCommand::WatchIdle(mine, true));
        ctx.media(MediaCommand::WatchIdle(theirs, true));
    }

    /// The target did not take the call (`status`): the transferor hears
    /// why; if it is still on, the two go on as before, else the call ends.
    pub fn transfer_failed(&mut self, ctx: &mut CallCtx, status: u16) -> TransferEnd {
        self.cancel_forks(ctx, None);
        let Phase::Transferring(t) = std::mem::replace(&mut self.phase, Phase::Established) else {
            return TransferEnd::Reconnected;
        };
        let Transfer {
            transferor,
            transferor_on,
            target,
            number,
            ..
        } = *t;
        ctx.reports.push(Report::PortReleased(target.port));
        self.events
            .push(CallEvent::TransferFailed { to: number, status });
        if !transferor_on {
            return TransferEnd::Ends;
        }
        let frag = format!("SIP/2.0 {status} {}", sip::reason_phrase(status));
        self.notify_refer(ctx, transferor, &frag, "terminated;reason=noresource");
        TransferEnd::Reconnected
    }

    /// The transferor hung up while the target rings: its leg is released,
    /// the transferee hears music until the target answers.
    pub fn transferor_left(&mut self, ctx: &mut CallCtx) {
        let Phase::Transferring(t) = &mut self.phase else {
            return;
        };
        t.transferor_on = false;
        let transferor = t.transferor;
        let leg = self.leg_mut(transferor);
        if let Some(d) = leg.dialog.take() {
            ctx.reports.push(Report::DialogClosed(d.id));
        }
        ctx.reports
            .push(Report::PortReleased(std::mem::replace(&mut leg.port, 0)));
        let waiting = self.leg(other(transferor)).port;
        ctx.media(MediaCommand::Music(waiting));
        ctx.media(MediaCommand::WatchIdle(waiting, false));
    }

    /// The side that asked for the transfer under way, if one is.
    pub fn transferor(&self) -> Option<Side> {
        match &self.phase {
            Phase::Transferring(t) => Some(t.transferor),
            _ => None,
        }
    }
}
