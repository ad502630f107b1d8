//! Attended transfer (RFC 3515 REFER with RFC 3891 Replaces): the
//! transferor, in call 1 with the transferee and in call 2 with the
//! target, sends REFER on call 1 naming call 2's dialog in `Replaces`. The
//! switch owns both calls, so it joins them itself: the target's leg moves
//! into call 1, the transferee and the target are bridged and told who they
//! talk to, and both of the transferor's legs are released. Nobody rings.

use super::calls::DialogKey;
use super::Switch;
use crate::call::{other, CallId, Phase, Side};
use crate::time::Now;
use accounts::{Extension, Outcome};
use sip::transaction::ServerKey;
use sip::{Replaces, Request};
use tracing::info;

/// Why a REFER with Replaces is refused: status and reason.
type Refusal = (u16, &'static str);

impl Switch {
    /// A REFER on call `id`, sent by `ext` on `side`, whose Refer-To names
    /// the dialog to replace.
    pub(super) fn attended_transfer(
        &mut self,
        now: Now,
        (id, side): (CallId, Side),
        (key, req): (ServerKey, Request),
        ext: &Extension,
        replaces: &Replaces,
    ) {
        let other_call = match self.replaceable(id, ext, replaces) {
            Ok(found) => found,
            Err((status, reason)) => {
                info!(call = id, status, reason, "attended transfer refused");
                let resp = self.response(&req, status, Some(reason));
                return self.reply(now, &key, resp);
            }
        };
        let accepted = self.response(&req, 202, None);
        self.reply(now, &key, accepted);
        let (id2, side2) = other_call;
        let Some(target) = self
            .calls
            .calls
            .get_mut(&id2)
            .map(|c| c.take_leg(other(side2)))
        else {
            return;
        };
        info!(call = id, replaced = id2, by = %ext.number, "attended transfer: the calls are joined");
        self.with_call(now, id, |call, ctx| call.join(ctx, side, target));
        let cause = "Replaced by an attended transfer";
        self.end_call(now, id2, None, Outcome::Answered, 200, cause);
        self.tell_connected(now, id, side);
        self.tell_connected(now, id, other(side));
    }

    /// The call and side whose dialog `replaces` names (as the transferor
    /// sees it), if the transferor may hand it over: another answered
    /// call of the same tenant in which it is the party on that side.
    fn replaceable(
        &self,
        id: CallId,
        ext: &Extension,
        replaces: &Replaces,
    ) -> Result<(CallId, Side), Refusal> {
        let key: DialogKey = (
            replaces.call_id.clone(),
            replaces.to_tag.clone(),
            replaces.from_tag.clone(),
        );
        let (id2, side2) = *self
            .calls
            .by_dialog
            .get(&key)
            .ok_or((481, "No such call to replace"))?;
        let call2 = self
            .calls
            .calls
            .get(&id2)
            .ok_or((481, "No such call to replace"))?;
        let mine = call2.tenant == ext.tenant
            && call2.leg(side2).extension.as_deref() == Some(ext.number.as_str());
        if id2 == id || !mine {
            return Err((403, "Not your call to replace"));
        }
        if !matches!(call2.phase, Phase::Established | Phase::Answered) || replaces.early_only {
            return Err((403, "Only an answered call can be joined"));
        }
        let call1_talking = self
            .calls
            .calls
            .get(&id)
            .is_some_and(|c| c.phase.is_two_party());
        if !call1_talking {
            return Err((491, "Request Pending"));
        }
        Ok((id2, side2))
    }
}
