//! The call's own clock: the 2xx retransmitted until the ACK (RFC 3261
//! §13.3.1.4), session timers (RFC 4028), and the phase's deadline
//! (ringing gives up, a parked call comes back, a comeback gives up).

use super::{Call, CallCtx, Phase, Side};

/// What a call's timer asks of the switchboard (the call did the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing for the switchboard.
    Nothing,
    /// Nobody answered the new call in time.
    NoAnswer,
    /// Nobody answered the comeback in time.
    ComebackUnanswered,
    /// Nobody answered a transfer's target in time.
    TransferUnanswered,
    /// The parked call's time in the lot is up: ring the parker back.
    ComeBack,
    /// A party stopped refreshing its session.
    SessionExpired,
    /// The caller never acknowledged our 2xx.
    NoAck,
}

impl Call {
    /// The ACK of our 2xx from the party on `side`: stops retransmitting
    /// it, and the call is established.
    pub fn handle_ack(&mut self, side: Side) {
        if self.ok.as_ref().is_some_and(|o| o.side == side) {
            self.ok = None;
        }
        if matches!(self.phase, Phase::Answered) {
            self.phase = Phase::Established;
        }
    }

    /// Fires whatever of the call's timers is due; retransmits our 2xx
    /// itself. Says what else must happen.
    pub fn handle_timeout(&mut self, ctx: &mut CallCtx) -> Due {
        let now = ctx.now.mono;
        if self.phase.deadline().is_some_and(|d| now >= d) {
            match self.phase {
                Phase::Ringing(_) => return Due::NoAnswer,
                Phase::Comeback(_) => return Due::ComebackUnanswered,
                Phase::Transferring(_) => return Due::TransferUnanswered,
                Phase::Parked(_) => return Due::ComeBack,
                _ => {}
            }
        }
        let expired = [self.a.session, self.b.session]
            .into_iter()
            .flatten()
            .any(|s| now >= s.expires);
        if expired && matches!(self.phase, Phase::Established) {
            return Due::SessionExpired;
        }
        let Some(ok) = self.ok.as_mut() else {
            return Due::Nothing;
        };
        if now >= ok.give_up {
            self.ok = None;
            return Due::NoAck;
        }
        if now >= ok.next {
            ok.interval = ctx.cfg.timers.backoff(ok.interval);
            ok.next = now + ok.interval;
            let (peer, wire) = (ok.peer, ok.wire.clone());
            ctx.transmit(peer, wire);
        }
        Due::Nothing
    }
}
