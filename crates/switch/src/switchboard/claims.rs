//! Parking positions shared by the nodes of a cluster: when the lot is
//! shared (a PostgreSQL store), a park first claims its position in the
//! store, and only the node whose claim wins parks there; the others'
//! parkers hear that the position is taken. The claim is a round trip
//! like the authorization service's: `Output::Claim` out, and
//! `Switch::handle_claim` back. Meanwhile the position is reserved on
//! this node, so two of its own parkers cannot both claim it.

use super::operator::{MoveAnswer, MoveRefusal};
use super::park::FeatureCall;
use super::refer::ParkByTransfer;
use super::Switch;
use crate::call::{CallId, Side};
use crate::feature_refusal::FeatureRefusal;
use crate::lot::Position;
use crate::output::{Output, StoreOp};
use crate::time::Now;
use accounts::ParkedCall;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tracing::info;

/// How long a claim may take before the park is refused.
const CLAIM_WAIT: Duration = Duration::from_secs(3);

/// A claim of a parking position in the shared store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionClaim {
    /// Matches the answer to the claim.
    pub id: u64,
    /// The row the position gets if the claim wins.
    pub parked: ParkedCall,
}

/// A retrieval asking the shared store which node holds its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionLookup {
    /// Matches the answer to the question.
    pub id: u64,
    /// Tenant.
    pub tenant: String,
    /// The position (`333`, `*7250`).
    pub position: String,
}

/// A park waiting for its claim.
pub(super) struct Claiming {
    park: ClaimedPark,
    deadline: Instant,
}

/// What parks once the claim wins.
enum ClaimedPark {
    /// A park code dialed while holding (boxed: an INVITE is large).
    Feature {
        call: Box<FeatureCall>,
        held: CallId,
        holder: Side,
        pos: Position,
    },
    /// A REFER to the park number (a phone's Park key).
    Transfer(Box<ParkByTransfer>),
    /// Not a park: a retrieval of a position this node does not hold,
    /// waiting to learn which node does.
    Locate {
        call: Box<FeatureCall>,
        pos: Position,
    },
    /// An operator's move of a parked call to another position (the
    /// shell's `request` id gets the outcome).
    Move {
        request: u64,
        tenant: String,
        from: Position,
        to: Position,
    },
}

impl ClaimedPark {
    /// The tenant and position it claims (a lookup claims nothing).
    fn claimed(&self) -> Option<(&str, &Position)> {
        match self {
            ClaimedPark::Feature { call, pos, .. } => Some((&call.tenant.name, pos)),
            ClaimedPark::Transfer(r) => Some((&r.tenant.name, &r.pos)),
            ClaimedPark::Move { tenant, to, .. } => Some((tenant, to)),
            ClaimedPark::Locate { .. } => None,
        }
    }
}

/// The claims on their way.
#[derive(Default)]
pub(super) struct Claims {
    next_id: u64,
    waiting: HashMap<u64, Claiming>,
}

impl Claims {
    /// Whether a claim of this node's holds `pos` of `tenant`.
    pub fn reserves(&self, tenant: &str, pos: &Position) -> bool {
        self.waiting
            .values()
            .any(|c| c.park.claimed() == Some((tenant, pos)))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.waiting.values().map(|c| c.deadline).min()
    }
}

impl Switch {
    /// Claims `pos` in the shared store before parking call `held` there.
    pub(super) fn claim_then_park(
        &mut self,
        now: Now,
        call: FeatureCall,
        (held, holder): (CallId, Side),
        pos: Position,
    ) {
        let parked = self.parked_row(now, (held, holder), &call.tenant, &pos, &call.ext.number);
        let trying = self.response(&call.req, 100, None);
        self.reply(now, &call.key.clone(), trying);
        let park = ClaimedPark::Feature {
            call: Box::new(call),
            held,
            holder,
            pos,
        };
        self.send_claim(now, parked, park);
    }

