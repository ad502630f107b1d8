//! What an operator may ask of live calls: list them, and hang one up.

use super::{ParkedInfo, Switch};
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

/// Why a parked call cannot be moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveRefusal {
    /// Nothing is parked there (for this tenant).
    NothingParked,
    /// The new position holds a call (here, or on another node).
    Taken,
    /// The new position is not an extension of the tenant.
    NotAnExtension,
    /// The shared lot's store did not answer the claim in time.
    StoreUnavailable,
}

/// How an operator's move went on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoveStarted {
    /// Moved, as it is parked now.
    Moved(ParkedInfo),
    /// The lot is shared: the new position is being claimed in the store,
    /// and `Output::MoveAnswered` with the move's request id brings the
    /// outcome.
    Claiming,
}

/// The outcome of a move that waited for its claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveAnswer {
    /// The request id the shell gave `Switch::move_parked`.
    pub request: u64,
    /// The call as it is parked now, or why it was not moved.
    pub result: Result<ParkedInfo, MoveRefusal>,
}

impl Switch {
    /// Moves the call parked at `from` of `tenant` to `to` (a free position:
    /// an extension of the tenant, or a code); its new retrieval number,
    /// lamps and store follow, and the extension it now waits under is told
    /// (park alerts). In a shared lot the new position is first claimed
    /// in the store (`request` names the answer), as a park's is.
    pub fn move_parked(
        &mut self,
        now: Now,
        tenant: &str,
        from: &crate::lot::Position,
        to: crate::lot::Position,
        request: u64,
    ) -> Result<MoveStarted, MoveRefusal> {
        use crate::lot::Position;
        let Some(t) = self.dir.tenant(tenant).cloned() else {
            return Err(MoveRefusal::NothingParked);
        };
        let Some(now_parked) = self.parked_info(tenant, from) else {
            return Err(MoveRefusal::NothingParked);
        };
        if let Position::Extension(e) = &to {
            if self.dir.extension(tenant, e).is_none() {
                return Err(MoveRefusal::NotAnExtension);
            }
        }
        if self.calls.lot.is_taken(tenant, &to) || self.claims.reserves(tenant, &to) {
            return Err(MoveRefusal::Taken);
        }
        if self.cfg.shared_lot {
            let mut row = stored_row(&now_parked);
            row.position = to.label();
            row.retrieval = to.retrieval_number(&t.release_prefix);
            self.claim_then_move(now, request, (from.clone(), to), row);
            self.settle(now);
            return Ok(MoveStarted::Claiming);
        }
        self.finish_move(now, tenant, from, to)
            .map(MoveStarted::Moved)
    }

    /// The call parked at `pos` of `tenant`, as the API shows it.
    fn parked_info(&self, tenant: &str, pos: &crate::lot::Position) -> Option<ParkedInfo> {
        let label = pos.label();
        self.calls.lot.at(tenant, pos)?;
        self.parked()
            .into_iter()
            .find(|p| p.tenant == tenant && p.position == label)
    }

    /// Moves the call parked at `from` to `to` (free, and claimed when the
    /// lot is shared).
    pub(super) fn finish_move(
        &mut self,
        now: Now,
        tenant: &str,
        from: &crate::lot::Position,
        to: crate::lot::Position,
    ) -> Result<ParkedInfo, MoveRefusal> {
        use crate::output::{Output, StoreOp};
        let t = self
            .dir
            .tenant(tenant)
            .cloned()
            .ok_or(MoveRefusal::NothingParked)?;
        let mut parked = self
            .calls
            .lot
            .take(tenant, from)
            .ok_or(MoveRefusal::NothingParked)?;
        parked.retrieval = to.retrieval_number(&t.release_prefix);
        parked.position = to.clone();
        let id = parked.call;
        info!(call = id, from = %from.label(), to = %to.label(), "parked call moved by the operator");
        self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
            tenant: tenant.to_string(),
            position: from.label(),
        }));
        if let Some(c) = self.calls.calls.get_mut(&id) {
            c.events.push(crate::call::CallEvent::Moved {
                to: parked.retrieval.clone(),
            });
        }
        self.calls.lot.park(tenant, to.clone(), parked.clone());
        let info = self
            .parked_info(tenant, &to)
            .ok_or(MoveRefusal::NothingParked)?;
        self.outputs
            .push_back(Output::Store(StoreOp::SaveParked(Box::new(stored_row(
                &info,
            )))));
        self.alert_parked(now, tenant, &parked);
        self.settle(now);
        Ok(info)
    }
}

/// The store's row of a parked call.
fn stored_row(info: &ParkedInfo) -> accounts::ParkedCall {
    accounts::ParkedCall {
        tenant: info.tenant.clone(),
        position: info.position.clone(),
        retrieval: info.retrieval.clone(),
        parker: info.parker.clone(),
        parked_party: info.parked_party.clone(),
        since_ms: info.since_ms,
        deadline_ms: info.comeback_ms.unwrap_or(info.since_ms),
    }
}

/// Why a parked call cannot be sent to an extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendRefusal {
    /// Nothing is parked there (for this tenant).
    NothingParked,
    /// Not an extension of the tenant.
    NotAnExtension,
    /// The extension has no registered phone to ring.
    NotRegistered,
}

impl Switch {
    /// Retrieves the call parked at `position` to `extension`: its phones
    /// ring with the parked party (as a comeback does); answered, the two
    /// talk; unanswered, the comeback's fallback follows. Returns the call.
    pub fn send_parked(
        &mut self,
        now: Now,
        tenant: &str,
        position: &crate::lot::Position,
        extension: &str,
    ) -> Result<CallId, SendRefusal> {
        use crate::call::{CallEvent, Forking};
        use crate::output::{Output, StoreOp};
        if self.calls.lot.at(tenant, position).is_none() {
            return Err(SendRefusal::NothingParked);
        }
        if self.dir.extension(tenant, extension).is_none() {
            return Err(SendRefusal::NotAnExtension);
        }
        if self.registrar.lookup(tenant, extension).is_empty() {
            return Err(SendRefusal::NotRegistered);
        }
        let parked = self
            .calls
            .lot
            .take(tenant, position)
            .ok_or(SendRefusal::NothingParked)?;
        let id = parked.call;
        self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
            tenant: tenant.to_string(),
            position: position.label(),
        }));
        if let Some(call) = self.calls.calls.get_mut(&id) {
            // Nothing rings until the extension's phones do.
            call.phase = Phase::Comeback(Forking {
                forks: Vec::new(),
                deadline: now.mono,
            });
            call.events.push(CallEvent::SentTo {
                to: extension.to_string(),
            });
        }
        info!(call = id, %extension, "parked call sent to an extension by the operator");
        if !self.ring_back(now, id, parked.side, extension) {
            self.comeback_failed(now, id);
        }
        self.settle(now);
        Ok(id)
    }
}
