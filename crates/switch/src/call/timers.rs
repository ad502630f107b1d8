//! The call's own clock: the 2xx retransmitted until the ACK (RFC 3261
//! §13.3.1.4), session timers (RFC 4028), and the phase's deadline
//! (ringing gives up, a parked call comes back, a comeback gives up).

use super::{Call, CallCtx, Phase, Side};

/// What a call's timer asks of the switchboard (the call did the rest).
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The party on this side stopped answering probes: its phone is gone.
    PartyGone(Side),
    /// Nothing at all answered these INVITEs in time (dead phones): they
    /// fail with 408.
    SilentForks(Vec<sip::transaction::ClientKey>),
}

impl Call {
    /// The ACK of our 2xx from the party on `side`: stops retransmitting
    /// it, and the call is established. When our 2xx offered (the party's
    /// INVITE had none), the ACK's SDP is the answer: its media start.
    pub fn handle_ack(&mut self, ctx: &mut CallCtx, side: Side, ack: &sip::Request) {
        if self.ok.as_ref().is_some_and(|o| o.side == side) {
            self.ok = None;
        }
        let leg = self.leg_mut(side);
        if std::mem::take(&mut leg.offer_pending) {
            let answer = media::sdp::parse_audio(&ack.body).ok();
            if answer.is_some_and(|a| leg.take_sdp(&a)) {
                if let Some(config) = leg.media_config() {
                    ctx.media(config);
                }
                let a = self.leg(side).codec.map(|c| c.0);
                if a != self.leg(super::other(side)).codec.map(|c| c.0) {
                    self.features.insert(super::CallFeature::Transcoding);
                }
            } else {
                tracing::warn!(?side, "the ACK brought no usable SDP answer to our offer");
            }
        }
        if matches!(self.phase, Phase::Answered) {
            self.phase = Phase::Established;
        }
    }

    /// Fires whatever of the call's timers is due; retransmits our 2xx
    /// itself. Says what else must happen.
    pub fn handle_timeout(&mut self, ctx: &mut CallCtx) -> Due {
        let now = ctx.now.mono;
        self.handle_time_limit(ctx);
        let silent = self.give_up_silent_forks(ctx);
        if !silent.is_empty() {
            return Due::SilentForks(silent);
        }
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
        if let Some(side) = self.run_probes(ctx) {
            return Due::PartyGone(side);
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