    /// Claims the REFER's position in the shared store before parking
    /// the other party there.
    pub(super) fn claim_then_park_by_transfer(&mut self, now: Now, refer: ParkByTransfer) {
        if self.calls.calls.get(&refer.id).is_none() {
            return;
        }
        let parked = self.parked_row(
            now,
            (refer.id, refer.side),
            &refer.tenant,
            &refer.pos,
            &refer.parker,
        );
        self.send_claim(now, parked, ClaimedPark::Transfer(Box::new(refer)));
    }

    /// Claims `to` in the shared store before moving the call parked at
    /// `from` there (the row it gets: `parked`).
    pub(super) fn claim_then_move(
        &mut self,
        now: Now,
        request: u64,
        (from, to): (Position, Position),
        parked: ParkedCall,
    ) {
        let tenant = parked.tenant.clone();
        let park = ClaimedPark::Move {
            request,
            tenant,
            from,
            to,
        };
        self.send_claim(now, parked, park);
    }

    fn send_claim(&mut self, now: Now, parked: ParkedCall, park: ClaimedPark) {
        let id = self.claims.next_id;
        self.claims.next_id += 1;
        self.claims.waiting.insert(
            id,
            Claiming {
                park,
                deadline: now.mono + CLAIM_WAIT,
            },
        );
        self.outputs
            .push_back(Output::Claim(Box::new(PositionClaim { id, parked })));
    }

    /// Asks the shared store which node holds `pos`, for a retrieval this
    /// node cannot serve itself.
    pub(super) fn locate_then_retrieve(&mut self, now: Now, call: FeatureCall, pos: Position) {
        let trying = self.response(&call.req, 100, None);
        self.reply(now, &call.key.clone(), trying);
        let id = self.claims.next_id;
        self.claims.next_id += 1;
        let lookup = PositionLookup {
            id,
            tenant: call.tenant.name.clone(),
            position: pos.label(),
        };
        self.claims.waiting.insert(
            id,
            Claiming {
                park: ClaimedPark::Locate {
                    call: Box::new(call),
                    pos,
                },
                deadline: now.mono + CLAIM_WAIT,
            },
        );
        self.outputs.push_back(Output::Locate(Box::new(lookup)));
    }

    /// The store's answer to lookup `id`: the node holding the position
    /// gets the retrieval on the retriever's behalf (the retriever sees
    /// this node's answer only); nobody holding it, nothing is parked.
    pub fn handle_located(&mut self, now: Now, id: u64, node: Option<std::net::SocketAddr>) {
        let Some(Claiming {
            park: ClaimedPark::Locate { call, pos },
            ..
        }) = self.claims.waiting.remove(&id)
        else {
            return self.settle(now);
        };
        match node {
            Some(address) => {
                let number = call.req.uri.user_decoded().unwrap_or_default();
                info!(position = %pos.label(), %address, "retrieval forwarded to the node holding it");
                let FeatureCall {
                    peer,
                    key,
                    req,
                    tenant,
                    ext,
                    offer,
                    security,
                } = *call;
                let setup = super::calls::CallSetup {
                    peer,
                    key,
                    req,
                    tenant,
                    caller: crate::authorize::Caller::Extension(ext.clone()),
                    caller_id: ext.number,
                    offer,
                    a_security: security,
                };
                let route = crate::authorize::Route::Node { address, number };
                self.follow_decision(now, setup, crate::authorize::Decision::Route(route), None);
            }
            None => {
                self.retrieval_missed(now, &call);
                let retrieval = pos.retrieval_number(&call.tenant.release_prefix);
                self.refuse_feature(now, *call, FeatureRefusal::NothingParked { retrieval });
            }
        }
        self.settle(now);
    }

    /// The store's answer to claim `id`: won, the park goes on; lost, the
    /// parker hears the position is taken.
    pub fn handle_claim(&mut self, now: Now, id: u64, won: bool) {
        if let Some(c) = self.claims.waiting.remove(&id) {
            self.claimed(now, c, if won { Ok(()) } else { Err(false) });
        }
        self.settle(now);
    }

