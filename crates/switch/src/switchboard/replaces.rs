//! An INVITE carrying `Replaces` (RFC 3891) for a dialog of the switch's:
//! a phone takes the place of a leg itself (it was handed the dialog by a
//! transferor, or picks up a colleague's call). The named leg is hung up
//! and the new one, answered by the switch, is joined to the party that
//! stays. The phone must be an authenticated extension of the call's
//! tenant and name the dialog exactly (Call-ID and both tags).

use super::park::FeatureCall;
use super::Switch;
use crate::call::{Joining, Phase};
use crate::time::Now;
use sip::Replaces;
use tracing::info;

impl Switch {
    /// A new INVITE of `fc.ext` whose `Replaces` names `replaces`.
    pub(super) fn replace_by_invite(&mut self, now: Now, fc: FeatureCall, replaces: Replaces) {
        let key = (
            replaces.call_id.clone(),
            replaces.to_tag.clone(),
            replaces.from_tag.clone(),
        );
        let found = self.calls.by_dialog.get(&key).copied();
        let refusal = match found.and_then(|(id, _)| self.calls.calls.get(&id)) {
            None => Some((481, "Call/Transaction Does Not Exist")),
            Some(c) if c.tenant != fc.tenant.name => Some((481, "Call/Transaction Does Not Exist")),
            Some(c) if !matches!(c.phase, Phase::Established) || replaces.early_only => {
                Some((486, "Only an answered call can be replaced"))
            }
            Some(_) => None,
        };
        let (Some((id, side)), None) = (found, refusal) else {
            let (status, reason) = refusal.unwrap_or((481, "Call/Transaction Does Not Exist"));
            info!(status, reason, by = %fc.ext.number, "INVITE with Replaces refused");
            let resp = self.response(&fc.req, status, Some(reason));
            return self.reply(now, &fc.key, resp);
        };
        let Some(port) = self.ports.take() else {
            let resp = self.response(&fc.req, 503, Some("No media ports available"));
            return self.reply(now, &fc.key, resp);
        };
        let reason = "SIP;cause=200;text=\"Replaced\"";
        self.with_call(now, id, |call, ctx| call.release_leg(ctx, side, reason));
        if self.join_answered(now, &fc, (id, side), port, Joining::Replacement) {
            info!(call = id, by = %fc.ext.number, "leg replaced (INVITE with Replaces)");
        }
    }
}
