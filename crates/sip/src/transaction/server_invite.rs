//! INVITE server transaction (RFC 3261 §17.2.1, Figure 7, with the RFC 6026
//! Accepted state that absorbs INVITE retransmissions after a 2xx).

use super::{Linger, Timers, TxOutput};
use bytes::Bytes;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// An INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    state: State,
    reliable: bool,
    last_response: Option<Bytes>,
    timer_g: Option<(Instant, Duration)>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
}

impl ServerInvite {
    /// A transaction for an INVITE just received.
    pub fn new(reliable: bool) -> ServerInvite {
        ServerInvite {
            state: State::Proceeding,
            reliable,
            last_response: None,
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
        }
    }

    /// The INVITE arrived again.
    pub fn handle_retransmission(&mut self, out: &mut Vec<TxOutput>) {
        if matches!(self.state, State::Proceeding | State::Completed) {
            if let Some(r) = &self.last_response {
                out.push(TxOutput::Transmit(r.clone()));
            }
        }
    }

    /// An ACK matched this transaction (non-2xx final was sent).
    pub fn handle_ack(&mut self, now: Instant, timers: &Timers) {
        if self.state == State::Completed {
            self.timer_g = None;
            self.timer_h = None;
            self.last_response = None; // Confirmed only absorbs ACKs
            if self.reliable {
                self.state = State::Terminated;
            } else {
                self.state = State::Confirmed;
                self.timer_i = Some(now + timers.t4);
            }
        }
    }

    /// Whether an ACK belongs to this transaction: it answered with a non-2xx
    /// final (RFC 3261 §17.2.1). ACKs for a 2xx belong to the dialog.
    pub fn absorbs_ack(&self) -> bool {
        matches!(self.state, State::Completed | State::Confirmed)
    }

    /// Whether a final response has been sent.
    pub fn is_final_sent(&self) -> bool {
        self.state != State::Proceeding
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
        if self.state != State::Proceeding {
            return;
        }
        out.push(TxOutput::Transmit(wire.clone()));
        self.last_response = Some(wire);
        if (200..300).contains(&status) {
            // Accepted absorbs retransmitted INVITEs and never resends the
            // 2xx itself (RFC 6026 §7.1; the TU does): keep no copy for 32 s.
            self.last_response = None;
            self.state = State::Accepted;
            self.timer_l = Some(now + timers.t1x64());
        } else if status >= 300 {
            self.state = State::Completed;
            self.timer_h = Some(now + timers.t1x64());
            if !self.reliable {
                self.timer_g = Some((now + timers.t1, timers.t1));
            }
        }
    }

    /// Fires due timers; may retransmit the final response or report a timeout.
    pub fn handle_timeout(&mut self, now: Instant, timers: &Timers, out: &mut Vec<TxOutput>) {
        match self.state {
            State::Completed => {
                if self.timer_h.is_some_and(|h| now >= h) {
                    self.state = State::Terminated;
                    out.push(TxOutput::Timeout);
                    return;
                }
                if let Some((at, interval)) = self.timer_g {
                    if now >= at {
                        if let Some(r) = &self.last_response {
                            out.push(TxOutput::Transmit(r.clone()));
                        }
                        let next = timers.backoff(interval);
                        self.timer_g = Some((now + next, next));
                    }
                }
            }
            State::Confirmed if self.timer_i.is_some_and(|i| now >= i) => {
                self.state = State::Terminated
            }
            State::Accepted if self.timer_l.is_some_and(|l| now >= l) => {
                self.state = State::Terminated
            }
            _ => {}
        }
    }

    /// The next deadline.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Completed => [self.timer_g.map(|g| g.0), self.timer_h]
                .into_iter()
                .flatten()
                .min(),
            State::Confirmed => self.timer_i,
            State::Accepted => self.timer_l,
            _ => None,
        }
    }

    /// Accepted (after a 2xx) and Confirmed (after the ACK of a non-2xx)
    /// only absorb retransmissions until timer L or I: what to keep for
    /// that and for how long (the [`super::Layer`] then keeps a compact
    /// record). Completed still resends its response, so it stays whole.
    pub fn linger(&self, timers: &Timers) -> Option<(Linger, Duration)> {
        match self.state {
            State::Accepted => Some((Linger::Accepted, timers.t1x64())),
            State::Confirmed => Some((Linger::Confirmed, timers.t4)),
            _ => None,
        }
    }

    /// Whether the transaction is over.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }
}
