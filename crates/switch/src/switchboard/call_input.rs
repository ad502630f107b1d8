//! Hands an input to one call, with its narrow context, and applies what
//! the call reports: the switchboard's side of the `Call` state machine.

use super::Switch;
use crate::call::{Call, CallCtx, CallId, Report};
use crate::time::Now;

impl Switch {
    /// Runs `f` on call `id` with its context; then drains the transaction
    /// layer, reschedules the call's timer and applies its reports. `None`
    /// when the call is gone.
    pub(super) fn with_call<R>(
        &mut self,
        now: Now,
        id: CallId,
        f: impl FnOnce(&mut Call, &mut CallCtx) -> R,
    ) -> Option<R> {
        let call = self.calls.calls.get_mut(&id)?;
        // Every line logged about the call carries its id and tenant
        // (JSON logs: in the span's fields).
        let _span = tracing::info_span!("call", call = id, tenant = %call.tenant).entered();
        let mut ctx = CallCtx {
            now,
            cfg: &self.cfg,
            layer: &mut self.layer,
            out: &mut self.outputs,
            ids: &mut self.ids,
            keys: &mut self.keys,
            sent: &mut self.stats.sent,
            reports: Vec::new(),
        };
        let result = f(call, &mut ctx);
        call.arm_probes(now.mono, self.cfg.probe_interval);
        let reports = std::mem::take(&mut ctx.reports);
        if let Some(at) = call.deadline().filter(|at| call.scheduled != Some(*at)) {
            call.scheduled = Some(at);
            self.calls.schedule(at, id);
        }
        self.drain_layer();
        for r in reports {
            self.apply(id, r);
        }
        Some(result)
    }

    /// Tells the party on `side` of call `id` who it talks to now
    /// (connected-line identity, in the tenant's domain).
    pub(super) fn tell_connected(&mut self, now: Now, id: CallId, side: crate::call::Side) {
        let Some(domain) = self
            .calls
            .calls
            .get(&id)
            .and_then(|c| self.dir.tenant(&c.tenant))
            .map(|t| t.domain.clone())
        else {
            return;
        };
        self.with_call(now, id, |call, ctx| call.tell_connected(ctx, side, &domain));
    }

    /// The context for a call the switchboard holds itself (one taken out
    /// of the table).
    pub(super) fn call_ctx(&mut self, now: Now) -> CallCtx<'_> {
        CallCtx {
            now,
            cfg: &self.cfg,
            layer: &mut self.layer,
            out: &mut self.outputs,
            ids: &mut self.ids,
            keys: &mut self.keys,
            sent: &mut self.stats.sent,
            reports: Vec::new(),
        }
    }

    fn apply(&mut self, id: CallId, report: Report) {
        match report {
            Report::DialogOpened(d, side) => {
                self.calls
                    .by_dialog
                    .insert((d.call_id, d.local_tag, d.remote_tag), (id, side));
            }
            Report::DialogClosed(d) => {
                self.calls
                    .by_dialog
                    .remove(&(d.call_id, d.local_tag, d.remote_tag));
            }
            Report::PortTaken(port, side) => {
                self.calls.by_port.insert(port, (id, side));
            }
            Report::PortReleased(port) => self.release_port(port),
            Report::InviteAnswered(key) => {
                self.calls.by_invite.remove(&key);
            }
            Report::ProbeSent(key) => {
                self.calls.by_probe.insert(key, id);
            }
            Report::ForkDone(key) => {
                self.calls.by_fork.remove(&key);
            }
            Report::ForkCancelled { key, invite, peer } => {
                self.calls.by_fork.remove(&key);
                self.calls.orphans.insert(key, (*invite, peer));
            }
        }
    }
}
