//! INVITE client transaction (RFC 3261 §17.1.1, Figure 5, with the RFC 6026
//! Accepted state so retransmitted 2xx still reach the TU).

use super::{ClientLinger, Timers, TxOutput};
use bytes::Bytes;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

/// An INVITE client transaction.
#[derive(Debug)]
pub struct ClientInvite {
    state: State,
    reliable: bool,
    request: Bytes,
    ack: Option<Bytes>,
    timer_a: Option<(Instant, Duration)>,
    timer_b: Instant,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
}

impl ClientInvite {
    /// Starts the transaction: sends the INVITE and arms A and B.
    pub fn start(
        now: Instant,
        timers: &Timers,
        reliable: bool,
        request: Bytes,
        out: &mut Vec<TxOutput>,
    ) -> Self {
        out.push(TxOutput::Transmit(request.clone()));
        ClientInvite {
            state: State::Calling,
            reliable,
            request,
            ack: None,
            timer_a: (!reliable).then(|| (now + timers.t1, timers.t1)),
            timer_b: now + timers.t1x64(),
            timer_d: None,
            timer_m: None,
        }
    }

    /// A response matched. `ack` builds the ACK for a non-2xx final (§17.1.1.3).
    /// Returns true if the response goes up to the TU.
    pub fn handle_response(
        &mut self,
        now: Instant,
        timers: &Timers,
        status: u16,
        ack: impl FnOnce() -> Bytes,
        out: &mut Vec<TxOutput>,
    ) -> bool {
        match (self.state, status) {
            (State::Calling | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                self.timer_a = None;
                true
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                self.request = Bytes::new(); // never retransmitted again
                self.state = State::Accepted;
                self.timer_a = None;
                self.timer_m = Some(now + timers.t1x64());
                true
            }
            (State::Accepted, 200..=299) => true,
            (State::Calling | State::Proceeding, _) => {
                self.timer_a = None;
                self.request = Bytes::new();
                let ack = ack();
                out.push(TxOutput::Transmit(ack.clone()));
                self.ack = Some(ack);
                if self.reliable {
                    self.state = State::Terminated;
                } else {
                    self.state = State::Completed;
                    self.timer_d = Some(now + timers.timer_d());
                }
                true
            }
            (State::Completed, 300..) => {
                if let Some(a) = &self.ack {
                    out.push(TxOutput::Transmit(a.clone()));
                }
                false
            }
            _ => false,
        }
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<TxOutput>) {
        match self.state {
            State::Calling | State::Proceeding => {
                if now >= self.timer_b && self.state == State::Calling {
                    self.state = State::Terminated;
                    out.push(TxOutput::Timeout);
                    return;
                }
                if let Some((at, interval)) = self.timer_a {
                    if now >= at {
                        out.push(TxOutput::Transmit(self.request.clone()));
                        self.timer_a = Some((now + interval * 2, interval * 2));
                    }
                }
            }
            State::Completed if self.timer_d.is_some_and(|d| now >= d) => {
                self.state = State::Terminated
            }
            State::Accepted if self.timer_m.is_some_and(|m| now >= m) => {
                self.state = State::Terminated
            }
            _ => {}
        }
    }

    /// The next deadline. (In Proceeding, the TU's own no-answer timer rules.)
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Calling => Some(self.timer_a.map_or(self.timer_b, |a| a.0.min(self.timer_b))),
            State::Proceeding => None,
            State::Completed => self.timer_d,
            State::Accepted => self.timer_m,
            State::Terminated => None,
        }
    }

    /// Accepted (after a 2xx) and Completed (after the ACK of a non-2xx)
    /// only handle retransmitted responses until timer M or D: what to keep
    /// for that and for how long (the [`super::Layer`] then keeps a compact
    /// record; `peer` is where a resent ACK goes).
    pub fn linger<P>(&self, now: Instant, peer: P) -> Option<(ClientLinger<P>, Duration)> {
        match (self.state, &self.ack) {
            (State::Accepted, _) => Some((
                ClientLinger::Accepted,
                self.timer_m?.saturating_duration_since(now),
            )),
            (State::Completed, Some(ack)) => Some((
                ClientLinger::Acked(peer, ack.clone()),
                self.timer_d?.saturating_duration_since(now),
            )),
            _ => None,
        }
    }

    /// Whether the transaction is over.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }
}
