//! Parking, the call's part: the holder's leg is released (its phone is
//! free), the held party stays on the switch's music until it is retrieved
//! or comes back. Where it is parked is the lot's, beside the switchboard.

use super::{other, Call, CallCtx, CallEvent, CallFeature, Comeback, Phase, Report, Side};
use crate::output::MediaCommand;

impl Call {
    /// Parks the party that `holder` held, retrievable at `retrieval`,
    /// coming back as `comeback` says.
    pub fn park(&mut self, ctx: &mut CallCtx, holder: Side, comeback: Comeback, retrieval: &str) {
        self.events.push(CallEvent::Parked {
            by: comeback.to.clone(),
            retrieval: retrieval.to_string(),
        });
        let leg = self.leg_mut(holder);
        let (dialog, peer) = (leg.dialog.take(), leg.peer);
        let port = std::mem::replace(&mut leg.port, 0);
        leg.holding = false;
        leg.session = None;
        leg.extension = None;
        self.ok = None;
        self.features.insert(CallFeature::Park);
        self.phase = Phase::Parked(comeback);
        if let Some(mut d) = dialog {
            ctx.reports.push(Report::DialogClosed(d.id.clone()));
            ctx.bye(&mut d, peer, "SIP;cause=200;text=\"Call parked\"");
        }
        ctx.reports.push(Report::PortReleased(port));
        let parked_port = self.leg(other(holder)).port;
        ctx.media(MediaCommand::Music(parked_port));
        ctx.media(MediaCommand::WatchIdle(parked_port, false));
    }
}
