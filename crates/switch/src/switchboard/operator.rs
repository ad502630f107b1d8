//! What an operator may ask of live calls: list them, and hang one up.

use super::Switch;
use crate::call::{CallId, Phase};
use crate::time::Now;
use accounts::Outcome;
use serde::Serialize;
use tracing::info;

/// A live call as operators see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveCall {
    /// The call's id (events and hang-up use it).
    pub id: CallId,
    /// Tenant.
    pub tenant: String,
    /// Caller (`Name <number>`).
    pub from: String,
    /// The other party now (`Name <number>`; empty while nobody answered
    /// or while parked).
    pub to: String,
    /// `ringing`, `talking`, `parked`, `announcement`, `coming_back`,
    /// `transferring`.
    pub state: &'static str,
    /// Started, Unix milliseconds.
    pub started_ms: u64,
    /// Answered, Unix milliseconds.
    pub answered_ms: Option<u64>,
}

impl Switch {
    /// The live calls, oldest first.
    pub fn live_calls(&self) -> Vec<LiveCall> {
        let mut calls: Vec<LiveCall> = self
            .calls
            .calls
            .iter()
            .map(|(id, c)| LiveCall {
                id: *id,
                tenant: c.tenant.clone(),
                from: c.a.identity.shown(),
                to: c.b.identity.shown(),
                state: match &c.phase {
                    Phase::Ringing(_) => "ringing",
                    Phase::Answered | Phase::Established => "talking",
                    Phase::Parked(_) => "parked",
                    Phase::Announcing => "announcement",
                    Phase::Comeback(_) => "coming_back",
                    Phase::Transferring(_) => "transferring",
                },
                started_ms: c.record.started_ms,
                answered_ms: c.record.answered_ms,
            })
            .collect();
        calls.sort_by_key(|c| (c.started_ms, c.id));
        calls
    }

    /// Hangs up call `id` (BYE to both parties, or the caller refused if it
    /// still rings), if it exists and, with `tenant`, is that tenant's.
    /// Returns whether it did.
    pub fn hang_up(&mut self, now: Now, id: CallId, tenant: Option<&str>) -> bool {
        let Some(call) = self.calls.calls.get(&id) else {
            return false;
        };
        if tenant.is_some_and(|t| t != call.tenant) {
            return false;
        }
        let ringing = call.phase.is_ringing();
        info!(call = id, "hung up by the operator");
        let cause = "Hung up by the operator";
        if ringing {
            self.cancel_forks(now, id, None);
            self.fail_call(now, id, 487, cause);
        } else {
            self.end_call(now, id, None, Outcome::Answered, 200, cause);
        }
        self.settle(now);
        true
    }
}