    /// Claims the store did not answer in time: refused.
    pub(super) fn expire_claims(&mut self, now: Now) {
        let late: Vec<u64> = self
            .claims
            .waiting
            .iter()
            .filter(|(_, c)| now.mono >= c.deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some(c) = self.claims.waiting.remove(&id) {
                if !matches!(c.park, ClaimedPark::Locate { .. }) {
                    info!("the store did not answer a parking claim in time");
                }
                self.claimed(now, c, Err(true));
            }
        }
    }

    /// The earliest deadline of a claim on its way.
    pub(super) fn claim_deadline(&self) -> Option<Instant> {
        self.claims.next_deadline()
    }

    /// Goes on with a claimed park: `Err(true)` when the store did not
    /// answer, `Err(false)` when another node holds the position.
    fn claimed(&mut self, now: Now, c: Claiming, outcome: Result<(), bool>) {
        let (call, held, holder, pos) = match c.park {
            ClaimedPark::Feature {
                call,
                held,
                holder,
                pos,
            } => (*call, held, holder, pos),
            ClaimedPark::Transfer(refer) => return self.claimed_by_transfer(now, *refer, outcome),
            ClaimedPark::Move {
                request,
                tenant,
                from,
                to,
            } => return self.claimed_move(now, request, (&tenant, &from, to), outcome),
            ClaimedPark::Locate { call, .. } => {
                // The store did not say who holds it in time: the position
                // may well hold a call, so this is no miss (no guessing
                // counted) and not "nothing parked".
                info!("the store did not answer a parking lookup in time");
                return self.refuse_feature(now, *call, FeatureRefusal::StoreUnavailable);
            }
        };
        let tenant = call.tenant.name.clone();
        match outcome {
            Err(true) => self.refuse_feature(now, call, FeatureRefusal::StoreUnavailable),
            Err(false) => {
                info!(%tenant, position = %pos.label(), "another node holds the position");
                let label = pos.label();
                self.refuse_feature(now, call, FeatureRefusal::PositionTaken { label })
            }
            Ok(()) => {
                // The held call may have ended meanwhile: give the claim back.
                let still = self.find_held(&tenant, &call.ext.number) == Some((held, holder));
                if !still {
                    self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
                        tenant,
                        position: pos.label(),
                    }));
                    return self.refuse_feature(now, call, FeatureRefusal::NoHeldCall);
                }
                self.park_and_announce(now, call, (held, holder), pos);
            }
        }
    }

    /// Goes on with an operator's move (as [`Switch::claimed`]); says how
    /// it went in `Output::MoveAnswered`.
    fn claimed_move(
        &mut self,
        now: Now,
        request: u64,
        (tenant, from, to): (&str, &Position, Position),
        outcome: Result<(), bool>,
    ) {
        let result = match outcome {
            Err(true) => Err(MoveRefusal::StoreUnavailable),
            Err(false) => Err(MoveRefusal::Taken),
            Ok(()) => {
                let label = to.label();
                let moved = self.finish_move(now, tenant, from, to);
                if moved.is_err() {
                    // The call left meanwhile: give the claim back.
                    self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
                        tenant: tenant.to_string(),
                        position: label,
                    }));
                }
                moved
            }
        };
        let answer = MoveAnswer { request, result };
        self.outputs
            .push_back(Output::MoveAnswered(Box::new(answer)));
    }

    /// Goes on with a claimed park by transfer (as [`Switch::claimed`]).
    fn claimed_by_transfer(&mut self, now: Now, refer: ParkByTransfer, outcome: Result<(), bool>) {
        let refused = match outcome {
            Err(true) => Some((503, "The parking lot's store did not answer")),
            Err(false) => Some((486, "Parking position taken")),
            Ok(())
                if !self
                    .calls
                    .calls
                    .get(&refer.id)
                    .is_some_and(|c| c.phase.is_two_party()) =>
            {
                self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
                    tenant: refer.tenant.name.clone(),
                    position: refer.pos.label(),
                }));
                Some((481, "Call Leg/Transaction Does Not Exist"))
            }
            Ok(()) => None,
        };
        match refused {
            Some((status, reason)) => {
                self.refuse_park_by_transfer(now, (refer.id, refer.key, refer.req), status, reason)
            }
            None => self.park_by_transfer(now, refer),
        }
    }
}
