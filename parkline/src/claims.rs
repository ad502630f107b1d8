//! The shell's side of a shared parking lot: the core's position claims
//! go, in order, to a thread with its own store connection, and each
//! answer (won or lost) comes back to the core as an event. A claim that
//! fails in the store gets no answer, and the core refuses that park when
//! its wait is over. The queue is bounded: a claim it cannot take is
//! dropped and refused the same way.

use crate::event::Event;
use std::sync::mpsc;
use switch::PositionClaim;
use tokio::sync::mpsc as tmpsc;
use tracing::{error, warn};

/// Claims waiting for the store at most.
const QUEUE: usize = 1000;

/// Where the core's claims go.
#[derive(Clone)]
pub struct ClaimQueue {
    tx: mpsc::SyncSender<PositionClaim>,
}

impl ClaimQueue {
    /// Starts the claims thread on `store`; answers go to `events`.
    pub fn start(mut store: Box<dyn store::Store>, events: tmpsc::Sender<Event>) -> ClaimQueue {
        let (tx, rx) = mpsc::sync_channel::<PositionClaim>(QUEUE);
        std::thread::Builder::new()
            .name("parking-claims".into())
            .spawn(move || {
                for claim in rx {
                    match store.claim_parked(&claim.parked) {
                        Ok(won) => {
                            if events.blocking_send(Event::Claimed(claim.id, won)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            error!(position = %claim.parked.position, "parking claim failed: {e}")
                        }
                    }
                }
            })
            .expect("the claims thread starts");
        ClaimQueue { tx }
    }

    /// Hands a claim to the thread (a full queue drops it: the core
    /// refuses that park when its wait is over).
    pub fn push(&self, claim: PositionClaim) {
        if self.tx.try_send(claim).is_err() {
            warn!("the parking claims queue is full: a park will be refused");
        }
    }
}
