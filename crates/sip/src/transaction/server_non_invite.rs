//! Non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).

use super::{Linger, Timers, TxOutput};
use bytes::Bytes;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug)]
pub struct ServerNonInvite {
    state: State,
    reliable: bool,
    last_response: Option<Bytes>,
    timer_j: Option<Instant>,
}

impl ServerNonInvite {
    /// A transaction for a request just received.
    pub fn new(reliable: bool) -> ServerNonInvite {
        ServerNonInvite {
            state: State::Trying,
            reliable,
            last_response: None,
            timer_j: None,
        }
    }

    /// The request arrived again: resend the last response, if any.
    pub fn handle_retransmission(&mut self, out: &mut Vec<TxOutput>) {
        if matches!(self.state, State::Proceeding | State::Completed) {
            if let Some(r) = &self.last_response {
                out.push(TxOutput::Transmit(r.clone()));
            }
        }
    }

    /// The TU sends a response.
    pub fn respond(
        &mut self,
        now: Instant,
        timers: &Timers,
        status: u16,
        wire: Bytes,
        out: &mut Vec<TxOutput>,
    ) {
        if matches!(self.state, State::Completed | State::Terminated) {
            return;
        }
        out.push(TxOutput::Transmit(wire.clone()));
        self.last_response = Some(wire);
        if status < 200 {
            self.state = State::Proceeding;
        } else if self.reliable {
            self.state = State::Terminated;
        } else {
            self.state = State::Completed;
            self.timer_j = Some(now + timers.t1x64());
        }
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Completed && self.timer_j.is_some_and(|j| now >= j) {
            self.state = State::Terminated;
        }
    }

    /// The next deadline.
    pub fn deadline(&self) -> Option<Instant> {
        (self.state == State::Completed)
            .then_some(self.timer_j)
            .flatten()
    }

    /// Once answered with a final response over an unreliable transport,
    /// the transaction only resends it until timer J: what to keep for
    /// that (the [`super::Layer`] then keeps a compact record).
    pub fn linger(&self) -> Option<Linger> {
        match (&self.state, &self.last_response) {
            (State::Completed, Some(r)) => Some(Linger::Answered(r.clone())),
            _ => None,
        }
    }

    /// Whether the transaction is over.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }
}
