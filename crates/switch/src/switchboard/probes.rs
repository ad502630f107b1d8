//! The switchboard's side of probing (see [`crate::call::Probe`]): routing
//! a probe's answer to its call, and ending a call whose party is gone.

use super::Switch;
use crate::call::{CallId, Side};
use crate::time::Now;
use accounts::Outcome;
use sip::transaction::ClientKey;
use tracing::warn;

impl Switch {
    /// The final answer (408: none) of one of our probes.
    pub(super) fn probe_answered(&mut self, now: Now, key: &ClientKey, status: u16) {
        let Some(id) = self.calls.by_probe.remove(key) else {
            return;
        };
        let gone = self
            .with_call(now, id, |call, ctx| {
                call.handle_probe_answer(ctx, key, status)
            })
            .flatten();
        if let Some(side) = gone {
            self.party_gone(now, id, side);
        }
    }

    /// The phone on `side` stopped answering: the call ends as if it had
    /// hung up (a parked party's position is freed).
    pub(super) fn party_gone(&mut self, now: Now, id: CallId, side: Side) {
        warn!(
            call = id,
            ?side,
            "the phone stopped answering probes: ending the call"
        );
        let cause = "Phone stopped answering (OPTIONS probe)";
        self.end_call(now, id, Some(side), Outcome::Answered, 408, cause);
    }
}
