//! Whether a party's phone is still there. A leg with a dialog whose party
//! does not refresh a session timer (RFC 4028 would tell) is probed with
//! an in-dialog OPTIONS every `probe_interval`; any answer but 481 says the
//! phone is there. None within `probe_timeout` (the transaction resends it
//! meanwhile), or a 481, says it is gone: the call ends as if it had hung
//! up. Held and parked parties are probed too, so a dead phone does not
//! hold a lot position or a port.

use super::{Call, CallCtx, Report, Side};
use sip::transaction::ClientKey;
use sip::Method;
use std::time::{Duration, Instant};

/// Where a leg's probing is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The next OPTIONS goes at.
    Next(Instant),
    /// An OPTIONS is out: the party is gone if nothing answers by `until`.
    Waiting {
        /// Its client transaction.
        key: ClientKey,
        /// When silence means gone.
        until: Instant,
    },
}

impl Probe {
    fn at(&self) -> Instant {
        match self {
            Probe::Next(at) => *at,
            Probe::Waiting { until, .. } => *until,
        }
    }
}

impl Call {
    /// After each input: probing armed on legs that have a dialog and no
    /// session timer of their party's, off on the others (`interval`
    /// `None`: probing is off).
    pub fn arm_probes(&mut self, now: Instant, interval: Option<Duration>) {
        for side in [Side::A, Side::B] {
            let leg = self.leg_mut(side);
            let wanted = interval.filter(|_| leg.dialog.is_some() && leg.session.is_none());
            match (wanted, &leg.probe) {
                (None, _) => leg.probe = None,
                (Some(every), None) => leg.probe = Some(Probe::Next(now + every)),
                (Some(_), Some(_)) => {}
            }
        }
    }

    /// The earliest probe timer.
    pub(super) fn probe_deadline(&self) -> Option<Instant> {
        [&self.a.probe, &self.b.probe]
            .into_iter()
            .flatten()
            .map(Probe::at)
            .min()
    }

    /// Sends the probes due; returns the side of a party whose probe went
    /// unanswered.
    pub(super) fn run_probes(&mut self, ctx: &mut CallCtx) -> Option<Side> {
        let now = ctx.now.mono;
        let every = ctx.cfg.probe_interval?;
        let wait = ctx.cfg.probe_timeout.min(every);
        for side in [Side::A, Side::B] {
            let leg = self.leg_mut(side);
            match &leg.probe {
                Some(Probe::Waiting { until, .. }) if now >= *until => return Some(side),
                Some(Probe::Next(at)) if now >= *at => {
                    let peer = leg.peer;
                    let Some(dialog) = leg.dialog.as_mut() else {
                        continue;
                    };
                    let options = ctx.request(dialog, Method::Options, peer);
                    let key = ctx
                        .layer
                        .send_request(now, options, peer, peer.is_reliable());
                    leg.probe = key.map(|key| {
                        ctx.reports.push(Report::ProbeSent(key.clone()));
                        Probe::Waiting {
                            key,
                            until: now + wait,
                        }
                    });
                }
                _ => {}
            }
        }
        None
    }

    /// The final answer to probe `key` (408: its transaction timed out);
    /// returns the side of a party it says is gone.
    pub fn handle_probe_answer(
        &mut self,
        ctx: &mut CallCtx,
        key: &ClientKey,
        status: u16,
    ) -> Option<Side> {
        let every = ctx.cfg.probe_interval?;
        for side in [Side::A, Side::B] {
            let leg = self.leg_mut(side);
            if !matches!(&leg.probe, Some(Probe::Waiting { key: k, .. }) if k == key) {
                continue;
            }
            if matches!(status, 408 | 481) {
                return Some(side);
            }
            leg.probe = Some(Probe::Next(ctx.now.mono + every));
        }
        None
    }
}
