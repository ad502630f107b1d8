//! Non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).

use super::{ClientLinger, Timers, TxOutput};
use bytes::Bytes;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// A non-INVITE client transaction.
#[derive(Debug)]
pub struct ClientNonInvite {
    state: State,
    reliable: bool,
    request: Bytes,
    timer_e: Option<(Instant, Duration)>,
    timer_f: Instant,
    timer_k: Option<Instant>,
}

impl ClientNonInvite {
    /// Starts the transaction: sends the request and arms E and F.
    pub fn start(
        now: Instant,
        timers: &Timers,
        reliable: bool,
        request: Bytes,
        out: &mut Vec<TxOutput>,
    ) -> Self {
        out.push(TxOutput::Transmit(request.clone()));
        ClientNonInvite {
            state: State::Trying,
            reliable,
            request,
            timer_e: (!reliable).then(|| (now + timers.t1, timers.t1)),
            timer_f: now + timers.t1x64(),
            timer_k: None,
        }
    }

    /// A response matched: returns true if it goes up to the TU.
    pub fn handle_response(&mut self, now: Instant, timers: &Timers, status: u16) -> bool {
        match self.state {
            State::Trying | State::Proceeding if status < 200 => {
                self.state = State::Proceeding;
                true
            }
            State::Trying | State::Proceeding => {
                self.timer_e = None;
                self.request = Bytes::new(); // never retransmitted again
                if self.reliable {
                    self.state = State::Terminated;
                } else {
                    self.state = State::Completed;
                    self.timer_k = Some(now + timers.t4);
                }
                true
            }
            _ => false,
        }
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant, timers: &Timers, out: &mut Vec<TxOutput>) {
        match self.state {
            State::Trying | State::Proceeding => {
                if now >= self.timer_f {
                    self.state = State::Terminated;
                    out.push(TxOutput::Timeout);
                    return;
                }
                if let Some((at, interval)) = self.timer_e {
                    if now >= at {
                        out.push(TxOutput::Transmit(self.request.clone()));
                        let next = if self.state == State::Proceeding {
                            timers.t2
                        } else {
                            timers.backoff(interval)
                        };
                        self.timer_e = Some((now + next, next));
                    }
                }
            }
            State::Completed if self.timer_k.is_some_and(|k| now >= k) => {
                self.state = State::Terminated
            }
            _ => {}
        }
    }

    /// The next deadline.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Trying | State::Proceeding => {
                Some(self.timer_e.map_or(self.timer_f, |e| e.0.min(self.timer_f)))
            }
            State::Completed => self.timer_k,
            State::Terminated => None,
        }
    }

    /// Completed only absorbs retransmitted responses until timer K: how
    /// long that is (the [`super::Layer`] then keeps a compact record).
    pub fn linger<P>(&self, now: Instant) -> Option<(ClientLinger<P>, std::time::Duration)> {
        (self.state == State::Completed).then_some((
            ClientLinger::Answered,
            self.timer_k?.saturating_duration_since(now),
        ))
    }

    /// Whether the transaction is over.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }
}
