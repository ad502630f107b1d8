//! The shell's side of a shared parking lot: the core's position claims
//! and lookups go, in order, to a thread with its own store connection,
//! and each answer (won or lost; the other node holding a position) comes
//! back to the core as an event. A question that fails in the store gets
//! no answer, and the core refuses when its wait is over. The queue is
//! bounded: a question it cannot take is dropped and refused the same way.

use crate::event::Event;
use std::sync::mpsc;
use switch::{PositionClaim, PositionLookup};
use tokio::sync::mpsc as tmpsc;
use tracing::{error, warn};

/// Questions waiting for the store at most.
const QUEUE: usize = 1000;

/// A question for the shared lot.
pub enum LotQuestion {
    /// Claim a position.
    Claim(PositionClaim),
    /// Which other node holds a position.
    Lookup(PositionLookup),
}

/// Where the core's questions go.
#[derive(Clone)]
pub struct ClaimQueue {
    tx: mpsc::SyncSender<LotQuestion>,
}

/// The store's answer to one question, or `None` (logged) if it failed.
fn answer(store: &mut dyn store::Store, question: LotQuestion) -> Option<Event> {
    match question {
        LotQuestion::Claim(claim) => match store.claim_parked(&claim.parked) {
            Ok(won) => Some(Event::Claimed(claim.id, won)),
            Err(e) => {
                error!(position = %claim.parked.position, "parking claim failed: {e}");
                None
            }
        },
        LotQuestion::Lookup(q) => match store.holder_of(&q.tenant, &q.position) {
            Ok(sip) => Some(Event::Located(q.id, sip.and_then(|s| s.parse().ok()))),
            Err(e) => {
                error!(position = %q.position, "parking lookup failed: {e}");
                None
            }
        },
    }
}

impl ClaimQueue {
    /// Starts the thread on `store`; answers go to `events`.
    pub fn start(mut store: Box<dyn store::Store>, events: tmpsc::Sender<Event>) -> ClaimQueue {
        let (tx, rx) = mpsc::sync_channel::<LotQuestion>(QUEUE);
        std::thread::Builder::new()
            .name("parking-claims".into())
            .spawn(move || {
                for question in rx {
                    if let Some(event) = answer(store.as_mut(), question) {
                        if events.blocking_send(event).is_err() {
                            return;
                        }
                    }
                }
            })
            .expect("the claims thread starts");
        ClaimQueue { tx }
    }

    /// Hands a question to the thread (a full queue drops it: the core
    /// refuses when its wait is over).
    pub fn push(&self, question: LotQuestion) {
        if self.tx.try_send(question).is_err() {
            warn!("the parking lot's question queue is full: a park or retrieval will be refused");
        }
    }
}
